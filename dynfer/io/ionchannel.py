"""Readers of single-channel (patch-clamp) current recordings: Axon ABF files, CSV and NumPy traces.

Every reader returns AnnData in dynfer's data model: one row per sample, ``X`` = current ``(n_samples, n_channels)``,
``obs['time']`` = sample index / sampling rate (seconds, from 0 in each sweep), ``obs['trajectory']`` = sweep or
recording id, and ``uns['dynfer_source']`` with the reader, file, its sha256, the sampling rate and the units. States
come later, from :func:`dynfer.pp.idealize`.
"""

from __future__ import annotations

import io
import struct
import tokenize
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


def _check_finite(sweeps: np.ndarray, sweep_ids: Sequence[Any], path: Path, lines: Sequence[int] | None = None) -> None:
    """``sweeps`` ``(n_sweeps, n_samples, n_channels)``: raise naming how many samples are NaN/inf, and where."""
    bad = ~np.isfinite(sweeps)
    if bad.any():
        where = np.argwhere(bad)
        shown = ", ".join(f"sweep {sweep_ids[s]} sample {i}" for s, i, _ in where[:5])
        more = "" if len(where) <= 5 else f" and {len(where) - 5} more"
        line = None if lines is None else lines[int(where[0][1])]
        raise BadInputError(str(path), f"{int(bad.sum())} NaN or infinite sample(s): {shown}{more}",
                            "finite currents", line=line)


def _to_anndata(
    sweeps: np.ndarray, sweep_ids: Sequence[Any], rate: float, var_names: Sequence[str], source: dict[str, Any]
) -> ad.AnnData:
    n_sweeps, n_samples, _ = sweeps.shape
    with np.errstate(over="ignore"):
        times = np.tile(np.arange(n_samples) / rate, n_sweeps)
    if not np.isfinite(times).all():
        raise BadInputError("sampling_rate", f"{rate!r}: sample {n_samples - 1} / sampling_rate overflows",
                            "a rate that gives finite times")
    trajectory = np.repeat(np.asarray([str(s) for s in sweep_ids]), n_samples)
    x = sweeps.reshape(n_sweeps * n_samples, -1)
    return make_snapshots(x, times, trajectory=trajectory, var_names=var_names, source=source)


_ABF2_SECTIONS = (76, 92, 108, 124, 156, 172, 220, 236, 252, 316)  # the section table entries pyabf reads
_ABF2_DATA = 236


