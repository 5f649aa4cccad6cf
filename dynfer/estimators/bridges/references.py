r"""Reference drift families :math:`f_\theta` of the Schrödinger-bridge reference process.

SBIRR (Shen, Berlinghieri & Broderick, AISTATS 2025) refines a reference SDE

.. math::  dX_t = f_\theta(X_t)\,dt + \sigma\,dW_t,\qquad X_t \in \mathbb{R}^d,

with a time-independent drift from a chosen family and a fixed scalar noise :math:`\sigma`. Every family is a
:class:`ReferenceDrift`: ``forward(x)`` gives :math:`f_\theta(x)` for ``x`` of shape ``(n, d)``,
:meth:`~ReferenceDrift.theta` the interpretable parameters (to record :math:`\theta` per refinement round) and
:meth:`~ReferenceDrift.to_sde` the simulable :class:`~dynfer.processes.SDE`. Families whose drift is linear in their
parameters, :math:`f_\theta(x) = \Phi(x)\,\theta` with features :math:`\Phi(x) \in \mathbb{R}^{d \times p}`, say so
with ``linear_in_theta = True`` and expose :meth:`~ReferenceDrift.features`, so that the θ-step
(:func:`dynfer.estimators.bridges.drift_fit.fit_reference`) is an exact least-squares solve.

Families (``theta()`` keys in brackets; *linear* marks ``linear_in_theta``):

* ``"brownian"``: :math:`f \equiv 0` (none; linear with :math:`p = 0`);
* ``"linear"``: :math:`A x + b`, OU type (``A``, ``b``; linear);
* ``"lotka_volterra"``: :math:`(\alpha x - \beta x y,\; \delta x y - \gamma y)` (``alpha``, ``beta``, ``gamma``,
  ``delta``; linear, :math:`\theta \ge 0`);
* ``"repressilator"``: :math:`\beta / (1 + (|x_{i-1}|/k)^n) - \gamma x_i`, cyclic (``beta``, ``n``, ``k``, ``gamma``);
* ``"vortex"``: :math:`\omega\,(-s\,(y - y_0),\; (x - x_0)/s)` (``x0``, ``y0``, ``scale``, ``rate``);
* ``"hooke"``: :math:`-k\,x` (``k``; linear, :math:`k \ge 0`);
* ``"mlp"``: a free MLP drift; ``"mlp_potential"``: :math:`-\nabla\Phi_\theta(x)` with an MLP potential (both in
  :mod:`.reference_nets`; empty ``theta()``, weights in ``state_dict()``).

Positivity is enforced with :math:`|\cdot|` on the raw parameters, as in the authors' code; ``theta()`` reports the
effective (absolute) values. The vortex is the rigid (elliptical) rotation with stream function
:math:`\psi = \tfrac{\omega}{2}\big((x - x_0)^2/s + s\,(y - y_0)^2\big)`, :math:`f = (-\partial_y\psi, \partial_x\psi)`:
divergence free, centre :math:`(x_0, y_0)`, angular rate :math:`\omega` (positive: anticlockwise) and ellipse aspect
:math:`s` (the y-scale: orbits are ellipses with semi-axes ratio :math:`a_x / a_y = s`).

References
----------
Shen, Y., Berlinghieri, R. & Broderick, T. (2025). Multi-marginal Schrödinger bridges with iterative reference
refinement. *AISTATS*, PMLR 258, 3817-3825 (arXiv:2408.06277).
Elowitz, M. B. & Leibler, S. (2000). A synthetic oscillatory network of transcriptional regulators. *Nature* 403.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer.estimators.bridges.families import as_reference, make_reference, register_family
from dynfer.estimators.bridges.reference_base import ReferenceDrift, check_dim

__all__ = [
    "FAMILIES",
    "BrownianReference",
    "HookeReference",
    "LinearReference",
    "LotkaVolterraReference",
    "ReferenceDrift",
    "RepressilatorReference",
    "VortexReference",
    "as_reference",
    "make_reference",
]


def _init_param(value: Any, name: str, shape: tuple[int, ...], dtype: torch.dtype | None, device: Any) -> nn.Parameter:
    """A parameter of ``shape`` from a number/array ``value``, checked finite, on ``settings`` dtype/device."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be numeric, got {type(value).__name__}") from None
    if arr.shape != shape and not (arr.ndim == 0 and shape == ()):
        raise BadInputError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise BadInputError(f"{name} must be finite (no NaN or infinity), got {value!r}")
    t = torch.as_tensor(arr, dtype=dtype or settings.dtype, device=settings.resolve_device(device))
    return nn.Parameter(t.clone())


