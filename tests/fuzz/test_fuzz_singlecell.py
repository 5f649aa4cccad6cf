"""Property-based fuzzing of the single-cell readers: CSV snapshots, per-time arrays (``.npz`` / ``.npy``) and h5ad.

Each public reader of ``dynfer.io.singlecell`` (``read_snapshots_csv``, ``read_snapshot_arrays`` on every file layout
it accepts, ``read_h5ad_snapshots``) gets a small clean file written here, damaged by hypothesis (truncation, byte
flips, deleted or duplicated lines or chunks, NaN / inf / garbage tokens or bit patterns, an empty file, a wrong
encoding); it must raise :class:`dynfer.BadInputError` naming the file or return data of the clean file's shape and
structure with every value finite (see ``test_fuzz_activematter.py``, which holds the mutation engine). On top of
that engine's checks, a CSV read must keep every clean feature column in ``X`` and every clean metadata column in
``obs`` (under the name the damaged header gives it), so a column is never moved or dropped silently; an h5ad read
must keep the numbers of features, obs columns and obsm arrays. Names are compared up to renaming: a flipped byte
inside a CSV header cell or an HDF5 link name (HDF5 metadata carries no checksum) gives a valid file with another
name.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynfer.io.singlecell import read_h5ad_snapshots, read_snapshot_arrays, read_snapshots_csv

_SHARED = Path(__file__).with_name("test_fuzz_activematter.py")
_spec = importlib.util.spec_from_file_location("_dynfer_fuzz_shared", _SHARED)
shared = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
if not hasattr(shared, "Case"):
    _spec.loader.exec_module(shared)

#: The h5ad walk runs in a worker under this budget (the default is 60 s); a hang would fail the 2 s deadline.
H5AD_TIMEOUT = 1.5


# ------------------------------------------------------------------------------------------------ clean files
def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 12
    return pd.DataFrame({"time": np.repeat([0.0, 0.5, 2.0], 4), "gene1": rng.normal(size=n),
                         "gene2": rng.gamma(2.0, size=n), "gene3": rng.normal(size=n).round(3),
                         "label": [f"type{c}" for c in "ABCABCABCABC"],
                         "batch": ["1", "2", "2b"] * 4})  # numbers and text: metadata only when declared


def _csv(folder: Path) -> Path:
    path = folder / "cells.csv"
    _frame().drop(columns="batch").to_csv(path, index=False)
    return path


def _csv_declared(folder: Path) -> Path:
    path = folder / "declared.csv"
    _frame(1).to_csv(path, index=False)
    return path


def _header(adata: ad.AnnData) -> list[str]:
    """The header of the (damaged) file that was read, as the csv module splits it."""
    text = Path(adata.uns["dynfer_source"]["file"]).read_bytes().decode("utf-8-sig")
    return next(row for row in csv.reader(io.StringIO(text, newline="")) if row and "".join(row).strip())


def _csv_columns(features: list[int], obs: list[int]):
    """Check: the clean file's feature columns (by position) are X, its metadata columns obs, whatever their names."""

    def check(adata: ad.AnnData) -> str | None:
        header = _header(adata)
        want_x, want_obs = [header[i] for i in features], {header[i] for i in obs} | {"time"}
        if list(adata.var_names) != want_x:
            return f"X has columns {list(adata.var_names)}, the file's features are {want_x}"
        if set(adata.obs.columns) != want_obs:
            return f"obs has columns {sorted(adata.obs.columns)}, expected {sorted(want_obs)}"
        return None

    return check


def _npz_per_time(folder: Path) -> Path:
    rng = np.random.default_rng(2)
    path = folder / "snaps.npz"
    np.savez(path, t0=rng.normal(size=(5, 3)), t1=rng.normal(size=(4, 3)), t2=rng.normal(size=(6, 3)))
    return path


