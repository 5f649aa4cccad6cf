"""The body shared by every Schrödinger-bridge workflow: fit, score at held-out times, report with figures.

:func:`bridge_method` turns estimator parameters into a method of :func:`dynfer.evaluation.evaluate_heldout`;
:func:`heldout_with_baselines` adds the OT-midpoint and persistence baselines; :func:`report_heldout` writes the W2
and parameter-recovery tables; :func:`report_figures` stores one fitted bridge in an AnnData of all the cells and
draws it with the ``pl`` functions (bridge paths, the learned drift's stream lines, θ per round), which load it
without refitting; :func:`run_bridge_workflow` is the whole body of a dataset workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from dynfer._errors import BadInputError
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.evaluation import HeldoutResult, OTMidpoint, Persistence, evaluate_heldout

__all__ = ["QUICK_NOTE", "bridge_method", "heldout_with_baselines", "report_figures", "report_heldout",
           "run_bridge_workflow", "subsample", "theta_summary"]

#: what a quick run's page says at the top
QUICK_NOTE = ("Quick mode: reduced sizes (fewer rounds, cells or network units) for a smoke test; the numbers on this "
              "page are not the benchmark's.")
#: the label of the split-half noise floor row
FLOOR_LABEL = "split-half noise floor"

BASELINES = {"OT-midpoint": lambda s, t: OTMidpoint().fit(s, t), "persistence": lambda s, t: Persistence().fit(s, t)}


def bridge_method(
    params: Mapping[str, Any], *, n_fit: int | None = None, seed: int = 0
) -> Callable[[list[np.ndarray], np.ndarray], SchrodingerBridge]:
    """A held-out method that fits :class:`SchrodingerBridge` with ``params``.

    Parameters
    ----------
    params
        Constructor parameters (``seed`` and ``device`` included).
    n_fit
        Fit on a seeded subsample of at most ``n_fit`` particles per snapshot (``None``: all).
    seed
        Seed of the subsample.
    """

    def fit(snaps: list[np.ndarray], times: np.ndarray) -> SchrodingerBridge:
        use = [s[idx] for s, idx in zip(snaps, subsample([len(s) for s in snaps], n_fit, seed), strict=True)]
        return SchrodingerBridge(**params).fit(use, times)

    return fit


def subsample(sizes: Sequence[int], n_fit: int | None, seed: int) -> list[np.ndarray]:
    """Row indices a fit of :func:`bridge_method` reads from snapshots of ``sizes``: all, or ``n_fit`` (seeded)."""
    rng = np.random.default_rng(seed)
    return [np.arange(n) if n_fit is None or n <= n_fit else np.sort(rng.choice(n, n_fit, replace=False))
            for n in sizes]


def theta_summary(est: SchrodingerBridge, max_size: int = 64) -> dict[str, Any]:
    """The fitted θ (arrays of at most ``max_size`` entries), σ and the number of rounds, as plain data."""
    out: dict[str, Any] = {k: np.asarray(v).tolist() for k, v in est.reference_.theta().items()
                           if np.asarray(v).size <= max_size}
    out["sigma"] = float(est.sigma_)
    out["n_rounds"] = len(est.history_)
    return out


#: the label suffix of a bridge's conditional-mean row: a different output of the same fit, not a sample
MEAN_SUFFIX = ": conditional mean (sample(noise=False), not a sample of the bridge)"


class _ConditionalMean:
    """A fitted bridge read through ``sample(noise=False)``: the held-out protocol's sampler of its mean paths."""

    def __init__(self, est: SchrodingerBridge) -> None:
        self.est = est

    def sample(self, times: Sequence[float], *, seed: Any = None) -> list[np.ndarray]:
        return self.est.sample(times, seed=seed, noise=False)


def _reusing(fit: Callable[[list[np.ndarray], np.ndarray], SchrodingerBridge]):
    """``fit`` and a second method that reads the same fit's conditional mean without fitting again."""
    last: dict[str, Any] = {}

    def first(snaps: list[np.ndarray], times: np.ndarray) -> SchrodingerBridge:
        last["model"] = fit(snaps, times)
        return last["model"]

    def mean(snaps: list[np.ndarray], times: np.ndarray) -> _ConditionalMean:
        return _ConditionalMean(last["model"] if "model" in last else first(snaps, times))

    return first, mean


