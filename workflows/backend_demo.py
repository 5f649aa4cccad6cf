"""Backend demo: four small simulations with dynfer's process backend, each checked against an independent answer.

Ornstein–Uhlenbeck variance against the exact law, the flashing ratchet's occupation and mean first-passage time
against linear algebra, the self-repellent walk's error against its CLT covariance, and empirical W2 against the
Bures formula (the ``backend`` sections of :mod:`dynfer.workflows.sections`). Run it with ``dynfer run backend_demo``
(or ``dynfer demo``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "backend_demo"
DESCRIPTION = "process backend (SDEs, jump processes, walks, transport) checked against closed forms"
DATASETS: tuple[str, ...] = ()


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Run the backend sections and write their report into ``out_dir`` (``quick``: smaller samples).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer.workflows.report import compose

    return compose(out_dir, kinds=("backend",), title="dynfer: process backend demo", seed=seed, device=device,
                   quick=quick, summary="Small simulations with dynfer's batched backend, each compared with an "
                   "answer computed independently (closed form or linear algebra).")


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
