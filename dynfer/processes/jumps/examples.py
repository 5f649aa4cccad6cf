"""Example Markov jump processes with known properties, for tests, benchmarks and demonstrations.

* :func:`flashing_ratchet`: the 6-state discrete flashing ratchet (Roldán & Parrondo 2010), whose stationary entropy
  production is known in closed form.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import check_positive
from dynfer.processes.jumps.rate_matrix import RateMatrix

__all__ = ["flashing_ratchet"]


def flashing_ratchet(
    V: float = 1.0,
    r: float = 1.0,
    b: float = 1.0,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> RateMatrix:
    r"""The 6-state discrete flashing ratchet (Roldán & Parrondo 2010, *PRL* 105, 150607).

    A particle at :math:`x \in \{0, 1, 2\}` (periodic) in a potential :math:`V_x = (0, V, 2V)` (:math:`\beta = 1`)
    that is switched on (states :math:`0, 1, 2`) and off (states :math:`3, 4, 5` = :math:`3 + x`):

    .. math::  q_{ij} = e^{-(V_j - V_i)/2} \;(i \ne j \in \{0,1,2\}), \qquad q_{ij} = b \;(i \ne j \in \{3,4,5\}),
               \qquad q_{i,i+3} = q_{i+3,i} = r,

    all other off-diagonal rates 0 (18 links of 30). Switching breaks detailed balance for :math:`V \ne 0`, so the
    stationary entropy production is positive (0.1792 at :math:`V = r = b = 1`).

    Parameters
    ----------
    V
        Potential step (any real).
    r
        Switching rate, > 0.
    b
        Hopping rate with the potential off, > 0.
    device
        Device (default ``settings.device``).
    dtype
        Floating dtype (default float64).

    Returns
    -------
    RateMatrix
        The ``6 x 6`` generator, rows = from.

    Examples
    --------
    >>> from dynfer.processes.jumps import flashing_ratchet
    >>> round(float(flashing_ratchet(1.0).entropy_production()), 4)
    0.1792
    """
    try:
        v = float(V)
    except (TypeError, ValueError):
        raise BadInputError(f"V must be a number, got {V!r}") from None
    if not math.isfinite(v):
        raise BadInputError(f"V must be finite, got {V!r}")
    r = check_positive(r, "r")
    b = check_positive(b, "b")
    pot = np.array([0.0, v, 2 * v])
    q = np.zeros((6, 6))
    q[:3, :3] = np.exp(-(pot[None, :] - pot[:, None]) / 2)
    q[3:, 3:] = b
    for i in range(3):
        q[i, i + 3] = q[i + 3, i] = r
    np.fill_diagonal(q, 0.0)
    np.fill_diagonal(q, -q.sum(1))
    return RateMatrix(torch.as_tensor(q, dtype=dtype, device=settings.resolve_device(device)))
