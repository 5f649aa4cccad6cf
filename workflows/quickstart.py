"""Quickstart: the main job of the README, on built-in data only, in a few minutes on a laptop CPU.

One report composed from every registered section (:mod:`dynfer.workflows.sections`), in order: the data
(Lotka–Volterra snapshots split into training and held-out times), one section per estimator that has landed, then
the backend checks against closed forms. A new estimator adds its section file; this script does not change.

Run it with ``dynfer run quickstart [--quick] [--device DEV] [--seed N] [--out DIR]``. The same seed on the CPU
reproduces ``metrics.json`` exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "quickstart"
DESCRIPTION = "the README's main job: built-in data, every estimator so far and the backend checks, one report"
DATASETS: tuple[str, ...] = ("lotka_volterra_snapshots",)


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Run every section and write the report into ``out_dir`` (``quick``: smaller sizes).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer.workflows.report import compose

    return compose(out_dir, kinds=("data", "estimator", "backend"), title="dynfer quickstart", seed=seed,
                   device=device, quick=quick, summary="Built-in data, every estimator dynfer has so far, and the "
                   "process backend checked against closed forms.", metrics={"workflow": NAME})


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
