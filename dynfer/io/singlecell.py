"""Single-cell snapshot adapters: ``.h5ad``, per-time-point arrays (``.npz`` / ``.npy`` / lists) and CSV to AnnData.

Every reader returns AnnData in dynfer's snapshot model (see :mod:`dynfer._keys`): the state in ``X``, the
observation time in ``obs["time"]`` (float64), at least two distinct time points, and a provenance record in
``uns["dynfer_source"]`` (reader, file, sha256 and the options used).

Bad files fail loudly: every reader either returns data whose columns, arrays and times are those of the file, all
finite, or raises :class:`~dynfer.BadInputError` naming the file and, where it applies, the line, column, array,
row and offending token. No reader moves a column between ``X`` and ``obs`` because of a bad value, and no raw
pandas, numpy, zipfile, h5py or anndata exception escapes.
"""

from __future__ import annotations

import atexit
import codecs
import csv
import io
import json
import mmap
import os
import queue
import re
import subprocess
import sys
import threading
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._files import sha256_file
from dynfer.io._model import make_snapshots, validate_snapshots

__all__ = ["read_h5ad_snapshots", "read_snapshot_arrays", "read_snapshots_csv"]

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------------------------- helpers
def _existing_file(path: PathLike, name: str = "path") -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{name}: no file at {str(p)!r}")
    return p


def _file_source(reader: str, path: Path, **options: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"reader": reader, "file": str(path.resolve()), "sha256": sha256_file(path)}
    source.update({k: v for k, v in options.items() if v is not None})
    return source


def _natural_key(name: str) -> list[Any]:
    """Sort key that orders ``t2`` before ``t10`` (digit runs compared as integers)."""
    return [(0, int(tok), "") if tok.isdigit() else (1, 0, tok) for tok in re.split(r"(\d+)", name) if tok]


def _show(value: Any) -> str:
    """A value as the user would read it in the file, shortened."""
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _nonfinite_word(value: float) -> str:
    return "NaN (an empty or NA cell)" if np.isnan(value) else "an infinite value"


def _first_nonfinite_row(x: Any) -> tuple[int, int, float] | None:
    """``(row, column, value)`` of the first NaN or infinite entry of a dense or sparse 2-D array, else ``None``."""
    if hasattr(x, "tocsr") and not isinstance(x, np.ndarray):  # scipy sparse
        data = np.asarray(x.data)
        if not np.issubdtype(data.dtype, np.inexact) or np.isfinite(data).all():
            return None
        csr = x.tocsr()
        data = np.asarray(csr.data)
        k = int(np.flatnonzero(~np.isfinite(data))[0])
        row = int(np.searchsorted(csr.indptr, k, side="right") - 1)
        return row, int(csr.indices[k]), float(data[k].real)
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.inexact) or np.isfinite(arr).all():
        return None
    r, c = (int(i) for i in np.argwhere(~np.isfinite(arr.reshape(arr.shape[0], -1)))[0])
    return r, c, float(arr.reshape(arr.shape[0], -1)[r, c].real)


def _column_times(values: pd.Series, column: str, arg: str, where: str) -> np.ndarray:
    """A column as finite float64 times, or a BadInputError naming the file, the column, the argument and the row."""
    series = values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values
    if pd.api.types.is_bool_dtype(series):
        raise BadInputError(where, f"column {column!r} ({arg}) holds booleans", "numeric times")
    parsed = pd.to_numeric(series, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy() & series.notna().to_numpy())
    if len(bad):
        raise BadInputError(where, f"column {column!r} ({arg}) has non-numeric values such as "
                            f"{_show(series.iloc[bad[0]])} (row {bad[0]}, obs name {_show(str(series.index[bad[0]]))})",
                            "numeric times")
    times = parsed.to_numpy(dtype=np.float64)
    nonfinite = np.flatnonzero(~np.isfinite(times))
    if len(nonfinite):
        r = int(nonfinite[0])
        raise BadInputError(where, f"column {column!r} ({arg}) has {len(nonfinite)} NaN or infinite time(s), the "
                            f"first in row {r} (obs name {_show(str(series.index[r]))})", "a finite time in every row")
    _check_two_times(times, column, arg, where)
    return times


def _check_two_times(times: np.ndarray, column: str, arg: str, where: str) -> None:
    n_distinct = len(np.unique(times))
    if n_distinct < 2:
        raise BadInputError(where, f"column {column!r} ({arg}) has {n_distinct} distinct time(s)",
                            "at least two time points (snapshot data)")


# ---------------------------------------------------------------------------------------------- h5ad: guards
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNDEFINED = {2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}


