"""Estimators: one sub-package per estimator family, classes on arrays that follow one contract.

Every estimator derives from :class:`Estimator` (:mod:`dynfer.estimators._base`): the constructor stores its
arguments, ``fit`` returns ``self``, learned attributes end in ``_``, and ``get_params`` / ``state_dict`` /
``from_state`` / ``save`` / ``load`` move a fitted model between sessions without refitting. Nothing here reads files
or knows AnnData: the :mod:`dynfer.tl` faces translate. An estimator never imports another.

* :mod:`.bridges` — multi-marginal Schrödinger bridges with iterative reference refinement
  (:class:`~dynfer.estimators.bridges.SchrodingerBridge`);
* :mod:`.mjp` — Markov jump processes: maximum likelihood (:class:`~dynfer.estimators.mjp.MJPMaximumLikelihood`)
  and the zero-shot foundation model (:class:`~dynfer.estimators.mjp.FoundationMJP`);
* :mod:`.entropy` — entropy production and probability currents from learned scores
  (:class:`~dynfer.estimators.entropy.ScoreEntropyProduction`);
* :mod:`.policy` — policy evaluation in continuous time and space, the martingale approach of Jia & Zhou 2022
  (:class:`~dynfer.estimators.policy.MartingalePolicyEvaluation`);
* :mod:`.srrw` — distributed stochastic optimisation driven by self-repellent random walks, SA-SRRW
  (:class:`~dynfer.estimators.srrw.SelfRepellentSGD`).
"""

from dynfer.estimators._base import Estimator, NotFittedError, get_estimator_class, resolve_seed
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.estimators.entropy import ScoreEntropyProduction
from dynfer.estimators.mjp import FoundationMJP, MJPMaximumLikelihood
from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyConvergenceWarning, PolicyData
from dynfer.estimators.srrw import SelfRepellentSGD, ShardedObjective

__all__ = ["Estimator", "FoundationMJP", "MJPMaximumLikelihood", "MartingalePolicyEvaluation", "NotFittedError",
           "PolicyConvergenceWarning", "PolicyData", "SchrodingerBridge", "ScoreEntropyProduction",
           "SelfRepellentSGD", "ShardedObjective", "get_estimator_class", "resolve_seed"]