def _npz_key(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    path = folder / "bench.npz"
    np.savez_compressed(path, Xs=rng.normal(size=(3, 5, 2)).astype(np.float32), dts=np.array([0.0, 1.0, 3.0]))
    return path


def _npy(folder: Path) -> Path:
    path = folder / "stacked.npy"
    np.save(path, np.random.default_rng(4).normal(size=(3, 4, 2)))
    return path


def _h5ad(folder: Path) -> Path:
    rng = np.random.default_rng(5)
    adata = ad.AnnData(X=rng.normal(size=(12, 3)).astype(np.float32))
    adata.obs["time"] = np.repeat([0.0, 1.0, 2.0], 4)
    adata.obs["label"] = pd.Categorical(list("abcabcabcabc"))
    adata.obsm["X_pca"] = rng.normal(size=(12, 2))
    path = folder / "cells.h5ad"
    adata.write_h5ad(path)
    return path


def _read_h5ad(path: Path) -> ad.AnnData:
    adata = read_h5ad_snapshots(path, timeout=H5AD_TIMEOUT)
    if len(adata.obsm) == 1:  # a flipped byte in the link name renames the array: compare it under its clean name
        (key,) = adata.obsm.keys()
        adata.obsm["X_pca"] = adata.obsm.pop(key)
    return adata


def _h5ad_structure(adata: ad.AnnData) -> str | None:
    if adata.n_vars != 3 or len(adata.obs.columns) != 2 or len(adata.obsm) != 1:
        return f"{adata.n_vars} features, obs columns {list(adata.obs.columns)}, obsm {list(adata.obsm)}"
    return None


CASES = [
    shared.Case("csv", _csv, read_snapshots_csv, ".csv", count_free=True, loose_count=True,
         check=_csv_columns([1, 2, 3], [4])),
    shared.Case("csv_obs_columns", _csv_declared, lambda p: read_snapshots_csv(p, obs_columns=["batch"]), ".csv",
         count_free=True, loose_count=True, check=_csv_columns([1, 2, 3], [4, 5])),
    shared.Case("npz_per_time", _npz_per_time, read_snapshot_arrays, ".npz", binary=True),
    shared.Case("npz_key_compressed", _npz_key, lambda p: read_snapshot_arrays(p, key="Xs", times="dts"), ".npz",
         binary=True),
    shared.Case("npy_stacked", _npy, read_snapshot_arrays, ".npy", binary=True),
    shared.Case("h5ad", _h5ad, _read_h5ad, ".h5ad", binary=True, check=_h5ad_structure),
]

clean_files, test_fuzz_singlecell_readers, test_fuzz_singlecell_readers_slow = shared.fuzz_tests(CASES)


# ------------------------------------------------------------------------------------------------ zeroed blocks
BINARY = [c for c in CASES if c.binary]


def zero_block(data: bytes, offset: int, length: int = 64) -> bytes:
    """``length`` zero bytes written over ``data`` at ``offset`` (modulo its size): the damage of the issue's hang."""
    k = offset % max(len(data), 1)
    return (data[:k] + bytes(length) + data[k + length:])[:len(data)]


def _zeroed_blocks(n: int, slow: bool):
    @pytest.mark.parametrize("case", BINARY, ids=[c.name for c in BINARY])
    @settings(max_examples=n, derandomize=True, deadline=2000, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(offset=st.integers(0, 2**20))
    def test(case, clean_files, offset):
        """64 zero bytes anywhere (an h5ad zeroed inside its global heap made the HDF5 library loop for > 240 s)."""
        folder, path, clean = clean_files[case.name]
        mutant = folder / f"zeroed{case.suffix}"
        mutant.write_bytes(zero_block(path.read_bytes(), offset))
        outcome = shared.judge(case, clean, lambda: case.read(mutant), mutant.name, ("zero", offset, 64))
        assert outcome in ("error", "data"), outcome

    return pytest.mark.slow(test) if slow else test


test_fuzz_singlecell_zeroed_blocks = _zeroed_blocks(100, slow=False)
test_fuzz_singlecell_zeroed_blocks_slow = _zeroed_blocks(2000, slow=True)
