"""Graph input for the walks: validation, node order and CSR adjacency (host-side numpy).

A graph enters as an undirected, connected, simple :class:`networkx.Graph`; node ``i`` is
``list(graph.nodes())[i]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch

from dynfer._errors import BadInputError

__all__ = ["GraphAdjacency", "graph_adjacency", "node_order", "target_array"]


# ---------------------------------------------------------------------------------------------------- graph input
@dataclass(frozen=True)
class GraphAdjacency:
    """Validated adjacency of an undirected, connected, simple graph in CSR form (numpy, on the host).

    Attributes
    ----------
    nodes : list
        Node labels; index ``i`` of every array and tensor is ``nodes[i]`` (the order of ``graph.nodes()``).
    indptr, indices : numpy.ndarray
        CSR structure (``int64``): the neighbours of ``i`` are ``indices[indptr[i]:indptr[i + 1]]``, sorted.
    degree : numpy.ndarray
        Degrees ``d_i`` (``int64``), all at least one.
    """

    nodes: list
    indptr: np.ndarray
    indices: np.ndarray
    degree: np.ndarray
    index: dict = field(repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``N``."""
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges ``|E|``."""
        return int(self.indices.size) // 2

    def rows(self) -> np.ndarray:
        """Source node of every directed edge (row index of each CSR entry)."""
        return np.repeat(np.arange(self.n_nodes, dtype=np.int64), self.degree)

    def scipy(self) -> sp.csr_matrix:
        """Return the 0/1 adjacency matrix as a :class:`scipy.sparse.csr_matrix`."""
        data = np.ones(self.indices.size, dtype=np.float64)
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n_nodes, self.n_nodes))


def graph_adjacency(graph: Any, name: str = "graph") -> GraphAdjacency:
    """Validate ``graph`` and return its adjacency in CSR form with node order ``list(graph.nodes())``.

    Parameters
    ----------
    graph : networkx.Graph
        Undirected, simple (no self-loops, no parallel edges), connected graph with at least one edge.
    name : str
        Argument name used in error messages.

    Returns
    -------
    GraphAdjacency

    Raises
    ------
    ValueError
        If ``graph`` is not a networkx graph, is directed (convert with ``graph.to_undirected()``), is a
        multigraph, is empty, has self-loops (remove them with
        ``graph.remove_edges_from(nx.selfloop_edges(graph))``: the walk's laziness comes from the diagonal of the
        transition matrix, not from graph edges), or is disconnected (the message gives the number of
        components; take the largest with ``graph.subgraph(max(nx.connected_components(graph), key=len))``).
    """
    if isinstance(graph, GraphAdjacency):
        return graph
    if not isinstance(graph, nx.Graph):
        raise BadInputError(f"{name} must be a networkx.Graph, got {type(graph).__name__}")
    if graph.is_directed():
        raise BadInputError(
            f"{name} is directed; the walks here need an undirected graph: pass graph.to_undirected() "
            "(an edge in either direction becomes one undirected edge)"
        )
    if graph.is_multigraph():
        raise BadInputError(f"{name} is a multigraph; collapse parallel edges first with networkx.Graph({name})")
    n = graph.number_of_nodes()
    if n == 0:
        raise BadInputError(f"{name} is empty (no nodes)")
    n_loops = nx.number_of_selfloops(graph)
    if n_loops:
        raise BadInputError(
            f"{name} has {n_loops} self-loop(s); remove them with graph.remove_edges_from(nx.selfloop_edges(graph)) "
            "(lazy steps come from the diagonal of the transition matrix, not from graph edges)"
        )
    if graph.number_of_edges() == 0:
        raise BadInputError(f"{name} has no edges; a walk needs at least one edge")
    n_comp = nx.number_connected_components(graph)
    if n_comp > 1:
        largest = len(max(nx.connected_components(graph), key=len))
        raise BadInputError(
            f"{name} is disconnected ({n_comp} connected components, the largest has {largest} of {n} nodes); "
            "walks need a connected graph: take the largest component with "
            "graph.subgraph(max(nx.connected_components(graph), key=len)).copy()"
        )
    nodes = list(graph.nodes())
    index = {node: i for i, node in enumerate(nodes)}
    src = np.empty(2 * graph.number_of_edges(), dtype=np.int64)
    dst = np.empty_like(src)
    for k, (u, v) in enumerate(graph.edges()):
        iu, iv = index[u], index[v]
        src[2 * k], dst[2 * k] = iu, iv
        src[2 * k + 1], dst[2 * k + 1] = iv, iu
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    degree = np.bincount(src, minlength=n).astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    return GraphAdjacency(nodes=nodes, indptr=indptr, indices=dst, degree=degree, index=index)


def node_order(graph: Any) -> list:
    """Node labels in index order, ``list(graph.nodes())``, after validating ``graph`` (see :func:`graph_adjacency`).

    Row ``i`` of every matrix and column ``i`` of every count or frequency returned by this module refers to
    ``node_order(graph)[i]``.
    """
    return graph_adjacency(graph).nodes


def target_array(target: Any, adj: GraphAdjacency, name: str = "target") -> np.ndarray:
    """Validate a target law (array in node order or mapping node -> weight); return it normalised (float64)."""
    n = adj.n_nodes
    if isinstance(target, Mapping):
        missing = [node for node in adj.nodes if node not in target]
        if missing:
            raise BadInputError(f"{name} mapping lacks {len(missing)} node(s), e.g. {missing[:3]!r}")
        arr = np.array([float(target[node]) for node in adj.nodes], dtype=np.float64)
    else:
        if isinstance(target, torch.Tensor):
            target = target.detach().cpu().numpy()
        try:
            arr = np.asarray(target, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInputError(f"{name} must be numeric array-like or a mapping node -> weight") from None
        if arr.ndim != 1 or arr.shape[0] != n:
            raise BadInputError(f"{name} must have shape ({n},) (one weight per node), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise BadInputError(f"{name} contains {int((~np.isfinite(arr)).sum())} NaN or infinite value(s)")
    if np.any(arr <= 0):
        raise BadInputError(f"{name} must be strictly positive on every node; {int((arr <= 0).sum())} entries are <= 0")
    return arr / arr.sum()
