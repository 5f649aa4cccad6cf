r"""Policy evaluation on the entropy-regularised mean-variance portfolio (Wang & Zhou 2020; JZ-PG Sec. 5.1).

:func:`dynfer.datasets.synthetic_control.mean_variance`: discounted wealth :math:`dX = \sigma u(\rho\,dt + dW)`,
:math:`\mu = 0.1, r = 0, \sigma = 0.2` (:math:`\rho = 0.5`), target :math:`z = 1.4`, temperature
:math:`\lambda = 0.1`, :math:`T = 1`, under the Wang-Zhou optimal policy
:math:`u \sim \mathcal N(-\tfrac\rho\sigma(x - w), \tfrac{\lambda}{2\sigma^2}e^{\rho^2(T - t)})` with the multiplier
:math:`w^*` of :math:`x_0 = 1`; relaxed dynamics (Euler-Maruyama, 4 sub-steps), starts uniform on :math:`[0, 2]`.
The cost :math:`J = E[(X_T - w)^2 + \lambda\int\!\!\int\pi\ln\pi] - (w - z)^2` is Wang & Zhou's closed form
:math:`(x - w)^2e^{-\rho^2(T-t)} + \tfrac{\lambda\rho^2}{4}(T^2 - t^2) - \tfrac\lambda2(\rho^2T -
\ln\tfrac{\sigma^2}{\pi\lambda})(T - t) - (w - z)^2`, exact in :math:`((x-w)^2e^{-\rho^2(T-t)}, T - t, (T-t)^2, 1)`
(reference benchmark 5). Derived bias order 1 (left-point running cost). Full run: 4,000 paths at
:math:`\Delta t = 0.004`, meshes to 0.2.

Run it with ``dynfer run policy_mean_variance [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` uses
1,000 paths at :math:`\Delta t = 0.01` (meshes 0.01 to 0.1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "policy_mean_variance"
DESCRIPTION = "mean-variance portfolio under the Wang-Zhou policy: every method vs the closed-form cost"
DATASETS: tuple[str, ...] = ()


def bench(quick: bool) -> Any:
    """The problem as a :class:`~dynfer.workflows.policy.PolicyBenchmark` (quick or full sizes)."""
    from dynfer.datasets.synthetic_control import mean_variance, natural_features
    from dynfer.workflows.policy import PolicyBenchmark, policy_methods

    n_paths, dt = (1000, 0.01) if quick else (4000, 0.004)
    factors = (1, 2, 5, 10) if quick else (1, 2, 5, 10, 25, 50)
    market = {"mu": 0.1, "r": 0.0, "sigma": 0.2, "z": 1.4, "temperature": 0.1}
    probe = mean_variance(n_paths=1, dt=0.5, x0=1.0, seed=0, **market).uns["policy_problem"]
    w = probe["parameters"]["w"]  # w* of x0 = 1, kept for every start

    def simulate(seed: int) -> Any:
        x0 = np.random.default_rng([seed, 7]).uniform(0.0, 2.0, n_paths)
        return mean_variance(n_paths=n_paths, dt=dt, x0=x0, w=w, substeps=4, seed=seed, **market)

    phi, _ = natural_features(probe)
    return PolicyBenchmark(
        name="mean_variance", title="Mean-variance portfolio under the Wang-Zhou policy",
        description=f"Discounted wealth, μ = 0.1, σ = 0.2 (ρ = 0.5), z = 1.4, λ = 0.1, w = {w:.4f} (w* of x₀ = 1), "
                    "starts uniform on [0, 2], relaxed dynamics and running cost λ∫π ln π; features "
                    "((x − w)² e^{−ρ²(T−t)}, T − t, (T − t)², 1).",
        simulate=simulate, methods=policy_methods(phi), factors=factors, derived_order=1.0,
        order_note="Left-point running cost (linear in t) and the Euler data: O(Δt).",
        references={"JZ-PG Sec. 5.1": "out-of-sample Sharpe ratios of learned policies (3.71 offline vs 3.06 Wang & "
                                      "Zhou at (μ, σ) = (0.3, 0.1)) are policy-improvement results, not evaluated "
                                      "here"}, value_slice=0.0)


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate, fit every method at every mesh, write the report into ``out_dir``; ``(report.html, metrics)``."""
    from dynfer.workflows.policy import run_policy_workflow

    return run_policy_workflow(
        out_dir, [bench(quick)], title="dynfer: policy evaluation, mean-variance portfolio",
        summary="The entropy-regularised mean-variance cost of the Wang-Zhou policy, every method against the "
                "closed form.", seed=seed, device=device, quick=quick)


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
