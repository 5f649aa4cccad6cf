"""dynfer: infer the dynamics of stochastic systems from data.

Sub-packages, imported on first use (so ``import dynfer`` stays light):

* :mod:`dynfer.processes` — the shared process backend (SDEs, jump processes, walks, transport);
* :mod:`dynfer.io` — file adapters to AnnData; :mod:`dynfer.datasets` — the dataset registry and generators;
* :mod:`dynfer.pp` — preprocessing on AnnData;
* :mod:`dynfer.training`, :mod:`dynfer.nn` — the shared fit loop and networks.

Package settings live in :data:`dynfer.settings`; bad input raises :class:`dynfer.BadInputError` (a ``ValueError``).
"""

import importlib
from typing import Any

from dynfer._errors import BadInputError
from dynfer._settings import Settings, settings

__version__ = "0.1.0.dev0"

_SUBMODULES = ("datasets", "estimators", "io", "nn", "pl", "pp", "processes", "report", "tl", "training", "workflows")

__all__ = ["BadInputError", "Settings", "__version__", "settings", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"dynfer.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'dynfer' has no attribute {name!r}")
