"""Estimator-agnostic evaluation: the held-out-time protocol and its baselines, on arrays.

* :func:`evaluate_heldout` — fit any methods on training times, score them at held-out times
  (:class:`HeldoutResult`: method → metric → values, fit seconds, fitted models); :func:`split_times`,
  :func:`split_half_floor`, :func:`w2`;
* :mod:`.baselines` — OT-midpoint (McCann interpolation) and persistence, as functions and as methods.

Nothing here reads or writes AnnData.
"""

from dynfer.evaluation.baselines import OTMidpoint, Persistence, ot_midpoint, persistence
from dynfer.evaluation.heldout import HeldoutResult, Sampler, evaluate_heldout, split_half_floor, split_times, w2

__all__ = [
    "HeldoutResult",
    "OTMidpoint",
    "Persistence",
    "Sampler",
    "evaluate_heldout",
    "ot_midpoint",
    "persistence",
    "split_half_floor",
    "split_times",
    "w2",
]
