r"""``tl.policy_evaluation``: the AnnData face of :class:`~dynfer.estimators.policy.MartingalePolicyEvaluation`.

Layout (the trajectories data model of :mod:`dynfer._keys`): one row per sample; the state in ``X`` (or
``obsm[use_rep]``); ``obs[time_key]`` the sample time, ``obs[trajectory_key]`` the trajectory (without the column
all rows are one trajectory), ``obs[reward_key]`` the running reward rate :math:`r(t, X_t)`; optionally
``obs[terminal_key]``, the terminal reward :math:`h(X_T)`, read on each trajectory's last row (other rows are
ignored and may be NaN). Rows are grouped by trajectory (in order of first appearance) and put in time order.

* :func:`policy_evaluation` fits and stores the estimator (:func:`dynfer.tl.store_estimator`; the results, i.e.
  coefficients, :math:`\hat V`, loss history, Δt statistics, also at the top level of ``uns[key_added]``);
* :func:`policy_value` loads it (never refitting) and evaluates :math:`J_\theta(t, x)`;
* :func:`policy_dt_convergence` refits the stored parameters on coarser grids (every ``m``-th sample) and records
  the Δt-convergence curve :math:`|\hat\theta_{\Delta t} - \theta_{\rm ref}|` with its log-log slope in
  ``uns[key]["dt_convergence"]`` (plotted by :func:`dynfer.pl.dt_convergence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from anndata import AnnData

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.estimators._base import check_param_names
from dynfer.estimators._codec import decode_params
from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData
from dynfer.tl._inputs import as_actual, representation
from dynfer.tl._store import load_estimator, results_to_top_level, store_estimator, stored_entry

__all__ = ["PolicyRows", "policy_dt_convergence", "policy_evaluation", "policy_value", "read_policy_data"]

DEFAULT_KEY = "policy_evaluation"
FACE = "dynfer.tl.policy_evaluation"
KEYS_FIELD = "policy_keys"


class PolicyRows:
    """The trajectories read from AnnData: one row-index array per trajectory, in time order, and the data."""

    def __init__(self, rows: list[np.ndarray], x: np.ndarray, t: np.ndarray, r: np.ndarray,
                 h: np.ndarray | None) -> None:
        self.rows, self.x, self.t, self.r, self.h = rows, x, t, r, h

    def data(self, every: int = 1) -> PolicyData:
        """The :class:`PolicyData`, keeping every ``every``-th sample counted back from each trajectory's end."""
        picks = [rr[::-1][::every][::-1] for rr in self.rows]
        if any(len(p) < 2 for p in picks):
            raise BadInputError("dts", f"a step {every} times the data's", "coarse grids that keep at least 2 "
                                "samples per trajectory")
        terminal = None if self.h is None else np.array([self.h[p[-1]] for p in picks])
        return PolicyData([self.t[p] for p in picks], [self.x[p] for p in picks], [self.r[p] for p in picks],
                          terminal)


def _check_key(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInputError(name, repr(value), "the name of a column of adata.obs (a non-empty string)")
    return value


def _numeric_column(adata: AnnData, key: str, what: str) -> np.ndarray:
    if key not in adata.obs:
        raise BadInputError(f"adata.obs[{key!r}]", "no such column", f"the {what} of every row "
                            f"(columns: {list(adata.obs.columns)})")
    try:
        return adata.obs[key].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"adata.obs[{key!r}]", f"dtype {adata.obs[key].dtype}", f"numbers ({what})") from None


