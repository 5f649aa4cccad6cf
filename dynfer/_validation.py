"""Argument checks shared by every public function: clear errors that name the argument and what was expected."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings

__all__ = [
    "as_tensor",
    "check_finite",
    "check_ndim",
    "check_positive",
    "check_times",
    "make_generator",
    "progress",
    "progress_bar",
    "resolve_seed",
]


def as_tensor(
    x: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    ndim: int | Sequence[int] | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Convert ``x`` to a floating tensor, checking dimension and finiteness.

    A tensor input keeps its device and (floating) dtype unless ``device``/``dtype`` are given; other inputs
    (numpy arrays, lists, numbers) go to ``settings.device`` with ``settings.dtype``.
    """
    if isinstance(x, torch.Tensor):
        out = x
        target_dtype = dtype or (x.dtype if x.is_floating_point() else settings.dtype)
        target_device = None if device is None else settings.resolve_device(device)
        out = out.to(device=target_device, dtype=target_dtype)
    else:
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInputError(f"{name} must be numeric array-like, got {type(x).__name__}") from None
        out = torch.as_tensor(arr, dtype=dtype or settings.dtype, device=settings.resolve_device(device))
    if ndim is not None:
        check_ndim(out, name, ndim)
    if finite:
        check_finite(out, name)
    return out


def check_ndim(t: torch.Tensor | np.ndarray, name: str, ndim: int | Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``t.ndim`` is ``ndim`` (or one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if t.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise BadInputError(f"{name} must be {want}-dimensional, got shape {tuple(t.shape)}")


def check_finite(t: torch.Tensor | np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if ``t`` holds NaN or infinite values."""
    bad = ~torch.isfinite(t) if isinstance(t, torch.Tensor) else ~np.isfinite(t)
    if bool(bad.any()):
        count = int(bad.sum())
        raise BadInputError(f"{name} contains {count} NaN or infinite value(s); all entries must be finite")


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` after checking it is finite and positive (or non-negative)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        relation = ">= 0" if allow_zero else "> 0"
        raise BadInputError(f"{name} must be finite and {relation}, got {value!r}")
    return v


def check_times(times: torch.Tensor, name: str = "times", *, strict: bool = True, dim: int = -1) -> None:
    """Raise ``ValueError`` unless ``times`` is finite and increasing along ``dim`` (strictly if ``strict``)."""
    check_finite(times, name)
    if times.shape[dim] < 2:
        return
    steps = torch.diff(times, dim=dim)
    bad = steps <= 0 if strict else steps < 0
    if bool(bad.any()):
        kind = "strictly increasing" if strict else "non-decreasing"
        raise BadInputError(f"{name} must be {kind}; found {int(bad.sum())} step(s) that are not")


def make_generator(
    seed: int | torch.Generator | None, device: str | torch.device | None = None
) -> torch.Generator:
    """A generator for ``seed``: a given generator is returned as is, an int or ``None`` makes a new one."""
    if isinstance(seed, torch.Generator):
        return seed
    return settings.generator(seed, device)


def progress(iterable: Iterable, *, desc: str | None = None, total: int | None = None, **kwargs: Any) -> Iterable:
    """Wrap ``iterable`` in a tqdm bar unless ``settings.progress`` is False."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not settings.progress, leave=False, **kwargs)


def progress_bar(total: int, *, desc: str | None = None, **kwargs: Any) -> Any:
    """A manual tqdm bar of ``total`` units (call ``.update(k)``), disabled when ``settings.progress`` is False."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not settings.progress, leave=False, **kwargs)


def resolve_seed(seed: int | torch.Generator | None, name: str = "seed") -> int:
    """The integer seed that ``seed`` stands for.

    Parameters
    ----------
    seed
        ``None`` (``settings.seed``, or fresh entropy when that is ``None``), a non-negative ``int``, or a
        :class:`torch.Generator` (one integer in ``[0, 2**31 - 1)`` is drawn from it, advancing it).
    name
        Argument name for error messages.

    Returns
    -------
    int
        A non-negative integer seed.
    """
    if seed is None:
        seed = settings.seed
        if seed is None:
            return secrets.randbelow(2**31 - 1)
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, 2**31 - 1, (1,), generator=seed, device=seed.device))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)) and seed >= 0:
        return int(seed)
    raise BadInputError(f"{name} must be None, a non-negative int or a torch.Generator, got {seed!r}")
