"""moscot's ``TemporalProblem`` couplings on snapshots given in an ``.npz``; run in moscot's own environment.

Input (``--data``): ``x`` (N, d) float, ``time`` (N,) float, ``train`` (K,) training times, ``heldout`` (H,) times to
score (each strictly inside a training interval). moscot couples consecutive training times (policy
``"sequential"``) with entropic OT on the squared-Euclidean cost of ``X`` (``joint_attr={"attr": "X"}``, no PCA),
``epsilon`` as given, balanced (``tau_a = tau_b = 1``), moscot's default cost scaling (``scale_cost="mean"``).

Output (``--out``): an ``.npz`` with ``seconds`` (prepare + solve, wall clock), ``converged`` (per interval) and, for
each held-out time ``s`` in ``[t_k, t_{k+1}]``, ``heldout_<i>``: ``--n-sample`` McCann interpolants
:math:`(1 - \\lambda) x + \\lambda y`, :math:`\\lambda = (s - t_k)/(t_{k+1} - t_k)`, with :math:`x` a random source
cell and :math:`y` drawn from its row of the plan (the dense plan ``solution.transport_matrix`` up to ``DENSE_MAX``
entries; beyond it, rows from ``solution.push`` of one-hot vectors in chunks). Sampling is not timed.

Run: <moscot-env>/bin/python benchmarks/peers/moscot_temporal.py --data in.npz --out out.npz [--epsilon 1e-3]
"""

from __future__ import annotations

import argparse
import time

import anndata as ad
import numpy as np
import pandas as pd
from moscot.problems.time import TemporalProblem

DENSE_MAX = 1.5e9  # plan entries read densely at once (6 GB of float32); beyond it, rows are pushed in chunks


def _plan_rows(sol, src: np.ndarray, n: int, m: int) -> np.ndarray:
    """Rows ``src`` of the coupling, each normalised to sum 1 (clipped at 0)."""
    if n * m <= DENSE_MAX:
        rows = np.asarray(sol.transport_matrix)[src].astype(np.float64)
    else:
        # push a few one-hot columns at a time: moscot's push materialises n x m x columns
        chunk = max(1, int(2.5e8 // (n * m)))
        rows = np.empty((src.shape[0], m))
        for lo in range(0, src.shape[0], chunk):
            cols = src[lo:lo + chunk]
            onehot = np.zeros((n, cols.shape[0]), dtype=np.float32)
            onehot[cols, np.arange(cols.shape[0])] = 1.0
            rows[lo:lo + chunk] = np.asarray(sol.push(onehot)).T
    rows = np.clip(rows, 0, None)
    return rows / rows.sum(1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epsilon", type=float, default=1e-3)
    parser.add_argument("--n-sample", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = np.load(args.data)
    x, t = data["x"].astype(np.float32), data["time"]
    train, heldout = list(data["train"]), list(data["heldout"])
    keep = np.isin(t, train)
    adata = ad.AnnData(x[keep])
    adata.obs["time"] = pd.Categorical(t[keep])
    start = time.perf_counter()
    problem = TemporalProblem(adata).prepare(time_key="time", joint_attr={"attr": "X"})
    problem = problem.solve(epsilon=args.epsilon, tau_a=1.0, tau_b=1.0)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    out = {"seconds": np.array(seconds), "epsilon": np.array(args.epsilon)}
    out["converged"] = np.array([bool(sub.solution.converged) for sub in problem.problems.values()])
    for i, s in enumerate(heldout):
        k = max(j for j in range(len(train) - 1) if train[j] < s)
        t0, t1 = train[k], train[k + 1]
        sol = problem.problems[(t0, t1)].solution
        xs, ys = x[t == t0], x[t == t1]
        src = rng.integers(0, xs.shape[0], size=args.n_sample)
        rows = _plan_rows(sol, src, xs.shape[0], ys.shape[0])
        # inverse-CDF draw of one target per sampled source row
        cdf = np.cumsum(rows, axis=1)
        u = rng.random(args.n_sample)[:, None] * cdf[:, -1:]
        dst = np.minimum((cdf < u).sum(axis=1), ys.shape[0] - 1)
        lam = (s - t0) / (t1 - t0)
        out[f"heldout_{i}"] = (1 - lam) * xs[src] + lam * ys[dst]
    np.savez(args.out, **out)


if __name__ == "__main__":
    main()