def _check_abf_header(p: Path) -> None:
    """The counts in an ABF header fit in the file (before pyabf, which builds lists of those lengths).

    A damaged sweep or entry count makes pyabf build a list of billions of items (minutes, or the machine's memory)
    before it reads a byte of data; checked here, it is one clear error.
    """
    where, size = str(p), p.stat().st_size
    with open(p, "rb") as handle:
        head = handle.read(512)
    if len(head) < 512:
        raise BadInputError(where, f"{size} bytes", "an ABF file (its header alone is 512 bytes or more)",
                            hint="truncated?")

    def field(fmt: str, offset: int) -> int:
        return struct.unpack_from("<" + fmt, head, offset)[0]

    if head[:4] == b"ABF ":
        points, sweeps, block, fmt, channels = field("i", 10), field("i", 16), field("i", 40), field("h", 100), \
            field("h", 120)
        tag_block, tags = field("i", 44), field("i", 48)  # pyabf reads one 64-byte tag per entry
        mode, per_sweep = field("h", 8), field("i", 138)  # episodic modes: every sweep has lNumSamplesPerEpisode
        end = block * 512 + points * 2
        ok = points > 0 and 0 <= sweeps <= points and block > 0 and fmt == 0 and 1 <= channels <= 16 and end <= size
        ok = ok and 0 <= tags and (tags == 0 or tag_block * 512 + 64 * tags <= size)
        ok = ok and (mode not in (2, 5) or points == sweeps * per_sweep)
        found = (f"{points} samples in {sweeps} sweep(s) of {per_sweep} (mode {mode}) and {channels} channel(s) from "
                 f"block {block} (format {fmt}), {tags} tag(s)")
    elif head[:4] == b"ABF2":
        sweeps = field("I", 12)
        sections = {offset: (field("I", offset), field("I", offset + 4), field("i", offset + 8))
                    for offset in _ABF2_SECTIONS}
        bad = [offset for offset, (blk, nbytes, count) in sections.items()
               if count < 0 or (count and (nbytes == 0 or blk * 512 + nbytes * count > size))]
        blk, nbytes, count = sections[_ABF2_DATA]
        ok = not bad and nbytes in (2, 4) and 0 < count and sweeps <= count
        found = (f"section table entries at bytes {bad} reach outside the file" if bad else
                 f"{count} data samples of {nbytes} bytes in {sweeps} sweep(s)")
    else:
        return  # pyabf names the file as not an ABF file
    if not ok:
        raise BadInputError(where, f"the header declares {found}, for a file of {size} bytes",
                            "counts that fit in the file", hint="the header is damaged, or the file truncated")


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
    BadInputError
        (a ``ValueError``) unknown channel or sweep; naming the file: an empty or unreadable file, header counts
        that do not fit in the file, sweeps shorter than the header declares, NaN or infinite samples.
    """
    try:
        import pyabf
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("read_abf needs pyabf: pip install dynfer[io]") from err
    p = _existing(path)
    where = str(p)
    _check_abf_header(p)
    try:
        abf = pyabf.ABF(str(p))
        n_ch, n_sw, n_pts = int(abf.channelCount), int(abf.sweepCount), int(abf.sweepPointCount)
    except Exception as err:  # pyabf raises assorted errors on bad headers
        raise BadInputError(where, f"not a readable ABF file ({type(err).__name__}: {err})", "an Axon ABF1 or ABF2 "
                            "file") from err
    if channel is None:
        channels = list(range(n_ch))
    else:
        channels = [channel] if isinstance(channel, int | np.integer) else list(channel)
    if not channels or any(isinstance(c, bool) or not isinstance(c, int | np.integer) or not 0 <= c < n_ch
                            for c in channels):
        raise BadInputError(f"channel must be in 0..{n_ch - 1} (the file has {n_ch} channel(s)), got {channel!r}")
    sweep_list = list(range(n_sw)) if sweeps is None else list(sweeps)
    if not sweep_list or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= s < n_sw
                             for s in sweep_list):
        raise BadInputError(f"sweeps must be numbers in 0..{n_sw - 1} (the file has {n_sw} sweep(s)), got {sweeps!r}")
    data = []
    try:
        for s in sweep_list:
            cols = []
            for c in channels:
                abf.setSweep(sweepNumber=int(s), channel=int(c))
                cols.append(np.asarray(abf.sweepY, dtype=np.float64).copy())
            if any(len(col) != n_pts for col in cols):
                raise BadInputError(where, f"sweep {s} holds {min(map(len, cols))} sample(s) but the header declares "
                                    f"{n_pts} per sweep", f"{n_pts} samples", hint="the file is truncated")
            data.append(np.stack(cols, axis=1))
    except BadInputError:
        raise
    except Exception as err:  # pyabf indexes its data array with the header's counts
        raise BadInputError(where, f"cannot read the sweeps ({type(err).__name__}: {err})", "sweeps as the header "
                            "declares them", hint="truncated or damaged?") from err
    arr = np.stack(data)
    if arr.shape[1] == 0:
        raise BadInputError(where, "no samples", "at least one sample per sweep")
    _check_finite(arr, sweep_list, p)
    rate = float(abf.dataRate)
    if not np.isfinite(rate) or rate <= 0:
        raise BadInputError(where, f"the header gives the sampling rate {rate}", "a positive rate (Hz)")
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


def _csv_text(p: Path) -> str:
    """The file's text; a byte that is not UTF-8 raises BadInputError with its line."""
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        raise BadInputError(str(p), f"byte 0x{raw[err.start]:02x} is not text (not UTF-8)", "a text CSV file",
                            line=raw.count(b"\n", 0, err.start) + 1, hint="save the trace as UTF-8 or ASCII") from None


