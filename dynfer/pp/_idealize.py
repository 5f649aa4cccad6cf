r"""Idealisation of single-channel currents: noisy current samples to discrete conductance states.

Two stages, as in the classical patch-clamp analysis pipeline (Colquhoun & Hawkes 1995; Qin et al. 2000):

1. **Level detection.** A one-dimensional Gaussian mixture fitted to the pooled current samples,

   .. math:: p(x) = \sum_{k=0}^{K-1} w_k\, \mathcal N(x;\, \mu_k, \sigma_k^2),

   by expectation–maximisation (scikit-learn ``GaussianMixture``, seeded). The components are ordered by mean
   current, so state 0 is the lowest level.
2. **Hidden-Markov smoothing.** The states form a discrete-time Markov chain on the sampling grid with transition
   matrix :math:`A_{ij} = \Pr(s_{t+1} = j \mid s_t = i)` and Gaussian emissions
   :math:`b_j(x_t) = \mathcal N(x_t; \mu_j, \sigma_j^2)` from the fitted levels. :math:`A` is estimated by a few
   Baum–Welch iterations (forward–backward, Rabiner 1989) and the most probable state path is decoded by Viterbi.

All recursions are run as *blocked scans*: the series is cut into :math:`B \approx \sqrt T` blocks of length
:math:`L \approx \sqrt T`; block transfer matrices are built for all blocks at once (a loop of :math:`L` numpy steps
vectorised over blocks), the messages at block boundaries follow in :math:`B` cheap steps, and a second loop of
:math:`L` steps fills in every sample. The result is exactly the sequential recursion (up to rounding) at
:math:`O(\sqrt T)` Python iterations, so :math:`10^6` samples take a few seconds. Several trajectories are handled in
one series: a trajectory start resets the forward message to the initial law and the backward message to one.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._validation import check_memory, check_work, resolve_seed

__all__ = ["dwell_times", "idealize", "idealize_trace"]

_LOG_FLOOR = -600.0  # emissions below exp(-600) of the best state at a sample count as exp(-600): no exact zeros
_METHODS = ("gmm_hmm", "gmm")


# ---------------------------------------------------------------------------------------------------- level detection
def _fit_levels(
    x: np.ndarray, n_states: int, *, seed: int, max_fit_samples: int, shared_noise: bool
) -> dict[str, np.ndarray]:
    """Fit the 1-D Gaussian mixture and return weights, means and standard deviations ordered by mean."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    sample = x if len(x) <= max_fit_samples else rng.choice(x, size=max_fit_samples, replace=False)
    gmm = GaussianMixture(n_states, covariance_type="tied" if shared_noise else "full", random_state=seed, n_init=2,
                          max_iter=500, tol=1e-5, reg_covar=1e-9 * max(float(np.var(sample)), 1e-300))
    gmm.fit(sample[:, None])
    order = np.argsort(gmm.means_[:, 0])
    var = np.full(n_states, float(gmm.covariances_.ravel()[0])) if shared_noise else gmm.covariances_[order, 0, 0]
    return {
        "weights": gmm.weights_[order].astype(np.float64),
        "means": gmm.means_[order, 0].astype(np.float64),
        "sds": np.sqrt(var).astype(np.float64),
    }


