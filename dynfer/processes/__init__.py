"""The shared process backend: batched stochastic processes on any torch device.

Nothing here knows about AnnData: inputs and outputs are tensors (or numpy arrays where stated).
"""

from dynfer.processes.brownian_bridge import brownian_bridge, brownian_bridge_moments
from dynfer.processes.models import DoubleWell, LotkaVolterra, Repressilator
from dynfer.processes.ornstein_uhlenbeck import OrnsteinUhlenbeck
from dynfer.processes.sde import SDE, ReversedSDE

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
