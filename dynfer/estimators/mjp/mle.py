r"""Continuous-time maximum likelihood of a Markov-jump generator from discretely observed paths.

**Model.** A generator :math:`Q` on :math:`n` states with off-diagonal rates :math:`q_{ij} = e^{z_{ij}}` on the
allowed links (all :math:`i \ne j`, or those of a known ``adjacency``; the others are structural zeros, fixed at 0
and not parameters), :math:`q_{ii} = -\sum_{j \ne i} q_{ij}`. No reversibility is imposed. Path :math:`m` is observed
in states :math:`y^m_0, \dots, y^m_{L_m-1}` at its own times, :math:`\Delta t^m_i = t^m_{i+1} - t^m_i`.

**Clean labels** (Kalbfleisch & Lawless 1985, eq. 2.2): the Markov property factorises the likelihood,

.. math::  \log L(z) = \sum_m \log p_0(y^m_0) + \sum_{\Delta} \sum_{i,j} C_{ij}(\Delta)\,
           \log\big[e^{Q\Delta}\big]_{ij},

with :math:`C_{ij}(\Delta)` the number of observed pairs :math:`(i \to j)` at lag :math:`\Delta`: one matrix
exponential per distinct lag (:func:`dynfer.processes.jumps.likelihood.transition_matrices`), however many paths.

**Symmetric label noise.** Each observed label is the hidden state with probability :math:`1-p` and each other
state with probability :math:`p/(n-1)`: emission matrix :math:`E = (1-p)\,I + \tfrac{p}{n-1}(\mathbf 1\mathbf 1^\top
- I)`. The marginal likelihood of the hidden Markov model is computed by the scaled forward algorithm (Rabiner 1989,
eqs. 19-21, 91-93), batched over the padded paths,

.. math::  \alpha_0 = \pi_0 \odot E_{\cdot y_0},\qquad
           \alpha_{i+1} = \big(\hat\alpha_i\, e^{Q \Delta t_i}\big) \odot E_{\cdot y_{i+1}},\qquad
           c_i = \mathbf 1^\top \alpha_i,\ \hat\alpha_i = \alpha_i / c_i,\qquad \log L = \sum_m \sum_i \log c^m_i,

with the per-step transition matrices gathered from the unique-lag exponentials. The hidden initial law is the
frequency :math:`\hat\pi^{\rm obs}` of the first observed states deconvolved through :math:`E`,
:math:`\pi_0 = (\hat\pi^{\rm obs} - \tfrac{p}{n-1}) / (1 - \tfrac{pn}{n-1})` (clipped at 0, renormalised).
``label_noise="fit"`` estimates :math:`p = \tfrac{n-1}{n}\,\sigma(w)` jointly with the rates (labels stay more
likely right than any one wrong label).

**Optimisation.** L-BFGS (Nocedal & Wright 2006, alg. 7.5) with a strong-Wolfe line search on the mean negative
log-likelihood per transition, gradients by autograd, started from :math:`\hat P/\bar\Delta`: the pooled transition
counts over all observed lags (plus a pseudo-count of 0.1) normalised by row, divided by the mean lag.

**Standard errors** from the observed information (Kalbfleisch & Lawless 1985, sec. 3): :math:`H = -\nabla^2 \log L`
in the free parameters :math:`(z, w)`, :math:`\mathrm{sd}(z_{ij}) = \sqrt{(H^{-1})_{kk}}` on the subspace where
:math:`H` is positive definite; links with a component along a (numerically) null direction of :math:`H` are not
identified and get ``inf``. The delta method gives :math:`\mathrm{sd}(q_{ij}) = q_{ij}\,\mathrm{sd}(z_{ij})`, and a
95 % interval is :math:`\exp(\hat z_{ij} \pm 1.96\,\mathrm{sd}(z_{ij}))`.

References
----------
Kalbfleisch, J. D. & Lawless, J. F. (1985). The analysis of panel data under a Markov assumption.
*J. Am. Stat. Assoc.* 80, 863-871.
Rabiner, L. R. (1989). A tutorial on hidden Markov models and selected applications in speech recognition.
*Proc. IEEE* 77, 257-286.
Jackson, C. H. (2011). Multi-state models for panel data: the msm package for R. *J. Stat. Softw.* 38(8).
Nocedal, J. & Wright, S. J. (2006). *Numerical Optimization*, 2nd ed. Springer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._validation import check_int, check_work
from dynfer.estimators._base import Estimator
from dynfer.estimators.mjp._paths import JumpPaths, check_paths
from dynfer.estimators.mjp.summaries import mjp_summary
from dynfer.processes.jumps import RateMatrix
from dynfer.processes.jumps.likelihood import transition_matrices

__all__ = ["ConvergenceWarning", "MJPMaximumLikelihood"]

_PSEUDO_COUNT = 0.1
_TAYLOR_TERMS = 8  # terms beyond the first of the Taylor series of exp(Q delta) in _lag_matrices
_CHUNK = 2**21  # elements (lags x n^2, or paths x steps x n^2) per autograd chunk: bounds the memory of a pass
_NULL_RTOL = 1e-9  # eigenvalues of the information below this fraction of the largest are treated as zero
_MIN_INFO = 1e-3  # information (in expected direct jumps) below which a log-rate counts as not identified
_FAST = 5.0  # rate x shortest lag above which a poorly determined rate is not resolved by the observations
_GRAD_SLACK = 1e3  # without a Newton polish, a gradient below this many tol still counts as converged
_GAIN_TOL = 0.05  # log-likelihood a Newton step could still gain before the fit counts as not converged


class ConvergenceWarning(UserWarning):
    """The likelihood maximisation stopped before reaching a maximum (see ``MJPMaximumLikelihood.message_``)."""


@dataclass
class _Chunk:
    """One piece of the objective: either clean-label counts over some lags, or the noisy paths of some rows."""

    lags: torch.Tensor  # (K,) distinct lags of the piece
    # clean labels: pair counts
    lag_index: torch.Tensor | None = None  # (M,) into lags
    src: torch.Tensor | None = None
    dst: torch.Tensor | None = None
    count: torch.Tensor | None = None
    # label noise: padded paths
    obs: torch.Tensor | None = None  # (B, L) observed labels
    step_lag: torch.Tensor | None = None  # (B, L-1) into lags
    mask: torch.Tensor | None = None  # (B, L) valid observations


def _lag_resolution(paths: JumpPaths) -> float:
    """Lags closer than this come from the rounding of the time stamps: a few units in their last place.

    Time stamps that are all exact float32 numbers (e.g. a float32 regular grid) are resolved to float32
    precision, others to float64 precision.
    """
    t = paths.times[paths.mask]
    top = float(np.abs(t).max()) if t.size else 1.0
    single = bool(np.all(t.astype(np.float32).astype(np.float64) == t))
    return 4.0 * max(top, 1e-300) * (2.0**-24 if single else 2.0**-52)


def _group_lags(dt: np.ndarray, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct lags, up to ``resolution``, and the index of each ``dt`` into them.

    Lags are binned on a grid of step ``resolution`` (the rounding of the time stamps) and each bin is represented
    by the mean of its lags, so a regular grid written in float32 needs one exponential, while float64 times keep
    their distinct lags exactly (to rounding).
    """
    key = np.round(dt / resolution)
    keys, group = np.unique(key, return_inverse=True)
    group = group.reshape(-1)
    reps = np.bincount(group, weights=dt) / np.bincount(group)
    return reps, group


