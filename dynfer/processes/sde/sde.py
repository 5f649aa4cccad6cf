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

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._validation import (
    STEP_COST,
    as_tensor,
    check_memory,
    check_positive,
    check_times,
    check_work,
    make_generator,
    progress_bar,
)

__all__ = ["SDE", "ReversedSDE"]

DriftFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NOISE_TYPES = ("scalar", "diagonal", "full")
METHODS = ("euler", "milstein")


def _count(value: object, name: str) -> int:
    """``value`` as a positive int (an int or numpy integer, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise BadInputError(name, f"{value!r}", "a positive integer")
    return int(value)


def _step_counts(spans: list[float], h_max: float | None, n: int, width: int, n_out: int) -> list[int]:
    r"""Euler steps per output interval (``ceil(span / dt)``), after checking the total work against the bound.

    The work is steps :math:`\times` (paths :math:`\times` width + :data:`~dynfer._validation.STEP_COST`) plus the
    ``n_out`` output elements written, estimated in floating point so that a tiny ``dt`` is refused before anything is
    allocated.
    """
    if h_max is None:
        counts = [1.0] * len(spans)
    else:
        counts = [max(1.0, float(math.ceil(q)) if math.isfinite(q := span / h_max - 1e-9) else math.inf)
                  for span in spans]
    total = sum(counts)
    where = "SDE.simulate: times" if h_max is None else "SDE.simulate: dt"
    change = "use fewer output times or fewer paths" if h_max is None else (
        f"use a larger dt (now {h_max:.3g}), fewer paths or a shorter time span")
    check_work(total * (n * width + STEP_COST) + n_out, where, f"{total:.3g} steps x {n} paths x {width} coordinates",
               change=change)
    return [int(c) for c in counts]


def _check_value(value: object, name: str, x: torch.Tensor, allowed: list[tuple[int, ...]], note: str) -> None:
    """Raise unless ``value`` (what ``name`` returned for ``x``) is a floating tensor of an ``allowed`` shape."""
    if not isinstance(value, torch.Tensor):
        raise BadInputError(name, f"returned a {type(value).__name__}", f"a torch.Tensor ({note})")
    if not value.is_floating_point():
        raise BadInputError(name, f"returned a tensor of dtype {value.dtype}", "a floating tensor")
    if tuple(value.shape) not in allowed:
        want = " or ".join(dict.fromkeys(str(a) for a in allowed))
        raise BadInputError(name, f"returned shape {tuple(value.shape)} for x of shape {tuple(x.shape)}",
                            f"shape {want} ({note})")


class _FirstChecked:
    """``fn(t, x)`` whose first result goes through ``check(value, x)``; later results pass straight through.

    A torch error on the first call (a function written for another state dimension) becomes a
    :class:`BadInputError` naming the function and the shape of ``x``. With ``numbers``, a plain number returned by
    ``fn`` becomes a 0-d tensor (a constant diffusion written as ``lambda t, x: 0.5``).
    """

    def __init__(self, fn: Callable, check: Callable, name: str, *, numbers: bool = False) -> None:
        self.fn, self.check, self.name, self.numbers, self.pending = fn, check, name, numbers, True

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if not self.pending:
            value = self.fn(t, x)
            if self.numbers and not isinstance(value, torch.Tensor):
                value = torch.tensor(float(value), dtype=x.dtype, device=x.device)
            return value
        try:
            value = self.fn(t, x)
        except (RuntimeError, IndexError) as err:
            raise BadInputError(self.name, f"failed on x of shape {tuple(x.shape)} ({err})",
                                "a function of (t, x) for states of this dimension; does x0 have the number of "
                                "coordinates the model expects?") from err
        value = self.check(value, x)
        self.pending = False
        return value


class _FiniteGuard:
    r"""Watch simulated states for the first NaN or infinite value, at the cost of one sum every few steps.

    A non-finite coordinate stays non-finite under every later Euler or Milstein update (:math:`x + \dots`), so the
    sum of the state every :attr:`STRIDE` steps (and after the last step), kept on the device and read back every
    :attr:`EVERY` sums (one synchronisation, not one per step), finds the first window of steps in which a value
    became non-finite. A sum that only overflows is told apart by checking the state itself, which is then finite.
    """

    STRIDE = 4
    EVERY = 64

    def __init__(self, x: torch.Tensor, t_out: torch.Tensor, spans: list[float], n_subs: list[int],
                 dt: float | None) -> None:
        self.sums = torch.empty(self.EVERY, dtype=x.dtype, device=x.device)
        self.dims = tuple(range(x.ndim))
        self.t0 = t_out.tolist()
        self.spans, self.n_subs, self.dt = spans, n_subs, dt
        self.total = sum(n_subs)
        self.n_paths = x.shape[0]
        self.step = 0  # steps taken
        self.records: list[tuple[int, float]] = []  # (step, time) of each recorded sum
        self.last_ok = (0, self.t0[0])  # the last (step, time) known to be finite

    def after_step(self, x: torch.Tensor, k: int, j: int) -> None:
        """Note the state after sub-step ``j`` of output interval ``k``."""
        self.step += 1
        if self.step % self.STRIDE == 0 or self.step == self.total:
            torch.sum(x.detach(), dim=self.dims, out=self.sums[len(self.records)])
            self.records.append((self.step, self.t0[k] + (j + 1) * self.spans[k] / self.n_subs[k]))
            if len(self.records) == self.EVERY or self.step == self.total:
                self.flush(x)

    def flush(self, x: torch.Tensor) -> None:
        """Check the recorded sums; raise :class:`BadInputError` at the first window with a non-finite state."""
        if not self.records:
            return
        bad = ~torch.isfinite(self.sums[: len(self.records)])
        if bool(bad.any()):
            rows = ~torch.isfinite(x.detach()).reshape(x.shape[0], -1).all(dim=1)
            n_bad = int(rows.sum())
            if n_bad:
                first = int(torch.nonzero(bad)[0, 0])
                (s0, t0), (s1, t1) = self.records[first - 1] if first else self.last_ok, self.records[first]
                when = (f"at t = {t1:.6g} (step {s1}" if s1 == s0 + 1 else
                        f"between t = {t0:.6g} and t = {t1:.6g} (steps {s0 + 1} to {s1}")
                step_size = "" if self.dt is None else f", dt = {self.dt:.3g}"
                raise BadInputError(
                    "SDE.simulate: drift or diffusion",
                    f"the paths became NaN or infinite {when} of {self.total}{step_size}); {n_bad} of "
                    f"{self.n_paths} paths were non-finite by t = {self.records[-1][1]:.6g}",
                    "finite paths",
                    hint="take smaller steps (a smaller dt: explicit Euler and Milstein steps diverge when dt times "
                    "the drift's rate of change is large), use a drift that stays bounded (e.g. clip it), and make "
                    "drift and diffusion return finite values (no log or division by zero)",
                )
        self.last_ok = self.records[-1]
        self.records.clear()


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
        return self._covariance(self.diffusion(t, x), x)

    def _covariance(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.noise_type == "full":
            return g @ g.transpose(-1, -2)
        return torch.broadcast_to(g * g, x.shape)

    # ------------------------------------------------------------------ checked evaluation
    def _required_dim(self) -> int | None:
        """The state dimension the model is defined for (``None``: any); subclasses with a fixed one override it."""
        return None

    def _check_dim(self, d: int, name: str) -> None:
        want = self._required_dim()
        if want is not None and d != want:
            raise BadInputError(name, f"states with {d} coordinates", f"{want} coordinates, the dimension of this "
                                f"{type(self).__name__}")

    def _diffusion_shapes(self, n: int, d: int, m: int) -> list[tuple[int, ...]]:
        """The diffusion shapes that mean what they should for ``n`` paths in ``d`` dimensions (``m`` for full)."""
        if self.noise_type == "full":
            return [(d, m), (n, d, m)]
        scalar = [(), (1,), (1, 1), (n, 1)]
        return scalar if self.noise_type == "scalar" else scalar + [(d,), (1, d), (n, d)]

    def _checked(self, n: int, d: int, m: int) -> tuple[Callable, Callable]:
        """``drift(t, x)`` and ``diffusion(t, x)`` that check their first result for type and shape.

        The drift must return ``(n, d)`` exactly (an ``(n, 1)`` or ``(d,)`` drift would be broadcast silently); the
        diffusion one of :meth:`_diffusion_shapes` (a number is taken as a 0-d tensor). A torch error on the first
        evaluation (a drift written for another dimension) becomes a :class:`BadInputError` naming the shape of
        ``x``.
        """
        allowed = self._diffusion_shapes(n, d, m)

        def check_drift(value: object, x: torch.Tensor) -> torch.Tensor:
            _check_value(value, "drift", x, [(n, d)], "one drift vector per path; an (n, 1) or (d,) drift "
                         "would be broadcast silently")
            return value

        def check_diffusion(value: object, x: torch.Tensor) -> torch.Tensor:
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = torch.tensor(float(value), dtype=x.dtype, device=x.device)
            _check_value(value, "diffusion", x, allowed, f"for noise_type={self.noise_type!r}")
            return value

        return (_FirstChecked(self.drift, check_drift, "drift"),
                _FirstChecked(self.diffusion, check_diffusion, "diffusion", numbers=True))

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
            Paths of shape ``(T, n, d)`` on the device and dtype of ``x0``, all finite.

        Raises
        ------
        BadInputError
            Bad arguments; a drift or diffusion of the wrong shape (checked on the first evaluation); work above
            :attr:`dynfer.settings.max_work` (steps :math:`\times` paths :math:`\times` dimension, estimated before
            the first step) or an output that does not fit in memory; and paths that become NaN or infinite (a drift
            or diffusion returning NaN, or an explicit scheme diverging), reported with the first time at which
            they did.
        """
        if method not in METHODS:
            raise BadInputError(f"method must be one of {METHODS}, got {method!r}")
        x = as_tensor(x0, "x0", ndim=(1, 2))
        if x.ndim == 1:
            if n_paths is None:
                x = x[None]
            else:
                x = x.expand(_count(n_paths, "n_paths"), -1)
        elif n_paths is not None and n_paths != x.shape[0]:
            raise BadInputError(f"n_paths={n_paths} does not match x0 with {x.shape[0]} rows")
        if 0 in x.shape:
            raise BadInputError("x0", f"shape {tuple(x.shape)}", "at least one path with at least one coordinate")
        t_out = as_tensor(times, "times", ndim=1, device=x.device, dtype=torch.float64)
        if len(t_out) == 0:
            raise BadInputError("times", "no time", "at least the start time times[0] of x0")
        check_times(t_out, "times")
        if not bool(torch.isfinite(t_out.to(x.dtype)).all()) or not float(t_out[-1] - t_out[0]) < torch.finfo(
                x.dtype).max:
            raise BadInputError("times", f"times up to {float(t_out.abs().max()):.3g}, beyond the range of x0's "
                                f"dtype {str(x.dtype).removeprefix('torch.')}", "times the state's dtype holds")
        h_max = None if dt is None else check_positive(dt, "dt")
        n, d = x.shape
        self._check_dim(d, "x0")
        m = self.brownian_dim(d)
        spans = torch.diff(t_out).tolist()
        n_subs = _step_counts(spans, h_max, n, max(d, m), len(t_out) * n * d)
        check_memory(((len(t_out) + 1) * d + 2 * m) * n * x.element_size(), "SDE.simulate",
                     f"the output of {len(t_out)} times x {n} paths x {d} coordinates", device=x.device,
                     change="simulate fewer paths or fewer output times (in batches)")
        gen = make_generator(seed, x.device)
        drift_fn, diffusion_fn = self._checked(n, d, m)
        milstein = method == "milstein" and not self.constant_diffusion
        out = torch.empty((len(t_out), n, d), dtype=x.dtype, device=x.device)
        out[0] = x
        fast = not requires_grad and not milstein and self.constant_diffusion and self.noise_type != "full"
        guard = _FiniteGuard(x, t_out, spans, n_subs, dt)
        bar = progress_bar(sum(n_subs), desc="SDE steps")
        with bar, torch.set_grad_enabled(requires_grad):
            x = x.clone()
            g_const = diffusion_fn(t_out[0].to(x.dtype), x) if self.constant_diffusion else None
            dw = torch.empty((n, m), dtype=x.dtype, device=x.device)
            for k, (span, n_sub) in enumerate(zip(spans, n_subs, strict=True)):
                h = span / n_sub
                sqrt_h = math.sqrt(h)
                t_grid = (t_out[k] + h * torch.arange(n_sub, dtype=torch.float64, device=x.device)).to(x.dtype)
                if fast:  # in place, one noise buffer: as fast as a bare hand-written loop
                    scalar = g_const.numel() == 1
                    scale = float(g_const) * sqrt_h if scalar else (g_const * sqrt_h).expand(x.shape).contiguous()
                    for j, t in enumerate(t_grid.unbind()):
                        drift = drift_fn(t, x)
                        torch.randn((n, m), generator=gen, dtype=x.dtype, device=x.device, out=dw)
                        x.add_(drift, alpha=h)
                        if scalar:
                            x.add_(dw, alpha=scale)
                        else:
                            x.addcmul_(dw, scale)
                        guard.after_step(x, k, j)
                else:
                    for j, t in enumerate(t_grid.unbind()):
                        noise = torch.randn((n, m), generator=gen, dtype=x.dtype, device=x.device)
                        if milstein:
                            x = self._milstein_step(t, x, h, sqrt_h, noise, drift_fn, diffusion_fn)
                        else:
                            g = g_const if g_const is not None else diffusion_fn(t, x)
                            x = x + drift_fn(t, x) * h + self.noise_term(g, noise) * sqrt_h
                        x = x.to(out.dtype)
                        guard.after_step(x, k, j)
                out[k + 1] = x
                bar.update(n_sub)
            guard.flush(x)
        return out

    def _milstein_step(
        self,
        t: torch.Tensor,
        x: torch.Tensor,
        h: float,
        sqrt_h: float,
        dw: torch.Tensor,
        drift: Callable | None = None,
        diffusion: Callable | None = None,
    ) -> torch.Tensor:
        drift = self.drift if drift is None else drift
        diffusion = self.diffusion if diffusion is None else diffusion
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            g = diffusion(t, xr)
            if g.requires_grad:
                (dg,) = torch.autograd.grad(torch.broadcast_to(g, xr.shape).sum(), xr, create_graph=False)
            else:  # a diffusion that does not depend on x (or is not differentiable in it)
                dg = torch.zeros_like(xr)
        g = g.detach()
        dw = dw * sqrt_h
        return x + drift(t, x) * h + g * dw + 0.5 * g * dg * (dw * dw - h)

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
        self._check_dim(d, "paths")
        delta = torch.diff(t)[:, None, None]
        start = x[:-1].reshape(-1, d)
        t_col = t[:-1, None].expand(n_t - 1, n).reshape(-1, 1)
        drift_fn, diffusion_fn = self._checked(start.shape[0], d, self.brownian_dim(d))
        mean = x[:-1] + drift_fn(t_col, start).reshape(n_t - 1, n, d) * delta
        if not bool(torch.isfinite(mean).all()):
            raise BadInputError("SDE.log_likelihood: drift", "NaN or infinite values on the observed paths",
                                "a finite drift wherever the paths go")
        resid = x[1:] - mean
        g = diffusion_fn(t_col, start)
        if self.noise_type == "full":
            cov = self._covariance(g, start)
            try:
                chol = torch.linalg.cholesky(cov)
            except RuntimeError:
                raise BadInputError("the full diffusion G G^T is singular; the Euler likelihood needs rank d") from None
            if chol.ndim == 2:
                z = torch.linalg.solve_triangular(chol, resid.reshape(-1, d).T, upper=False).T
            else:  # one G per observation
                z = torch.linalg.solve_triangular(chol, resid.reshape(-1, d, 1), upper=False)
            z = z.reshape(n_t - 1, n, d)
            half_logdet = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
            if half_logdet.ndim:
                half_logdet = half_logdet.reshape(n_t - 1, n)
            ll = (-0.5 * (z * z).sum(-1) / delta[..., 0] - half_logdet - 0.5 * d * torch.log(delta[..., 0])
                  - 0.5 * d * math.log(2 * math.pi))
        else:
            var = self._covariance(g, start).reshape(n_t - 1, n, d) * delta
            if not bool(torch.isfinite(var).all()):
                raise BadInputError("SDE.log_likelihood: diffusion", "NaN or infinite values on the observed paths",
                                    "a finite diffusion wherever the paths go")
            if bool((var <= 0).any()):
                raise BadInputError("the diffusion is zero somewhere along the paths; the Euler likelihood "
                                    "is undefined")
            ll = -0.5 * ((resid * resid) / var + torch.log(2 * math.pi * var)).sum(-1)
        if not bool(torch.isfinite(ll).all()):
            dtype = str(ll.dtype).removeprefix("torch.")
            raise BadInputError("SDE.log_likelihood: paths", f"a log-likelihood that overflows {dtype} (increments "
                                "far beyond the diffusion, or a diffusion too small for the time steps)",
                                "increments on the scale of the diffusion", hint="pass float64 paths and times, or "
                                "check that the paths and the SDE match")
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
