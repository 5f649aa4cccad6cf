"""Report sections, one file each; workflows compose them from the registry.

Each module of this package registers its sections with :func:`section` (kinds: ``"data"``, ``"estimator"``,
``"backend"``). :func:`registered` imports every module here and returns the sections in report order, so adding an
estimator's section means adding one file, and ``quickstart`` picks it up without an edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from dynfer._errors import BadInputError
from dynfer.workflows.sections._registry import KINDS, REGISTRY, Context, Section, section

__all__ = ["KINDS", "Context", "Section", "registered", "section"]


def registered(kind: str | None = None) -> list[Section]:
    """Every registered section (of one ``kind``), in report order: by kind, then ``order``, then name.

    Parameters
    ----------
    kind
        Only sections of this kind (``None``: all).

    Returns
    -------
    list of Section
        The sections.
    """
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    if kind is not None and kind not in KINDS:
        raise BadInputError(f"kind must be one of {KINDS}, got {kind!r}")
    chosen = [s for s in REGISTRY.values() if kind is None or s.kind == kind]
    return sorted(chosen, key=lambda s: (KINDS.index(s.kind), s.order, s.name))
