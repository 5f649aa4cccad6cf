"""Schrödinger bridges on the Lotka–Volterra snapshots of the multi-marginal trajectory benchmarks (mmtraj_benchmarks).

Trains on the even-indexed of the 11 time points and scores the odd ones by W2 against OT-midpoint and persistence:
dynfer with the true (lotka_volterra) reference family, with a misspecified linear one, and vanilla SB. Run with
``dynfer run mmtraj_lotka_volterra`` (the data come from the registry's local mirror, ``DYNFER_DATA_DIR``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "mmtraj_lotka_volterra"
DESCRIPTION = "Schrödinger bridges on the Lotka–Volterra benchmark: held-out W2 vs OT-midpoint, persistence"
DATASETS: tuple[str, ...] = ("mmtraj_benchmarks",)
METHODS = {
    "dynfer (lotka_volterra reference)": {"reference": "lotka_volterra", "sigma": 0.1},
    "dynfer (linear reference, misspecified)": {"reference": "linear", "sigma": 0.1},
    "vanilla SB (Brownian reference)": {"reference": "brownian", "sigma": 0.1},
}
TRUTH: dict[str, float] | None = {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1}


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Fit, score and write the report into ``out_dir`` (``quick``: fewer refinement rounds).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer.evaluation import run_mmtraj_workflow

    return run_mmtraj_workflow(
        "lotka_volterra", METHODS, out_dir, title="dynfer: Schrödinger bridges on Lotka–Volterra snapshots",
        seed=seed, device=device, quick=quick, truth=TRUTH, truth_method="dynfer (lotka_volterra reference)")


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
