r"""SA-SRRW: distributed stochastic optimisation by a token on a self-repellent random walk (Hu, Doshi, Eun 2024).

* :mod:`.objectives`: :class:`ShardedObjective`, losses over data sharded across nodes and their exact minimisers;
* :mod:`.steps`: the step sizes :math:`\gamma_n, \beta_n` and the regime names (:class:`StepSchedule`);
* :mod:`.sampler`: base chains, NBRW and i.i.d. sampling over the walk backend (:func:`make_sampler`);
* :mod:`.streams`: counter-based per-token random streams;
* :mod:`.engine`: the batched SA-SRRW step;
* :mod:`.estimator`: :class:`SelfRepellentSGD`;
* :mod:`.distributed`: the same simulation with the agents spread over torch.distributed processes.
"""

from dynfer.estimators.srrw.distributed import fit_distributed
from dynfer.estimators.srrw.estimator import SelfRepellentSGD
from dynfer.estimators.srrw.objectives import ShardedObjective
from dynfer.estimators.srrw.sampler import TokenSampler, base_chain, make_sampler
from dynfer.estimators.srrw.steps import REGIMES, StepSchedule, regime_of

__all__ = [
    "REGIMES",
    "SelfRepellentSGD",
    "ShardedObjective",
    "StepSchedule",
    "TokenSampler",
    "base_chain",
    "fit_distributed",
    "make_sampler",
    "regime_of",
]
