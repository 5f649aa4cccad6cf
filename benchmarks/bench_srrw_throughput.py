"""Throughput of the full SA-SRRW step (walk move + measure update + iterate update), in token-steps per second.

1,000 tokens (independent runs) of :class:`dynfer.estimators.srrw.SelfRepellentSGD`, least squares on synthetic data
sharded evenly over the nodes (40 rows per node), MHRW base to the uniform target, gamma_n = (n+1)^-0.9,
beta_n = (n+1)^-0.8. The iterate update is one batched mat-vec per step with the precomputed per-node
A_i = mean x x^T and b_i = mean x y. Grid: graphs ``karate_club_graph`` (34 nodes) and
``random_regular_graph(8, 1000, seed=0)``; p in {10, 30}; alpha in {0, 10}; float32 and float64. For reference the
same walk alone (``SelfRepellentWalk.run``, no iterate) is timed on each graph, and one logistic row (p = 10).

The figure is the simulation loop only (``SelfRepellentSGD.throughput_``: steps x tokens / seconds of the loop),
the median and the best over ``--repeats`` fits (seeds 0, 1, ...; the best is the figure on a shared, loaded CPU,
whose load average is recorded); setup (statistics, theta*) is excluded and reported
separately as ``setup_s``. Least squares with p >= 16 multiplies by one GEMM per node (tokens grouped by node)
instead of a gathered (R, p, p) batch.

Usage: ``python benchmarks/bench_srrw_throughput.py [--quick] [--device cpu|cuda] [--steps 1000] [--tokens 1000]
[--repeats 2] [--threads 1]``. ``--quick`` runs 300 steps, one repeat, karate only (under a minute); the full grid
(the defaults) takes a few minutes on one core. Writes ``benchmarks/results/srrw_throughput.json``
(``srrw_throughput_quick.json`` with
``--quick``; ``srrw_throughput_cuda.json`` on a GPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results

from dynfer import settings
from dynfer.estimators.srrw import SelfRepellentSGD
from dynfer.processes.walks import SelfRepellentWalk

GRAPHS = {
    "karate_club_graph": nx.karate_club_graph,
    "random_regular_graph(8, 1000, seed=0)": lambda: nx.random_regular_graph(8, 1000, seed=0),
}
ROWS_PER_NODE = 40


def problem(graph: nx.Graph, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic least-squares rows, 40 per node (node_of=None: contiguous even blocks)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(graph.number_of_nodes() * ROWS_PER_NODE, p))
    return x, x @ rng.normal(size=p) + rng.normal(size=x.shape[0])


def time_fit(graph, x, y, *, repeats, **params) -> dict:
    """Median loop throughput over ``repeats`` fits, and the setup seconds of the last one."""
    rates, setup = [], 0.0
    for r in range(repeats):
        start = time.perf_counter()
        est = SelfRepellentSGD(record=1, seed=r, **params).fit(graph, x, y)
        total = time.perf_counter() - start
        loop = params["n_steps"] * params["n_runs"] / est.throughput_
        rates.append(est.throughput_)
        setup = total - loop
    return {"token_steps_per_s": statistics.median(rates), "best_token_steps_per_s": max(rates), "all": rates,
            "setup_s": setup}


def time_walk(graph, alpha, n_steps, n_tokens, dtype, device, repeats) -> dict:
    walk = SelfRepellentWalk(graph, alpha, dtype=dtype, device=device)
    walk.run(20, n_tokens=n_tokens, seed=0)
    rates = []
    for r in range(repeats):
        if walk.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        walk.run(n_steps, n_tokens=n_tokens, seed=r)
        if walk.device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(n_steps * n_tokens / (time.perf_counter() - start))
    return {"token_steps_per_s": statistics.median(rates), "best_token_steps_per_s": max(rates), "all": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 steps, one repeat, karate only")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps, repeats = (300, 1) if args.quick else (args.steps, args.repeats)
    graphs = {"karate_club_graph": GRAPHS["karate_club_graph"]} if args.quick else GRAPHS
    rows = []
    with settings.override(progress=False):
        for gname, make in graphs.items():
            g = make()
            for dtype in (torch.float32, torch.float64):
                for alpha in (0.0, 10.0):
                    walk = time_walk(g, alpha, steps, args.tokens, dtype, args.device, repeats)
                    rows.append({"graph": gname, "what": "walk only", "alpha": alpha, "p": 0,
                                 "dtype": str(dtype).removeprefix("torch."), **walk})
                    print(rows[-1], flush=True)
                    for p in (10, 30):
                        x, y = problem(g, p)
                        t = time_fit(g, x, y, repeats=repeats, alpha=alpha, n_steps=steps, n_runs=args.tokens,
                                     dtype=dtype, device=args.device)
                        rows.append({"graph": gname, "what": "SA-SRRW least squares", "alpha": alpha, "p": p,
                                     "dtype": str(dtype).removeprefix("torch."), **t})
                        print(rows[-1], flush=True)
            x, y = problem(g, 10)
            t = time_fit(g, x, (y > 0).astype(float), repeats=repeats, alpha=10.0, n_steps=steps,
                         n_runs=args.tokens, loss="logistic", l2=0.1, dtype=torch.float32, device=args.device)
            rows.append({"graph": gname, "what": "SA-SRRW logistic", "alpha": 10.0, "p": 10, "dtype": "float32",
                         **t})
            print(rows[-1], flush=True)
    ls = [r for r in rows if r["what"] == "SA-SRRW least squares"]
    best = max(ls, key=lambda r: r["token_steps_per_s"])
    name = "srrw_throughput" + ("_quick" if args.quick else "") + ("_cuda" if args.device.startswith("cuda") else "")
    write_results(name, {
        "settings": {"tokens": args.tokens, "steps": steps, "repeats": repeats, "threads": args.threads,
                     "device": args.device, "rows_per_node": ROWS_PER_NODE, "base": "mhrw",
                     "theta_exponent": 0.9, "measure_exponent": 0.8},
        "rows": rows,
        "best_least_squares": best,
        "goal_token_steps_per_s": 1e6,
        "goal_met_p10_median": any(r["token_steps_per_s"] >= 1e6 for r in ls if r["p"] == 10),
        "goal_met_p10_best": any(r["best_token_steps_per_s"] >= 1e6 for r in ls if r["p"] == 10),
        "load_average_1min": os.getloadavg()[0],
    }, None if args.out is None else Path(args.out))


if __name__ == "__main__":
    main()
