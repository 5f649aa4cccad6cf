"""SRRW sampling and SA-SRRW least squares on the p2p-Gnutella graphs (04: 10,876 nodes; 08: largest component).

SNAP p2p-Gnutella04 (10,876 nodes, 39,994 edges, used by HDT) and the largest component of p2p-Gnutella08 (6,299
nodes, HDT appendix), both from the dataset mirror, read as undirected graphs. Per graph: the walk's sampling
variance n E||x_n - mu||^2 against alpha in {0, 1, 5, 10, 20}, and SA-SRRW on a heterogeneous least-squares
problem sharded over the nodes; the dense theory (tr V(alpha), V_theta(alpha), the linearised prediction) is
computed for Gnutella08 only in the full mode (Gnutella04's 10,876 x 10,876 eigen-decomposition is left out).

Run it with ``dynfer run srrw_gnutella [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` runs 1,000
steps on Gnutella08 only (10 runs, one regime, no theory).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "srrw_gnutella"
DESCRIPTION = "SRRW sampling variance and SA-SRRW least squares vs alpha on p2p-Gnutella04 and 08"
DATASETS: tuple[str, ...] = ("p2p_gnutella04", "p2p_gnutella08")

FULL = {"sampling_steps": 100_000, "sampling_tokens": 100, "n_steps": 100_000, "n_runs": 100, "max_dense": 7_000}
QUICK = {"sampling_steps": 1_000, "sampling_tokens": 20, "n_steps": 1_000, "n_runs": 10,
         "regimes": ("gamma=o(beta)",), "baselines": False, "max_dense": 1_000}


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Load the graphs, run both sweeps per graph and write one report into ``out_dir``."""
    from dynfer.datasets.loaders import load_p2p_gnutella04, load_p2p_gnutella08
    from dynfer.report import Report
    from dynfer.workflows.srrw import QUICK_NOTE, study_graph

    graphs = {"p2p_gnutella08": load_p2p_gnutella08}
    if not quick:
        graphs["p2p_gnutella04"] = load_p2p_gnutella04
    report = Report(title="dynfer: self-repellent random walks on p2p-Gnutella",
                    summary=(QUICK_NOTE + " " if quick else "") + "SRRW sampling variance and SA-SRRW least-squares "
                    f"error against alpha on {', '.join(graphs)}. Seed {seed}.")
    metrics: dict[str, Any] = {"quick": quick, "seed": seed, "graphs": {}}
    timings: dict[str, float] = {}
    for name, load in graphs.items():
        metrics["graphs"][name], timings[name] = study_graph(report, load(), name=name, seed=seed, device=device,
                                                             sizes=QUICK if quick else FULL)
    path = report.write(out_dir, metrics=metrics, seed=seed, device=str(device), timings=timings)
    return path, metrics


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