def _log_emissions(x: np.ndarray, means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    r"""``(T, K)`` Gaussian log densities :math:`\log \mathcal N(x_t; \mu_k, \sigma_k^2)`."""
    z = (x[:, None] - means[None, :]) / sds[None, :]
    return -0.5 * z * z - np.log(sds)[None, :] - 0.5 * np.log(2 * np.pi)


# ---------------------------------------------------------------------------------------------------- blocked scans
def _layout(T: int) -> tuple[int, int]:
    L = max(1, int(np.ceil(np.sqrt(T))))
    return -(-T // L), L


def _blockify(a: np.ndarray, B: int, L: int, fill: float | int) -> np.ndarray:
    pad = B * L - a.shape[0]
    if pad:
        a = np.concatenate([a, np.full((pad, *a.shape[1:]), fill, dtype=a.dtype)])
    return a.reshape((B, L, *a.shape[1:]))


def _linear_scan(pre: np.ndarray, post: np.ndarray, sel: np.ndarray, mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Normalised messages of :math:`v_t \propto ((v_{t-1} \odot f_t)\, M_{c_t}) \odot g_t`, :math:`v_{-1}` uniform.

    ``pre`` :math:`f` and ``post`` :math:`g` are ``(T, K)``, ``sel`` :math:`c` ``(T,)`` indexes ``mats`` ``(m, K, K)``.
    Returns the messages ``(T, K)`` (rows summing to one) and the log normalisers :math:`\log c_t` ``(T,)``.
    """
    T, n = post.shape
    B, L = _layout(T)
    mats = np.concatenate([mats, np.eye(n)[None]])  # padding steps are the identity
    f, g = _blockify(pre, B, L, 1.0), _blockify(post, B, L, 1.0)
    c = _blockify(sel.astype(np.intp), B, L, len(mats) - 1)
    # phase 1: transfer matrix of each block (scaled by its largest entry; only its direction matters)
    P = np.broadcast_to(np.eye(n), (B, n, n)).copy()
    for j in range(L):
        P = ((P * f[:, j, None, :]) @ mats[c[:, j]]) * g[:, j, None, :]
        P /= P.max(axis=(1, 2), keepdims=True)
    # phase 2: messages entering each block
    start = np.empty((B, n))
    v = np.full(n, 1.0 / n)
    for b in range(B):
        start[b] = v
        v = v @ P[b]
        v /= v.sum()
    # phase 3: every sample, all blocks at once
    out = np.empty((B, L, n))
    logc = np.empty((B, L))
    v = start
    for j in range(L):
        v = ((v * f[:, j])[:, None, :] @ mats[c[:, j]])[:, 0, :] * g[:, j]
        s = v.sum(axis=1)
        v = v / s[:, None]
        out[:, j], logc[:, j] = v, np.log(s)
    return out.reshape(B * L, n)[:T], logc.reshape(-1)[:T]


def _viterbi_scan(logE: np.ndarray, sel: np.ndarray, logmats: np.ndarray) -> np.ndarray:
    r"""Most probable path of :math:`\delta_t(j) = \max_i [\delta_{t-1}(i) + \log M_{c_t}(i, j)] + \log b_j(x_t)`."""
    T, n = logE.shape
    B, L = _layout(T)
    eye = np.where(np.eye(n, dtype=bool), 0.0, -np.inf)
    logmats = np.concatenate([logmats, eye[None]])
    e = _blockify(logE, B, L, 0.0)
    c = _blockify(sel.astype(np.intp), B, L, len(logmats) - 1)
    P = np.broadcast_to(eye, (B, n, n)).copy()
    for j in range(L):
        P = (P[:, :, :, None] + logmats[c[:, j]][:, None, :, :]).max(axis=2) + e[:, j, None, :]
        P -= P.max(axis=(1, 2), keepdims=True)
    start = np.empty((B, n))
    d = np.zeros(n)
    for b in range(B):
        start[b] = d
        d = (d[:, None] + P[b]).max(axis=0)
        d -= d.max()
    dtype = np.int8 if n < 128 else np.int32
    psi = np.empty((B, L, n), dtype=dtype)
    v = start
    for j in range(L):
        cand = v[:, :, None] + logmats[c[:, j]]
        psi[:, j] = cand.argmax(axis=1)
        v = cand.max(axis=1) + e[:, j]
        v -= v.max(axis=1, keepdims=True)
    # backtracking, blocked the same way: s_{t-1} = psi_t[s_t]
    back = np.broadcast_to(np.arange(n), (B, n)).copy()  # end state of block -> last state of previous block
    for j in range(L - 1, -1, -1):
        back = np.take_along_axis(psi[:, j].astype(np.intp), back, axis=1)
    ends = np.empty(B, dtype=np.intp)
    ends[-1] = int(np.argmax(v[-1]))
    for b in range(B - 1, 0, -1):
        ends[b - 1] = back[b, ends[b]]
    states = np.empty((B, L), dtype=np.int64)
    cur = ends
    rows = np.arange(B)
    for j in range(L - 1, -1, -1):
        states[:, j] = cur
        cur = psi[rows, j, cur].astype(np.intp)
    return states.reshape(-1)[:T]


def _scaled_emissions(x: np.ndarray, means: np.ndarray, sds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Emissions scaled to a maximum of one per sample (floored), and the log scale factors removed."""
    logb = _log_emissions(x, means, sds)
    offset = logb.max(axis=1)
    return np.exp(np.maximum(logb - offset[:, None], _LOG_FLOOR)), offset


def _forward_backward(E: np.ndarray, A: np.ndarray, pi: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Normalised forward and backward messages and the per-sample log normalisers (Rabiner 1989, eqs. 19-25)."""
    n = A.shape[0]
    alpha, logc = _linear_scan(np.ones_like(E), E, starts.astype(np.intp),
                               np.stack([A, np.broadcast_to(pi, (n, n))]))
    ends = np.r_[starts[1:], True]
    pre = np.vstack([np.ones((1, n)), E[::-1][:-1]])
    beta_rev, _ = _linear_scan(pre, np.ones_like(E), ends[::-1].astype(np.intp),
                               np.stack([A.T, np.full((n, n), 1.0 / n)]))
    return alpha, beta_rev[::-1], logc


def _baum_welch(
    x: np.ndarray,
    starts: np.ndarray,
    levels: dict[str, np.ndarray],
    A: np.ndarray,
    pi: np.ndarray,
    *,
    n_iter: int,
    tol: float,
    shared_noise: bool,
    update_levels: bool,
    ll_offset: float = 0.0,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, float, int, bool]:
    r"""Baum–Welch (EM) re-estimation of the transition matrix, initial law and (optionally) the Gaussian levels.

    .. math:: \hat A_{ij} = \frac{\sum_t \xi_t(i, j)}{\sum_t \sum_k \xi_t(i, k)}, \qquad
              \xi_t(i, j) = \frac{\alpha_{t-1}(i)\, A_{ij}\, b_j(x_t)\, \beta_t(j)}
                                 {\sum_{kl} \alpha_{t-1}(k)\, A_{kl}\, b_l(x_t)\, \beta_t(l)},

    summed over the transitions inside trajectories; with :math:`\gamma_t(j) \propto \alpha_t(j) \beta_t(j)`,
    :math:`\hat\mu_j = \sum_t \gamma_t(j) x_t / \sum_t \gamma_t(j)` and
    :math:`\hat\sigma^2 = \frac1T \sum_{t,j} \gamma_t(j) (x_t - \hat\mu_j)^2` (per state when not shared).
    Stops when the log-likelihood (plus ``ll_offset``, the change of units of ``x``) changes by less than ``tol``
    relative.
    """
    inner = ~starts[1:]
    means, sds = levels["means"].copy(), levels["sds"].copy()
    loglik = -np.inf
    converged = False
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007
        E, offset = _scaled_emissions(x, means, sds)
        alpha, beta, logc = _forward_backward(E, A, pi, starts)
        new_ll = float(logc.sum() + offset.sum()) + ll_offset
        u = E[1:] * beta[1:]
        d = np.einsum("ti,ti->t", alpha[:-1] @ A, u)
        w = np.where(inner, 1.0 / d, 0.0)
        xi = A * (alpha[:-1].T @ (u * w[:, None]))
        rows = xi.sum(axis=1, keepdims=True)
        A = np.where(rows > 0, xi / np.where(rows > 0, rows, 1.0), A)
        gamma = alpha * beta
        gamma /= gamma.sum(axis=1, keepdims=True)
        pi = (gamma[starts].sum(axis=0) + 1.0) / (starts.sum() + len(pi))  # Dirichlet(2) smoothing: no zeros
        if update_levels:
            mass = gamma.sum(axis=0)
            ok = mass > 1e-9 * len(x)
            means = np.where(ok, (gamma * x[:, None]).sum(axis=0) / np.where(ok, mass, 1.0), means)
            sq = (gamma * (x[:, None] - means[None, :]) ** 2).sum(axis=0)
            if shared_noise:
                sds = np.full_like(sds, np.sqrt(sq.sum() / len(x)))
            else:
                sds = np.where(ok, np.sqrt(sq / np.where(ok, mass, 1.0)), sds)
            sds = np.maximum(sds, 1e-6 * max(float(np.ptp(x)), 1e-300))
        done = abs(new_ll - loglik) <= tol * abs(new_ll)
        loglik = new_ll
        if done:
            converged = True
            break
    order = np.argsort(means)  # EM keeps the order in practice; enforce state 0 = lowest level anyway
    A, pi = A[np.ix_(order, order)], pi[order]
    out = {"weights": levels["weights"][order], "means": means[order], "sds": sds[order]}
    return out, A, pi, loglik, it, converged


def _check_iterations(n_iter: Any) -> int:
    if isinstance(n_iter, bool) or not isinstance(n_iter, int | np.integer) or n_iter < 1:
        raise BadInputError("n_iter", f"{n_iter!r}", "a positive integer (Baum-Welch iterations at most)")
    return int(n_iter)


def _check_size(T: int, K: int, n_iter: int, n_fit: int) -> None:
    r"""Refuse an idealisation whose work or memory is out of reach, before fitting anything.

    Work, in element-steps: the mixture fit (``n_fit`` samples :math:`\times K \times` 1000 EM iterations at most)
    plus :math:`2 n_{iter} + 1` passes (forward-backward per Baum-Welch iteration, then Viterbi) over :math:`T`
    samples of :math:`K^2` transition entries each (the sequential recursion's count; the blocked scans do :math:`K`
    times more arithmetic in vectorised matrix products). Memory: the Viterbi block step holds
    :math:`B K^3` float64 (:math:`B \approx \sqrt T` blocks), the messages about a dozen :math:`T \times K` arrays.
    """
    passes = 2 * n_iter + 1 if n_iter else 0
    work = float(n_fit) * K * 1000 + float(passes) * T * K * K
    check_work(work, "idealize: n_states", f"n_states={K} on {T} samples ({passes} passes of {K}x{K} transitions per "
               "sample and a mixture fit)", change="use fewer states (n_states) or fewer samples")
    if n_iter:
        B, _ = _layout(max(T, 1))
        nbytes = 8.0 * (B * K**3 + 12 * T * K)
        check_memory(nbytes, "idealize: n_states", f"n_states={K} on {T} samples", device="cpu",
                     change="use fewer states (n_states) or split the recording")


def _standard_units(x: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """``z = (x - shift) / unit`` with zero mean and unit sd, computed without overflow; and ``log(unit)``."""
    amax = float(np.abs(x).max())
    xs = x / amax if amax > 0 else x
    c, sd = float(xs.mean()), float(xs.std())
    if not sd > 0:
        raise BadInputError("current", "a constant current", "a current that moves between levels")
    return (xs - c) / sd, amax * c, amax * sd, float(np.log(amax) + np.log(sd))


def _original_units(levels: dict[str, np.ndarray], shift: float, unit: float) -> dict[str, np.ndarray]:
    """Levels fitted in standard units, back in the units of the current."""
    return {**levels, "means": shift + unit * levels["means"], "sds": unit * levels["sds"]}


def idealize_trace(
    current: np.ndarray,
    n_states: int,
    *,
    trajectory_starts: np.ndarray | None = None,
    method: str = "gmm_hmm",
    n_iter: int = 10,
    tol: float = 1e-7,
    seed: int | None = None,
    shared_noise: bool = True,
    update_levels: bool = True,
    max_fit_samples: int = 20_000,
) -> tuple[np.ndarray, dict[str, Any]]:
    r"""Array core of :func:`idealize`: currents ``(T,)`` to integer states ``(T,)`` and the fitted parameters.

    Parameters
    ----------
    current
        Finite current samples, trajectories concatenated.
    n_states
        Number of conductance levels :math:`K \ge 2`.
    trajectory_starts
        Boolean ``(T,)``, true at the first sample of each trajectory (default: one trajectory).
    method
        ``"gmm_hmm"`` (Gaussian mixture levels, Baum–Welch, Viterbi) or ``"gmm"`` (each sample to its most probable
        mixture component, no temporal smoothing).
    n_iter, tol
        Baum–Welch iterations at most, and the relative log-likelihood change that stops them.
    seed
        Seed of the mixture fit (and of the subsample it is fitted to); ``None``: ``dynfer.settings.seed`` (fresh
        entropy when that is ``None``); the seed used is recorded in ``params["seed"]``.
    shared_noise
        One noise standard deviation for all levels (a tied mixture; recording noise) instead of one per level.
    update_levels
        Let Baum–Welch refine the levels and noise from all samples (with ``False`` they stay at the mixture fit).
    max_fit_samples
        The mixture is fitted to at most this many samples drawn without replacement.

    Returns
    -------
    states, params
        ``states`` int64 ``(T,)``, 0 = lowest level; ``params`` with ``means``, ``sds``, ``weights``,
        ``transition_matrix`` (per sample), ``initial``, ``log_likelihood``, ``n_iter``, ``converged``, ``seed``.
    """
    seed = resolve_seed(seed)
    x = np.asarray(current, dtype=np.float64).reshape(-1)
    T = len(x)
    if isinstance(n_states, bool) or not isinstance(n_states, int | np.integer) or n_states < 2:
        raise BadInputError(f"n_states must be an int >= 2, got {n_states!r}")
    if method not in _METHODS:
        raise BadInputError(f"method must be one of {_METHODS}, got {method!r}")
    bad = ~np.isfinite(x)
    if bad.any():
        where = np.flatnonzero(bad)
        raise BadInputError(
            f"current holds {int(bad.sum())} NaN or infinite sample(s), first at rows {where[:5].tolist()}"
        )
    if T < 2 * n_states:
        raise BadInputError(f"current has {T} samples; at least {2 * n_states} are needed for {n_states} states")
    n_iter = _check_iterations(n_iter)
    _check_size(T, int(n_states), n_iter if method == "gmm_hmm" else 0, min(T, max_fit_samples))
    starts = np.zeros(T, dtype=bool) if trajectory_starts is None else np.asarray(trajectory_starts, dtype=bool).copy()
    if starts.shape != (T,):
        raise BadInputError(f"trajectory_starts must have shape ({T},), got {starts.shape}")
    starts[0] = True
    # fit in standard units z = (x - shift) / unit: the mixture's variance and the emissions of currents near the
    # float64 limits (1e300 or 1e-300) would overflow or vanish; every step is equivariant, so nothing else changes
    z, shift, unit, log_unit = _standard_units(x)
    levels = _fit_levels(z, int(n_states), seed=seed, max_fit_samples=max_fit_samples, shared_noise=shared_noise)
    if len(np.unique(np.round(levels["means"], 12))) < n_states or not (levels["sds"] > 0).all():
        raise BadInputError(f"the current does not show {n_states} distinct levels (the mixture fit collapsed)")
    params: dict[str, Any] = {"method": method, "shared_noise": shared_noise, "seed": seed}
    if method == "gmm":
        logp = _log_emissions(z, levels["means"], levels["sds"]) + np.log(levels["weights"])[None, :]
        params.update(_original_units(levels, shift, unit))
        return logp.argmax(axis=1).astype(np.int64), params
    n = int(n_states)
    eps = 0.01
    A0 = np.full((n, n), eps / (n - 1))
    np.fill_diagonal(A0, 1.0 - eps)
    mixture = _original_units(levels, shift, unit)
    params["mixture_means"], params["mixture_sds"] = mixture["means"], mixture["sds"]
    levels, A, pi, loglik, it, converged = _baum_welch(
        z, starts, levels, A0, levels["weights"].copy(), n_iter=n_iter, tol=tol, shared_noise=shared_noise,
        update_levels=update_levels, ll_offset=-T * log_unit)
    params.update(_original_units(levels, shift, unit))
    E, _ = _scaled_emissions(z, levels["means"], levels["sds"])
    with np.errstate(divide="ignore"):
        logA, logpi = np.log(A), np.log(pi)
    states = _viterbi_scan(np.log(E), starts.astype(np.intp), np.stack([logA, np.broadcast_to(logpi, (n, n))]))
    params.update(transition_matrix=A, initial=pi, log_likelihood=loglik, n_iter=it, converged=converged)
    return states, params


# ---------------------------------------------------------------------------------------------------- dwell times
def dwell_times(
    states: np.ndarray, trajectory: np.ndarray, times: np.ndarray, dt: float
) -> pd.DataFrame:
    """Table of dwells (maximal runs of one state) per trajectory.

    Columns: ``trajectory``, ``state``, ``start`` (time of the first sample), ``duration`` (samples times ``dt``),
    ``n_samples``, ``censored`` (true for the first and last dwell of each trajectory, whose true lengths are cut by
    the recording), ``censored_start`` and ``censored_end`` (which side is cut). For exponential dwells the
    maximum-likelihood mean dwell time of state :math:`i` uses every dwell: the total time in :math:`i` divided by the
    number of dwells that end in an observed jump (not ``censored_end``).
    """
    s = np.asarray(states)
    tr = pd.Categorical(np.asarray(trajectory))
    codes = np.asarray(tr.codes)
    T = len(s)
    if T == 0:
        return pd.DataFrame({"trajectory": pd.Categorical([]), "state": np.zeros(0, np.int64), "start": np.zeros(0),
                             "duration": np.zeros(0), "n_samples": np.zeros(0, np.int64),
                             "censored": np.zeros(0, bool), "censored_start": np.zeros(0, bool),
                             "censored_end": np.zeros(0, bool)})
    traj_start = np.r_[True, codes[1:] != codes[:-1]]
    run_start = traj_start | np.r_[True, s[1:] != s[:-1]]
    idx = np.flatnonzero(run_start)
    lengths = np.diff(np.r_[idx, T])
    first = traj_start[idx]
    last = np.r_[first[1:], True]
    return pd.DataFrame({
        "trajectory": pd.Categorical.from_codes(codes[idx], categories=tr.categories),
        "state": s[idx].astype(np.int64),
        "start": np.asarray(times, dtype=np.float64)[idx],
        "duration": lengths * float(dt),
        "n_samples": lengths.astype(np.int64),
        "censored": first | last,
        "censored_start": first,
        "censored_end": last,
    })


# ---------------------------------------------------------------------------------------------------- AnnData face
def _current(adata: ad.AnnData, current_key: str | None) -> np.ndarray:
    if current_key is None:
        if adata.n_vars == 0:
            raise BadInputError("adata.X has no column; pass current_key (a var name or an obs column)")
        col = adata.X[:, 0]
    elif current_key in adata.var_names:
        col = adata[:, current_key].X
    elif current_key in adata.obs:
        col = adata.obs[current_key].to_numpy()
    else:
        raise BadInputError(f"current_key {current_key!r} is neither a var name "
                            f"{list(adata.var_names)[:10]} nor an obs "
                            f"column {list(adata.obs.columns)}")
    col = col.toarray() if hasattr(col, "toarray") else col
    try:
        return np.asarray(col, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BadInputError(f"the current ({current_key or 'X column 0'}) must be numeric") from None


def _sampling_interval(adata: ad.AnnData, codes: np.ndarray, times: np.ndarray | None) -> tuple[float, str]:
    src = adata.uns.get(K.SOURCE, {})
    rate = src.get("sampling_rate") if isinstance(src, dict) else None
    if rate is not None and np.isfinite(rate) and rate > 0:
        return 1.0 / float(rate), "s"
    if times is not None:
        same = codes[1:] == codes[:-1]
        steps = np.diff(times)[same]
        if len(steps) and np.median(steps) > 0:
            return float(np.median(steps)), "s"
    return 1.0, "samples"


def idealize(
    adata: ad.AnnData,
    n_states: int,
    *,
    method: str = "gmm_hmm",
    current_key: str | None = None,
    key_added: str = K.STATE,
    n_iter: int = 10,
    shared_noise: bool = True,
    seed: int | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    r"""Idealise single-channel currents into discrete conductance states (Gaussian mixture + hidden Markov model).

    **Levels.** A 1-D Gaussian mixture :math:`p(x) = \sum_k w_k \mathcal N(x; \mu_k, \sigma_k^2)` is fitted to the
    pooled samples by EM; components are sorted by :math:`\mu_k` so state 0 is the lowest current.

    **Transition matrix.** The sampled states are a Markov chain with per-sample transition matrix :math:`A` and
    emissions :math:`b_j(x) = \mathcal N(x; \mu_j, \sigma_j^2)`. Baum–Welch iterates the scaled forward–backward
    recursions (Rabiner 1989)

    .. math:: \hat\alpha_t(j) \propto \Big[\sum_i \hat\alpha_{t-1}(i) A_{ij}\Big] b_j(x_t), \qquad
              \hat\beta_t(i) \propto \sum_j A_{ij}\, b_j(x_{t+1})\, \hat\beta_{t+1}(j),

    and re-estimates :math:`A_{ij} \leftarrow \sum_t \xi_t(i,j) / \sum_{t,k} \xi_t(i,k)` with
    :math:`\xi_t(i,j) \propto \hat\alpha_{t-1}(i) A_{ij} b_j(x_t) \hat\beta_t(j)`;
    the emissions start at the mixture fit, refined by the same EM iterations
    (:math:`\mu_j = \sum_t \gamma_t(j) x_t / \sum_t \gamma_t(j)`, :math:`\gamma_t \propto \alpha_t \beta_t`).
    Each trajectory restarts the chain from the initial law :math:`\pi`.

    **Decoding.** Viterbi, in log space:

    .. math:: \delta_t(j) = \max_i \big[\delta_{t-1}(i) + \log A_{ij}\big] + \log b_j(x_t), \qquad
              \psi_t(j) = \arg\max_i \big[\delta_{t-1}(i) + \log A_{ij}\big],

    then :math:`s_{T-1} = \arg\max_j \delta_{T-1}(j)` and :math:`s_{t-1} = \psi_t(s_t)`.

    Parameters
    ----------
    adata
        Currents in ``X`` (or ``obs``), one row per sample; rows grouped by ``obs['trajectory']`` when present, in
        time order.
    n_states
        Number of conductance levels (>= 2).
    method
        ``"gmm_hmm"`` (default) or ``"gmm"`` (plain mixture classification, no temporal smoothing; a baseline).
    current_key
        Var name (a column of ``X``) or ``obs`` column with the current; default ``X[:, 0]``.
    key_added
        ``obs[key_added]`` gets the states (int), ``uns[key_added + '_params']`` the levels, noise, transition
        matrix; ``uns['dwell_times']`` the dwell table (see :func:`dwell_times`).
    n_iter
        Baum–Welch iterations at most.
    shared_noise
        One noise level for all states (default; recording noise) or one per state (open-channel noise).
    seed
        Seed of the mixture fit; ``None``: ``dynfer.settings.seed`` (fresh entropy when that is ``None``); the seed
        used is recorded in ``uns[key_added + '_params']['seed']``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``.

    Raises
    ------
    ValueError
        ``n_states < 2``, an unknown ``current_key`` or ``method``, NaN currents, trajectories not in contiguous
        blocks. ``adata`` is left untouched.

    References
    ----------
    Rabiner, L. R. (1989). A tutorial on hidden Markov models and selected applications in speech recognition.
    *Proc. IEEE* 77, 257-286.
    Colquhoun, D. & Hawkes, A. G. (1995). The principles of the stochastic interpretation of ion-channel mechanisms.
    In *Single-Channel Recording*, 2nd ed., Sakmann & Neher (eds.), Plenum, 397-482.
    Qin, F., Auerbach, A. & Sachs, F. (2000). A direct optimization approach to hidden Markov modeling for single
    channel kinetics. *Biophys. J.* 79, 1915-1927.
    """
    seed = resolve_seed(seed)
    if not isinstance(adata, ad.AnnData):
        raise BadInputError(f"adata must be an AnnData, got {type(adata).__name__}")
    if isinstance(n_states, bool) or not isinstance(n_states, int | np.integer) or n_states < 2:
        raise BadInputError(f"n_states must be an int >= 2, got {n_states!r}")
    x = _current(adata, current_key)
    T = len(x)
    if K.TRAJECTORY in adata.obs:
        traj = pd.Categorical(adata.obs[K.TRAJECTORY])
        codes = np.asarray(traj.codes)
        if (codes < 0).any():
            raise BadInputError(f"adata.obs[{K.TRAJECTORY!r}] has missing values")
        starts = np.r_[True, codes[1:] != codes[:-1]] if T else np.zeros(0, bool)
        if starts.sum() != len(np.unique(codes)):
            raise BadInputError(f"rows must be grouped by {K.TRAJECTORY!r}: a trajectory appears in separate blocks")
        labels = np.asarray(adata.obs[K.TRAJECTORY])
    else:
        codes = np.zeros(T, dtype=np.int64)
        starts = np.r_[True, np.zeros(max(T - 1, 0), bool)]
        labels = np.zeros(T, dtype=np.int64)
    states, params = idealize_trace(x, int(n_states), trajectory_starts=starts, method=method, n_iter=n_iter,
                                    shared_noise=shared_noise, seed=seed)
    times = adata.obs[K.TIME].to_numpy(dtype=np.float64) if K.TIME in adata.obs else None
    dt, unit = _sampling_interval(adata, codes, times)
    if times is None:
        times = np.concatenate([np.arange(c) for c in np.bincount(codes)]) * dt if T else np.zeros(0)
    params.update(sampling_interval=dt, time_unit=unit, current_key=current_key or "X[:, 0]")
    table = dwell_times(states, labels, times, dt)

    out = adata.copy() if copy else adata
    out.obs[key_added] = states.astype(np.int64)
    out.uns[f"{key_added}_params"] = params
    out.uns[K.DWELL_TIMES] = table
    return out if copy else None
