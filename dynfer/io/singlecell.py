"""Single-cell snapshot adapters: ``.h5ad``, per-time-point arrays (``.npz`` / ``.npy`` / lists) and CSV to AnnData.

Every reader returns AnnData in dynfer's snapshot model (see :mod:`dynfer._keys`): the state in ``X``, the
observation time in ``obs["time"]`` (float64), at least two distinct time points, and a provenance record in
``uns["dynfer_source"]`` (reader, file, sha256 and the options used).
"""

from __future__ import annotations

import os
import re
import warnings
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


def _column_times(values: pd.Series, column: str, arg: str) -> np.ndarray:
    """A column as finite float64 times, or a ValueError that names the column and the argument."""
    series = values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values
    if pd.api.types.is_bool_dtype(series):
        raise BadInputError(f"column {column!r} ({arg}) must hold numeric times, got booleans")
    try:
        times = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        bad = [v for v in series.unique()[:50] if pd.isna(pd.to_numeric(pd.Series([v]), errors="coerce")).all()]
        example = ", ".join(repr(v) for v in bad[:3])
        raise BadInputError(
            f"column {column!r} ({arg}) must hold numeric times; it has non-numeric values such as {example}"
        ) from None
    n_bad = int((~np.isfinite(times)).sum())
    if n_bad:
        raise BadInputError(f"column {column!r} ({arg}) has {n_bad} NaN or infinite time(s); every row needs a time")
    n_distinct = len(np.unique(times))
    if n_distinct < 2:
        raise BadInputError(
            f"column {column!r} ({arg}) has {n_distinct} distinct time(s); snapshot data need at least two"
        )
    return times


# ---------------------------------------------------------------------------------------------- h5ad
def read_h5ad_snapshots(path: PathLike, *, time_key: str = K.TIME) -> ad.AnnData:
    """Read an ``.h5ad`` file as snapshot data, with ``obs[time_key]`` copied to ``obs["time"]`` as float.

    Parameters
    ----------
    path
        The ``.h5ad`` file (read fully into memory with :func:`anndata.read_h5ad`).
    time_key
        Column of ``obs`` holding each cell's observation time (numbers, numeric strings or a categorical of
        them, e.g. collection day).

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
    ValueError
        If ``obs[time_key]`` is missing, not numeric, holds NaN, or has fewer than two distinct values.
    """
    p = _existing_file(path)
    adata = ad.read_h5ad(p)
    if time_key not in adata.obs:
        raise BadInputError(
            f"adata.obs has no column {time_key!r} (time_key); columns: {list(adata.obs.columns)}"
        )
    times = _column_times(adata.obs[time_key], time_key, "time_key")
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
def _split_stacked(arr: np.ndarray, where: str) -> list[np.ndarray]:
    """One 2-D array per time point from a stacked [T, n, d] array or a 1-D object array of 2-D arrays."""
    if arr.dtype == object:
        if arr.ndim != 1:
            raise BadInputError(f"{where}: an object array must be one-dimensional (one entry per time point)")
        return [np.asarray(a) for a in arr]
    if arr.ndim == 3:
        return list(arr)
    raise BadInputError(
        f"{where}: expected a stacked array of shape (n_times, n_cells, n_features) or an object array of "
        f"per-time-point arrays, got shape {arr.shape}"
    )


def _load_npz(path: Path, key: str | None, times: Any, allow_pickle: bool) -> tuple[list[np.ndarray], Any, list]:
    with np.load(path, allow_pickle=allow_pickle) as npz:
        files = list(npz.files)
        if isinstance(times, str):
            if times not in files:
                raise BadInputError(f"times: {path.name} has no array {times!r}; arrays: {files}")
            times = np.asarray(npz[times])
        if key is not None:
            if key not in files:
                raise BadInputError(f"key: {path.name} has no array {key!r}; arrays: {files}")
            return _split_stacked(_load_member(npz, key, path), f"{path.name}[{key!r}]"), times, [key]
        if len(files) == 1:
            return _split_stacked(_load_member(npz, files[0], path), f"{path.name}[{files[0]!r}]"), times, files
        names = sorted(files, key=_natural_key)
        arrays = [_load_member(npz, name, path) for name in names]
        not_2d = [name for name, a in zip(names, arrays, strict=True) if a.ndim != 2]
        if not_2d:
            hint = " (the benchmark files keep their snapshots under key='Xs')" if "Xs" in files else ""
            raise BadInputError(
                f"key: {path.name} holds several arrays and {not_2d} are not 2-D (cells x features), so they "
                f"cannot be one array per time point; pass key= naming the array of snapshots{hint}"
            )
        return arrays, times, names