def _check_hdf5_superblock(path: Path) -> int:
    """Check the HDF5 signature and superblock of ``path`` against its size; return the superblock's size of lengths.

    The signature is at byte 0 or, after a user block, at 512, 1024, 2048, ... The end-of-file address recorded in
    the superblock (relative to its base address) must not lie beyond the end of the file: a shorter file was
    truncated (an interrupted copy or download).
    """
    where = str(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        start = None
        offset = 0
        while offset + len(_HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                start = offset
                break
            offset = 512 if offset == 0 else offset * 2
        if start is None:
            raise BadInputError(where, "no HDF5 signature at byte 0 (nor at 512, 1024, 2048, ...)",
                                "an .h5ad file (HDF5)", hint="the file is not an .h5ad file, or its start is damaged")
        fh.seek(start)
        block = fh.read(96)
    version = block[8] if len(block) > 8 else -1
    if version in (0, 1):
        o_size, l_size, first = (block[13], block[14], 24 if version == 0 else 28) if len(block) > 14 else (0, 0, 0)
    elif version in (2, 3):
        o_size, l_size, first = (block[9], block[10], 12) if len(block) > 10 else (0, 0, 0)
    else:
        raise BadInputError(where, f"the HDF5 superblock has version {version}", "version 0 to 3", offset=start + 8,
                            hint="the superblock is damaged")
    if o_size not in (2, 4, 8) or l_size not in (2, 4, 8):
        raise BadInputError(where, f"the HDF5 superblock gives {o_size}-byte addresses and {l_size}-byte lengths",
                            "2, 4 or 8 bytes", offset=start + 8, hint="the superblock is damaged")
    if len(block) < first + 3 * o_size:
        raise BadInputError(where, f"the file ends inside its HDF5 superblock ({size} bytes)", "a complete file",
                            hint="the file is truncated")
    # base address, then (v0/v1) free-space info or (v2/v3) superblock extension, then the end-of-file address
    base, _, eof = (int.from_bytes(block[first + i * o_size:first + (i + 1) * o_size], "little") for i in range(3))
    if eof == _UNDEFINED[o_size] or base == _UNDEFINED[o_size]:
        raise BadInputError(where, "the HDF5 superblock has no end-of-file address", "a defined address",
                            offset=start + first, hint="the superblock is damaged")
    if base + eof > size:
        raise BadInputError(where, f"the HDF5 superblock records {base + eof} bytes but the file has {size}",
                            "a complete file", hint="the file is truncated (an interrupted copy or download): "
                            "copy it again")
    return l_size


def _check_global_heaps(path: Path, l_size: int) -> None:
    """Walk every HDF5 global heap collection (variable-length strings live there) and refuse a damaged one.

    The HDF5 library parses a collection in a loop that advances by each object's recorded size; a free-space
    object of size 0 (e.g. zeroed bytes) makes it loop forever (the 240-second "hang" of the issue), and an object
    that overruns its collection makes it read out of bounds.
    """
    size = path.stat().st_size
    header = 8 + l_size  # "GCOL", version, 3 reserved bytes, collection size
    obj_header = 8 + l_size  # index (2), reference count (2), reserved (4), object size
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        at = mm.find(b"GCOL")
        while at >= 0:
            if mm[at + 4:at + 8] == b"\x01\x00\x00\x00" and at + header <= size:
                length = int.from_bytes(mm[at + 8:at + header], "little")
                if length < header or at + length > size:
                    raise BadInputError(str(path), f"a global heap collection records {length} bytes",
                                        f"at least {header} bytes, within the file", offset=at + 8,
                                        hint="the file is truncated or damaged")
                end, p = at + length, at + header
                while p + obj_header <= end:
                    index = int.from_bytes(mm[p:p + 2], "little")
                    obj_size = int.from_bytes(mm[p + 8:p + obj_header], "little")
                    need = obj_size if index == 0 else obj_header + ((obj_size + 7) & ~7)
                    if need == 0 or p + need > end:
                        raise BadInputError(str(path), f"a global heap object of {obj_size} bytes (index {index})",
                                            "objects that tile their heap collection", offset=p,
                                            hint="the file is damaged (zeroed or overwritten bytes)")
                    p += need
            at = mm.find(b"GCOL", at + 4)


#: Run in a worker process by :class:`_H5Prober`: open the file with h5py and touch everything anndata reads (every
#: attribute, every string/object/small dataset in full, the chunk index and the corners of large datasets).
_PROBE_SCRIPT = r"""
import json, sys
try:
    import h5py
except Exception as exc:
    print(json.dumps({"fatal": f"{type(exc).__name__}: {exc}"}), flush=True)
    sys.exit(0)
print(json.dumps({"ready": True}), flush=True)
SMALL = 16 << 20

def touch(obj):
    for key in obj.attrs:
        obj.attrs[key]
    if isinstance(obj, h5py.Dataset):
        if obj.shape is None or obj.size == 0:
            obj[()]
        elif obj.dtype.kind in "OSUV" or obj.size * obj.dtype.itemsize <= SMALL:
            obj[()]
        else:
            if obj.chunks is not None:
                for i in range(obj.id.get_num_chunks()):
                    obj.id.get_chunk_info(i)
            obj[(0,) * obj.ndim]
            obj[tuple(n - 1 for n in obj.shape)]

for line in sys.stdin:
    try:
        with h5py.File(json.loads(line), "r") as f:
            touch(f)
            f.visititems(lambda name, obj: touch(obj))
        reply = {"ok": True}
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(reply), flush=True)
"""


class _H5Prober:
    """A worker process that opens HDF5 files with h5py under a time limit, started once and reused.

    The HDF5 library can loop forever or crash on a damaged file, and neither can be interrupted from Python in the
    same process; in a worker a hang is ended by killing it and a crash is only the worker's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue = queue.Queue()
        self._owner = -1

    def _start(self) -> None:
        self._replies = queue.Queue()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _PROBE_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, encoding="utf-8", bufsize=1,
        )
        self._owner = os.getpid()
        threading.Thread(target=self._pump, args=(self._proc.stdout, self._replies), daemon=True).start()
        try:
            hello = self._replies.get(timeout=120)
        except queue.Empty:
            hello = None
        if not hello or "ready" not in json.loads(hello):
            self.stop()
            raise RuntimeError(f"the h5py worker did not start ({hello!r})")

    @staticmethod
    def _pump(stream: Any, replies: queue.Queue) -> None:
        for line in stream:
            replies.put(line)
        replies.put(None)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and self._owner == os.getpid():
            proc.kill()
            proc.wait()

    def probe(self, path: Path, timeout: float) -> dict[str, Any]:
        """``{"ok": True}``, ``{"error": ...}``, ``{"timeout": s}`` or ``{"crash": returncode}``."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None or self._owner != os.getpid():
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps(str(path.resolve())) + "\n")
                self._proc.stdin.flush()
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                return {"timeout": timeout}
            except OSError:
                reply = None
            if reply is None:  # the worker died: the HDF5 library crashed on the file
                code = self._proc.wait()
                self._proc = None
                return {"crash": code}
            return json.loads(reply)


_PROBER = _H5Prober()
atexit.register(_PROBER.stop)


def _guard_h5ad(path: Path, timeout: float) -> None:
    """Refuse a damaged ``.h5ad`` before anndata reads it: superblock, global heaps, then a timed walk in a worker."""
    where = str(path)
    l_size = _check_hdf5_superblock(path)
    _check_global_heaps(path, l_size)
    try:
        reply = _PROBER.probe(path, timeout)
    except (OSError, RuntimeError) as exc:  # no worker (e.g. no Python executable): read without the time limit
        warnings.warn(f"{where}: read without the time limit, the h5py worker could not start ({exc})",
                      RuntimeWarning, stacklevel=3)
        return
    if "timeout" in reply:
        raise BadInputError(where, f"HDF5 could not walk the file within {timeout:g} s", "a readable .h5ad file",
                            hint="the file is damaged (the HDF5 library loops on it); if it is merely huge or on a "
                                 "slow disk, pass a larger timeout=")
    if "crash" in reply:
        raise BadInputError(where, f"the HDF5 library crashed reading it (exit status {reply['crash']})",
                            "a readable .h5ad file", hint="the file is damaged: copy it again")
    if "error" in reply:
        raise BadInputError(where, f"HDF5 cannot read it ({reply['error']})", "a readable .h5ad file",
                            hint="the file is truncated or damaged: copy it again")


def _check_finite_arrays(adata: ad.AnnData, where: str) -> None:
    """``X`` and every ``obsm`` array numeric and finite; the first bad row is named."""
    parts: list[tuple[str, Any]] = [("X", adata.X)]
    for key in adata.obsm.keys():
        value = adata.obsm[key]
        if isinstance(value, pd.DataFrame):
            parts += [(f"obsm[{key!r}][{col!r}]", value[[col]].to_numpy()) for col in value.columns
                      if pd.api.types.is_numeric_dtype(value[col])]
        else:
            parts.append((f"obsm[{key!r}]", value))
    for name, value in parts:
        if value is None:
            if name == "X":
                raise BadInputError(where, "the AnnData has no X", "the state of every cell in X")
            continue
        dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
        if not (np.issubdtype(dtype, np.number) or np.dtype(dtype).kind == "b"):
            raise BadInputError(where, f"{name} has dtype {dtype}", "numbers")
        bad = _first_nonfinite_row(value)
        if bad is not None:
            row, col, val = bad
            raise BadInputError(where, f"{name} holds {_nonfinite_word(val)} in row {row} (obs name "
                                f"{_show(str(adata.obs_names[row]))}), column {col}", "finite values",
                                hint="fill or drop those values and save the file again")


# ---------------------------------------------------------------------------------------------- h5ad
def read_h5ad_snapshots(path: PathLike, *, time_key: str = K.TIME, timeout: float = 60.0) -> ad.AnnData:
    """Read an ``.h5ad`` file as snapshot data, with ``obs[time_key]`` copied to ``obs["time"]`` as float.

    Before anndata reads the file it is checked in three steps, so that a damaged file is refused in seconds
    instead of hanging or crashing the process: (1) the HDF5 signature (byte 0, or 512, 1024, ... after a user
    block) and the superblock's end-of-file address against the file's size (a truncated copy); (2) every global
    heap collection, where variable-length strings live, for objects that do not tile it (zeroed bytes there made
    the HDF5 library loop forever); (3) a walk with h5py in a worker process, under ``timeout``, that reads every
    attribute and every string, object or small (up to 16 MiB) dataset in full and the chunk index and corners of
    larger ones. What the walk cannot prove is the bulk data of large datasets, which anndata then reads in this
    process; damage there gives a decompression error or changed values, and the NaN check below.

    Parameters
    ----------
    path
        The ``.h5ad`` file (read fully into memory with :func:`anndata.read_h5ad`).
    time_key
        Column of ``obs`` holding each cell's observation time (numbers, numeric strings or a categorical of
        them, e.g. collection day).
    timeout
        Seconds allowed for the walk of step (3). A walk that takes longer is ended and the file refused as damaged;
        raise it for a huge file on a slow disk. (The worker is started once per session, in about 0.3 s; if it
        cannot be started, the file is read without the time limit and a ``RuntimeWarning`` says so.)

    Returns
    -------
    AnnData
        The file's AnnData with ``obs["time"]`` (float64) added; ``X`` is the state as stored. The original
        ``obs[time_key]`` column is kept. ``uns["dynfer_source"]`` records the reader, the file, its sha256 and
        ``time_key``.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    BadInputError
        (a ``ValueError``) naming the file: not HDF5, truncated, damaged (with the byte offset where known), the
        walk timed out or crashed, anndata could not read it (its exception is quoted), ``X`` missing or not
        numeric, NaN or infinite values in ``X`` or an ``obsm`` array (the first bad row named), or ``obs[time_key]``
        missing, not numeric, NaN, or with fewer than two distinct values.
    """
    p = _existing_file(path)
    where = str(p)
    _guard_h5ad(p, timeout)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*names are not unique.*")
            adata = ad.read_h5ad(p)
    except Exception as exc:  # anndata/h5py raise OSError, KeyError, TypeError, ValueError, ... on damaged files
        raise BadInputError(where, f"anndata cannot read it ({type(exc).__name__}: {exc})",
                            "an .h5ad file written by anndata", hint="the file is damaged or not an AnnData file"
                            ) from None
    if time_key not in adata.obs:
        raise BadInputError(where, f"obs has no column {time_key!r} (time_key)",
                            f"one of its columns {list(adata.obs.columns)}")
    times = _column_times(adata.obs[time_key], time_key, "time_key", where)
    _check_finite_arrays(adata, where)
    if time_key != K.TIME and K.TIME in adata.obs:
        old = pd.to_numeric(adata.obs[K.TIME].astype(object), errors="coerce").to_numpy(dtype=np.float64)
        if not np.array_equal(old, times, equal_nan=True):
            warnings.warn(
                f"obs[{K.TIME!r}] in {p.name} is replaced by the values of obs[{time_key!r}] (time_key)",
                UserWarning,
                stacklevel=2,
            )
    adata.obs[K.TIME] = times
    adata.uns[K.SOURCE] = _file_source("read_h5ad_snapshots", p, time_key=time_key)
    return validate_snapshots(adata, K.TIME, min_times=2)


# ---------------------------------------------------------------------------------------------- arrays
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
def _damaged(path: Path, what: str, exc: BaseException) -> BadInputError:
    if isinstance(exc, EOFError):
        found = f"{what} ends early"
    elif isinstance(exc, zipfile.BadZipFile):
        found = f"{what} is damaged ({exc})"
    else:
        found = f"{what} cannot be read ({type(exc).__name__}: {exc})"
    return BadInputError(str(path), found, f"a complete {path.suffix or '.npz'} file written by numpy",
                         hint="the file is truncated or damaged: copy it again")


def _check_magic(path: Path, suffix: str) -> None:
    with path.open("rb") as fh:
        head = fh.read(6)
    if suffix == ".npz" and not head.startswith(_ZIP_MAGIC):
        raise BadInputError(str(path), f"the file starts with {head!r}", "a .npz file (a zip archive: b'PK\\x03\\x04')",
                            offset=0, hint="the file is not an .npz archive, or its start is damaged")
    if suffix == ".npy" and head != _NPY_MAGIC:
        raise BadInputError(str(path), f"the file starts with {head!r}", "an .npy file (b'\\x93NUMPY')", offset=0,
                            hint="the file is not an .npy array, or its start is damaged")


def _npy_header(fp: Any, size: int, path: Path, what: str) -> bool:
    """Check an ``.npy`` stream's header against its ``size`` in bytes; return whether it declares objects (pickle).

    numpy reads as many bytes as the header's shape asks for and ignores the rest, so a damaged shape (``(3, 4, 2)``
    flipped to ``(3, 1, 2)``) would silently return part of the data; a zip member read short is not even
    CRC-checked. Here the data must fill the stream exactly.
    """
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:  # 3.0 (UTF-8 field names) has no public header reader
            shape, _, dtype = np.lib.format._read_array_header(fp, version)
    except zipfile.BadZipFile as exc:  # the member's CRC, checked once zipfile has read all of a small member
        raise _damaged(path, what, exc) from None
    except Exception as exc:  # numpy raises ValueError / SyntaxError / EOFError on a damaged header
        raise _damaged(path, f"{what} (its header)", exc) from None
    if dtype.hasobject:
        return True
    need = dtype.itemsize * int(np.prod(shape, dtype=object))
    have = size - fp.tell()
    if need != have:
        raise BadInputError(str(path), f"{what} declares shape {shape} of {dtype} ({need} bytes of data) but holds "
                            f"{have} bytes", "a header that matches the data",
                            hint="the file is truncated or its header damaged: copy it again")
    return False


def _zip_entries(path: Path) -> int | None:
    """The number of entries that a zip file's end-of-central-directory record announces (``None`` if unknown)."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - (1 << 16) - 22))
        tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 12:
        return None
    count = int.from_bytes(tail[at + 10:at + 12], "little")
    return None if count == 0xFFFF else count  # zip64 keeps the count elsewhere


def _pickle_refused(path: Path, what: str) -> BadInputError:
    return BadInputError(str(path), f"{what} is an object array, which numpy stores with pickle",
                         "numeric arrays", hint="pass allow_pickle=True if you trust the file")


def _split_stacked(arr: np.ndarray, where: str, what: str) -> list[np.ndarray]:
    """One 2-D array per time point from a stacked [T, n, d] array or a 1-D object array of 2-D arrays."""
    if arr.dtype == object:
        if arr.ndim != 1:
            raise BadInputError(where, f"{what} is an object array of shape {arr.shape}",
                                "a one-dimensional object array (one entry per time point)")
        return [np.asarray(a) for a in arr]
    if arr.ndim == 3:
        return list(arr)
    raise BadInputError(where, f"{what} has shape {arr.shape}", "a stacked array of shape (n_times, n_cells, "
                        "n_features) or an object array of per-time-point arrays")


def _load_npz(path: Path, key: str | None, times: Any, allow_pickle: bool
              ) -> tuple[list[np.ndarray], Any, list[str], list[str]]:
    """Arrays per time point, times, array names (for the source record) and a label per time point."""
    where = str(path)
    try:
        npz = np.load(path, allow_pickle=allow_pickle)
    except Exception as exc:  # BadZipFile, EOFError, OSError, struct errors, ... on a damaged archive
        raise _damaged(path, "the archive", exc) from None
    with npz:
        files = list(npz.files)
        announced = _zip_entries(path)
        if announced is not None and announced != len(npz.zip.infolist()):
            raise BadInputError(where, f"the archive lists {len(npz.zip.infolist())} arrays where its directory record "
                                f"announces {announced}", "a complete .npz archive",
                                hint="the archive's directory is damaged: copy the file again")
        unknown = [n for n in npz.zip.namelist() if not n.endswith(".npy")]
        if unknown:
            raise BadInputError(where, f"the archive holds {unknown}, which are not .npy arrays",
                                "arrays written by numpy.savez", hint="a damaged member name, or not an .npz file")
        if isinstance(times, str):
            if times not in files:
                raise BadInputError(where, f"times: there is no array {times!r}", f"one of the arrays {files}")
            times = _load_member(npz, times, path, allow_pickle)
        if key is not None:
            if key not in files:
                raise BadInputError(where, f"key: there is no array {key!r}", f"one of the arrays {files}")
            arrays = _split_stacked(_load_member(npz, key, path, allow_pickle), where, f"array {key!r}")
            return arrays, times, [key], [f"array {key!r}, time point {i}" for i in range(len(arrays))]
        if len(files) == 1:
            arrays = _split_stacked(_load_member(npz, files[0], path, allow_pickle), where, f"array {files[0]!r}")
            return arrays, times, files, [f"array {files[0]!r}, time point {i}" for i in range(len(arrays))]
        names = sorted(files, key=_natural_key)
        arrays = [_load_member(npz, name, path, allow_pickle) for name in names]
        not_2d = [name for name, a in zip(names, arrays, strict=True) if a.ndim != 2]
        if not_2d:
            hint = "pass key= naming the array of snapshots" + (
                " (the benchmark files keep theirs under key='Xs')" if "Xs" in files else "")
            raise BadInputError(where, f"key: it holds several arrays and {not_2d} are not 2-D (cells x features)",
                                "one 2-D array per time point", hint=hint)
        return arrays, times, names, [f"array {name!r}" for name in names]


def _load_member(npz: Any, name: str, path: Path, allow_pickle: bool) -> np.ndarray:
    what = f"array {name!r}"
    member = f"{name}.npy"
    try:
        with npz.zip.open(member) as fp:
            objects = _npy_header(fp, npz.zip.getinfo(member).file_size, path, what)
        if objects and not allow_pickle:
            raise _pickle_refused(path, what)
        value = npz[name]
    except BadInputError:
        raise
    except Exception as exc:  # BadZipFile (CRC), EOFError, zlib.error, ValueError, UnpicklingError, ...
        raise _damaged(path, what, exc) from None
    if not isinstance(value, np.ndarray):
        raise BadInputError(str(path), f"{what} is not a numpy array", "arrays written by numpy.savez")
    return value


def _load_npy(path: Path, allow_pickle: bool) -> np.ndarray:
    try:
        with path.open("rb") as fp:
            objects = _npy_header(fp, path.stat().st_size, path, "the array")
        if objects and not allow_pickle:
            raise _pickle_refused(path, "the array")
        return np.asarray(np.load(path, allow_pickle=allow_pickle))
    except BadInputError:
        raise
    except Exception as exc:  # EOFError, OSError, MemoryError, UnpicklingError, ...
        raise _damaged(path, "the array", exc) from None


def read_snapshot_arrays(
    path_or_arrays: PathLike | Sequence[np.ndarray] | np.ndarray,
    *,
    times: Sequence[float] | np.ndarray | str | None = None,
    key: str | None = None,
    allow_pickle: bool = False,
) -> ad.AnnData:
    """Snapshot data from one array per time point, the format of trajectory-inference benchmarks.

    Accepted inputs:

    * an ``.npz`` file holding one 2-D array (cells x features) per time point, in natural key order
      (``t2`` before ``t10``), or a single array, or the array named by ``key`` (a stacked array of shape
      ``(n_times, n_cells, n_features)`` or a 1-D object array of 2-D arrays, e.g. ``key="Xs"`` in the
      mmTrajectory and SnapMMD benchmark files);
    * an ``.npy`` file holding a stacked array or an object array of 2-D arrays;
    * a Python list (or stacked/object array) of 2-D arrays.

    Time points may hold different numbers of cells but must share the number of features. Rows are ordered by
    time point, then by the order within each array.

    Parameters
    ----------
    path_or_arrays
        A file path (``.npz`` or ``.npy``) or the arrays themselves.
    times
        Observation time of each array: a sequence of ``n_times`` strictly increasing numbers, the name of an
        array in the ``.npz`` holding them (e.g. ``"dts"``), or ``None`` for ``0, 1, ..., n_times - 1``.
    key
        Array of the ``.npz`` holding the snapshots (required when the file holds other arrays too).
    allow_pickle
        Allow object arrays, which numpy stores with pickle: only for files you trust (as in :func:`numpy.load`).

    Returns
    -------
    AnnData
        ``X`` the stacked cells (dtype kept when floating, else float64), ``obs["time"]`` (float64) and
        ``uns["dynfer_source"]`` with the reader, the file and its sha256 (``None`` for in-memory arrays), the key
        and the times.

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    BadInputError
        (a ``ValueError``) naming the file (or ``path_or_arrays``) and the array: a file that is not a zip archive
        (``.npz``) or ``.npy`` array, a truncated or damaged archive or array (zip CRC, early end), an object array
        without ``allow_pickle=True`` (only when its header really declares objects; a damaged header is reported
        as damage), ``key`` or a named ``times`` array missing, an entry not 2-D, not real-numeric (strings,
        complex), empty, or with another number of features than time point 0, NaN or infinite values (the time
        point and row named), ``times`` of the wrong length, not finite or not strictly increasing, or fewer than
        two time points.
    """
    path: Path | None = None
    names: list[str] | None = None
    labels: list[str] | None = None
    where = "path_or_arrays"
    times_name = times if isinstance(times, str) else None
    if isinstance(path_or_arrays, str | os.PathLike):
        path = _existing_file(path_or_arrays, "path_or_arrays")
        where = str(path)
        suffix = path.suffix.lower()
        if suffix not in (".npz", ".npy"):
            raise BadInputError(where, f"the suffix {path.suffix!r}", "a .npz or .npy file")
        _check_magic(path, suffix)
        if suffix == ".npz":
            arrays, times, names, labels = _load_npz(path, key, times, allow_pickle)
        else:
            if key is not None or isinstance(times, str):
                raise BadInputError("key and a named times array apply to .npz files only, not to .npy files")
            arrays = _split_stacked(_load_npy(path, allow_pickle), where, "the array")
    else:
        if key is not None or isinstance(times, str):
            raise BadInputError("key and a named times array apply to .npz files only, not to in-memory arrays")
        if isinstance(path_or_arrays, np.ndarray):
            arrays = _split_stacked(path_or_arrays, where, "the array")
        else:
            arrays = [np.asarray(a) for a in path_or_arrays]

    x, t = _stack(arrays, times, where, labels or [f"time point {i}" for i in range(len(arrays))])
    source: dict[str, Any]
    if path is None:
        source = {"reader": "read_snapshot_arrays", "file": None, "sha256": None}
    else:
        source = _file_source("read_snapshot_arrays", path, key=key, times_key=times_name)
        if names is not None and key is None:
            source["keys"] = names
    source["times"] = np.unique(t)
    adata = make_snapshots(x, t, source=source)
    return validate_snapshots(adata, K.TIME, min_times=2)


def _stack(arrays: list[np.ndarray], times: Any, where: str, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    n_times = len(arrays)
    if n_times < 2:
        raise BadInputError(where, f"{n_times} time point(s)", "at least two (snapshot data)")
    for i, (a, label) in enumerate(zip(arrays, labels, strict=True)):
        if a.ndim != 2:
            raise BadInputError(where, f"time point {i} ({label}) has shape {a.shape}", "2-D (cells x features)")
        if a.shape[0] == 0:
            raise BadInputError(where, f"time point {i} ({label}) has no cells", "at least one cell per time point")
        if a.shape[1] != arrays[0].shape[1]:
            raise BadInputError(where, f"time point {i} has {a.shape[1]} features but time point 0 has "
                                f"{arrays[0].shape[1]}", "the same features at every time point")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype.kind == "b") or np.issubdtype(a.dtype, np.complexfloating):
            raise BadInputError(where, f"time point {i} ({label}) is not numeric (dtype {a.dtype})", "real numbers")
        bad = _first_nonfinite_row(a)
        if bad is not None:
            raise BadInputError(where, f"time point {i} ({label}) holds NaN or infinite values, the first in row "
                                f"{bad[0]}, column {bad[1]}", "finite values")
    if times is None:
        tp = np.arange(n_times, dtype=np.float64)
    else:
        try:
            tp = np.asarray(times, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise BadInputError(where, "times is not numeric", "one observation time per array") from None
        if len(tp) != n_times:
            raise BadInputError(where, f"times has {len(tp)} entries but there are {n_times} time points",
                                "one time per time point")
        if not np.isfinite(tp).all():
            raise BadInputError(where, f"times holds NaN or infinite values (entry {int(np.argmin(np.isfinite(tp)))})",
                                "finite times")
        if (np.diff(tp) <= 0).any():
            raise BadInputError(where, f"times {tp.tolist()}", "times strictly increasing (one per time point, in "
                                "order)")
    x = np.concatenate(arrays, axis=0)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    t = np.repeat(tp, [a.shape[0] for a in arrays])
    return x, t


# ---------------------------------------------------------------------------------------------- csv
def _csv_text(path: Path) -> str:
    """The file as text: UTF-8 (a BOM is allowed), no NUL byte, not empty."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(where, f"cannot be read ({exc.strerror or exc})", "a readable CSV file") from None
    if not data.strip():
        raise BadInputError(where, "the file is empty", "a header line and one line per cell")
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    nul = data.find(b"\x00")
    if nul >= 0 or utf16:
        at = 0 if utf16 else nul
        raise BadInputError(where, "a NUL byte" if nul >= 0 and not utf16 else "a UTF-16 byte-order mark", "text",
                            line=data.count(b"\n", 0, at) + 1, offset=at,
                            hint="the file looks UTF-16 encoded: save it as UTF-8" if utf16 or data[:2].count(0)
                            else "the file is binary or damaged")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = exc.start + bom
        raise BadInputError(where, f"the byte 0x{data[at]:02x} is not UTF-8", "UTF-8 text",
                            line=data.count(b"\n", 0, at) + 1, offset=at,
                            hint="save the file as UTF-8 (e.g. latin-1 files: re-encode them)") from None


#: A number whose exponent has six or more digits: pandas' C parser overflows its exponent counter on such a field
#: (``1e9999999999`` crashes the process, pandas 2.3), and no float64 is written so.
_HUGE_EXPONENT = re.compile(r'(?:^|[,"])[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]{6}', re.MULTILINE)


def _check_exponents(text: str, where: str) -> None:
    found = _HUGE_EXPONENT.search(text)
    if found:
        at = found.start() + (1 if text[found.start()] in ',"' else 0)
        token = re.match(r'[^,"\r\n]*', text[at:]).group().strip()
        raise BadInputError(where, f"the number {_show(token)} has an exponent beyond any float64",
                            "numbers within float64 (|exponent| <= 308)", line=text.count("\n", 0, at) + 1,
                            hint="the cell is damaged: correct it")


def _csv_layout(text: str, where: str) -> tuple[list[str], int, np.ndarray]:
    """Header, its line number and the first line of every data row; every row must have one field per column.

    Parsed with the :mod:`csv` module (the quoting rules of :func:`pandas.read_csv`); blank lines are skipped as
    pandas does.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 0
    starts: list[int] = []
    end = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if header is None:
                header, header_line = record, start
                continue
            if len(record) != len(header):
                raise BadInputError(where, f"{len(record)} field(s)", f"{len(header)}, one per column of the header",
                                    line=start, hint="a cell, a separator or a line break is missing or extra")
            starts.append(start)
    except csv.Error as exc:
        raise BadInputError(where, f"unreadable CSV ({exc})", "plain CSV", line=reader.line_num) from None
    if header is None:  # pragma: no cover - the text is not blank
        raise BadInputError(where, "the file is empty", "a header line and one line per cell")
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise BadInputError(where, f"the header names the column(s) {repeated} more than once", "unique column names",
                            line=header_line)
    if not starts:
        raise BadInputError(where, "a header but no data rows", "one line per cell after the header")
    return header, header_line, np.asarray(starts, dtype=np.int64)


def _numbers(series: pd.Series) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """float64 values if every non-empty cell is a number, the mask of number cells and the mask of text cells."""
    present = series.notna().to_numpy()
    if pd.api.types.is_bool_dtype(series):
        return None, np.zeros(len(series), dtype=bool), present
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64), present, np.zeros(len(series), dtype=bool)
    parsed = pd.to_numeric(series, errors="coerce")
    number = parsed.notna().to_numpy()
    text = present & ~number
    return (None if text.any() else parsed.to_numpy(dtype=np.float64)), number, text


def _token_problem(column: str, token: Any) -> str:
    try:
        overflow = not np.isfinite(float(token))
    except (TypeError, ValueError):
        overflow = False
    if overflow:
        return f"column {column!r} holds {_show(token)}, which overflows float64"
    return f"column {column!r} holds the non-number {_show(token)}"


def read_snapshots_csv(
    path: PathLike,
    *,
    time_column: str = K.TIME,
    feature_columns: Sequence[str] | None = None,
    obs_columns: Sequence[str] | None = None,
) -> ad.AnnData:
    """Snapshot data from a CSV file with one row per cell and a column of observation times.

    Which column goes where is decided by the header and the arguments, never by a bad value: with
    ``feature_columns=None`` a column (other than the time column and ``obs_columns``) is a feature when all its
    cells are numbers and metadata (``obs``) when none is; a column that mixes numbers and text (such as a gene
    column with one corrupted cell, ``4.0O69966``) is refused, naming the line and the token.

    Parameters
    ----------
    path
        The CSV file (comma separated, header row, UTF-8; read with :func:`pandas.read_csv`). Every line must have
        one field per header column; blank lines are skipped.
    time_column
        Column holding each row's observation time (numeric).
    feature_columns
        Columns that form the state ``X``, in this order; every other column goes to ``obs``. ``None`` takes every
        all-numeric column other than ``time_column`` and ``obs_columns`` (numeric metadata such as a saved index
        must then be named in ``obs_columns``).
    obs_columns
        Columns to keep as metadata in ``obs`` whatever they hold (numbers, text or a mix).

    Returns
    -------
    AnnData
        ``X`` (float64) from the feature columns, ``obs["time"]`` (float64), every remaining column kept in
        ``obs``, ``var_names`` the feature column names, and ``uns["dynfer_source"]`` (reader, file, sha256, the
        column choices).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    BadInputError
        (a ``ValueError``) naming the file and, where it applies, the line and the token: an empty file, not
        UTF-8 (latin-1, UTF-16: re-save as UTF-8), a NUL byte, a line with too few or too many fields, a column
        named twice in the header, no data rows, ``time_column`` missing, not numeric, NaN or infinite, fewer
        than two distinct times, a column mixing numbers and text (not declared in ``obs_columns``), a feature
        column that is missing, not numeric, or holds NaN (an empty or NA cell) or an infinite value, no feature
        column left, or overlapping column arguments.
    """
    p = _existing_file(path)
    where = str(p)
    text = _csv_text(p)
    header, header_line, starts = _csv_layout(text, where)
    _check_exponents(text, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), index_col=False, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OverflowError) as exc:
        found = re.search(r"(?:line|row) (\d+)", str(exc))
        raise BadInputError(where, f"pandas cannot parse it ({type(exc).__name__}: {exc})", "plain CSV",
                            line=int(found.group(1)) if found else None) from None
    if len(frame) != len(starts) or frame.shape[1] != len(header):
        raise BadInputError(where, f"pandas reads {len(frame)} rows x {frame.shape[1]} columns where the CSV layout "
                            f"has {len(starts)} x {len(header)}", "plain CSV",
                            hint="check the quotes: an unbalanced '\"' joins lines")
    columns = [str(c) for c in frame.columns]
    frame.columns = columns

    def line_of(row: int) -> int:
        return int(starts[row])

    if time_column not in columns:
        raise BadInputError(where, f"column {time_column!r} (time_column) is not in the header",
                            f"one of its columns {columns}", line=header_line)
    declared = [str(c) for c in (obs_columns or ())]
    if obs_columns is not None and isinstance(obs_columns, str):
        raise BadInputError(f"obs_columns must be a list of column names, got the string {obs_columns!r}")
    missing = [c for c in declared if c not in columns]
    if missing:
        raise BadInputError(where, f"obs_columns {missing} are not in the header", f"some of its columns {columns}",
                            line=header_line)
    if time_column in declared:
        raise BadInputError(f"obs_columns must not include the time column {time_column!r}")
    if len(set(declared)) != len(declared):
        raise BadInputError("obs_columns lists a column twice")

    time_values, _, time_text = _numbers(frame[time_column])
    if time_values is None:
        if pd.api.types.is_bool_dtype(frame[time_column]):
            raise BadInputError(where, f"column {time_column!r} (time_column) holds booleans", "numeric times")
        row = int(np.flatnonzero(time_text)[0])
        raise BadInputError(where, f"column {time_column!r} (time_column) holds the non-number "
                            f"{_show(frame[time_column].iloc[row])}", "numeric times", line=line_of(row))
    bad_time = np.flatnonzero(~np.isfinite(time_values))
    if len(bad_time):
        row = int(bad_time[0])
        raise BadInputError(where, f"column {time_column!r} (time_column) holds {_nonfinite_word(time_values[row])}",
                            "a finite time in every row", line=line_of(row))
    _check_two_times(time_values, time_column, "time_column", where)

    values: dict[str, np.ndarray] = {}
    if feature_columns is None:
        features = []
        for c in columns:
            if c == time_column or c in declared:
                continue
            numbers, is_number, is_text = _numbers(frame[c])
            if numbers is not None:
                features.append(c)
                values[c] = numbers
            elif is_number.any():  # a mix: a corrupted number, or metadata that must be declared
                hint = "correct the value, or name the column in obs_columns= to keep it as metadata"
                if is_number.sum() >= is_text.sum():
                    row = int(np.flatnonzero(is_text)[0])
                    raise BadInputError(where, _token_problem(c, frame[c].iloc[row]), "numbers", line=line_of(row),
                                        hint=hint)
                row = int(np.flatnonzero(is_number)[0])
                raise BadInputError(where, f"column {c!r} mixes text with numbers such as "
                                    f"{_show(frame[c].iloc[row])}", "only numbers (a feature) or only text "
                                    "(metadata)", line=line_of(row), hint="name it in obs_columns= to keep it as "
                                    "metadata")
        if not features:
            raise BadInputError(where, f"no numeric column besides {time_column!r} and obs_columns",
                                "at least one feature column")
    else:
        features = [str(c) for c in feature_columns]
        missing = [c for c in features if c not in columns]
        if missing:
            raise BadInputError(where, f"feature_columns {missing} are not in the header",
                                f"some of its columns {columns}", line=header_line)
        if time_column in features:
            raise BadInputError(f"feature_columns must not include the time column {time_column!r}")
        if len(set(features)) != len(features):
            raise BadInputError("feature_columns lists a column twice")
        if not features:
            raise BadInputError("feature_columns is empty; name at least one feature column")
        both = [c for c in features if c in declared]
        if both:
            raise BadInputError(f"columns {both} are in both feature_columns and obs_columns")
        for c in features:
            numbers, _, is_text = _numbers(frame[c])
            if numbers is None:
                if not is_text.any():  # booleans
                    raise BadInputError(where, f"feature column {c!r} holds booleans", "numbers")
                row = int(np.flatnonzero(is_text)[0])
                raise BadInputError(where, "feature " + _token_problem(c, frame[c].iloc[row]), "numbers",
                                    line=line_of(row))
            values[c] = numbers
    x = np.column_stack([values[c] for c in features])
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        row, col = (int(i) for i in bad[0])
        raise BadInputError(where, f"column {features[col]!r} holds {_nonfinite_word(x[row, col])}", "finite numbers",
                            line=line_of(row), hint="fill or drop the cell")
    rest = frame.drop(columns=[*features, time_column])
    if K.TIME in rest.columns:
        raise BadInputError(
            where, f"a non-feature column {K.TIME!r} besides time_column={time_column!r}, which the times would "
            "overwrite", "no other column named 'time'", hint=f"rename it, or pass time_column={K.TIME!r}"
        )
    rest.index = [str(i) for i in range(len(frame))]
    source = _file_source(
        "read_snapshots_csv", p, time_column=time_column, feature_columns=list(features),
        obs_columns=list(declared) if obs_columns is not None else None,
    )
    adata = make_snapshots(x, time_values, var_names=features, obs=rest, source=source)
    return validate_snapshots(adata, K.TIME, min_times=2)
