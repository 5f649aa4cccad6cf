"""Batched Gillespie (dynfer) vs a plain per-path Python-loop Gillespie on the discrete flashing ratchet.

Protocol: ratchet V = 1 (r = b = 1), 10,000 paths started from the stationary distribution, observed on a 100-point
grid on [0, 10]. dynfer's ``RateMatrix.simulate`` (all paths advanced together, a loop over jump events only) is timed
with the median of ``--repeats`` runs. The reference loop (numpy draws, one path at a time, written below) is timed
on ``--loop-paths`` paths (default 500) and scaled linearly to 10,000 (paths are independent, so its cost is linear in
their number); it is also run once on all 10,000 paths, untimed-for-ratio, to compare occupation statistics at
t = 10 with dynfer's and with the stationary distribution (z-scores: difference / binomial standard error).

On CPU, dynfer is timed both with torch's default thread count and with one thread (the Python loop uses one core).

Run: python benchmarks/bench_gillespie.py [--device cuda] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_time, write_results

from dynfer.processes.jumps import flashing_ratchet

N_PATHS, N_OBS, T_END, V = 10_000, 100, 10.0, 1.0


def loop_gillespie(q: np.ndarray, grid: np.ndarray, init: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Textbook direct-method Gillespie (Gillespie 1977), one path at a time, observed on ``grid``."""
    exit_rate = -np.diag(q)
    jump = q / exit_rate[:, None]
    np.fill_diagonal(jump, 0.0)
    cum = np.cumsum(jump, axis=1)
    out = np.empty((len(init), len(grid)), dtype=np.int64)
    for p in range(len(init)):
        s, t, k = int(init[p]), grid[0], 0
        while k < len(grid):
            t_next = t + rng.exponential(1.0 / exit_rate[s])
            while k < len(grid) and grid[k] < t_next:
                out[p, k] = s
                k += 1
            s = int(np.searchsorted(cum[s], rng.random() * cum[s, -1], side="right"))
            t = t_next
    return out


def occupation(states: np.ndarray) -> list[float]:
    return (np.bincount(states, minlength=6) / len(states)).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-paths", type=int, default=500)
    args = parser.parse_args()
    dev = torch.device(args.device)

    rm = flashing_ratchet(V, device=dev)
    q = rm.Q.cpu().numpy()
    pi = rm.stationary_distribution().cpu().numpy()
    grid_t = torch.linspace(0.0, T_END, N_OBS, dtype=torch.float64, device=dev)
    grid = grid_t.cpu().numpy()

    def run_dynfer() -> torch.Tensor:
        return rm.simulate(N_PATHS, grid_t, seed=0)

    default_threads = torch.get_num_threads()
    timings = {f"threads_{default_threads}": median_time(run_dynfer, repeats=args.repeats, device=str(dev))}
    if dev.type == "cpu" and default_threads != 1:
        torch.set_num_threads(1)
        timings["threads_1"] = median_time(run_dynfer, repeats=args.repeats, device=str(dev))
        torch.set_num_threads(default_threads)
    dyn_paths = run_dynfer().cpu().numpy()

    rng = np.random.default_rng(0)
    init = rng.choice(6, size=N_PATHS, p=pi)
    loop_times = []
    for _ in range(3):
        start = time.perf_counter()
        loop_gillespie(q, grid, init[: args.loop_paths], rng)
        loop_times.append(time.perf_counter() - start)
    loop_subset = float(np.median(loop_times))
    loop_scaled = loop_subset * N_PATHS / args.loop_paths
    start = time.perf_counter()
    loop_paths = loop_gillespie(q, grid, init, rng)
    loop_full = time.perf_counter() - start

    dyn_occ, loop_occ = np.array(occupation(dyn_paths[:, -1])), np.array(occupation(loop_paths[:, -1]))
    se_one = np.sqrt(pi * (1 - pi) / N_PATHS)
    best = min(timings.values())
    results = {
        "protocol": {
            "system": "discrete flashing ratchet V=1, r=b=1 (6 states)",
            "n_paths": N_PATHS,
            "grid": f"{N_OBS} points, linspace(0, {T_END})",
            "initial": "stationary distribution",
            "device": str(dev),
            "repeats": args.repeats,
            "loop_reference": "per-path Python loop with numpy draws (loop_gillespie in this file)",
            "loop_timing": (
                f"median of 3 runs on {args.loop_paths} paths, scaled linearly x{N_PATHS / args.loop_paths:g}"
            ),
        },
        "dynfer_seconds": timings,
        "loop_seconds_subset": loop_subset,
        "loop_seconds_scaled_to_n_paths": loop_scaled,
        "loop_seconds_full_single_run": loop_full,
        "speedup_vs_scaled_loop": {k: loop_scaled / v for k, v in timings.items()},
        "speedup_best": loop_scaled / best,
        "occupation_at_t10": {
            "stationary_pi": pi.tolist(),
            "dynfer": dyn_occ.tolist(),
            "loop": loop_occ.tolist(),
            "max_abs_z_dynfer_vs_pi": float(np.max(np.abs(dyn_occ - pi) / se_one)),
            "max_abs_z_loop_vs_pi": float(np.max(np.abs(loop_occ - pi) / se_one)),
            "max_abs_z_dynfer_vs_loop": float(np.max(np.abs(dyn_occ - loop_occ) / (np.sqrt(2) * se_one))),
        },
        "mean_state_changes_seen_on_grid_per_path": float((dyn_paths[:, 1:] != dyn_paths[:, :-1]).sum(1).mean()),
    }
    write_results("gillespie", results)


if __name__ == "__main__":
    main()
