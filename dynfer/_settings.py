"""Package-wide settings: device, dtype, seed, progress bars and data directories.

Every value can be set in code (``dynfer.settings.device = "cpu"``) or through an environment variable read at
import time:

============================  ==========================  ==============================================
attribute                     environment variable        meaning
============================  ==========================  ==============================================
``device``                    ``DYNFER_DEVICE``           ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:i]"``
``dtype``                     ``DYNFER_DTYPE``            ``"float32"`` or ``"float64"``
``seed``                      ``DYNFER_SEED``             default seed of new generators (``None``: fresh entropy)
``progress``                  ``DYNFER_PROGRESS``         show tqdm progress bars (``0``/``false`` silences)
``data_dir``                  ``DYNFER_DATA_DIR``         local mirror of the real datasets, tried first
``cache_dir``                 ``DYNFER_CACHE_DIR``        where fetched datasets and checkpoints are cached
``max_work``                  ``DYNFER_MAX_WORK``         largest estimated work (element-steps) a call may start
============================  ==========================  ==============================================
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from dynfer._errors import BadInputError

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_TRUE = {"1", "true", "yes", "on"}
DEFAULT_MAX_WORK = 2e10
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(value: str, name: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise BadInputError(f"{name} must be one of {sorted(_TRUE | _FALSE)}, got {value!r}")


class Settings:
    """Mutable, validated package settings (one instance: ``dynfer.settings``)."""

    _FIELDS = ("device", "dtype", "seed", "progress", "data_dir", "cache_dir", "max_work")

    def __init__(self) -> None:
        self._device = "auto"
        self._dtype = torch.float32
        self._seed: int | None = None
        self._progress = True
        self._data_dir: Path | None = None
        self._cache_dir: Path = Path(os.path.expanduser("~")) / ".cache" / "dynfer"
        self._max_work = DEFAULT_MAX_WORK
        self.read_environment()

    # ------------------------------------------------------------------ environment
    def read_environment(self, environ: dict[str, str] | None = None) -> None:
        """(Re)read the ``DYNFER_*`` environment variables; unset variables keep their current value."""
        env = os.environ if environ is None else environ
        if "DYNFER_DEVICE" in env:
            self.device = env["DYNFER_DEVICE"]
        if "DYNFER_DTYPE" in env:
            self.dtype = env["DYNFER_DTYPE"]
        if "DYNFER_SEED" in env:
            raw = env["DYNFER_SEED"].strip()
            if raw.lower() in {"", "none"}:
                self.seed = None
            else:
                try:
                    self.seed = int(raw)
                except ValueError:
                    raise BadInputError(f"DYNFER_SEED must be an integer or 'none', got {raw!r}") from None
        if "DYNFER_PROGRESS" in env:
            self.progress = _parse_bool(env["DYNFER_PROGRESS"], "DYNFER_PROGRESS")
        if "DYNFER_DATA_DIR" in env:
            self.data_dir = env["DYNFER_DATA_DIR"] or None
        if "DYNFER_CACHE_DIR" in env and env["DYNFER_CACHE_DIR"]:
            self.cache_dir = env["DYNFER_CACHE_DIR"]
        if "DYNFER_MAX_WORK" in env:
            raw = env["DYNFER_MAX_WORK"].strip()
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not value > 0:
                raise BadInputError(f"DYNFER_MAX_WORK must be a positive number of element-steps (e.g. 2e10) or "
                                    f"'inf', got {raw!r}")
            self.max_work = value

    # ------------------------------------------------------------------ device
    @property
    def device(self) -> str:
        """Device name: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:i"`` (``"auto"`` picks CUDA when present)."""
        return self._device

    @device.setter
    def device(self, value: str | torch.device) -> None:
        name = str(value).strip().lower()
        if name != "auto":
            try:
                dev = torch.device(name)
            except (RuntimeError, ValueError):
                raise BadInputError(f"settings.device must be 'auto', 'cpu' or 'cuda[:i]', got {value!r}") from None
            if dev.type not in {"cpu", "cuda", "mps"}:
                raise BadInputError(f"settings.device must be 'auto', 'cpu' or 'cuda[:i]', got {value!r}")
        self._device = name

    @property
    def torch_device(self) -> torch.device:
        """The resolved :class:`torch.device` (``"auto"`` becomes ``cuda`` when available, else ``cpu``)."""
        return self.resolve_device(None)

    def resolve_device(self, device: str | torch.device | None = None) -> torch.device:
        """Resolve ``device`` (``None`` means ``settings.device``) to a concrete :class:`torch.device`.

        Raises
        ------
        ValueError
            If a CUDA device is requested but CUDA is not available.
        """
        name = self._device if device is None else str(device).strip().lower()
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BadInputError(f"device {name!r} was requested but CUDA is not available on this machine")
        return dev

    # ------------------------------------------------------------------ dtype
    @property
    def dtype(self) -> torch.dtype:
        """Default floating dtype of new tensors (``torch.float32`` or ``torch.float64``)."""
        return self._dtype

    @dtype.setter
    def dtype(self, value: str | torch.dtype) -> None:
        if isinstance(value, torch.dtype):
            if value not in _DTYPES.values():
                raise BadInputError(f"settings.dtype must be torch.float32 or torch.float64, got {value}")
            self._dtype = value
            return
        key = str(value).strip().lower().removeprefix("torch.")
        if key not in _DTYPES:
            raise BadInputError(f"settings.dtype must be one of {sorted(_DTYPES)}, got {value!r}")
        self._dtype = _DTYPES[key]

    # ------------------------------------------------------------------ seed
    @property
    def seed(self) -> int | None:
        """Default seed used when a function is called with ``seed=None`` (``None``: non-deterministic)."""
        return self._seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise BadInputError(f"settings.seed must be a non-negative int or None, got {value!r}")
        self._seed = value

    # ------------------------------------------------------------------ progress
    @property
    def progress(self) -> bool:
        """Whether long computations show a tqdm progress bar."""
        return self._progress

    @progress.setter
    def progress(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise BadInputError(f"settings.progress must be True or False, got {value!r}")
        self._progress = value

    # ------------------------------------------------------------------ directories
    @property
    def data_dir(self) -> Path | None:
        """Local mirror of the real datasets (one sub-folder per dataset), tried before any download."""
        return self._data_dir

    @data_dir.setter
    def data_dir(self, value: str | os.PathLike | None) -> None:
        self._data_dir = None if value is None else Path(value).expanduser()

    @property
    def cache_dir(self) -> Path:
        """Cache of fetched datasets and other downloaded or generated artefacts."""
        return self._cache_dir

    @cache_dir.setter
    def cache_dir(self, value: str | os.PathLike) -> None:
        if value is None:
            raise BadInputError("settings.cache_dir must be a path, got None")
        self._cache_dir = Path(value).expanduser()

    # ------------------------------------------------------------------ work bound
    @property
    def max_work(self) -> float:
        r"""Largest estimated amount of work a call may start, in element-steps (default ``2e10``).

        Simulators and solvers estimate their work before they start, e.g. steps :math:`\times` paths
        :math:`\times` dimension for an SDE, and refuse (:class:`~dynfer.BadInputError`, naming the estimate, this
        limit and the argument to change) what exceeds it: a call that would run for hours instead of failing at
        once. ``float("inf")`` switches the bound off.
        """
        return self._max_work

    @max_work.setter
    def max_work(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise BadInputError(f"settings.max_work must be a positive number (element-steps), got {value!r}")
        if not float(value) > 0:  # also refuses NaN
            raise BadInputError(f"settings.max_work must be > 0 (float('inf') switches the bound off), got {value!r}")
        self._max_work = float(value)

    # ------------------------------------------------------------------ helpers
    def generator(self, seed: int | None = None, device: str | torch.device | None = None) -> torch.Generator:
        """A :class:`torch.Generator` on ``device`` seeded with ``seed`` (or ``settings.seed``, or fresh entropy)."""
        gen = torch.Generator(device=self.resolve_device(device))
        chosen = self._seed if seed is None else seed
        if chosen is None:
            gen.seed()
        else:
            if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 0:
                raise BadInputError(f"seed must be a non-negative int or None, got {chosen!r}")
            gen.manual_seed(chosen)
        return gen

    @contextlib.contextmanager
    def override(self, **values: Any) -> Iterator[Settings]:
        """Temporarily change settings inside a ``with`` block, e.g. ``with settings.override(progress=False):``."""
        unknown = set(values) - set(self._FIELDS)
        if unknown:
            raise BadInputError(f"unknown settings {sorted(unknown)}; known: {list(self._FIELDS)}")
        old = {k: getattr(self, "_" + k) for k in values}
        try:
            for key, val in values.items():
                setattr(self, key, val)
            yield self
        finally:
            for key, val in old.items():
                setattr(self, "_" + key, val)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._FIELDS)
        return f"Settings({body})"


settings = Settings()
