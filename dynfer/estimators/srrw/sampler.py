r"""How the token picks agents: the self-repellent walk on a base chain, the non-backtracking walk, or i.i.d. draws.

Every sampler moves a batch of tokens one step with given uniforms (one per token and step, from
:mod:`dynfer.estimators.srrw.streams`), so the same token makes the same moves in any batch or process.

* ``"mhrw"``: SRRW (Doshi, Hu, Eun 2023) on the Metropolis–Hastings walk to the objective's weights :math:`w`;
  stationary law :math:`\pi = w`;
* ``"srw"``: SRRW on the simple walk, :math:`\pi_i = d_i / 2|E|`;
* ``"nbrw"``: the non-backtracking walk (Lee, Xu, Eun 2012), :math:`\pi_i = d_i/2|E|`; ``alpha`` must be 0 (it is a
  second-order chain: the self-repellent kernel is defined on a reversible first-order base);
* ``"iid"``: independent draws from :math:`w` (the ideal floor); ``alpha`` must be 0;
* a row-stochastic matrix on the graph's edges and diagonal, reversible with respect to its stationary law
  :math:`\pi`: SRRW on it.

A walk whose :math:`\pi` differs from :math:`w` reweights the gradient by the importance factor
:math:`w_i / \pi_i` (for the simple walk and a uniform objective, :math:`\propto 1/d_i`), so the mean field is
:math:`\sum_i \pi_i (w_i/\pi_i) H(\theta, i) = -\nabla f(\theta)`.

References
----------
- V. Doshi, J. Hu, D. Y. Eun, "Self-repellent random walks on general graphs", ICML 2023, arXiv:2305.05097.
- C.-H. Lee, X. Xu, D. Y. Eun, "Beyond random walk and Metropolis–Hastings samplers", SIGMETRICS 2012.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from dynfer._errors import BadInputError
from dynfer.processes.walks import NonBacktrackingWalk, SelfRepellentWalk
from dynfer.processes.walks.chains import as_scipy_csr, metropolis_hastings_matrix, simple_walk_matrix
from dynfer.processes.walks.graphs import GraphAdjacency, graph_adjacency
from dynfer.processes.walks.srrw_theory import check_alpha

__all__ = ["BASES", "TokenSampler", "base_chain", "make_sampler"]

BASES = ("mhrw", "srw", "nbrw", "iid")


def _inverse_cdf(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index ``k`` with ``cdf[k-1] <= u * cdf[-1] < cdf[k]`` (clamped to the last index)."""
    k = torch.searchsorted(cdf, (u.to(cdf.dtype) * cdf[-1]).contiguous(), right=True)
    return torch.clamp(k, max=cdf.shape[0] - 1)


