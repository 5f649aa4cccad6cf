r"""Mini-batch couplings: the P-step's interval plans in time and memory linear in the cells per time.

The dense coupling :func:`~dynfer.estimators.bridges.coupling.couple` of snapshots of :math:`n` and :math:`m` cells
forms the :math:`n \times m` cost and plan: :math:`O(nm)` time and memory, the wall the P-step hits beyond a few
thousand cells per time. The mini-batch coupling (Fatras et al. 2020; 2021) draws a seeded random partition of each
snapshot into :math:`B = \lceil \max(n, m) / \text{batch\_size} \rceil` batches of near-equal size,
:math:`I_1, \dots, I_B` of the rows and :math:`J_1, \dots, J_B` of the columns (sizes :math:`n_b \in \{\lfloor n/B
\rfloor, \lceil n/B \rceil\}`, likewise :math:`m_b`), couples batch :math:`b` with batch :math:`b` by the dense solver,
and keeps the block-diagonal plan

.. math::  \pi = \sum_{b=1}^B \frac{n_b}{n}\, \iota_b\big(\pi_b\big), \qquad
           \pi_b = \arg\min_{P \in \Pi(\mathbf 1/n_b, \mathbf 1/m_b)} \langle P, C_{I_b J_b}\rangle
           + \varepsilon\,\mathrm{KL}(P \,\|\, \tfrac{1}{n_b m_b}),

where :math:`\iota_b` places the block at rows :math:`I_b` and columns :math:`J_b` and the weight :math:`n_b / n` is
the batch's share of the rows. Each row then sums to :math:`1/n` exactly, and each column :math:`j \in J_b` to
:math:`(n_b / n)/m_b`, which is :math:`1/m` exactly when :math:`n_b / m_b = n / m` (e.g. equal snapshot sizes) and
otherwise within a relative :math:`O(B / \min(n, m))`, below the sampling noise of the snapshots. Cost:
:math:`B` solves of size :math:`n/B \times m/B`, i.e. :math:`O(\text{batch\_size} \cdot \max(n, m))` time and memory.

A mini-batch plan is the entropic coupling of the batches, not of the snapshots: its rows spread over the batch's
cells only, a coarser neighbourhood than the full snapshot offers, which adds a transport error that shrinks with
the batch size (Fatras et al. 2021, Thm. 1). Drawing the next (or previous) particle of a path from a row (column)
conditional is unchanged: it stays in the block of that row (column).

References
----------
- K. Fatras, Y. Zine, R. Flamary, R. Gribonval, N. Courty (2020), Learning with minibatch Wasserstein: asymptotic
  and gradient properties, *AISTATS*, PMLR 108, 2131-2141.
- K. Fatras, Y. Zine, S. Majewski, R. Flamary, R. Gribonval, N. Courty (2021), Minibatch optimal transport
  distances; analysis and applications, arXiv:2101.01792.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dynfer._errors import BadInputError
from dynfer.estimators.bridges.draws import draw_rows

__all__ = ["DENSE_LIMIT", "DEFAULT_BATCH", "BlockPlan", "block_couple", "check_batch_size", "default_batch_size"]

DENSE_LIMIT = 2_000  # cells per time up to which the default keeps the dense solver
DEFAULT_BATCH = 1_000  # batch size of the default beyond it


def default_batch_size(n_cells: int) -> int | None:
    r"""The default mini-batch size for snapshots of ``n_cells`` cells per time (the largest snapshot).

    ``None`` (the dense solver) up to :data:`DENSE_LIMIT` = 2,000 cells per time, where a dense interval costs
    at most :math:`4 \cdot 10^6` cost entries (32 MB in float64) and a few seconds; beyond it batches of
    :data:`DEFAULT_BATCH` = 1,000 cells per side, which keeps every solve at :math:`10^6` entries and the P-step
    linear in the cells per time.

    Parameters
    ----------
    n_cells
        Cells per time (the largest snapshot), a positive int.

    Returns
    -------
    int or None
        The ``batch_size`` to pass to :func:`~dynfer.estimators.bridges.stitching.stitch`.

    Examples
    --------
    >>> default_batch_size(500), default_batch_size(10_000)
    (None, 1000)
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, int) or n_cells < 1:
        raise BadInputError("n_cells", repr(n_cells), "a positive int (the cells per time)")
    return None if n_cells <= DENSE_LIMIT else DEFAULT_BATCH


