r"""Policy evaluation on the ergodic linear-quadratic problem with a Gaussian policy (JZ-PG Sec. 5.2 setup).

:func:`dynfer.datasets.synthetic_control.ergodic_lq`: :math:`dX = (AX + Ba)dt + (CX + Da)dW` with :math:`A = -1,
B = C = 0, D = 1`, policy :math:`a \sim \mathcal N(-0.5x + 0.3, 0.25)`, reward :math:`-(x^2 + xa + a^2 + x + 2a)`
plus the entropy bonus :math:`0.1\,\tfrac12\ln(2\pi e s^2)`, relaxed dynamics and action-averaged reward
(Euler-Maruyama, 2 sub-steps per sample), starts uniform on :math:`[-1.5, 1.5]`. Long-run average
:math:`V = -1.0857 + 0.0726 = -1.0131` and differential value :math:`J = \tfrac12 k_2x^2 + k_1x`,
:math:`k_2 = -6/7`, :math:`k_1 = 0.9/7` (reference benchmark 4): exact in the features :math:`(x^2, x)` with
:math:`\theta^* = (k_2/2, k_1)` and :math:`V`. Goal: :math:`|\hat V - V|/|V| < 2\,\%` for every consistent method;
the differential value's error is reported beside it, as the centred relative :math:`L^2` error over the samples and
under the stationary law (:func:`dynfer.workflows.policy.stationary_value_error`), with LSTD's expected errors from
the sandwich covariance. That error cannot reach 2 % at a feasible size: the relaxed diffusion grows like
:math:`|x|`, the stationary law has power tails, and the derived root-mean-square :math:`J` error is
:math:`25.5/\sqrt{T_{\rm tot}}` (:math:`V`: :math:`0.354/\sqrt{T_{\rm tot}}`), so 2 % needs
:math:`T_{\rm tot} \approx 1.6\cdot10^6` time units (docs/estimators/policy_evaluation.md). Derived bias order 1.
Full run: 3,200 paths of 12.8 time units at
:math:`\Delta t = 0.01`, meshes to 0.32 (longer paths pin :math:`V` down: 16,000 paths of 2.56 starting on
:math:`[-3, 3]` left it 2-3 % off).

Run it with ``dynfer run policy_ergodic_lq [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick`` uses
600 paths of 10 time units (meshes 0.01 to 0.08).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

NAME = "policy_ergodic_lq"
DESCRIPTION = "ergodic LQ with a Gaussian policy: average reward V and differential value vs the closed forms"
DATASETS: tuple[str, ...] = ()


def bench(quick: bool) -> Any:
    """The problem as a :class:`~dynfer.workflows.policy.PolicyBenchmark` (quick or full sizes)."""
    from dynfer.datasets.synthetic_control import ergodic_lq, natural_features
    from dynfer.workflows.policy import CONSISTENT_GOAL, PolicyBenchmark, policy_methods

    n_paths, horizon = (600, 10.0) if quick else (3200, 12.8)
    factors = (1, 2, 4, 8) if quick else (1, 2, 4, 8, 16, 32)

    def simulate(seed: int) -> Any:
        x0 = np.random.default_rng([seed, 7]).uniform(-1.5, 1.5, n_paths)
        return ergodic_lq(n_paths=n_paths, dt=0.01, horizon=horizon, x0=x0, substeps=2, seed=seed)

    probe = ergodic_lq(n_paths=1, dt=0.5, horizon=1.0, seed=0).uns["policy_problem"]
    phi, _ = natural_features(probe)
    return PolicyBenchmark(
        name="ergodic_lq", title="Ergodic linear-quadratic control under a Gaussian policy",
        description="dX = −X dt + a dW, a ~ N(−0.5x + 0.3, 0.25), relaxed dynamics and action-averaged reward with "
                    "the entropy bonus γ = 0.1, starts uniform on [−1.5, 1.5]; features (x², x) and V.",
        simulate=simulate, methods=policy_methods(phi), factors=factors, derived_order=1.0,
        order_note="Left-point reward (and the Euler data, 2 sub-steps): O(Δt).",
        goal=("average_reward_error", CONSISTENT_GOAL),
        references={"reference": "V − γ·entropy = −1.0857 (Euler Monte Carlo −1.0860); paper setting x₀ = 0, "
                                 "Δt = 0.01, T = 10⁶"}, value_slice=0.0)


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate, fit every method at every mesh, write the report into ``out_dir``; ``(report.html, metrics)``."""
    from dynfer.workflows.policy import run_policy_workflow

    return run_policy_workflow(
        out_dir, [bench(quick)], title="dynfer: policy evaluation, ergodic LQ",
        summary="Average reward and differential value of a fixed Gaussian policy for an ergodic LQ problem, "
                "every method against the closed form.", seed=seed, device=device, quick=quick)


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
