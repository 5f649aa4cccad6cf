r"""Plots of a fitted policy evaluation: the value function against the data, and the Δt-convergence curve.

Both read what :func:`dynfer.tl.policy_evaluation` (and :func:`dynfer.tl.policy_dt_convergence`) stored in
``uns[key]``; neither refits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynfer._errors import BadInputError
from dynfer._validation import check_int
from dynfer.estimators.policy import as_policy_data
from dynfer.estimators.policy.martingale import martingale_terms
from dynfer.pl._utils import finish, new_axes
from dynfer.tl._policy_evaluation import DEFAULT_KEY, FACE, _keys, read_policy_data
from dynfer.tl._store import load_estimator, stored_entry

__all__ = ["dt_convergence", "policy_value"]


def monte_carlo_returns(adata: AnnData, key: str, **params: Any) -> dict[str, np.ndarray]:
    r"""The sampled returns :math:`G_k` of every step start, next to :math:`J_\theta` there.

    :math:`G_k = \sum_{j\ge k} e^{-\beta(t_j - t_k)}r_j\Delta t_j + e^{-\beta(t_K - t_k)}H` with :math:`H = h(X_K)`
    for a finite horizon and :math:`H = J_\theta(t_K, X_K)` otherwise (the bootstrapped tail of the martingale
    loss; ergodic: :math:`r_j - \hat V` and :math:`\beta = 0`): unbiased for :math:`J(t_k, X_k)` given the tail.

    Returns
    -------
    dict
        ``t``, ``x`` ``(S, d)``, ``returns`` and ``value`` (:math:`J_\theta(t_k, X_k)`).
    """
    entry = stored_entry(adata, key, face=FACE)
    est = load_estimator(adata, key, **params)
    rows = read_policy_data(adata, **_keys(entry))
    table = as_policy_data(rows.data())
    mt = martingale_terms(table, est.setting_, float(est.results()["discount"]), "relative")
    g = mt.returns.copy()
    if est.setting_ != "finite":
        ends = table.offsets[1:][table.step_traj] - 1
        g = g + mt.tail_discount * est.value(table.t[ends], table.x[ends])
    if est.setting_ == "ergodic":
        g = g - est.average_reward_ * mt.to_go
    t, x = table.t[table.step_from], table.x[table.step_from]
    return {"t": t, "x": x, "returns": g, "value": est.value(t, x), "traj": table.step_traj}


def _label(adata: AnnData, use_rep: str | None, component: int) -> str:
    if use_rep is None:
        return str(adata.var_names[component - 1])
    return f"{use_rep}{component}"


def policy_value(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    time: float | None = None,
    component: int = 1,
    n_points: int = 200,
    max_points: int = 2000,
    seed: int = 0,
    features: Any = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    r"""The fitted value :math:`J_\theta` (a curve) against the sampled returns of the data (dots).

    The dots are the returns :math:`G_k` of the samples (:func:`monte_carlo_returns`: the discounted rewards to the
    end of each trajectory plus the terminal reward, or the bootstrapped :math:`J_\theta` tail without a finite
    horizon), whose conditional mean is :math:`J`; the curve is :math:`J_\theta(t, x)` along the state coordinate
    ``component``, the other coordinates at the mean of the dots. For a finite horizon both are at one time
    (``time``; ``None``: the earliest sample time), one sample per trajectory (the nearest in time); otherwise all
    samples are shown (at most ``max_points``, drawn with ``seed``). Loads the stored model, never refits.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.policy_evaluation`.
    key
        Its ``key_added``.
    time
        Time of the curve and the dots (finite horizon).
    component
        State coordinate on the horizontal axis, counted from 1.
    n_points
        Points of the curve.
    max_points, seed
        Most dots drawn, and the seed of their subsample.
    features
        The user callable or module, when the fit used one (AnnData cannot hold it).
    ax, show, save, return_fig
        scanpy's plot conventions (see :func:`dynfer.pl._utils.finish`).

    Returns
    -------
    Axes, Figure or None
        As scanpy's plots.
    """
    entry = stored_entry(adata, key, face=FACE)
    keys = _keys(entry)
    mc = monte_carlo_returns(adata, key, **({} if features is None else {"features": features}))
    est = load_estimator(adata, key, **({} if features is None else {"features": features}))
    d = mc["x"].shape[1]
    comp = check_int(component, "component", 1)
    if comp > d:
        raise BadInputError("component", repr(component), f"a state coordinate in 1..{d}")
    n_points = check_int(n_points, "n_points", 2)
    max_points = check_int(max_points, "max_points", 1)
    keep = np.arange(len(mc["t"]))
    at = None
    if est.setting_ == "finite":
        at = float(mc["t"].min()) if time is None else float(time)
        if not np.isfinite(at):
            raise BadInputError("time", repr(time), "a finite time")
        pick = []
        for i in np.unique(mc["traj"]):
            idx = np.flatnonzero(mc["traj"] == i)
            pick.append(idx[np.argmin(np.abs(mc["t"][idx] - at))])
        keep = np.array(pick)
    if len(keep) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=max_points, replace=False))
    x, g = mc["x"][keep], mc["returns"][keep]
    grid = np.linspace(x[:, comp - 1].min(), x[:, comp - 1].max(), n_points)
    xs = np.repeat(x.mean(0, keepdims=True), n_points, axis=0)
    xs[:, comp - 1] = grid
    curve = est.value(at if at is not None else float(mc["t"].min()), xs)
    fig, ax = new_axes(ax, (5.0, 3.6))
    ax.scatter(x[:, comp - 1], g, s=6, alpha=0.35, color="0.45", linewidths=0, label="sampled returns")
    ax.plot(grid, curve, color="C0", lw=2, label=r"$J_\theta$")
    ax.set_xlabel(_label(adata, keys["use_rep"], comp))
    ax.set_ylabel("value")
    where = f" at t = {at:.3g}" if at is not None else ""
    ax.set_title(f"{est.method} ({est.setting_}){where}")
    ax.legend(loc="best", fontsize="small")
    return finish(fig, ax, show=show, save=save, return_fig=return_fig)


def dt_convergence(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    r"""The Δt-convergence curve :math:`|\hat\theta_{\Delta t} - \theta_{\rm ref}|` on log-log axes, with its slope.

    Parameters
    ----------
    adata
        AnnData with ``uns[key]["dt_convergence"]`` written by :func:`dynfer.tl.policy_dt_convergence`, or the
        dict that function returns.
    key
        The ``key_added`` of the fit.
    ax, show, save, return_fig
        scanpy's plot conventions.

    Returns
    -------
    Axes, Figure or None
        As scanpy's plots.
    """
    if isinstance(adata, AnnData):
        entry = stored_entry(adata, key, face=FACE)
        curve = entry.get("dt_convergence")
        if curve is None:
            raise BadInputError(f"adata.uns[{key!r}]", "no 'dt_convergence'",
                                "the curve of dynfer.tl.policy_dt_convergence (run it first)")
    elif isinstance(adata, Mapping):
        curve = adata
    else:
        raise BadInputError("adata", f"a {type(adata).__name__}", "an AnnData or the dict of "
                            "dynfer.tl.policy_dt_convergence")
    try:
        dt = np.asarray(curve["dt"], dtype=np.float64)
        err = np.asarray(curve["error"], dtype=np.float64)
        slope = float(curve["slope"])
    except (KeyError, TypeError, ValueError):
        raise BadInputError("dt_convergence", "an entry without numeric 'dt', 'error' and 'slope'",
                            "the output of dynfer.tl.policy_dt_convergence") from None
    use = (err > 0) & np.isfinite(err) & (dt > 0)
    fig, ax = new_axes(ax, (4.2, 3.6))
    ax.loglog(dt[use], err[use], "o", color="C0", label="error")
    if use.sum() >= 2 and np.isfinite(slope):
        logdt, loge = np.log(dt[use]), np.log(err[use])
        intercept = float(np.mean(loge - slope * logdt))
        line = np.exp(intercept + slope * logdt)
        ax.loglog(dt[use], line, "-", color="C1", label=f"slope {slope:.2f}")
    ax.set_xlabel(r"$\Delta t$")
    ax.set_ylabel(r"$|\hat\theta_{\Delta t} - \theta_{\rm ref}|$" + f" ({curve.get('reference', 'reference')})")
    ax.legend(loc="best", fontsize="small")
    return finish(fig, ax, show=show, save=save, return_fig=return_fig)
