"""The shared process backend: batched stochastic processes on any torch device.

Nothing here knows about AnnData: inputs and outputs are tensors (or numpy arrays where stated).

* SDEs: :class:`SDE`, :class:`OrnsteinUhlenbeck`, :class:`LotkaVolterra`, :class:`Repressilator`,
  :class:`DoubleWell`, Brownian bridges;
* Markov jump processes: :class:`RateMatrix`, batched Gillespie, likelihood of discrete observations;
* random walks on graphs: simple, Metropolis–Hastings, non-backtracking and self-repellent walks;
* optimal transport and sample discrepancies: OT plans and costs, Wasserstein distances, energy distance, MMD.
"""

from dynfer.processes.brownian_bridge import brownian_bridge, brownian_bridge_moments
from dynfer.processes.discrepancy import energy_distance, mmd
from dynfer.processes.jumps import RateMatrix, first_passage_times, flashing_ratchet, gillespie, jump_log_likelihood
from dynfer.processes.models import DoubleWell, LotkaVolterra, Repressilator
from dynfer.processes.nonbacktracking import NonBacktrackingWalk
from dynfer.processes.ornstein_uhlenbeck import OrnsteinUhlenbeck
from dynfer.processes.sde import SDE, ReversedSDE
from dynfer.processes.self_repellent import SelfRepellentWalk
from dynfer.processes.srrw_theory import srrw_asymptotic_covariance
from dynfer.processes.transport import OTConvergenceWarning, cost_matrix, ot_cost, ot_plan, wasserstein
from dynfer.processes.walks import (
    GraphAdjacency,
    WalkResult,
    graph_adjacency,
    metropolis_hastings_matrix,
    node_order,
    padded_neighbour_table,
    simple_walk_matrix,
    simple_walk_stationary,
    stationary_distribution,
)

__all__ = [
    "SDE",
    "DoubleWell",
    "GraphAdjacency",
    "LotkaVolterra",
    "NonBacktrackingWalk",
    "OTConvergenceWarning",
    "OrnsteinUhlenbeck",
    "RateMatrix",
    "Repressilator",
    "ReversedSDE",
    "SelfRepellentWalk",
    "WalkResult",
    "brownian_bridge",
    "brownian_bridge_moments",
    "cost_matrix",
    "energy_distance",
    "first_passage_times",
    "flashing_ratchet",
    "gillespie",
    "graph_adjacency",
    "jump_log_likelihood",
    "metropolis_hastings_matrix",
    "mmd",
    "node_order",
    "ot_cost",
    "ot_plan",
    "padded_neighbour_table",
    "simple_walk_matrix",
    "simple_walk_stationary",
    "srrw_asymptotic_covariance",
    "stationary_distribution",
    "wasserstein",
]
