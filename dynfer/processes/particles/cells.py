r"""Cell-list neighbour search, batched over frames, without a Python loop over particles.

The box is cut into :math:`m_a = \lfloor L_a / r_c \rfloor` cells per axis (each at least the cutoff :math:`r_c`
wide), so every partner of a particle lies in its own cell or one of the :math:`3^d - 1` adjacent ones (Allen &
Tildesley, *Computer Simulation of Liquids*, 2nd ed., 2017, §5.3). Particles of all frames are sorted by a global
cell id (frame, cell); each particle then enumerates the occupants of its own cell (partners j > i) and of half of
the :math:`3^d - 1` adjacent cells (the lexicographically positive offsets, so that each pair of cells is met once)
from the cell counts (``repeat_interleave``, no padding), all in a few tensor operations. The cost per step is
O(N·3^d·n_cell), with n_cell the mean cell occupancy: linear in N at fixed density.

A periodic box with fewer than 3 cells along some axis (the 3 neighbour cells would not be distinct) falls back to
:func:`~dynfer.processes.particles.naive.all_pairs`. In free space (``box=None``) the cells cover the particles'
bounding box, at most about :math:`(4N)^{1/d}` per axis (wider cells when the particles are spread out).
"""

from __future__ import annotations

import itertools
import math

import torch

from dynfer._validation import check_memory
from dynfer.processes.particles.naive import Pairs, _within, all_pairs

__all__ = ["cell_grid", "cell_list_pairs"]


def cell_grid(box: torch.Tensor | None, cutoff: float) -> list[int] | None:
    """Cells per axis of a periodic ``box`` for ``cutoff``; ``None`` when some axis has fewer than 3 (all pairs)."""
    if box is None:
        return None
    cells = [int(math.floor(float(edge) / cutoff)) for edge in box]
    return None if min(cells) < 3 else cells


def _cell_coordinates(x: torch.Tensor, box: torch.Tensor | None, cutoff: float,
                      cells_per_axis: list[int] | None) -> tuple[torch.Tensor, list[int]]:
    """Integer cell coordinates ``(B*N, d)`` of every particle, and the cells per axis."""
    n_frames, n, d = x.shape
    if box is not None and cells_per_axis is not None:
        m = torch.tensor(cells_per_axis, device=x.device)
        coords = torch.floor(torch.remainder(x, box) / (box / m.to(box.dtype))).long()
    else:  # free space: cells over the bounding box, at least the cutoff wide, about (4N)^(1/d) per axis at most
        lo = x.amin(dim=(0, 1))
        extent = x.amax(dim=(0, 1)) - lo
        cap = max(1, math.ceil((4 * n) ** (1 / d)))
        cells_per_axis = [max(1, min(cap, int(math.floor(float(e) / cutoff)))) for e in extent]
        m = torch.tensor(cells_per_axis, device=x.device)
        coords = torch.floor((x - lo) / torch.clamp(extent / m.to(x.dtype), min=cutoff)).long()
    coords = torch.minimum(torch.clamp(coords, min=0), m - 1).reshape(n_frames * n, d)
    return coords, cells_per_axis


def cell_list_pairs(positions: torch.Tensor, box: torch.Tensor | None, cutoff: float) -> Pairs:
    """Every pair ``i < j`` of every frame closer than ``cutoff``, found with cell lists.

    Parameters
    ----------
    positions
        Shape ``(B, N, d)``, wrapped or not (cells use positions modulo the box).
    box
        Edge lengths ``(d,)`` of the periodic orthorhombic box (same dtype and device as ``positions``), or
        ``None`` for free space.
    cutoff
        Interaction range :math:`r_c > 0`; a periodic box must be wider than :math:`2 r_c` along every axis for the
        minimum image to be unique (checked by :class:`~dynfer.processes.particles.ActiveParticles`).

    Returns
    -------
    Pairs
        The same pair set as :func:`~dynfer.processes.particles.naive.all_pairs`, in another order; the
        displacements are differentiable in ``positions``.

    Notes
    -----
    The candidates are gathered without padding: for each (particle, stencil cell) the cell's occupants are
    enumerated with ``repeat_interleave`` over the cell counts, so the work is the number of true candidates
    (about :math:`(3^d + 1)/2` times the mean cell occupancy per particle).
    """
    n_frames, n, d = positions.shape
    dev = positions.device
    if n < 2 or n_frames == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=dev)
        return Pairs(empty, empty, empty, positions.new_zeros((0, d)), positions.new_zeros((0,)))
    cells_per_axis = cell_grid(box, cutoff)
    if box is not None and cells_per_axis is None:
        return all_pairs(positions, box, cutoff)
    coords, cells_per_axis = _cell_coordinates(positions.detach(), box, cutoff, cells_per_axis)
    m = torch.tensor(cells_per_axis, device=dev)
    strides = torch.tensor([math.prod(cells_per_axis[a + 1:]) for a in range(d)], device=dev)
    n_cells = math.prod(cells_per_axis)
    frame = torch.arange(n_frames, device=dev).repeat_interleave(n)
    cell_id = (coords * strides).sum(-1) + frame * n_cells
    order = torch.argsort(cell_id)  # particles (global index frame * N + i) grouped by cell
    counts = torch.bincount(cell_id, minlength=n_frames * n_cells)
    starts = torch.cumsum(counts, 0) - counts

    # half stencil: the own cell (pairs i < j) and the (3^d - 1)/2 lexicographically positive neighbour cells;
    # with at least 3 cells per axis a cell pair is then met once (o and -o never both appear)
    stencil = [o for o in itertools.product((-1, 0, 1), repeat=d) if o >= (0,) * d]
    offsets = torch.tensor(stencil, device=dev)
    neighbour = coords[:, None, :] + offsets  # (B*N, (3^d + 1)/2, d); offset 0 first
    if box is not None:
        neighbour_id = (torch.remainder(neighbour, m) * strides).sum(-1) + frame[:, None] * n_cells
        per_cell = counts[neighbour_id]
    else:
        inside = ((neighbour >= 0) & (neighbour < m)).all(-1)
        neighbour_id = (torch.minimum(torch.clamp(neighbour, min=0), m - 1) * strides).sum(-1) \
            + frame[:, None] * n_cells
        per_cell = torch.where(inside, counts[neighbour_id], 0)
    per_cell, neighbour_id = per_cell.reshape(-1), neighbour_id.reshape(-1)
    total = int(per_cell.sum())
    check_memory(8.0 * total * (6 + d), "cell lists: positions",
                 f"{n_frames} frames x {n} particles with {total} candidate pairs", device=dev,
                 change="use fewer frames per call, or a configuration without piled-up particles")
    owner = torch.repeat_interleave(torch.arange(per_cell.numel(), device=dev), per_cell)
    rank = torch.arange(total, device=dev) - (torch.cumsum(per_cell, 0) - per_cell)[owner]
    second = order[starts[neighbour_id[owner]] + rank]
    first = owner // offsets.shape[0]
    own_cell = owner % offsets.shape[0] == 0
    keep = ~own_cell | (second > first)  # within a cell each unordered pair once, never the particle itself
    first, second = first[keep], second[keep]
    swap = second < first  # report i < j
    first, second = torch.where(swap, second, first), torch.where(swap, first, second)
    return _within(positions, box, cutoff, first // n, first % n, second % n)
