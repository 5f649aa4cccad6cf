"""split_timepoints: the odd hold-out protocol, listed hold-outs, copy semantics and errors."""

import numpy as np
import pytest

from dynfer.io import make_snapshots
from dynfer.pp._split import split_timepoints


def _snapshots(times, per=3):
    t = np.repeat(np.asarray(times, dtype=float), per)
    return make_snapshots(np.random.default_rng(0).normal(size=(len(t), 2)), t)


def test_odd_holdout_on_eleven_time_points():
    adata = _snapshots(np.arange(11) * 0.8)  # GoM-like grid 0, 0.8, ..., 8
    split_timepoints(adata)
    held = adata.obs["split"] == "heldout"
    index = np.searchsorted(np.unique(adata.obs["time"]), adata.obs["time"][held])
    assert sorted(set(index.tolist())) == [1, 3, 5, 7, 9]
    assert list(adata.obs["split"].cat.categories) == ["train", "heldout"]
    np.testing.assert_allclose(adata.uns["split"]["train_times"], np.arange(0, 11, 2) * 0.8)
    np.testing.assert_allclose(adata.uns["split"]["heldout_times"], np.arange(1, 11, 2) * 0.8)


def test_odd_uses_distinct_sorted_times_not_row_order():
    adata = _snapshots([5.0, 0.0, 2.0, 1.0])  # rows not in time order
    out = split_timepoints(adata, copy=True)
    held = sorted(set(out.obs["time"][out.obs["split"] == "heldout"]))
    assert held == [1.0, 5.0]  # sorted distinct times 0, 1, 2, 5: indices 1 and 3


def test_listed_holdout_and_float32_times():
    times = np.arange(5, dtype=np.float32) * np.float32(0.05)
    adata = _snapshots(times.astype(np.float64))
    out = split_timepoints(adata, holdout=[0.1, 0.15], key_added="fold", copy=True)
    held = out.obs["time"][out.obs["fold"] == "heldout"].to_numpy()
    np.testing.assert_allclose(np.unique(held), times[[2, 3]])
    assert "fold" not in adata.obs  # copy=True leaves the input alone


def test_errors_and_input_untouched():
    adata = _snapshots([0.0, 1.0])
    with pytest.raises(ValueError, match="2 distinct time"):
        split_timepoints(adata)
    adata = _snapshots([0.0, 1.0, 2.0, 3.0])
    before = adata.copy()
    with pytest.raises(ValueError, match="holdout time 1.5 is not one of the time points"):
        split_timepoints(adata, holdout=[1.0, 1.5])
    with pytest.raises(ValueError, match="holdout must be 'odd'"):
        split_timepoints(adata, holdout="even")
    with pytest.raises(ValueError, match="1 training time point"):
        split_timepoints(adata, holdout=[0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"no column 'day' \(time_key\)"):
        split_timepoints(adata, time_key="day")
    assert list(adata.obs.columns) == list(before.obs.columns)
    assert "split" not in adata.uns


def test_lv_benchmark_split(shared_data):
    from dynfer.io.singlecell import read_snapshot_arrays

    adata = read_snapshot_arrays(shared_data / "mmtraj_benchmarks" / "LV_data.npz", key="Xs", times="dts")
    split_timepoints(adata)
    np.testing.assert_array_equal(adata.uns["split"]["heldout_times"], [1.0, 3.0, 5.0, 7.0, 9.0])
    assert (adata.obs["split"] == "train").sum() == 6 * 200