def read_policy_data(adata: AnnData, *, reward_key: str, time_key: str, trajectory_key: str,
                     terminal_key: str | None, use_rep: str | None) -> PolicyRows:
    """Read and check the trajectories (see the module docstring for the layout).

    Returns
    -------
    PolicyRows
        The row indices per trajectory and the arrays, checked (naming the ``obs`` column or representation).
    """
    x = representation(adata, use_rep)
    name = "X" if use_rep in (None, "X") else f"obsm[{use_rep!r}]"
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise BadInputError(f"the representation {name}", f"{int(bad.sum())} row(s) with NaN or infinite values "
                            f"(first: {str(adata.obs_names[np.flatnonzero(bad)[0]])!r})", "finite states")
    t = _numeric_column(adata, time_key, "sample time")
    if not np.isfinite(t).all():
        raise BadInputError(f"adata.obs[{time_key!r}]", "NaN or infinite times", "finite times")
    r = _numeric_column(adata, reward_key, "running reward rate")
    if not np.isfinite(r).all():
        raise BadInputError(f"adata.obs[{reward_key!r}]", "NaN or infinite rewards", "finite reward rates")
    if trajectory_key in adata.obs:
        labels = adata.obs[trajectory_key].astype(str).to_numpy()
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        order = np.argsort(first)  # trajectories in order of first appearance
        groups = [np.flatnonzero(inverse == g) for g in order]
    else:
        labels = np.full(adata.n_obs, "all rows")
        groups = [np.arange(adata.n_obs)]
    rows = []
    for g in groups:
        rr = g[np.argsort(t[g], kind="stable")]
        if len(rr) < 2:
            raise BadInputError(f"adata.obs[{trajectory_key!r}]", f"trajectory {str(labels[rr[0]])!r} with one row",
                                "at least 2 samples per trajectory")
        if not (np.diff(t[rr]) > 0).all():
            raise BadInputError(f"adata.obs[{time_key!r}]", "two rows of one trajectory at the same time",
                                "distinct times within each trajectory")
        rows.append(rr)
    h = None
    if terminal_key is not None:
        h = _numeric_column(adata, terminal_key, "terminal reward on each trajectory's last row")
        ends = np.array([rr[-1] for rr in rows])
        if not np.isfinite(h[ends]).all():
            raise BadInputError(f"adata.obs[{terminal_key!r}]", "NaN or infinite values on a trajectory's last row",
                                "the finite terminal reward h(X_T) on each trajectory's last row")
    return PolicyRows(rows, x, t, r, h)


def _keys(entry: Any) -> dict[str, Any]:
    keys = entry.get(KEYS_FIELD) if hasattr(entry, "get") else None
    if keys is None:
        raise BadInputError(f"the entry in uns ({FACE})", "no record of the obs columns read",
                            f"an entry written by {FACE} (refit it)")
    out = {k: str(v) for k, v in dict(keys).items()}
    out["terminal_key"] = out.get("terminal_key") or None
    out["use_rep"] = out.get("use_rep") or None
    return out


