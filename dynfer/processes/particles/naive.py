r"""All-pairs (O(N²)) neighbour search and pair forces: the reference the cell lists are checked against.

Displacements follow the minimum-image convention in a periodic orthorhombic box with edge lengths :math:`L`:
:math:`\Delta = x_i - x_j - L\,\mathrm{round}((x_i - x_j)/L)` (Allen & Tildesley, *Computer Simulation of
Liquids*, 2nd ed., 2017, §1.6.4); in free space (``box=None``) :math:`\Delta = x_i - x_j`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from dynfer.processes.particles.forces import PairForce

__all__ = ["Pairs", "all_pairs", "minimum_image", "naive_pair_forces"]


class Pairs(NamedTuple):
    """Interacting pairs of a batch of frames, each unordered pair once (``i < j``).

    Attributes
    ----------
    batch
        Frame index of each pair, shape ``(P,)`` (int64).
    i, j
        Particle indices within the frame, ``i < j``, shape ``(P,)``.
    displacement
        :math:`x_i - x_j` under the minimum image, shape ``(P, d)`` (differentiable in the positions).
    distance
        :math:`|x_i - x_j|`, shape ``(P,)``, every entry below the cutoff.
    """

    batch: torch.Tensor
    i: torch.Tensor
    j: torch.Tensor
    displacement: torch.Tensor
    distance: torch.Tensor


def minimum_image(delta: torch.Tensor, box: torch.Tensor | None) -> torch.Tensor:
    r"""``delta`` mapped to its nearest periodic image, :math:`\Delta - L\,\mathrm{round}(\Delta / L)`."""
    if box is None:
        return delta
    return delta - box * torch.round(delta / box)


def _within(positions: torch.Tensor, box: torch.Tensor | None, cutoff: float, batch: torch.Tensor,
            i: torch.Tensor, j: torch.Tensor) -> Pairs:
    """The candidate pairs ``(batch, i, j)`` whose minimum-image distance is below ``cutoff``."""
    disp = minimum_image(positions[batch, i] - positions[batch, j], box)
    dist = torch.linalg.vector_norm(disp, dim=-1)
    keep = (dist < cutoff).detach()
    return Pairs(batch[keep], i[keep], j[keep], disp[keep], dist[keep])


def all_pairs(positions: torch.Tensor, box: torch.Tensor | None, cutoff: float) -> Pairs:
    """Every pair ``i < j`` of every frame closer than ``cutoff``, by testing all N(N-1)/2 pairs.

    Parameters
    ----------
    positions
        Shape ``(B, N, d)``.
    box
        Edge lengths ``(d,)`` of the periodic box (same dtype and device), or ``None`` for free space.
    cutoff
        Interaction range.

    Returns
    -------
    Pairs
        The pairs within ``cutoff`` (see :class:`Pairs`).
    """
    n_frames, n, _ = positions.shape
    dev = positions.device
    iu = torch.triu_indices(n, n, 1, device=dev)
    n_pairs = iu.shape[1]
    batch = torch.arange(n_frames, device=dev).repeat_interleave(n_pairs)
    i, j = iu[0].repeat(n_frames), iu[1].repeat(n_frames)
    return _within(positions, box, cutoff, batch, i, j)


def naive_pair_forces(positions: torch.Tensor, box: torch.Tensor | None, force: PairForce) -> torch.Tensor:
    r"""Dense O(N²) sum :math:`\sum_{j \ne i} f(|\Delta_{ij}|)\,\Delta_{ij}/|\Delta_{ij}|`, shape ``(B, N, d)``.

    Builds the full ``(B, N, N, d)`` displacement tensor (the naive step of the benchmarks). Coincident particles
    (distance 0) exert no force on each other.
    """
    disp = minimum_image(positions[:, :, None, :] - positions[:, None, :, :], box)
    dist = torch.linalg.vector_norm(disp, dim=-1)
    inside = (dist < force.cutoff) & (dist > 0)
    safe = torch.where(inside, dist, torch.ones_like(dist))
    coef = torch.where(inside, force.magnitude(safe) / safe, torch.zeros_like(dist))
    return (coef[..., None] * disp).sum(dim=2)
