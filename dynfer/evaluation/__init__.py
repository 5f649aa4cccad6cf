"""Evaluation protocols shared by the workflows (held-out time points, baselines, report sections)."""

from dynfer.evaluation.heldout_bridges import (
    HeldoutResult,
    baseline_w2,
    evaluate_heldout_bridges,
    report_heldout_bridges,
    run_heldout_workflow,
    run_mmtraj_workflow,
    split_half_floor,
)

__all__ = [
    "HeldoutResult",
    "baseline_w2",
    "evaluate_heldout_bridges",
    "report_heldout_bridges",
    "run_heldout_workflow",
    "run_mmtraj_workflow",
    "split_half_floor",
]
