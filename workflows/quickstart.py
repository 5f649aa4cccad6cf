"""Quickstart: the main job of the README, on built-in data only, in a few minutes on a laptop CPU.

One report with a section per part of dynfer that exists so far:

1. *Data*: snapshots of the stochastic Lotka–Volterra model (:func:`dynfer.datasets.lotka_volterra_snapshots`),
   split into training and held-out time points (:func:`dynfer.pp.split_timepoints`), with a scatter plot coloured
   by time;
2. *Estimators*: one section per estimator that has landed (see :data:`ESTIMATOR_SECTIONS`, the extension point);
3. *Backend checks*: the sections of the backend demo (:mod:`dynfer.demo`), each compared with a closed form.

Run it with ``dynfer run quickstart [--quick] [--device DEV] [--seed N] [--out DIR]`` or
``python workflows/quickstart.py [options]``. The same seed on the CPU reproduces ``metrics.json`` exactly.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = "quickstart"
DESCRIPTION = "the README's main job: built-in data, every estimator so far and the backend checks, one report"
DATASETS: tuple[str, ...] = ("lotka_volterra_snapshots",)


@dataclass
class Context:
    """What every section receives: the report being built, the run's options and the data shared by sections.

    Attributes
    ----------
    report
        The :class:`dynfer.report.Report` the section appends to.
    seed
        Seed of the run (a section uses it, or a fixed offset from it, for every random draw).
    device
        Torch device.
    quick
        Smaller sizes.
    data
        Data sets prepared by earlier sections, by name (the data section stores ``"lotka_volterra"``: an AnnData
        with ``obs["time"]`` and ``obs["split"]``).
    """

    report: Any
    seed: int
    device: Any
    quick: bool
    data: dict[str, Any] = field(default_factory=dict)


Section = Callable[[Context], dict[str, Any]]


def data_section(ctx: Context) -> dict[str, Any]:
    """Lotka–Volterra snapshots, the odd/even time-point split and a scatter plot coloured by time.

    Parameters
    ----------
    ctx
        The run's context; stores the labelled AnnData in ``ctx.data["lotka_volterra"]``.

    Returns
    -------
    dict
        Metrics: sizes, the split, per-time means and the sha256 of the data matrix.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import dynfer

    n_per_time = 100 if ctx.quick else 200
    adata = dynfer.datasets.lotka_volterra_snapshots(n_per_time=n_per_time, seed=ctx.seed, device=ctx.device)
    dynfer.pp.split_timepoints(adata, holdout="odd")
    ctx.data["lotka_volterra"] = adata
    x = np.asarray(adata.X, dtype=np.float64)
    times = adata.obs["time"].to_numpy(dtype=np.float64)
    split = adata.obs["split"].astype(str).to_numpy()
    train_times = [float(t) for t in adata.uns["split"]["train_times"]]
    heldout_times = [float(t) for t in adata.uns["split"]["heldout_times"]]

    report = ctx.report
    report.add_heading("Data: stochastic Lotka–Volterra snapshots")
    report.add_text(
        f"Built-in generator dynfer.datasets.lotka_volterra_snapshots: prey and predator under the stochastic "
        f"Lotka–Volterra SDE with multiplicative noise, {n_per_time} independent cells observed at each of the "
        f"times {', '.join(f'{t:g}' for t in np.unique(times))} (seed {ctx.seed}). dynfer.pp.split_timepoints "
        f"holds out the odd time points ({', '.join(f'{t:g}' for t in heldout_times)}) for evaluation and trains "
        f"on the even ones ({', '.join(f'{t:g}' for t in train_times)})."
    )
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, marker in (("train", "o"), ("heldout", "x")):
        keep = split == label
        sc = ax.scatter(x[keep, 0], x[keep, 1], c=times[keep], cmap="viridis", vmin=times.min(), vmax=times.max(),
                        s=6 if marker == "o" else 10, marker=marker, linewidths=0.6, label=label)
    fig.colorbar(sc, ax=ax, label="time")
    ax.set_xlabel(str(adata.var_names[0]))
    ax.set_ylabel(str(adata.var_names[1]))
    legend = ax.legend(loc="best", markerscale=2)
    for handle in legend.legend_handles:  # the markers say train/held-out; the colour bar says the time
        handle.set_color("0.3")
    report.add_figure(fig, "data_snapshots", caption="Snapshots coloured by time; crosses: held-out time points.")
    plt.close(fig)
    rows = []
    means = {}
    for t in np.unique(times):
        at = times == t
        mean = x[at].mean(axis=0)
        means[f"{t:g}"] = [float(m) for m in mean]
        rows.append({"time": float(t), "cells": int(at.sum()), "split": str(split[at][0]),
                     "mean prey": float(mean[0]), "mean predator": float(mean[1])})
    report.add_table(rows, caption="Cells and mean state per time point")
    return {
        "generator": "lotka_volterra_snapshots",
        "n_obs": int(adata.n_obs),
        "n_per_time": n_per_time,
        "train_times": train_times,
        "heldout_times": heldout_times,
        "mean_per_time": means,
        "X_sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(),
    }