def heldout_with_baselines(
    snapshots: Sequence[np.ndarray],
    times: Sequence[float],
    methods: Mapping[str, Mapping[str, Any]],
    *,
    seed: int,
    device: str | None,
    n_fit: int | None = None,
    conditional_mean: str | None = None,
    **protocol: Any,
) -> HeldoutResult:
    """Score bridge fits with ``methods`` (``{label: SchrodingerBridge parameters}``) and the two baselines.

    ``conditional_mean`` names a method whose fit is also scored through its conditional mean at the held-out
    times, in a row of its own labelled ``<label>`` + :data:`MEAN_SUFFIX` (the same fit, read without the bridge's
    spread; its fit time is the method's).

    Returns
    -------
    HeldoutResult
        W2 per held-out time for every method and baseline, the split-half floor and the fitted bridges.
    """
    if conditional_mean is not None and conditional_mean not in methods:
        raise BadInputError("conditional_mean", repr(conditional_mean), f"one of {sorted(methods)} or None")
    fits: dict[str, Any] = {}
    for label, kw in methods.items():
        fit = bridge_method({**kw, "seed": seed, "device": device}, n_fit=n_fit, seed=seed)
        if label == conditional_mean:
            fits[label], fits[label + MEAN_SUFFIX] = _reusing(fit)
        else:
            fits[label] = fit
    return evaluate_heldout(snapshots, times, {**fits, **BASELINES}, seed=seed, **protocol)


def report_heldout(
    report: Any, result: HeldoutResult, *, truth: Mapping[str, float] | None = None, truth_method: str | None = None,
    floor_label: str = FLOOR_LABEL,
) -> None:
    """Add the W2 table (and a recovered-against-generating table when ``truth`` is given) to a report.

    ``floor_label`` names the floor row for what it is (e.g. a noise level between independent trial sets where too
    few points per time make a split-half floor meaningless).
    """
    held = result.heldout_times
    rows = [{"method": m, **{f"t={tt:g}": v for tt, v in zip(held, vals, strict=True)}, "mean": float(np.mean(vals))}
            for m, vals in result.values("W2").items()]
    floor = result.floor.get("W2", [])
    if floor:
        rows.append({"method": floor_label, **{f"t={tt:g}": v for tt, v in zip(held, floor, strict=True)},
                     "mean": float(np.mean(floor))})
    report.add_table(rows, caption="Held-out W2 (exact OT, squared-Euclidean cost, square root; lower is better)")
    if truth and truth_method in result.models:
        fitted = result.models[truth_method].reference_.theta()
        report.add_table([{"parameter": k, "recovered": float(np.asarray(fitted[k])), "generating": v,
                           "relative error": abs(float(np.asarray(fitted[k])) - v) / abs(v)}
                          for k, v in truth.items()], caption=f"{truth_method}: recovered against generating values")


