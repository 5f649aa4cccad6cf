r"""The registry of reference drift families: one table from family name to :class:`ReferenceDrift` subclass.

:func:`make_reference` builds a family by name and :func:`as_reference` wraps a user module; :func:`family_names`
and :data:`ALL_FAMILIES` list every registered family, so that callers need not merge the parametric table
(:data:`~dynfer.estimators.bridges.references.FAMILIES`) and the network one
(:data:`~dynfer.estimators.bridges.reference_nets.NET_FAMILIES`). New families are added with
:func:`register_family`.

The network families are registered here, on import of this module, which needs :class:`CustomReference` anyway.
The parametric families register themselves when :mod:`.references` is imported (it re-exports
:func:`make_reference` and :func:`as_reference` from here, so it sits above this module); importing any module of
:mod:`dynfer.estimators.bridges` first runs the package ``__init__``, which imports both, so the table is always
complete.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from torch import nn

from dynfer._errors import BadInputError
from dynfer.estimators.bridges.reference_base import ReferenceDrift, check_dim
from dynfer.estimators.bridges.reference_nets import NET_FAMILIES, CustomReference

__all__ = ["ALL_FAMILIES", "as_reference", "family_names", "get_family", "make_reference", "register_family"]

_TABLE: dict[str, type[ReferenceDrift]] = {}

ALL_FAMILIES = MappingProxyType(_TABLE)
"""Every registered family by name, parametric and network (a read-only view that follows :func:`register_family`)."""


def _key(name: Any) -> str | None:
    return name.strip().lower() if isinstance(name, str) else None


def register_family(name: str, cls: type[ReferenceDrift]) -> type[ReferenceDrift]:
    """Register a reference drift family under ``name``, so that :func:`make_reference` builds it.

    Parameters
    ----------
    name
        Family name: case and surrounding spaces are ignored, as in :func:`make_reference`.
    cls
        A subclass of :class:`ReferenceDrift` whose constructor takes ``(dim, **init)``.

    Returns
    -------
    type
        ``cls``, unchanged.

    Raises
    ------
    ValueError
        If ``name`` is empty or not a string, ``cls`` is not a :class:`ReferenceDrift` subclass, or ``name`` is
        already taken by another class (registering the same class again is allowed).
    """
    key = _key(name)
    if not key:
        raise BadInputError(f"a family name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, ReferenceDrift)):
        raise BadInputError(f"a reference family must be a ReferenceDrift subclass, got {cls!r}")
    known = _TABLE.get(key)
    if known is not None and known is not cls:
        raise BadInputError(f"the reference family {key!r} is already registered (to {known.__name__})")
    _TABLE[key] = cls
    return cls


def family_names() -> list[str]:
    """The names of every registered reference family, sorted.

    Returns
    -------
    list of str
        E.g. ``["brownian", "hooke", "linear", ...]``.
    """
    return sorted(_TABLE)


def get_family(name: str) -> type[ReferenceDrift]:
    """The class of the reference family ``name``.

    Parameters
    ----------
    name
        A registered family name (case and surrounding spaces are ignored).

    Returns
    -------
    type
        The :class:`ReferenceDrift` subclass.

    Raises
    ------
    ValueError
        If no family of that name is registered; the message lists the known ones.
    """
    key = _key(name)
    if key not in _TABLE:
        raise BadInputError(f"unknown reference family {name!r}; known families: {family_names()}")
    return _TABLE[key]


def make_reference(name: str, dim: int, **init: Any) -> ReferenceDrift:
    r"""Build a reference drift family by name.

    Parameters
    ----------
    name
        One of ``"brownian"``, ``"linear"``, ``"lotka_volterra"``, ``"repressilator"``, ``"vortex"``, ``"hooke"``,
        ``"mlp"``, ``"mlp_potential"`` (see :mod:`.references`), or a family added by :func:`register_family`.
    dim
        State dimension :math:`d`.
    **init
        Initial parameter values and options of the family (e.g. ``alpha=1.0`` for Lotka–Volterra, ``A=...`` for
        linear, ``hidden=(64, 64)`` for the networks), plus ``dtype`` and ``device``.

    Returns
    -------
    ReferenceDrift

    Raises
    ------
    ValueError
        If the family is unknown (the message lists the known ones) or rejects ``dim`` or the initial values.

    Examples
    --------
    >>> import torch
    >>> ref = make_reference("hooke", 2, k=0.5, dtype=torch.float64)
    >>> ref(torch.ones(1, 2, dtype=torch.float64)).tolist()
    [[-0.5, -0.5]]
    """
    cls = get_family(name)
    try:
        return cls(dim, **init)
    except TypeError as err:
        raise BadInputError(f"bad initial values for the {name!r} family: {err}") from None


def as_reference(module: nn.Module, dim: int) -> ReferenceDrift:
    """Wrap a user module ``f(x) -> (n, d)`` as a :class:`ReferenceDrift` (family ``"custom"``).

    Parameters
    ----------
    module
        A ``torch.nn.Module`` mapping ``(n, d)`` to ``(n, d)``, or a :class:`ReferenceDrift`.
    dim
        State dimension :math:`d`.

    Returns
    -------
    ReferenceDrift
        A :class:`~dynfer.estimators.bridges.reference_nets.CustomReference` around ``module``; a
        :class:`ReferenceDrift` is returned as is after checking its ``dim``.

    Raises
    ------
    ValueError
        If a :class:`ReferenceDrift` has another ``dim``, or ``module`` does not map ``(n, d)`` to ``(n, d)``.
    """
    if isinstance(module, ReferenceDrift):
        if module.dim != check_dim(dim):
            raise BadInputError(f"the reference has dim={module.dim}, not dim={dim}")
        return module
    return CustomReference(module, dim)


for _name, _cls in NET_FAMILIES.items():
    register_family(_name, _cls)
del _name, _cls
