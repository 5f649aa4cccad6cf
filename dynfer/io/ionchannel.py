"""Readers of single-channel (patch-clamp) current recordings: Axon ABF files, CSV and NumPy traces.

Every reader returns AnnData in dynfer's data model: one row per sample, ``X`` = current ``(n_samples, n_channels)``,
``obs['time']`` = sample index / sampling rate (seconds, from 0 in each sweep), ``obs['trajectory']`` = sweep or
recording id, and ``uns['dynfer_source']`` with the reader, file, its sha256, the sampling rate and the units. States
come later, from :func:`dynfer.pp.idealize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._files import sha256_file
from dynfer.io._model import make_snapshots

__all__ = ["read_abf", "read_current_trace"]


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if p.stat().st_size == 0:
        raise BadInputError(f"{p} is empty")
    return p


def _check_rate(sampling_rate: Any) -> float:
    try:
        rate = float(sampling_rate)
    except (TypeError, ValueError):
        raise BadInputError(f"sampling_rate must be a positive number (Hz), got {sampling_rate!r}") from None
    if not np.isfinite(rate) or rate <= 0:
        raise BadInputError(f"sampling_rate must be a positive finite number (Hz), got {sampling_rate!r}")
    return rate


def _check_finite(sweeps: np.ndarray, sweep_ids: Sequence[Any], path: Path) -> None:
    """``sweeps`` ``(n_sweeps, n_samples, n_channels)``: raise naming how many samples are NaN/inf, and where."""
    bad = ~np.isfinite(sweeps)
    if bad.any():
        where = np.argwhere(bad)
        shown = ", ".join(f"sweep {sweep_ids[s]} sample {i}" for s, i, _ in where[:5])
        more = "" if len(where) <= 5 else f" and {len(where) - 5} more"
        raise BadInputError(f"{path} holds {int(bad.sum())} NaN or infinite sample(s): {shown}{more}")


def _to_anndata(
    sweeps: np.ndarray, sweep_ids: Sequence[Any], rate: float, var_names: Sequence[str], source: dict[str, Any]
) -> ad.AnnData:
    n_sweeps, n_samples, _ = sweeps.shape
    times = np.tile(np.arange(n_samples) / rate, n_sweeps)
    trajectory = np.repeat(np.asarray([str(s) for s in sweep_ids]), n_samples)
    x = sweeps.reshape(n_sweeps * n_samples, -1)
    return make_snapshots(x, times, trajectory=trajectory, var_names=var_names, source=source)


def read_abf(
    path: str | Path, *, channel: int | Sequence[int] | None = 0, sweeps: Sequence[int] | None = None
) -> ad.AnnData:
    """Read an Axon Binary Format file (ABF1 or ABF2) with ``pyabf``.

    Parameters
    ----------
    path
        The ``.abf`` file.
    channel
        ADC channel index, a list of them, or ``None`` for all channels (one column of ``X`` each).
    sweeps
        Sweep numbers to read (default all); each becomes one trajectory, ``obs['trajectory']`` = sweep number.

    Returns
    -------
    AnnData
        ``X`` ``(n_sweeps * n_samples, n_channels)`` in the file's units (var names = ADC names), ``obs['time']``
        seconds from the start of each sweep, ``uns['dynfer_source']`` with ``file``, ``sha256``, ``sampling_rate``,
        ``units``, ``channels``, ``sweeps``, ``abf_version``.

    Raises
    ------
    ImportError
        ``pyabf`` is not installed (``pip install dynfer[io]``).
    ValueError
        Unknown channel or sweep, NaN samples, an empty or unreadable file.
    """
    try:
        import pyabf
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("read_abf needs pyabf: pip install dynfer[io]") from err
    p = _existing(path)
    try:
        abf = pyabf.ABF(str(p))
    except Exception as err:  # pyabf raises assorted errors on bad headers
        raise BadInputError(f"{p} is not a readable ABF file: {err}") from err
    n_ch = int(abf.channelCount)
    if channel is None:
        channels = list(range(n_ch))
    else:
        channels = [channel] if isinstance(channel, int | np.integer) else list(channel)
    if not channels or any(isinstance(c, bool) or not isinstance(c, int | np.integer) or not 0 <= c < n_ch
                            for c in channels):
        raise BadInputError(f"channel must be in 0..{n_ch - 1} (the file has {n_ch} channel(s)), got {channel!r}")
    n_sw = int(abf.sweepCount)
    sweep_list = list(range(n_sw)) if sweeps is None else list(sweeps)
    if not sweep_list or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= s < n_sw
                             for s in sweep_list):
        raise BadInputError(f"sweeps must be numbers in 0..{n_sw - 1} (the file has {n_sw} sweep(s)), got {sweeps!r}")
    data = []
    for s in sweep_list:
        cols = []
        for c in channels:
            abf.setSweep(sweepNumber=int(s), channel=int(c))
            cols.append(np.asarray(abf.sweepY, dtype=np.float64).copy())
        data.append(np.stack(cols, axis=1))
    arr = np.stack(data)
    if arr.shape[1] == 0:
        raise BadInputError(f"{p} holds no samples")
    _check_finite(arr, sweep_list, p)
    rate = float(abf.dataRate)
    names = [str(abf.adcNames[c]).replace("\x00", "").strip() if c < len(abf.adcNames) else "" for c in channels]
    names = [n or (K.CURRENT if len(channels) == 1 else f"channel{c}") for n, c in zip(names, channels, strict=True)]
    if len(set(names)) != len(names):
        names = [f"{n}_{c}" for n, c in zip(names, channels, strict=True)]
    source = {
        "name": "abf",
        "reader": "dynfer.io.read_abf",
        "file": str(p),
        "sha256": sha256_file(p),
        "sampling_rate": rate,
        "units": [str(abf.adcUnits[c]).replace("\x00", "").strip() for c in channels],
        "channels": np.asarray(channels, dtype=np.int64),
        "sweeps": np.asarray(sweep_list, dtype=np.int64),
        "abf_version": str(abf.abfVersionString),
    }
    return _to_anndata(arr, sweep_list, rate, names, source)


def _read_csv(p: Path, column: str | int | None) -> tuple[np.ndarray, str]:
    try:
        raw = pd.read_csv(p, header=None, comment="#", skip_blank_lines=True, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise BadInputError(f"{p} is empty (no samples)") from None
    if raw.empty:
        raise BadInputError(f"{p} is empty (no samples)")
    first = pd.to_numeric(raw.iloc[0].str.strip(), errors="coerce")
    if first.isna().any() and not raw.iloc[0].str.strip().str.lower().isin(["nan", "inf", "-inf"]).all():
        header = [str(h).strip() for h in raw.iloc[0]]
        body, has_header = raw.iloc[1:], True
    else:
        header = [str(i) for i in range(raw.shape[1])]
        body, has_header = raw, False
    if body.empty:
        raise BadInputError(f"{p} has a header but no samples")
    if column is None:
        if len(header) != 1:
            raise BadInputError(f"{p} has {len(header)} columns {header}; pass column= (a name or a position)")
        idx = 0
    elif isinstance(column, str) and column in header:
        idx = header.index(column)
    elif isinstance(column, int | np.integer) and not isinstance(column, bool) and 0 <= column < len(header):
        idx = int(column)
    else:
        raise BadInputError(f"column {column!r} is not in {p}: columns are {header} (or positions "
                            f"0..{len(header) - 1})")
    values = body.iloc[:, idx].str.strip()
    try:
        num = values.to_numpy(dtype=str).astype(np.float64)  # Python's exact (round-trip) decimal parsing
    except ValueError:
        coerced = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        not_number = np.isnan(coerced) & ~values.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy()
        row = int(np.flatnonzero(not_number)[0]) if not_number.any() else 0
        raise BadInputError(
            f"{p} column {header[idx]!r} holds a non-numeric value {values.iloc[row]!r} at sample {row}"
        ) from None
    return num, header[idx] if has_header else K.CURRENT


def read_current_trace(path: str | Path, *, sampling_rate: float, column: str | int | None = None) -> ad.AnnData:
    """Read a current trace from CSV or NumPy ``.npy``.

    Parameters
    ----------
    path
        ``.csv`` (or ``.txt``/``.tsv`` with commas): one column of current samples, with or without a header line,
        or several columns of which ``column`` is read; lines starting with ``#`` are skipped. ``.npy``: a 1-D
        array (one recording) or a 2-D array ``(n_sweeps, n_samples)`` (one trajectory per row).
    sampling_rate
        Samples per second (Hz), > 0; ``obs['time']`` = index / ``sampling_rate``.
    column
        CSV column to read, by header name or position (required when there are several columns).

    Returns
    -------
    AnnData
        ``X`` ``(n, 1)`` float64 current, ``obs['time']``, ``obs['trajectory']`` (``"0"`` or sweep numbers),
        ``uns['dynfer_source']`` with ``file``, ``sha256``, ``sampling_rate``, ``column``.

    Raises
    ------
    ValueError
        Non-positive sampling rate, an empty file, a wrong column, NaN or non-numeric samples, a wrong array shape.
    """
    rate = _check_rate(sampling_rate)
    p = _existing(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        if column is not None:
            raise BadInputError("column applies to CSV files only; a .npy file holds one current (1-D or 2-D sweeps)")
        try:
            arr = np.load(p, allow_pickle=False)
        except ValueError as err:
            raise BadInputError(f"{p} is not a readable .npy array: {err}") from err
        if arr.ndim not in (1, 2):
            raise BadInputError(f"{p} must hold a 1-D trace or a 2-D (sweeps, samples) array, got shape {arr.shape}")
        if arr.size == 0:
            raise BadInputError(f"{p} is empty (array of shape {arr.shape})")
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise BadInputError(f"{p} must hold real numbers, got dtype {arr.dtype}")
        sweeps = np.asarray(arr, dtype=np.float64).reshape(-1 if arr.ndim == 2 else 1, arr.shape[-1])[..., None]
        name = K.CURRENT
    elif suffix in (".csv", ".txt", ".tsv"):
        values, name = _read_csv(p, column)
        sweeps = values.reshape(1, -1, 1)
    else:
        raise BadInputError(f"unknown trace format {suffix!r} of {p}: use .csv or .npy (or read_abf for .abf)")
    ids = list(range(sweeps.shape[0]))
    _check_finite(sweeps, ids, p)
    source = {
        "name": "current_trace",
        "reader": "dynfer.io.read_current_trace",
        "file": str(p),
        "sha256": sha256_file(p),
        "sampling_rate": rate,
        "column": name,
    }
    return _to_anndata(sweeps, ids, rate, [name], source)
