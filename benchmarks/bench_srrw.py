"""Throughput of the batched self-repellent random walk (token-steps per second).

1,000 tokens on 10,000-node seeded synthetic graphs, MHRW base to the uniform target, alpha in {0, 5, 20}:

* ``barabasi_albert``: ``nx.barabasi_albert_graph(10000, 4, seed=0)`` (heavy-tailed degrees, max 280, so the
  padded neighbour table is 281 wide while the mean degree is 8);
* ``random_regular``: ``nx.random_regular_graph(8, 10000, seed=0)`` (table width 9).

Reference: a naive per-token Python loop (numpy per step, one token at a time), in two variants: ``literal``
updates the full measure x_{n+1} = x_n + beta (delta - x_n) each step (O(N) per step, as the recursion is
written); ``counts`` keeps unnormalised visit counts (O(deg) per step, the same trick as the batched walk). The
loop is timed on a few tokens and reported as token-steps per second; its throughput does not depend on the
number of tokens, so it stands for 1,000 tokens run one after another (scaled, not run).

Usage: ``python benchmarks/bench_srrw.py [--device cpu|cuda] [--steps 500] [--tokens 1000] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_results

from dynfer import settings
from dynfer.processes.walks import SelfRepellentWalk, metropolis_hastings_matrix

GRAPHS = {
    "barabasi_albert(10000, 4, seed=0)": lambda: nx.barabasi_albert_graph(10000, 4, seed=0),
    "random_regular_graph(8, 10000, seed=0)": lambda: nx.random_regular_graph(8, 10000, seed=0),
}


def naive_loop(graph: nx.Graph, alpha: float, n_steps: int, n_tokens: int, literal: bool, seed: int = 0) -> float:
    """Per-token Python loop; returns seconds for n_tokens * n_steps token-steps."""
    p = metropolis_hastings_matrix(graph, device="cpu", dtype=torch.float64)
    crow, col, val = p.crow_indices().numpy(), p.col_indices().numpy(), p.values().numpy()
    n = len(crow) - 1
    nbrs, logp = [], []
    for i in range(n):
        cols, vals = col[crow[i] : crow[i + 1]], val[crow[i] : crow[i + 1]]
        if i not in cols:
            cols, vals = np.append(cols, i), np.append(vals, 0.0)
        nbrs.append(cols)
        with np.errstate(divide="ignore"):
            logp.append(np.log(vals))
    log_mu = math.log(1.0 / n)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(n_tokens):
        x = np.full(n, 1.0 / n)
        cur = int(rng.integers(n))
        for step in range(n_steps):
            beta = (step + 2.0) ** -1.0
            nb = nbrs[cur]
            logits = logp[cur] - alpha * (np.log(x[nb]) - log_mu)
            w = np.exp(logits - logits.max())
            cdf = np.cumsum(w)
            cur = int(nb[min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(nb) - 1)])
            if literal:
                x *= 1.0 - beta
                x[cur] += beta
            else:  # unnormalised counts: the kernel is scale-invariant
                x[cur] += 1.0
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: settings.device)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--naive-tokens", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    settings.progress = False
    device = settings.resolve_device(args.device)
    results: dict = {
        "description": "SRRW token-steps per second, MHRW base to uniform, float32",
        "n_tokens": args.tokens,
        "n_steps": args.steps,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min_at_start": os.getloadavg()[0],
        "naive_reference": "per-token Python/numpy loop timed on --naive-tokens tokens, rate scaled to all tokens",
        "graphs": {},
    }
    for gname, make in GRAPHS.items():
        graph = make()
        degrees = np.array([d for _, d in graph.degree()])
        entry: dict = {
            "n_nodes": graph.number_of_nodes(),
            "n_edges": graph.number_of_edges(),
            "max_degree": int(degrees.max()),
            "mean_degree": float(degrees.mean()),
            "padded_table_width": int(degrees.max()) + 1,
            "alpha": {},
        }
        for alpha in (0.0, 5.0, 20.0):
            walk = SelfRepellentWalk(graph, alpha, device=device)
            entry["narrow_table_width"] = walk._width  # two-tier CPU step; equals the padded width on GPU
            seconds = median_time(
                lambda walk=walk: walk.run(args.steps, n_tokens=args.tokens, seed=0),
                repeats=3,
                warmup=1,
                device=str(device),
            )
            token_steps = args.tokens * args.steps
            row = {"batched_seconds": seconds, "batched_token_steps_per_s": token_steps / seconds}
            for variant, literal in (("literal", True), ("counts", False)):
                t_naive = naive_loop(graph, alpha, args.steps, args.naive_tokens, literal)
                rate = args.naive_tokens * args.steps / t_naive
                row[f"naive_{variant}_token_steps_per_s"] = rate
                row[f"naive_{variant}_timed_tokens"] = args.naive_tokens
                row[f"naive_{variant}_scaled_seconds_for_all_tokens"] = token_steps / rate
                row[f"speedup_vs_naive_{variant}"] = row["batched_token_steps_per_s"] / rate
            entry["alpha"][str(alpha)] = row
            print(gname, alpha, {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        results["graphs"][gname] = entry
    results["load_average_1min_at_end"] = os.getloadavg()[0]
    write_results("srrw", results, None if args.out is None else Path(args.out))


if __name__ == "__main__":
    main()
