"""Policy evaluation: every method on every closed-form problem, the Δt sweep, a discrete-time TD(0) peer, scaling.

Protocol (``../shared/references/martingale_policy_evaluation.md`` §2-4), per problem of
:mod:`dynfer.datasets.synthetic_control` with the sizes of its workflow (``workflows/policy_<problem>.py``):

* every method (martingale loss, TD(0), TD(λ), LSTD, LSTD(λ), GTD, GTD2, TDC) beside the trivial baselines (MSTDE,
  Monte Carlo returns averaged per state bin, the zero value function): relative parameter and value errors against
  the closed form and seconds per fit (:func:`dynfer.workflows.policy.evaluate_problem`);
* the Δt sweep on the same paths subsampled, with split-half noise floors and fitted log-log slopes against the
  derived order (1 with a running reward or discount, no bias for BM / GBM);
* the peer "as general RL libraries do it" on the discounted OU: semi-gradient discrete-time TD(0) on the same
  features with per-step reward :math:`r_k\\Delta t`, :math:`\\gamma = e^{-\\beta\\Delta t}` and a constant step
  size, given a fixed budget of updates (transitions drawn uniformly from the data, as a replay buffer) and, second,
  one pass over every transition;
* cost against the number of samples (LSTD, TD(0), martingale loss on the OU problem) with the fitted exponent.

Run: ``python benchmarks/bench_policy.py`` (the workflows' full sizes; about 30 minutes on one core) or
``python benchmarks/bench_policy.py --quick`` (their quick sizes, under 3 minutes; the committed JSON).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _common import write_results

PROBLEMS = ("ou_discounted", "bm_terminal", "gbm_power", "ergodic_lq", "mean_variance")


def _bench(problem: str, quick: bool) -> Any:
    from dynfer.workflows import get_workflow

    return get_workflow(f"policy_{problem}").load().bench(quick)


def discrete_td_peer(adata: Any, *, step_size: float, n_updates: int | None, seed: int) -> np.ndarray:
    r"""Semi-gradient discrete-time TD(0) on linear features :math:`(x^2, 1)` (the OU problem).

    :math:`\theta \leftarrow \theta + \alpha\,(r_k\Delta t + \gamma\,\theta^\top\phi_{k+1} - \theta^\top\phi_k)
    \phi_k`, :math:`\gamma = e^{-\beta\Delta t}`, constant :math:`\alpha`; ``n_updates`` transitions drawn uniformly
    (a replay buffer), or ``None`` for one pass over every transition in trajectory order. From :math:`\theta = 0`.
    """
    problem = adata.uns["policy_problem"]
    n = int(problem["n_paths"])
    t = adata.obs["time"].to_numpy().reshape(n, -1)
    x = np.asarray(adata.X[:, 0], dtype=np.float64).reshape(n, -1)
    r = adata.obs["reward"].to_numpy().reshape(n, -1)
    dt = np.diff(t, axis=1).reshape(-1)
    phi0 = np.stack([x[:, :-1].reshape(-1) ** 2, np.ones(dt.size)], axis=1)
    phi1 = np.stack([x[:, 1:].reshape(-1) ** 2, np.ones(dt.size)], axis=1)
    reward = r[:, :-1].reshape(-1) * dt
    gamma = np.exp(-float(problem["discount"]) * dt)
    order = (np.arange(dt.size) if n_updates is None
             else np.random.default_rng(seed).integers(0, dt.size, int(n_updates)))
    theta = np.zeros(2)
    for k in order:
        delta = reward[k] + gamma[k] * phi1[k] @ theta - phi0[k] @ theta
        theta = theta + step_size * delta * phi0[k]
    return theta


def peer_sweep(quick: bool, seed: int) -> dict[str, Any]:
    """The discrete TD(0) peer against LSTD on the OU problem's meshes (same subsampled paths)."""
    from dynfer.workflows.policy import _fit, score_fit, subsample

    bench = _bench("ou_discounted", quick)
    adata = bench.simulate(seed)
    truth = np.asarray(adata.uns["policy_problem"]["theta_star"], dtype=np.float64)
    budget = 20_000 if quick else 100_000
    rows: dict[str, list[float]] = {"dt": [], "peer_fixed_budget": [], "peer_one_pass": [], "lstd": [],
                                    "peer_one_pass_seconds": []}
    for factor in bench.factors:
        coarse = adata if factor == 1 else subsample(adata, factor)
        rows["dt"].append(float(coarse.uns["policy_problem"]["dt"]))
        fixed = discrete_td_peer(coarse, step_size=0.05, n_updates=budget, seed=seed)
        start = time.perf_counter()
        one = discrete_td_peer(coarse, step_size=0.05, n_updates=None, seed=seed)
        rows["peer_one_pass_seconds"].append(time.perf_counter() - start)
        est, _ = _fit(bench.methods["LSTD"], coarse, seed=seed, device=None)
        rows["peer_fixed_budget"].append(float(np.linalg.norm(fixed - truth) / np.linalg.norm(truth)))
        rows["peer_one_pass"].append(float(np.linalg.norm(one - truth) / np.linalg.norm(truth)))
        rows["lstd"].append(score_fit(est, coarse)["theta_error"])
    rows["step_size"] = 0.05
    rows["budget"] = budget
    return rows


def scaling(quick: bool, seed: int) -> dict[str, Any]:
    """Seconds per fit against the number of samples (OU, Δt = 0.02), and the fitted exponent of the growth."""
    from dynfer.datasets.synthetic_control import natural_features, ou_discounted
    from dynfer.workflows.policy import _fit

    sizes = (250, 500, 1000, 2000) if quick else (500, 1000, 2000, 4000, 8000)
    out: dict[str, Any] = {"n_samples": [], "seconds": {"LSTD": [], "TD(0)": [], "martingale": []}}
    for n_paths in sizes:
        adata = ou_discounted(n_paths=n_paths, dt=0.02, horizon=3.2, discount=0.5, seed=seed)
        phi, _ = natural_features(adata.uns["policy_problem"])
        out["n_samples"].append(int(adata.n_obs))
        for label, method in (("LSTD", "lstd"), ("TD(0)", "td"), ("martingale", "martingale")):
            _, sec = _fit({"method": method, "features": phi}, adata, seed=seed, device=None)
            out["seconds"][label].append(sec)
    logn = np.log(out["n_samples"])
    out["exponent"] = {k: float(np.polyfit(logn, np.log(v), 1)[0]) for k, v in out["seconds"].items()}
    return out


def main() -> None:
    from dynfer.workflows.policy import evaluate_problem

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the workflows' quick sizes (under 3 minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    args = parser.parse_args()
    results: dict[str, Any] = {"quick": args.quick, "seed": args.seed, "problems": {}}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in args.problems:
            bench = _bench(name, args.quick)
            t0 = time.perf_counter()
            res = evaluate_problem(bench, bench.simulate(args.seed), seed=args.seed)
            res.pop("_fits", None)
            res["seconds_total"] = time.perf_counter() - t0
            results["problems"][name] = res
            print(f"{name}: {res['seconds_total']:.1f} s", flush=True)
        results["discrete_td_peer_ou"] = peer_sweep(args.quick, args.seed)
        results["scaling_ou"] = scaling(args.quick, args.seed)
    results["seconds_total"] = time.perf_counter() - start
    write_results("policy_evaluation", results)


if __name__ == "__main__":
    main()
