"""Argument checks shared by the network modules of :mod:`dynfer.nn`."""

from __future__ import annotations

import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings

__all__ = ["check_size", "factory_kwargs"]


def check_size(value: int, name: str) -> int:
    """Check a layer size or embedding dimension: a positive ``int`` (``bool`` is refused).

    Parameters
    ----------
    value
        The size.
    name
        Argument name for the error message.

    Returns
    -------
    int
        ``value`` unchanged.

    Raises
    ------
    ValueError
        If ``value`` is not a positive ``int``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInputError(f"{name} must be a positive int, got {value!r}")
    return value


def factory_kwargs(dtype: torch.dtype | None, device: str | torch.device | None) -> dict:
    """The ``dtype`` and ``device`` keyword arguments of new parameters, with the ``settings`` defaults.

    Parameters
    ----------
    dtype
        Parameter dtype; ``None`` gives ``settings.dtype``.
    device
        Parameter device; ``None`` gives ``settings.device``.

    Returns
    -------
    dict
        ``{"dtype": ..., "device": ...}`` to pass to ``torch.nn`` layer constructors.
    """
    return {"dtype": settings.dtype if dtype is None else dtype, "device": settings.resolve_device(device)}
