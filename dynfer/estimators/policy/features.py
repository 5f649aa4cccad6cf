r"""Value-function families :math:`J_\theta(t, x)`: linear in features, or any ``torch.nn.Module``.

Linear families :math:`J_\theta(t, x) = \theta^\top\phi(t, x)` ([paper]: Jia & Zhou 2022, Sec. 3, linear
approximation) with

* :class:`PolynomialFeatures`: the monomials :math:`x^\alpha` of total degree :math:`|\alpha| \le` ``degree``,
  times the powers :math:`\tau^j`, :math:`j \le` ``time_degree``, of the time to go :math:`\tau = T - t` (finite
  horizon); the constant is dropped in the ergodic setting, where :math:`J` is defined up to a constant;
* :class:`RBFFeatures`: Gaussian bumps :math:`\exp(-|x - c_m|^2 / (2w^2))` at centres drawn from the states, the
  same powers of :math:`\tau`, and the constant (unless ergodic);
* :class:`CallableFeatures`: a user map ``phi(t, x) -> (n, p)`` (torch tensors in, a torch tensor out).

Nonlinear families are ``torch.nn.Module`` values ``value(t, x) -> (n,)``: :class:`MLPValue` (an MLP on
:math:`(\tau, x)` for a finite horizon, on :math:`x` otherwise, inputs standardised by the data) or a user module
(:class:`ModuleValue`), e.g. the one-parameter family :math:`x^p e^{\theta(T - t)}`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError

__all__ = ["CallableFeatures", "LinearValue", "MLPValue", "ModuleValue", "PolynomialFeatures", "RBFFeatures",
           "monomial_exponents"]


def monomial_exponents(dim: int, degree: int, constant: bool) -> list[tuple[int, ...]]:
    """Exponent tuples of the monomials of ``dim`` variables with total degree ``<= degree``, by degree."""
    out = []
    for total in range(0 if constant else 1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(dim), total):
            e = [0] * dim
            for c in combo:
                e[c] += 1
            out.append(tuple(e))
    # combinations_with_replacement gives x0^2, x0x1, x1^2 for degree 2: lexicographic within a degree
    return out


def _monomial_name(e: Sequence[int]) -> str:
    parts = [f"x{i}" if p == 1 else f"x{i}^{p}" for i, p in enumerate(e) if p]
    return "*".join(parts) if parts else "1"


def _with_time(names: list[str], time_degree: int) -> list[str]:
    out = []
    for j in range(time_degree + 1):
        tau = "" if j == 0 else ("(T-t)" if j == 1 else f"(T-t)^{j}")
        for n in names:
            out.append(n if not tau else (tau if n == "1" else f"{tau}*{n}"))
    return out


class _TimePowers:
    """Mixin: the columns ``f(x) * tau^j`` for ``j = 0..time_degree`` with ``tau = horizon - t``."""

    time_degree: int
    horizon: float

    def _times_tau(self, base: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.time_degree == 0:
            return base
        tau = (self.horizon - t).to(base.dtype).unsqueeze(-1)
        return torch.cat([base * tau**j for j in range(self.time_degree + 1)], dim=-1)


class PolynomialFeatures(_TimePowers):
    r"""Monomials :math:`x^\alpha\tau^j`, :math:`|\alpha| \le` ``degree``, :math:`j \le` ``time_degree``.

    Parameters
    ----------
    dim
        State dimension.
    degree
        Largest total degree in :math:`x`.
    time_degree
        Largest power of :math:`\tau = T - t` (``0``: time-homogeneous).
    horizon
        :math:`T` (used when ``time_degree > 0``).
    constant
        Keep the monomial :math:`1` (dropped in the ergodic setting).
    """

    kind = "polynomial"

    def __init__(self, dim: int, degree: int, *, time_degree: int = 0, horizon: float = 0.0,
                 constant: bool = True) -> None:
        self.dim, self.degree, self.time_degree, self.horizon = dim, degree, time_degree, float(horizon)
        self.constant = constant
        self.exponents = monomial_exponents(dim, degree, constant)
        if not self.exponents and time_degree == 0:
            raise BadInputError("degree", f"{degree} without the constant", "degree >= 1 (some feature to fit)")
        if not self.exponents:  # only powers of tau: keep the constant as the x-part
            self.exponents = [tuple([0] * dim)]
        self.names = _with_time([_monomial_name(e) for e in self.exponents], time_degree)

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The features ``(n, p)`` at times ``t`` ``(n,)`` and states ``x`` ``(n, d)``."""
        e = torch.as_tensor(np.asarray(self.exponents, dtype=np.float64), dtype=x.dtype, device=x.device)
        cols = torch.ones(x.shape[0], e.shape[0], dtype=x.dtype, device=x.device)
        for i in range(self.dim):
            cols = cols * x[:, i : i + 1] ** e[:, i]
        return self._times_tau(cols, t)

    def state(self) -> dict[str, Any]:
        """Plain data that rebuilds these features (with the class's parameters)."""
        return {"kind": self.kind}