def bridge_section(ctx: Context) -> dict[str, Any]:
    """Schrödinger bridges on the Lotka–Volterra snapshots: held-out W2 against the baselines, recovered θ.

    Trains on the even-indexed time points and evaluates on the odd ones (the SBIRR protocol): dynfer with the true
    (Lotka–Volterra) reference family, with a misspecified linear one, vanilla SB (Brownian reference), the
    OT-midpoint (McCann) interpolation and persistence. W2 is exact OT on the squared-Euclidean cost, square root.

    Parameters
    ----------
    ctx
        The run's context (reads ``ctx.data["lotka_volterra"]``).

    Returns
    -------
    dict
        W2 per held-out time and method, their means, and the recovered parameters.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import dynfer
    from dynfer.estimators.bridges.baselines import ot_midpoint, persistence
    from dynfer.processes import wasserstein

    adata = ctx.data["lotka_volterra"]
    truth = {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1}
    x = np.asarray(adata.X, dtype=np.float64)
    t = adata.obs["time"].to_numpy(dtype=np.float64)
    train = np.asarray(adata.uns["split"]["train_times"], dtype=np.float64)
    held = np.asarray(adata.uns["split"]["heldout_times"], dtype=np.float64)
    snaps = [x[t == tt] for tt in train]
    fits = {"dynfer (Lotka-Volterra reference)": "lotka_volterra", "dynfer (linear reference, misspecified)":
            "linear", "vanilla SB (Brownian reference)": "brownian"}
    w2: dict[str, list[float]] = {}
    n_iter = 6 if ctx.quick else 10
    for label, family in fits.items():
        key = f"sb_{family}"
        dynfer.tl.schrodinger_bridge(adata, reference=family, sigma=0.1, n_iter=n_iter, train_key="split",
                                     key_added=key, seed=ctx.seed, device=ctx.device)
        samples = dynfer.tl.interpolate(adata, held, key=key, seed=ctx.seed)
        st = samples.obs["time"].to_numpy()
        w2[label] = [float(wasserstein(np.asarray(samples.X)[st == tt], x[t == tt])) for tt in held]
    mids, pers = [], []
    for tt in held:
        b = int(np.searchsorted(train, tt))
        s = (tt - train[b - 1]) / (train[b] - train[b - 1])
        mids.append(float(wasserstein(ot_midpoint(snaps[b - 1], snaps[b], s), x[t == tt])))
        pers.append(float(wasserstein(persistence(snaps, train, tt), x[t == tt])))
    w2["OT-midpoint"] = mids
    w2["persistence"] = pers
    theta = {k: float(v[-1]) for k, v in adata.uns["sb_lotka_volterra"]["theta"].items()}
    report = ctx.report
    report.add_heading("Schrödinger bridges with iterative reference refinement")
    report.add_text(
        "Population dynamics from snapshots (Shen, Berlinghieri & Broderick, AISTATS 2025): trained on the even "
        "time points, evaluated at the held-out odd ones by W2 (exact OT, squared-Euclidean cost, square root)."
    )
    rows = [{"method": m, **{f"t={tt:g}": v for tt, v in zip(held, vals, strict=True)}, "mean": float(np.mean(vals))}
            for m, vals in w2.items()]
    report.add_table(rows, caption="Held-out W2 (lower is better)")
    report.add_table([{"parameter": k, "recovered": theta[k], "generating": truth[k],
                       "relative error": abs(theta[k] - truth[k]) / truth[k]} for k in truth],
                     caption="Lotka-Volterra reference: recovered against generating parameters")
    ax = dynfer.pl.schrodinger_bridge(adata, key="sb_lotka_volterra", n_paths=30, seed=ctx.seed)
    report.add_figure(ax.figure, "bridge_trajectories", caption="Snapshots (colour: time) and bridge trajectories.")
    plt.close(ax.figure)
    fig = dynfer.pl.bridge_parameters(adata, key="sb_lotka_volterra", truth=truth)
    report.add_figure(fig, "bridge_theta", caption="Reference parameters per refinement round (dashed: truth).")
    plt.close(fig)
    return {"heldout_times": held.tolist(), "w2": w2, "w2_mean": {m: float(np.mean(v)) for m, v in w2.items()},
            "theta_lotka_volterra": theta}


#: Extension point: one section per estimator, in report order, each reading the data that ``data_section`` put in
#: ``ctx.data`` and returning its metrics (deterministic given the seed on the CPU). Add an estimator here when it
#: lands in ``dynfer.estimators``.
ESTIMATOR_SECTIONS: dict[str, Section] = {"schrodinger_bridge": bridge_section}


def _backend_sections() -> dict[str, Section]:
    from dynfer.demo import SECTIONS

    def wrap(fn: Callable[..., dict[str, Any]]) -> Section:
        return lambda ctx: fn(ctx.report, ctx.seed, ctx.device, ctx.quick)

    return {name: wrap(fn) for name, fn in SECTIONS.items()}


def sections() -> dict[str, Section]:
    """All sections of the report, in order: data, estimators, backend checks.

    Returns
    -------
    dict
        ``{metrics key: section function}``.
    """
    return {"data": data_section, **ESTIMATOR_SECTIONS, **_backend_sections()}


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Run the quickstart and write its report into ``out_dir``.

    Parameters
    ----------
    out_dir
        Report folder (empty or absent).
    seed
        Seed of every random draw.
    device
        Torch device.
    quick
        Smaller sizes (seconds instead of minutes).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer._settings import settings
    from dynfer.report import Report

    dev = settings.resolve_device(device)
    estimators = ", ".join(ESTIMATOR_SECTIONS) or "none has landed yet; this report gains a section for each"
    report = Report(
        title="dynfer quickstart",
        summary="Built-in data, every estimator dynfer has so far, and the process backend checked against "
        f"closed forms; seed {seed}{', quick sizes' if quick else ''}. Estimators: {estimators}.",
    )
    ctx = Context(report=report, seed=seed, device=dev, quick=quick)
    metrics: dict[str, Any] = {"workflow": NAME, "seed": seed, "quick": quick, "estimators": list(ESTIMATOR_SECTIONS)}
    timings: dict[str, float] = {}
    for name, section in sections().items():
        start = time.perf_counter()
        metrics[name] = section(ctx)
        timings[name] = time.perf_counter() - start
    path = report.write(out_dir, metrics=metrics, seed=seed, device=str(dev), timings=timings)
    return path, metrics


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
