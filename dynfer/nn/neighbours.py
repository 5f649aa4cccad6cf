r"""Nearest neighbours of particles under the minimum-image convention, batched and chunked over query particles.

For particles at :math:`x_1, \dots, x_N \in \mathbb{R}^d` in a periodic box of edge lengths :math:`L` (or in free
space), the minimum-image displacement from :math:`i` to :math:`j` is

.. math::  r_{ij} = (x_j - x_i) - L \odot \big\lfloor (x_j - x_i) \oslash L + \tfrac12 \big\rfloor
           \in [-L/2, L/2)^d,

the displacement to the nearest periodic image of :math:`j` (Allen & Tildesley 2017, section 1.6.2). Positions need
not lie inside the box.

References
----------
Allen, M. P. & Tildesley, D. J. (2017). *Computer Simulation of Liquids*, 2nd ed. Oxford University Press.
"""

from __future__ import annotations

from typing import Any

import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_int

__all__ = ["as_box", "knn_minimum_image", "minimum_image"]

PAIRS_PER_CHUNK = 2**22
"""Pair distances held at once by :func:`knn_minimum_image` (about 16 MiB in float32 per temporary)."""


def minimum_image(displacement: torch.Tensor, box: torch.Tensor | None) -> torch.Tensor:
    r"""Wrap displacements into the box, :math:`r - L \lfloor r / L + 1/2 \rfloor \in [-L/2, L/2)`.

    Parameters
    ----------
    displacement
        Displacements of shape ``(..., d)``.
    box
        Edge lengths :math:`L` of shape ``(d,)`` (see :func:`as_box`), or ``None`` for free space (no wrapping).

    Returns
    -------
    torch.Tensor
        The wrapped displacements, same shape. The floor is piecewise constant, so the derivative with respect to
        ``displacement`` is the identity (almost everywhere).
    """
    if box is None:
        return displacement
    return displacement - box * torch.floor(displacement / box + 0.5)


def as_box(box: Any, dim: int, like: torch.Tensor, name: str = "box") -> torch.Tensor | None:
    """Check a periodic box: ``None`` (free space), a number (cubic box) or ``dim`` positive finite edge lengths.

    Parameters
    ----------
    box
        ``None``, a positive number or an array-like of shape ``(dim,)``.
    dim
        Number of spatial dimensions.
    like
        Tensor whose dtype and device the box takes.
    name
        Argument name for error messages.

    Returns
    -------
    torch.Tensor or None
        The edge lengths, shape ``(dim,)``, detached, or ``None``.

    Raises
    ------
    BadInputError
        If ``box`` has the wrong shape or a non-positive or non-finite edge.
    """
    if box is None:
        return None
    if isinstance(box, torch.Tensor):
        box = box.detach()
    edges = as_tensor(box, name, dtype=like.dtype, device=like.device, ndim=(0, 1))
    if edges.ndim == 0:
        edges = edges.expand(dim)
    if edges.shape != (dim,):
        raise BadInputError(name, f"shape {tuple(edges.shape)}", f"a number or {dim} edge lengths, shape ({dim},)")
    if not bool((edges > 0).all()):
        raise BadInputError(name, f"edge lengths {edges.tolist()}", "positive edge lengths (or None for free space)")
    return edges


