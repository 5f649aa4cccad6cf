r"""Derived quantities of a fitted Markov jump process, as plain numpy data (shared by every MJP estimator).

For a generator :math:`Q` (rows = from, :math:`q_{ii} = -\sum_{j \ne i} q_{ij}`) and an initial law :math:`p_0`:

* stationary distribution :math:`\pi Q = 0,\ \sum_i \pi_i = 1`;
* time scales :math:`t_k = 1/|\mathrm{Re}\,\lambda_k|` of the non-zero eigenvalues (sorted descending) and the
  relaxation time :math:`t_2 = 1/|\mathrm{Re}\,\lambda_2|`;
* mean first-passage times :math:`1 + \sum_k q_{ik}\tau_{kj} = 0` for :math:`i \ne j`, :math:`\tau_{jj} = 0`
  (Norris 1997, thm 3.3.3);
* stationary Schnakenberg entropy production
  :math:`\sigma = \tfrac12 \sum_{i \ne j} (\pi_i q_{ij} - \pi_j q_{ji}) \ln\frac{\pi_i q_{ij}}{\pi_j q_{ji}}`
  (Schnakenberg 1976, *Rev. Mod. Phys.* 48, 571; Seifert 2012, *Rep. Prog. Phys.* 75, 126001).

All are computed by :class:`dynfer.processes.jumps.RateMatrix` in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dynfer._errors import BadInputError
from dynfer.processes.jumps import RateMatrix

__all__ = ["mjp_summary"]


def mjp_summary(rate_matrix: Any, initial: Any) -> dict[str, Any]:
    """Summary of the jump process with generator ``rate_matrix`` started from ``initial``.

    Parameters
    ----------
    rate_matrix
        Generator ``(n, n)`` (rows = from, rows summing to zero).
    initial
        Initial distribution ``(n,)``.

    Returns
    -------
    dict
        ``rate_matrix`` (n, n), ``initial_distribution`` (n,), ``stationary_distribution`` (n,; NaN when the chain
        has several closed classes, so that the stationary law is not unique), ``timescales`` (k,),
        ``relaxation_time`` (float; NaN without a non-zero eigenvalue), ``mfpt`` (n, n; row i to column j, ``inf``
        where j is not reached with probability 1) and ``entropy_production`` (float; stationary; ``inf`` for a
        one-way flux, NaN when the stationary law is not unique). Plain numpy arrays and floats (h5ad-safe).
    """
    rm = RateMatrix(np.asarray(rate_matrix, dtype=np.float64))
    q = rm.Q.detach().cpu().numpy().astype(np.float64)
    n = q.shape[0]
    p0 = np.asarray(initial, dtype=np.float64).reshape(-1)
    if p0.shape != (n,):
        raise BadInputError("initial", f"shape {p0.shape}", f"a probability vector of shape ({n},)")
    try:
        pi = rm.stationary_distribution().detach().cpu().numpy().astype(np.float64)
        epr = float(rm.entropy_production())
    except BadInputError:  # several closed classes: no unique stationary law
        pi = np.full(n, np.nan)
        epr = math.nan
    ts = rm.timescales().detach().cpu().numpy().astype(np.float64)
    return {
        "rate_matrix": q,
        "initial_distribution": p0,
        "stationary_distribution": pi,
        "timescales": ts,
        "relaxation_time": float(ts[0]) if ts.size else math.nan,
        "mfpt": rm.mfpt().detach().cpu().numpy().astype(np.float64),
        "entropy_production": epr,
    }