def check_batch_size(batch_size: object) -> int | None:
    """``batch_size`` validated: ``None`` or an int >= 2; raises :class:`~dynfer.BadInputError` naming it."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise BadInputError("batch_size", repr(batch_size), "None (the dense coupling) or an int >= 2 (cells per "
                            "side of each mini-batch)", hint="e.g. batch_size=1000 for 10,000 cells per time")
    return batch_size


@dataclass(frozen=True)
class BlockPlan:
    r"""A block-diagonal (after permutation) coupling of ``shape = (n, m)``: the union of mini-batch plans.

    Attributes
    ----------
    shape : tuple of int
        ``(n, m)``.
    rows, cols : list of torch.Tensor
        Long indices :math:`I_b` ``(n_b,)`` and :math:`J_b` ``(m_b,)`` of each block; each partitions its side.
    blocks : list of torch.Tensor
        Block plans ``(n_b, m_b)``, already scaled by the batch share :math:`n_b / n`.
    """

    shape: tuple[int, int]
    rows: list[torch.Tensor]
    cols: list[torch.Tensor]
    blocks: list[torch.Tensor]

    @property
    def n_blocks(self) -> int:
        """Number of blocks :math:`B`."""
        return len(self.blocks)

    @property
    def nnz(self) -> int:
        r"""Stored entries :math:`\sum_b n_b m_b`."""
        return sum(b.numel() for b in self.blocks)

    def _locate(self, index: list[torch.Tensor], size: int) -> tuple[torch.Tensor, torch.Tensor]:
        dev = self.blocks[0].device
        block = torch.empty(size, dtype=torch.long, device=dev)
        pos = torch.empty(size, dtype=torch.long, device=dev)
        for b, idx in enumerate(index):
            block[idx] = b
            pos[idx] = torch.arange(idx.shape[0], device=dev)
        return block, pos

    def _draw(self, which: torch.Tensor, by_rows: bool, gen: torch.Generator | None) -> torch.Tensor:
        index, other = (self.rows, self.cols) if by_rows else (self.cols, self.rows)
        block, pos = self._locate(index, self.shape[0 if by_rows else 1])
        out = torch.empty_like(which)
        blk = block[which]
        for b in range(self.n_blocks):
            sel = (blk == b).nonzero()[:, 0]
            if sel.numel() == 0:
                continue
            weights = self.blocks[b][pos[which[sel]]] if by_rows else self.blocks[b][:, pos[which[sel]]].T
            out[sel] = other[b][draw_rows(weights, gen)]
        return out

    def draw_next(self, i: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        r"""For each row index in ``i``, a column drawn from the row's conditional :math:`\pi_{i\cdot} / \pi_i`."""
        return self._draw(i, True, gen)

    def draw_previous(self, j: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        r"""For each column index in ``j``, a row drawn from the column's conditional :math:`\pi_{\cdot j} / \pi_j`."""
        return self._draw(j, False, gen)

    def row_sums(self) -> torch.Tensor:
        """``(n,)`` row sums of the plan."""
        out = torch.zeros(self.shape[0], dtype=self.blocks[0].dtype, device=self.blocks[0].device)
        for idx, blk in zip(self.rows, self.blocks, strict=True):
            out[idx] = blk.sum(1)
        return out

    def col_sums(self) -> torch.Tensor:
        """``(m,)`` column sums of the plan."""
        out = torch.zeros(self.shape[1], dtype=self.blocks[0].dtype, device=self.blocks[0].device)
        for idx, blk in zip(self.cols, self.blocks, strict=True):
            out[idx] = blk.sum(0)
        return out

    def to_sparse(self) -> torch.Tensor:
        """The plan as a sparse COO tensor ``(n, m)`` with :attr:`nnz` stored entries (coalesced)."""
        ii, jj, vv = [], [], []
        for r, c, blk in zip(self.rows, self.cols, self.blocks, strict=True):
            ii.append(r[:, None].expand(blk.shape).reshape(-1))
            jj.append(c[None, :].expand(blk.shape).reshape(-1))
            vv.append(blk.reshape(-1))
        return torch.sparse_coo_tensor(torch.stack([torch.cat(ii), torch.cat(jj)]), torch.cat(vv),
                                       self.shape, check_invariants=False).coalesce()

    def to_dense(self) -> torch.Tensor:
        """The plan as a dense ``(n, m)`` tensor (for small plans and tests)."""
        out = torch.zeros(self.shape, dtype=self.blocks[0].dtype, device=self.blocks[0].device)
        for r, c, blk in zip(self.rows, self.cols, self.blocks, strict=True):
            out[r[:, None], c[None, :]] = blk
        return out


def block_couple(
    x0: torch.Tensor,
    x1: torch.Tensor,
    solve: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int,
    gen: torch.Generator | None,
) -> BlockPlan:
    r"""Mini-batch coupling of ``x0`` ``(n, d)`` and ``x1`` ``(m, d)`` (module docstring).

    Parameters
    ----------
    x0, x1
        The two snapshots.
    solve
        Dense coupling of two batches, ``(x0[I], x1[J]) -> (|I|, |J|)`` plan with uniform marginals
        (:func:`~dynfer.estimators.bridges.coupling.couple` with the interval's reference).
    batch_size
        Cells per side of each batch (at most; :math:`B = \lceil \max(n, m)/\text{batch\_size}\rceil` batches,
        capped at :math:`\min(n, m)` so that no batch is empty). With ``batch_size >= max(n, m)`` there is one
        batch, the whole snapshots in their order, and the plan is the dense one exactly (no random draw).
    gen
        Generator of the random partition.

    Returns
    -------
    BlockPlan
        The union of the scaled block plans.
    """
    n, m = x0.shape[0], x1.shape[0]
    dev = x0.device
    n_batches = min(math.ceil(max(n, m) / batch_size), n, m)
    if n_batches == 1:
        rows = [torch.arange(n, device=dev)]
        cols = [torch.arange(m, device=dev)]
    else:
        rows = list(torch.tensor_split(torch.randperm(n, generator=gen, device=dev), n_batches))
        cols = list(torch.tensor_split(torch.randperm(m, generator=gen, device=dev), n_batches))
    blocks = []
    for r, c in zip(rows, cols, strict=True):
        plan = solve(x0 if n_batches == 1 else x0[r], x1 if n_batches == 1 else x1[c])
        blocks.append(plan if n_batches == 1 else plan * (r.shape[0] / n))
    return BlockPlan((n, m), rows, cols, blocks)
