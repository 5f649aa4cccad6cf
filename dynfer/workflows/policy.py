r"""The body shared by the policy-evaluation workflows: every method on one problem, value errors, the Δt sweep.

A workflow describes one problem of :mod:`dynfer.datasets.synthetic_control` as a :class:`PolicyBenchmark` (the
simulator at the finest mesh, the methods, the sweep factors, the order predicted for the discretisation bias) and
calls :func:`run_policy_workflow`. For every method (:func:`policy_methods`: martingale loss, TD(0), TD(λ), LSTD,
LSTD(λ), GTD, GTD2, TDC and the MSTDE baseline) it records, against the closed form:

* the parameter error :math:`\|\hat\theta - \theta^*\| / \|\theta^*\|` in the problem's exact feature family (with
  :math:`V` appended in the ergodic setting) and the relative :math:`L^2` value error
  :math:`\|\hat J - J\| / \|J\|` over the data's samples with :math:`t < T` (centred in the ergodic setting, where
  :math:`J` is defined up to a constant), plus :math:`|\hat V - V| / |V|` for the ergodic problem;
* the same next to two trivial baselines (reference notes sec. 3): Monte Carlo returns averaged per state (and
  time) bin, :func:`binned_returns_value`, and the zero value function;
* the Δt sweep: the data are simulated once at the finest mesh and *subsampled* (every ``m``-th sample, so every
  mesh sees the same paths and the statistical error is common to all meshes), each method refitted at each mesh,
  and the slope of :math:`\log\|\hat\theta_{\Delta t} - \theta^*\|` against :math:`\log\Delta t` fitted over the
  meshes whose error is above three times the split-half noise floor (the half-difference of the fits on the two
  halves of the paths at the finest mesh);
* seconds per fit.

The order predicted for the discretised estimators ([derived]; the reference leaves the paper's order "not
verified"): at the true value, Itô-Taylor gives :math:`E[J(t_{k+1}, X_{k+1}) - J(t_k, X_k) \mid X_k]
= (\partial_t + \mathcal L)J\,\Delta t + O(\Delta t^2) = (\beta J_k - r_k)\Delta t + O(\Delta t^2)`, so the TD
error :math:`\delta_k = J(t_{k+1}, X_{k+1}) - J(t_k, X_k) + (r_k - \beta J_k)\Delta t` (left-point rewards and
discount) has :math:`E[\delta_k \mid X_k] = O(\Delta t^2)`: :math:`O(\Delta t)` per unit time. Every moment
equation (TD, LSTD, GTD; the martingale loss through its left-point returns) is the continuous one plus
:math:`O(\Delta t)` with an :math:`O(1)` Jacobian, so :math:`\hat\theta_{\Delta t} - \theta^* = O(\Delta t)`:
**order 1** when there is a running reward or a discount (OU, LQ, mean-variance; there the Euler-simulated data add
their own :math:`O(\Delta t/\text{substeps})`). With :math:`r = 0`, :math:`\beta = 0` and exactly simulated
transitions (BM, GBM) :math:`J(t_k, X_k)` is a martingale and :math:`E[\delta_k \mid X_k] = 0` exactly at
:math:`\theta^*`: **no discretisation bias**, only the statistical error. The MSTDE's limit is not
:math:`\theta^*` at any mesh.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from dynfer._errors import BadInputError
from dynfer.datasets.synthetic_control import exact_value

__all__ = [
    "PolicyBenchmark",
    "binned_returns_value",
    "evaluate_problem",
    "fitted_slope",
    "policy_data",
    "policy_methods",
    "report_problem",
    "run_policy_workflow",
    "split_paths",
    "subsample",
]

CONSISTENT_GOAL = 0.02
BASELINES = ("binned MC returns", "zero value")


# ---------------------------------------------------------------------------------------------------- data
def _grid(adata: ad.AnnData) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    traj = adata.obs["trajectory"].to_numpy()
    n = int(len(np.unique(traj)))
    t = adata.obs["time"].to_numpy().reshape(n, -1)
    x = np.asarray(adata.X, dtype=np.float64).reshape(n, t.shape[1], -1)
    r = adata.obs["reward"].to_numpy().reshape(n, -1)
    return n, t, x, r


def policy_data(adata: ad.AnnData) -> Any:
    """The :class:`~dynfer.estimators.policy.PolicyData` of a simulated problem (equal-length trajectories)."""
    from dynfer.estimators.policy import PolicyData

    n, t, x, r = _grid(adata)
    terminal = None
    if "terminal_reward" in adata.obs:
        terminal = adata.obs["terminal_reward"].to_numpy().reshape(n, -1)[:, -1]
    return PolicyData(t, x, r, terminal_rewards=terminal)


def subsample(adata: ad.AnnData, factor: int) -> ad.AnnData:
    """Every ``factor``-th sample of each trajectory (the mesh ``factor`` times coarser, the same paths)."""
    n, t, _, _ = _grid(adata)
    n_times = t.shape[1]
    if (n_times - 1) % factor:
        raise BadInputError("factor", f"{factor} with {n_times - 1} steps per path",
                            "a divisor of the number of steps (the last sample must stay)")
    keep = (np.arange(n_times) % factor == 0)[None, :].repeat(n, 0).reshape(-1)
    out = adata[keep].copy()
    out.uns["policy_problem"] = {**adata.uns["policy_problem"], "dt": float(adata.uns["policy_problem"]["dt"] * factor)}
    return out


def split_paths(adata: ad.AnnData, part: int) -> ad.AnnData:
    """The first (``part=0``) or second (``part=1``) half of the trajectories."""
    traj = adata.obs["trajectory"].to_numpy()
    ids = np.unique(traj)
    half = ids[: len(ids) // 2] if part == 0 else ids[len(ids) // 2 :]
    out = adata[np.isin(traj, half)].copy()
    out.uns["policy_problem"] = {**adata.uns["policy_problem"], "n_paths": int(len(half))}
    return out


# ---------------------------------------------------------------------------------------------------- methods
def policy_methods(features: Any, *, lam: float = 0.5, linear_features: Any = None,
                   martingale_weights: Sequence[str] = ("reference",)) -> dict[str, dict[str, Any]]:
    r"""``{label: MartingalePolicyEvaluation keywords}`` for every method of the comparison.

    ``features`` is the value family (a callable :math:`\phi(t, x)` or an ``nn.Module`` value); the methods that
    need a linear value (LSTD, GTD) take ``linear_features`` when ``features`` is a module (``None``: left out).
    ``martingale_weights``: one martingale-loss row per weighting (``"reference"``: :math:`e^{-2\beta(t-t_0)}`,
    ``"relative"``: none).
    """
    import torch

    linear = features if not isinstance(features, torch.nn.Module) else linear_features
    rows: dict[str, dict[str, Any]] = {}
    for w in martingale_weights:
        rows["martingale" if w == "reference" else f"martingale ({w})"] = {"method": "martingale", "weights": w,
                                                                            "features": features}
    rows["TD(0)"] = {"method": "td", "features": features}
    rows[f"TD(λ={lam:g})"] = {"method": "td", "lam": lam, "features": features}
    if linear is not None:
        rows["LSTD"] = {"method": "lstd", "features": linear}
        rows[f"LSTD(λ={lam:g})"] = {"method": "lstd", "lam": lam, "features": linear}
        for variant, label in (("gtd", "GTD (A = I)"), ("gtd2", "GTD2"), ("tdc", "TDC")):
            rows[label] = {"method": "gtd", "variant": variant, "features": linear}
    rows["MSTDE"] = {"method": "mstde", "features": features}
    return rows


# ---------------------------------------------------------------------------------------------------- baselines
def _returns(adata: ad.AnnData, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample Monte Carlo return and whether it is usable (enough time to go on a truncated path)."""
    problem = adata.uns["policy_problem"]
    n, t, _, r = _grid(adata)
    beta, setting = float(problem["discount"]), str(problem["setting"])
    dt = np.diff(t, axis=1)
    flow = r[:, :-1] * dt
    if setting == "ergodic":
        flow = flow - float(np.sum(flow) / np.sum(dt)) * dt
    out = np.zeros_like(t)
    acc = np.zeros(n)
    if setting == "finite":
        acc = adata.obs["terminal_reward"].to_numpy().reshape(n, -1)[:, -1].copy()
    out[:, -1] = acc
    for k in range(t.shape[1] - 2, -1, -1):
        acc = flow[:, k] + np.exp(-beta * dt[:, k]) * acc
        out[:, k] = acc
    to_go = t[:, -1:] - t
    if setting == "finite":
        usable = np.ones_like(t, dtype=bool)
    elif setting == "discounted":
        usable = to_go >= window
    else:  # ergodic: a return over the next `window` time units only
        cut = np.searchsorted(t[0], t[0] + window)
        ok = cut < t.shape[1]
        shifted = np.zeros_like(out)
        shifted[:, ok] = out[:, cut[ok]]
        out = out - shifted
        usable = np.broadcast_to(ok, t.shape).copy()
    return out.reshape(-1), usable.reshape(-1)


