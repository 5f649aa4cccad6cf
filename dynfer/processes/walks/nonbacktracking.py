"""Non-backtracking random walk (NBRW) on a graph, many tokens at once.

References
----------
- C.-H. Lee, X. Xu, D. Y. Eun, "Beyond random walk and Metropolis–Hastings samplers: why you should not
  backtrack for unbiased graph sampling", SIGMETRICS 2012.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dynfer._settings import settings
from dynfer._validation import make_generator
from dynfer.processes.walks.chains import WalkResult, check_run_args, check_walk_size, parse_record, start_nodes
from dynfer.processes.walks.graphs import graph_adjacency

__all__ = ["NonBacktrackingWalk"]


# ---------------------------------------------------------------------------------------------------- NBRW
class NonBacktrackingWalk:
    r"""Non-backtracking random walk (NBRW) (Lee, Xu, Eun 2012), many independent tokens at once.

    From :math:`X_n = i`, reached from :math:`X_{n-1} = p`, the next node is uniform among the neighbours of
    :math:`i` other than :math:`p`:

    .. math::

        \Pr(X_{n+1} = j \mid X_n = i, X_{n-1} = p) = \frac{\mathbf 1[j \sim i,\ j \ne p]}{d_i - 1}
        \quad (d_i > 1), \qquad X_{n+1} = p \quad (d_i = 1).

    The first step from the start node is a uniform neighbour. The pair :math:`(X_{n-1}, X_n)` is a Markov chain
    on directed edges with uniform stationary law, so node visits are asymptotically :math:`\mu_i \propto d_i`
    (as for the SRW) with smaller asymptotic variance than the SRW (Lee, Xu, Eun 2012).

    Parameters
    ----------
    graph : networkx.Graph
        Undirected, connected, simple graph (see :func:`graph_adjacency`).
    device : str, torch.device or None
        Where the walk runs (``None``: ``settings.device``).

    Attributes
    ----------
    nodes : list
        Node labels in index order.
    """

    def __init__(self, graph: Any, *, device: str | torch.device | None = None) -> None:
        adj = graph_adjacency(graph)
        self.device = settings.resolve_device(device)
        self.nodes = adj.nodes
        n = adj.n_nodes
        rows = adj.rows()
        keys = rows * n + adj.indices
        reverse = np.searchsorted(keys, adj.indices * n + rows)
        self._indptr = torch.as_tensor(adj.indptr, device=self.device)
        self._indices = torch.as_tensor(adj.indices, device=self.device)
        self._degree = torch.as_tensor(adj.degree, device=self.device)
        self._reverse = torch.as_tensor(reverse, device=self.device)
        self._n = n

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``N``."""
        return self._n

    def stationary(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        r"""Asymptotic node law of the NBRW, :math:`\mu_i = d_i / 2|E|` (shape ``(N,)``)."""
        deg = self._degree.to(dtype or settings.dtype)
        return deg / deg.sum()

    def next_nodes(
        self, cur: torch.Tensor, edge: torch.Tensor, u: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""One NBRW move of every token with given uniforms (the building block of :meth:`run`; no checks).

        With :math:`k` the number of allowed neighbours (:math:`d_i` on the first move, :math:`d_i - 1` after, the
        previous node excluded), the move takes allowed neighbour number :math:`\min(\lfloor u k\rfloor, k-1)` in
        the sorted neighbour list; a leaf (:math:`d_i = 1`) goes back.

        Parameters
        ----------
        cur : torch.Tensor
            ``(T,)`` ``int64`` current nodes.
        edge : torch.Tensor
            ``(T,)`` ``int64`` index, in CSR order, of the directed edge the token arrived by (``-1``: none yet,
            the first move is a uniform neighbour).
        u : torch.Tensor
            ``(T,)`` float64 uniforms in :math:`[0, 1)`.

        Returns
        -------
        tuple of torch.Tensor
            Next nodes ``(T,)`` and the directed edges taken ``(T,)`` (the next call's ``edge``).
        """
        deg = self._degree[cur]
        first = edge < 0
        back = self._reverse[edge.clamp_min(0)] - self._indptr[cur]  # position of the previous node in cur's list
        k = torch.where(first, deg, torch.clamp(deg - 1, min=1))
        draw = torch.minimum((u * k).to(torch.int64), k - 1)
        pos = torch.where(first, draw, torch.where(deg > 1, draw + (draw >= back).to(torch.int64), back))
        nxt_edge = self._indptr[cur] + pos
        return self._indices[nxt_edge], nxt_edge

    def run(
        self,
        n_steps: int,
        *,
        n_tokens: int = 1,
        start: int | torch.Tensor | None = None,
        seed: int | torch.Generator | None = None,
        record: str | None = None,
    ) -> WalkResult:
        r"""Simulate ``n_tokens`` independent non-backtracking walkers for ``n_steps`` steps.

        Parameters
        ----------
        n_steps : int
            Number of moves :math:`X_0 \to X_1 \to \dots \to X_n`.
        n_tokens : int
            Number of independent walkers, simulated together (no loop over tokens).
        start : int, tensor of shape (n_tokens,) or None
            Start node indices; ``None`` draws them from the stationary law :math:`\mu \propto d`.
        seed : int, torch.Generator or None
            Randomness (``None``: ``settings.seed`` or fresh entropy).
        record : None or "trajectory"
            ``"trajectory"`` keeps the ``(n_steps, n_tokens)`` visited nodes.

        Returns
        -------
        WalkResult
        """
        n_steps, n_tokens = check_run_args(n_steps, n_tokens)
        rec = parse_record(record, {"trajectory"})
        check_walk_size(self, "NonBacktrackingWalk.run", n_steps, n_tokens, 1, rec, 0)
        gen = make_generator(seed, self.device)
        cur = start_nodes(start, n_tokens, self._n, gen, self.device, self.stationary(torch.float64))
        counts = torch.zeros(n_tokens, self._n, dtype=torch.int64, device=self.device)
        traj = torch.empty(n_steps, n_tokens, dtype=torch.int64, device=self.device) if "trajectory" in rec else None
        ones = torch.ones(n_tokens, dtype=torch.int64, device=self.device)
        edge = torch.full((n_tokens,), -1, dtype=torch.int64, device=self.device)  # no previous edge yet
        for step in range(n_steps):
            u = torch.rand(n_tokens, generator=gen, device=self.device, dtype=torch.float64)
            cur, edge = self.next_nodes(cur, edge, u)
            counts.scatter_add_(1, cur[:, None], ones[:, None])
            if traj is not None:
                traj[step] = cur
        return WalkResult(nodes=self.nodes, position=cur, visit_counts=counts, n_steps=n_steps, trajectory=traj)
