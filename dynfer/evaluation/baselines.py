r"""Trivial baselines of the held-out-time protocol: OT-midpoint (McCann interpolation) and persistence.

For snapshots :math:`X_a` at :math:`t_a` and :math:`X_b` at :math:`t_b` and a time :math:`t \in [t_a, t_b]`:

* **OT-midpoint**: the displacement interpolation :math:`(1 - s)\,x + s\,y` over the pairs of the exact optimal
  transport plan (squared-Euclidean cost) between the two samples, :math:`s = (t - t_a)/(t_b - t_a)`
  (McCann 1997); with equal sizes and weights the plan is a permutation;
* **persistence**: the sample of the previous (earlier) observed time.

Both come as functions on arrays and as "methods" of :func:`dynfer.evaluation.evaluate_heldout`
(:class:`OTMidpoint`, :class:`Persistence`: ``fit(snapshots, times)`` then ``sample(times)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dynfer._errors import BadInputError
from dynfer.processes import ot_plan

__all__ = ["OTMidpoint", "Persistence", "ot_midpoint", "persistence"]


def ot_midpoint(x_a: np.ndarray, x_b: np.ndarray, s: float) -> np.ndarray:
    """Particles of the McCann interpolation at fraction ``s`` between samples ``x_a`` and ``x_b``.

    Each pair :math:`(i, j)` of the exact plan with mass :math:`P_{ij} > 0` yields the point
    :math:`(1-s)x_i + s y_j`; with equal sizes every row has one partner, so ``len(x_a)`` points come back.
    """
    xa, xb = np.asarray(x_a, dtype=np.float64), np.asarray(x_b, dtype=np.float64)
    if xa.ndim != 2 or xb.ndim != 2 or xa.shape[1] != xb.shape[1]:
        raise BadInputError(f"x_a and x_b must be (n, d) and (m, d) with the same d, got {xa.shape} and {xb.shape}")
    if not 0.0 <= float(s) <= 1.0:
        raise BadInputError(f"s must lie in [0, 1], got {s}")
    plan = np.asarray(ot_plan(xa, xb, method="exact"))
    rows, cols = np.nonzero(plan > 1e-12 * plan.max())
    if len(xa) == len(xb):  # a permutation: one partner per row
        order = np.argsort(rows)
        rows, cols = rows[order], cols[order]
    return (1 - s) * xa[rows] + s * xb[cols]


def persistence(snapshots: Sequence[np.ndarray], times: np.ndarray, t: float) -> np.ndarray:
    """The snapshot of the latest observed time at or before ``t``."""
    times = np.asarray(times, dtype=np.float64)
    idx = np.searchsorted(times, t, side="right") - 1
    if idx < 0:
        raise BadInputError(f"t={t} lies before the first observed time {times[0]}")
    return np.asarray(snapshots[idx], dtype=np.float64)


class _Baseline:
    """Keeps the training snapshots; :meth:`sample` is defined by each baseline."""

    def fit(self, snapshots: Sequence[np.ndarray], times: Sequence[float]) -> Any:
        """Store the training snapshots and their increasing times; returns ``self``."""
        t = np.asarray(times, dtype=np.float64)
        if len(snapshots) != len(t) or len(t) < 2 or np.any(np.diff(t) <= 0):
            raise BadInputError("snapshots and strictly increasing times of the same length (>= 2) are needed")
        self.snapshots_ = [np.asarray(s, dtype=np.float64) for s in snapshots]
        self.times_ = t
        return self


class OTMidpoint(_Baseline):
    """OT-midpoint as a held-out method: McCann interpolation between the neighbouring training times."""

    def sample(self, times: Sequence[float], *, seed: Any = None) -> list[np.ndarray]:
        """One sample per time (deterministic; ``seed`` is accepted for the protocol and unused)."""
        out = []
        for tt in np.asarray(times, dtype=np.float64).reshape(-1):
            b = int(np.clip(np.searchsorted(self.times_, tt), 1, len(self.times_) - 1))
            s = (tt - self.times_[b - 1]) / (self.times_[b] - self.times_[b - 1])
            out.append(ot_midpoint(self.snapshots_[b - 1], self.snapshots_[b], float(np.clip(s, 0.0, 1.0))))
        return out


class Persistence(_Baseline):
    """Persistence as a held-out method: the latest training snapshot at or before each time."""

    def sample(self, times: Sequence[float], *, seed: Any = None) -> list[np.ndarray]:
        """One sample per time (deterministic; ``seed`` is accepted for the protocol and unused)."""
        return [persistence(self.snapshots_, self.times_, float(tt))
                for tt in np.asarray(times, dtype=np.float64).reshape(-1)]
