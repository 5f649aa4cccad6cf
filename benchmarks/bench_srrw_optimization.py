"""SA-SRRW least squares on wikiVote (goal G2) and the regime x alpha sweep: MSE ratio to alpha = 0 against theory.

Problem: :func:`dynfer.workflows.srrw.least_squares_problem` on the 889 nodes of wikiVote (5 features, 10 rows per
node, node-specific coefficients 1 + N(0, 1), noise 0.5; contiguous shards), objective sum_i mu_i f_i with the
uniform mu, MHRW base, theta_0 = 0, x_0 = 1/N. Regimes (gamma_n = (n+1)^-a, beta_n = (n+1)^-0.8): a = 0.9
(gamma = o(beta)), 0.8 (gamma ~ beta), 0.7 (beta = o(gamma)); alpha in {0, 1, 5, 10, 20}. Per row: the simulated
E||theta_n - theta*||^2 at n steps over the runs (standard error from the runs), its ratio to alpha = 0, the
finite-n linearised prediction with the same step sizes (dynfer.estimators.srrw.linearised) and its ratio, the
asymptotic tr V_theta(alpha) and the empirical tr Cov((theta_n - theta*)/sqrt(gamma_n)). Baselines (alpha = 0, the
gamma = o(beta) steps): SRW and NBRW (gradients reweighted by 1/d), i.i.d. agents, centralised SGD (one row per step).

Goal G2 (at 10^5 steps, alpha = 10, gamma = o(beta)): MSE ratio to alpha = 0 at most 0.03, below the gamma ~ beta
regime's, and within 25 % of the linearised prediction.

Usage::

    python benchmarks/bench_srrw_optimization.py --quick     # < 3 min: 10^4 steps, 50 runs, alpha 0 / 10, 3 regimes
    python benchmarks/bench_srrw_optimization.py --g2        # G2: 10^5 steps, 100 runs, alpha 0 / 10, regimes (i), (ii)
    python benchmarks/bench_srrw_optimization.py             # full sweep: 10^5 steps, 100 runs, 5 alphas x 3 regimes

The walk runs about 10^5-10^6 token-steps per second on one shared core here (the per-step overhead dominates at
100 runs), so the full sweep takes about an hour; ``--g2`` about ten minutes. ``--g2`` and the full sweep write
``benchmarks/results/srrw_optimization.json``, ``--quick`` writes ``srrw_optimization_quick.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results

from dynfer import settings
from dynfer.workflows.srrw import (
    ALPHAS,
    REGIMES,
    least_squares_problem,
    optimisation_baselines,
    optimisation_sweep,
    strip_curves,
    theory_context,
    uniform_spectrum,
)


def g2_verdict(sweep: dict[str, Any]) -> dict[str, Any]:
    """The three G2 checks at alpha = 10 (when the sweep has alpha 0 and 10 in the first two regimes)."""
    regimes = sweep["regimes"]
    fast = {r["alpha"]: r for r in regimes.get("gamma=o(beta)", {}).get("rows", [])}
    same = {r["alpha"]: r for r in regimes.get("gamma~beta", {}).get("rows", [])}
    if 10.0 not in fast:
        return {"evaluated": False}
    row = fast[10.0]
    out: dict[str, Any] = {"evaluated": True, "n_steps": sweep["n_steps"], "ratio": row["ratio_to_alpha0"],
                           "ratio_se": row["ratio_se"], "ratio_at_most_0.03": bool(row["ratio_to_alpha0"] <= 0.03)}
    if 10.0 in same:
        out["ratio_gamma_equal_beta"] = same[10.0]["ratio_to_alpha0"]
        out["below_gamma_equal_beta"] = bool(row["ratio_to_alpha0"] < same[10.0]["ratio_to_alpha0"])
    if "sim_over_linearised" in row:
        out["sim_over_linearised"] = row["sim_over_linearised"]
        out["within_25pct_of_linearised"] = bool(abs(row["sim_over_linearised"] - 1.0) <= 0.25)
        out["linearised_ratio"] = row["linearised_ratio"]
        out["asymptotic_ratio_tr_V_theta"] = row["asymptotic_ratio"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="wikivote889")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS))
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--quick", action="store_true", help="10^4 steps, 50 runs, alpha 0 / 10, all regimes")
    parser.add_argument("--g2", action="store_true", help="10^5 steps, 100 runs, alpha 0 / 10, regimes (i), (ii)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.runs, args.alphas = 10_000, 50, [0.0, 10.0]
    if args.g2:
        args.alphas, args.regimes, args.skip_baselines = [0.0, 10.0], ["gamma=o(beta)", "gamma~beta"], True
    torch.set_num_threads(1)
    settings.progress = False
    from bench_srrw_sampling import load_graph

    start = time.perf_counter()
    graph = load_graph(args.graph)
    spec = uniform_spectrum(graph, 7000)
    x, y = least_squares_problem(graph.number_of_nodes(), seed=args.seed)
    theory = theory_context(graph, x, y, spectrum=spec)
    sweep = optimisation_sweep(graph, x, y, alphas=args.alphas, regimes=args.regimes, n_steps=args.steps,
                               n_runs=args.runs, seed=args.seed, theory=theory if spec is not None else None)
    results: dict[str, Any] = {
        "description": "SA-SRRW least squares (MHRW base to uniform, theta_0 = 0, x_0 = 1/N): MSE at n steps vs "
                       "alpha per regime, beside the finite-n linearised prediction and tr V_theta(alpha)",
        "graph": args.graph, "n_nodes": graph.number_of_nodes(), "quick": args.quick, "g2_mode": args.g2,
        "problem": "least_squares_problem(N, n_features=5, rows_per_node=10, heterogeneity=1, noise=0.5, "
                   f"seed={args.seed})",
        "spectral_gap": spec.spectral_gap if spec is not None else None,
        "sweep": strip_curves(sweep), "curves": {reg: [{k: r[k] for k in ("alpha", "steps", "mse", "mse_sem",
                                                                          "linearised_mse") if k in r}
                                                       for r in blk["rows"]]
                                                 for reg, blk in sweep["regimes"].items()},
        "goal_G2": g2_verdict(sweep),
        "why_not_the_asymptote": "gamma_n/beta_n = n^-(a-b) = n^-0.1 is 0.32 at 10^5 steps: the x-modes relax at "
                                 "rate beta_n (alpha(1+lambda)+1), not infinitely faster than theta, so the case (i) "
                                 "O(1/alpha^2) limit (asymptotic_ratio) is far below the finite-n ratio; compare "
                                 "with linearised_ratio",
        "machine_note": "one core (taskset -c 1), torch 1 thread, machine shared with other jobs: timings indicative",
        "load_average_1min_at_start": os.getloadavg()[0],
    }
    if not args.skip_baselines:
        results["baselines"] = optimisation_baselines(graph, x, y, n_steps=args.steps, n_runs=args.runs,
                                                      seed=args.seed, theta_star=theory["theta_star"])
    results["load_average_1min_at_end"] = os.getloadavg()[0]
    results["total_seconds"] = time.perf_counter() - start
    name = "srrw_optimization" + ("_quick" if args.quick else "")
    write_results(name, results, None if args.out is None else Path(args.out))


if __name__ == "__main__":
    main()
