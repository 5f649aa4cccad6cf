"""Schrödinger bridges on the staged mmtraj benchmark files: held-out W2 and fit time per method.

Protocol (Shen, Berlinghieri & Broderick, AISTATS 2025; reference values in the project's schrodinger_bridges note):
train on the even-indexed of the 11 time points, score the odd ones by W2 (exact OT, squared-Euclidean cost, square
root) against the OT-midpoint and persistence baselines and the split-half noise floor. Wall-clock fit time of each
dynfer fit, to compare with the 0.36-4.67 h the paper's GP/IPF implementation needs per task.

Run: DYNFER_DATA_DIR=<mirror> python benchmarks/bench_bridges.py [--systems lotka_volterra gulf_of_mexico]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results

import dynfer
from dynfer.evaluation import evaluate_heldout_bridges

FAMILIES = {"lotka_volterra": "lotka_volterra", "gulf_of_mexico": "vortex",
            "repressilator_mrna": "repressilator", "repressilator_mrna_protein": "repressilator"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", nargs="+", default=["lotka_volterra", "gulf_of_mexico"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dynfer.settings.progress = False
    results = {}
    for system in args.systems:
        adata = dynfer.datasets.load("mmtraj_benchmarks", system=system)
        methods = {f"dynfer ({FAMILIES[system]} reference)": {"reference": FAMILIES[system], "sigma": 0.1},
                   "dynfer (linear reference)": {"reference": "linear", "sigma": 0.1},
                   "vanilla SB": {"reference": "brownian", "sigma": 0.1}}
        res = evaluate_heldout_bridges(adata, methods, seed=args.seed, device=args.device)
        results[system] = {**res.metrics(), "fit_seconds": res.fit_seconds}
    write_results("bridges_mmtraj", {"protocol": "train even / hold out odd time points; W2 exact", **results})


if __name__ == "__main__":
    main()