def binned_returns_value(adata: ad.AnnData, *, n_bins: int = 20, time_bins: int = 5,
                         window: float | None = None) -> np.ndarray:
    r"""The plain Monte Carlo baseline: the mean return of the samples in each state (and time) bin, per sample.

    Returns :math:`G_k = \sum_{j \ge k} e^{-\beta(t_j - t_k)} r_j\Delta t_j` (+ the discounted terminal reward)
    are averaged over ``n_bins`` state-quantile bins (times ``time_bins`` time bins for a finite horizon). A
    truncated infinite-horizon path gives a usable return only with at least ``window`` time to go (default
    :math:`\ln(100)/\beta`, discount weight below 1 %); the ergodic return is :math:`\sum (r_j - \bar r)\Delta t_j`
    over the next ``window`` (default 10) time units, :math:`\bar r` the mean reward rate; both defaults are capped at
    half the simulated path length (then the truncated returns are biased low). Unbiased in each bin
    up to the bin width and the truncation, high variance (reference notes, trivial baselines).
    """
    problem = adata.uns["policy_problem"]
    if window is None:
        window = float(np.log(100.0) / problem["discount"]) if problem["setting"] == "discounted" else 10.0
        window = min(window, 0.5 * float(problem["simulated_length"]))  # short paths: truncated returns, biased
    g, usable = _returns(adata, window)
    x = np.asarray(adata.X, dtype=np.float64)[:, 0]
    t = adata.obs["time"].to_numpy()
    edges = np.quantile(x[usable], np.linspace(0, 1, n_bins + 1)[1:-1]) if usable.any() else np.array([])
    xb = np.searchsorted(edges, x)
    tb = np.zeros_like(xb)
    if problem["setting"] == "finite":
        tb = np.minimum((t / problem["horizon"] * time_bins).astype(int), time_bins - 1)
    cell = tb * (n_bins + 1) + xb
    sums = np.bincount(cell[usable], weights=g[usable], minlength=int(cell.max()) + 1)
    counts = np.bincount(cell[usable], minlength=int(cell.max()) + 1)
    fallback = float(g[usable].mean()) if usable.any() else 0.0
    means = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
    return means[cell]


