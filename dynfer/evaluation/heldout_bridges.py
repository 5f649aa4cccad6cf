"""The held-out-time protocol of the Schrödinger-bridge benchmarks (Shen, Berlinghieri & Broderick, AISTATS 2025).

Train on the even-indexed time points, hold out the odd-indexed ones, and report per held-out time the W2 distance
(exact OT on the squared-Euclidean cost, square root) between the held-out sample and: each fitted bridge, the
OT-midpoint (McCann) interpolation of the neighbouring training times, and persistence (the previous training
time); plus the split-half noise floor (W2 between two halves of the held-out sample).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from anndata import AnnData

from dynfer.estimators.bridges.baselines import ot_midpoint, persistence
from dynfer.pp import split_timepoints
from dynfer.processes import wasserstein
from dynfer.tl import interpolate, schrodinger_bridge

__all__ = [
    "HeldoutResult",
    "baseline_w2",
    "evaluate_heldout_bridges",
    "report_heldout_bridges",
    "run_heldout_workflow",
    "run_mmtraj_workflow",
    "split_half_floor",
]


@dataclass
class HeldoutResult:
    """W2 per held-out time for every method, fitted parameters and fit times."""

    heldout_times: list[float]
    w2: dict[str, list[float]]
    theta: dict[str, dict[str, Any]] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    floor: list[float] = field(default_factory=list)

    def mean(self) -> dict[str, float]:
        """Mean W2 over the held-out times, per method."""
        return {m: float(np.mean(v)) for m, v in self.w2.items()}

    def metrics(self) -> dict[str, Any]:
        """Deterministic metrics (no timings) for ``metrics.json``."""
        return {"heldout_times": self.heldout_times, "w2": self.w2, "w2_mean": self.mean(),
                "split_half_floor": self.floor, "split_half_floor_mean": float(np.mean(self.floor)),
                "theta": self.theta}


def baseline_w2(
    snaps: list[np.ndarray], train: np.ndarray, held: np.ndarray, targets: list[np.ndarray]
) -> dict[str, list[float]]:
    """W2 of the OT-midpoint and persistence baselines to each held-out sample.

    Parameters
    ----------
    snaps
        Training snapshots, one per entry of ``train``.
    train, held
        Increasing training and held-out times (every held-out time strictly inside the training span).
    targets
        The held-out samples, one per entry of ``held``.

    Returns
    -------
    dict
        ``{"OT-midpoint": [...], "persistence": [...]}``, one W2 per held-out time.
    """
    mids, pers = [], []
    for tt, target in zip(held, targets, strict=True):
        b = int(np.searchsorted(train, tt))
        s = (tt - train[b - 1]) / (train[b] - train[b - 1])
        mids.append(float(wasserstein(ot_midpoint(snaps[b - 1], snaps[b], s), target)))
        pers.append(float(wasserstein(persistence(snaps, train, tt), target)))
    return {"OT-midpoint": mids, "persistence": pers}


def split_half_floor(targets: list[np.ndarray], seed: int) -> list[float]:
    """W2 between two random halves of each held-out sample: the sampling-noise floor of the metric."""
    rng = np.random.default_rng(seed)
    floor = []
    for target in targets:
        perm = rng.permutation(len(target))
        half = len(target) // 2
        floor.append(float(wasserstein(target[perm[:half]], target[perm[half: 2 * half]])))
    return floor


def evaluate_heldout_bridges(
    adata: AnnData,
    methods: dict[str, dict[str, Any]],
    *,
    use_rep: str | None = None,
    seed: int = 0,
    device: str | None = None,
) -> HeldoutResult:
    """Fit each method on the even time points of ``adata`` and score it at the odd ones.

    Parameters
    ----------
    adata
        Snapshots with ``obs["time"]`` (at least 3 distinct times); ``obs["split"]`` is (re)written.
    methods
        ``{label: keyword arguments of dynfer.tl.schrodinger_bridge}`` (e.g. ``{"reference": "lotka_volterra",
        "sigma": 0.1}``).
    use_rep
        Representation to fit and score (``None``: ``X``).
    seed, device
        Seed and device of every fit.

    Returns
    -------
    HeldoutResult
        W2 per held-out time for every method and for the OT-midpoint and persistence baselines.
    """
    split_timepoints(adata, holdout="odd")
    x = np.asarray(adata.X if use_rep is None else adata.obsm[use_rep], dtype=np.float64)
    t = adata.obs["time"].to_numpy(dtype=np.float64)
    train = np.asarray(adata.uns["split"]["train_times"], dtype=np.float64)
    held = np.asarray(adata.uns["split"]["heldout_times"], dtype=np.float64)
    snaps = [x[t == tt] for tt in train]
    result = HeldoutResult(heldout_times=held.tolist(), w2={})
    for label, kwargs in methods.items():
        key = "sb_" + "".join(c if c.isalnum() else "_" for c in label)
        start = time.perf_counter()
        schrodinger_bridge(adata, use_rep=use_rep, train_key="split", key_added=key, seed=seed, device=device,
                           **kwargs)
        result.fit_seconds[label] = time.perf_counter() - start
        samples = interpolate(adata, held, key=key, seed=seed)
        st = samples.obs["time"].to_numpy()
        result.w2[label] = [float(wasserstein(np.asarray(samples.X)[st == tt], x[t == tt])) for tt in held]
        result.theta[label] = {k: np.asarray(v[-1]).tolist() for k, v in adata.uns[key]["theta"].items()}
        result.theta[label]["sigma"] = float(adata.uns[key]["sigma"])
    targets = [x[t == tt] for tt in held]
    result.w2.update(baseline_w2(snaps, train, held, targets))
    result.floor = split_half_floor(targets, seed)
    return result


def report_heldout_bridges(report: Any, result: HeldoutResult, *, truth: dict[str, float] | None = None,
                           truth_method: str | None = None) -> None:
    """Add the W2 table (and a parameter-recovery table when ``truth`` is given) to a :class:`dynfer.report.Report`."""
    rows = [{"method": m, **{f"t={tt:g}": v for tt, v in zip(result.heldout_times, vals, strict=True)},
             "mean": float(np.mean(vals))} for m, vals in result.w2.items()]
    rows.append({"method": "split-half noise floor",
                 **{f"t={tt:g}": v for tt, v in zip(result.heldout_times, result.floor, strict=True)},
                 "mean": float(np.mean(result.floor))})
    report.add_table(rows, caption="Held-out W2 (exact OT, squared-Euclidean cost, square root; lower is better)")
    if truth and truth_method in result.theta:
        fitted = result.theta[truth_method]
        report.add_table([{"parameter": k, "recovered": float(np.asarray(fitted[k])), "generating": v,
                           "relative error": abs(float(np.asarray(fitted[k])) - v) / abs(v)}
                          for k, v in truth.items()], caption=f"{truth_method}: recovered against generating values")


def run_heldout_workflow(
    adata: AnnData,
    methods: dict[str, dict[str, Any]],
    out_dir: Any,
    *,
    title: str,
    summary: str,
    seed: int,
    device: str | None,
    inputs: dict[str, Any] | None = None,
    truth: dict[str, float] | None = None,
    truth_method: str | None = None,
    plot_key_method: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Run :func:`evaluate_heldout_bridges` and write its report (the body of every bridge workflow).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dynfer import pl
    from dynfer._settings import settings
    from dynfer.report import Report

    dev = settings.resolve_device(device)
    result = evaluate_heldout_bridges(adata, methods, seed=seed, device=str(dev))
    report = Report(title=title, summary=summary)
    report.add_heading("Held-out time points")
    report.add_text("Protocol of Shen, Berlinghieri & Broderick (AISTATS 2025): train on the even-indexed time "
                    "points, evaluate at the odd-indexed ones. Baselines: OT-midpoint (McCann interpolation of the "
                    "exact plan between the neighbouring training times) and persistence (previous training time).")
    report_heldout_bridges(report, result, truth=truth, truth_method=truth_method)
    label = plot_key_method or next(iter(methods))
    key = "sb_" + "".join(c if c.isalnum() else "_" for c in label)
    if adata.X.shape[1] >= 2:
        ax = pl.schrodinger_bridge(adata, key=key, n_paths=30, seed=seed)
        report.add_figure(ax.figure, "bridge_trajectories", caption=f"{label}: snapshots and bridge trajectories.")
        plt.close(ax.figure)
    metrics = {"seed": seed, **result.metrics()}
    timings = {f"fit {m}": s for m, s in result.fit_seconds.items()}
    path = report.write(out_dir, metrics=metrics, seed=seed, device=str(dev), inputs=inputs, timings=timings)
    return path, metrics


def run_mmtraj_workflow(
    system: str,
    methods: dict[str, dict[str, Any]],
    out_dir: Any,
    *,
    title: str,
    seed: int,
    device: str | None,
    quick: bool,
    truth: dict[str, float] | None = None,
    truth_method: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The body of the ``mmtraj_*`` workflows: load one staged system, fit, score and report.

    ``quick`` uses 4 refinement rounds instead of 10; the staged file and its sha256 are recorded as inputs.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer import datasets

    adata = datasets.load("mmtraj_benchmarks", system=system)
    files = datasets.fetch("mmtraj_benchmarks")
    source = str(adata.uns["dynfer_source"])
    inputs = {name: path for name, path in files.items() if name in source}
    rounds = {label: {**kw, "n_iter": 4 if quick else 10} for label, kw in methods.items()}
    return run_heldout_workflow(
        adata, rounds, out_dir, title=title, seed=seed, device=device, inputs=inputs, truth=truth,
        truth_method=truth_method,
        summary="mmtraj_benchmarks (MIT), 11 time points x 200 particles; W2 at the held-out odd time points.",
    )
