"""Worker of the distributed SA-SRRW test: ``torchrun --nproc_per_node 2 tests/_srrw_dist_worker.py OUT_DIR``.

Each rank owns half of the karate club's agents (contiguous node blocks), runs
:func:`dynfer.estimators.srrw.distributed.fit_distributed` and saves its gathered results to ``OUT_DIR/rank{r}.pt``.
The test imports :func:`problem` from this file to run the single-process reference with the same seed.
"""

from __future__ import annotations

import os
import sys

import networkx as nx
import numpy as np
import torch
import torch.distributed as dist


def problem():
    """Graph, data, sharding and estimator parameters shared by the workers and the single-process reference."""
    g = nx.karate_club_graph()
    rng = np.random.default_rng(3)
    n_rows = 34 * 6
    x = rng.normal(size=(n_rows, 4))
    node_of = np.repeat(np.arange(34), 6)
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.normal(size=n_rows) + (node_of % 3)
    cases = {
        "srrw_mhrw": {"alpha": 5.0, "base": "mhrw"},
        "srrw_srw_b1": {"alpha": 2.0, "base": "srw", "measure_exponent": 1.0, "theta_exponent": 1.0,
                        "theta_scale": 0.5},
        "nbrw": {"alpha": 0.0, "base": "nbrw"},
        "logistic": {"alpha": 10.0, "loss": "logistic", "l2": 0.1},
    }
    common = {"n_steps": 150, "n_runs": 12, "seed": 11, "dtype": torch.float64, "device": "cpu", "record": 10}
    return g, x, y, node_of, {name: {**common, **c} for name, c in cases.items()}


def main(out_dir: str) -> None:
    from dynfer.estimators.srrw.distributed import fit_distributed
    from dynfer.estimators.srrw.estimator import SelfRepellentSGD

    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    g, x, y, node_of, cases = problem()
    out = {}
    for name, params in cases.items():
        yy = (y > np.median(y)).astype(float) if params.get("loss") == "logistic" else y
        est = fit_distributed(SelfRepellentSGD(**params), g, x, yy, node_of)
        out[name] = {"theta": torch.as_tensor(est.theta_), "x": torch.as_tensor(est.x_),
                     "errors": torch.as_tensor(est.errors_), "handoffs": est.handoffs_,
                     "world": est.world_size_}
    torch.save(out, os.path.join(out_dir, f"rank{dist.get_rank()}.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