def _load_member(npz: Any, name: str, path: Path) -> np.ndarray:
    try:
        return np.asarray(npz[name])
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise BadInputError(
                f"{path.name}[{name!r}] is an object array, which numpy stores with pickle; pass allow_pickle=True "
                "if you trust the file"
            ) from None
        raise


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
    ValueError
        If ``key`` or a named ``times`` array is missing, an entry is not 2-D, the time points differ in their
        number of features, a time point is empty, ``times`` has the wrong length or is not strictly increasing,
        there are fewer than two time points, or the data hold NaN.
    """
    path: Path | None = None
    names: list[str] | None = None
    times_name = times if isinstance(times, str) else None
    if isinstance(path_or_arrays, str | os.PathLike):
        path = _existing_file(path_or_arrays, "path_or_arrays")
        suffix = path.suffix.lower()
        if suffix == ".npz":
            arrays, times, names = _load_npz(path, key, times, allow_pickle)
        elif suffix == ".npy":
            if key is not None or isinstance(times, str):
                raise BadInputError("key and a named times array apply to .npz files only, not to .npy files")
            try:
                raw = np.load(path, allow_pickle=allow_pickle)
            except ValueError as err:
                if "allow_pickle" not in str(err):
                    raise
                raise BadInputError(
                    f"{path.name} holds an object array, which numpy stores with pickle; pass allow_pickle=True if "
                    "you trust the file"
                ) from None
            arrays = _split_stacked(np.asarray(raw), path.name)
        else:
            raise BadInputError(f"path_or_arrays: expected a .npz or .npy file, got {path.name!r}")
    else:
        if key is not None or isinstance(times, str):
            raise BadInputError("key and a named times array apply to .npz files only, not to in-memory arrays")
        if isinstance(path_or_arrays, np.ndarray):
            arrays = _split_stacked(path_or_arrays, "path_or_arrays")
        else:
            arrays = [np.asarray(a) for a in path_or_arrays]

    x, t = _stack(arrays, times)
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


def _stack(arrays: list[np.ndarray], times: Any) -> tuple[np.ndarray, np.ndarray]:
    n_times = len(arrays)
    if n_times < 2:
        raise BadInputError(f"path_or_arrays holds {n_times} time point(s); snapshot data need at least two")
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise BadInputError(f"path_or_arrays: time point {i} must be 2-D (cells x features), got shape {a.shape}")
        if a.shape[0] == 0:
            raise BadInputError(f"path_or_arrays: time point {i} has no cells")
        if a.shape[1] != arrays[0].shape[1]:
            raise BadInputError(
                f"path_or_arrays: time point {i} has {a.shape[1]} features but time point 0 has "
                f"{arrays[0].shape[1]}; every time point needs the same features"
            )
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise BadInputError(f"path_or_arrays: time point {i} is not numeric (dtype {a.dtype})")
    if times is None:
        tp = np.arange(n_times, dtype=np.float64)
    else:
        try:
            tp = np.asarray(times, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise BadInputError("times must be numeric (one observation time per array)") from None
        if len(tp) != n_times:
            raise BadInputError(f"times has {len(tp)} entries but there are {n_times} time points")
        if not np.isfinite(tp).all():
            raise BadInputError("times holds NaN or infinite values")
        if (np.diff(tp) <= 0).any():
            raise BadInputError(f"times must be strictly increasing (one per time point, in order), got {tp.tolist()}")
    x = np.concatenate(arrays, axis=0)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    t = np.repeat(tp, [a.shape[0] for a in arrays])
    return x, t


# ---------------------------------------------------------------------------------------------- csv
def read_snapshots_csv(
    path: PathLike,
    *,
    time_column: str = K.TIME,
    feature_columns: Sequence[str] | None = None,
) -> ad.AnnData:
    """Snapshot data from a CSV file with one row per cell and a column of observation times.

    Parameters
    ----------
    path
        The CSV file (comma separated, header row; read with :func:`pandas.read_csv`).
    time_column
        Column holding each row's observation time (numeric).
    feature_columns
        Columns that form the state ``X``, in this order. ``None`` takes every numeric column other than
        ``time_column`` (so numeric metadata such as a saved index must be excluded by naming the features).

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
    ValueError
        If ``time_column`` or a feature column is missing or not numeric, a time is NaN, there are fewer than two
        distinct times, no feature column is left, or a feature value is NaN.
    """
    p = _existing_file(path)
    frame = pd.read_csv(p)
    if time_column not in frame.columns:
        raise BadInputError(
            f"column {time_column!r} (time_column) is not in {p.name}; columns: {list(frame.columns)}"
        )
    times = _column_times(frame[time_column], time_column, "time_column")
    if feature_columns is None:
        features = [
            c for c in frame.columns
            if c != time_column and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        if not features:
            raise BadInputError(f"{p.name} has no numeric column besides {time_column!r} to use as features")
    else:
        features = [str(c) for c in feature_columns]
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise BadInputError(f"feature_columns {missing} are not in {p.name}; columns: {list(frame.columns)}")
        if time_column in features:
            raise BadInputError(f"feature_columns must not include the time column {time_column!r}")
        if len(set(features)) != len(features):
            raise BadInputError("feature_columns lists a column twice")
        if not features:
            raise BadInputError("feature_columns is empty; name at least one feature column")
        non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        if non_numeric:
            raise BadInputError(f"feature_columns {non_numeric} are not numeric in {p.name}")
    x = frame[features].to_numpy(dtype=np.float64)
    n_nan = int((~np.isfinite(x)).sum())
    if n_nan:
        bad = [c for c in features if not np.isfinite(frame[c].to_numpy(dtype=np.float64)).all()]
        raise BadInputError(f"feature columns {bad} hold {n_nan} NaN or infinite value(s) in {p.name}")
    rest = frame.drop(columns=[*features, time_column])
    if K.TIME in rest.columns:
        raise BadInputError(
            f"{p.name} has a non-feature column {K.TIME!r} besides time_column={time_column!r}; it would be "
            f"overwritten by the times: rename it, or pass time_column={K.TIME!r}"
        )
    rest.index = [str(i) for i in range(len(frame))]
    source = _file_source(
        "read_snapshots_csv", p, time_column=time_column, feature_columns=list(features)
    )
    adata = make_snapshots(x, times, var_names=features, obs=rest, source=source)
    return validate_snapshots(adata, K.TIME, min_times=2)