def _pca(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and loadings of the first ``n`` principal components of ``x`` (centred), as scanpy's ``pp.pca``."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])  # deterministic signs
    vt = vt[:n] * np.where(signs[:n] == 0, 1.0, signs[:n])[:, None]
    return centred @ vt.T, vt.T


def report_figures(
    report: Any,
    result: HeldoutResult,
    method: str,
    snapshots: Sequence[np.ndarray],
    times: Sequence[float],
    *,
    seed: int,
    n_fit: int | None = None,
    var_names: Sequence[str] | None = None,
    truth: Mapping[str, float] | None = None,
    name: str = "bridge",
) -> AnnData:
    """Store the fit of ``method`` in an AnnData of every cell and add its figures to the report.

    The AnnData holds all snapshots (``obs["time"]``; ``obs["split"]`` is ``"train"`` on exactly the rows the fit
    read, the seeded subsample of :func:`subsample` included), ``var_names`` (default ``x1, x2, ...``) and, when
    there are more than three features, their principal components in ``obsm["X_pca"]`` (loadings in
    ``varm["PCs"]``), the basis the figures are drawn in. Figures: bridge paths over the cells
    (:func:`dynfer.pl.schrodinger_bridge`), stream lines of the learned drift (:func:`dynfer.pl.drift_stream`, not
    for the Brownian reference) and θ per round (:func:`dynfer.pl.bridge_parameters`, when θ has scalars).

    Returns
    -------
    AnnData
        The data with the fit stored in ``uns[name]``.
    """
    import matplotlib.pyplot as plt

    import dynfer

    est = result.models[method]
    t = np.asarray(times, dtype=np.float64)
    snaps = [np.asarray(s, dtype=np.float64) for s in snapshots]
    train = [float(x) for x in result.train_times]
    picks = dict(zip(train, subsample([len(snaps[int(np.flatnonzero(t == tt)[0])]) for tt in train], n_fit, seed),
                     strict=True))
    split = []
    for s, tt in zip(snaps, t, strict=True):
        lab = np.full(len(s), "held out" if float(tt) not in picks else "not used", dtype=object)
        if float(tt) in picks:
            lab[picks[float(tt)]] = "train"
        split.append(lab)
    adata = AnnData(np.concatenate(snaps))
    adata.obs_names = [f"cell{i}" for i in range(adata.n_obs)]
    adata.var_names = list(var_names) if var_names is not None else [f"x{k + 1}" for k in range(adata.n_vars)]
    adata.obs["time"] = np.repeat(t, [len(s) for s in snaps])
    adata.obs["split"] = pd.Categorical(np.concatenate(split))
    basis = None
    if adata.n_vars > 3:
        adata.obsm["X_pca"], adata.varm["PCs"] = _pca(np.asarray(adata.X), min(10, adata.n_vars))
        basis = "X_pca"
    dynfer.tl.store_estimator(adata, est, key_added=name, train_key="split")
    where = "on the first two principal components of all cells" if basis else "on the first two features"
    ax = dynfer.pl.schrodinger_bridge(adata, key=name, basis=basis, n_paths=40, seed=seed, show=False)
    report.add_figure(ax.figure, f"{name}_paths", caption=f"{method}: 40 of the bridge's own paths through the "
                      f"training times, over every cell (colour: time), {where}.")
    plt.close(ax.figure)
    if est.reference_.family != "brownian":
        ax = dynfer.pl.drift_stream(adata, key=name, basis=basis, show=False)
        report.add_figure(ax.figure, f"{name}_drift", caption=f"{method}: stream lines of the learned reference "
                          f"drift f_theta evaluated at every cell, {where} (pl.drift_stream).")
        plt.close(ax.figure)
    scalars = [k for k, v in est.reference_.theta().items() if np.asarray(v).ndim == 0]
    if scalars and len(scalars) <= 12:
        fig = dynfer.pl.bridge_parameters(adata, key=name, truth=dict(truth or {}), return_fig=True)
        report.add_figure(fig, f"{name}_theta", caption=f"{method}: scalar reference parameters per refinement round"
                          + (" (dashed: generating values)." if truth else "."))
        plt.close(fig)
    return adata


def run_bridge_workflow(
    out_dir: str | Path,
    snapshots: Sequence[np.ndarray],
    times: Sequence[float],
    methods: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
    summary: str,
    protocol_text: str,
    seed: int,
    device: str,
    inputs: Mapping[str, Any] | None = None,
    truth: Mapping[str, float] | None = None,
    truth_method: str | None = None,
    n_fit: int | None = None,
    extra_metrics: Mapping[str, Any] | None = None,
    var_names: Sequence[str] | None = None,
    quick: bool | None = None,
    floor_label: str = FLOOR_LABEL,
    figure_method: str | None = None,
    conditional_mean: str | None = None,
    **protocol: Any,
) -> tuple[Path, dict[str, Any]]:
    """Fit, score and write the report of one bridge dataset workflow.

    Parameters
    ----------
    out_dir
        Report folder.
    snapshots, times
        One array per observation time.
    methods
        ``{label: SchrodingerBridge parameters}``.
    title, summary, protocol_text
        The report's title, summary and the paragraph describing the protocol.
    seed, device
        Seed and device of every fit.
    inputs
        Input files recorded with their sha256.
    truth, truth_method
        Generating parameters and the method whose fit is compared with them.
    n_fit
        Particles per training snapshot used by the fits (``None``: all).
    extra_metrics
        More entries of ``metrics.json``.
    var_names
        Names of the features (axis labels of the figures; default ``x1, x2, ...``).
    quick
        A quick run: said at the top of the page (:data:`QUICK_NOTE`) and recorded in ``metrics.json``.
    floor_label
        The name of the floor row (see :func:`report_heldout`).
    figure_method
        The method whose fit the figures draw (default: the first of ``methods``).
    conditional_mean
        A method also scored through its conditional mean, in a labelled row of its own
        (:func:`heldout_with_baselines`).
    **protocol
        Passed to :func:`dynfer.evaluation.evaluate_heldout` (``train``, ``heldout``, ``floor``).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer.report import Report

    result = heldout_with_baselines(snapshots, times, methods, seed=seed, device=device, n_fit=n_fit,
                                    conditional_mean=conditional_mean, **protocol)
    means = result.mean()
    report = Report(title=title, summary=f"{QUICK_NOTE} {summary}" if quick else summary)
    report.add_heading("Held-out time points")
    report.add_text(protocol_text + " Measured mean W2: " + ", ".join(f"{m} {v:.3f}" for m, v in means.items()) + ".")
    report_heldout(report, result, truth=truth, truth_method=truth_method, floor_label=floor_label)
    shown = figure_method or next(iter(methods))
    report.add_heading(f"The fitted bridge: {shown}")
    report.add_text("The fit is stored in an AnnData of all the cells (dynfer.tl.store_estimator) and drawn by the "
                    "pl functions, which load it without refitting. Axes carry the features' names.")
    report_figures(report, result, shown, snapshots, times, seed=seed, n_fit=n_fit, var_names=var_names,
                   truth=truth if shown == truth_method else None)
    extra = dict(extra_metrics or {})
    if quick is not None:
        extra["quick"] = bool(quick)
    metrics = {"seed": seed, **extra, **result.metrics(),
               "theta": {m: theta_summary(est) for m, est in result.models.items() if m in methods}}
    timings = {f"fit {m}": s for m, s in result.fit_seconds.items()}
    path = report.write(out_dir, metrics=metrics, seed=seed, device=device, inputs=dict(inputs or {}),
                        timings=timings)
    return path, metrics
