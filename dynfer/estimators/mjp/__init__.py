"""Markov jump processes: rate matrices from discretely observed paths.

* :class:`MJPMaximumLikelihood` (:mod:`.mle`): continuous-time maximum likelihood of a general (non-reversible)
  generator from paths at irregular times (Kalbfleisch & Lawless 1985), with known structural zeros, symmetric label
  noise and standard errors from the observed information;
* :func:`check_paths`, :func:`paths_from_adata`, :class:`JumpPaths` (:mod:`._paths`): the validated path data every
  MJP estimator consumes;
* :func:`mjp_summary` (:mod:`.summaries`): stationary law, time scales, MFPTs and entropy production of a fit;
* :class:`FoundationMJP` (:mod:`.foundation`): zero-shot inference with a network pretrained on a synthetic prior
  (after Berghaus et al. 2024), rates with uncertainty, link probabilities and the initial law.
"""

from dynfer.estimators.mjp._paths import JumpPaths, check_paths, paths_from_adata
from dynfer.estimators.mjp.foundation import FoundationMJP, OutsidePriorWarning
from dynfer.estimators.mjp.mle import ConvergenceWarning, MJPMaximumLikelihood
from dynfer.estimators.mjp.summaries import mjp_summary

__all__ = ["ConvergenceWarning", "FoundationMJP", "JumpPaths", "MJPMaximumLikelihood", "OutsidePriorWarning",
           "check_paths", "mjp_summary", "paths_from_adata"]