def knn_minimum_image(
    positions: torch.Tensor,
    k: int,
    box: torch.Tensor | None = None,
    *,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The ``k`` nearest other particles of every particle, with their minimum-image displacements.

    For each configuration ``b`` and particle ``i``, the indices :math:`j \ne i` of the ``k`` smallest
    :math:`|r_{ij}|` (see the module docstring for :math:`r_{ij}`), sorted by increasing distance; ties are broken
    arbitrarily. The search is exact (all pairs), done in chunks of query particles so that about
    :data:`PAIRS_PER_CHUNK` pair distances are held at once: memory :math:`O(B \cdot \text{chunk} \cdot N)`, time
    :math:`O(B N^2 d)`.

    Parameters
    ----------
    positions
        Shape ``(B, N, d)``: ``B`` configurations of ``N`` particles in ``d`` dimensions.
    k
        Number of neighbours, ``1 <= k <= N - 1``. A larger ``k`` raises rather than being clipped, so that a network
        never silently sees fewer neighbours than it was built for.
    box
        Periodic box edge lengths, shape ``(d,)`` (a number gives a cubic box), or ``None`` for free space.
    chunk_size
        Query particles per chunk (default: as many as keep ``B * chunk * N`` near :data:`PAIRS_PER_CHUNK`).

    Returns
    -------
    index : torch.Tensor
        Shape ``(B, N, k)``, ``torch.long``: ``index[b, i, m]`` is the ``m``-th nearest neighbour of ``i``.
    displacement : torch.Tensor
        Shape ``(B, N, k, d)``: :math:`r_{i, \text{index}[b, i, m]}`, differentiable with respect to ``positions``
        (the indices themselves are piecewise constant).

    Raises
    ------
    BadInputError
        If ``positions`` is not a finite 3-D array, ``k`` is not an integer in ``1 .. N - 1``, or ``box`` or
        ``chunk_size`` is bad.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[[0.1, 0.0], [0.9, 0.0], [0.4, 0.0]]])
    >>> index, r = knn_minimum_image(x, 1, box=torch.tensor([1.0, 1.0]))
    >>> index[0, :, 0].tolist()
    [1, 0, 0]
    """
    positions = as_tensor(positions, "positions", ndim=3)
    n_batch, n_particles, dim = positions.shape
    if n_batch == 0 or dim == 0:
        raise BadInputError("positions", f"shape {tuple(positions.shape)}", "at least one configuration and dimension")
    k = check_int(k, "k")
    if k > n_particles - 1:
        raise BadInputError("k", f"k = {k} neighbours among N = {n_particles} particles",
                            f"k <= N - 1 = {n_particles - 1} (a particle is not its own neighbour)")
    edges = as_box(box, dim, positions)
    if chunk_size is None:
        chunk = max(1, PAIRS_PER_CHUNK // (n_batch * n_particles))
    else:
        chunk = check_int(chunk_size, "chunk_size")
    x = positions.detach()
    if edges is not None:  # in [0, L], so that |x_j - x_i| <= L and the image distance is min(|x_j - x_i|, L - ...)
        x = torch.remainder(x, edges)
    index = torch.empty(n_batch, n_particles, k, dtype=torch.long, device=x.device)
    big = torch.finfo(x.dtype).max
    with torch.no_grad():
        for start in range(0, n_particles, chunk):
            stop = min(start + chunk, n_particles)
            squared = torch.zeros(n_batch, stop - start, n_particles, dtype=x.dtype, device=x.device)
            for a in range(dim):  # one coordinate at a time: memory O(B * chunk * N), independent of d
                gap = (x[:, None, :, a] - x[:, start:stop, None, a]).abs_()
                if edges is not None:
                    gap = torch.minimum(gap, edges[a] - gap)
                squared.addcmul_(gap, gap)
            # an overflowed distance stays below the self-distance, so a particle is never its own neighbour
            squared = torch.nan_to_num(squared, nan=big, posinf=big)
            rows = torch.arange(stop - start, device=x.device)
            squared[:, rows, rows + start] = torch.inf
            index[:, start:stop] = squared.topk(k, dim=-1, largest=False, sorted=True).indices
    flat = index.reshape(n_batch, n_particles * k, 1).expand(n_batch, n_particles * k, dim)
    neighbours = positions.gather(1, flat).reshape(n_batch, n_particles, k, dim)
    displacement = minimum_image(neighbours - positions[:, :, None, :], edges)
    if not bool(torch.isfinite(displacement.detach()).all()):
        kind = str(x.dtype).removeprefix("torch.")
        raise BadInputError("positions", f"coordinates up to {float(x.abs().max()):.3g}, whose differences overflow "
                            f"{kind}", "coordinates whose differences are finite", hint="rescale them or use float64")
    return index, displacement