# ---------------------------------------------------------------------------------------------------- scoring
def _truth_vector(problem: Mapping[str, Any]) -> np.ndarray:
    theta = np.asarray(problem["theta_star"], dtype=np.float64)
    if problem["setting"] == "ergodic":
        theta = np.append(theta, float(problem["average_reward"]))
    return theta


def _theta_hat(est: Any, problem: Mapping[str, Any]) -> np.ndarray | None:
    if est.coef_ is None:  # a module value: its parameters named *theta
        params = [p.detach().cpu().double().reshape(-1).numpy() for n, p in est.value_model_.named_parameters()
                  if n.split(".")[-1] == "theta"]
        return np.concatenate(params) if params else None
    coef = np.asarray(est.coef_, dtype=np.float64)
    if problem["name"] == "gbm_power":  # the Taylor family x^p tau^j: theta = c_1 / c_0
        return np.array([coef[1] / coef[0]])
    if problem["setting"] == "ergodic":
        coef = np.append(coef, float(est.average_reward_))
    return coef


def _rows(adata: ad.AnnData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    problem = adata.uns["policy_problem"]
    t = adata.obs["time"].to_numpy()
    x = np.asarray(adata.X, dtype=np.float64)
    keep = t < problem["horizon"] - 1e-12 if problem["setting"] == "finite" else np.ones(len(t), dtype=bool)
    return t[keep], x[keep], keep


def value_error(values: np.ndarray, adata: ad.AnnData) -> float:
    """Relative L2 error of ``values`` (one per sample with t < T) against the closed form (centred if ergodic)."""
    problem = adata.uns["policy_problem"]
    t, x, _ = _rows(adata)
    exact = exact_value(problem, t, x)
    est = np.asarray(values, dtype=np.float64)
    if problem["setting"] == "ergodic":
        exact, est = exact - exact.mean(), est - est.mean()
    return float(np.linalg.norm(est - exact) / np.linalg.norm(exact))


def _stationary_gram(problem: Mapping[str, Any]) -> np.ndarray:
    """``Cov_pi((x^2, x))`` under the stationary law of the ergodic LQ (its exact moments)."""
    from dynfer.datasets._control_values import ergodic_lq_stationary_moments

    m = ergodic_lq_stationary_moments(problem["parameters"], 4)
    return np.array([[m[4] - m[2] ** 2, m[3] - m[2] * m[1]], [m[3] - m[2] * m[1], m[2] - m[1] ** 2]])


def stationary_value_error(theta: np.ndarray, problem: Mapping[str, Any]) -> float:
    r"""Ergodic LQ: :math:`\|\hat J - J\|_{L^2(\pi)}/\|J\|_{L^2(\pi)}` of the centred values under the stationary law.

    With :math:`J - E_\pi J = \theta^\top(u - E_\pi u)`, :math:`u = (x^2, x)`, this is
    :math:`\sqrt{\Delta\theta^\top G\,\Delta\theta / \theta^{*\top}G\,\theta^*}` with
    :math:`G = \mathrm{Cov}_\pi(u)` from the exact stationary moments
    (:func:`~dynfer.datasets._control_values.ergodic_lq_stationary_moments`): the error of the relative value a
    user sees at typical states, free of the starting law and of the sample ([derived]).
    """
    G = _stationary_gram(problem)
    truth = np.asarray(problem["theta_star"], dtype=np.float64)
    diff = np.asarray(theta, dtype=np.float64)[:2] - truth
    return float(np.sqrt(diff @ G @ diff / (truth @ G @ truth)))


def ergodic_lstd_standard_errors(adata: ad.AnnData) -> dict[str, float]:
    r"""Expected statistical errors of LSTD on the ergodic LQ data, from the sandwich covariance ([derived]).

    With :math:`\xi_k = (x_k^2, x_k, 1)`, :math:`a_k = (\Delta x_k^2, \Delta x_k, -\Delta t)` and the TD errors
    :math:`\hat\delta_k` at the LSTD root (computed here in numpy, not by the estimator), the estimate's covariance is
    :math:`\Sigma = A^{-1}BA^{-\top}`, :math:`A = \sum_k\xi_ka_k^\top`, :math:`B = \sum_k\xi_k\xi_k^\top\hat\delta_k^2`
    (martingale increments are uncorrelated along a path and paths are independent). Returned: the root-mean-square
    stationary value error :math:`\sqrt{\mathrm{tr}(G\Sigma_{\theta\theta})/\theta^{*\top}G\theta^*}`
    (:func:`stationary_value_error`) and the standard error of :math:`\hat V` relative to :math:`|V|`; both scale as
    :math:`(\text{total time})^{-1/2}`.
    """
    problem = adata.uns["policy_problem"]
    _, t, x, r = _grid(adata)
    x = x[..., 0]
    dt = np.diff(t, axis=1).reshape(-1)
    x0, x1 = x[:, :-1].reshape(-1), x[:, 1:].reshape(-1)
    xi = np.stack([x0**2, x0, np.ones_like(x0)], 1)
    a = np.stack([x1**2 - x0**2, x1 - x0, -dt], 1)
    c = r[:, :-1].reshape(-1) * dt
    A = xi.T @ a
    theta = np.linalg.solve(A, -(xi.T @ c))
    delta = c + a @ theta
    B = (xi * delta[:, None] ** 2).T @ xi
    inv = np.linalg.inv(A)
    cov = inv @ B @ inv.T
    G = _stationary_gram(problem)
    truth = np.asarray(problem["theta_star"], dtype=np.float64)
    return {"value_error_rms": float(np.sqrt(np.trace(G @ cov[:2, :2]) / (truth @ G @ truth))),
            "average_reward_se": float(np.sqrt(cov[2, 2]) / abs(float(problem["average_reward"])))}


def score_fit(est: Any, adata: ad.AnnData) -> dict[str, Any]:
    """Parameter, value and average-reward errors of a fitted estimator against the closed form."""
    problem = adata.uns["policy_problem"]
    t, x, _ = _rows(adata)
    out: dict[str, Any] = {"value_error": value_error(est.value(t, x), adata)}
    theta, truth = _theta_hat(est, problem), _truth_vector(problem)
    if theta is not None and theta.shape == truth.shape:
        out["theta"] = theta.tolist()
        out["theta_error"] = float(np.linalg.norm(theta - truth) / np.linalg.norm(truth))
    if problem["setting"] == "ergodic":
        v = float(problem["average_reward"])
        out["average_reward"] = float(est.average_reward_)
        out["average_reward_error"] = abs(float(est.average_reward_) - v) / abs(v)
        if theta is not None:
            out["stationary_value_error"] = stationary_value_error(theta, problem)
    return out


def _fit(kwargs: Mapping[str, Any], adata: ad.AnnData, *, seed: int, device: str | None) -> tuple[Any, float]:
    from dynfer.estimators.policy import MartingalePolicyEvaluation

    problem = adata.uns["policy_problem"]
    discount = float(problem["discount"]) if problem["setting"] == "discounted" else 0.0
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MartingalePolicyEvaluation(**kwargs, discount=discount, setting=problem["setting"], seed=seed,
                                         device=device).fit(policy_data(adata))
    return est, time.perf_counter() - start


def fitted_slope(dts: Sequence[float], errors: Sequence[float], floor: float) -> float | None:
    """Least-squares slope of log error on log Δt over the meshes with error > 3 x ``floor`` (None if < 3 of them)."""
    d, e = np.asarray(dts, dtype=np.float64), np.asarray(errors, dtype=np.float64)
    ok = np.isfinite(e) & (e > 3 * floor)
    if ok.sum() < 3:
        return None
    return float(np.polyfit(np.log(d[ok]), np.log(e[ok]), 1)[0])


# ---------------------------------------------------------------------------------------------------- problems
@dataclass
class PolicyBenchmark:
    """One policy-evaluation problem as a workflow sees it.

    Attributes
    ----------
    name, title, description
        Metrics key, report heading and the paragraph describing data and protocol.
    simulate
        ``simulate(seed) -> AnnData`` at the finest mesh (a simulator of :mod:`dynfer.datasets.synthetic_control`).
    methods
        ``{label: estimator keywords}`` (:func:`policy_methods`).
    factors
        Sweep meshes as multiples of the finest (1 first: the value-error table is at the finest mesh).
    derived_order
        The order of the discretisation bias derived for the problem (``None``: no bias, see the module docstring).
    order_note
        One sentence on where that order comes from.
    goal
        ``(metric, bound)`` that every consistent method must meet at the finest mesh, e.g.
        ``("value_error", 0.02)``; ``None``: no goal.
    references
        Extra lines for the report (reference numbers).
    value_slice
        ``t`` of the value-slice figure.
    """

    name: str
    title: str
    description: str
    simulate: Callable[[int], ad.AnnData]
    methods: Mapping[str, Mapping[str, Any]]
    factors: Sequence[int] = (1, 2, 4, 8, 16)
    derived_order: float | None = 1.0
    order_note: str = ""
    goal: tuple[str, float] | None = None
    references: Mapping[str, str] = field(default_factory=dict)
    value_slice: float = 0.0


def evaluate_problem(bench: PolicyBenchmark, adata: ad.AnnData, *, seed: int, device: str | None = None,
                     sweep: bool = True) -> dict[str, Any]:
    """Fit every method at every mesh of ``bench.factors`` on ``adata`` (the finest mesh); the metrics dict."""
    problem = adata.uns["policy_problem"]
    dt0 = float(problem["dt"])
    main: dict[str, Any] = {}
    fits: dict[str, Any] = {}
    for label, kwargs in bench.methods.items():
        est, sec = _fit(kwargs, adata, seed=seed, device=device)
        fits[label] = est
        main[label] = {**score_fit(est, adata), "seconds": sec}
    _, _, keep = _rows(adata)
    main["binned MC returns"] = {"value_error": value_error(binned_returns_value(adata)[keep], adata)}
    main["zero value"] = {"value_error": value_error(np.zeros(int(keep.sum())), adata)}
    out: dict[str, Any] = {
        "problem": problem["name"], "setting": problem["setting"], "dt": dt0, "n_paths": int(problem["n_paths"]),
        "n_samples": int(adata.n_obs), "theta_star": _truth_vector(problem).tolist(), "methods": main,
        "derived_order": bench.derived_order,
    }
    if problem["name"] == "ergodic_lq":
        out["lstd_sandwich"] = ergodic_lstd_standard_errors(adata)
    if bench.goal is not None:
        metric, bound = bench.goal
        met = {m: bool(main[m].get(metric, np.inf) < bound) for m in bench.methods if m != "MSTDE"}
        out["goal"] = {"metric": metric, "bound": bound, "met": met, "all_met": all(met.values())}
    if not sweep:
        return out
    halves = [split_paths(adata, 0), split_paths(adata, 1)]
    floors, errors = {}, {m: [] for m in bench.methods}
    for label, kwargs in bench.methods.items():
        th = [_theta_hat(_fit(kwargs, h, seed=seed, device=device)[0], problem) for h in halves]
        truth = _truth_vector(problem)
        floors[label] = float(np.linalg.norm(th[0] - th[1]) / 2 / np.linalg.norm(truth)) if th[0] is not None \
            else float("nan")
    dts = []
    for factor in bench.factors:
        coarse = adata if factor == 1 else subsample(adata, factor)
        dts.append(dt0 * factor)
        for label, kwargs in bench.methods.items():
            score = main[label] if factor == 1 else score_fit(_fit(kwargs, coarse, seed=seed, device=device)[0],
                                                              coarse)
            errors[label].append(score.get("theta_error", float("nan")))
    out["sweep"] = {"dt": dts, "theta_error": errors, "noise_floor": floors,
                    "slope": {m: fitted_slope(dts, errors[m], floors[m]) for m in bench.methods}}
    out["_fits"] = fits
    return out


# ---------------------------------------------------------------------------------------------------- report
def _fmt_theta(v: Any) -> str:
    return "" if v is None else "(" + ", ".join(f"{float(a):.4g}" for a in v) + ")"


def report_problem(report: Any, bench: PolicyBenchmark, result: Mapping[str, Any], adata: ad.AnnData) -> None:
    """Add the heading, the value-error table, the sweep table and the two figures of one problem."""
    import matplotlib.pyplot as plt

    report.add_heading(bench.title)
    report.add_text(bench.description + f" {result['n_paths']} paths, {result['n_samples']} samples, finest mesh "
                    f"Δt = {result['dt']:g}; θ* = {_fmt_theta(result['theta_star'])}.")
    ergodic = result["setting"] == "ergodic"
    rows = []
    for label, m in result["methods"].items():
        row = {"method": label, "θ̂": _fmt_theta(m.get("theta")), "|θ̂ − θ*|/|θ*|": m.get("theta_error", ""),
               "value error": m["value_error"]}
        if ergodic:
            row["|V̂ − V|/|V|"] = m.get("average_reward_error", "")
            row["‖Ĵ − J‖_π/‖J‖_π"] = m.get("stationary_value_error", "")
        row["seconds"] = m.get("seconds", "")
        rows.append(row)
    goal = result.get("goal")
    caption = ("Relative errors against the closed form at the finest mesh. Value error = ‖Ĵ − J‖/‖J‖ over the "
               "samples with t < T" + (" (centred: J is defined up to a constant)" if ergodic else "") + ".")
    if goal:
        caption += (f" Goal: {goal['metric']} < {goal['bound']:g} for every consistent method: "
                    + ("met." if goal["all_met"] else "NOT met by " + ", ".join(k for k, v in goal["met"].items()
                                                                              if not v) + "."))
    report.add_table(rows, caption=caption)
    for label, text in bench.references.items():
        report.add_text(f"{label}: {text}")
    if "lstd_sandwich" in result:
        se = result["lstd_sandwich"]
        report.add_text("‖Ĵ − J‖_π/‖J‖_π: the centred value error under the stationary law (exact moments). Expected "
                        "statistical errors of LSTD on these data (sandwich covariance): value "
                        f"{se['value_error_rms']:.3g} (root mean square), V {se['average_reward_se']:.3g} "
                        "(one standard error).")
    sweep = result.get("sweep")
    if sweep:
        order = "none (no discretisation bias)" if bench.derived_order is None else f"{bench.derived_order:g}"
        srows = [{"method": m, **{f"Δt={d:g}": e for d, e in zip(sweep["dt"], errs, strict=True)},
                  "noise floor": sweep["noise_floor"][m],
                  "fitted slope": "below floor" if sweep["slope"][m] is None else sweep["slope"][m]}
                 for m, errs in sweep["theta_error"].items()]
        report.add_table(srows, caption=f"|θ̂_Δt − θ*|/|θ*| on the same paths subsampled to each mesh; slope of "
                         f"log error on log Δt over the meshes above 3 × the split-half noise floor. Derived order: "
                         f"{order}. {bench.order_note}")
        fig, ax = plt.subplots(figsize=(6, 4))
        for m, errs in sweep["theta_error"].items():
            ax.loglog(sweep["dt"], errs, "o-", label=m, lw=1, ms=3)
        floor = np.nanmedian(list(sweep["noise_floor"].values()))
        ax.axhline(floor, color="grey", ls=":", label="median noise floor")
        if bench.derived_order is not None:
            d = np.asarray(sweep["dt"])
            ref = np.nanmedian([e[-1] for m, e in sweep["theta_error"].items() if m != "MSTDE"])
            ax.loglog(d, ref * (d / d[-1]) ** bench.derived_order, "k--", lw=1,
                      label=f"slope {bench.derived_order:g} (derived)")
        ax.set_xlabel("Δt")
        ax.set_ylabel("|θ̂ − θ*| / |θ*|")
        ax.legend(fontsize=6, ncol=2)
        report.add_figure(fig, f"{bench.name}_dt_sweep", caption="Parameter error against the mesh (log-log).")
        plt.close(fig)
    fits = result.get("_fits", {})
    if fits:
        problem = adata.uns["policy_problem"]
        x = np.asarray(adata.X, dtype=np.float64)[:, 0]
        grid = np.linspace(*np.quantile(x, [0.02, 0.98]), 100)
        fig, ax = plt.subplots(figsize=(6, 4))
        exact = exact_value(problem, bench.value_slice, grid)
        ax.plot(grid, exact, "k-", lw=2.5, label="closed form")
        for m in [k for k in ("martingale", "LSTD", "TD(0)", "MSTDE") if k in fits]:
            v = fits[m].value(np.full(len(grid), bench.value_slice), grid[:, None])
            if ergodic:
                v = v - v.mean() + exact.mean()
            ax.plot(grid, v, lw=1, label=m)
        ax.set_xlabel("x")
        ax.set_ylabel(f"J({bench.value_slice:g}, x)")
        ax.legend(fontsize=7)
        report.add_figure(fig, f"{bench.name}_value", caption=f"Value at t = {bench.value_slice:g}: closed form "
                          "and fits" + (" (aligned means: J is defined up to a constant)." if ergodic else "."))
        plt.close(fig)


FACE_DEMO_PATHS = 500  # the face demonstration fits the first paths only (storing fingerprints every row)


def first_paths(adata: ad.AnnData, n_paths: int) -> ad.AnnData:
    """The first ``n_paths`` trajectories (all of them if there are fewer)."""
    traj = adata.obs["trajectory"].to_numpy()
    ids = np.unique(traj)
    if len(ids) <= n_paths:
        return adata
    out = adata[np.isin(traj, ids[:n_paths])].copy()
    out.uns["policy_problem"] = {**adata.uns["policy_problem"], "n_paths": int(n_paths)}
    return out


def _face_demo(report: Any, bench: PolicyBenchmark, adata: ad.AnnData, seed: int) -> dict[str, Any]:
    """One fit through the AnnData face (stored in ``uns``, loaded back, drawn), when the face is available.

    On the first :data:`FACE_DEMO_PATHS` paths (a demonstration of the face, not a measurement).
    """
    adata = first_paths(adata, FACE_DEMO_PATHS)
    try:
        from dynfer.pl._policy_evaluation import policy_value as plot_value
        from dynfer.tl._policy_evaluation import policy_evaluation
        from dynfer.tl._store import load_estimator
    except ImportError:
        return {}
    import matplotlib.pyplot as plt

    label = "LSTD" if "LSTD" in bench.methods else next(iter(bench.methods))
    kwargs = dict(bench.methods[label])
    features = kwargs.pop("features")
    method = kwargs.pop("method")
    problem = adata.uns["policy_problem"]
    discount = float(problem["discount"]) if problem["setting"] == "discounted" else 0.0
    terminal = "terminal_reward" if "terminal_reward" in adata.obs else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        policy_evaluation(adata, method=method, features=features, discount=discount, terminal_key=terminal,
                          setting=problem["setting"], seed=seed, key_added="policy_evaluation", **kwargs)
        est = load_estimator(adata, "policy_evaluation", features=features)
        score = score_fit(est, adata)
        ax = plot_value(adata, key="policy_evaluation", time=bench.value_slice, features=features, seed=seed,
                        show=False)
    report.add_figure(ax.figure, f"{bench.name}_face", caption=f"The {label} fit through dynfer.tl.policy_evaluation "
                      "(stored in uns['policy_evaluation'], loaded back without refitting) drawn by "
                      "dynfer.pl.policy_value against the sampled returns.")
    plt.close(ax.figure)
    n_face = int(adata.uns["policy_problem"]["n_paths"])
    report.add_text(f"The same {label} fit through the AnnData face on the first {n_face} paths: value error "
                    f"{score['value_error']:.4g}.")
    return {"face": {"method": label, "n_paths": n_face, **score}}


def run_policy_workflow(out_dir: str | Path, benches: Sequence[PolicyBenchmark], *, title: str, summary: str,
                        seed: int, device: str | None, quick: bool,
                        extra_metrics: Mapping[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """Simulate, fit and score every problem, write the report and return ``(report.html, metrics)``."""
    from dynfer.report import Report
    from dynfer.workflows.mjp import finite_or_none

    report = Report(title=title, summary=summary + f" Seed {seed}" + (", quick sizes." if quick else "."))
    metrics: dict[str, Any] = {"seed": seed, "quick": quick, **(extra_metrics or {}), "problems": {}}
    timings: dict[str, float] = {}
    for bench in benches:
        start = time.perf_counter()
        adata = bench.simulate(seed)
        result = evaluate_problem(bench, adata, seed=seed, device=device)
        report_problem(report, bench, result, adata)
        result.pop("_fits", None)
        result.update(_face_demo(report, bench, adata, seed))
        metrics["problems"][bench.name] = result
        timings[bench.name] = time.perf_counter() - start
    path = report.write(out_dir, metrics=finite_or_none(metrics), seed=seed, device=str(device), timings=timings)
    return path, finite_or_none(metrics)
