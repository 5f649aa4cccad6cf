"""Evaluation protocols shared by the workflows (held-out time points, baselines, report sections)."""

from dynfer.evaluation.heldout_bridges import (
    HeldoutResult,
    evaluate_heldout_bridges,
    report_heldout_bridges,
    run_heldout_workflow,
    run_mmtraj_workflow,
)

__all__ = [
    "HeldoutResult",
    "evaluate_heldout_bridges",
    "report_heldout_bridges",
    "run_heldout_workflow",
    "run_mmtraj_workflow",
]
