"""The data section: stochastic Lotka–Volterra snapshots from the built-in generator, split into train / held-out.

The sections after it read the labelled AnnData from ``ctx.data["lotka_volterra"]``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

import dynfer
from dynfer.workflows.sections._registry import Context, section

__all__: list[str] = []


@section("data", kind="data", order=0)
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
