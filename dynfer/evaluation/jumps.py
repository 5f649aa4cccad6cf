r"""Scores of inferred Markov-jump-process rate matrices against a known generator, on numpy arrays.

Independent of any estimator: every function takes rate matrices (rows = from state, :math:`q_{ii} = -\sum_{j \ne i}
q_{ij}`) or observed label arrays, and :func:`context_table` runs any estimators ``{name: factory}`` over a list of
contexts (:class:`JumpContext`) and tabulates the scores, mean :math:`\pm` sd over contexts.

* :func:`rate_rmse` -- RMSE over the off-diagonal entries (FIM-MJP's rate RMSE, Berghaus et al. 2024, sec. 4);
* :func:`structural_zero_mass` -- mean inferred rate on the links that are absent in truth;
* :func:`calibration` -- z-scores of the log-rates and the coverage of the intervals
  :math:`\exp(\log\hat q \pm 1.96\,\sigma)` on the true links;
* :func:`hellinger_histograms` -- time-averaged Hellinger distance between per-time state histograms;
* :func:`ratchet_parameters` -- :math:`(V, r, b)` of a discrete flashing ratchet from a fitted 6-state matrix;
* :func:`derived_quantities` -- stationary law, time scales, MFPT and entropy production of a matrix (through
  :class:`dynfer.processes.RateMatrix`).

References
----------
Berghaus, D., Cvejoski, K., Seifner, P., Ojeda, C. & Sánchez, R. J. (2024). Foundation inference models for Markov
jump processes. *NeurIPS* 37 (arXiv:2406.06419).
Roldán, É. & Parrondo, J. M. R. (2010). Estimating dissipation from single stationary trajectories. *Phys. Rev.
Lett.* 105, 150607.
Le Cam, L. & Yang, G. L. (2000). *Asymptotics in Statistics*, 2nd ed., Springer, sec. 3.2 (Hellinger distance).
"""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynfer._errors import BadInputError

__all__ = [
    "ContextTable",
    "JumpContext",
    "calibration",
    "context_table",
    "derived_quantities",
    "hellinger_histograms",
    "rate_rmse",
    "ratchet_parameters",
    "score_rates",
    "state_histograms",
    "structural_zero_mass",
]

Z95 = 1.959963984540054
"""The 97.5 % quantile of the standard normal: the half-width of a 95 % interval in standard deviations."""


