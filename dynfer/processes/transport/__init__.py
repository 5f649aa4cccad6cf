r"""Optimal transport and sample discrepancies between point clouds (numpy or torch in, the same kind out).

* :mod:`.plans`: cost matrices, exact, entropic and unbalanced transport plans, transport costs and Wasserstein
  distances (:func:`cost_matrix`, :func:`ot_plan`, :func:`ot_cost`, :func:`wasserstein`);
* :mod:`.sinkhorn_scaling`: dynfer's log-domain Sinkhorn with :math:`\varepsilon`-scaling
  (:func:`sinkhorn_epsilon_scaling`), behind ``ot_plan(..., method="sinkhorn_scaling")``;
* :mod:`.discrepancy`: the energy distance and the maximum mean discrepancy (:func:`energy_distance`, :func:`mmd`);
* :mod:`.pointclouds`: the input conversion, point-cloud and weight checks and pairwise distances they share.
"""

from dynfer.processes.transport.discrepancy import energy_distance, median_bandwidth, mmd
from dynfer.processes.transport.plans import (
    OTConvergenceWarning,
    OTNumericalError,
    OTSolverError,
    cost_matrix,
    ot_cost,
    ot_plan,
    wasserstein,
)
from dynfer.processes.transport.sinkhorn_scaling import sinkhorn_epsilon_scaling

__all__ = [
    "OTConvergenceWarning",
    "OTNumericalError",
    "OTSolverError",
    "cost_matrix",
    "energy_distance",
    "median_bandwidth",
    "mmd",
    "ot_cost",
    "ot_plan",
    "sinkhorn_epsilon_scaling",
    "wasserstein",
]