class BrownianReference(ReferenceDrift):
    r"""Brownian reference :math:`f \equiv 0` (vanilla SB); no parameters."""

    family = "brownian"
    linear_in_theta = True

    def __init__(self, dim: int, *, dtype: torch.dtype | None = None, device: Any = None) -> None:
        super().__init__(dim)
        self._dtype = dtype or settings.dtype
        self._device = settings.resolve_device(device)

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """Drift of this family (see the class docstring)."""
        return torch.zeros_like(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r"""Features :math:`\Phi(x)`, shape ``(n, d, p)``."""
        return x.new_zeros(x.shape[0], self.dim, 0)

    def theta_vector(self) -> torch.Tensor:
        r"""The effective parameter vector :math:`\theta`."""
        return torch.zeros(0, dtype=self._dtype, device=self._device)

    def set_theta_vector(self, theta: torch.Tensor) -> None:
        r"""Set the parameters from :math:`\theta`."""
        if theta.numel():
            raise BadInputError("the brownian family has no parameters")


class LinearReference(ReferenceDrift):
    r"""Affine (Ornstein–Uhlenbeck type) drift :math:`f(x) = A x + b`.

    Linear in :math:`\theta = (\operatorname{vec}_{\text{row}}(A), b) \in \mathbb{R}^{d^2 + d}`.

    Parameters
    ----------
    dim
        State dimension :math:`d`.
    A, b
        Initial :math:`A \in \mathbb{R}^{d\times d}` and :math:`b \in \mathbb{R}^d` (default zero).
    """

    family = "linear"
    linear_in_theta = True

    def __init__(
        self, dim: int, *, A: Any = None, b: Any = None, dtype: torch.dtype | None = None, device: Any = None
    ) -> None:
        super().__init__(dim)
        d = self.dim
        self.A = _init_param(np.zeros((d, d)) if A is None else A, "A", (d, d), dtype, device)
        self.b = _init_param(np.zeros(d) if b is None else b, "b", (d,), dtype, device)

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """Drift of this family (see the class docstring)."""
        return x @ self.A.T.to(x) + self.b.to(x)

    def drift_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`A` for every row."""
        return self.A.to(x).expand(x.shape[0], self.dim, self.dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r"""Features :math:`\Phi(x)`, shape ``(n, d, p)``."""
        n, d = x.shape
        phi = x.new_zeros(n, d, d * d + d)
        for i in range(d):  # d blocks, not a loop over data
            phi[:, i, i * d : (i + 1) * d] = x
            phi[:, i, d * d + i] = 1.0
        return phi

    def normal_equations(self, x: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normal equations (see :meth:`ReferenceDrift.normal_equations`)."""
        # block-diagonal: G = I_d ⊗ ZᵀWZ with Z = [x, 1] arranged to the (vec A, b) ordering of features()
        d = self.dim
        z = torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)
        zz = (z * w[:, None]).T @ z  # (d+1, d+1)
        zv = (z * w[:, None]).T @ v  # (d+1, d)
        p = d * d + d
        g = x.new_zeros(p, p)
        h = x.new_zeros(p)
        for i in range(d):
            rows = list(range(i * d, (i + 1) * d)) + [d * d + i]
            idx = torch.tensor(rows, device=x.device)
            g[idx[:, None], idx[None, :]] = zz
            h[idx] = zv[:, i]
        return g, h

    def theta_vector(self) -> torch.Tensor:
        r"""The effective parameter vector :math:`\theta`."""
        return torch.cat([self.A.detach().reshape(-1), self.b.detach()])

    def set_theta_vector(self, theta: torch.Tensor) -> None:
        r"""Set the parameters from :math:`\theta`."""
        d = self.dim
        with torch.no_grad():
            self.A.copy_(theta[: d * d].reshape(d, d).to(self.A))
            self.b.copy_(theta[d * d :].to(self.b))

    def theta(self) -> dict[str, np.ndarray]:
        """The interpretable parameters as numpy arrays."""
        return {"A": self.A.detach().cpu().double().numpy(), "b": self.b.detach().cpu().double().numpy()}


