"""dynfer: infer the dynamics of stochastic systems from data.

The process backend lives in :mod:`dynfer.processes`, the shared fit loop in :mod:`dynfer.training`, networks in
:mod:`dynfer.nn`, and package settings in :data:`dynfer.settings`.
"""

from dynfer._settings import Settings, settings

__version__ = "0.1.0.dev0"

__all__ = ["Settings", "__version__", "settings"]
