"""Random walks on graphs: Markov chains on the nodes of an undirected, connected, simple graph.

* :mod:`.graphs`: graph input, validation, node order and CSR adjacency (:func:`graph_adjacency`,
  :class:`GraphAdjacency`, :func:`node_order`);
* :mod:`.chains`: simple-walk and Metropolis–Hastings transition matrices, stationary laws, padded neighbour tables
  and the :class:`WalkResult` shared by the walk simulators;
* :mod:`.nonbacktracking`: the non-backtracking walk :class:`NonBacktrackingWalk`;
* :mod:`.self_repellent`: the self-repellent walk :class:`SelfRepellentWalk`;
* :mod:`.srrw_theory`: its CLT covariance :func:`srrw_asymptotic_covariance`.
"""

from dynfer.processes.walks.chains import (
    WalkResult,
    metropolis_hastings_matrix,
    padded_neighbour_table,
    simple_walk_matrix,
    simple_walk_stationary,
    stationary_distribution,
)
from dynfer.processes.walks.graphs import GraphAdjacency, graph_adjacency, node_order
from dynfer.processes.walks.nonbacktracking import NonBacktrackingWalk
from dynfer.processes.walks.self_repellent import SelfRepellentWalk
from dynfer.processes.walks.srrw_theory import srrw_asymptotic_covariance

__all__ = [
    "GraphAdjacency",
    "NonBacktrackingWalk",
    "SelfRepellentWalk",
    "WalkResult",
    "graph_adjacency",
    "metropolis_hastings_matrix",
    "node_order",
    "padded_neighbour_table",
    "simple_walk_matrix",
    "simple_walk_stationary",
    "srrw_asymptotic_covariance",
    "stationary_distribution",
]
