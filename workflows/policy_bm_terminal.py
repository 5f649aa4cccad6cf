r"""Policy evaluation on Brownian motion with terminal reward x²: the MSTDE fails, the martingale methods do not.

:func:`dynfer.datasets.synthetic_control.bm_terminal`: :math:`dX = dW` on :math:`[0, 1]` from :math:`X_0 = 0`,
:math:`h = x^2`, :math:`r = 0`; :math:`J(t, x) = x^2 + (T - t)`, exact in :math:`(x^2, T - t)` with
:math:`\theta^* = (1, 1)` (reference benchmark 2). The MSTDE's population minimiser is :math:`(0.6, 1)` as
:math:`\Delta t \to 0` (:func:`~dynfer.datasets.synthetic_control.bm_mstde_limit`, the argmin of
:math:`2\theta_1^2 + 3(1 - \theta_1)^2`); the reference's 4,000-path computation gives MSTDE (0.61, 1.06) and
TD(0)/LSTD (1.01, 1.06) at :math:`\Delta t = 0.01`. With :math:`r = 0` and exact increments no consistent method
has a discretisation bias (:mod:`dynfer.workflows.policy`), so the sweep shows only the noise floor, while the
MSTDE stays 0.4 away at every mesh. Full run: 4,000 paths at :math:`\Delta t = 0.002`, meshes to 0.1.

Run it with ``dynfer run policy_bm_terminal [--quick] [--device DEV] [--seed N] [--out DIR]``; ``--quick``
uses 4,000 paths at :math:`\Delta t = 0.01` (meshes 0.01 to 0.1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

NAME = "policy_bm_terminal"
DESCRIPTION = "BM with terminal x^2: MSTDE converges to (0.6, 1), martingale / TD / LSTD / GTD to the truth (1, 1)"
DATASETS: tuple[str, ...] = ()


def bench(quick: bool) -> Any:
    """The problem as a :class:`~dynfer.workflows.policy.PolicyBenchmark` (quick or full sizes)."""
    from dynfer.datasets.synthetic_control import bm_mstde_limit, bm_terminal, natural_features
    from dynfer.workflows.policy import PolicyBenchmark, policy_methods

    dt, factors = (0.01, (1, 2, 5, 10)) if quick else (0.002, (1, 5, 10, 25, 50))

    def simulate(seed: int) -> Any:
        return bm_terminal(n_paths=4000, dt=dt, horizon=1.0, sigma=1.0, x0=0.0, seed=seed)

    probe = bm_terminal(n_paths=1, dt=0.5, seed=0).uns["policy_problem"]
    phi, _ = natural_features(probe)
    limit = bm_mstde_limit(1.0, 1.0, 0.0, dt=dt)
    return PolicyBenchmark(
        name="bm_terminal", title="Brownian motion with terminal reward x²: the MSTDE failure",
        description="dX = dW on [0, 1], X_0 = 0, h = x², r = 0, exact increments; features (x², T − t) with the "
                    "terminal value h.",
        simulate=simulate, methods=policy_methods(phi), factors=factors, derived_order=None,
        order_note="r = 0, β = 0 and exact increments: E[δ_k | X_k] = 0 at θ*, no discretisation bias.",
        goal=("theta_error", 0.05),
        references={"MSTDE population minimiser at this Δt": f"({limit[0]:.4f}, {limit[1]:.4f}); Δt → 0: "
                    "(0.6, 1)", "reference (4,000 paths, Δt = 0.01)": "MSTDE (0.61, 1.06), TD(0)/LSTD (1.01, 1.06); "
                    "Δt = 0.002: MSTDE (0.605, 1.01), TD(0)/LSTD (1.007, 1.02)"},
        value_slice=0.5)


def run(out_dir: str | Path, *, seed: int, device: str, quick: bool) -> tuple[Path, dict[str, Any]]:
    """Simulate, fit every method at every mesh, write the report into ``out_dir``; ``(report.html, metrics)``."""
    from dynfer.datasets.synthetic_control import bm_mstde_limit
    from dynfer.workflows.policy import run_policy_workflow

    return run_policy_workflow(
        out_dir, [bench(quick)], title="dynfer: policy evaluation, Brownian motion with terminal x²",
        summary="The MSTDE converges to the wrong answer (0.6, 1) and the martingale methods to the truth (1, 1).",
        seed=seed, device=device, quick=quick, extra_metrics={"mstde_limit": bm_mstde_limit().tolist()})


if __name__ == "__main__":
    from dynfer.cli import main

    sys.exit(main(["run", NAME, *sys.argv[1:]]))