# ---------------------------------------------------------------------------------------------------- checks
def _square(value: Any, name: str, *, batched: bool = False) -> np.ndarray:
    """``value`` as a float64 array of square matrices ``(..., n, n)`` (one matrix unless ``batched``)."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(name, f"{type(value).__name__}", "a numeric (n, n) matrix") from None
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or (not batched and a.ndim != 2) or a.shape[-1] < 1:
        want = "(..., n, n) matrices" if batched else "an (n, n) matrix"
        raise BadInputError(name, f"shape {a.shape}", want)
    return a


def _same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise BadInputError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}; they must match")


def _off_diagonal(n: int) -> np.ndarray:
    return ~np.eye(n, dtype=bool)


def _bool_matrix(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(value)
    if a.shape != shape:
        raise BadInputError(name, f"shape {a.shape}", f"shape {shape}")
    if a.dtype == bool:
        return a
    try:
        f = a.astype(np.float64)
    except (TypeError, ValueError):
        raise BadInputError(name, f"dtype {a.dtype}", "a boolean (or 0/1) matrix") from None
    if not np.isin(f, (0.0, 1.0)).all():
        raise BadInputError(name, "entries other than 0 and 1", "a boolean (or 0/1) matrix")
    return f > 0


# ---------------------------------------------------------------------------------------------------- rates
def rate_rmse(Q_hat: Any, Q_true: Any) -> float:
    r"""Root-mean-square error of the off-diagonal rates.

    .. math:: \mathrm{RMSE} = \Big(\frac{1}{n(n-1)} \sum_{i \ne j} (\hat q_{ij} - q_{ij})^2\Big)^{1/2},

    the rate RMSE of FIM-MJP (Berghaus et al. 2024; 30 entries for 6 states), computed per context. The diagonal,
    fixed by the off-diagonals, is left out.

    Parameters
    ----------
    Q_hat, Q_true
        Estimated and true generators, ``(n, n)`` with ``n >= 2``, rows = from state.

    Returns
    -------
    float
        The RMSE, in the rate unit of the matrices.

    Examples
    --------
    >>> rate_rmse([[-1.0, 1.0], [2.0, -2.0]], [[-1.0, 1.0], [1.0, -1.0]])
    0.7071067811865476
    """
    qh, qt = _square(Q_hat, "Q_hat"), _square(Q_true, "Q_true")
    _same_shape(qh, qt, "Q_hat", "Q_true")
    if qt.shape[0] < 2:
        raise BadInputError("Q_true", "a 1 x 1 matrix", "at least 2 states (there is no off-diagonal rate)")
    off = _off_diagonal(qt.shape[0])
    return float(np.sqrt(np.mean((qh[off] - qt[off]) ** 2)))


def structural_zero_mass(Q_hat: Any, adjacency: Any) -> float:
    r"""Mean inferred rate on the structurally absent links :math:`Z = \{(i, j): i \ne j,\ A_{ij} = 0\}`.

    .. math:: m_0 = \frac{1}{|Z|} \sum_{(i,j) \in Z} \hat q_{ij}.

    FIM's released model puts 0.07--0.25 on each of the ratchet's 12 absent links (reference notes, sec. 3); the
    goal here is :math:`m_0 < 0.02`.

    Parameters
    ----------
    Q_hat
        Estimated generator ``(n, n)``.
    adjacency
        Boolean (or 0/1) ``(n, n)``: ``True`` where the true link exists. The diagonal is ignored.

    Returns
    -------
    float
        :math:`m_0`; ``nan`` when every link exists (there is no structural zero).
    """
    qh = _square(Q_hat, "Q_hat")
    adj = _bool_matrix(adjacency, "adjacency", qh.shape)
    zero = ~adj & _off_diagonal(qh.shape[0])
    if not zero.any():
        return float("nan")
    return float(qh[zero].mean())


def calibration(
    Q_hat: Any,
    log_rate_std: Any,
    Q_true: Any,
    *,
    log_rate_mean: Any = None,
    level: float = 0.95,
) -> dict[str, float]:
    r"""Calibration of log-rate standard deviations on the true links, pooled over any leading batch axes.

    For each true link :math:`(i, j)` (:math:`q_{ij} > 0`, :math:`i \ne j`) with a finite, positive
    :math:`\sigma_{ij}`, the z-score and the interval are

    .. math:: z_{ij} = \frac{\mu_{ij} - \log q_{ij}}{\sigma_{ij}}, \qquad
              I_{ij} = \big[e^{\mu_{ij} - z_\alpha \sigma_{ij}},\ e^{\mu_{ij} + z_\alpha \sigma_{ij}}\big],

    with :math:`\mu_{ij} = \log \hat q_{ij}` (the convention of dynfer's MJP estimators) or the given
    ``log_rate_mean``, and :math:`z_\alpha = \Phi^{-1}((1 + \text{level})/2)` (1.96 for 95 %). Well calibrated
    standard deviations give :math:`\mathrm{sd}(z) \approx 1` and a coverage near ``level``.

    Parameters
    ----------
    Q_hat
        Estimated generators, ``(..., n, n)`` (a batch of contexts is pooled).
    log_rate_std
        :math:`\sigma`, same shape; ``inf`` (not identified) or ``nan`` entries are left out of the z-scores and
        count as covering (an infinite interval covers everything), and are counted in ``n_unidentified``.
    Q_true
        True generator ``(n, n)`` or one per context ``(..., n, n)``.
    log_rate_mean
        :math:`\mu` when it is not :math:`\log\hat q` (e.g. the mean of a log-normal posterior); same shape as
        ``Q_hat``.
    level
        Nominal coverage in (0, 1).

    Returns
    -------
    dict
        ``z_mean``, ``z_sd`` (population sd of the finite z-scores), ``z_rms``, ``coverage`` (fraction of true
        links inside :math:`I_{ij}`), ``level``, ``n_links`` (true links scored), ``n_unidentified`` (links with
        infinite or missing :math:`\sigma`) and ``n_zero_estimates`` (links with :math:`\hat q_{ij} = 0`, i.e.
        :math:`\mu = -\infty`, never covered).
    """
    from scipy.stats import norm

    lv = float(level)
    if not 0.0 < lv < 1.0:
        raise BadInputError("level", f"{level!r}", "a number in (0, 1)")
    qh = _square(Q_hat, "Q_hat", batched=True)
    sd = _square(log_rate_std, "log_rate_std", batched=True)
    _same_shape(qh, sd, "Q_hat", "log_rate_std")
    qt = _square(Q_true, "Q_true", batched=True)
    if qt.shape != qh.shape and qt.shape != qh.shape[-2:]:
        raise BadInputError(f"Q_true has shape {qt.shape}; it must be {qh.shape[-2:]} or match Q_hat {qh.shape}")
    qt = np.broadcast_to(qt, qh.shape)
    if log_rate_mean is None:
        with np.errstate(divide="ignore"):
            mu = np.log(np.clip(qh, 0.0, None))
    else:
        mu = _square(log_rate_mean, "log_rate_mean", batched=True)
        _same_shape(qh, mu, "Q_hat", "log_rate_mean")
    links = (qt > 0) & _off_diagonal(qh.shape[-1])
    if not links.any():
        raise BadInputError("Q_true", "no positive off-diagonal rate", "at least one true link to score")
    s, m, lt = sd[links], mu[links], np.log(qt[links])
    if (s < 0).any():
        raise BadInputError("log_rate_std", f"a negative entry {float(s.min()):.3g}", "standard deviations >= 0")
    z_alpha = float(norm.ppf(0.5 + lv / 2))
    unidentified = ~np.isfinite(s)  # inf (not identified) or nan: an unbounded interval
    zero_est = np.isneginf(m) & ~unidentified
    scored = ~unidentified & np.isfinite(m) & (s > 0)
    z = (m[scored] - lt[scored]) / s[scored]
    exact = ~unidentified & np.isfinite(m) & (s == 0)  # a zero std covers only an exact estimate
    covered = (np.count_nonzero(np.abs(z) <= z_alpha) + np.count_nonzero(unidentified)
               + np.count_nonzero(exact & (m == lt)))
    total = int(links.sum())
    return {
        "z_mean": float(z.mean()) if z.size else float("nan"),
        "z_sd": float(z.std()) if z.size else float("nan"),
        "z_rms": float(np.sqrt(np.mean(z**2))) if z.size else float("nan"),
        "coverage": covered / total,
        "level": lv,
        "n_links": total,
        "n_unidentified": int(unidentified.sum()),
        "n_zero_estimates": int(zero_est.sum()),
    }


def ratchet_parameters(Q: Any) -> tuple[float, float, float]:
    r"""The discrete-flashing-ratchet parameters :math:`(V, r, b)` of a 6-state rate matrix.

    In the ratchet (Roldán & Parrondo 2010; FIM-MJP's DFR) states 0--2 are the potential-on positions with energies
    :math:`(0, V, 2V)`, :math:`q_{ij} = e^{-(V_j - V_i)/2}`; states 3--5 the potential-off positions,
    :math:`q_{ij} = b`; and :math:`q_{i,i+3} = q_{i+3,i} = r`. Following the reference notes (sec. 1):

    .. math:: \hat r = \tfrac16 \sum_{i=0}^{2} (q_{i,i+3} + q_{i+3,i}), \qquad
              \hat b = \tfrac16 \sum_{i \ne j \in \{3,4,5\}} q_{ij},

    and :math:`V` from the log-rate differences of the on block, :math:`\log q_{ji} - \log q_{ij} = (j - i)V`, by
    least squares over the three pairs :math:`i < j`:

    .. math:: \hat V = \frac{\sum_{i<j} (j-i)\,(\log q_{ji} - \log q_{ij})}{\sum_{i<j} (j-i)^2}
              = \frac{\Delta_{01} + 2\Delta_{02} + \Delta_{12}}{6},

    which does not depend on a common prefactor of the on-block rates. Pairs with a zero rate either way are left
    out (``nan`` when all three are).

    Parameters
    ----------
    Q
        ``(6, 6)`` generator, rows = from state, in the state order above.

    Returns
    -------
    tuple of float
        ``(V, r, b)``.

    Examples
    --------
    >>> from dynfer.processes import flashing_ratchet
    >>> V, r, b = ratchet_parameters(flashing_ratchet(2.0, 0.5, 1.5).Q.numpy())
    >>> round(V, 6), round(r, 6), round(b, 6)
    (2.0, 0.5, 1.5)
    """
    q = _square(Q, "Q")
    if q.shape != (6, 6):
        raise BadInputError("Q", f"shape {q.shape}", "a (6, 6) ratchet generator (states 0-2 on, 3-5 off)")
    r = float(np.mean([q[i, i + 3] for i in range(3)] + [q[i + 3, i] for i in range(3)]))
    off = [q[i, j] for i in range(3, 6) for j in range(3, 6) if i != j]
    b = float(np.mean(off))
    num, den = 0.0, 0.0
    for i in range(3):
        for j in range(i + 1, 3):
            if q[i, j] > 0 and q[j, i] > 0:
                num += (j - i) * (np.log(q[j, i]) - np.log(q[i, j]))
                den += (j - i) ** 2
    V = float(num / den) if den > 0 else float("nan")
    return V, r, b


def derived_quantities(Q: Any) -> dict[str, Any]:
    r"""Stationary law, time scales, relaxation time, MFPT and stationary entropy production of a generator.

    Through :class:`dynfer.processes.RateMatrix` (float64): :math:`\pi Q = 0`; :math:`t_k = 1/|\mathrm{Re}\,
    \lambda_k|`; :math:`1 + \sum_k q_{ik}\tau_{kj} = 0` for :math:`i \ne j` (Norris 1997, thm 3.3.3); and the
    Schnakenberg rate :math:`\sigma = \tfrac12 \sum_{i \ne j} (\pi_i q_{ij} - \pi_j q_{ji}) \ln\frac{\pi_i
    q_{ij}}{\pi_j q_{ji}}` (Seifert 2012). One-way fluxes make :math:`\sigma` infinite (returned as ``inf``,
    without a warning), unreachable targets make MFPTs infinite.

    Parameters
    ----------
    Q
        ``(n, n)`` generator.

    Returns
    -------
    dict
        numpy ``stationary_distribution`` (n,), ``timescales`` (n - 1,) (zeros dropped, padded with ``nan`` when
        there are several closed classes), floats ``relaxation_time`` and ``entropy_production``, ``mfpt`` (n, n).
    """
    import torch

    from dynfer.processes import RateMatrix

    q = _square(Q, "Q")
    n = q.shape[0]
    rm = RateMatrix(torch.as_tensor(q, dtype=torch.float64, device="cpu"), rtol=1e-6)
    ts = rm.timescales().numpy()
    ts = np.concatenate([ts, np.full(max(0, n - 1 - ts.size), np.nan)])[: n - 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        epr = float(rm.entropy_production())
    return {
        "stationary_distribution": rm.stationary_distribution().numpy(),
        "timescales": ts,
        "relaxation_time": float(ts[0]) if n > 1 and np.isfinite(ts[0]) else float("nan"),
        "mfpt": rm.mfpt().numpy(),
        "entropy_production": epr,
    }


# ---------------------------------------------------------------------------------------------------- histograms
def _labels(value: Any, name: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.size == 0:
        raise BadInputError(name, f"shape {np.shape(value)}", "a (paths, times) array of integer states")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or (np.issubdtype(a.dtype, np.floating)
                                                                      and np.all(a == np.round(a)))):
        raise BadInputError(name, f"dtype {a.dtype}", "integer states 0..n-1")
    a = a.astype(np.int64)
    if (a < 0).any():
        raise BadInputError(name, f"a negative state {int(a.min())}", "states 0..n-1")
    return a


def state_histograms(
    states: Any,
    n_states: int,
    *,
    times: Any = None,
    bins: int | Sequence[float] | None = None,
    mask: Any = None,
) -> np.ndarray:
    r"""Per-time state histograms :math:`p_t(k) = N_t(k) / \sum_l N_t(l)`, :math:`N_t(k)` observations of k at t.

    Parameters
    ----------
    states
        ``(P, T)`` integer states (or ``(T,)`` for one path).
    n_states
        Number of states :math:`n` (histogram length).
    times
        ``None``: column :math:`t` of ``states`` is one shared observation time. Else per-path times ``(P, T)`` (or
        shared ``(T,)``) that are grouped into ``bins``.
    bins
        With ``times``: the number of equal-width bins over the observed time range, or the bin edges.
    mask
        Boolean ``(P, T)``: which entries are observations (padding of ragged paths is ``False``).

    Returns
    -------
    numpy.ndarray
        ``(n_bins, n)`` histograms (rows sum to 1); a column or bin without an observation is a row of ``nan``.
    """
    s = _labels(states, "states")
    n = int(n_states)
    valid = np.ones(s.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), s.shape)
    if (s[valid] >= n).any():
        raise BadInputError("states", f"a state {int(s[valid].max())}", f"states below n_states={n}")
    if times is None:
        columns = np.broadcast_to(np.arange(s.shape[1]), s.shape)
        n_bins = s.shape[1]
    else:
        t = np.broadcast_to(np.asarray(times, dtype=np.float64), s.shape)
        if bins is None:
            raise BadInputError("bins", "None", "a number of time bins or bin edges when times are given")
        if np.ndim(bins) == 0:
            lo, hi = float(t[valid].min()), float(t[valid].max())
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
        else:
            edges = np.asarray(bins, dtype=np.float64)
        n_bins = len(edges) - 1
        columns = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n_bins - 1)
        valid = valid & (t >= edges[0]) & (t <= edges[-1])
    counts = np.zeros((n_bins, n))
    np.add.at(counts, (columns[valid], s[valid]), 1.0)
    tot = counts.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, counts / tot, np.nan)


def hellinger_histograms(
    observed: Any,
    model: Any,
    n_states: int | None = None,
    *,
    times: Any = None,
    model_times: Any = None,
    bins: int | Sequence[float] | None = None,
    mask: Any = None,
    model_mask: Any = None,
    per_time: bool = False,
) -> float | tuple[float, np.ndarray]:
    r"""Time-averaged Hellinger distance between the per-time state histograms of two sets of paths.

    .. math:: H(p, q) = \Big(1 - \sum_k \sqrt{p_k q_k}\Big)^{1/2}
              = \tfrac{1}{\sqrt 2}\,\big\|\sqrt p - \sqrt q\big\|_2 \in [0, 1], \qquad
              \bar H = \frac{1}{|\mathcal T|} \sum_{t \in \mathcal T} H(p_t, q_t),

    with :math:`p_t` the histogram of the observed labels and :math:`q_t` that of the model's paths at time (or
    time bin) :math:`t` (:func:`state_histograms`), averaged over the times where both have observations. This is
    the normalisation used here (maximum 1); FIM-MJP's tables report :math:`100\,\bar H` and their exact
    normalisation is not verified (reference notes, sec. 2): with :math:`\sqrt{2}\,\|\cdot\|` or without the
    :math:`1/\sqrt 2` the values scale by a constant. Two finite samples of the same law are not at distance 0:
    compare with the distance of paths simulated from the true model (the sampling floor).

    Parameters
    ----------
    observed, model
        ``(P, T)`` and ``(P', T')`` integer states.
    n_states
        Number of states (default: one more than the largest label seen).
    times, model_times
        ``None``: the columns are shared observation times (then ``T' == T``). Else observation times (per path or
        shared) grouped into ``bins`` common to both (``model_times`` defaults to ``times``).
    bins
        Number of time bins over the observed range, or the edges (with ``times``).
    mask, model_mask
        Boolean masks of the valid entries (padding of ragged paths is ``False``).
    per_time
        Also return the distance at each time.

    Returns
    -------
    float or (float, numpy.ndarray)
        :math:`\bar H` (and :math:`H(p_t, q_t)` per time, ``nan`` where a side has no observation).
    """
    obs = _labels(observed, "observed")
    mod = _labels(model, "model")
    n = int(max(obs.max(), mod.max()) + 1) if n_states is None else int(n_states)
    if times is None:
        if obs.shape[1] != mod.shape[1]:
            raise BadInputError(f"observed has {obs.shape[1]} time columns but model has {mod.shape[1]}; without "
                                "times the columns must be the same shared times")
        p = state_histograms(obs, n, mask=mask)
        q = state_histograms(mod, n, mask=model_mask)
    else:
        t_obs = np.broadcast_to(np.asarray(times, dtype=np.float64), obs.shape)
        t_mod = np.broadcast_to(np.asarray(times if model_times is None else model_times, dtype=np.float64),
                                mod.shape)
        if bins is None:
            raise BadInputError("bins", "None", "a number of time bins or bin edges when times are given")
        if np.ndim(bins) == 0:
            vo = np.ones(obs.shape, bool) if mask is None else np.broadcast_to(np.asarray(mask, bool), obs.shape)
            lo, hi = float(t_obs[vo].min()), float(t_obs[vo].max())
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
        else:
            edges = np.asarray(bins, dtype=np.float64)
        p = state_histograms(obs, n, times=t_obs, bins=edges, mask=mask)
        q = state_histograms(mod, n, times=t_mod, bins=edges, mask=model_mask)
    bc = np.sum(np.sqrt(p * q), axis=1)
    h = np.sqrt(np.clip(1.0 - bc, 0.0, None))
    good = np.isfinite(h)
    if not good.any():
        raise BadInputError("observed and model have no time (bin) in common with observations on both sides")
    mean = float(h[good].mean())
    return (mean, h) if per_time else mean


# ---------------------------------------------------------------------------------------------------- contexts
@dataclass
class JumpContext:
    """One inference problem: observed paths and, when known, the generator that made them.

    Attributes
    ----------
    states
        ``(P, L)`` integer states (padded past each path's length), or a list of 1-D arrays.
    times
        ``(P, L)`` or shared ``(L,)`` observation times (same layout as ``states``).
    lengths
        ``(P,)`` observed points per path (``None``: all ``L``).
    Q_true
        True generator ``(n, n)`` (``None`` when unknown: only model-fit scores are computed).
    adjacency
        True links ``(n, n)`` (default: ``Q_true > 0`` off the diagonal).
    n_states
        Number of states (default: from ``Q_true``, else the labels).
    name
        Label of the context.
    extra
        Anything else a factory or scorer needs (e.g. the clean labels of noisy data).
    """

    states: Any
    times: Any
    lengths: Any = None
    Q_true: Any = None
    adjacency: Any = None
    n_states: int | None = None
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.Q_true is not None:
            self.Q_true = _square(self.Q_true, "Q_true")
            if self.n_states is None:
                self.n_states = int(self.Q_true.shape[0])
            if self.adjacency is None:
                self.adjacency = (self.Q_true > 0) & _off_diagonal(self.Q_true.shape[0])
        if self.adjacency is not None:
            n = self.Q_true.shape[0] if self.Q_true is not None else np.shape(self.adjacency)[0]
            self.adjacency = _bool_matrix(self.adjacency, "adjacency", (n, n))

    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(states (P, L), times (P, L), mask (P, L))`` with ragged lists padded (mask ``False`` on padding)."""
        if isinstance(self.states, (list, tuple)) and self.states and np.ndim(self.states[0]) == 1 and \
                len({len(s) for s in self.states}) > 1:
            L = max(len(s) for s in self.states)
            P = len(self.states)
            s = np.zeros((P, L), np.int64)
            t = np.zeros((P, L))
            m = np.zeros((P, L), bool)
            for i, (si, ti) in enumerate(zip(self.states, self.times, strict=True)):
                s[i, : len(si)] = si
                t[i, : len(ti)] = ti
                t[i, len(ti):] = ti[-1] if len(ti) else 0.0
                m[i, : len(si)] = True
            return s, t, m
        s = np.atleast_2d(np.asarray(self.states)).astype(np.int64)
        t = np.broadcast_to(np.asarray(self.times, dtype=np.float64), s.shape).copy()
        m = np.ones(s.shape, bool)
        if self.lengths is not None:
            m = np.arange(s.shape[1])[None] < np.asarray(self.lengths).reshape(-1, 1)
        return s, t, m


Scorer = Callable[[Any, JumpContext], dict[str, Any]]


def score_rates(est: Any, ctx: JumpContext) -> dict[str, Any]:
    r"""Scores of a fitted MJP estimator on one context (the default scorer of :func:`context_table`).

    Reads ``rate_matrix_`` and, when present, ``log_rate_std_`` and ``results()['log_rate_mean']``. With a known
    ``ctx.Q_true``: ``rate_rmse`` (:func:`rate_rmse`), ``zero_mass`` (:func:`structural_zero_mass`, ``nan``
    without absent links), ``stationary_tv`` (:math:`\tfrac12 \sum_k |\hat\pi_k - \pi_k|`), ``epr_error``
    (:math:`\hat\sigma - \sigma`), ``relaxation_rel_error``, and the per-context calibration ``z_sd`` and
    ``coverage`` (:func:`calibration`). Always: the derived ``stationary_distribution``, ``timescales``, ``mfpt``,
    ``entropy_production`` and ``relaxation_time`` of the estimate (arrays are averaged elementwise by the table).
    """
    q = np.asarray(est.rate_matrix_, dtype=np.float64)
    der = derived_quantities(q)
    out: dict[str, Any] = dict(der)
    if ctx.Q_true is None:
        return out
    truth = derived_quantities(ctx.Q_true)
    out["rate_rmse"] = rate_rmse(q, ctx.Q_true)
    out["zero_mass"] = structural_zero_mass(q, ctx.adjacency)
    out["stationary_tv"] = float(0.5 * np.abs(der["stationary_distribution"] - truth["stationary_distribution"]).sum())
    out["epr_error"] = der["entropy_production"] - truth["entropy_production"]
    rt, rt_true = der["relaxation_time"], truth["relaxation_time"]
    out["relaxation_rel_error"] = (rt - rt_true) / rt_true if np.isfinite(rt_true) and rt_true > 0 else float("nan")
    std = getattr(est, "log_rate_std_", None)
    if std is not None:
        cal = calibration(q, std, ctx.Q_true, log_rate_mean=_log_rate_mean(est))
        out["z_sd"], out["coverage"] = cal["z_sd"], cal["coverage"]
    return out


def _log_rate_mean(est: Any) -> np.ndarray | None:
    """``est.results()['log_rate_mean']`` when the estimator reports one (its warnings silenced), else ``None``."""
    if not hasattr(est, "results"):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = est.results().get("log_rate_mean")
    return None if mean is None else np.asarray(mean, dtype=np.float64)


def _call_factory(factory: Callable[..., Any], ctx: JumpContext) -> Any:
    try:
        takes_context = len(inspect.signature(factory).parameters) >= 1
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        takes_context = False
    return factory(ctx) if takes_context else factory()


@dataclass
class ContextTable:
    """Scores of several methods over the same contexts (the result of :func:`context_table`).

    Attributes
    ----------
    methods
        Method names, in the order given.
    contexts
        Context names.
    scores
        ``scores[method][metric]``: one value (float or array) per context.
    seconds
        ``seconds[method]``: fit time per context (s).
    estimates
        ``estimates[method]``: per scored context ``{"context" (its index), "rate_matrix", "log_rate_std",
        "log_rate_mean"}`` (numpy; ``None`` where the method gives none).
    errors
        ``errors[method]``: per failed context ``(context name, message)``; failed contexts get no scores.
    warnings
        ``warnings[method]``: ``{message: count}`` of the warnings the fits raised (recorded, not re-emitted), e.g.
        a convergence warning of an optimiser.
    """

    methods: list[str]
    contexts: list[str]
    scores: dict[str, dict[str, list[Any]]]
    seconds: dict[str, list[float]]
    estimates: dict[str, list[dict[str, np.ndarray]]]
    errors: dict[str, list[tuple[str, str]]]
    warnings: dict[str, dict[str, int]] = field(default_factory=dict)

    def mean_sd(self, method: str, metric: str) -> tuple[Any, Any]:
        """Mean and population sd over contexts of one metric (elementwise for arrays).

        Non-finite values (``nan``, and ``inf`` such as the entropy production of a fit with a one-way link) are left
        out; :meth:`n_infinite` counts the infinite ones.
        """
        vals = self.scores[method].get(metric, [])
        if not vals:
            return float("nan"), float("nan")
        a = np.asarray(vals, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            finite = np.where(np.isfinite(a), a, np.nan)
            mean, sd = np.nanmean(finite, axis=0), np.nanstd(finite, axis=0)
        if a.ndim == 1:
            return float(mean), float(sd)
        return mean, sd

    def n_infinite(self, method: str, metric: str) -> int:
        """Number of contexts where a scalar metric is infinite (e.g. an entropy production with a one-way link)."""
        vals = np.asarray(self.scores[method].get(metric, []), dtype=np.float64)
        return int(np.isinf(vals).reshape(len(vals), -1).any(axis=1).sum()) if vals.size else 0

    def summary(self) -> dict[str, dict[str, Any]]:
        """``{method: {metric: {"mean", "sd", "n_infinite"}, "seconds", "n_contexts", "n_failed"}}`` (lists for arrays).

        Means and sds are over the finite values (see :meth:`mean_sd`).
        """
        out: dict[str, dict[str, Any]] = {}
        for m in self.methods:
            row: dict[str, Any] = {}
            for metric in self.scores[m]:
                mean, sd = self.mean_sd(m, metric)
                row[metric] = {"mean": np.asarray(mean).tolist(), "sd": np.asarray(sd).tolist(),
                               "n_infinite": self.n_infinite(m, metric)}
            sec = np.asarray(self.seconds[m]) if self.seconds[m] else np.full(1, np.nan)
            row["seconds"] = {"mean": float(sec.mean()), "sd": float(sec.std())}
            row["n_contexts"] = len(self.seconds[m])
            row["n_failed"] = len(self.errors[m])
            out[m] = row
        return out

    def pooled_calibration(self, method: str, truths: Sequence[Any]) -> dict[str, float] | None:
        """:func:`calibration` pooled over every scored context of ``method``.

        ``truths`` holds one ``Q_true`` per context (in the order of :attr:`contexts`). ``None`` when the method
        gives no standard deviations, or when the contexts have different numbers of states.
        """
        est = [e for e in self.estimates[method] if e.get("log_rate_std") is not None]
        if not est or {e["rate_matrix"].shape for e in est} != {np.shape(truths[est[0]["context"]])}:
            return None
        means = [e.get("log_rate_mean") for e in est]
        return calibration(np.stack([e["rate_matrix"] for e in est]), np.stack([e["log_rate_std"] for e in est]),
                           np.stack([np.asarray(truths[e["context"]], dtype=np.float64) for e in est]),
                           log_rate_mean=None if any(m is None for m in means) else np.stack(means))


def context_table(
    estimators: Mapping[str, Callable[..., Any]],
    contexts: Sequence[JumpContext],
    *,
    scorer: Scorer = score_rates,
    raise_errors: bool = False,
) -> ContextTable:
    r"""Fit every estimator on every context, time the fits and score them.

    For each method and context: ``est = factory(ctx)`` (or ``factory()`` for a factory without arguments),
    ``est.fit(ctx.states, ctx.times, ctx.lengths)`` timed with :func:`time.perf_counter`, then
    ``scorer(est, ctx)``. Summaries are mean :math:`\pm` population sd over the contexts
    (:meth:`ContextTable.summary`), as in FIM-MJP's tables.

    Parameters
    ----------
    estimators
        ``{name: factory}``; a factory returns an unfitted estimator with ``fit(states, times, lengths)`` and a
        ``rate_matrix_`` (and optionally ``log_rate_std_``).
    contexts
        The contexts (:class:`JumpContext`).
    scorer
        ``scorer(fitted, ctx) -> {metric: value}`` (default :func:`score_rates`).
    raise_errors
        Re-raise a failed fit; by default a :class:`dynfer.BadInputError` or ``RuntimeError`` of one fit is
        recorded in ``errors`` and the context is skipped for that method. Warnings raised by the fits are counted
        in ``warnings`` (not shown).

    Returns
    -------
    ContextTable
        Scores, seconds and estimates per method and context.
    """
    if not estimators:
        raise BadInputError("estimators", "an empty mapping", "at least one {name: factory}")
    if not contexts:
        raise BadInputError("contexts", "an empty sequence", "at least one JumpContext")
    names = [c.name or f"context {i}" for i, c in enumerate(contexts)]
    scores: dict[str, dict[str, list[Any]]] = {}
    seconds: dict[str, list[float]] = {}
    estimates: dict[str, list[dict[str, np.ndarray]]] = {}
    errors: dict[str, list[tuple[str, str]]] = {}
    raised: dict[str, dict[str, int]] = {}
    for method, factory in estimators.items():
        scores[method], seconds[method], estimates[method], errors[method] = {}, [], [], []
        raised[method] = {}
        for index, (cname, ctx) in enumerate(zip(names, contexts, strict=True)):
            est = _call_factory(factory, ctx)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.perf_counter()
                try:
                    est.fit(ctx.states, ctx.times, ctx.lengths)
                except (BadInputError, RuntimeError) as err:
                    if raise_errors:
                        raise
                    errors[method].append((cname, f"{type(err).__name__}: {err}"))
                    continue
                finally:
                    elapsed = time.perf_counter() - start
                    for w in caught:
                        msg = f"{w.category.__name__}: {w.message}"
                        raised[method][msg] = raised[method].get(msg, 0) + 1
            seconds[method].append(elapsed)
            std = getattr(est, "log_rate_std_", None)
            mean = _log_rate_mean(est)
            estimates[method].append({
                "context": index,
                "rate_matrix": np.asarray(est.rate_matrix_, dtype=np.float64),
                "log_rate_std": None if std is None else np.asarray(std, dtype=np.float64),
                "log_rate_mean": None if mean is None else np.asarray(mean, dtype=np.float64),
            })
            for metric, value in scorer(est, ctx).items():
                scores[method].setdefault(metric, []).append(value)
    return ContextTable(methods=list(estimators), contexts=names, scores=scores, seconds=seconds,
                        estimates=estimates, errors=errors, warnings=raised)
