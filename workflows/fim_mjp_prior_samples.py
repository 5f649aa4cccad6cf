"""Markov jump processes drawn from FIM-MJP's own training prior (``fim_mjp_prior_samples``): foundation vs MLE.

The staged files hold rate matrices, adjacency, initial laws and per-path observation counts of FIM's synthetic
prior (no paths). We simulate the paths ourselves (batched Gillespie, horizon 10) on the grids the counts describe:

* six-state MJPs on random grids: path p of MJP m has ``seq_lengths[m, p]`` (8-72) sorted uniform times on [0, 10]
  (our reading of FIM's random grid);
* four-state MJPs on regular grids: the 100-point grid ``k * 10 / 99`` thinned by the stride that gives the
  recorded count (100, 50, 34, 25 points: stride 1, 2, 3, 4; the recorded horizons 10, 9.899, 10, 9.697 match);

300 paths per MJP from its initial law, with FIM's 1 % symmetric label noise. This is in distribution for FIM's
network and out of distribution for a model trained on another prior (ours). Then the sparse, irregular, noisy
setting of the goals: 20-50 paths x 5-15 uniform random times on [0, 10], 5 % label noise, for the same MJPs.
Every MJP is one context with its own truth (rate RMSE over its off-diagonals, its absent links as structural
zeros). The test splits are used (400 six-state, 200 four-state MJPs); the first MJPs of each are taken.

Run it with ``dynfer run fim_mjp_prior_samples [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick``
takes 2 MJPs per group instead of 25.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "fim_mjp_prior_samples"
DESCRIPTION = "MJPs from FIM-MJP's prior (in distribution; and 20-50 paths x 5-15 times, 5 % noise): foundation vs MLE"
DATASETS: tuple[str, ...] = ("fim_mjp_prior_samples",)

N_MJPS = 25
HORIZON = 10.0
STRIDES = {100: 1, 50: 2, 34: 3, 25: 4}


def _mjp(prior: dict[str, Any], m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate matrix (diagonal recomputed in float64), adjacency and initial law of MJP ``m``, cropped to its states."""
    adj_full = np.asarray(prior["adjacency"][m]) > 0
    n = int(((adj_full.sum(0) + adj_full.sum(1)) > 0).sum())
    q = np.asarray(prior["rate_matrices"][m], dtype=np.float64)[:n, :n] * ~np.eye(n, dtype=bool)
    q -= np.diag(q.sum(1))
    init = np.clip(np.asarray(prior["initial_distributions"][m], dtype=np.float64)[:n], 0, None)
    return q, adj_full[:n, :n], init / init.sum()


def _prior_grid(prior: dict[str, Any], m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Observation times ``(300, L)`` (padded with each path's last time) and lengths on MJP ``m``'s own grid."""
    lengths = np.asarray(prior["seq_lengths"][m], dtype=np.int64)
    if prior["grid"] == "regular":
        L = int(lengths[0])
        grid = (np.arange(100) * HORIZON / 99)[:: STRIDES[L]][:L]
        return np.broadcast_to(grid, (len(lengths), L)).copy(), None
    return _random_times(lengths, rng), lengths


def _random_times(lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    L = int(lengths.max())
    t = np.sort(rng.uniform(0.0, HORIZON, size=(len(lengths), L)), axis=1)
    for p, n in enumerate(lengths):
        t[p, n:] = t[p, n - 1]  # padding: the last observed time
    return t


def prior_settings(n_mjps: int, seed: int, *, noise_fitted: bool, device: str | None) -> list[Any]:
    """In-distribution and sparse settings for the six-state (random grid) and four-state (regular grid) MJPs."""
    import dynfer
    from dynfer.workflows.mjp import MJPSetting, mjp_methods, simulate_contexts

    out = []
    for n_states, label in ((6, "six-state MJPs, random grids"), (4, "four-state MJPs, regular grids")):
        prior = dynfer.datasets.load_fim_mjp_prior(n_states=n_states, split="test")
        picks = range(min(n_mjps, len(prior["rate_matrices"])))
        in_dist, sparse = [], []
        for m in picks:
            q, adj, init = _mjp(prior, m)
            rng = np.random.default_rng([seed, n_states, m])
            times, lengths = _prior_grid(prior, m, rng)
            ctx_seed = seed + 1000 * n_states + m
            in_dist.append(simulate_contexts(q, times, lengths, initial=init, label_noise=0.01, seed=ctx_seed,
                                             name=f"{n_states}-state MJP {m}", adjacency=adj))
            k = int(rng.integers(20, 51))
            short = rng.integers(5, 16, size=k)
            sparse.append(simulate_contexts(q, _random_times(short, rng), short, initial=init, label_noise=0.05,
                                            seed=ctx_seed + 500_000, name=f"{n_states}-state MJP {m} sparse",
                                            adjacency=adj))
        noisy_methods = None
        if noise_fitted:
            noisy_methods = mjp_methods(device=device, mle={"MLE": {}, "MLE (label noise fitted)":
                                                            {"label_noise": "fit"}})
        out.append(MJPSetting(
            name=f"prior_{n_states}st", title=f"FIM prior, {label}: 300 paths per MJP, 1 % label noise",
            description=f"load_fim_mjp_prior(n_states={n_states}, split='test'): {len(in_dist)} MJPs, each one "
                        "context, paths simulated on their own grid from their initial law, 1 % of the labels "
                        "flipped (FIM's prior). Each MJP has its own truth, so only the errors are averaged.",
            contexts=in_dist, methods=noisy_methods))
        out.append(MJPSetting(
            name=f"sparse_{n_states}st", title=f"FIM prior, {label} re-observed sparsely: 20-50 paths x 5-15 "
                                               "random times, 5 % label noise",
            description="The same MJPs, each with 20-50 paths observed at 5-15 sorted uniform times on [0, 10] and "
                        "5 % of the labels flipped: the sparse, irregular, noisy regime of the goals.",
            contexts=sparse, methods=noisy_methods))
    return out


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate every MJP's contexts, fit every method, write the report into ``out_dir``.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    import dynfer
    from dynfer.workflows.mjp import run_mjp_workflow

    n_mjps = 2 if quick else N_MJPS
    settings = prior_settings(n_mjps, seed, noise_fitted=not quick, device=device)
    files = dynfer.datasets.fetch("fim_mjp_prior_samples", ["prior_6st_rand_grid_test.npz",
                                                            "prior_4st_reg_grid_upscaled_test.npz"])
    return run_mjp_workflow(
        out_dir, settings, title="dynfer: Markov jump processes from FIM-MJP's prior (fim_mjp_prior_samples)",
        summary=f"{n_mjps} six-state and {n_mjps} four-state MJPs of FIM's test prior, in distribution (300 paths, "
                "1 % noise) and re-observed sparsely (20-50 paths x 5-15 times, 5 % noise)"
                + (" (quick sizes)." if quick else "."),
        seed=seed, device=device, inputs=files, extra_metrics={"quick": quick, "n_mjps_per_group": n_mjps})


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
