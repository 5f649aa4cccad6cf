"""Schrödinger bridges on the PBMC T-cell activation time course (``pbmc_timecourse_nc``, CC BY-NC 4.0).

30-d gene programs, 21 hourly snapshots of 500 cells, ``obs["time"]`` normalised to 0..1. Protocol of Shen,
Berlinghieri & Broderick (AISTATS 2025): train on the 11 even-indexed times, score the 10 odd ones by W2 (exact OT,
squared-Euclidean cost, square root) against OT-midpoint, persistence and the split-half floor. Methods: dynfer with
an MLP-potential reference (SBIRR's family for single-cell data), with a linear (OU) one, and vanilla SB.

The data are read in place from the mirror (``DYNFER_DATA_DIR``) and never copied: non-commercial use only.

Choices (CPU budget of about two minutes for all fits on two cores):

* the bridges are fitted on ``n_fit`` = 100 cells drawn (seeded) from each training snapshot: the P-step's
  log-domain Sinkhorn on 500 x 500 cells hits its 10,000-iteration cap and takes minutes per interval at the
  benchmark's noise level; the baselines and every held-out score use all 500 cells;
* ``sigma`` = 0.5 fixed (in units of the normalised time): with the fitted default (0.1 x the mean feature standard
  deviation, about 0.026) the entropic temperature 2 sigma^2 dt is ~1e-4 of the squared distances and Sinkhorn does
  not converge;
* the default ``steps_per_unit`` = 20 (a training interval of 0.1 gets ``min_steps`` = 4 Euler steps), ``n_iter`` = 3
  refinement rounds, potential network 30 -> 64 -> 64 -> 1 (SiLU) instead of the paper's 128-64-64.

``dynfer.tl.interpolate`` cannot rebuild an ``mlp_potential`` reference (it only knows the parametric families and
ignores ``reference_kwargs``), so this workflow fits :class:`dynfer.estimators.bridges.SchrodingerBridge` directly
and samples the bridge at the held-out times itself.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

NAME = "pbmc_timecourse"
DESCRIPTION = "Schrödinger bridges on the PBMC time course (30-d): held-out W2 vs OT-midpoint, persistence"
DATASETS: tuple[str, ...] = ("pbmc_timecourse_nc",)
SIGMA = 0.5
METHODS: dict[str, dict[str, Any]] = {
    "dynfer (mlp_potential reference)": {"reference": "mlp_potential", "sigma": SIGMA,
                                         "reference_kwargs": {"hidden": (64, 64)}},
    "dynfer (linear reference)": {"reference": "linear", "sigma": SIGMA},
    "vanilla SB (Brownian reference)": {"reference": "brownian", "sigma": SIGMA},
}


def _subsample(snaps: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [s if len(s) <= n else s[np.sort(rng.choice(len(s), n, replace=False))] for s in snaps]


def evaluate(
    x: np.ndarray,
    t: np.ndarray,
    methods: dict[str, dict[str, Any]],
    *,
    n_fit: int | None,
    n_iter: int,
    seed: int,
    device: str | None,
) -> Any:
    """Fit every method on the even-indexed times of ``(x, t)`` and score it at the odd-indexed ones.

    Parameters
    ----------
    x, t
        States ``(n, d)`` and their times ``(n,)``.
    methods
        ``{label: keyword arguments of SchrodingerBridge}``.
    n_fit
        Cells per training snapshot used by the fits (``None``: all).
    n_iter
        Refinement rounds of every non-Brownian method.
    seed, device
        Seed of the subsampling, fits and sampling; device of the fits.

    Returns
    -------
    dynfer.evaluation.HeldoutResult
        W2 per held-out time for each method and the OT-midpoint and persistence baselines, split-half floor.
    """
    from dynfer.estimators.bridges import SchrodingerBridge
    from dynfer.evaluation import HeldoutResult, baseline_w2, split_half_floor
    from dynfer.processes import wasserstein

    if n_fit is not None and (isinstance(n_fit, bool) or int(n_fit) != n_fit or n_fit < 2):
        raise ValueError(f"n_fit must be None or an integer >= 2, got {n_fit!r}")
    times = np.unique(t)
    if len(times) < 3:
        raise ValueError(f"t has {len(times)} distinct times; at least 3 are needed")
    train, held = times[0::2], times[1::2]
    held = held[held < train[-1]]
    snaps = [x[t == tt] for tt in train]
    fit_snaps = snaps if n_fit is None else _subsample(snaps, int(n_fit), seed)
    result = HeldoutResult(heldout_times=held.tolist(), w2={})
    for label, kwargs in methods.items():
        start = time.perf_counter()
        est = SchrodingerBridge(**{"n_iter": n_iter, **kwargs}, seed=seed, device=device).fit(fit_snaps, train)
        result.fit_seconds[label] = time.perf_counter() - start
        samples = est.sample(held.tolist(), seed=seed)
        result.w2[label] = [float(wasserstein(s, x[t == tt])) for s, tt in zip(samples, held, strict=True)]
        theta = {k: np.asarray(v) for k, v in est.reference_.theta().items()}
        result.theta[label] = {k: v.tolist() for k, v in theta.items() if v.size <= 64}
        result.theta[label]["sigma"] = float(est.sigma_)
        result.theta[label]["n_rounds"] = len(est.history_)
    targets = [x[t == tt] for tt in held]
    result.w2.update(baseline_w2(snaps, train, held, targets))
    result.floor = split_half_floor(targets, seed)
    return result


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Fit, score and write the report into ``out_dir`` (``quick``: 40 cells per fit, 1 round, a small network).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import dynfer
    from dynfer._settings import settings
    from dynfer.evaluation import report_heldout_bridges
    from dynfer.report import Report

    adata = dynfer.datasets.load_pbmc_timecourse()
    files = dynfer.datasets.fetch("pbmc_timecourse_nc")
    x = np.asarray(adata.X, dtype=np.float64)
    t = adata.obs["time"].to_numpy(dtype=np.float64)
    methods = {label: dict(kw) for label, kw in METHODS.items()}
    if quick:
        methods["dynfer (mlp_potential reference)"]["reference_kwargs"] = {"hidden": (16,)}
    n_fit, n_iter = (40, 1) if quick else (100, 3)
    dev = settings.resolve_device(device)
    result = evaluate(x, t, methods, n_fit=n_fit, n_iter=n_iter, seed=seed, device=str(dev))
    means = result.mean()
    report = Report(title="dynfer: Schrödinger bridges on the PBMC time course",
                    summary="pbmc_timecourse_nc (CC BY-NC 4.0, non-commercial), 21 hourly snapshots x 500 cells, "
                            "30 gene programs; W2 at the 10 held-out odd hours.")
    report.add_heading("Held-out time points")
    report.add_text(
        "Protocol of Shen, Berlinghieri & Broderick (AISTATS 2025): train on the even-indexed times, evaluate at the "
        f"odd-indexed ones. Fits use {n_fit} cells per training time (seeded subsample; Sinkhorn cost on this CPU), "
        f"sigma = {SIGMA} fixed, {n_iter} refinement round(s); the baselines and all scores use all 500 cells. "
        "Reference values of the baselines on this file: OT-midpoint 0.639, persistence 0.789, split-half floor "
        "0.761 (250 vs 250). Measured mean W2: "
        + ", ".join(f"{m} {v:.3f}" for m, v in means.items())
        + ". A method is only useful here if it beats OT-midpoint; fitted methods that do not are reported as is.")
    report_heldout_bridges(report, result)
    inputs = dict(files)
    metrics = {"seed": seed, "n_fit": n_fit, "n_iter": n_iter, "sigma": SIGMA, **result.metrics()}
    timings = {f"fit {m}": s for m, s in result.fit_seconds.items()}
    path = report.write(out_dir, metrics=metrics, seed=seed, device=str(dev), inputs=inputs, timings=timings)
    return path, metrics


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