def policy_evaluation(
    adata: AnnData,
    *,
    reward_key: str = "reward",
    discount: float = 0.0,
    method: str = "martingale",
    features: Any = "polynomial",
    time_key: str = K.TIME,
    trajectory_key: str = K.TRAJECTORY,
    terminal_key: str | None = None,
    use_rep: str | None = None,
    key_added: str = DEFAULT_KEY,
    copy: bool = False,
    **kwargs: Any,
) -> AnnData | None:
    r"""Evaluate a fixed policy from trajectories: the value function :math:`J_\theta(t, x)` (Jia & Zhou 2022).

    :math:`J^\theta` is the value function iff :math:`e^{-\beta t}J^\theta(t, X_t) + \int_0^t e^{-\beta s}r_s\,ds`
    is a martingale (with :math:`J^\theta(T, \cdot) = h` for a finite horizon); ``method`` picks how that is
    imposed on the data: the martingale loss (``"martingale"``), TD(0)/TD(:math:`\lambda`) (``"td"``), LSTD
    (``"lstd"``), GTD/GTD2/TDC (``"gtd"``) or the naive mean-square TD error (``"mstde"``, the documented failure
    mode). See :class:`~dynfer.estimators.policy.MartingalePolicyEvaluation` for the equations.

    Parameters
    ----------
    adata
        One row per sample (see the module docstring). A view is made actual first.
    reward_key
        ``obs`` column of the running reward rate.
    discount
        :math:`\beta \ge 0`.
    method
        ``"martingale"``, ``"td"``, ``"lstd"``, ``"gtd"`` or ``"mstde"``.
    features
        ``"polynomial"``, ``"rbf"``, ``"mlp"``, a callable ``phi(t, x)`` or a ``torch.nn.Module`` value (neither of
        the last two can be held by AnnData: pass it again to :func:`dynfer.tl.load_estimator`).
    time_key, trajectory_key
        ``obs`` columns of the sample time and the trajectory.
    terminal_key
        ``obs`` column of the terminal reward (finite horizon), read on each trajectory's last row.
    use_rep
        ``None`` for ``X``, else the ``obsm`` key of the states.
    key_added
        The fitted estimator goes to ``uns[key_added]``.
    copy
        Return a modified copy instead of writing into ``adata``.
    **kwargs
        Other parameters of :class:`~dynfer.estimators.policy.MartingalePolicyEvaluation` (``degree``,
        ``time_degree``, ``setting``, ``lam``, ``variant``, ``learning_rate``, ``schedule``, ``n_epochs``, ``tol``,
        ``batch_size``, ``seed``, ``dtype``, ...). All are stored.

    Returns
    -------
    AnnData or None
        A copy when ``copy=True``, else ``None`` (the convention of every dynfer face). The fitted estimator is in
        ``uns[key_added]`` (get it back with ``dynfer.tl.load_estimator(adata, key_added)``), with its results at
        the top level: ``coef``, ``feature_names``, ``average_reward``, ``loss``, ``method``, ``setting``,
        ``horizon``, ``dt_min``/``dt_median``/``dt_mean``/``dt_max``. Nothing is written if the fit fails.

    Raises
    ------
    BadInputError
        A missing or non-numeric ``obs`` column (named), NaN rewards, states or times, a trajectory with one row,
        repeated times, a terminal reward missing on a last row, or a bad estimator parameter (named).

    Examples
    --------
    >>> import dynfer                                                          # doctest: +SKIP
    >>> dynfer.tl.policy_evaluation(adata, reward_key="reward", discount=1.0, method="lstd")   # doctest: +SKIP
    >>> dynfer.tl.load_estimator(adata, "policy_evaluation").coef_            # doctest: +SKIP
    """
    if not isinstance(adata, AnnData):
        raise BadInputError("adata", f"a {type(adata).__name__}", "an AnnData")
    check_param_names(MartingalePolicyEvaluation, {**kwargs, "method": method, "features": features,
                                                   "discount": discount}, FACE)
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise BadInputError("key_added", repr(key_added), "a non-empty string without '/'")
    reward_key = _check_key(reward_key, "reward_key")
    time_key = _check_key(time_key, "time_key")
    trajectory_key = _check_key(trajectory_key, "trajectory_key")
    if terminal_key is not None:
        terminal_key = _check_key(terminal_key, "terminal_key")
    rows = read_policy_data(adata, reward_key=reward_key, time_key=time_key, trajectory_key=trajectory_key,
                            terminal_key=terminal_key, use_rep=use_rep)
    est = MartingalePolicyEvaluation(method, features=features, discount=discount, **kwargs).fit(rows.data())

    out = adata.copy() if copy else adata
    as_actual(out)
    obs_keys = tuple(k for k in (time_key, trajectory_key, reward_key, terminal_key) if k is not None and k in out.obs)
    store_estimator(out, est, key_added=key_added, use_rep=use_rep, obs_keys=obs_keys)
    entry = out.uns[key_added]
    results_to_top_level(entry)
    entry[KEYS_FIELD] = {"reward_key": reward_key, "time_key": time_key, "trajectory_key": trajectory_key,
                         "terminal_key": terminal_key or "", "use_rep": use_rep or ""}
    return out if copy else None


def policy_value(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    t: Any = None,
    x: Any = None,
    verify: bool = True,
    **params: Any,
) -> np.ndarray:
    r"""The fitted value :math:`J_\theta(t, x)` of the estimator stored in ``uns[key]`` (loaded, never refitted).

    Parameters
    ----------
    adata
        AnnData fitted by :func:`policy_evaluation`.
    key
        Its ``key_added``.
    t, x
        Times (scalar or ``(n,)``) and states ``(n, d)`` to evaluate at; ``None`` (both): every row of ``adata``
        at its own time and state.
    verify
        Check that the data did not change since the fit (see :func:`dynfer.tl.load_estimator`).
    **params
        Passed to :func:`dynfer.tl.load_estimator` (``features=`` for a user callable or module, ``device=``).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` values (``(n_obs,)`` in row order when ``t`` and ``x`` are ``None``).
    """
    entry = stored_entry(adata, key, face=FACE)
    est = load_estimator(adata, key, verify=verify, **params)
    if (t is None) != (x is None):
        raise BadInputError("t, x", "only one of them", "both (times and states) or neither (every row)")
    if t is None:
        keys = _keys(entry)
        t = _numeric_column(adata, keys["time_key"], "sample time")
        x = representation(adata, keys["use_rep"])
    return est.value(t, x)


