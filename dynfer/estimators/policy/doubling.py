r"""Full-batch, constant-step linear iterations run in blocks of :math:`2^m` epochs (exact, by repeated squaring).

With full batches and a constant step, one epoch of linear TD, GTD, GTD2 or TDC (:mod:`.td`, :mod:`.gtd`) is an
affine map :math:`z \mapsto Gz + g` of :math:`z = \tilde\theta` (TD) or :math:`z = (\tilde\theta, w)` (GTD family)
that does not change from epoch to epoch. Its :math:`n`-fold iterate is the affine map of the augmented matrix

.. math:: H^n, \qquad H = \begin{pmatrix} G & g \\ 0 & 1 \end{pmatrix},

so :math:`2^m` epochs cost :math:`m` squarings of a :math:`(q+1)\times(q+1)` matrix instead of :math:`2^m` passes
([derived]; the iterates are those of the epoch loop up to rounding). This matters for TDC, whose :math:`\theta`
step is :math:`O(\Delta t)` times that of TD (:mod:`.gtd`), so that its contraction factor per epoch is
:math:`1 - O(\Delta t)` and it needs :math:`O(1/\Delta t)` epochs: :math:`10^4`-:math:`10^6` on fine meshes. ``G``
and ``g`` are read off the epoch map itself (:math:`g = F(0)`, :math:`G e_i = F(e_i) - F(0)`), so nothing is
restated. After each block the MOC residual is checked against the tolerance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["doubled_iteration"]


def affine_matrix(epoch: Callable[[torch.Tensor], torch.Tensor], z0: torch.Tensor) -> torch.Tensor:
    """The augmented ``(q+1, q+1)`` matrix ``H`` of the affine epoch map (module docstring)."""
    q = z0.shape[0]
    g = epoch(torch.zeros_like(z0))
    H = torch.zeros(q + 1, q + 1, dtype=z0.dtype, device=z0.device)
    eye = torch.eye(q, dtype=z0.dtype, device=z0.device)
    for i in range(q):
        H[:q, i] = epoch(eye[i]) - g
    H[:q, q] = g
    H[q, q] = 1.0
    return H


def doubled_iteration(epoch: Callable[[torch.Tensor], torch.Tensor], z0: torch.Tensor, n_epochs: int,
                      residual: Callable[[torch.Tensor], float], threshold: float
                      ) -> tuple[torch.Tensor, list[float], bool]:
    """Iterate ``epoch`` from ``z0`` in blocks of 1, 2, 4, ... epochs until ``residual(z) < threshold``.

    Parameters
    ----------
    epoch
        One epoch, an affine map of ``z``.
    z0
        The start, ``(q,)``.
    n_epochs
        The cap on the number of epochs (the last block is cut to it).
    residual, threshold
        Stop after the first block whose ``residual`` is below ``threshold``.

    Returns
    -------
    tuple
        ``(z, history, converged)``: the iterate, the residual after each block (after 1, 3, 7, 15, ... epochs), and
        whether it went below ``threshold`` within ``n_epochs``.
    """
    H1 = affine_matrix(epoch, z0)
    H = H1
    z = torch.cat([z0, torch.ones_like(z0[:1])])
    done, block, history = 0, 1, []
    while done < n_epochs:
        step = H if done + block <= n_epochs else torch.linalg.matrix_power(H1, n_epochs - done)
        z = step @ z
        done += min(block, n_epochs - done)
        history.append(residual(z[:-1]))
        if not torch.isfinite(z).all() or history[-1] != history[-1]:
            history[-1] = float("nan")
            return z[:-1], history, False
        if history[-1] < threshold:
            return z[:-1], history, True
        H = H @ H
        block *= 2
    return z[:-1], history, False
