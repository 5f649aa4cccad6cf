r"""Policy evaluation on the discounted Ornstein-Uhlenbeck problem: every method against the closed-form value.

:func:`dynfer.datasets.synthetic_control.ou_discounted`: :math:`dX = -\kappa X dt + \sigma dW` (:math:`\kappa =
\sigma = 1`), reward :math:`r = x^2`, discount :math:`\beta = 0.5`, exact transitions, starts uniform on
:math:`[-2, 2]`. The value :math:`V(x) = x^2/(\beta + 2\kappa) + \sigma^2/(\beta(\beta + 2\kappa))` is exact in
the features :math:`(x^2, 1)`, :math:`\theta^* = (0.4, 0.8)` (reference benchmark 1). Every method of
:func:`dynfer.workflows.policy.policy_methods` (both martingale-loss weightings) is fitted on 4,000 paths of 6.4
time units at :math:`\Delta t = 0.01` and on the same paths subsampled to :math:`\Delta t` up to 0.32; the derived
bias order is 1 (left-point reward and discount).
Goal: value error < 2 % for every consistent method.

Run it with ``dynfer run policy_ou_discounted [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick``
uses 2,000 paths of 3.2 time units at :math:`\Delta t = 0.02` (meshes 0.02 to 0.32).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "policy_ou_discounted"
DESCRIPTION = "discounted OU, r = x^2: martingale / TD / LSTD / GTD / MSTDE value errors and the dt sweep"
DATASETS: tuple[str, ...] = ()


def bench(quick: bool) -> Any:
    """The problem as a :class:`~dynfer.workflows.policy.PolicyBenchmark` (quick or full sizes)."""
    from dynfer.datasets.synthetic_control import natural_features, ou_discounted
    from dynfer.workflows.policy import CONSISTENT_GOAL, PolicyBenchmark, policy_methods

    n_paths, horizon, dt = (2000, 3.2, 0.02) if quick else (4000, 6.4, 0.01)
    factors = (1, 2, 4, 8, 16) if quick else (1, 2, 4, 8, 16, 32)

    def simulate(seed: int) -> Any:
        x0 = np.random.default_rng([seed, 7]).uniform(-2.0, 2.0, n_paths)
        return ou_discounted(n_paths=n_paths, dt=dt, horizon=horizon, kappa=1.0, sigma=1.0, discount=0.5, x0=x0,
                             seed=seed)

    probe = ou_discounted(n_paths=1, dt=0.5, horizon=1.0, discount=0.5, seed=0).uns["policy_problem"]
    phi, _ = natural_features(probe)
    return PolicyBenchmark(
        name="ou_discounted", title="Discounted OU with quadratic reward",
        description="dX = −X dt + dW, r = x², β = 0.5, starts uniform on [−2, 2], exact transitions; features "
                    "(x², 1) hold the value exactly.",
        simulate=simulate, methods=policy_methods(phi, martingale_weights=("reference", "relative")),
        factors=factors, derived_order=1.0,
        order_note="Left-point reward and discount: E[δ_k | X_k] = O(Δt²) per step at θ*.",
        goal=("value_error", CONSISTENT_GOAL), value_slice=0.0)


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate, fit every method at every mesh, write the report into ``out_dir``; ``(report.html, metrics)``."""
    from dynfer.workflows.policy import run_policy_workflow

    return run_policy_workflow(
        out_dir, [bench(quick)], title="dynfer: policy evaluation, discounted OU",
        summary="Martingale policy evaluation (Jia & Zhou 2022) on the discounted OU problem with a closed-form "
                "value: every method's value error and its convergence in Δt.", seed=seed, device=device,
        quick=quick)


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