def _coef(est: MartingalePolicyEvaluation) -> np.ndarray:
    if est.coef_ is None:
        raise BadInputError("key", "a fit with a module value (no coefficients)",
                            "a fit with linear features: the Δt curve compares coefficients")
    theta = np.asarray(est.coef_, dtype=np.float64)
    return theta if est.average_reward_ is None else np.append(theta, est.average_reward_)


def policy_dt_convergence(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    factors: Sequence[int] = (1, 2, 4, 8, 16),
    dts: Sequence[float] | None = None,
    truth: Any = None,
    **params: Any,
) -> dict[str, Any]:
    r"""The Δt-convergence curve: refit the stored parameters on coarser grids and record the error.

    For each factor :math:`m` every :math:`m`-th sample of each trajectory is kept (counted back from its last
    sample, so terminal rewards stay where they are observed), the stored estimator's parameters are refitted and
    :math:`e(\Delta t) = |\hat\theta_{\Delta t} - \theta_{\rm ref}|_2` is recorded, with
    :math:`\theta_{\rm ref}` = ``truth`` (the coefficients, and :math:`V` last in the ergodic setting) or, without
    it, the stored fit on the finest grid (then the factor 1 is left out of the slope). The slope of
    :math:`\log e` against :math:`\log\Delta t` (least squares) is the empirical order. The stored estimator is
    not changed.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`policy_evaluation` with linear features.
    key
        Its ``key_added``; the curve goes to ``uns[key]["dt_convergence"]``.
    factors
        Subsampling factors (integers >= 1).
    dts
        Target mean steps instead of ``factors`` (each rounded to the nearest factor of the data's mean step).
    truth
        Exact coefficients, or ``None``.
    **params
        Parameters that AnnData could not hold (``features=`` for a callable), passed to the refits too.

    Returns
    -------
    dict
        ``{"dt", "error", "coef", "slope", "reference"}`` (also written to ``uns[key]["dt_convergence"]``).
    """
    entry = stored_entry(adata, key, face=FACE)
    est = load_estimator(adata, key, **params)
    keys = _keys(entry)
    if dts is not None:
        try:
            targets = np.asarray(dts, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise BadInputError("dts", repr(dts), "positive step sizes") from None
        if targets.size == 0 or not (np.isfinite(targets).all() and (targets > 0).all()):
            raise BadInputError("dts", repr(dts), "positive step sizes")
        base = float(est.dt_stats_["mean"])
        factors = sorted({max(1, int(round(d / base))) for d in targets})
    try:
        fac = [int(f) for f in factors]
    except (TypeError, ValueError):
        raise BadInputError("factors", repr(factors), "integers >= 1") from None
    if not fac or any(f < 1 for f in fac) or any(f != g for f, g in zip(fac, factors, strict=True)):
        raise BadInputError("factors", repr(factors), "a non-empty sequence of integers >= 1")
    rows = read_policy_data(adata, **keys)
    stored = {**decode_params(entry["params"]), **params}
    reference = _coef(est)
    if truth is not None:
        try:
            reference = np.asarray(truth, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise BadInputError("truth", repr(truth), "numbers: the exact coefficients") from None
        if reference.shape != _coef(est).shape or not np.isfinite(reference).all():
            raise BadInputError("truth", f"shape {reference.shape}", f"{_coef(est).shape[0]} finite coefficients")
    dts, errors, coefs = [], [], []
    for f in fac:
        fit = est if f == 1 else MartingalePolicyEvaluation(**stored).fit(rows.data(f))
        theta = _coef(fit)
        coefs.append(theta)
        dts.append(fit.dt_stats_["mean"])
        errors.append(float(np.linalg.norm(theta - reference)))
    dt, err = np.array(dts), np.array(errors)
    use = (err > 0) & np.isfinite(err)
    slope = float(np.polyfit(np.log(dt[use]), np.log(err[use]), 1)[0]) if use.sum() >= 2 else float("nan")
    curve = {"dt": dt, "error": err, "coef": np.array(coefs), "factors": np.array(fac), "slope": slope,
             "reference": "truth" if truth is not None else "finest"}
    as_actual(adata)
    adata.uns[key]["dt_convergence"] = curve
    return curve
