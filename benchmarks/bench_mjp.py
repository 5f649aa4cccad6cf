"""Markov jump processes: the foundation model and the MLE side by side, against FIM's published numbers and deeptime.

Protocol (``../shared/references/markov_jump_processes.md`` §2-3): rate RMSE over the 30 off-diagonals of the
6-state discrete flashing ratchet, per 300-path context of the staged FIM data (100 regular points on [0, 2.5]),
mean ± sd over the 33 disjoint contexts; mean rate on the 12 structural zeros; 95 % coverage of the log-rate
intervals on the 18 true links; seconds per context. Then the error against the number of paths (30 ... 10,000),
V = 0 ... 3, and sparse, irregular, noisy contexts (30 paths x 5-15 random times on [0, 10], 5 % label noise) of
MJPs drawn from FIM's own prior (its test split: a prior the foundation model was not trained on).

Peers: FIM's published numbers (OpenFIM tutorial; not rerun: its weights cannot be downloaded here) and deeptime's
reversible generator at one lag (``rate_matrix``, run from its own environment: ``--peer-python``).

Run: DYNFER_DATA_DIR=<mirror> python benchmarks/bench_mjp.py [--peer-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
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

from dynfer.datasets import flashing_ratchet_paths
from dynfer.datasets.registry import DatasetNotFoundError
from dynfer.estimators.mjp import FoundationMJP, MJPMaximumLikelihood
from dynfer.evaluation import calibration, rate_rmse, structural_zero_mass
from dynfer.processes.jumps import RateMatrix, flashing_ratchet

FIM_PUBLISHED = {"rmse_300": [0.162, 0.021], "zeros": [0.07, 0.25],
                 "vs_paths": {"1": 0.648, "30": 0.330, "100": 0.212, "300": 0.162, "500": 0.164, "1000": 0.230,
                              "5000": 0.723}}
OFF = ~np.eye(6, dtype=bool)


def _ratchet(V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    try:
        from dynfer.datasets.loaders import load_fim_dfr

        a = load_fim_dfr(V)
        src = "staged fim_dfr"
        q = np.asarray(a.uns["rate_matrix"])
    except DatasetNotFoundError:
        a = flashing_ratchet_paths(float(V), n_paths=10_000, seed=V)
        src = "simulated (mirror absent)"
        q = flashing_ratchet(float(V)).Q.numpy()
    n = a.obs["trajectory"].nunique()
    return a.obs["state"].to_numpy().reshape(n, -1), a.obs["time"].to_numpy().reshape(n, -1), q, src


def _score(est, q: np.ndarray) -> dict[str, float]:
    cal = calibration(est.rate_matrix_, est.log_rate_std_, q, log_rate_mean=getattr(est, "log_rate_mean_", None))
    return {"rmse": rate_rmse(est.rate_matrix_, q), "zeros": structural_zero_mass(est.rate_matrix_, q > 0),
            "coverage": cal["coverage"], "z_sd": cal["z_sd"]}


def _fit(name: str, s, t, **kw):
    est = FoundationMJP.pretrained(**kw) if name == "foundation" else MJPMaximumLikelihood(**kw)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(s, t)
    return est, time.perf_counter() - start


def _summarise(rows: list[dict[str, float]], secs: list[float]) -> dict[str, float]:
    out = {}
    for k in rows[0]:
        vals = np.array([r[k] for r in rows])
        out[k] = float(np.mean(vals))
        out[k + "_sd"] = float(np.std(vals))
    out["seconds_per_context"] = float(np.median(secs))
    out["n_contexts"] = len(rows)
    return out


def ratchet_contexts(V: int, k: int, n_ctx: int, methods=("foundation", "mle")) -> dict:
    s, t, q, src = _ratchet(V)
    n_ctx = min(n_ctx, s.shape[0] // k)
    res = {"source": src}
    for m in methods:
        rows, secs = [], []
        for c in range(n_ctx):
            est, sec = _fit(m, s[c * k:(c + 1) * k], t[c * k:(c + 1) * k])
            rows.append(_score(est, q))
            secs.append(sec)
        res[m] = _summarise(rows, secs)
    return res


def deeptime_ratchet(peer_python: str, k: int = 300, n_ctx: int = 33) -> dict:
    s, t, q, _ = _ratchet(1)
    counts = np.zeros((n_ctx, 6, 6))
    for c in range(n_ctx):
        blk = s[c * k:(c + 1) * k]
        np.add.at(counts[c], (blk[:, :-1].ravel(), blk[:, 1:].ravel()), 1)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", counts=counts, lag=float(t[0, 1] - t[0, 0]))
        subprocess.run([peer_python, str(Path(__file__).parent / "peers" / "deeptime_rates.py"),
                        str(Path(tmp) / "in.npz"), str(Path(tmp) / "out.npz")], check=True)
        out = np.load(Path(tmp) / "out.npz")
        rates, secs = out["rates"], out["seconds"]
    adj = (q > 0) & OFF
    rmse = [float(np.sqrt(np.mean((r - q)[OFF] ** 2))) for r in rates]
    return {"rmse": float(np.nanmean(rmse)), "rmse_sd": float(np.nanstd(rmse)),
            "zeros": float(np.nanmean([r[OFF & ~adj].mean() for r in rates])),
            "failed": int(np.isnan(rmse).sum()), "seconds_per_context": float(np.median(secs)),
            "note": "reversible generator at one lag (deeptime rate_matrix, KL): wrong for the driven ratchet"}


def prior_sparse(n_mjps: int = 25, n_paths: int = 30, noise: float = 0.05, seed: int = 0) -> dict:
    """FIM prior test draws, sparse irregular noisy contexts: RMSE per MJP for both methods, and who wins."""
    from dynfer.datasets.loaders import load_fim_mjp_prior

    prior = load_fim_mjp_prior(6, "test")
    gen = torch.Generator().manual_seed(seed)
    rows: dict[str, list] = {"foundation": [], "mle": [], "mle_noise_fit": []}
    secs: dict[str, list] = {k: [] for k in rows}
    for i in range(n_mjps):
        q = prior["rate_matrices"][i].astype(np.float64)
        np.fill_diagonal(q, 0.0)
        np.fill_diagonal(q, -q.sum(1))
        rm = RateMatrix(torch.as_tensor(q))
        n_t = torch.randint(5, 16, (n_paths,), generator=gen)
        times = torch.sort(torch.rand(n_paths, 15, generator=gen, dtype=torch.float64) * 10.0, 1).values
        p0 = torch.as_tensor(prior["initial_distributions"][i].astype(np.float64))
        states = rm.simulate(n_paths, times, initial=p0 / p0.sum(), seed=gen).numpy()
        flip = torch.rand(states.shape, generator=gen).numpy() < noise
        shift = 1 + torch.randint(0, 5, states.shape, generator=gen).numpy()
        states = np.where(flip, (states + shift) % 6, states)
        lengths = n_t.numpy()
        for name, kw in (("foundation", {}), ("mle", {}), ("mle_noise_fit", {"label_noise": "fit"})):
            est = FoundationMJP.pretrained(n_states=6) if name == "foundation" else \
                MJPMaximumLikelihood(n_states=6, **kw)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(states, times.numpy(), lengths)
            secs[name].append(time.perf_counter() - start)
            rows[name].append(float(np.sqrt(np.mean((est.rate_matrix_ - q)[OFF] ** 2))))
    out = {k: {"rmse": float(np.mean(v)), "rmse_sd": float(np.std(v)), "rmse_median": float(np.median(v)),
               "rmse_per_mjp": [float(x) for x in v], "seconds_per_context": float(np.median(secs[k]))}
           for k, v in rows.items()}
    f, m = np.array(rows["foundation"]), np.array(rows["mle"])
    out["foundation_beats_mle_fraction"] = float(np.mean(f < m))
    out["foundation_beats_mle_noise_fit_fraction"] = float(np.mean(f < np.array(rows["mle_noise_fit"])))
    out["setting"] = {"n_mjps": n_mjps, "n_paths": n_paths, "points": "5-15 uniform on [0, 10]",
                      "label_noise": noise, "prior": "FIM prior, 6 states, random-grid test split"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-python", default=None, help="python of an environment with deeptime")
    parser.add_argument("--quick", action="store_true", help="fewer contexts (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_ctx = 5 if args.quick else 33
    results: dict = {"fim_published": FIM_PUBLISHED}
    results["ratchet_V1_300"] = ratchet_contexts(1, 300, n_ctx)
    results["vs_paths"] = {str(k): ratchet_contexts(1, k, max(1, min(10, 10_000 // k)))
                           for k in (30, 100, 300, 1000, 3000, 10_000)}
    results["by_V_300"] = {str(v): ratchet_contexts(v, 300, 10 if not args.quick else 3) for v in (0, 1, 2, 3)}
    try:
        results["fim_prior_sparse_noisy"] = prior_sparse(n_mjps=8 if args.quick else 25)
    except DatasetNotFoundError as err:
        results["fim_prior_sparse_noisy"] = {"skipped": str(err)}
    if args.peer_python:
        results["deeptime_ratchet_V1_300"] = deeptime_ratchet(args.peer_python, n_ctx=n_ctx)
    write_results("mjp", results)


if __name__ == "__main__":
    main()
