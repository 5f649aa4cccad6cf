"""Argument checks shared by every public function: clear errors that name the argument and what was expected."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings

__all__ = [
    "STEP_COST",
    "as_tensor",
    "available_memory",
    "check_finite",
    "check_int",
    "check_memory",
    "check_ndim",
    "check_positive",
    "check_real",
    "check_times",
    "check_work",
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
        except (TypeError, ValueError, OverflowError):
            raise BadInputError(f"{name} must be numeric array-like, got {type(x).__name__}") from None
        out = torch.as_tensor(arr, dtype=dtype or settings.dtype, device=settings.resolve_device(device))
        if finite and arr.size and np.isfinite(arr).all() and not bool(torch.isfinite(out).all()):
            big = float(np.abs(arr).max())
            raise BadInputError(f"{name} holds values beyond the range of {str(out.dtype).removeprefix('torch.')} "
                                f"(largest magnitude {big:.3g}); rescale them or use float64 "
                                "(dynfer.settings.dtype = 'float64')")
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


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``int(value)`` after checking it is an integer (Python or numpy, not a bool) ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BadInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(value: Any, name: str) -> float:
    """Return ``float(value)`` after checking it is a finite real number (booleans refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise BadInputError(name, f"{value!r}", "a finite number")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadInputError(name, f"{value!r}", "a finite number") from None
    if not math.isfinite(v):
        raise BadInputError(name, f"{value!r}", "a finite number")
    return v


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


STEP_COST = 1000
"""Element-steps that one step of a Python-level loop counts for, however small (interpreter and kernel-launch cost).

A loop of ``k`` steps over ``e`` elements is estimated as ``k * (e + STEP_COST)`` element-steps, so that a million
steps of one path count as the billion element-steps they take in time.
"""


def check_work(work: float, where: str, found: str, *, change: str) -> None:
    """Refuse work estimated above :attr:`dynfer.settings.max_work` before starting it.

    Parameters
    ----------
    work
        Estimated work in element-steps (one element updated once, e.g. one coordinate of one path advanced by one
        step; see :data:`STEP_COST` for loops).
    where
        The function or argument at fault, e.g. ``"SDE.simulate: dt"``.
    found
        What makes the work large, e.g. ``"1e9 steps x 10000 paths x 2 coordinates"``.
    change
        What to change instead, e.g. ``"use a larger dt, fewer paths or fewer output times"``.

    Raises
    ------
    BadInputError
        Naming the estimate, the limit, the argument to change and ``settings.max_work``.
    """
    limit = settings.max_work
    if not work <= limit:  # NaN work is refused too
        raise BadInputError(
            where,
            f"{found} is about {work:.3g} element-steps of work",
            f"at most dynfer.settings.max_work = {limit:.3g}",
            hint=f"{change}; or, if you mean it, raise dynfer.settings.max_work to {_round_up(work):.0e}",
        )


def _round_up(x: float) -> float:
    if not math.isfinite(x) or x <= 0:
        return math.inf
    return 10 ** math.ceil(math.log10(x))


def _cpu_available() -> int | None:
    """Bytes of memory available to this process on the host (``MemAvailable``, capped by a cgroup limit)."""
    free = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        return None
    try:  # a container's memory limit (cgroup v2), when there is one
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            room = int(limit) - used
            free = room if free is None else min(free, room)
    except (OSError, ValueError):
        pass
    return free


def available_memory(device: str | torch.device | None = None) -> int | None:
    """Bytes that new tensors on ``device`` can still take, where that is cheap to know; ``None`` where it is not.

    CUDA: free device memory plus what torch's caching allocator holds unused; CPU (Linux): ``MemAvailable`` of
    ``/proc/meminfo``, capped by a cgroup memory limit; anything else: ``None``.
    """
    dev = settings.resolve_device(device)
    if dev.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(dev)
            return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
        except (RuntimeError, AssertionError):
            return None
    if dev.type == "cpu":
        return _cpu_available()
    return None


def check_memory(nbytes: float, where: str, found: str, *, device: str | torch.device | None, change: str) -> None:
    """Refuse an allocation of ``nbytes`` that cannot fit in the free memory of ``device`` (where that is known).

    Parameters
    ----------
    nbytes
        Bytes about to be allocated.
    where, found
        The function or argument at fault, and what makes the allocation large (e.g. ``"output (1001, 10000, 2)"``).
    device
        Where the memory would be allocated.
    change
        What to change instead.

    Raises
    ------
    BadInputError
        Naming the size, the free memory and the argument to change.
    """
    free = available_memory(device)
    if free is not None and nbytes > free:
        dev = settings.resolve_device(device)
        raise BadInputError(where, f"{found} needs {_bytes(nbytes)}", f"at most the {_bytes(free)} free on {dev}",
                            hint=change)


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


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
