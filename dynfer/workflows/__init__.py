"""Workflows: the runner, the report sections they compose, and the bodies shared by dataset workflows.

* :mod:`.runner` — discovery of the scripts under ``workflows/`` and :func:`run_workflow` (``dynfer list / run``);
* :mod:`.sections` — one report section per file (data, each estimator, backend checks), composed from a registry;
* :mod:`.bridges` — the fit / score / report body of every Schrödinger-bridge dataset workflow.

Only the runner sets the matplotlib backend (``Agg``); library code never does.
"""

from dynfer.workflows.runner import (
    WORKFLOWS_DIR,
    MissingDatasetError,
    UnknownWorkflowError,
    Workflow,
    WorkflowError,
    dataset_status,
    get_workflow,
    list_workflows,
    run_workflow,
)

__all__ = [
    "WORKFLOWS_DIR",
    "MissingDatasetError",
    "UnknownWorkflowError",
    "Workflow",
    "WorkflowError",
    "dataset_status",
    "get_workflow",
    "list_workflows",
    "run_workflow",
]
