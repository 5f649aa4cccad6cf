"""Schrödinger bridges on the four systems of the multi-marginal trajectory benchmarks (``mmtraj_benchmarks``).

For each staged system (Lotka–Volterra, Gulf of Mexico vortex, repressilator mRNA, repressilator mRNA + protein;
11 time points x 200 particles) this trains on the even-indexed time points and scores the odd ones by W2 against
OT-midpoint and persistence: dynfer with the true reference family, with a misspecified linear one, and vanilla SB.
The repressilator's true family starts from the OT-matched shooting initialisation (plain refinement from the
paper's weak-drift start stalls at this training gap). One report, one section per system, each with the figures of
the true family's fit (bridge paths, the learned drift's stream lines, θ per round). Run with
``dynfer run mmtraj_benchmarks`` (the data come from the registry's local mirror, ``DYNFER_DATA_DIR``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "mmtraj_benchmarks"
DESCRIPTION = "Schrödinger bridges on the 4 mmtraj benchmark systems: held-out W2 vs OT-midpoint, persistence"
DATASETS: tuple[str, ...] = ("mmtraj_benchmarks",)
REPRESSILATOR = {"beta": 10.0, "n": 3.0, "k": 1.0, "gamma": 1.0}
SYSTEMS: dict[str, dict[str, Any]] = {  # system: true family, its extra options, generating parameters
    "lotka_volterra": {"family": "lotka_volterra", "options": {},
                       "truth": {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1}},
    "gulf_of_mexico": {"family": "vortex", "options": {}, "truth": None},
    "repressilator_mrna": {"family": "repressilator", "options": {"init": "shooting"}, "truth": REPRESSILATOR},
    "repressilator_mrna_protein": {"family": "repressilator", "options": {"init": "shooting"},
                                   "truth": REPRESSILATOR},
}
SIGMA = 0.1


def methods(system: str, n_iter: int) -> dict[str, dict[str, Any]]:
    """``{label: SchrodingerBridge parameters}`` for one system: the true family, linear, Brownian."""
    spec = SYSTEMS[system]
    common = {"sigma": SIGMA, "n_iter": n_iter}
    return {f"dynfer ({spec['family']} reference)": {"reference": spec["family"], **common, **spec["options"]},
            "dynfer (linear reference, misspecified)": {"reference": "linear", **common},
            "vanilla SB (Brownian reference)": {"reference": "brownian", **common}}


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Fit, score and write the report into ``out_dir`` (``quick``: 4 refinement rounds instead of 10).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary (``systems``: one held-out result per system).
    """
    import numpy as np

    from dynfer import datasets
    from dynfer.report import Report
    from dynfer.workflows.bridges import (
        QUICK_NOTE,
        heldout_with_baselines,
        report_figures,
        report_heldout,
        theta_summary,
    )

    n_iter = 4 if quick else 10
    files = datasets.fetch("mmtraj_benchmarks")
    summary = ("mmtraj_benchmarks (MIT), 11 time points x 200 particles per system; W2 at the held-out odd time "
               f"points; sigma = {SIGMA}, {n_iter} refinement rounds.")
    report = Report(title="dynfer: Schrödinger bridges on the mmtraj benchmarks",
                    summary=f"{QUICK_NOTE} {summary}" if quick else summary)
    metrics: dict[str, Any] = {"seed": seed, "n_iter": n_iter, "quick": bool(quick), "systems": {}}
    timings: dict[str, float] = {}
    for system, spec in SYSTEMS.items():
        adata = datasets.load("mmtraj_benchmarks", system=system)
        x = np.asarray(adata.X, dtype=np.float64)
        t = adata.obs["time"].to_numpy(dtype=np.float64)
        times = np.unique(t)
        chosen = methods(system, n_iter)
        result = heldout_with_baselines([x[t == tt] for tt in times], times, chosen, seed=seed, device=device)
        report.add_heading(f"{system}: held-out time points")
        report.add_text("Train on the even-indexed time points, score the odd ones. Mean W2: "
                        + ", ".join(f"{m} {v:.3f}" for m, v in result.mean().items()) + ".")
        true_method = next(iter(chosen))
        report_heldout(report, result, truth=spec["truth"], truth_method=true_method)
        report_figures(report, result, true_method, [x[t == tt] for tt in times], times, seed=seed,
                       var_names=list(adata.var_names), truth=spec["truth"], name=system)
        metrics["systems"][system] = {**result.metrics(), "theta": {m: theta_summary(result.models[m])
                                                                     for m in chosen}}
        timings.update({f"{system}: fit {m}": s for m, s in result.fit_seconds.items()})
    path = report.write(out_dir, metrics=metrics, seed=seed, device=device, inputs=dict(files), timings=timings)
    return path, metrics


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
