"""Entropy-production rates on closed-form OU systems: the score model against its baselines and NEEP/TUR.

Protocol (``../shared/references/entropy_production.md`` §2-3): for each linear benchmark of
:mod:`dynfer.datasets.entropy_benchmarks` (exact stationary samples, exact paths, exact rate), one row with the exact
rate σ and, on the same data, per method the estimate, its standard error, the relative error |σ̂ - σ|/σ and the
seconds: the score-MLP plug-in (``ScoreEntropyProduction.rate_``) and its variational lower bound, the score-free
identity (an oracle: it uses the known drift and no score), the Gaussian plug-in, the equilibrium score (σ̂ = 0),
NEEP and the short-time TUR bound (linear basis; MLP basis for small d) from exact paths at a small lag dt. Also the
relative L2 error of the probability-flow velocity ‖v̂ - v‖/‖v‖ on held-out stationary samples (noisy coordinates;
the exact v from the benchmark). NEEP and TUR are biased low at finite dt: that is the point of showing them.

Degenerate AOUP (ε = 0): the total rate is infinite; the score model learns only the active block g and the row
compares it with σ_g = dκ. The score-free identity does not apply to one block and NEEP/TUR estimate the (divergent)
total path rate, so their relative errors against σ_g are reported as ``null`` (the estimates are kept).

Goals: ≤ 3 % relative EPR error for random OU with d ≤ 20, ≤ 10 % at d = 100; velocity within 10 % relative L2.

Run: python benchmarks/bench_entropy.py [--quick] [--systems random_ou_d10,bead_spring_N2,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DYNFER_PROGRESS", "0")
import numpy as np
import torch
from _common import write_results

from dynfer import settings
from dynfer.datasets.entropy_benchmarks import (
    BEAD_SPRING_UNIT_RATE_T_COLD,
    LinearEntropyBenchmark,
    aoup_trap,
    bead_spring,
    brownian_gyrator,
    random_ou,
    rotational_ou,
)
from dynfer.estimators.entropy.estimator import ScoreEntropyProduction
from dynfer.evaluation.entropy_baselines import neep_rate, tur_rate

N_HELDOUT = 5000  # fresh stationary samples for the velocity error
DT_FRACTION = 0.02  # trajectory lag as a fraction of the fastest relaxation time 1/max|eig(A)|
TUR_MLP_MAX_DIM = 10  # the MLP-basis TUR is run only up to this dimension (cost)
BEAD_SAMPLES = {64: 50_000, 128: 100_000}  # per-N stationary samples of the high-dimensional chains


@dataclass
class Case:
    """One benchmark row: the system, its sample size, score-model settings and trajectory budget."""

    key: str
    build: Callable[[], LinearEntropyBenchmark]
    n_samples: int = 20_000
    score: dict[str, Any] = field(default_factory=dict)
    n_paths: int = 1000
    n_traj_steps: int = 20
    neep_steps: int = 600
    goal: float | None = None
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


def full_cases() -> list[Case]:
    """The full benchmark: random OU d = 2..100, rotation, gyrator, AOUP (ε > 0 and ε = 0), bead-spring chains.

    Score settings: the estimator's defaults (2000 steps, batch 256, exact Hyvärinen up to 32 noisy coordinates,
    else DSM) except batch 1024 and 3000 steps for d <= 5, batch 512 at d = 10 (velocity error), and sliced score
    matching for the chains with N >= 32 (DSM fails there, shown as a variant; exact at N = 32 costs ~3x sliced for
    a similar error). d = 100 runs DSM on 50,000 samples, with DSM and sliced on 20,000 as variants. Larger chains
    get more samples (BEAD_SAMPLES). Chains from N = 8 on are cross-fitted (``cross_fit=True``: σ = 1 is a small
    part of E|b|² = 2N + 1, so the plug-in's squared score error dominates), with the plain plug-in as a variant.
    """
    small = {"batch_size": 1024, "n_steps": 3000}  # d <= 5: cheap exact divergences, early stopping is noisy
    cases = [
        Case("random_ou_d2", lambda: random_ou(2, seed=0), goal=0.03, score=dict(small)),
        Case("random_ou_d10", lambda: random_ou(10, seed=0), score={"batch_size": 512}, goal=0.03),
        Case("random_ou_d50", lambda: random_ou(50, seed=0)),
        Case("random_ou_d100", lambda: random_ou(100, seed=0), n_samples=50_000, goal=0.10,
             variants={"dsm_20k": {"n_samples": 20_000, "objective": "dsm"},
                       "sliced_20k": {"n_samples": 20_000, "objective": "sliced"}}),
        Case("rotational_ou", rotational_ou, score=dict(small)),
        Case("brownian_gyrator", brownian_gyrator, score=dict(small)),
        Case("aoup_trap_eps0.1", aoup_trap, score=dict(small)),
        Case("aoup_trap_eps0", lambda: aoup_trap(epsilon=0.0), score=dict(small)),
        Case("bead_spring_N2", lambda: bead_spring(2), score=dict(small)),
        Case("bead_spring_N5", lambda: bead_spring(5), score=dict(small)),
    ]
    for n in (8, 16, 32, 64, 128):
        large = n >= 32
        score = {"cross_fit": True, **({"objective": "sliced"} if large else {})}
        variants: dict[str, dict[str, Any]] = {"plain plug-in": {"cross_fit": False}}
        if n == 16:  # the velocity error falls as n^(-1/2): the 10 % goal needs about 3e5 samples at N = 16
            variants["more samples"] = {"n_samples": 320_000}
        if large:
            variants["dsm"] = {"objective": "dsm"}
        cases.append(Case(f"bead_spring_N{n}", lambda n=n: bead_spring(n), n_samples=BEAD_SAMPLES.get(n, 20_000),
                          score=score, variants=variants))
    return cases


def quick_cases() -> list[Case]:
    """A smoke run: three 2-D systems, small samples and budgets."""
    small = {"n_steps": 200, "batch_size": 256}
    kw = {"n_samples": 2000, "score": small, "n_paths": 200, "n_traj_steps": 10, "neep_steps": 100}
    return [Case("random_ou_d2", lambda: random_ou(2, seed=0), **kw), Case("rotational_ou", rotational_ou, **kw),
            Case("brownian_gyrator", brownian_gyrator, **kw)]


# ---------------------------------------------------------------------- one row
def reference_rate(bench: LinearEntropyBenchmark) -> tuple[float, str]:
    """The exact rate the score model targets: the total, or the noisy block's when the total is infinite."""
    total = bench.entropy_production
    if math.isfinite(total):
        return total, "total"
    return bench.sector_rate(bench.noisy), "noisy block (total infinite)"


def entry(rate: float, stderr: float, sigma: float | None, seconds: float | None, **extra: Any) -> dict[str, Any]:
    """A method's cell: estimate, standard error, relative error (``None`` without a comparable target), seconds."""
    rel = None if sigma is None or not math.isfinite(rate) else abs(rate - sigma) / sigma
    return {"estimate": float(rate), "stderr": float(stderr), "rel_error": rel, "seconds": seconds, **extra}


def velocity_error(est: ScoreEntropyProduction, bench: LinearEntropyBenchmark, x_new: np.ndarray) -> float:
    r"""Relative L2 error :math:`\|\hat v - v\|/\|v\|` of the probability-flow velocity on the noisy coordinates."""
    idx = list(bench.noisy)
    v_hat = est.velocity(x_new)[:, idx]
    v = np.asarray(bench.velocity(x_new))[:, idx]
    return float(np.linalg.norm(v_hat - v) / np.linalg.norm(v))


def fit_score(bench: LinearEntropyBenchmark, x: np.ndarray, settings_: dict[str, Any]) -> ScoreEntropyProduction:
    """``ScoreEntropyProduction(bench.drift, bench.D, seed=0, dtype=float64, **settings_)`` fitted on ``x``."""
    return ScoreEntropyProduction(bench.drift, bench.D, seed=0, dtype=torch.float64, **settings_).fit(x)


def score_cells(est: ScoreEntropyProduction, bench: LinearEntropyBenchmark, x_new: np.ndarray,
                sigma: float) -> dict[str, Any]:
    """The score model's cells: plug-in, lower bound, velocity error and diagnostics."""
    diag = est.diagnostics_
    return {
        "score_mlp": entry(est.rate_, est.rate_stderr_, sigma, est.fit_seconds_, objective=est.objective_,
                           n_validations=len(est.history_["val_loss"])),
        "score_lower_bound": entry(est.rate_lower_bound_, est.rate_lower_bound_stderr_, sigma, est.fit_seconds_,
                                   n_heldout=int(diag["n_heldout"])),
        "velocity_rel_l2": velocity_error(est, bench, x_new),
        "diagnostics": {"fpe_residual": _num(diag["fpe_residual"]), "mean_div_v": _num(diag["mean_div_v"]),
                        "mean_v_dot_s": _num(diag["mean_v_dot_s"]), "gap": _num(diag["gap"])},
    }


def _num(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def lag(bench: LinearEntropyBenchmark) -> tuple[float, float]:
    """``(dt, tau_min)``: the lag DT_FRACTION × the fastest relaxation time 1/max|eig(A)|."""
    tau = 1.0 / float(np.abs(np.linalg.eigvals(bench.A)).max())
    return DT_FRACTION * tau, tau


def trajectory_cells(bench: LinearEntropyBenchmark, case: Case, sigma: float | None) -> dict[str, Any]:
    """NEEP and TUR (linear; MLP for small d) on exact stationary paths at the lag of :func:`lag`."""
    dt, tau = lag(bench)
    paths = bench.trajectories(case.n_paths, case.n_traj_steps, dt, seed=7)
    out: dict[str, Any] = {"trajectories": {"n_paths": case.n_paths, "n_steps": case.n_traj_steps, "dt": dt,
                                            "tau_min": tau, "dt_over_tau_min": DT_FRACTION}}
    start = time.perf_counter()
    neep = neep_rate(paths, dt, n_steps=case.neep_steps, seed=0, dtype=torch.float64)
    out["neep"] = entry(neep.rate, neep.stderr, sigma, time.perf_counter() - start, n_steps=case.neep_steps)
    start = time.perf_counter()
    tur = tur_rate(paths, dt, basis="linear", seed=0, dtype=torch.float64)
    out["tur_linear"] = entry(tur.rate, tur.stderr, sigma, time.perf_counter() - start,
                              closed_form=tur.details["closed_form"], simple=tur.details["simple"])
    if bench.dim <= TUR_MLP_MAX_DIM:
        start = time.perf_counter()
        steps = max(50, case.neep_steps // 2)
        tm = tur_rate(paths, dt, basis="mlp", n_steps=steps, seed=0, dtype=torch.float64)
        out["tur_mlp"] = entry(tm.rate, tm.stderr, sigma, time.perf_counter() - start, n_steps=steps)
    return out


def run_case(case: Case) -> dict[str, Any]:
    """Every method on one system (same stationary samples, same paths)."""
    bench = case.build()
    sigma, target = reference_rate(bench)
    degenerate = not math.isfinite(bench.entropy_production)
    x = bench.sample(case.n_samples, seed=1)
    x_new = bench.sample(N_HELDOUT, seed=2)
    est = fit_score(bench, x, case.score)
    row: dict[str, Any] = {"system": case.key, "name": bench.name, "parameters": _plain(bench.parameters),
                           "dim": bench.dim, "sigma_exact": sigma, "target": target,
                           "n_samples": case.n_samples, "n_heldout_velocity": N_HELDOUT,
                           "score_settings": {"objective": "auto", **case.score}}
    row.update(score_cells(est, bench, x_new, sigma))
    start = time.perf_counter()
    gauss = ScoreEntropyProduction(bench.drift, bench.D, model="gaussian", seed=0, dtype=torch.float64).fit(x)
    g_sec = time.perf_counter() - start
    sf = est.baselines_["score_free"]
    row["score_free"] = entry(sf["rate"], sf["stderr"], None if degenerate else sigma, g_sec,
                              note="oracle: known drift, no score; seconds of the Gaussian fit's evaluation")
    row["gaussian"] = entry(gauss.rate_, gauss.rate_stderr_, sigma, g_sec)
    gx = gauss.baselines_["gaussian_cross_fit"]
    row["gaussian_cross_fit"] = entry(gx["rate"], gx["stderr"], sigma, g_sec,
                                      note="Gaussian scores on two halves, cross product (dynfer.estimators."
                                           "entropy.cross_fit)")
    row["equilibrium"] = entry(0.0, 0.0, sigma, 0.0)
    row.update(trajectory_cells(bench, case, None if degenerate else sigma))
    if case.goal is not None:
        rel = row["score_mlp"]["rel_error"]
        row["goal"] = {"rel_error_max": case.goal, "velocity_rel_l2_max": 0.10,
                       "met": bool(rel <= case.goal and row["velocity_rel_l2"] <= 0.10)}
    if case.variants:
        row["variants"] = {name: run_variant(bench, case, spec, sigma, x_new) for name, spec in case.variants.items()}
    return row


def run_variant(bench: LinearEntropyBenchmark, case: Case, spec: dict[str, Any], sigma: float,
                x_new: np.ndarray) -> dict[str, Any]:
    """The score model alone with other settings (objective, sample size) on the same system."""
    spec = dict(spec)
    n = spec.pop("n_samples", case.n_samples)
    settings_ = {**case.score, **spec}
    est = fit_score(bench, bench.sample(n, seed=1), settings_)
    out = {"n_samples": n, "score_settings": settings_}
    out.update(score_cells(est, bench, x_new, sigma))
    return out


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in params.items()}


# ---------------------------------------------------------------------- cost growth
def scaling(quick: bool) -> dict[str, Any]:
    """Score-model fit seconds against d (random OU, 20k samples) and against n (d = 10), fixed step budget.

    Early stopping is off (``patience=None``) so every fit runs the same number of steps and the seconds compare
    cost, not convergence.
    """
    steps = 50 if quick else 200
    dims = (2, 10) if quick else (2, 10, 20, 50, 100)
    sizes = (2000, 5000) if quick else (5000, 20_000, 50_000)
    base = {"n_steps": steps, "batch_size": 256, "patience": None}
    vs_d = {}
    for d in dims:
        b = random_ou(d, seed=0)
        est = fit_score(b, b.sample(2000 if quick else 20_000, seed=1), base)
        vs_d[str(d)] = {"fit_seconds": est.fit_seconds_, "objective": est.objective_,
                        "seconds_per_step": est.fit_seconds_ / steps}
    vs_n = {}
    b = random_ou(10, seed=0)
    for n in sizes:
        est = fit_score(b, b.sample(n, seed=1), base)
        vs_n[str(n)] = {"fit_seconds": est.fit_seconds_, "seconds_per_step": est.fit_seconds_ / steps}
    return {"settings": base, "samples_vs_d": 2000 if quick else 20_000, "fit_seconds_vs_dim": vs_d,
            "fit_seconds_vs_samples_d10": vs_n}


# ---------------------------------------------------------------------- report
METHODS = ("score_mlp", "score_lower_bound", "score_free", "gaussian", "gaussian_cross_fit", "neep", "tur_linear",
           "tur_mlp")


def _cell(c: dict[str, Any]) -> str:
    rel = "n/a" if c["rel_error"] is None else f"{100 * c['rel_error']:.1f}%"
    return f"{c['estimate']:.4g} ({rel}, {c['seconds']:.1f}s)"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table: per system the exact rate, each method's estimate (relative error, seconds) and velocity error."""
    head = "| system | d | σ | " + " | ".join(METHODS) + " | ‖v̂−v‖/‖v‖ |"
    lines = [head, "|" + "---|" * (len(METHODS) + 4)]
    for r in rows:
        cells = [_cell(r[m]) if m in r else "—" for m in METHODS]
        lines.append(f"| {r['system']} | {r['dim']} | {r['sigma_exact']:.4g} | " + " | ".join(cells)
                     + f" | {100 * r['velocity_rel_l2']:.1f}% |")
        for name, var in r.get("variants", {}).items():
            cells = [_cell(var[m]) if m in var else "—" for m in METHODS]
            lines.append(f"| {r['system']} [{name}, n={var['n_samples']}] | {r['dim']} | {r['sigma_exact']:.4g} | "
                         + " | ".join(cells) + f" | {100 * var['velocity_rel_l2']:.1f}% |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="three 2-D systems, tiny budgets (a smoke run)")
    parser.add_argument("--systems", default=None, help="comma-separated system keys (default: all)")
    parser.add_argument("--out", default=None, help="output JSON path (default: benchmarks/results/entropy.json; "
                        "--quick: entropy_quick.json in the system temp folder, so a smoke run never overwrites "
                        "the results)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the cost-growth section")
    parser.add_argument("--note", default=None, help="free-text note stored in the JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings.progress = False
    cases = quick_cases() if args.quick else full_cases()
    if args.systems:
        wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
        known = {c.key for c in cases}
        unknown = [s for s in wanted if s not in known]
        if unknown:
            parser.error(f"unknown systems {unknown}; choose from {sorted(known)}")
        cases = [c for c in cases if c.key in wanted]
    rows = []
    for case in cases:
        start = time.perf_counter()
        rows.append(run_case(case))
        print(f"{case.key}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    results: dict[str, Any] = {
        "quick": bool(args.quick), "rows": rows,
        "protocol": {"score_model": "ScoreEntropyProduction(bench.drift, bench.D, seed=0, dtype=float64, "
                                    "**score_settings); objective 'auto' = exact Hyvarinen up to 32 noisy "
                                    "coordinates, else dsm",
                     "samples": "exact stationary samples (bench.sample, seed=1); velocity on fresh samples "
                                "(seed=2)",
                     "trajectories": f"exact paths (bench.trajectories, seed=7), dt = {DT_FRACTION} / max|eig(A)|",
                     "neep": "neep_rate defaults (hidden 256x256, patience 10) except n_steps",
                     "tur": f"tur_rate linear (closed form when d(d+1) <= 4096); MLP basis for d <= "
                            f"{TUR_MLP_MAX_DIM}",
                     "seconds": "score: fit_seconds_ (training only); gaussian/score_free: wall time of a "
                                "model='gaussian' fit; NEEP/TUR: wall time of the call",
                     "bead_spring_T_cold": {str(k): v for k, v in BEAD_SPRING_UNIT_RATE_T_COLD.items()}},
    }
    if not args.no_scaling:
        results["scaling"] = scaling(args.quick)
    if args.note:
        results["note"] = args.note
    results["table_markdown"] = markdown(rows)
    if args.out:
        out = Path(args.out)
        out_dir, name = (out.parent, out.stem) if out.suffix == ".json" else (out, "entropy")
    elif args.quick:
        out_dir, name = Path(tempfile.gettempdir()), "entropy_quick"
    else:
        out_dir, name = None, "entropy"
    write_results(name, results, out_dir)
    print(results["table_markdown"])


if __name__ == "__main__":
    main()