class TokenSampler:
    r"""A batched sampler of agents (see the module docstring); build with :func:`make_sampler`.

    Attributes
    ----------
    kind : str
        ``"mhrw"``, ``"srw"``, ``"nbrw"``, ``"iid"`` or ``"matrix"``.
    alpha : float
        Self-repellence (0 for ``"nbrw"`` and ``"iid"``).
    stationary : numpy.ndarray
        ``(N,)`` float64 law :math:`\pi` of the visits.
    importance : numpy.ndarray
        ``(N,)`` float64 gradient weights :math:`w_i / \pi_i`.
    matrix : scipy.sparse.csr_matrix or None
        The base chain :math:`P` (``None`` for ``"nbrw"`` and ``"iid"``).
    """

    def __init__(self, kind: str, alpha: float, weights: np.ndarray, stationary: np.ndarray,
                 matrix: sp.csr_matrix | None, walk: Any, device: torch.device, dtype: torch.dtype) -> None:
        self.kind, self.alpha, self.matrix = kind, alpha, matrix
        self.stationary = stationary
        self.importance = weights / stationary
        self.n_nodes = int(stationary.shape[0])
        self._walk = walk
        self.device, self.dtype = device, dtype
        self._cdf = torch.cumsum(torch.as_tensor(stationary, dtype=torch.float64, device=device), 0)
        self._iid_cdf = torch.cumsum(torch.as_tensor(weights, dtype=torch.float64, device=device), 0)

    def start(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Start nodes :math:`X_0 \sim \pi` (inverse CDF of uniforms ``u`` ``(R,)``) and the auxiliary state.

        The auxiliary state is the directed edge arrived by (NBRW: ``-1`` at the start), zeros for the others.
        """
        cur = _inverse_cdf(self._cdf, u)
        return cur, torch.full_like(cur, -1)

    def step(self, cur: torch.Tensor, aux: torch.Tensor, w: torch.Tensor,
             u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Next nodes ``(R,)`` and auxiliary state from current nodes, measures ``w`` ``(R, N)``, uniforms ``(R,)``."""
        if self.kind == "iid":
            return _inverse_cdf(self._iid_cdf, u), aux
        if self.kind == "nbrw":
            return self._walk.next_nodes(cur, aux, u.to(torch.float64))
        return self._walk.next_nodes(cur, w, u.to(self.dtype)[:, None]), aux


def _nx_graph(graph: Any) -> Any:
    """A networkx graph from a networkx graph or a symmetric 0/1 adjacency (scipy sparse, numpy, torch)."""
    import networkx as nx

    if isinstance(graph, (nx.Graph, GraphAdjacency)):
        return graph
    if isinstance(graph, (torch.Tensor, np.ndarray)) or sp.issparse(graph):
        a = as_scipy_csr(graph, "graph")
        if abs(a - a.T).sum() > 0:
            raise BadInputError("graph", "a non-symmetric adjacency matrix", "an undirected graph (A = A^T)")
        if a.diagonal().any():
            raise BadInputError("graph", "an adjacency matrix with a non-zero diagonal (self-loops)",
                                "a simple graph: zero diagonal")
        if np.any(a.data < 0):
            raise BadInputError("graph", "negative adjacency entries", "a 0/1 (or non-negative) adjacency")
        a.eliminate_zeros()
        return nx.from_scipy_sparse_array(a)
    raise BadInputError("graph", f"a {type(graph).__name__}", "a networkx.Graph or a square adjacency matrix "
                        "(scipy sparse, numpy or torch)")


def base_chain(graph: Any, base: Any, weights: np.ndarray) -> tuple[sp.csr_matrix | None, np.ndarray]:
    r"""The base chain :math:`P` (scipy CSR float64, ``None`` for ``"nbrw"``/``"iid"``) and its visit law :math:`\pi`.

    Parameters
    ----------
    graph
        networkx graph or symmetric adjacency (see :func:`make_sampler`).
    base
        ``"mhrw"``, ``"srw"``, ``"nbrw"``, ``"iid"`` or a transition matrix.
    weights
        The objective's node weights :math:`w` (``(N,)``, positive, summing to one): the target of ``"mhrw"`` and
        ``"iid"``.
    """
    adj = graph_adjacency(_nx_graph(graph))
    n = adj.n_nodes
    deg = adj.degree / adj.degree.sum()
    if isinstance(base, str):
        kind = base.strip().lower()
        if kind == "mhrw":
            return as_scipy_csr(metropolis_hastings_matrix(adj, weights, device="cpu", dtype=torch.float64)), weights
        if kind == "srw":
            return as_scipy_csr(simple_walk_matrix(adj, device="cpu", dtype=torch.float64)), deg
        if kind == "nbrw":
            return None, deg
        if kind == "iid":
            return None, weights
        raise BadInputError("base", repr(base), "'mhrw', 'srw', 'nbrw', 'iid' or a row-stochastic matrix")
    walk = SelfRepellentWalk(adj, 0.0, base=base, device="cpu", dtype=torch.float64)
    assert walk.n_nodes == n
    return walk._p64, walk._mu64.numpy().copy()


def make_sampler(graph: Any, base: Any, alpha: Any, weights: np.ndarray, *,
                 device: torch.device, dtype: torch.dtype) -> TokenSampler:
    """Build the sampler for ``base`` (see the module docstring) with self-repellence ``alpha``.

    Raises
    ------
    BadInputError
        A disconnected, directed or otherwise bad graph, ``alpha < 0``, ``alpha > 0`` with ``"nbrw"`` or ``"iid"``,
        an unknown base, or a base matrix that is not row-stochastic, reversible and supported on the graph.
    """
    adj = graph_adjacency(_nx_graph(graph))
    if weights.shape[0] != adj.n_nodes:
        raise BadInputError("X", f"data sharded over {weights.shape[0]} nodes", f"{adj.n_nodes}, the graph's nodes")
    a = check_alpha(alpha)
    matrix, pi = base_chain(adj, base, weights)
    kind = base.strip().lower() if isinstance(base, str) else "matrix"
    if kind in ("nbrw", "iid"):
        if a != 0.0:
            raise BadInputError("alpha", f"{alpha!r} with base={kind!r}", "alpha=0: the self-repellent kernel is "
                                "defined on a reversible first-order base chain ('mhrw', 'srw' or a matrix)")
        walk = NonBacktrackingWalk(adj, device=device) if kind == "nbrw" else None
    else:
        target = weights if kind == "mhrw" else None
        walk = SelfRepellentWalk(adj, a, base=matrix if kind == "matrix" else kind, target=target, device=device,
                                 dtype=dtype)
    return TokenSampler(kind, a, weights, pi, matrix, walk, device, dtype)
