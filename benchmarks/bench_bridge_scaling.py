"""Schrödinger-bridge fit time and held-out W2 against the cells per time: dense vs mini-batch couplings (vs moscot).

Protocol, at each size n (cells per time; default 500, 1k, 3k, 10k, 30k):

* ``lv``: 2-D stochastic Lotka-Volterra snapshots (``datasets.lotka_volterra_snapshots(n_per_time=n, times=0..10)``),
  trained on the 6 even times, scored at the 5 odd ones; reference ``"lotka_volterra"``, ``sigma=0.1``, 5 refinement
  rounds (``n_iter=5``).
* ``pbmc``: 30-d PBMC-like data: at each of the 21 PBMC times a Gaussian with the snapshot's mean and covariance
  (``pbmc_timecourse_nc``, 500 cells per time; needs ``DYNFER_DATA_DIR``), resampled to n cells; trained on times
  0, 4, ..., 20 (6 times), scored at 2, 6, ..., 18; reference ``"linear"``, ``sigma="auto"``, 5 rounds.

Each fit runs with ``batch_size=None`` (dense couplings, up to ``--dense-max`` cells) and with mini-batches of
``--batch-size`` cells. Reported: wall-clock fit seconds, held-out W2 (exact OT, squared-Euclidean cost, square root,
mean over the scored times; ``--n-score`` sampled bridge particles against as many held-out cells) and the
OT-midpoint baseline (McCann interpolation of the exact plan between the training neighbours, same subsamples).

``--moscot PYTHON``: moscot 0.5.2 ``TemporalProblem`` couplings (balanced entropic OT on the raw coordinates, no
dynamics learned) on the same data through ``benchmarks/peers/moscot_temporal.py`` run by ``PYTHON``, the
interpreter of a separate virtual environment (moscot pulls jax; it never enters dynfer's environment)::

    python -m venv /tmp/moscot-env && /tmp/moscot-env/bin/pip install moscot

``--memory N``: one mini-batch LV fit at N cells per time (default goal 50,000 within 24 GB) in a child process;
records its peak resident memory (``ru_maxrss``).

Run (the full protocol takes hours on a 2-core CPU; the goals: 10,000 cells per time with the LV reference under
2 minutes, held-out W2 of the mini-batch fit within noise of the dense one at 1,000 cells):

    DYNFER_DATA_DIR=<data> DYNFER_PROGRESS=0 python benchmarks/bench_bridge_scaling.py \\
        [--sizes 500 1000 3000 10000 30000] [--systems lv pbmc] [--moscot /tmp/moscot-env/bin/python] \\
        [--memory 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import torch
from _common import write_results

import dynfer
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.processes import wasserstein
from dynfer.processes.transport import OTConvergenceWarning, ot_plan

HERE = Path(__file__).resolve().parent
SETTINGS = {
    "lv": {"reference": "lotka_volterra", "sigma": 0.1, "n_iter": 5},
    "pbmc": {"reference": "linear", "sigma": "auto", "n_iter": 5},
}


# ---------------------------------------------------------------------------------------------- data
def lv_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[float], list[float]]:
    """LV snapshots at times 0..10, ``n`` per time: (x, time, training times, held-out times)."""
    adata = dynfer.datasets.lotka_volterra_snapshots(n_per_time=n, times=list(range(11)), seed=seed)
    t = adata.obs["time"].to_numpy(dtype=np.float64)
    return np.asarray(adata.X, dtype=np.float64), t, [float(s) for s in range(0, 11, 2)], \
        [float(s) for s in range(1, 10, 2)]


def pbmc_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[float], list[float]]:
    """Gaussian resampling of PBMC's 21 snapshots to ``n`` cells each (30-d)."""
    adata = dynfer.datasets.load("pbmc_timecourse_nc")
    t = adata.obs["time"].to_numpy(dtype=np.float64)
    x = np.asarray(adata.X, dtype=np.float64)
    times = np.unique(t)
    rng = np.random.default_rng(seed)
    xs, ts = [], []
    for s in times:
        snap = x[t == s]
        xs.append(rng.multivariate_normal(snap.mean(0), np.cov(snap.T), size=n))
        ts.append(np.full(n, s))
    return np.concatenate(xs), np.concatenate(ts), [float(times[i]) for i in range(0, 21, 4)], \
        [float(times[i]) for i in range(2, 19, 4)]


