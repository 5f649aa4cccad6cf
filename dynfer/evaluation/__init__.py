"""Estimator-agnostic evaluation: the held-out-time protocol and its baselines, on arrays.

* :func:`evaluate_heldout` — fit any methods on training times, score them at held-out times
  (:class:`HeldoutResult`: method → metric → values, fit seconds, fitted models); :func:`split_times`,
  :func:`split_half_floor`, :func:`w2`;
* :mod:`.baselines` — OT-midpoint (McCann interpolation) and persistence, as functions and as methods;
* :mod:`.jumps` — scores of inferred Markov-jump rate matrices (:func:`rate_rmse`, :func:`structural_zero_mass`,
  :func:`calibration`, :func:`hellinger_histograms`, :func:`ratchet_parameters`) and :func:`context_table`, which
  runs any MJP estimators over a list of :class:`JumpContext` and tabulates mean ± sd and seconds per context.

Nothing here reads or writes AnnData.
"""

from dynfer.evaluation.baselines import OTMidpoint, Persistence, ot_midpoint, persistence
from dynfer.evaluation.heldout import HeldoutResult, Sampler, evaluate_heldout, split_half_floor, split_times, w2
from dynfer.evaluation.jumps import (
    ContextTable,
    JumpContext,
    calibration,
    context_table,
    derived_quantities,
    hellinger_histograms,
    ratchet_parameters,
    rate_rmse,
    score_rates,
    state_histograms,
    structural_zero_mass,
)

__all__ = [
    "ContextTable",
    "HeldoutResult",
    "JumpContext",
    "OTMidpoint",
    "Persistence",
    "Sampler",
    "calibration",
    "context_table",
    "derived_quantities",
    "evaluate_heldout",
    "hellinger_histograms",
    "ot_midpoint",
    "persistence",
    "rate_rmse",
    "ratchet_parameters",
    "score_rates",
    "split_half_floor",
    "split_times",
    "state_histograms",
    "structural_zero_mass",
    "w2",
]
