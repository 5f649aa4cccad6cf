r"""Stochastic differential equations: the :class:`SDE` protocol, fixed-step solvers, Euler likelihood, time reversal.

An Itô SDE

.. math::  dX_t = f(t, X_t)\,dt + g(t, X_t)\,dW_t, \qquad X_t \in \mathbb{R}^d,

is described by a drift :math:`f` and a diffusion :math:`g` of one of three noise types (as in torchsde):

* ``"scalar"``: :math:`g` is a number (or an ``(n, 1)`` column), the same for every coordinate, :math:`W` is
  :math:`d`-dimensional;
* ``"diagonal"``: :math:`g` is a ``(d,)`` vector (or ``(n, d)``), coordinate :math:`i` is driven by :math:`g_i\,dW_i`;
* ``"full"``: :math:`g` is a constant ``(d, m)`` matrix :math:`G` and :math:`W` is :math:`m`-dimensional.

References
----------
Kloeden, P. E. & Platen, E. (1992). *Numerical Solution of Stochastic Differential Equations*. Springer.
Anderson, B. D. O. (1982). Reverse-time diffusion equation models. *Stoch. Proc. Appl.* 12, 313-326.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_times, make_generator, progress_bar

__all__ = ["SDE", "ReversedSDE"]

DriftFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NOISE_TYPES = ("scalar", "diagonal", "full")
METHODS = ("euler", "milstein")


class SDE(torch.nn.Module):
    r"""An Itô SDE :math:`dX = f(t, X)\,dt + g(t, X)\,dW` that simulates many paths at once on any device.

    Parameters
    ----------
    drift
        Callable ``f(t, x) -> (n, d)`` with ``x`` of shape ``(n, d)`` and ``t`` a 0-d tensor (during simulation) or an
        ``(n, 1)`` column (in batched likelihood evaluation); it must broadcast over both. ``None`` means
        :math:`f \equiv 0`. Subclasses override :meth:`drift` instead. A :class:`torch.nn.Module` drift is registered
        as a sub-module, so its parameters are this SDE's parameters.
    diffusion
        A constant (number: scalar noise; ``(d,)``: diagonal; ``(d, m)``: full) or a callable ``g(t, x)`` returning
        ``(n, 1)`` (scalar) or ``(n, d)`` (diagonal). Subclasses override :meth:`diffusion` instead.
    noise_type
        ``"scalar"``, ``"diagonal"`` or ``"full"``; inferred from a constant ``diffusion``, required for a callable
        one unless it is ``"diagonal"``.

    Examples
    --------
    >>> import torch
    >>> from dynfer.processes import SDE
    >>> sde = SDE(drift=lambda t, x: -x, diffusion=0.5)
    >>> paths = sde.simulate(torch.zeros(100, 2), torch.linspace(0, 1, 11), dt=0.01, seed=0)
    >>> tuple(paths.shape)
    (11, 100, 2)
    """

    noise_type: str = "diagonal"
    constant_diffusion: bool = False

    def __init__(
        self,
        drift: DriftFn | None = None,
        diffusion: float | torch.Tensor | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        *,
        noise_type: str | None = None,
    ) -> None:
        super().__init__()
        self._drift_fn = drift
        if isinstance(drift, torch.nn.Module):
            self.drift_net = drift
        self._diffusion_fn: Callable | None = None
        if diffusion is None:
            if type(self).diffusion is SDE.diffusion:
                raise BadInputError("diffusion must be given (a number, a (d,) or (d, m) tensor, or a callable)")
            if noise_type is not None:
                self.noise_type = self._check_noise_type(noise_type)
        elif callable(diffusion) and not isinstance(diffusion, torch.Tensor):
            self._diffusion_fn = diffusion
            self.noise_type = self._check_noise_type(noise_type or "diagonal")
            if self.noise_type == "full":
                raise BadInputError("noise_type='full' needs a constant (d, m) diffusion matrix, not a callable")
            self.constant_diffusion = False
        else:
            g = as_tensor(diffusion, "diffusion")
            inferred = {0: "scalar", 1: "diagonal", 2: "full"}.get(g.ndim)
            if inferred is None:
                raise BadInputError(f"diffusion must be a number, a (d,) vector or a (d, m) matrix, got "
                                    f"{tuple(g.shape)}")
            if noise_type is not None and self._check_noise_type(noise_type) != inferred:
                raise BadInputError(f"noise_type={noise_type!r} does not match a diffusion of shape {tuple(g.shape)}")
            self.register_buffer("diffusion_const", g)
            self.noise_type = inferred
            self.constant_diffusion = True

    # ------------------------------------------------------------------ protocol
    @staticmethod
    def _check_noise_type(noise_type: str) -> str:
        if noise_type not in NOISE_TYPES:
            raise BadInputError(f"noise_type must be one of {NOISE_TYPES}, got {noise_type!r}")
        return noise_type

    def drift(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Drift :math:`f(t, x)`, shape ``(n, d)``."""
        if self._drift_fn is None:
            return torch.zeros_like(x)
        return self._drift_fn(t, x)

    def diffusion(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Diffusion :math:`g(t, x)`: ``()``/``(n, 1)`` scalar, ``(d,)``/``(n, d)`` diagonal or ``(d, m)`` full."""
        if self._diffusion_fn is not None:
            return self._diffusion_fn(t, x)
        return self.diffusion_const.to(device=x.device, dtype=x.dtype)

    def brownian_dim(self, d: int) -> int:
        """Dimension ``m`` of the driving Brownian motion for a state of dimension ``d``."""
        if self.noise_type == "full":
            return int(self.diffusion(torch.zeros(()), torch.zeros(1, d)).shape[-1])
        return d

    def noise_term(self, g: torch.Tensor, dw: torch.Tensor) -> torch.Tensor:
        r"""The increment :math:`g\,dW` for a diffusion value ``g`` and Brownian increments ``dw`` of shape (n, m)."""
        if self.noise_type == "full":
            return dw @ g.transpose(-1, -2) if g.ndim == 2 else torch.einsum("ndm,nm->nd", g, dw)
        return g * dw

    def diffusion_covariance(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r""":math:`g g^\top` per row: ``(n, d)`` diagonal entries (scalar/diagonal) or ``(d, d)`` (full)."""
        g = self.diffusion(t, x)
        if self.noise_type == "full":
            return g @ g.transpose(-1, -2)
        return torch.broadcast_to(g * g, x.shape)

    # ------------------------------------------------------------------ simulation
    def simulate(
        self,
        x0: torch.Tensor,
        times: torch.Tensor,
        *,
        dt: float | None = None,
        method: str = "euler",
        seed: int | torch.Generator | None = None,
        n_paths: int | None = None,
        requires_grad: bool = False,
    ) -> torch.Tensor:
        r"""Simulate paths on a fixed step and return them at ``times``.

        Euler–Maruyama: :math:`X_{k+1} = X_k + f(t_k, X_k)h + g(t_k, X_k)\Delta W_k`,
        :math:`\Delta W_k \sim \mathcal N(0, h I)`. Milstein (scalar or diagonal noise, where :math:`g_i` depends on
        :math:`x_i` only) adds :math:`\tfrac12 g_i\,\partial_{x_i} g_i\,(\Delta W_{k,i}^2 - h)`, strong order 1
        (Kloeden & Platen 1992, eq. 10.3.1); with a constant diffusion it equals Euler–Maruyama.

        Parameters
        ----------
        x0
            Initial states ``(n, d)``, or ``(d,)`` together with ``n_paths``.
        times
            Increasing output times ``(T,)``; ``times[0]`` is the time of ``x0``.
        dt
            Largest internal step. Each output interval is split into ``ceil(Δt / dt)`` equal steps; ``None`` steps
            straight from one output time to the next.
        method
            ``"euler"`` or ``"milstein"``.
        seed
            Seed or :class:`torch.Generator` for the Brownian increments (``None``: ``settings.seed``).
        n_paths
            Number of paths when ``x0`` is a single ``(d,)`` state.
        requires_grad
            Keep the autograd graph (to differentiate through the paths); off by default for speed.

        Returns
        -------
        torch.Tensor
            Paths of shape ``(T, n, d)`` on the device and dtype of ``x0``.
        """
        if method not in METHODS:
            raise BadInputError(f"method must be one of {METHODS}, got {method!r}")
        x = as_tensor(x0, "x0", ndim=(1, 2))
        if x.ndim == 1:
            if n_paths is None:
                x = x[None]
            else:
                if int(n_paths) < 1:
                    raise BadInputError(f"n_paths must be a positive integer, got {n_paths!r}")
                x = x.expand(int(n_paths), -1)
        elif n_paths is not None and n_paths != x.shape[0]:
            raise BadInputError(f"n_paths={n_paths} does not match x0 with {x.shape[0]} rows")
        t_out = as_tensor(times, "times", ndim=1, device=x.device, dtype=torch.float64)
        check_times(t_out, "times")
        if dt is not None and not (float(dt) > 0 and math.isfinite(float(dt))):
            raise BadInputError(f"dt must be a positive finite number or None, got {dt!r}")
        gen = make_generator(seed, x.device)
        n, d = x.shape
        m = self.brownian_dim(d)
        milstein = method == "milstein" and not self.constant_diffusion
        out = torch.empty((len(t_out), n, d), dtype=x.dtype, device=x.device)
        out[0] = x
        fast = not requires_grad and not milstein and self.constant_diffusion and self.noise_type != "full"
        spans = torch.diff(t_out).tolist()
        n_subs = [1 if dt is None else max(1, math.ceil(span / float(dt) - 1e-9)) for span in spans]
        bar = progress_bar(sum(n_subs), desc="SDE steps")
        with bar, torch.set_grad_enabled(requires_grad):
            x = x.clone()
            g_const = self.diffusion(t_out[0].to(x.dtype), x) if self.constant_diffusion else None
            dw = torch.empty((n, m), dtype=x.dtype, device=x.device)
            for k, (span, n_sub) in enumerate(zip(spans, n_subs, strict=True)):
                h = span / n_sub
                sqrt_h = math.sqrt(h)
                t_grid = (t_out[k] + h * torch.arange(n_sub, dtype=torch.float64, device=x.device)).to(x.dtype)
                if fast:  # in place, one noise buffer: as fast as a bare hand-written loop
                    scalar = g_const.numel() == 1
                    scale = float(g_const) * sqrt_h if scalar else (g_const * sqrt_h).expand(x.shape).contiguous()
                    for t in t_grid.unbind():
                        drift = self.drift(t, x)
                        torch.randn((n, m), generator=gen, dtype=x.dtype, device=x.device, out=dw)
                        x.add_(drift, alpha=h)
                        if scalar:
                            x.add_(dw, alpha=scale)
                        else:
                            x.addcmul_(dw, scale)
                else:
                    for t in t_grid.unbind():
                        noise = torch.randn((n, m), generator=gen, dtype=x.dtype, device=x.device)
                        if milstein:
                            x = self._milstein_step(t, x, h, sqrt_h, noise)
                            continue
                        g = g_const if g_const is not None else self.diffusion(t, x)
                        x = x + self.drift(t, x) * h + self.noise_term(g, noise) * sqrt_h
                out[k + 1] = x
                bar.update(n_sub)
        return out

    def _milstein_step(
        self, t: torch.Tensor, x: torch.Tensor, h: float, sqrt_h: float, dw: torch.Tensor
    ) -> torch.Tensor:
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            g = self.diffusion(t, xr)
            (dg,) = torch.autograd.grad(torch.broadcast_to(g, xr.shape).sum(), xr, create_graph=False)
        g = g.detach()
        dw = dw * sqrt_h
        return x + self.drift(t, x) * h + g * dw + 0.5 * g * dg * (dw * dw - h)

    # ------------------------------------------------------------------ likelihood
    def log_likelihood(self, paths: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        r"""Euler transition log-likelihood of observed paths, one value per path.

        .. math::  \ell = \sum_{k} \log \mathcal N\big(x_{k+1};\; x_k + f(t_k, x_k)\Delta_k,\;
                   g g^\top(t_k, x_k)\,\Delta_k\big),\qquad \Delta_k = t_{k+1} - t_k,

        the discretised likelihood maximised when a drift is refitted to paths (Euler pseudo-likelihood). It is
        differentiable with respect to the parameters of the drift and diffusion.

        Parameters
        ----------
        paths
            Observed states ``(T, n, d)`` at ``times``.
        times
            Increasing times ``(T,)``.

        Returns
        -------
        torch.Tensor
            ``(n,)`` log-likelihoods.
        """
        x = as_tensor(paths, "paths", ndim=3)
        t = as_tensor(times, "times", ndim=1, device=x.device, dtype=x.dtype)
        check_times(t, "times")
        if len(t) != x.shape[0]:
            raise BadInputError(f"times has {len(t)} entries but paths has {x.shape[0]} time points (axis 0)")
        if len(t) < 2:
            raise BadInputError("paths must hold at least two time points to have a transition likelihood")
        n_t, n, d = x.shape
        delta = torch.diff(t)[:, None, None]
        start = x[:-1].reshape(-1, d)
        t_col = t[:-1, None].expand(n_t - 1, n).reshape(-1, 1)
        mean = x[:-1] + self.drift(t_col, start).reshape(n_t - 1, n, d) * delta
        resid = x[1:] - mean
        if self.noise_type == "full":
            cov = self.diffusion_covariance(t_col, start)
            try:
                chol = torch.linalg.cholesky(cov)
            except RuntimeError:
                raise BadInputError("the full diffusion G G^T is singular; the Euler likelihood needs rank d") from None
            z = torch.linalg.solve_triangular(chol, resid.reshape(-1, d).T, upper=False).T.reshape(n_t - 1, n, d)
            logdet = 2 * torch.log(torch.diagonal(chol)).sum() + d * torch.log(delta)
            ll = -0.5 * (z * z).sum(-1) / delta[..., 0] - 0.5 * logdet[..., 0] - 0.5 * d * math.log(2 * math.pi)
        else:
            var = self.diffusion_covariance(t_col, start).reshape(n_t - 1, n, d) * delta
            if bool((var <= 0).any()):
                raise BadInputError("the diffusion is zero somewhere along the paths; the Euler likelihood "
                                    "is undefined")
            ll = -0.5 * ((resid * resid) / var + torch.log(2 * math.pi * var)).sum(-1)
        return ll.sum(0)

    # ------------------------------------------------------------------ time reversal
    def reverse(
        self, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], t_end: float
    ) -> ReversedSDE:
        r"""The time-reversed SDE in :math:`s = T - t` given the score :math:`\nabla \log p_t`.

        .. math::  dY_s = \big[-f(T-s, Y_s) + g g^\top \nabla_y \log p_{T-s}(Y_s)\big]\,ds + g\,d\bar W_s

        (Anderson 1982), valid for a diffusion that does not depend on the state. If :math:`X_0 \sim p_0` then
        :math:`Y_s` has the law of :math:`X_{T-s}`.
        """
        if not self.constant_diffusion:
            raise BadInputError("reverse() needs a constant (state-independent) diffusion")
        if not callable(score):
            raise BadInputError("score must be a callable score(t, x) -> (n, d)")
        return ReversedSDE(self, score, float(t_end))


class ReversedSDE(SDE):
    """Time reversal of an :class:`SDE` with constant diffusion; built by :meth:`SDE.reverse`."""

    def __init__(self, forward: SDE, score: Callable, t_end: float) -> None:
        super().__init__(noise_type=forward.noise_type)
        self.constant_diffusion = True
        self.forward_sde = forward
        self.score = score
        self.t_end = t_end

    def drift(self, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Reversed drift :math:`-f(T-s, y) + g g^\top \nabla \log p_{T-s}(y)`."""
        t = self.t_end - s
        cov = self.forward_sde.diffusion_covariance(t, y)
        sc = self.score(t, y)
        push = sc @ cov.T if self.noise_type == "full" else cov * sc
        return -self.forward_sde.drift(t, y) + push

    def diffusion(self, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The forward diffusion, unchanged by the reversal."""
        return self.forward_sde.diffusion(self.t_end - s, y)