DATA = {"lv": lv_data, "pbmc": pbmc_data}


# ---------------------------------------------------------------------------------------------- scoring
def _sub(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return x if x.shape[0] <= k else x[rng.choice(x.shape[0], k, replace=False)]


def w2_scores(samples: list[np.ndarray], x, t, heldout, n_score: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(wasserstein(_sub(s, n_score, rng), _sub(x[t == h], n_score, rng))) for s, h in
            zip(samples, heldout, strict=True)]


def ot_midpoint(x, t, train, heldout, n_score: int, seed: int) -> list[np.ndarray]:
    """McCann interpolants of the exact plan between subsamples of the training neighbours of each held-out time."""
    rng = np.random.default_rng(seed)
    out = []
    for h in heldout:
        k = max(j for j in range(len(train) - 1) if train[j] < h)
        a, b = _sub(x[t == train[k]], n_score, rng), _sub(x[t == train[k + 1]], n_score, rng)
        plan = np.asarray(ot_plan(a, b, method="exact"))
        j = plan.argmax(1)  # n = m and uniform weights: the exact plan is a permutation
        lam = (h - train[k]) / (train[k + 1] - train[k])
        out.append((1 - lam) * a + lam * b[j])
    return out


# ---------------------------------------------------------------------------------------------- fits
def fit_once(system: str, x, t, train, heldout, batch_size, n_score: int, seed: int) -> dict:
    xs = [x[t == s] for s in train]
    est = SchrodingerBridge(**SETTINGS[system], seed=seed, batch_size=batch_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OTConvergenceWarning)
        start = time.perf_counter()
        est.fit(xs, train)
        seconds = time.perf_counter() - start
    samples = est.sample(heldout, n=n_score, seed=seed)
    w2 = w2_scores(samples, x, t, heldout, n_score, seed)
    return {"seconds": seconds, "w2": w2, "w2_mean": float(np.mean(w2)), "batch_size": batch_size,
            "ot_warnings": sum(issubclass(w.category, OTConvergenceWarning) for w in caught)}


def _last_line(stderr: str) -> str:
    """The exception line of a child's traceback (the frames would record this machine's paths)."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def moscot_once(python: str, x, t, train, heldout, n_score: int, seed: int, epsilon: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        keep = np.isin(t, train + heldout)
        np.savez(data, x=x[keep], time=t[keep], train=np.array(train), heldout=np.array(heldout))
        cmd = [python, str(HERE / "peers" / "moscot_temporal.py"), "--data", str(data), "--out", str(out),
               "--epsilon", str(epsilon), "--n-sample", str(n_score), "--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": _last_line(proc.stderr)}
        res = np.load(out)
        samples = [res[f"heldout_{i}"] for i in range(len(heldout))]
        w2 = w2_scores(samples, x, t, heldout, n_score, seed)
        return {"seconds": float(res["seconds"]), "w2": w2, "w2_mean": float(np.mean(w2)),
                "converged": res["converged"].tolist(), "epsilon": epsilon}


def memory_child(n: int, batch_size: int, seed: int) -> None:
    """One mini-batch LV fit at ``n`` cells per time; prints seconds and peak RSS (GiB) as JSON."""
    torch.set_num_threads(1)
    x, t, train, _ = lv_data(n, seed)
    start = time.perf_counter()
    SchrodingerBridge(**SETTINGS["lv"], seed=seed, batch_size=batch_size).fit([x[t == s] for s in train], train)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"n": n, "batch_size": batch_size, "seconds": seconds, "peak_rss_gib": peak_kib / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 3000, 10_000, 30_000])
    parser.add_argument("--systems", nargs="+", default=["lv", "pbmc"], choices=sorted(DATA))
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--small-batch", type=int, default=250,
                        help="mini-batch size at the sizes <= --batch-size (where --batch-size would be dense)")
    parser.add_argument("--dense-max", type=int, default=3000, help="largest size fitted with dense couplings")
    parser.add_argument("--compare-n", type=int, default=1000, help="size of the dense vs mini-batch W2 check")
    parser.add_argument("--compare-seeds", type=int, default=3, help="seeds of that check (its noise)")
    parser.add_argument("--n-score", type=int, default=1000, help="particles per held-out W2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--moscot", metavar="PYTHON", default=None, help="interpreter of a moscot environment")
    parser.add_argument("--moscot-epsilon", type=float, default=1e-3)
    parser.add_argument("--moscot-max", type=int, default=10_000,
                        help="largest size given to moscot (its couplings took 445 s at 10,000 cells per time)")
    parser.add_argument("--memory", type=int, default=None, metavar="N", help="peak-RSS check at N cells per time")
    parser.add_argument("--skip-fits", action="store_true",
                        help="only the baselines and moscot (e.g. to redo a peer run into its own results file)")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--name", default="bridge_scaling", help="results file name (without .json)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.batch_size, args.seed)
        return
    results: dict = {"protocol": {"sizes": args.sizes, "systems": args.systems, "batch_size": args.batch_size,
                                  "dense_max": args.dense_max, "n_score": args.n_score, "seed": args.seed,
                                  "settings": SETTINGS, "torch_threads": 1}}
    for system in args.systems:
        rows = []
        for n in args.sizes:
            x, t, train, heldout = DATA[system](n, args.seed)
            row: dict = {"n": n}
            mid = ot_midpoint(x, t, train, heldout, args.n_score, args.seed)
            row["ot_midpoint"] = {"w2": (w2 := w2_scores(mid, x, t, heldout, args.n_score, args.seed + 1)),
                                  "w2_mean": float(np.mean(w2))}
            batch = args.batch_size if n > args.batch_size else args.small_batch
            if n <= args.dense_max and not args.skip_fits:
                row["dense"] = fit_once(system, x, t, train, heldout, None, args.n_score, args.seed)
            if not args.skip_fits:
                row["minibatch"] = fit_once(system, x, t, train, heldout, batch, args.n_score, args.seed)
            if n == args.compare_n and n <= args.dense_max and not args.skip_fits:
                # the W2 noise of both fits over seeds (data, fit and scoring all reseeded)
                for label, bs in (("dense", None), ("minibatch", batch)):
                    means = []
                    for s in range(args.seed, args.seed + args.compare_seeds):
                        xs_, ts_, tr_, ho_ = DATA[system](n, s)
                        means.append(fit_once(system, xs_, ts_, tr_, ho_, bs, args.n_score, s)["w2_mean"])
                    row[f"{label}_over_seeds"] = {"w2_mean": float(np.mean(means)),
                                                  "w2_sd": float(np.std(means, ddof=1)), "w2_means": means}
            if args.moscot and n <= args.moscot_max:
                row["moscot"] = moscot_once(args.moscot, x, t, train, heldout, args.n_score, args.seed,
                                            args.moscot_epsilon)
            rows.append(row)
            print(system, json.dumps(row), flush=True)
            results[system] = rows
            write_results(args.name, {**results, "partial": True})  # a long run keeps every finished row
        results[system] = rows
    if args.memory:
        cmd = [sys.executable, __file__, "--memory-child", str(args.memory), "--batch-size", str(args.batch_size),
               "--seed", str(args.seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "DYNFER_PROGRESS": "0"})
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        results["memory"] = json.loads(lines[-1]) if lines else {"error": _last_line(proc.stderr)}
        results["memory"]["goal_gib"] = 24
    results["goals"] = {"lv_10k_fit_seconds_below": 120, "memory_50k_gib_below": 24,
                        "w2_1k_minibatch_vs_dense": "within noise"}
    for system in args.systems:
        for row in results[system]:
            if "dense" in row and "minibatch" in row:
                row["w2_minibatch_minus_dense"] = row["minibatch"]["w2_mean"] - row["dense"]["w2_mean"]
    write_results(args.name, results)


if __name__ == "__main__":
    main()
