r"""Stochastic differential equations :math:`dX_t = f(t, X_t)\,dt + g(t, X_t)\,dW_t`, batched on any torch device.

* :class:`SDE` and :class:`ReversedSDE` (:mod:`.sde`): the SDE protocol, fixed-step Euler–Maruyama and Milstein
  solvers, the Euler likelihood and time reversal;
* :class:`OrnsteinUhlenbeck` (:mod:`.ornstein_uhlenbeck`): the multivariate OU process with exact transitions;
* :class:`LotkaVolterra`, :class:`Repressilator`, :class:`DoubleWell` (:mod:`.models`): built-in nonlinear SDEs;
* :func:`brownian_bridge` and :func:`brownian_bridge_moments` (:mod:`.brownian_bridge`): Brownian motion pinned at
  both ends.
"""

from dynfer.processes.sde.brownian_bridge import brownian_bridge, brownian_bridge_moments
from dynfer.processes.sde.models import DoubleWell, LotkaVolterra, Repressilator
from dynfer.processes.sde.ornstein_uhlenbeck import OrnsteinUhlenbeck
from dynfer.processes.sde.sde import SDE, ReversedSDE

__all__ = [
    "SDE",
    "DoubleWell",
    "LotkaVolterra",
    "OrnsteinUhlenbeck",
    "Repressilator",
    "ReversedSDE",
    "brownian_bridge",
    "brownian_bridge_moments",
]