def _lag_bins(q: torch.Tensor, lags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    r"""Bins for :func:`_lag_matrices`; ``None`` when binning would not save exponentials.

    Returns the centres ``(B,)``, the bin of each lag ``(K,)`` and the Taylor coefficients ``(K, p)``
    :math:`\delta^p/p!`.
    """
    n_lags = int(lags.shape[0])
    norm = float(torch.linalg.matrix_norm(q.detach(), 1))
    if n_lags < 64 or not (0.0 < norm < math.inf):
        return None
    step = 0.1 / norm
    bins = torch.round(lags.detach() / step)
    centres, inverse = torch.unique(bins, return_inverse=True)
    if centres.numel() > n_lags // 4:
        return None
    delta = lags - bins * step
    powers = torch.arange(_TAYLOR_TERMS + 1, dtype=q.dtype, device=q.device)
    coef = delta[:, None] ** powers / torch.exp(torch.lgamma(powers + 1))
    return centres * step, inverse, coef


def _q_powers(q: torch.Tensor) -> torch.Tensor:
    r"""``(p, n, n)``: :math:`Q^0, \dots, Q^{p-1}`."""
    terms = [torch.eye(q.shape[0], dtype=q.dtype, device=q.device)]
    for _ in range(_TAYLOR_TERMS):
        terms.append(terms[-1] @ q)
    return torch.stack(terms)


def _lag_matrices(q: torch.Tensor, lags: torch.Tensor) -> torch.Tensor:
    r"""Transition matrices :math:`e^{Q\Delta}` ``(K, n, n)`` for many lags, to rounding, with few exponentials.

    Lags are binned on a grid of step :math:`h = 0.1/\lVert Q\rVert_1` around centres :math:`c`; each bin needs one
    exponential (:func:`~dynfer.processes.jumps.likelihood.transition_matrices`) and each lag
    :math:`\Delta = c + \delta`, :math:`|\delta| \le h/2`, the Taylor series
    :math:`e^{Q\Delta} = e^{Qc} \sum_{p=0}^{8} (Q\delta)^p / p!`, whose remainder is below
    :math:`0.05^9/9! \approx 5 \cdot 10^{-18}` of :math:`\lVert e^{Qc}\rVert`. Irregular grids (a distinct lag per
    pair) then cost a few exponentials instead of one per pair, and autograd (and the Hessian) stay cheap.
    Falls back to one exponential per lag when binning would not save much.
    """
    binned = _lag_bins(q, lags)
    if binned is None:
        return transition_matrices(q, lags)
    centres, inverse, coef = binned
    base = transition_matrices(q, centres)
    return base[inverse] @ torch.einsum("kp,pij->kij", coef, _q_powers(q))


def _pair_probabilities(q: torch.Tensor, lags: torch.Tensor, lag_index: torch.Tensor, src: torch.Tensor,
                        dst: torch.Tensor) -> torch.Tensor:
    r"""``[e^{Q\Delta_k}]_{ij}`` for the pairs ``(lag_index, src, dst)``, as :func:`_lag_matrices` but per entry.

    Only the needed entries :math:`\sum_p \tfrac{\delta^p}{p!} [e^{Qc} Q^p]_{ij}` are formed, so memory and
    autograd cost grow with the number of bins, not of lags.
    """
    binned = _lag_bins(q, lags)
    if binned is None:
        return transition_matrices(q, lags)[lag_index, src, dst]
    centres, inverse, coef = binned
    series = transition_matrices(q, centres)[:, None] @ _q_powers(q)  # (B, p, n, n)
    return (coef[lag_index] * series[inverse[lag_index], :, src, dst]).sum(-1)


def _reachable(allowed: np.ndarray) -> np.ndarray:
    """``R[i, j]``: state ``j`` can be reached from ``i`` along allowed links (boolean transitive closure)."""
    n = allowed.shape[0]
    reach = allowed | np.eye(n, dtype=bool)
    for _ in range(max(1, int(math.ceil(math.log2(max(n, 2)))))):
        reach = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
    return reach


def _emission(p: torch.Tensor, n: int) -> torch.Tensor:
    """Symmetric emission matrix :math:`E = (1-p) I + p/(n-1) (1 - I)`."""
    eye = torch.eye(n, dtype=p.dtype, device=p.device)
    return (1 - p) * eye + p / (n - 1) * (1 - eye)


def _hidden_initial(first_freq: torch.Tensor, p: torch.Tensor, n: int) -> torch.Tensor:
    r"""Hidden initial law from the observed first-state frequencies, :math:`(\hat\pi - d)/c`, clipped at 0."""
    d = p / (n - 1)
    c = 1 - p * n / (n - 1)
    pi = ((first_freq - d) / c).clamp_min(0.0)
    return pi / pi.sum()


class _Objective:
    r"""The negative log-likelihood in the free parameters :math:`\theta = (z, w)`, summed over the data chunks.

    ``zeroed`` marks parameters held at the boundary (a rate :math:`q_{ij} = 0`, or :math:`p = 0`); there the value
    is ``extra`` (0 by default), so that the derivative in ``extra`` is the one-sided derivative at the boundary.
    """

    def __init__(self, chunks: list[_Chunk], free: torch.Tensor, fit_noise: bool, p_known: float | None,
                 pi_obs: torch.Tensor) -> None:
        self.chunks, self.free, self.fit_noise, self.pi_obs = chunks, free, fit_noise, pi_obs
        self.n = int(free.shape[0])
        self.n_free = int(free.sum())
        self.n_par = self.n_free + int(fit_noise)
        self.pmax = (self.n - 1) / self.n
        self.p_known = p_known
        self.noisy = fit_noise or (p_known is not None and p_known > 0)
        self.floor = -math.inf  # log-rates are read as max(z, floor) (set by fit: negligible rates, no crawl)
        self.ceiling = math.inf  # and as min(z, ceiling) (set by fit: rates the observations cannot resolve)
        self.noise_floor = math.log(1e-6)  # likewise the logit of p

    def unpack(self, th: torch.Tensor, zeroed: torch.Tensor,
               extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Generator :math:`Q` and flip probability :math:`p` (``None`` for clean labels) at ``th``."""
        nf = self.n_free
        rates = torch.exp(th[:nf].clamp(self.floor, self.ceiling))
        hold = torch.zeros_like(th) if extra is None else extra
        rates = torch.where(zeroed[:nf], hold[:nf], rates)
        off = torch.zeros(self.free.shape, dtype=th.dtype, device=th.device).masked_scatter(self.free, rates)
        q = off - torch.diag(off.sum(-1))
        if self.fit_noise:
            p = torch.where(zeroed[nf], hold[nf], self.pmax * torch.sigmoid(th[nf].clamp_min(self.noise_floor)))
        elif self.noisy:
            p = torch.as_tensor(self.p_known, dtype=th.dtype, device=th.device)
        else:
            p = None
        return q, p

    def chunk_nll(self, chunk: _Chunk, th: torch.Tensor, zeroed: torch.Tensor,
                  extra: torch.Tensor | None = None) -> torch.Tensor:
        """Negative log-likelihood of one chunk (clean: pair counts; noisy: scaled forward algorithm)."""
        q, p = self.unpack(th, zeroed, extra)
        tiny = torch.finfo(q.dtype).tiny
        if p is None:
            prob = _pair_probabilities(q, chunk.lags, chunk.lag_index, chunk.src, chunk.dst)
            return -(chunk.count * torch.log(prob.clamp_min(tiny))).sum()
        trans = _lag_matrices(q, chunk.lags)
        emit = _emission(p, self.n)
        obs, mask = chunk.obs, chunk.mask
        alpha = _hidden_initial(self.pi_obs, p, self.n) * emit[obs[:, 0]]
        scale = alpha.sum(-1).clamp_min(tiny)
        ll = torch.log(scale)
        alpha = alpha / scale[:, None]
        for t in range(1, obs.shape[1]):
            m = mask[:, t]
            if not bool(m.any()):
                break
            nxt = torch.bmm(alpha[:, None, :], trans[chunk.step_lag[:, t - 1]])[:, 0, :] * emit[obs[:, t]]
            c = nxt.sum(-1).clamp_min(tiny)
            ll = ll + torch.where(m, torch.log(c), 0.0)
            alpha = torch.where(m[:, None], nxt / c[:, None], alpha)
        return -ll.sum()

    def value(self, th: torch.Tensor, zeroed: torch.Tensor) -> float:
        """Total negative log-likelihood (no gradient); ``inf`` where it is not finite."""
        with torch.no_grad():
            v = sum(float(self.chunk_nll(c, th, zeroed)) for c in self.chunks)
        return v if math.isfinite(v) else math.inf

    def value_grad(self, th: torch.Tensor, zeroed: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Total negative log-likelihood and its gradient in ``th`` (one backward pass per chunk)."""
        x = th.detach().requires_grad_(True)
        total, grad = 0.0, torch.zeros_like(x)
        for chunk in self.chunks:
            loss = self.chunk_nll(chunk, x, zeroed)
            (g,) = torch.autograd.grad(loss, x)
            total, grad = total + float(loss.detach()), grad + g
        return total, grad

    def hessian(self, th: torch.Tensor, zeroed: torch.Tensor) -> torch.Tensor:
        """Hessian ``(n_par, n_par)`` of the total negative log-likelihood in ``th``."""
        x = th.detach()
        out = torch.zeros(self.n_par, self.n_par, dtype=x.dtype, device=x.device)
        for chunk in self.chunks:
            out = out + torch.autograd.functional.hessian(lambda t, c=chunk: self.chunk_nll(c, t, zeroed), x)
        return 0.5 * (out + out.T)

    def boundary_grad(self, th: torch.Tensor, zeroed: torch.Tensor) -> torch.Tensor:
        r"""One-sided derivative :math:`\partial(-\log L)/\partial q_{ij}` (or :math:`\partial/\partial p`) at 0."""
        extra = torch.zeros_like(th, requires_grad=True)
        grad = torch.zeros_like(th)
        for chunk in self.chunks:
            (g,) = torch.autograd.grad(self.chunk_nll(chunk, th.detach(), zeroed, extra), extra)
            grad = grad + g
        return grad


@dataclass
class _Fit:
    """Where the optimiser stopped."""

    theta: torch.Tensor
    zeroed: torch.Tensor
    nll: float
    grad: torch.Tensor
    hess: torch.Tensor | None
    n_iter: int
    cap_hit: bool
    stalled: bool


def _lbfgs(obj: _Objective, theta0: torch.Tensor, max_iter: int, tol: float, n_trans: int,
           zeroed: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """L-BFGS with a strong-Wolfe line search on the mean negative log-likelihood per transition.

    Parameters held in ``zeroed`` stay at the boundary (their gradient is zero). Returns the best iterate and the
    number of iterations.
    """
    theta = theta0.detach().clone().requires_grad_(True)
    if zeroed is None:
        zeroed = torch.zeros(obj.n_par, dtype=torch.bool, device=theta.device)
    best: dict[str, Any] = {"loss": math.inf, "theta": theta.detach().clone()}

    def closure() -> torch.Tensor:
        total, grad = obj.value_grad(theta, zeroed)
        total, grad = total / n_trans, grad / n_trans
        if not math.isfinite(total) or not bool(torch.isfinite(grad).all()):
            total, grad = math.inf, torch.zeros_like(grad)  # the line search backs off from it
        elif total < best["loss"]:
            best["loss"], best["theta"] = total, theta.detach().clone()
        theta.grad = grad
        return torch.tensor(total, dtype=theta.dtype)

    opt = torch.optim.LBFGS([theta], lr=1.0, max_iter=max_iter, max_eval=2 * max_iter + 1, tolerance_grad=tol,
                            tolerance_change=1e-15, history_size=20, line_search_fn="strong_wolfe")
    opt.step(closure)
    n_iter = int(opt.state[theta].get("n_iter", 0))
    return best["theta"], max(n_iter, 1)


def _typical(obj: _Objective, th: np.ndarray, z: np.ndarray) -> float:
    """Median log-rate of the links not held at 0."""
    live = th[: obj.n_free][~z[: obj.n_free]]
    return float(np.median(live)) if live.size else 0.0


def _at_floor(obj: _Objective, th: np.ndarray, typical: float) -> np.ndarray:
    """Parameters low enough to be boundary candidates: within 100x of the floor, or 1e4 below the typical rate."""
    low = np.zeros(obj.n_par, dtype=bool)
    zr = th[: obj.n_free]
    low[: obj.n_free] = (zr < obj.floor + math.log(100.0)) | (zr < typical - math.log(1e4))
    if obj.fit_noise:
        low[obj.n_free] = th[obj.n_free] < obj.noise_floor + math.log(100.0)
    return low


def _release(obj: _Objective, theta: torch.Tensor, zeroed: torch.Tensor, n_trans: int,
             mean_lag: float) -> np.ndarray:
    """Held parameters whose one-sided derivative at 0 says the likelihood grows into the interior (KKT)."""
    z = zeroed.cpu().numpy()
    if not z.any():
        return z
    d = obj.boundary_grad(theta, zeroed).cpu().to(torch.float64).numpy()
    scale = np.full(obj.n_par, n_trans * mean_lag)
    if obj.fit_noise:
        scale[obj.n_free] = n_trans
    return z & (d < -1e-6 * scale)


def _released_values(obj: _Objective, th: np.ndarray, back: np.ndarray, typical: float) -> np.ndarray:
    """Restart values of released parameters: 1 % of the typical rate, or p = 0.01."""
    out = th.copy()
    out[np.nonzero(back)[0]] = typical - math.log(100.0)
    if obj.fit_noise and back[obj.n_free]:
        out[obj.n_free] = math.log(0.01 / obj.pmax / (1 - 0.01 / obj.pmax))
    return out


def _settle(obj: _Objective, theta: torch.Tensor, n_lb: int, budget: int, tol: float, n_trans: int,
            mean_lag: float, hessian: bool) -> _Fit:
    """Without a Newton polish: hold the parameters at their floor at 0, release by KKT (re-running L-BFGS once)."""
    zeroed = torch.zeros(obj.n_par, dtype=torch.bool, device=theta.device)
    n_iter = n_lb
    for attempt in range(2):
        th = theta.cpu().to(torch.float64).numpy()
        z = zeroed.cpu().numpy() | _at_floor(obj, th, _typical(obj, th, zeroed.cpu().numpy()))
        zeroed = torch.as_tensor(z, device=theta.device)
        back = _release(obj, theta, zeroed, n_trans, mean_lag)
        if not back.any() or attempt == 1 or n_iter >= budget:
            break
        theta = torch.as_tensor(_released_values(obj, th, back, _typical(obj, th, z)), dtype=theta.dtype,
                                device=theta.device)
        zeroed = torch.as_tensor(z & ~back, device=theta.device)
        theta, more = _lbfgs(obj, theta, budget - n_iter, tol, n_trans, zeroed)
        n_iter += more
    nll, grad = obj.value_grad(theta, zeroed)
    live = ~zeroed
    g_max = float(grad[live].abs().max()) / n_trans if bool(live.any()) else 0.0
    hess = obj.hessian(theta, zeroed) if hessian else None
    return _Fit(theta, zeroed, nll, grad, hess, n_iter, n_iter >= budget and g_max > _GRAD_SLACK * tol, False)


def _newton(obj: _Objective, theta: torch.Tensor, budget: int, tol: float, n_trans: int, mean_lag: float) -> _Fit:
    r"""Active-set modified Newton polish with the exact Hessian and a backtracking (Armijo) line search.

    Parameters whose information is below ``_MIN_INFO``, that lie far below the others and whose gradient still
    pushes them down are held at the boundary (rate 0, or :math:`p = 0`); at the end they are released again
    where the one-sided derivative says the likelihood grows into the interior (the KKT condition). Negative
    curvature directions are stepped along with :math:`|\lambda|`, (numerically) null ones not at all.
    """
    zeroed = torch.zeros(obj.n_par, dtype=torch.bool, device=theta.device)
    theta = theta.detach().clone()
    nll, grad = obj.value_grad(theta, zeroed)
    hess = None
    n_iter, released = 0, 0
    while True:
        hess = obj.hessian(theta, zeroed)
        h = hess.cpu().to(torch.float64).numpy()
        g = grad.cpu().to(torch.float64).numpy()
        th = theta.cpu().to(torch.float64).numpy()
        z = zeroed.cpu().numpy().copy()
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(g)) and math.isfinite(nll)):
            return _Fit(theta, zeroed, nll, grad, hess, n_iter, False, True)
        typical = _typical(obj, th, z)
        new = ~z & _at_floor(obj, th, typical) & (np.diag(h) < _MIN_INFO) & (g > -tol * n_trans)
        if new.any():
            z |= new
            zeroed = torch.as_tensor(z, device=theta.device)
            nll, grad = obj.value_grad(theta, zeroed)
            continue
        while True:  # rates whose Newton step dives below the floor are held at 0 (projected Newton)
            keep = np.nonzero(~z)[0]
            gk, hk = g[keep], h[np.ix_(keep, keep)]
            w, v = np.linalg.eigh(hk) if keep.size else (np.zeros(0), np.zeros((0, 0)))
            thr = _NULL_RTOL * max(float(np.abs(w).max()), 1e-300) if w.size else 0.0
            use = np.abs(w) > thr
            step = -(v[:, use] / np.abs(w[use])) @ (v[:, use].T @ gk)
            dive = (keep < obj.n_free) & (th[keep] + step < obj.floor + math.log(100.0)) & (np.diag(hk) < 1.0)
            if not dive.any():
                break
            z[keep[dive]] = True
        if not np.array_equal(z, zeroed.cpu().numpy()):
            zeroed = torch.as_tensor(z, device=theta.device)
            nll = obj.value(theta, zeroed)
        decrement = float(-gk @ step)
        if (float(np.abs(gk).max()) / n_trans if gk.size else 0.0) <= tol or 0.5 * decrement < 1e-10:
            # interior optimum on the free set: check the held links (KKT), release those that should grow
            if not z.any() or released >= 3:
                return _Fit(theta, zeroed, nll, grad, hess, n_iter, False, False)
            back = _release(obj, theta, zeroed, n_trans, mean_lag)
            if not back.any():
                return _Fit(theta, zeroed, nll, grad, hess, n_iter, False, False)
            th_new = _released_values(obj, th, back, typical)
            z &= ~back
            released += 1
            theta = torch.as_tensor(th_new, dtype=theta.dtype, device=theta.device)
            zeroed = torch.as_tensor(z, device=theta.device)
            nll, grad = obj.value_grad(theta, zeroed)
            continue
        if n_iter >= budget:
            return _Fit(theta, zeroed, nll, grad, hess, n_iter, True, False)
        biggest = float(np.abs(step).max())
        if biggest > 5.0:
            step = step * (5.0 / biggest)
        slope = float(gk @ step)
        alpha, accepted = 1.0, False
        for _ in range(40):
            trial = th.copy()
            trial[keep] = th[keep] + alpha * step
            t_tensor = torch.as_tensor(trial, dtype=theta.dtype, device=theta.device)
            f_new = obj.value(t_tensor, zeroed)
            if f_new <= nll + 1e-4 * alpha * slope:
                accepted = True
                break
            alpha *= 0.5
        if accepted and alpha == 1.0 and (bool((w[use] < 0).any()) or biggest > 5.0):
            # along negative curvature (or a clipped step) the quadratic model is no guide: extrapolate
            for _ in range(6):
                trial = th.copy()
                trial[keep] = th[keep] + 2 * alpha * step
                wider = torch.as_tensor(trial, dtype=theta.dtype, device=theta.device)
                f_wide = obj.value(wider, zeroed)
                if not f_wide < f_new:
                    break
                alpha, t_tensor, f_new = 2 * alpha, wider, f_wide
        n_iter += 1
        if not accepted:
            return _Fit(theta, zeroed, nll, grad, hess, n_iter, False, True)
        theta = t_tensor
        nll, grad = obj.value_grad(theta, zeroed)


class MJPMaximumLikelihood(Estimator):
    r"""Maximum-likelihood generator of a Markov jump process from discretely observed paths (non-reversible).

    Paths may have their own irregular times and lengths; known structural zeros and symmetric label noise
    (known or fitted) are supported; standard errors come from the observed information. See the module docstring
    for the likelihood, the optimiser and the standard errors.

    Parameters
    ----------
    n_states
        Number of states; ``None``: the largest label + 1 (every label ``0..n-1`` must then be observed).
    label_noise
        ``0.0`` (clean labels, exact pair likelihood), a known symmetric flip probability :math:`p` in
        :math:`[0, (n-1)/n)`, or ``"fit"`` (estimated jointly).
    adjacency
        ``(n, n)`` boolean array of the allowed links (``adjacency[i, j]``: :math:`i \to j` may have a positive
        rate; the diagonal is ignored), or ``None`` (every link). Forbidden links are fixed at 0.
    max_iter
        Most L-BFGS iterations.
    tol
        Gradient tolerance: L-BFGS stops when every component of the gradient of the mean negative log-likelihood
        per transition is below ``tol``.
    standard_errors
        Compute the observed information (Hessian), the standard errors and the Hessian checks.
    dtype
        Floating dtype of the computation (``None``: ``settings.dtype``); float64 is strongly advised.
    device
        Device (``None``: ``settings.device``); never stored.

    Attributes
    ----------
    n_states_ : int
        Number of states.
    rate_matrix_ : numpy.ndarray
        ``(n, n)`` fitted generator, rows = from, diagonal = minus the row sum.
    log_rate_std_ : numpy.ndarray
        ``(n, n)`` standard deviation of :math:`\log \hat q_{ij}`; 0 on the diagonal and on forbidden links, ``inf``
        where not identified (or without ``standard_errors``).
    rate_std_ : numpy.ndarray
        ``(n, n)`` :math:`\hat q_{ij}\,\mathrm{sd}(\log \hat q_{ij})` (delta method); ``inf`` where not identified.
    initial_distribution_ : numpy.ndarray
        ``(n,)`` frequency of the first states (deconvolved through the label noise when there is any).
    time_scale_ : float
        The time unit of the rates: 1.0 (the unit of the data).
    log_likelihood_ : float
        Log-likelihood at the fit, including the initial term :math:`\sum_m \log \pi_0(y^m_0)` (clean labels) or
        the full forward likelihood (label noise).
    converged_ : bool
        Whether a maximum was reached (see :attr:`message_` when not).
    n_iter_ : int
        L-BFGS iterations run.
    grad_norm_ : float
        Largest absolute component of the gradient of the mean negative log-likelihood per transition at the end.
    label_noise_ : float
        The flip probability used (fitted with ``"fit"``).
    label_noise_std_ : float
        Its standard error (``"fit"`` only; 0 when known, ``inf`` when not identified).
    message_ : str
        A plain account of the convergence and identifiability checks, with what to try when they fail.

    Examples
    --------
    >>> import numpy as np
    >>> from dynfer.estimators.mjp import MJPMaximumLikelihood
    >>> states = np.array([[0, 0, 1, 1, 0, 1, 1, 1], [1, 0, 0, 0, 1, 1, 0, 0]])
    >>> est = MJPMaximumLikelihood().fit(states, np.arange(8.0))
    >>> est.rate_matrix_.shape
    (2, 2)
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "n_states_", "rate_matrix_", "rate_std_", "log_rate_std_", "initial_distribution_", "time_scale_",
        "log_likelihood_", "converged_", "n_iter_", "grad_norm_", "label_noise_", "label_noise_std_", "message_",
        "dtype_",
    )
    face: ClassVar[str] = "dynfer.tl.mjp"

    def __init__(
        self,
        n_states: int | None = None,
        label_noise: float | str = 0.0,
        adjacency: Any = None,
        max_iter: int = 500,
        tol: float = 1e-8,
        standard_errors: bool = True,
        dtype: torch.dtype | str | None = torch.float64,
        device: str | torch.device | None = None,
    ) -> None:
        self.n_states = n_states
        self.label_noise = label_noise
        self.adjacency = adjacency
        self.max_iter = max_iter
        self.tol = tol
        self.standard_errors = standard_errors
        self.dtype = dtype
        self.device = device

    # ------------------------------------------------------------------ validation
    def _validated(self) -> dict[str, Any]:
        """Checked parameters that do not depend on the data."""
        name = "MJPMaximumLikelihood"
        if self.n_states is not None:
            check_int(self.n_states, f"{name}: n_states", 2)
        noise = self.label_noise
        if isinstance(noise, str):
            if noise != "fit":
                raise BadInputError(f"{name}: label_noise", repr(noise), "a flip probability in [0, 1) or 'fit'")
            p = None
        else:
            if isinstance(noise, (bool, np.bool_)):
                raise BadInputError(f"{name}: label_noise", repr(noise), "a flip probability in [0, 1) or 'fit'")
            try:
                p = float(noise)
            except (TypeError, ValueError):
                raise BadInputError(f"{name}: label_noise", repr(noise),
                                    "a flip probability in [0, 1) or 'fit'") from None
            if not 0.0 <= p < 1.0:
                raise BadInputError(f"{name}: label_noise", repr(noise), "a flip probability in [0, 1) or 'fit'")
        max_iter = check_int(self.max_iter, f"{name}: max_iter", 1)
        try:
            tol = float(self.tol)
        except (TypeError, ValueError):
            raise BadInputError(f"{name}: tol", repr(self.tol), "a positive number") from None
        if isinstance(self.tol, (bool, np.bool_)) or not (math.isfinite(tol) and tol > 0):
            raise BadInputError(f"{name}: tol", repr(self.tol), "a finite number > 0")
        if not isinstance(self.standard_errors, (bool, np.bool_)):
            raise BadInputError(f"{name}: standard_errors", repr(self.standard_errors), "True or False")
        return {"p": p, "max_iter": max_iter, "tol": tol, "standard_errors": bool(self.standard_errors)}

    def _allowed(self, n: int) -> np.ndarray:
        """``(n, n)`` bool of the free links: off-diagonal and allowed by ``adjacency``."""
        off = ~np.eye(n, dtype=bool)
        if self.adjacency is None:
            return off
        where = "MJPMaximumLikelihood: adjacency"
        adj = self.adjacency
        if hasattr(adj, "detach") and hasattr(adj, "cpu"):
            adj = adj.detach().cpu().numpy()
        try:
            arr = np.asarray(adj)
        except (TypeError, ValueError):
            raise BadInputError(where, f"a {type(adj).__name__}", f"an ({n}, {n}) boolean array") from None
        if arr.shape != (n, n):
            raise BadInputError(where, f"shape {arr.shape}", f"({n}, {n}) for the {n} states of the data")
        if arr.dtype.kind not in "biuf":
            raise BadInputError(where, f"dtype {arr.dtype}", f"an ({n}, {n}) boolean array")
        if arr.dtype.kind != "b":
            vals = arr.astype(np.float64)
            if not np.all(np.isin(vals, (0.0, 1.0))):
                raise BadInputError(where, "values other than 0/1 or True/False", "a boolean array of allowed links")
            arr = vals != 0
        free = arr & off
        if not free.any():
            raise BadInputError(where, "no allowed link", "at least one allowed link i -> j, i != j")
        return free

    # ------------------------------------------------------------------ data
    def _chunks(self, paths: JumpPaths, noisy: bool, free: np.ndarray, where: str, dev: torch.device,
                dtype: torch.dtype) -> tuple[list[_Chunk], int, np.ndarray]:
        """The objective's pieces, the number of transitions and the pooled positive-lag counts (for the start)."""
        n = paths.n_states
        src, dst, dt, _ = paths.transitions()
        pos = dt > 0
        if not pos.any():
            raise BadInputError(f"{where}: times", "no time elapsing between any two observations of a path",
                                "at least one pair of consecutive observations at different times")
        pooled = np.zeros((n, n))
        np.add.at(pooled, (src[pos], dst[pos]), 1.0)
        if not noisy:
            jump0 = ~pos & (src != dst)
            if jump0.any():
                k = int(np.argmax(jump0))
                raise BadInputError(f"{where}: times", f"a jump {src[k]} -> {dst[k]} between two observations at "
                                    "the same time", "distinct times for different states",
                                    hint="without label noise this is impossible; pass label_noise= if the labels "
                                         "can be wrong")
            reach = _reachable(free)
            cannot = pos & ~reach[src, dst]
            if cannot.any():
                k = int(np.argmax(cannot))
                raise BadInputError("MJPMaximumLikelihood: adjacency", f"no allowed route from state {src[k]} to "
                                    f"{dst[k]}, yet the data go from {src[k]} to {dst[k]}",
                                    "allowed links that connect every observed jump",
                                    hint="allow the missing link(s), or pass label_noise= if labels can be wrong")
            lags, gidx = _group_lags(dt[pos], _lag_resolution(paths))
            combo = (gidx * n + src[pos]) * n + dst[pos]
            keys, cnt = np.unique(combo, return_counts=True)
            k_of, rest = np.divmod(keys, n * n)
            i_of, j_of = np.divmod(rest, n)
            per = max(1, _CHUNK // (n * n))
            chunks = []
            for a in range(0, len(lags), per):
                sel = (k_of >= a) & (k_of < a + per)
                chunks.append(_Chunk(
                    lags=torch.as_tensor(lags[a:a + per], dtype=dtype, device=dev),
                    lag_index=torch.as_tensor(k_of[sel] - a, device=dev),
                    src=torch.as_tensor(i_of[sel], device=dev), dst=torch.as_tensor(j_of[sel], device=dev),
                    count=torch.as_tensor(cnt[sel], dtype=dtype, device=dev)))
            return chunks, int(pos.sum()), pooled
        width = paths.states.shape[1]
        steps = np.diff(paths.times, axis=1)
        per = max(1, 4 * _CHUNK // (max(width, 1) * n * n))
        chunks = []
        for a in range(0, paths.n_paths, per):
            st = np.clip(steps[a:a + per], 0.0, None)
            lags, gidx = _group_lags(st.reshape(-1), _lag_resolution(paths))
            chunks.append(_Chunk(
                lags=torch.as_tensor(lags, dtype=dtype, device=dev),
                obs=torch.as_tensor(paths.states[a:a + per], device=dev),
                step_lag=torch.as_tensor(gidx.reshape(st.shape), device=dev),
                mask=torch.as_tensor(paths.mask[a:a + per], device=dev)))
        return chunks, paths.n_transitions, pooled

    # ------------------------------------------------------------------ fit
    def fit(self, states: Any, times: Any, lengths: Any = None) -> MJPMaximumLikelihood:
        r"""Fit the generator to paths observed in ``states`` at ``times``.

        L-BFGS (at most ``min(max_iter, 100)`` iterations when ``standard_errors``, else ``max_iter``) is followed
        by an active-set Newton polish with the exact Hessian in the remaining iterations: rates the data drive to
        0 are held at the boundary (exactly 0, log-rate std ``inf``) and released where the one-sided derivative
        says the likelihood grows into the interior.

        Parameters
        ----------
        states
            Integer labels ``(n_paths, L)``, one path ``(L,)`` or a list of 1-D arrays (see
            :func:`~dynfer.estimators.mjp.check_paths`).
        times
            Observation times of the same shape, or shared ``(L,)``; non-decreasing along each path.
        lengths
            Valid observations per path ``(n_paths,)`` (entries past them are ignored).

        Returns
        -------
        MJPMaximumLikelihood
            ``self``, fitted. A :class:`ConvergenceWarning` is raised (and ``converged_`` is False) when the
            maximum was not reached.
        """
        where = "MJPMaximumLikelihood.fit"
        opts = self._validated()
        dev = self._resolve_device()
        dtype = self._resolve_dtype()
        paths = check_paths(states, times, lengths, n_states=self.n_states, where=where)
        n = paths.n_states
        free_np = self._allowed(n)
        p_known = opts["p"]
        fit_noise = p_known is None
        if p_known is not None and p_known >= (n - 1) / n:
            raise BadInputError("MJPMaximumLikelihood: label_noise", repr(self.label_noise),
                                f"a flip probability below (n-1)/n = {(n - 1) / n:.3g} for {n} states (at or above "
                                "it a wrong label is as likely as the right one)")
        noisy = fit_noise or p_known > 0
        n_par = int(free_np.sum()) + int(fit_noise)
        width = paths.states.shape[1]
        evals = min(opts["max_iter"], 100) + (4 * n_par if opts["standard_errors"] else 0)
        found = f"{n} states, {paths.n_paths} paths x {width} observations"
        change = "use fewer states or fewer paths, or standard_errors=False"
        noisy_work = paths.n_paths * width * n * n if noisy else 0
        check_work(float(10 * n**3 + noisy_work + n_par) * evals, where, found, change=change)
        chunks, n_trans, pooled = self._chunks(paths, noisy, free_np, where, dev, dtype)
        n_lags = sum(len(c.lags) for c in chunks)
        check_work(float(10 * n**3 * n_lags + noisy_work) * evals, where, f"{found} at {n_lags} distinct lags",
                   change=change)
        first_freq = np.bincount(paths.first_states(), minlength=n).astype(np.float64) / paths.n_paths
        obj = _Objective(chunks, torch.as_tensor(free_np, device=dev), fit_noise, p_known,
                         torch.as_tensor(first_freq, dtype=dtype, device=dev))
        # start: pooled transition counts over the observed lags, row-normalised, divided by the mean lag
        _, _, dt_all, _ = paths.transitions()
        mean_lag = float(dt_all[dt_all > 0].mean())
        p_hat = (pooled + _PSEUDO_COUNT) / (pooled + _PSEUDO_COUNT).sum(1, keepdims=True)
        theta0 = np.log(p_hat[free_np] / mean_lag)
        if fit_noise:
            theta0 = np.concatenate([theta0, [math.log(0.02 / obj.pmax / (1 - 0.02 / obj.pmax))]])
        theta0_t = torch.as_tensor(theta0, dtype=dtype, device=dev)
        # rates below 1e-4 / (observed time) would give 1e-4 direct jumps in all the data: read as that floor
        obj.floor = math.log(1e-4 / max(float(dt_all[dt_all > 0].sum()), 1e-300))
        # rates above 1e6 / (shortest lag) mix completely within every lag: read as that ceiling (no overflow)
        obj.ceiling = math.log(1e6 / float(dt_all[dt_all > 0].min()))
        budget = opts["max_iter"]
        polish = opts["standard_errors"] and not noisy  # exact Hessians are cheap for pair counts only
        theta, n_lb = _lbfgs(obj, theta0_t, min(budget, 100) if polish else budget, opts["tol"], n_trans)
        if polish:
            res = _newton(obj, theta, budget - n_lb, opts["tol"], n_trans, mean_lag)
            res.n_iter += n_lb
        else:
            res = _settle(obj, theta, n_lb, budget, opts["tol"], n_trans, mean_lag, opts["standard_errors"])
        self._finish(paths, obj, res, opts, n_trans, first_freq)
        return self

    def _finish(self, paths: JumpPaths, obj: _Objective, res: _Fit, opts: Mapping[str, Any], n_trans: int,
                first_freq: np.ndarray) -> None:
        """Standard errors, convergence checks and the fitted attributes."""
        n, n_free, free = obj.n, obj.n_free, obj.free.cpu().numpy()
        th = res.theta.cpu().to(torch.float64).numpy()
        z = res.zeroed.cpu().numpy()
        g = res.grad.cpu().to(torch.float64).numpy()
        live = ~z
        grad_norm = float(np.abs(g[live]).max()) / n_trans if live.any() else 0.0
        rates = np.zeros((n, n))
        rates[free] = np.where(z[:n_free], 0.0, np.exp(th[:n_free]))
        q = rates - np.diag(rates.sum(1))
        links = [f"{i}->{j}" for i, j in zip(*np.nonzero(free), strict=True)] + (["label_noise"] if obj.fit_noise
                                                                                   else [])
        problems: list[str] = []
        notes: list[str] = []
        if res.cap_hit:
            problems.append(f"the iteration cap was hit (max_iter={opts['max_iter']}) before the optimum was reached")
        std = np.full(len(th), np.inf)
        gain = None
        if res.hess is not None:
            h = res.hess.cpu().to(torch.float64).numpy()
            keep = np.nonzero(live)[0]
            if np.all(np.isfinite(h)):
                hk = h[np.ix_(keep, keep)]
                w, v = np.linalg.eigh(hk) if keep.size else (np.zeros(0), np.zeros((0, 0)))
                thr = _NULL_RTOL * max(float(np.abs(w).max()), 1e-300) if w.size else 0.0
                pos, neg = w > thr, w < -thr
                cov = (v[:, pos] / w[pos]) @ v[:, pos].T
                ident = (v[:, ~pos] ** 2).sum(1) < 1e-6
                std[keep] = np.where(ident, np.sqrt(np.clip(np.diag(cov), 0.0, None)), np.inf)
                gain = 0.5 * float(g[keep] @ cov @ g[keep])
                if neg.any():
                    vec = v[:, np.argmin(w)]
                    top = [links[keep[k]] for k in np.argsort(-np.abs(vec))[:3] if abs(vec[k]) > 0.1]
                    problems.append(f"the Hessian of the negative log-likelihood is not positive definite "
                                    f"({int(neg.sum())} negative eigenvalue(s), smallest {w.min():.3g}, along "
                                    f"{', '.join(top)}): this is a saddle point or a ridge, not a maximum")
                loose = [links[keep[k]] for k in np.nonzero(~ident)[0]]
                if loose:
                    notes.append(f"{len(loose)} parameter(s) not identified by the data (singular information; "
                                 f"std inf): {', '.join(loose[:8])}{' ...' if len(loose) > 8 else ''}, typically "
                                 "rates into or out of a state that is (almost) never observed")
            else:
                problems.append("the Hessian of the negative log-likelihood is not finite at the end")
        _, _, dts, _ = paths.transitions()
        shortest = float(dts[dts > 0].min())
        fast = [links[k] for k in range(n_free)
                if not z[k] and math.exp(th[k]) * shortest > _FAST and not std[k] < 1.0]
        if fast:
            notes.append(f"{len(fast)} rate(s) faster than the observations resolve (rate x shortest lag "
                         f"{shortest:.3g} > {_FAST:g} and log-rate std > 1: the likelihood is flat towards "
                         f"infinity there, so the value is arbitrary): {', '.join(fast[:8])}"
                         f"{' ...' if len(fast) > 8 else ''}; observe more densely")
        zero = [links[k] for k in np.nonzero(z)[0]]
        if zero:
            notes.append(f"{len(zero)} parameter(s) at the boundary 0 (the likelihood is largest there; log-rate "
                         f"std inf): {', '.join(zero[:8])}{' ...' if len(zero) > 8 else ''}")
        large = gain > _GAIN_TOL if gain is not None else grad_norm > _GRAD_SLACK * opts["tol"]
        if large:
            extra = f" (a Newton step would still gain about {gain:.3g} in log-likelihood)" if gain is not None else ""
            stall = "; the line search could not improve it further" if res.stalled else ""
            problems.append(f"the gradient at the end is large: {grad_norm:.3g} per transition{extra}{stall}")
        if not math.isfinite(res.nll):
            problems.append("the log-likelihood is not finite at the end")
        converged = not problems
        if converged:
            message = (f"converged in {res.n_iter} iteration(s): gradient {grad_norm:.2g} per transition"
                       + ("" if res.hess is None else ", information positive definite on the identified links"))
        else:
            message = ("Optimisation has not reached a maximum of the likelihood: " + "; ".join(problems) + ". "
                       "What this means: the rates are the last iterate, not the maximum-likelihood estimate, and "
                       "their standard errors are not valid. What to try: raise max_iter (now "
                       f"{opts['max_iter']}); declare links known to be absent as structural zeros with adjacency=; "
                       "merge or drop rarely visited states (fewer states); or give more paths or denser times")
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        if notes:
            message += ". Note: " + "; ".join(notes)
        log_std = np.zeros((n, n))
        log_std[free] = std[:n_free]
        rate_std = np.where(np.isinf(log_std), np.inf, rates * np.where(np.isinf(log_std), 0.0, log_std))
        if obj.fit_noise:
            if z[n_free]:
                p, p_std = 0.0, math.inf
            else:
                sig = 1.0 / (1.0 + math.exp(-th[n_free]))
                p = obj.pmax * sig
                p_std = float(obj.pmax * sig * (1 - sig) * std[n_free])
        else:
            p, p_std = float(obj.p_known), 0.0
        if p > 0:
            d, c = p / (n - 1), 1 - p * n / (n - 1)
            init = np.clip((first_freq - d) / c, 0.0, None)
            init = init / init.sum()
        else:
            init = first_freq
        ll = -res.nll
        if not obj.noisy:  # clean labels: add the initial term (the forward likelihood already holds it)
            ll += float(np.sum(np.log(first_freq[paths.first_states()])))
        self.n_states_ = int(n)
        self.rate_matrix_ = q
        self.log_rate_std_ = log_std
        self.rate_std_ = rate_std
        self.initial_distribution_ = init
        self.time_scale_ = 1.0
        self.log_likelihood_ = float(ll)
        self.converged_ = bool(converged)
        self.n_iter_ = int(res.n_iter)
        self.grad_norm_ = float(grad_norm)
        self.label_noise_ = float(p)
        self.label_noise_std_ = float(p_std)
        self.message_ = message

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        return {
            "n_states": int(self.n_states_),
            "rate_matrix": np.asarray(self.rate_matrix_, dtype=np.float64),
            "rate_std": np.asarray(self.rate_std_, dtype=np.float64),
            "log_rate_std": np.asarray(self.log_rate_std_, dtype=np.float64),
            "initial_distribution": np.asarray(self.initial_distribution_, dtype=np.float64),
            "time_scale": float(self.time_scale_),
            "log_likelihood": float(self.log_likelihood_),
            "converged": bool(self.converged_),
            "n_iter": int(self.n_iter_),
            "grad_norm": float(self.grad_norm_),
            "label_noise": float(self.label_noise_),
            "label_noise_std": float(self.label_noise_std_),
            "message": str(self.message_),
            "dtype": str(self.dtype_).removeprefix("torch."),
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        def arr(key: str) -> np.ndarray:
            v = state[key]
            v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
            return v.astype(np.float64)

        n = int(state["n_states"])
        self.rate_matrix_ = arr("rate_matrix")
        if self.rate_matrix_.shape != (n, n):
            raise BadInputError(f"the stored rate_matrix has shape {self.rate_matrix_.shape}, not ({n}, {n})")
        RateMatrix(self.rate_matrix_)  # refuses a damaged generator
        self.n_states_ = n
        self.rate_std_ = arr("rate_std")
        self.log_rate_std_ = arr("log_rate_std")
        self.initial_distribution_ = arr("initial_distribution")
        self.time_scale_ = float(state["time_scale"])
        self.log_likelihood_ = float(state["log_likelihood"])
        self.converged_ = bool(state["converged"])
        self.n_iter_ = int(state["n_iter"])
        self.grad_norm_ = float(state["grad_norm"])
        self.label_noise_ = float(state["label_noise"])
        self.label_noise_std_ = float(state["label_noise_std"])
        self.message_ = str(state["message"])
        self.dtype_ = getattr(torch, str(state["dtype"]))

    # ------------------------------------------------------------------ use
    def rate_model(self) -> RateMatrix:
        """The fitted generator as a :class:`~dynfer.processes.jumps.RateMatrix` (float64)."""
        self._check_fitted("rate_model")
        return RateMatrix(np.asarray(self.rate_matrix_, dtype=np.float64))

    def results(self) -> dict[str, Any]:
        """The fit as plain data (h5ad-safe): :func:`~dynfer.estimators.mjp.mjp_summary` and the MLE extras.

        Returns
        -------
        dict
            ``rate_matrix``, ``initial_distribution``, ``stationary_distribution``, ``timescales``,
            ``relaxation_time``, ``mfpt``, ``entropy_production``, ``rate_std``, ``log_rate_std``, ``method``
            (``"mle"``), ``log_likelihood``, ``converged``, ``n_iter``, ``grad_norm``, ``label_noise``,
            ``label_noise_std``, ``message`` and ``time_scale``.
        """
        self._check_fitted("results")
        out = mjp_summary(self.rate_matrix_, self.initial_distribution_)
        extras = {k: v for k, v in self._get_state().items() if k not in out and k not in ("n_states", "dtype")}
        out.update(extras, method="mle")
        return out