class _PositiveScalars(ReferenceDrift):
    """Shared machinery of the families with named scalar parameters kept positive through ``|·|``."""

    names: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()

    def __init__(self, dim: int, values: dict[str, Any], dtype: torch.dtype | None, device: Any) -> None:
        super().__init__(dim)
        for name in self.names:
            setattr(self, f"raw_{name}", _init_param(values[name], name, (), dtype, device))

    def value(self, name: str, like: torch.Tensor) -> torch.Tensor:
        raw = getattr(self, f"raw_{name}").to(like)
        return raw.abs() if name in self.positive else raw

    def theta(self) -> dict[str, np.ndarray]:
        """The interpretable parameters as numpy arrays."""
        out = {}
        for name in self.names:
            raw = getattr(self, f"raw_{name}").detach().cpu().double()
            out[name] = (raw.abs() if name in self.positive else raw).numpy()
        return out

    def theta_vector(self) -> torch.Tensor:
        r"""The effective parameter vector :math:`\theta`."""
        if not self.linear_in_theta:
            return super().theta_vector()
        return torch.stack([self.value(n, getattr(self, f"raw_{n}")).detach() for n in self.names])

    def set_theta_vector(self, theta: torch.Tensor) -> None:
        r"""Set the parameters from :math:`\theta`."""
        with torch.no_grad():
            for name, val in zip(self.names, theta, strict=True):
                raw = getattr(self, f"raw_{name}")
                raw.copy_(val.to(raw))


