"""Schrödinger bridges on the Gulf of Mexico vortex snapshots of the trajectory benchmarks (mmtraj_benchmarks).

Trains on the even-indexed of the 11 time points and scores the odd ones by W2 against OT-midpoint and persistence:
dynfer with the true (vortex) reference family, with a misspecified linear one, and vanilla SB. Run with
``dynfer run mmtraj_gulf_of_mexico`` (the data come from the registry's local mirror, ``DYNFER_DATA_DIR``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "mmtraj_gulf_of_mexico"
DESCRIPTION = "Schrödinger bridges on the Gulf of Mexico vortex benchmark: held-out W2 vs OT-midpoint, persistence"
DATASETS: tuple[str, ...] = ("mmtraj_benchmarks",)
METHODS = {
    "dynfer (vortex reference)": {"reference": "vortex", "sigma": 0.1},
    "dynfer (linear reference, misspecified)": {"reference": "linear", "sigma": 0.1},
    "vanilla SB (Brownian reference)": {"reference": "brownian", "sigma": 0.1},
}
TRUTH: dict[str, float] | None = None


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Fit, score and write the report into ``out_dir`` (``quick``: fewer refinement rounds).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer.evaluation import run_mmtraj_workflow

    return run_mmtraj_workflow(
        "gulf_of_mexico", METHODS, out_dir, title="dynfer: Schrödinger bridges on Gulf of Mexico vortex snapshots",
        seed=seed, device=device, quick=quick, truth=TRUTH, truth_method="dynfer (vortex reference)")


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
