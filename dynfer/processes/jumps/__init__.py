r"""Continuous-time Markov jump processes on :math:`n` states.

* :class:`RateMatrix` (:mod:`.rate_matrix`): a validated generator with its stationary distribution, time scales,
  mean first-passage times, transition matrices, Schnakenberg entropy production, batched Gillespie simulation and
  exact likelihood of discretely observed paths;
* :func:`gillespie` and :func:`first_passage_times` (:mod:`.gillespie`): the batched simulator (also for one rate
  matrix per path);
* :func:`jump_log_likelihood` (:mod:`.likelihood`): the likelihood as a function of a rate tensor (for optimisers);
* :func:`flashing_ratchet` (:mod:`.examples`): the 6-state discrete flashing ratchet (Roldán & Parrondo 2010);
* :mod:`.checks`: the argument checks and graph helpers the modules above share.
"""

from dynfer.processes.jumps.examples import flashing_ratchet
from dynfer.processes.jumps.gillespie import first_passage_times, gillespie
from dynfer.processes.jumps.likelihood import jump_log_likelihood
from dynfer.processes.jumps.rate_matrix import RateMatrix

__all__ = ["RateMatrix", "first_passage_times", "flashing_ratchet", "gillespie", "jump_log_likelihood"]
