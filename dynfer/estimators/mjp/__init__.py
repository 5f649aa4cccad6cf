"""Markov jump processes: rate matrices from discretely observed paths.

* :class:`MJPMaximumLikelihood` (:mod:`.mle`): continuous-time maximum likelihood of a general (non-reversible)
  generator from paths at irregular times (Kalbfleisch & Lawless 1985), with known structural zeros, symmetric label
  noise and standard errors from the observed information;
* :func:`check_paths`, :func:`paths_from_adata`, :class:`JumpPaths` (:mod:`._paths`): the validated path data every
  MJP estimator consumes;
* :func:`mjp_summary` (:mod:`.summaries`): stationary law, time scales, MFPTs and entropy production of a fit.
"""

from dynfer.estimators.mjp._paths import JumpPaths, check_paths, paths_from_adata
from dynfer.estimators.mjp.mle import ConvergenceWarning, MJPMaximumLikelihood
from dynfer.estimators.mjp.summaries import mjp_summary

__all__ = ["ConvergenceWarning", "JumpPaths", "MJPMaximumLikelihood", "check_paths", "mjp_summary", "paths_from_adata"]