def _read_csv(p: Path, column: str | int | None) -> tuple[np.ndarray, str, list[int]]:
    """The chosen column as float64, its name, and the file line of each sample."""
    text = _csv_text(p)
    lines = [k for k, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1)
             if line.split("#", 1)[0].strip()]  # the rows pandas keeps (comments, blank lines skipped)
    try:
        raw = pd.read_csv(io.StringIO(text), header=None, comment="#", skip_blank_lines=True, dtype=str,
                          keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise BadInputError(f"{p} is empty (no samples)") from None
    except Exception as err:  # ParserError on ragged rows, csv.Error on stray quotes ...
        raise BadInputError(str(p), f"not a table of comma-separated values ({type(err).__name__}: {err})",
                            "the same number of comma-separated fields on every line") from None
    if raw.empty:
        raise BadInputError(f"{p} is empty (no samples)")
    raw = raw.fillna("")  # a missing field is an empty string: not a number, and said so below
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
    sample_lines = lines[1:] if has_header else lines
    if len(sample_lines) != len(body):  # pandas split lines differently (quotes, lone \r): no line numbers
        sample_lines = [None] * len(body)
    values = body.iloc[:, idx].str.strip()
    try:
        num = values.to_numpy(dtype=str).astype(np.float64)  # Python's exact (round-trip) decimal parsing
    except ValueError:
        coerced = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        not_number = np.isnan(coerced) & ~values.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy()
        row = int(np.flatnonzero(not_number)[0]) if not_number.any() else 0
        raise BadInputError(str(p), f"column {header[idx]!r} holds a non-numeric value {values.iloc[row]!r} at "
                            f"sample {row}", "numbers", line=sample_lines[row]) from None
    return num, header[idx] if has_header else K.CURRENT, sample_lines


def _read_npy(p: Path) -> np.ndarray:
    """The array of a ``.npy`` file, whose size must match its header exactly (no short read, no trailing data)."""
    where = str(p)
    try:
        with open(p, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(handle)
            offset = handle.tell()
        arr = np.load(p, allow_pickle=False)
    except (ValueError, EOFError, OSError, SyntaxError, tokenize.TokenError, MemoryError) as err:  # a damaged header
        raise BadInputError(where, f"not a readable .npy array ({type(err).__name__}: {err})",
                            "a file written by numpy.save") from err
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if p.stat().st_size != expected:
        raise BadInputError(where, f"{p.stat().st_size} bytes where the header ({dtype}, shape {shape}) needs "
                            f"{expected}", "a file of the size its header declares", hint="truncated or damaged?")
    return arr


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
    BadInputError
        (a ``ValueError``) a sampling rate that is not positive; naming the file (and the line, for CSV): an empty
        file, text that is not UTF-8, ragged rows, a wrong column, non-numeric, NaN or infinite samples, an ``.npy``
        file whose size differs from its header's, a wrong array shape.
    """
    rate = _check_rate(sampling_rate)
    p = _existing(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        if column is not None:
            raise BadInputError("column applies to CSV files only; a .npy file holds one current (1-D or 2-D sweeps)")
        arr = _read_npy(p)
        if arr.ndim not in (1, 2):
            raise BadInputError(f"{p} must hold a 1-D trace or a 2-D (sweeps, samples) array, got shape {arr.shape}")
        if arr.size == 0:
            raise BadInputError(f"{p} is empty (array of shape {arr.shape})")
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise BadInputError(f"{p} must hold real numbers, got dtype {arr.dtype}")
        sweeps = np.asarray(arr, dtype=np.float64).reshape(-1 if arr.ndim == 2 else 1, arr.shape[-1])[..., None]
        name, lines = K.CURRENT, None
    elif suffix in (".csv", ".txt", ".tsv"):
        values, name, lines = _read_csv(p, column)
        sweeps = values.reshape(1, -1, 1)
    else:
        raise BadInputError(f"unknown trace format {suffix!r} of {p}: use .csv or .npy (or read_abf for .abf)")
    ids = list(range(sweeps.shape[0]))
    _check_finite(sweeps, ids, p, lines)
    source = {
        "name": "current_trace",
        "reader": "dynfer.io.read_current_trace",
        "file": str(p),
        "sha256": sha256_file(p),
        "sampling_rate": rate,
        "column": name,
    }
    return _to_anndata(sweeps, ids, rate, [name], source)
