"""The shared process backend: batched stochastic processes on any torch device.

Nothing here knows about AnnData: inputs and outputs are tensors (or numpy arrays where stated).

* SDEs: :class:`SDE`, :class:`OrnsteinUhlenbeck`, :class:`LotkaVolterra`, :class:`Repressilator`,
  :class:`DoubleWell`, Brownian bridges;
* Markov jump processes: :class:`RateMatrix`, batched Gillespie, likelihood of discrete observations;
* random walks on graphs: simple, Metropolis–Hastings, non-backtracking and self-repellent walks;
* optimal transport and sample discrepancies: OT plans and costs, Wasserstein distances, energy distance, MMD;
* drifts as storable objects: :class:`Drift`, :class:`LinearDrift`, :class:`CallableDrift`, :func:`as_drift`;
* interacting active particles (AOUP, ABP) with cell-list neighbour search: :class:`ActiveParticles`,
  :func:`particle_states`, :func:`cell_list_pairs`, :func:`make_force`.

One sub-package per idea, each re-exporting its public names: :mod:`dynfer.processes.sde`,
:mod:`dynfer.processes.jumps`, :mod:`dynfer.processes.walks`, :mod:`dynfer.processes.transport` and
:mod:`dynfer.processes.particles` (plus the module :mod:`dynfer.processes.drifts`). Every name
below is also importable from here.
"""

from dynfer.processes.drifts import CallableDrift, Drift, LinearDrift, as_drift
from dynfer.processes.jumps import RateMatrix, first_passage_times, flashing_ratchet, gillespie, jump_log_likelihood
from dynfer.processes.particles import ActiveParticles, cell_list_pairs, make_force, particle_states
from dynfer.processes.sde import (
    SDE,
    DoubleWell,
    LotkaVolterra,
    OrnsteinUhlenbeck,
    Repressilator,
    ReversedSDE,
    brownian_bridge,
    brownian_bridge_moments,
)
from dynfer.processes.transport import (
    OTConvergenceWarning,
    cost_matrix,
    energy_distance,
    mmd,
    ot_cost,
    ot_plan,
    wasserstein,
)
from dynfer.processes.walks import (
    GraphAdjacency,
    NonBacktrackingWalk,
    SelfRepellentWalk,
    WalkResult,
    graph_adjacency,
    metropolis_hastings_matrix,
    node_order,
    padded_neighbour_table,
    simple_walk_matrix,
    simple_walk_stationary,
    srrw_asymptotic_covariance,
    stationary_distribution,
)

__all__ = [
    "SDE",
    "ActiveParticles",
    "CallableDrift",
    "Drift",
    "LinearDrift",
    "as_drift",
    "cell_list_pairs",
    "make_force",
    "particle_states",
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
