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


#: Extension point: one section per estimator, in report order, each reading the data that ``data_section`` put in
#: ``ctx.data`` and returning its metrics (deterministic given the seed on the CPU). Add an estimator here when it
#: lands in ``dynfer.estimators`` -- the Schrödinger-bridge section (multi-marginal bridge on ``ctx.data
#: ["lotka_volterra"]``, evaluated on the held-out time points) is the next one. Empty until then.
ESTIMATOR_SECTIONS: dict[str, Section] = {}


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
