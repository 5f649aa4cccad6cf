r"""The fast P-step on one interval: Gaussian transition, entropic-OT coupling, bridge paths.

For the reference :math:`Q_\theta:\ dX = f(X)\,dt + \sigma\,dW` on an interval of length :math:`\Delta` and two
unpaired snapshots :math:`x_1, \dots, x_n \sim \mu_0` and :math:`y_1, \dots, y_m \sim \mu_1`, the static
Schrödinger bridge is (Léonard 2014, Prop. 2.3; Chen, Georgiou & Pavon 2016)

.. math::  \pi^\star = \arg\min_{\pi \in \Pi(\mu_0, \mu_1)} \mathrm{KL}(\pi \,\|\, \mu_0 \otimes p_\Delta)
           = \arg\min_{\pi \in \Pi(\mu_0, \mu_1)} \int -\log p_\Delta(y \mid x)\,d\pi + 1\cdot \mathrm{KL}(\pi \,\|\,
           \mu_0 \otimes \mu_1),

that is entropic optimal transport with cost :math:`c(x, y) = -\log p_\Delta(y \mid x)` at temperature
:math:`\varepsilon = 1`. The bridge law is :math:`\pi^\star` followed by the reference's own bridges. Three steps:

1. :func:`gaussian_transition` approximates :math:`p_\Delta(\cdot \mid x)` by :math:`\mathcal N(m(x), \Sigma(x))`
   from the moment ODEs :math:`\dot m = f(m)`, :math:`\dot\Sigma = J\Sigma + \Sigma J^\top + \sigma^2 I`
   (:math:`J = \partial f/\partial x` at :math:`m`), integrated with RK4 and batched over all :math:`x`; exact for
   :math:`f \equiv 0` and for affine :math:`f` (Van Loan 1978).
2. :func:`transition_cost` and :func:`couple` build the cost and solve the entropic OT with log-domain Sinkhorn;
   :func:`sample_pairs` draws index pairs from the plan.
3. :func:`bridge_paths` fills each pair with a path conditioned on both ends: exact Brownian bridges for
   :math:`f \equiv 0`, otherwise a guided proposal (Delyon & Hu 2006; Schauer, van der Meulen & van Zanten 2017).

With :math:`f \equiv 0` the cost is :math:`|x - y|^2 / (2\sigma^2\Delta)` plus a constant, so step 2 is entropic OT
with the squared-Euclidean cost and :math:`\varepsilon = 2\sigma^2\Delta`: the vanilla SB of Shen, Berlinghieri &
Broderick (AISTATS 2025).

References
----------
- C. Léonard (2014), A survey of the Schrödinger problem and some of its connections with optimal transport,
  *Discrete Contin. Dyn. Syst. A* 34(4), 1533-1574.
- Y. Chen, T. Georgiou, M. Pavon (2016), On the relation between optimal transport and Schrödinger bridges: a
  stochastic control viewpoint, *J. Optim. Theory Appl.* 169, 671-691.
- Y. Shen, R. Berlinghieri, T. Broderick (2025), Multi-marginal Schrödinger bridges with iterative reference
  refinement, *AISTATS*, PMLR 258, 3817-3825.
- C. Van Loan (1978), Computing integrals involving the matrix exponential, *IEEE Trans. Autom. Control* 23(3).
- B. Delyon, Y. Hu (2006), Simulation of conditioned diffusion and application to parameter estimation,
  *Stoch. Proc. Appl.* 116(11), 1660-1675.
- M. Schauer, F. van der Meulen, H. van Zanten (2017), Guided proposals for simulating multi-dimensional diffusion
  bridges, *Bernoulli* 23(4A), 2917-2950.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_positive, make_generator
from dynfer.processes.sde import brownian_bridge
from dynfer.processes.transport import ot_plan

__all__ = ["BridgeFallbackWarning", "BridgeNumericalError", "bridge_paths", "couple", "gaussian_transition",
           "robust_cholesky", "sample_pairs", "transition_cost"]

Drift = Callable[[torch.Tensor], torch.Tensor]
Exact = Literal["linear"] | tuple[torch.Tensor, torch.Tensor] | None
_CHUNK = 2**24  # elements of the (rows, m, d) difference block held at once in transition_cost


class BridgeFallbackWarning(RuntimeWarning):
    """Some guided bridge paths overflowed and were replaced by Brownian bridges between the same end points."""


class BridgeNumericalError(BadInputError, FloatingPointError):
    """A numerical failure of the P-step (diverged moments or paths, a covariance that is not positive definite).

    Both a :class:`~dynfer.BadInputError`, whose message names the option to change, and a
    :class:`FloatingPointError`, which :class:`~dynfer.estimators.bridges.SchrodingerBridge` catches to retry the
    P-step with finer steps before giving up.
    """


# ------------------------------------------------------------------------------------------------ helpers
def _sigma2(sigma: float | torch.Tensor, d: int, ref: torch.Tensor) -> torch.Tensor:
    r"""The diffusion variance :math:`\sigma^2` as a ``(d,)`` vector on ``ref``'s device and dtype."""
    s = as_tensor(sigma, "sigma", ndim=(0, 1), device=ref.device, dtype=ref.dtype)
    if s.ndim == 1 and s.shape[0] != d:
        raise BadInputError(f"sigma must be a number or have length d={d}, got length {s.shape[0]}")
    if bool((s <= 0).any()):
        raise BadInputError("sigma must be positive")
    return torch.broadcast_to(s * s, (d,)).clone()