class RBFFeatures(_TimePowers):
    r"""Gaussian radial basis functions :math:`\exp(-|x - c_m|^2/(2w^2))`, the constant, times :math:`\tau^j`.

    Parameters
    ----------
    centres
        ``(m, d)`` centres.
    width
        :math:`w > 0`.
    time_degree, horizon
        Powers of :math:`\tau = T - t`, as :class:`PolynomialFeatures`.
    constant
        Add the constant feature.
    """

    kind = "rbf"

    def __init__(self, centres: np.ndarray, width: float, *, time_degree: int = 0, horizon: float = 0.0,
                 constant: bool = True) -> None:
        self.centres = np.asarray(centres, dtype=np.float64)
        self.width, self.time_degree, self.horizon, self.constant = float(width), time_degree, float(horizon), constant
        base = (["1"] if constant else []) + [f"rbf{m}" for m in range(len(self.centres))]
        self.names = _with_time(base, time_degree)

    @classmethod
    def from_states(cls, x: np.ndarray, n_centers: int, seed: int, **kwargs: Any) -> RBFFeatures:
        """Centres: ``n_centers`` distinct states drawn at random (seeded); width: the median centre distance."""
        rng = np.random.default_rng(seed)
        uniq = np.unique(x, axis=0)
        take = rng.choice(len(uniq), size=min(n_centers, len(uniq)), replace=False)
        centres = uniq[np.sort(take)]
        if len(centres) > 1:
            d = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(-1))
            width = float(np.median(d[np.triu_indices(len(centres), 1)]))
        else:
            width = float(np.std(x)) if np.std(x) > 0 else 1.0
        return cls(centres, width if width > 0 else 1.0, **kwargs)

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The features ``(n, p)``."""
        c = torch.as_tensor(self.centres, dtype=x.dtype, device=x.device)
        sq = ((x[:, None, :] - c[None]) ** 2).sum(-1)
        cols = torch.exp(-sq / (2.0 * self.width**2))
        if self.constant:
            cols = torch.cat([torch.ones_like(cols[:, :1]), cols], dim=1)
        return self._times_tau(cols, t)

    def state(self) -> dict[str, Any]:
        """Plain data that rebuilds these features: the centres and the width."""
        return {"kind": self.kind, "centres": self.centres, "width": self.width}


class CallableFeatures:
    """A user feature map ``phi(t, x) -> (n, p)`` (torch tensors; ``t`` is ``(n,)``, ``x`` is ``(n, d)``)."""

    kind = "callable"

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], Any], n_features: int | None = None) -> None:
        self.fn = fn
        self.n_features = n_features
        self.names = [] if n_features is None else [f"phi{j}" for j in range(n_features)]

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``phi(t, x)`` checked: ``(n, p)``, finite."""
        try:
            out = self.fn(t, x)
        except Exception as err:  # a user function: report what it raised, naming the argument
            raise BadInputError("features", f"the callable raised {type(err).__name__}: {err}",
                                "phi(t, x) -> (n, p) on torch tensors t (n,) and x (n, d)") from None
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(np.asarray(out, dtype=np.float64))
        out = out.to(device=x.device, dtype=x.dtype)
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2 or out.shape[0] != x.shape[0] or out.shape[1] == 0:
            raise BadInputError("features", f"phi(t, x) of shape {tuple(out.shape)} for {x.shape[0]} samples",
                                "phi(t, x) -> (n, p) with p >= 1")
        if self.n_features is not None and out.shape[1] != self.n_features:
            raise BadInputError("features", f"{out.shape[1]} features", f"{self.n_features}, as at the fit")
        if not bool(torch.isfinite(out).all()):
            raise BadInputError("features", "phi(t, x) with NaN or infinite values", "finite features")
        return out

    def state(self) -> dict[str, Any]:
        """Plain data: the number of features (the function itself cannot be stored)."""
        return {"kind": self.kind}


class LinearValue(nn.Module):
    r""":math:`J_\theta(t, x) = \theta^\top\phi(t, x)` with a fixed feature map (the coefficients are trained)."""

    def __init__(self, features: Any, n_features: int, *, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.features = features
        self.coef = nn.Parameter(torch.zeros(n_features, dtype=dtype, device=device))

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\phi(t, x)\theta`, shape ``(n,)``."""
        return self.features(t, x) @ self.coef


class MLPValue(nn.Module):
    r"""An MLP value on standardised inputs.

    :math:`J(t, x) = \mathrm{MLP}((\tau - m_\tau)/s_\tau, (x - m_x)/s_x)` (finite horizon) or of :math:`x` alone;
    :math:`m, s` are the data's means and standard deviations (buffers, stored).
    """

    def __init__(self, dim: int, hidden: Sequence[int], *, with_time: bool, horizon: float, dtype: torch.dtype,
                 device: torch.device) -> None:
        from dynfer.nn import MLP

        super().__init__()
        self.with_time, self.horizon = with_time, float(horizon)
        n_in = dim + (1 if with_time else 0)
        self.net = MLP(n_in, 1, hidden=tuple(int(h) for h in hidden), dtype=dtype, device=device)
        self.register_buffer("mean", torch.zeros(n_in, dtype=dtype, device=device))
        self.register_buffer("scale", torch.ones(n_in, dtype=dtype, device=device))

    def inputs(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The unstandardised network inputs ``(tau, x)`` or ``x``."""
        if self.with_time:
            return torch.cat([(self.horizon - t).to(x.dtype).unsqueeze(-1), x], dim=-1)
        return x

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Shape ``(n,)``."""
        z = (self.inputs(t, x) - self.mean) / self.scale
        return self.net(z).squeeze(-1)


class ModuleValue(nn.Module):
    """A user ``nn.Module`` value ``value(t, x) -> (n,)``, with its output shape checked."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Shape ``(n,)``."""
        out = self.module(t, x)
        if not isinstance(out, torch.Tensor):
            raise BadInputError("features", f"the module returned a {type(out).__name__}", "a tensor (n,)")
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (x.shape[0],):
            raise BadInputError("features", f"value(t, x) of shape {tuple(out.shape)} for {x.shape[0]} samples",
                                "value(t, x) -> (n,)")
        return out
