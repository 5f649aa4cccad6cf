r"""Policy evaluation on geometric Brownian motion with a power terminal reward: a nonlinear value family.

:func:`dynfer.datasets.synthetic_control.gbm_power`: :math:`dX = \mu X dt + \sigma X dW` (:math:`\mu = 0.1,
\sigma = 0.3`) on :math:`[0, 1]`, :math:`h = x^2`, starts uniform on :math:`[0.5, 1.5]`, exact log-normal steps;
:math:`J(t, x) = x^2 e^{\theta^*(T - t)}` with :math:`\theta^* = p\mu + \tfrac12 p(p-1)\sigma^2 = 0.29`
(reference benchmark 3). The martingale loss, TD(0) and the MSTDE fit the one-parameter module
:class:`~dynfer.datasets.synthetic_control.GBMPowerValue` by gradient steps; TD(λ), LSTD, LSTD(λ), GTD, GTD2 and
TDC, which need a linear value, fit the Taylor family :math:`(x^2(T - t)^j)_{j \le 3}` and report
:math:`\hat\theta = c_1 / c_0`. With :math:`r = 0` and exact steps there is no discretisation bias. Full run: 2,000
paths at :math:`\Delta t = 0.01`, meshes to 0.2.

Run it with ``dynfer run policy_gbm_power [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` uses
400 paths at :math:`\Delta t = 0.02` (meshes 0.02 to 0.2) and 100 gradient epochs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "policy_gbm_power"
DESCRIPTION = "GBM with terminal x^p: the nonlinear family x^p exp(theta (T - t)) and Taylor-linear methods vs theta*"
DATASETS: tuple[str, ...] = ()


def bench(quick: bool) -> Any:
    """The problem as a :class:`~dynfer.workflows.policy.PolicyBenchmark` (quick or full sizes)."""
    from dynfer.datasets.synthetic_control import GBMPowerValue, gbm_power, natural_features
    from dynfer.workflows.policy import PolicyBenchmark

    n_paths, dt, epochs = (400, 0.02, 100) if quick else (2000, 0.01, 300)
    factors = (1, 2, 5, 10) if quick else (1, 2, 4, 5, 10, 20)

    def simulate(seed: int) -> Any:
        x0 = np.random.default_rng([seed, 7]).uniform(0.5, 1.5, n_paths)
        return gbm_power(n_paths=n_paths, dt=dt, horizon=1.0, mu=0.1, sigma=0.3, power=2.0, x0=x0, seed=seed)

    probe = gbm_power(n_paths=1, dt=0.5, mu=0.1, sigma=0.3, power=2.0, seed=0).uns["policy_problem"]
    taylor, _ = natural_features(probe)
    module = GBMPowerValue(2.0, 1.0, theta=0.0)
    grad = {"features": module, "n_epochs": epochs, "learning_rate": 0.05}
    methods = {"martingale": {"method": "martingale", **grad}, "TD(0)": {"method": "td", **grad},
               "TD(λ=0.5), Taylor": {"method": "td", "lam": 0.5, "features": taylor},
               "LSTD, Taylor": {"method": "lstd", "features": taylor},
               "LSTD(λ=0.5), Taylor": {"method": "lstd", "lam": 0.5, "features": taylor},
               "GTD (A = I), Taylor": {"method": "gtd", "variant": "gtd", "features": taylor},
               "GTD2, Taylor": {"method": "gtd", "variant": "gtd2", "features": taylor},
               "TDC, Taylor": {"method": "gtd", "variant": "tdc", "features": taylor},
               "MSTDE": {"method": "mstde", **grad}}
    return PolicyBenchmark(
        name="gbm_power", title="GBM with power terminal reward",
        description="dX = 0.1 X dt + 0.3 X dW on [0, 1], h = x², starts uniform on [0.5, 1.5], exact log-normal "
                    "steps; module J = x² exp(θ(T − t)) for the gradient methods, Taylor features x²(T − t)^j "
                    "(j ≤ 3, θ̂ = c₁/c₀) for the linear ones.",
        simulate=simulate, methods=methods, factors=factors, derived_order=None,
        order_note="r = 0, β = 0 and exact steps: no discretisation bias in the exact family (the Taylor family "
                   "adds its truncation, x²θ⁴τ⁴/24 ≈ 3e-4 x²).", value_slice=0.0)


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate, fit every method at every mesh, write the report into ``out_dir``; ``(report.html, metrics)``."""
    from dynfer.workflows.policy import run_policy_workflow

    return run_policy_workflow(
        out_dir, [bench(quick)], title="dynfer: policy evaluation, GBM with power terminal reward",
        summary="A nonlinear one-parameter value family fitted by gradient Monte Carlo and TD(0), next to the "
                "linear methods on a Taylor family.", seed=seed, device=device, quick=quick)


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
