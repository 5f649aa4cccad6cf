r"""Sums of pair forces over neighbours, and their divergence, from the cell-list pairs.

For particle i the interaction force is :math:`F_i = \sum_{j \ne i} f(r_{ij})\,u_{ij}` with
:math:`u_{ij} = \Delta_{ij}/r_{ij}` and :math:`\Delta_{ij}` the minimum-image displacement :math:`x_i - x_j`
(Newton's third law gives j the opposite force). Its derivative along axis a with respect to :math:`x_{i,a}` is
:math:`\partial F_{i,a}/\partial x_{i,a} = \sum_j [f'(r) u_a^2 + f(r)(1 - u_a^2)/r]`, which summed over all d axes
is :math:`\sum_j [f'(r) + (d - 1) f(r)/r]` (the divergence of a radial field); each unordered pair contributes the
same amount to i and to j. Coincident particles (distance 0) exert no force on each other (the direction is
undefined).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dynfer.processes.particles.cells import cell_list_pairs
from dynfer.processes.particles.forces import PairForce
from dynfer.processes.particles.naive import Pairs, naive_pair_forces

__all__ = ["interaction_divergence", "interaction_forces"]


def _pairs(positions: torch.Tensor, box: torch.Tensor | None, force: PairForce) -> tuple[Pairs, torch.Tensor]:
    """The interacting pairs (coincident ones dropped) and their distances."""
    pairs = cell_list_pairs(positions, box, force.cutoff)
    if pairs.distance.numel() and not bool((pairs.distance > 0).all()):
        keep = (pairs.distance > 0).detach()
        pairs = Pairs(*(t[keep] for t in pairs))
    return pairs, pairs.distance


DENSE_UP_TO = 128
"""``method="auto"`` sums small systems (N up to this, at most 2**21 pairs in the batch) densely: faster there."""


def interaction_forces(positions: torch.Tensor, box: torch.Tensor | None, force: PairForce, *,
                       method: str = "auto") -> torch.Tensor:
    r""":math:`F_i = \sum_{j \ne i} f(r_{ij})\,u_{ij}` for every particle, shape ``(B, N, d)``.

    Parameters
    ----------
    positions
        Shape ``(B, N, d)``.
    box
        Periodic edge lengths ``(d,)`` (same dtype and device) or ``None`` (free space).
    force
        The pair force.
    method
        ``"cells"`` (cell lists, O(N)), ``"naive"`` (dense all pairs, O(N²) memory and time) or ``"auto"``
        (dense for N up to :data:`DENSE_UP_TO`, where it is faster, else cells).
    """
    n_frames, n, d = positions.shape
    if force.cutoff == 0 or n < 2:
        return torch.zeros_like(positions)
    if method == "auto":
        method = "naive" if n <= DENSE_UP_TO and n_frames * n * n <= 2**21 else "cells"
    if method == "naive":
        return naive_pair_forces(positions, box, force)
    pairs, r = _pairs(positions, box, force)
    push = (force.magnitude(r) / r)[:, None] * pairs.displacement
    out = torch.zeros(n_frames * n, d, dtype=positions.dtype, device=positions.device)
    out = out.index_add(0, pairs.batch * n + pairs.i, push).index_add(0, pairs.batch * n + pairs.j, -push)
    return out.reshape(n_frames, n, d)


def interaction_divergence(positions: torch.Tensor, box: torch.Tensor | None, force: PairForce,
                           axes: Sequence[int]) -> torch.Tensor:
    r""":math:`\sum_i \sum_{a \in \text{axes}} \partial F_{i,a}/\partial x_{i,a}` per frame, shape ``(B,)``.

    Parameters
    ----------
    positions, box, force
        As for :func:`interaction_forces`.
    axes
        Position axes (each in ``range(d)``, without repeats) whose self-derivatives are summed.
    """
    n_frames, n, d = positions.shape
    axes = list(axes)
    if force.cutoff == 0 or n < 2 or not axes:
        return positions.new_zeros((n_frames,))
    pairs, r = _pairs(positions, box, force)
    f, df = force.magnitude(r), force.derivative(r)
    if len(axes) == d:
        term = df + (d - 1) * f / r
    else:
        u2 = ((pairs.displacement[:, axes] / r[:, None]) ** 2).sum(-1)
        term = df * u2 + f * (len(axes) - u2) / r
    out = positions.new_zeros((n_frames,))
    return out.index_add(0, pairs.batch, 2 * term)
