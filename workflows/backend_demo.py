"""Backend demo: four small simulations with dynfer's process backend, each checked against an independent answer.

Ornstein–Uhlenbeck variance against the exact law, the flashing ratchet's occupation and mean first-passage time
against linear algebra, the self-repellent walk's error against its CLT covariance, and empirical W2 against the
Bures formula (see :mod:`dynfer.demo`). Run it with ``dynfer run backend_demo`` (or ``dynfer demo``), or
``python workflows/backend_demo.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "backend_demo"
DESCRIPTION = "process backend (SDEs, jump processes, walks, transport) checked against closed forms"
DATASETS: tuple[str, ...] = ()


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Run the backend demo and write its report into ``out_dir``.

    Parameters
    ----------
    out_dir
        Report folder (empty or absent).
    seed
        Seed of every random draw.
    device
        Torch device.
    quick
        Smaller sample sizes (seconds).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer.demo import run_demo

    return run_demo(out_dir, seed=seed, device=device, quick=quick)


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
