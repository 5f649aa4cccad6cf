"""Report sections that workflows compose: the context they share, and the registry they add themselves to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dynfer._errors import BadInputError

__all__ = ["KINDS", "Context", "Section", "section"]

KINDS = ("data", "estimator", "backend")
"""Section kinds, in report order."""


@dataclass
class Context:
    """What every section receives: the report being built, the run's options and the data shared by sections.

    Attributes
    ----------
    report
        The :class:`dynfer.report.Report` the section appends to.
    seed
        Seed of the run (a section uses it, or a fixed offset from it, for every random draw).
    device
        Torch device.
    quick
        Smaller sizes.
    data
        Data prepared by earlier sections, by name (the ``data`` section stores ``"lotka_volterra"``: an AnnData
        with ``obs["time"]`` and ``obs["split"]``).
    """

    report: Any
    seed: int
    device: Any
    quick: bool
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    """One report section.

    Attributes
    ----------
    name
        Its key in ``metrics.json``.
    kind
        ``"data"``, ``"estimator"`` or ``"backend"`` (see :data:`KINDS`).
    order
        Position among the sections of its kind.
    run
        ``run(ctx) -> metrics``: adds headings, text, tables and figures to ``ctx.report`` and returns its metrics
        (deterministic given the seed on the CPU).
    """

    name: str
    kind: str
    order: int
    run: Callable[[Context], dict[str, Any]]


REGISTRY: dict[str, Section] = {}


def section(name: str, *, kind: str, order: int = 100) -> Callable[[Callable[[Context], dict[str, Any]]], Any]:
    """Register the decorated function as the report section ``name``.

    Parameters
    ----------
    name
        Metrics key (unique).
    kind
        One of :data:`KINDS`.
    order
        Position within its kind (lower first).
    """
    if kind not in KINDS:
        raise BadInputError(f"kind must be one of {KINDS}, got {kind!r}")

    def register(fn: Callable[[Context], dict[str, Any]]) -> Callable[[Context], dict[str, Any]]:
        if name in REGISTRY and REGISTRY[name].run is not fn:
            raise BadInputError(f"a report section named {name!r} is already registered")
        REGISTRY[name] = Section(name=name, kind=kind, order=order, run=fn)
        return fn

    return register
