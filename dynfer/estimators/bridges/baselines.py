r"""Trivial baselines of the held-out-time protocol: OT-midpoint (McCann interpolation) and persistence.

For snapshots :math:`X_a` at :math:`t_a` and :math:`X_b` at :math:`t_b` and a time :math:`t \in [t_a, t_b]`:

* **OT-midpoint**: the displacement interpolation :math:`(1 - s)\,x + s\,y` over the pairs of the exact optimal
  transport plan (squared-Euclidean cost) between the two samples, :math:`s = (t - t_a)/(t_b - t_a)`
  (McCann 1997); with equal sizes and weights the plan is a permutation;
* **persistence**: the sample of the previous (earlier) observed time.
"""

from __future__ import annotations

import numpy as np

from dynfer.processes import ot_plan

__all__ = ["ot_midpoint", "persistence"]


def ot_midpoint(x_a: np.ndarray, x_b: np.ndarray, s: float) -> np.ndarray:
    """Particles of the McCann interpolation at fraction ``s`` between samples ``x_a`` and ``x_b``.

    Each pair :math:`(i, j)` of the exact plan with mass :math:`P_{ij} > 0` yields the point
    :math:`(1-s)x_i + s y_j`; with equal sizes every row has one partner, so ``len(x_a)`` points come back.
    """
    xa, xb = np.asarray(x_a, dtype=np.float64), np.asarray(x_b, dtype=np.float64)
    if xa.ndim != 2 or xb.ndim != 2 or xa.shape[1] != xb.shape[1]:
        raise ValueError(f"x_a and x_b must be (n, d) and (m, d) with the same d, got {xa.shape} and {xb.shape}")
    if not 0.0 <= float(s) <= 1.0:
        raise ValueError(f"s must lie in [0, 1], got {s}")
    plan = np.asarray(ot_plan(xa, xb, method="exact"))
    rows, cols = np.nonzero(plan > 1e-12 * plan.max())
    if len(xa) == len(xb):  # a permutation: one partner per row
        order = np.argsort(rows)
        rows, cols = rows[order], cols[order]
    return (1 - s) * xa[rows] + s * xb[cols]


def persistence(snapshots: list[np.ndarray], times: np.ndarray, t: float) -> np.ndarray:
    """The snapshot of the latest observed time at or before ``t``."""
    times = np.asarray(times, dtype=np.float64)
    idx = np.searchsorted(times, t, side="right") - 1
    if idx < 0:
        raise ValueError(f"t={t} lies before the first observed time {times[0]}")
    return np.asarray(snapshots[idx], dtype=np.float64)
