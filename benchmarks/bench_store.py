"""Fit once, then use many times: the cost of ``tl.interpolate`` and the plots against the fit, on PBMC.

Before the estimator contract, ``tl.interpolate`` and ``pl.schrodinger_bridge`` rebuilt the reference from ``uns``
and recomputed the whole bridge on every call (``SchrodingerBridge(...).fit(..., refine=False)``). Now the fitted
estimator is stored in ``uns`` and loaded back; a call costs a load (fingerprint check included) and a sampling.
This measures, on the PBMC time course (``pbmc_timecourse_nc``, read from the mirror; 30 gene programs, train on
the 11 even hours), with an ``mlp_potential`` reference (64, 64) and sigma = 0.5 as in the workflow:

* the fit (``tl.schrodinger_bridge``, ``n_iter`` rounds, ``--cells`` cells per time);
* the old per-call cost: one bridge under the fitted reference (``refine=False``), what each call used to recompute;
* ``tl.interpolate`` at the 10 held-out hours, ``pl.schrodinger_bridge`` (30 paths x 60 times), an h5ad round trip
  plus ``tl.load_estimator``; median of ``--repeats`` runs.

Cost of a call grows as O(n_times x n_paths x d) for sampling plus O(n_cells x d) for the fingerprint hash; the fit
grows with the Sinkhorn cost, O(n_cells^2) per interval and round.

Run: DYNFER_DATA_DIR=<mirror> python benchmarks/bench_store.py [--cells 100] [--n-iter 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import median_time, write_results

import dynfer
from dynfer.estimators.bridges import SchrodingerBridge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100, help="cells per time point (seeded subsample)")
    parser.add_argument("--n-iter", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dynfer.settings.progress = False

    adata = dynfer.datasets.load_pbmc_timecourse()
    rng = np.random.default_rng(args.seed)
    t = adata.obs["time"].to_numpy()
    keep = np.concatenate([rng.choice(np.flatnonzero(t == tt), args.cells, replace=False) for tt in np.unique(t)])
    adata = adata[np.sort(keep)].copy()
    dynfer.pp.split_timepoints(adata, holdout="odd")
    held = np.asarray(adata.uns["split"]["heldout_times"], dtype=np.float64)
    params = {"reference": "mlp_potential", "sigma": 0.5, "n_iter": args.n_iter, "seed": args.seed,
              "reference_kwargs": {"hidden": (64, 64)}}

    start = time.perf_counter()
    dynfer.tl.schrodinger_bridge(adata, train_key="split", **params)
    fit_s = time.perf_counter() - start

    est = dynfer.tl.load_estimator(adata, "schrodinger_bridge")
    x = np.asarray(adata.X, dtype=np.float64)
    train_mask = adata.obs["split"].to_numpy() == "train"
    times = np.asarray(est.times_)
    tt = adata.obs["time"].to_numpy()
    xs = [x[train_mask & (tt == s)] for s in times]

    def old_call() -> None:  # what interpolate and every plot used to recompute
        SchrodingerBridge(est.reference_, sigma=est.sigma_, seed=args.seed).fit(xs, times, refine=False)

    def interpolate() -> None:
        dynfer.tl.interpolate(adata, held, seed=args.seed)

    def plot() -> None:
        ax = dynfer.pl.schrodinger_bridge(adata, n_paths=30, n_times=60, seed=args.seed, show=False)
        plt.close(ax.figure)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pbmc.h5ad"

        def round_trip() -> None:
            adata.write_h5ad(path)
            dynfer.tl.load_estimator(ad.read_h5ad(path), "schrodinger_bridge")

        timings = {name: median_time(fn, repeats=args.repeats) for name, fn in
                   (("old_per_call_refit", old_call), ("interpolate", interpolate), ("plot", plot),
                    ("h5ad_round_trip_and_load", round_trip))}
    results = {
        "dataset": "pbmc_timecourse_nc", "cells_per_time": args.cells, "n_iter": args.n_iter,
        "reference": "mlp_potential (64, 64)", "sigma": 0.5, "bridge_paths": int(est.paths_.shape[1]),
        "fit_seconds": fit_s, **{f"{k}_seconds": v for k, v in timings.items()},
        "speedup_interpolate_vs_old": timings["old_per_call_refit"] / timings["interpolate"],
        "speedup_plot_vs_old": (timings["old_per_call_refit"] + timings["plot"]) / timings["plot"],
        "fit_over_interpolate": fit_s / timings["interpolate"],
        "uns_entry_state_bytes": int(sum(np.asarray(v).nbytes for v in est.state_dict()["reference"].values())
                                     + np.asarray(est.state_dict()["paths"]).nbytes),
    }
    write_results("store_pbmc", results)


if __name__ == "__main__":
    main()