class LotkaVolterraReference(_PositiveScalars):
    r"""Lotka–Volterra drift :math:`(\alpha x - \beta x y,\; \delta x y - \gamma y)`.

    All four parameters are :math:`\ge 0` through :math:`|\cdot|`; :math:`\theta = (\alpha, \beta, \gamma, \delta)`,
    initialised at :math:`10^{-5}` as in Shen et al. (2025) unless given. Linear in :math:`\theta` with features
    :math:`\Phi(x, y) = \begin{pmatrix} x & -xy & 0 & 0 \\ 0 & 0 & -y & xy \end{pmatrix}`.
    """

    family = "lotka_volterra"
    linear_in_theta = True
    nonnegative = True
    names = ("alpha", "beta", "gamma", "delta")
    positive = names

    def __init__(
        self,
        dim: int = 2,
        *,
        alpha: float = 1e-5,
        beta: float = 1e-5,
        gamma: float = 1e-5,
        delta: float = 1e-5,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ) -> None:
        if check_dim(dim) != 2:
            raise BadInputError(f"the lotka_volterra family needs dim=2 (prey, predator), got dim={dim}")
        super().__init__(2, {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}, dtype, device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r"""Features :math:`\Phi(x)`, shape ``(n, d, p)``."""
        u, v = x[:, 0], x[:, 1]
        z = torch.zeros_like(u)
        return torch.stack([torch.stack([u, -u * v, z, z], -1), torch.stack([z, z, -v, u * v], -1)], 1)

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """Drift of this family (see the class docstring)."""
        a, b, c, d = (self.value(n, x) for n in self.names)
        u, v = x[:, 0], x[:, 1]
        return torch.stack([a * u - b * u * v, d * u * v - c * v], dim=-1)

    def drift_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        r"""The Jacobian per row.

        .. math::  J(x, y) = \begin{pmatrix} \alpha - \beta y & -\beta x \\ \delta y & \delta x - \gamma \end{pmatrix}

        Returns
        -------
        torch.Tensor
            ``(n, 2, 2)``.
        """
        a, b, c, d = (self.value(n, x) for n in self.names)
        u, v = x[:, 0], x[:, 1]
        return torch.stack([torch.stack([a - b * v, -b * u], -1), torch.stack([d * v, d * u - c], -1)], 1)


class HookeReference(_PositiveScalars):
    r"""Hooke spring :math:`f(x) = -k\,x`, :math:`k = |k_{raw}| \ge 0`.

    The motion-capture reference of Shen et al. (2025). Linear in :math:`\theta = (k)` with :math:`\Phi(x) = -x`.
    """

    family = "hooke"
    linear_in_theta = True
    nonnegative = True
    names = ("k",)
    positive = names

    def __init__(self, dim: int, *, k: float = 1e-5, dtype: torch.dtype | None = None, device: Any = None) -> None:
        super().__init__(dim, {"k": k}, dtype, device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r"""Features :math:`\Phi(x)`, shape ``(n, d, p)``."""
        return -x[:, :, None]

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """Drift of this family (see the class docstring)."""
        return -self.value("k", x) * x


class RepressilatorReference(_PositiveScalars):
    r"""Repressilator drift :math:`f_i(x) = \beta / (1 + (|x_{i-1}|/k)^n) - \gamma x_i` (indices mod :math:`d`).

    :math:`\beta, n, k, \gamma \ge 0` through :math:`|\cdot|`. Default initialisation
    :math:`(\beta, n, k, \gamma) = (10^{-5}, 1, 1, 10^{-5})` as in Shen et al. (2025). Not linear in
    :math:`\theta` (the Hill exponent and threshold enter nonlinearly).
    """

    family = "repressilator"
    names = ("beta", "n", "k", "gamma")
    positive = names

    def __init__(
        self,
        dim: int = 3,
        *,
        beta: float = 1e-5,
        n: float = 1.0,
        k: float = 1.0,
        gamma: float = 1e-5,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ) -> None:
        if check_dim(dim) < 2:
            raise BadInputError(f"the repressilator family needs dim >= 2 (a ring of genes), got dim={dim}")
        super().__init__(dim, {"beta": beta, "n": n, "k": k, "gamma": gamma}, dtype, device)

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """Drift of this family (see the class docstring)."""
        beta, n, k, gamma = (self.value(name, x) for name in self.names)
        prev = torch.roll(x, shifts=1, dims=-1).abs()
        return beta / (1 + (prev / k) ** n) - gamma * x


class VortexReference(_PositiveScalars):
    r"""Rigid elliptical rotation about a learned centre.

    :math:`f(x, y) = \omega\,\big(-s\,(y - y_0),\; (x - x_0)/s\big)`, :math:`s = |s_{raw}| > 0`.

    ``theta()`` keys: ``x0``, ``y0`` (centre), ``scale`` (:math:`s`, the y-scale / ellipse aspect) and ``rate``
    (:math:`\omega`, signed, anticlockwise positive; the period of every orbit is :math:`2\pi/|\omega|`).
    Defaults: centre 0, scale 1, rate :math:`10^{-5}`.
    """

    family = "vortex"
    names = ("x0", "y0", "scale", "rate")
    positive = ("scale",)

    def __init__(
        self,
        dim: int = 2,
        *,
        x0: float = 0.0,
        y0: float = 0.0,
        scale: float = 1.0,
        rate: float = 1e-5,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ) -> None:
        if check_dim(dim) != 2:
            raise BadInputError(f"the vortex family needs dim=2 (a planar flow), got dim={dim}")
        super().__init__(2, {"x0": x0, "y0": y0, "scale": scale, "rate": rate}, dtype, device)
        if float(self.raw_scale.detach()) == 0:
            raise BadInputError("scale must be non-zero (the ellipse aspect s of the vortex)")

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """Drift of this family (see the class docstring)."""
        x0, y0, s, w = (self.value(name, x) for name in self.names)
        return torch.stack([-w * s * (x[:, 1] - y0), w * (x[:, 0] - x0) / s], dim=-1)


FAMILIES: dict[str, type[ReferenceDrift]] = {
    "brownian": BrownianReference,
    "linear": LinearReference,
    "lotka_volterra": LotkaVolterraReference,
    "repressilator": RepressilatorReference,
    "vortex": VortexReference,
    "hooke": HookeReference,
}
"""Parametric families by name; ``"mlp"`` and ``"mlp_potential"`` live in :mod:`.reference_nets`.

Each is registered in :mod:`.families`, whose :func:`~dynfer.estimators.bridges.families.family_names` lists every
family and whose :func:`make_reference` builds any of them by name.
"""

for _name, _cls in FAMILIES.items():
    register_family(_name, _cls)
del _name, _cls