def _points(x, name: str, ref: torch.Tensor | None = None) -> torch.Tensor:
    if ref is None:
        t = as_tensor(x, name, ndim=(1, 2))
    else:
        t = as_tensor(x, name, ndim=(1, 2), device=ref.device, dtype=ref.dtype)
    t = t[:, None] if t.ndim == 1 else t
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise BadInputError(f"{name} must hold at least one point of dimension >= 1, got shape {tuple(t.shape)}")
    return t


def _eval_drift(drift: Drift, x: torch.Tensor) -> torch.Tensor:
    out = drift(x)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BadInputError(f"drift(x) must return a tensor of the input's shape {tuple(x.shape)}, got {shape}")
    return out.to(x.dtype)


def _drift_and_jacobian(drift: Drift, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`f(x)` ``(n, d)`` and the per-row Jacobians :math:`\partial f_i/\partial x_i` ``(n, d, d)``.

    The drift's closed form where it has one (``drift.drift_jacobian(x)`` not ``None``); otherwise one backward pass
    per output coordinate (``d`` in all) on :math:`\sum_i f(x_i)`, exact when the drift acts on each row
    separately (true of any per-particle drift, not of batch-coupled layers such as batch norm).
    """
    known = getattr(drift, "drift_jacobian", None)
    if callable(known):
        with torch.no_grad():
            jac = known(x.detach())
            if jac is not None:
                return _eval_drift(drift, x.detach()), jac.to(x.dtype)
    d = x.shape[1]
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        fx = _eval_drift(drift, xr)
        rows = []
        for j in range(d):
            (g,) = torch.autograd.grad(fx[:, j].sum(), xr, retain_graph=j < d - 1, allow_unused=True)
            rows.append(torch.zeros_like(xr) if g is None else g)
    return fx.detach(), torch.stack(rows, dim=1).detach()


def _affine_parts(drift: Drift, exact, d: int, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, b)`` of an affine drift :math:`f(x) = Ax + b`: given, or read off as the Jacobian and value at 0."""
    if exact == "linear":
        fx, jac = _drift_and_jacobian(drift, torch.zeros((1, d), dtype=ref.dtype, device=ref.device))
        return jac[0], fx[0]
    if isinstance(exact, tuple) and len(exact) == 2:
        A = as_tensor(exact[0], "exact[0] (A)", ndim=2, device=ref.device, dtype=ref.dtype)
        b = as_tensor(exact[1], "exact[1] (b)", ndim=1, device=ref.device, dtype=ref.dtype)
        if A.shape != (d, d) or b.shape != (d,):
            raise BadInputError(f"exact=(A, b) must have shapes ({d}, {d}) and ({d},), got {tuple(A.shape)}, "
                                f"{tuple(b.shape)}")
        return A, b
    raise BadInputError(f"exact must be None, 'linear' or a tuple (A, b), got {exact!r}")


def _van_loan(A: torch.Tensor, b: torch.Tensor, sigma2: torch.Tensor, dt: torch.Tensor | float):
    r"""Exact affine transition over ``dt``: :math:`\Phi = e^{A\Delta}`, offset :math:`c`, covariance :math:`\Sigma`.

    ``A`` ``(..., d, d)``, ``b`` ``(..., d)``; computed in float64. With :math:`M = \begin{pmatrix} -A & \sigma^2 I
    \\ 0 & A^\top \end{pmatrix}\Delta`, :math:`e^M = \begin{pmatrix} \cdot & F_{12} \\ 0 & F_{22}\end{pmatrix}`,
    :math:`\Phi = F_{22}^\top` and :math:`\Sigma = \Phi F_{12}` (Van Loan 1978); :math:`c = \int_0^\Delta e^{As} ds\,
    b` is the top-right block of :math:`\exp\begin{pmatrix} A & b \\ 0 & 0\end{pmatrix}\Delta`.
    """
    d = A.shape[-1]
    batch = A.shape[:-2]
    a64, b64 = A.double(), b.double()
    dt64 = torch.as_tensor(dt, dtype=torch.float64, device=A.device)
    blk = torch.zeros((*batch, 2 * d, 2 * d), dtype=torch.float64, device=A.device)
    blk[..., :d, :d] = -a64
    blk[..., :d, d:] = torch.diag(sigma2.double())
    blk[..., d:, d:] = a64.transpose(-1, -2)
    e = torch.linalg.matrix_exp(blk * dt64)
    phi = e[..., d:, d:].transpose(-1, -2)
    cov = phi @ e[..., :d, d:]
    cov = 0.5 * (cov + cov.transpose(-1, -2))
    aug = torch.zeros((*batch, d + 1, d + 1), dtype=torch.float64, device=A.device)
    aug[..., :d, :d] = a64
    aug[..., :d, d] = b64
    c = torch.linalg.matrix_exp(aug * dt64)[..., :d, d]
    return phi.to(A.dtype), c.to(A.dtype), cov.to(A.dtype)


def robust_cholesky(cov: torch.Tensor, what: str = "covariance", *, max_tries: int = 6) -> torch.Tensor:
    r"""Cholesky factors of a batch ``(..., d, d)`` of covariances, with diagonal jitter where one fails.

    A matrix whose factorisation fails (rounding, or a moment / transition recursion that lost positive
    definiteness) is retried as :math:`\tfrac12(\Sigma + \Sigma^\top) + \lambda\,\bar s\,I` with
    :math:`\bar s = \operatorname{tr}\Sigma / d` (the mean variance) and :math:`\lambda = 10^{-10}, 10^{-8},
    \dots` (``max_tries`` values); the matrices that factor are left untouched.

    Raises
    ------
    FloatingPointError
        When a matrix holds non-finite entries or still fails with the largest jitter.
    """
    sym = 0.5 * (cov + cov.transpose(-1, -2))
    if not bool(torch.isfinite(sym).all()):
        raise BridgeNumericalError(f"{what} holds non-finite entries (the reference drift is too stiff over the step)")
    chol, info = torch.linalg.cholesky_ex(sym)
    if not bool((info != 0).any()):
        return chol
    d = sym.shape[-1]
    eye = torch.eye(d, dtype=sym.dtype, device=sym.device)
    scale = torch.diagonal(sym, dim1=-2, dim2=-1).abs().mean(-1).clamp_min(torch.finfo(sym.dtype).tiny)
    for i in range(max_tries):
        bad = info != 0
        lam = 10.0 ** (-10 + 2 * i)
        fix, info_fix = torch.linalg.cholesky_ex(sym[bad] + (lam * scale[bad])[..., None, None] * eye)
        chol[bad] = fix
        info = info.clone()
        info[bad] = info_fix
        if not bool((info != 0).any()):
            return chol
    raise BridgeNumericalError(f"{what} is not positive definite even with a diagonal jitter of "
                             f"{10.0 ** (-10 + 2 * (max_tries - 1)):g} of its mean variance")


# ------------------------------------------------------------------------------------------------ step 1
def gaussian_transition(
    drift: Drift | None,
    x: torch.Tensor,
    dt: float,
    sigma: float | torch.Tensor,
    *,
    n_rk4: int = 4,
    exact: Exact = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Gaussian approximation :math:`\mathcal N(m(x), \Sigma(x))` of the reference transition over ``dt``.

    For :math:`dX = f(X)\,dt + \sigma\,dW` started at :math:`x`, the linear-noise (moment) approximation is

    .. math::  \dot m = f(m), \qquad \dot\Sigma = J(m)\,\Sigma + \Sigma\,J(m)^\top + \operatorname{diag}(\sigma^2),
               \qquad m(0) = x,\ \Sigma(0) = 0,

    with :math:`J = \partial f/\partial x` obtained by autograd, integrated over :math:`[0, \Delta]` with ``n_rk4``
    classical Runge-Kutta steps, batched over all starting points (Jazwinski 1970, ch. 7; Särkkä & Solin 2019,
    sec. 9.1). The approximation is exact for affine drifts and degrades as the drift bends over the spread of the
    transition.

    Parameters
    ----------
    drift
        Time-independent drift, a callable ``(n, d) -> (n, d)`` acting on each row separately (e.g. a
        :class:`torch.nn.Module`); ``None`` means :math:`f \equiv 0` (Brownian reference, exact:
        :math:`m = x`, :math:`\Sigma = \sigma^2\Delta I`).
    x
        Starting points ``(n, d)`` (``(n,)`` is read as ``(n, 1)``).
    dt
        Interval length :math:`\Delta > 0`.
    sigma
        Diffusion coefficient, a number or a ``(d,)`` vector.
    n_rk4
        RK4 steps for the moment ODEs (4 Jacobian evaluations each).
    exact
        ``"linear"``: the caller asserts :math:`f(x) = Ax + b`; :math:`A` and :math:`b` are read off as the
        Jacobian and value of ``drift`` at 0 and the transition is computed exactly by Van Loan's block exponential.
        A tuple ``(A, b)`` gives them directly. ``None``: the RK4 moment ODEs.

    Returns
    -------
    mean : torch.Tensor
        ``(n, d)``, on ``x``'s device and dtype.
    cov : torch.Tensor
        ``(n, d, d)`` symmetric covariances (an expanded view of one matrix when it does not depend on ``x``).

    Notes
    -----
    Outputs carry no autograd graph: the P-step treats the reference as fixed.

    Examples
    --------
    >>> import torch
    >>> m, S = gaussian_transition(lambda x: -x, torch.zeros(3, 1), 0.5, 1.0, exact="linear")
    >>> round(float(S[0, 0, 0]), 6)  # (1 - exp(-1)) / 2
    0.31606
    """
    xs = _points(x, "x")
    n, d = xs.shape
    dt = check_positive(dt, "dt")
    s2 = _sigma2(sigma, d, xs)
    if drift is None:
        cov = torch.diag(s2 * dt)
        return xs.detach().clone(), cov.expand(n, d, d)
    if exact is not None:
        A, b = _affine_parts(drift, exact, d, xs)
        phi, c, cov = _van_loan(A, b, s2, dt)
        return xs.detach() @ phi.T + c, cov.expand(n, d, d)
    if isinstance(n_rk4, bool) or not isinstance(n_rk4, int) or n_rk4 < 1:
        raise BadInputError(f"n_rk4 must be a positive int, got {n_rk4!r}")
    h = dt / n_rk4
    q = torch.diag(s2)

    def rhs(m: torch.Tensor, S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fm, jac = _drift_and_jacobian(drift, m)
        JS = jac @ S
        return fm, JS + JS.transpose(-1, -2) + q

    m = xs.detach().clone()
    S = torch.zeros((n, d, d), dtype=xs.dtype, device=xs.device)
    for _ in range(n_rk4):
        k1m, k1S = rhs(m, S)
        k2m, k2S = rhs(m + 0.5 * h * k1m, S + 0.5 * h * k1S)
        k3m, k3S = rhs(m + 0.5 * h * k2m, S + 0.5 * h * k2S)
        k4m, k4S = rhs(m + h * k3m, S + h * k3S)
        m = m + (h / 6) * (k1m + 2 * k2m + 2 * k3m + k4m)
        S = S + (h / 6) * (k1S + 2 * k2S + 2 * k3S + k4S)
    if not bool(torch.isfinite(m).all() and torch.isfinite(S).all()):
        raise BridgeNumericalError("the moment ODEs diverged (non-finite mean or covariance): the drift is too stiff "
                                 f"for {n_rk4} RK4 steps over dt={dt:g}; raise n_rk4")
    return m, 0.5 * (S + S.transpose(-1, -2))


# ------------------------------------------------------------------------------------------------ step 2
def transition_cost(
    drift: Drift | None,
    x: torch.Tensor,
    y: torch.Tensor,
    dt: float,
    sigma: float | torch.Tensor,
    *,
    n_rk4: int = 4,
    exact: Exact = None,
) -> torch.Tensor:
    r"""Cost matrix :math:`C_{ij} = -\log p_\Delta(y_j \mid x_i)` ``(n, m)`` of the Gaussian transition.

    .. math::  C_{ij} = \tfrac12 (y_j - m_i)^\top \Sigma_i^{-1} (y_j - m_i) + \tfrac12 \log\det \Sigma_i,

    with :math:`(m_i, \Sigma_i)` from :func:`gaussian_transition`; the constant :math:`\tfrac d2 \log 2\pi` is
    dropped. The log-determinant depends on :math:`x_i` only, so it does not change a balanced OT plan (it is
    absorbed by the dual potential of :math:`x_i`), but it is kept so that :math:`C` is the negative log-density and
    :math:`\langle \pi, C\rangle` a cross-entropy. For :math:`f \equiv 0`: :math:`C_{ij} = |x_i - y_j|^2 /
    (2\sigma^2\Delta) + \tfrac d2 \log(\sigma^2\Delta)`.

    Parameters
    ----------
    drift, x, dt, sigma, n_rk4, exact
        As in :func:`gaussian_transition`.
    y
        End points ``(m, d)``.

    Returns
    -------
    torch.Tensor
        ``(n, m)`` on ``x``'s device and dtype.

    Raises
    ------
    ValueError
        Malformed inputs, or a covariance that is not positive definite (raise ``n_rk4``).
    """
    xs = _points(x, "x")
    ys = _points(y, "y", xs)
    return _cost(drift, xs, ys, dt, sigma, n_rk4, exact, xs.dtype)


def _cost(drift, xs, ys, dt, sigma, n_rk4, exact, wide: torch.dtype) -> torch.Tensor:
    """The cost matrix; the drift runs in the inputs' dtype, the quadratic form in ``wide``."""
    if xs.shape[1] != ys.shape[1]:
        raise BadInputError(f"x and y must have the same dimension, got {xs.shape[1]} and {ys.shape[1]}")
    mean, cov = gaussian_transition(drift, xs, dt, sigma, n_rk4=n_rk4, exact=exact)
    mean, cov, ys = mean.to(wide), cov.to(wide), ys.to(wide)
    n, d = mean.shape
    shared = drift is None or exact is not None
    chol = robust_cholesky(cov[:1] if shared else cov, "the transition covariance (moment ODE inaccuracy: raise "
                           "n_rk4 or shorten the interval)")
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # (n,) or (1,)
    m = ys.shape[0]
    rows = max(1, _CHUNK // max(1, m * d))
    out = []
    if shared:  # whiten once: C_ij = |L^{-1}(y_j - m_i)|^2 / 2
        L = chol[0]
        wy = torch.linalg.solve_triangular(L, ys.T, upper=False).T
        wm = torch.linalg.solve_triangular(L, mean.T, upper=False).T
        for lo in range(0, n, rows):
            out.append(0.5 * ((wm[lo:lo + rows, None, :] - wy[None, :, :]) ** 2).sum(-1) + 0.5 * logdet)
        return torch.cat(out, 0)
    for lo in range(0, n, rows):
        diff = (ys[None, :, :] - mean[lo:lo + rows, None, :]).transpose(-1, -2)  # (r, d, m)
        z = torch.linalg.solve_triangular(chol[lo:lo + rows], diff, upper=False)
        out.append(0.5 * (z * z).sum(1) + 0.5 * logdet[lo:lo + rows, None])
    return torch.cat(out, 0)


BRIDGE_SCHEDULE = {"scaling": 0.25, "stage_iter": 10, "relaxation": 1.9}  # the couplings' solver schedule


def couple(
    x0: torch.Tensor,
    x1: torch.Tensor,
    dt: float,
    drift: Drift | None,
    sigma: float | torch.Tensor,
    *,
    reg: float = 1.0,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    n_rk4: int = 4,
    exact: Exact = None,
    ot_method: str = "sinkhorn_scaling",
    rtol: float | None = None,
    scaling_options: dict[str, Any] | None = None,
) -> torch.Tensor:
    r"""Static Schrödinger-bridge coupling of two snapshots: entropic OT with the transition cost.

    .. math::  \pi = \arg\min_{P \in \Pi(a, b)} \sum_{ij} P_{ij} C_{ij} + \varepsilon \sum_{ij} P_{ij}
               \log\frac{P_{ij}}{a_i b_j}, \qquad C_{ij} = -\log p_\Delta(x1_j \mid x0_i),

    with uniform :math:`a, b` and :math:`\varepsilon` = ``reg``; :math:`\varepsilon = 1` is the Schrödinger
    problem itself (Léonard 2014), other values temper it. Solved by log-domain Sinkhorn with
    :math:`\varepsilon`-scaling (:func:`dynfer.processes.transport.ot_plan`, ``method="sinkhorn_scaling"``; at low
    noise the cost over :math:`\varepsilon` reaches the thousands, where plain Sinkhorn needs several times more
    iterations) on the inputs' device. The drift runs in the
    inputs' dtype; the cost's quadratic form and the Sinkhorn iterations run in float64 (the cost over
    :math:`\varepsilon` is often in the thousands, beyond float32); the plan comes back in the inputs' dtype.

    Parameters
    ----------
    x0, x1
        Snapshots ``(n0, d)`` at the start and ``(n1, d)`` at the end of the interval.
    dt
        Interval length :math:`\Delta`.
    drift, sigma, n_rk4, exact
        The reference, as in :func:`gaussian_transition` (``drift=None``: Brownian, which gives entropic OT with
        cost :math:`|x - y|^2` and :math:`\varepsilon = 2\sigma^2\Delta`).
    reg
        Entropic temperature :math:`\varepsilon` in units of the cost (default 1).
    max_iter, tol
        Sinkhorn iteration cap and tolerance on the marginal violation (Euclidean norm of the row- and
        column-sum errors; ``1e-6`` is a relative error of about :math:`\sqrt n \cdot 10^{-6}` per particle); an
        :class:`~dynfer.processes.transport.OTConvergenceWarning` is issued when it stops short.
    ot_method
        ``"sinkhorn_scaling"`` (default) or ``"sinkhorn"`` (POT's plain log-domain Sinkhorn).
    rtol
        Relative tolerance on the marginals (:func:`~dynfer.processes.transport.ot_plan`): the solve also stops
        once the marginal error is below ``rtol`` of the marginal mass. ``None`` (default): ``tol`` only. Measured
        on PBMC's first interval (500 x 500, 30-d, sigma 0.31): ``1e-4`` took 4.7 s and landed within 1e-6 total
        variation of a ``tol=1e-10`` solve; ``1e-3`` took 1.5 s at 2.5e-3.
    scaling_options
        Schedule of the :math:`\varepsilon`-scaling solver (``ot_plan``'s ``scaling_options``); ``None``:
        ``BRIDGE_SCHEDULE``, four-fold temperature steps of 10 iterations and an over-relaxed last stage
        (:math:`\omega = 1.9`). Measured on the P-step couplings of a fit (1,000-cell Lotka-Volterra blocks: 88
        iterations instead of 169 with the solver's defaults; PBMC, 500 x 500: 5 to 10 times fewer).

    Returns
    -------
    torch.Tensor
        Plan ``(n0, n1)`` with row sums :math:`1/n_0` and column sums :math:`1/n_1`.
    """
    xs = _points(x0, "x0")
    ys = _points(x1, "x1", xs)
    reg = check_positive(reg, "reg")
    wide = torch.float64 if xs.device.type != "mps" else xs.dtype
    if ot_method not in ("sinkhorn", "sinkhorn_scaling"):
        raise BadInputError(f"ot_method must be 'sinkhorn' or 'sinkhorn_scaling', got {ot_method!r}")
    extra: dict[str, Any] = {} if rtol is None else {"rtol": rtol}
    if ot_method == "sinkhorn_scaling":
        extra["scaling_options"] = BRIDGE_SCHEDULE if scaling_options is None else scaling_options
    # no gradient flows through a coupling: without this the drift's parameters would record every Sinkhorn
    # iterate in an autograd graph held by the plan (measured: 0.17 GB per 500 x 500 block of a 30-d fit)
    with torch.no_grad():
        C = _cost(drift, xs, ys, dt, sigma, n_rk4, exact, wide)
        plan = ot_plan(None, None, method=ot_method, cost=C, reg=reg, max_iter=max_iter, tol=tol, **extra)
    return plan.to(xs.dtype)


def sample_pairs(
    plan: torch.Tensor, n_pairs: int, seed: int | torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw ``n_pairs`` index pairs :math:`(i, j)` i.i.d. with probability :math:`\pi_{ij} / \sum \pi`.

    Two-stage and exact: :math:`i` from the row marginal, then :math:`j` from the row's conditional
    :math:`\pi_{ij} / \sum_{j'} \pi_{ij'}` (so no limit on the plan's size beyond ``torch.multinomial``'s per row).

    Parameters
    ----------
    plan
        Non-negative ``(n0, n1)`` matrix with positive total.
    n_pairs
        Number of pairs.
    seed
        Seed or generator.

    Returns
    -------
    rows, cols : torch.Tensor
        Long tensors ``(n_pairs,)`` on the plan's device.
    """
    p = as_tensor(plan, "plan", ndim=2)
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
        raise BadInputError(f"n_pairs must be a positive int, got {n_pairs!r}")
    if bool((p < 0).any()) or not bool(p.sum() > 0):
        raise BadInputError("plan must be non-negative with a positive total")
    gen = make_generator(seed, p.device)
    rows = torch.multinomial(p.sum(1), n_pairs, replacement=True, generator=gen)
    cols = torch.multinomial(p[rows], 1, generator=gen)[:, 0]
    return rows, cols


# ------------------------------------------------------------------------------------------------ step 3
def _flow(drift: Drift, x: torch.Tensor, tau: float, n_rk4: int) -> torch.Tensor:
    r"""The deterministic flow of :math:`\dot x = f(x)` from ``x`` over ``tau``, by ``n_rk4`` RK4 steps."""
    h = tau / n_rk4
    for _ in range(n_rk4):
        k1 = _eval_drift(drift, x)
        k2 = _eval_drift(drift, x + 0.5 * h * k1)
        k3 = _eval_drift(drift, x + 0.5 * h * k2)
        k4 = _eval_drift(drift, x + h * k3)
        x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def _aux_transitions(B: torch.Tensor, fy: torch.Tensor, y: torch.Tensor, s2: torch.Tensor, h: float,
                     n_steps: int) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    r"""Transitions :math:`(\Phi_\tau, c_\tau, \tilde\Sigma_\tau)` of the auxiliary affine process.

    :math:`d\tilde X = (B\tilde X + f(y) - By)\,dt + \sigma dW` (the drift linearised at the end points), for
    :math:`\tau = h, 2h, \dots, N h`.
    """
    beta = fy - (B @ y[:, :, None])[:, :, 0]
    phi_h, c_h, cov_h = _van_loan(B, beta, s2, h)  # (n, d, d), (n, d), (n, d, d)
    phis, cs, covs = [phi_h], [c_h], [cov_h]
    for _ in range(n_steps - 1):  # tau_{k+1} = tau_k + h: compose the step transition after tau_k
        phis.append(phis[-1] @ phi_h)
        cs.append((phis[-2] @ c_h[:, :, None])[:, :, 0] + cs[-1])
        covs.append(phis[-2] @ cov_h @ phis[-2].transpose(-1, -2) + covs[-1])
    return phis, cs, covs


def bridge_paths(
    x_start: torch.Tensor,
    x_end: torch.Tensor,
    t0: float,
    t1: float,
    n_steps: int,
    drift: Drift | None,
    sigma: float | torch.Tensor,
    *,
    seed: int | torch.Generator | None = None,
    n_flow: int = 4,
    noise: bool = True,
    max_fallback: float = 0.05,
) -> torch.Tensor:
    r"""Paths ``(n_steps + 1, n, d)`` of the reference pinned at ``x_start`` (time ``t0``) and ``x_end`` (``t1``).

    For ``drift=None`` these are exact Brownian bridges (:func:`dynfer.processes.brownian_bridge`). Otherwise
    they are Euler-Maruyama paths of the *guided proposal* (Delyon & Hu 2006; Schauer, van der Meulen & van Zanten
    2017)

    .. math::  dX_t = \Big[f(X_t) + \sigma^2\,\Phi_\tau^\top \tilde\Sigma_\tau^{-1}\big(y - \Phi_\tau X_t - c_\tau
               \big)\Big] dt + \sigma\,dW_t, \qquad \tau = t_1 - t,

    where :math:`\Phi_\tau, c_\tau, \tilde\Sigma_\tau` are the exact transition (mean :math:`\Phi_\tau x + c_\tau`,
    covariance :math:`\tilde\Sigma_\tau`) of the auxiliary affine process :math:`d\tilde X = (B\tilde X + \beta)
    dt + \sigma dW` with :math:`B = J_f(y)`, :math:`\beta = f(y) - J_f(y)\,y`, the drift linearised at each path's
    end point :math:`y`. The guiding term is :math:`\sigma^2 \nabla_x \log \tilde p_\tau(y \mid x)`; for small
    :math:`\tau` it is :math:`(y - X_t - \int_t^{t_1} \tilde f)/(t_1 - t)`, the form of the design note. The last
    point is set exactly to ``x_end``.

    The guided proposal is **exact for affine drifts** (then :math:`\tilde p = p` and the proposal is the bridge,
    up to the Euler-Maruyama error) and **approximate otherwise**: its law is absolutely continuous with respect to
    the true bridge, and exact bridge expectations would need the importance weights of Schauer et al. (2017,
    Thm. 1), which are not computed here.

    Parameters
    ----------
    x_start, x_end
        End points ``(n, d)``; path ``i`` runs from ``x_start[i]`` to ``x_end[i]``.
    t0, t1
        Start and end times, ``t0 < t1``.
    n_steps
        Number of equal time steps (the grid has ``n_steps + 1`` points).
    drift
        Time-independent drift ``(n, d) -> (n, d)``, or ``None`` for the Brownian reference.
    sigma
        Diffusion coefficient, a number or a ``(d,)`` vector.
    seed
        Seed or generator.
    n_flow
        RK4 steps for the deterministic flow :math:`\varphi_\tau(X_t)` in the guiding residual (see Notes);
        ``0`` uses the auxiliary affine mean :math:`\Phi_\tau X_t + c_\tau` instead (the plain Schauer et al.
        proposal, cheaper, poor over long intervals of strongly nonlinear dynamics).
    noise
        ``False`` drops the Brownian increments: the straight line for ``drift=None`` and the noise-free guided path
        otherwise, which is the bridge's conditional mean :math:`E[X_t \mid X_{t_0}, X_{t_1}]` for affine drifts
        (the guided SDE is then affine in :math:`X`, so its mean solves the same equation without noise) and an
        approximation of it for nonlinear ones.
    max_fallback
        Largest fraction of guided paths that may overflow (a pair whose connection the drift cannot follow at
        this step); those are replaced by Brownian bridges between the same end points, with a
        :class:`BridgeFallbackWarning`. More than that raises :class:`BridgeNumericalError`.

    Returns
    -------
    torch.Tensor
        ``(n_steps + 1, n, d)`` with ``paths[0] == x_start`` and ``paths[-1] == x_end``.

    Notes
    -----
    With ``n_flow > 0`` (default) the residual :math:`y - \Phi_\tau X_t - c_\tau` is replaced by
    :math:`y - \varphi_\tau(X_t)`, where :math:`\varphi_\tau` is the flow of :math:`\dot x = f(x)` over the
    remaining time (``n_flow`` RK4 steps at every Euler step): the guide then corrects only the deviation from where
    the reference's own dynamics would go, which keeps the paths on the nonlinear route (for an oscillating
    Lotka-Volterra reference over a third of a period, the linearised residual put bridge midpoints at W2 0.84 from
    the true ones; see the tests). For affine drifts both residuals coincide and the proposal stays exact.
    """
    a = _points(x_start, "x_start")
    b = _points(x_end, "x_end", a)
    if a.shape != b.shape:
        raise BadInputError(f"x_start and x_end must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    t0f, t1f = float(t0), float(t1)
    if not (t1f > t0f):
        raise BadInputError(f"t1 must be greater than t0, got t0={t0!r}, t1={t1!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise BadInputError(f"n_steps must be a positive int, got {n_steps!r}")
    if isinstance(n_flow, bool) or not isinstance(n_flow, int) or n_flow < 0:
        raise BadInputError(f"n_flow must be a non-negative int, got {n_flow!r}")
    if isinstance(max_fallback, bool) or not isinstance(max_fallback, (int, float)) or not 0 <= max_fallback <= 1:
        raise BadInputError("max_fallback", repr(max_fallback), "a fraction in [0, 1]")
    n, d = a.shape
    s2 = _sigma2(sigma, d, a)
    gen = make_generator(seed, a.device)
    if drift is None:
        grid = torch.linspace(t0f, t1f, n_steps + 1, dtype=torch.float64, device=a.device).to(a.dtype)
        if not noise:
            w = ((grid - t0f) / (t1f - t0f))[:, None, None]
            return a[None] + w * (b - a)[None]
        return brownian_bridge(a, b, grid, sigma=s2.sqrt(), seed=gen)
    h = (t1f - t0f) / n_steps
    out = torch.empty((n_steps + 1, n, d), dtype=a.dtype, device=a.device)
    out[0], out[-1] = a, b
    # auxiliary affine process linearised at the end points; its transitions over tau = k h by recursion
    # paths sharing an end point share its linearisation: compute it once per distinct end point (the stitched
    # paths end at the particles of a snapshot, each reached by many paths)
    ends, which = torch.unique(b, dim=0, return_inverse=True)
    fy, B = _drift_and_jacobian(drift, ends)
    phis, cs, covs = _aux_transitions(B, fy, ends, s2, h, n_steps)
    # a Jacobian whose exponential overflows over the interval (a stiff or expanding network drift): those
    # paths are guided by the Brownian auxiliary (B = 0: guide (y - flow) / tau) instead of failing the interval
    finite = torch.stack([torch.isfinite(p_).flatten(1).all(1) & torch.isfinite(c_).flatten(1).all(1)
                          for p_, c_ in zip(phis, covs, strict=True)]).all(0)
    if not bool(finite.all()):
        B = torch.where(finite[:, None, None], B, torch.zeros_like(B))
        phis, cs, covs = _aux_transitions(B, fy, ends, s2, h, n_steps)
    std = (s2 * h).sqrt() if noise else torch.zeros_like(s2)
    x = a.detach()
    with torch.no_grad():
        for k in range(n_steps - 1):
            tau = n_steps - k  # remaining steps: tau * h
            phi = phis[tau - 1][which]
            chol = robust_cholesky(covs[tau - 1], "the guided bridge's auxiliary covariance")[which]
            if n_flow:
                resid = b - _flow(drift, x, tau * h, n_flow)
            else:
                resid = b - (phi @ x[:, :, None])[:, :, 0] - cs[tau - 1][which]
            v = torch.cholesky_solve(resid[:, :, None], chol)
            guide = s2 * (phi.transpose(-1, -2) @ v)[:, :, 0]
            xi = torch.randn(a.shape, generator=gen, dtype=a.dtype, device=a.device)
            x = x + h * (_eval_drift(drift, x) + guide) + std * xi
            out[k + 1] = x
    bad = ~torch.isfinite(out).all(-1).all(0)  # (n,) paths that overflowed somewhere
    n_bad = int(bad.sum())
    if n_bad > max_fallback * n:
        raise BridgeNumericalError(f"{n_bad} of {n} guided bridge paths diverged (Euler step {h:.3g} over "
                                   f"[{t0f:g}, {t1f:g}] with {n_flow} flow steps): the reference drift is too stiff "
                                   "for this step; raise steps_per_unit (or coupling_kwargs n_flow)")
    if n_bad:
        grid = torch.linspace(t0f, t1f, n_steps + 1, dtype=torch.float64, device=a.device).to(a.dtype)
        out[:, bad] = brownian_bridge(a[bad], b[bad], grid, sigma=s2.sqrt(), seed=gen)
        warnings.warn(BridgeFallbackWarning(
            f"{n_bad} of {n} guided bridge paths on [{t0f:g}, {t1f:g}] diverged under the reference drift and were "
            "replaced by Brownian bridges between the same end points"), stacklevel=2)
    return out
