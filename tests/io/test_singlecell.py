"""Single-cell snapshot adapters: round trips on small files, the staged benchmark files, broken inputs."""

import hashlib

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from dynfer.io.singlecell import read_h5ad_snapshots, read_snapshot_arrays, read_snapshots_csv


def _ragged(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 3)) for n in (5, 8, 3, 6)]


# ------------------------------------------------------------------------------------------------ h5ad
def _write_h5ad(path, obs_time, name="day"):
    n = len(obs_time)
    adata = ad.AnnData(X=np.arange(n * 2, dtype=np.float32).reshape(n, 2))
    adata.obs[name] = obs_time
    adata.write_h5ad(path)
    return adata


def test_h5ad_round_trip(tmp_path):
    path = tmp_path / "cells.h5ad"
    original = _write_h5ad(path, [0, 0, 2, 2, 5])
    adata = read_h5ad_snapshots(path, time_key="day")
    np.testing.assert_array_equal(adata.X, original.X)
    assert adata.obs["time"].dtype == np.float64
    np.testing.assert_array_equal(adata.obs["time"], [0.0, 0.0, 2.0, 2.0, 5.0])
    assert "day" in adata.obs
    src = adata.uns["dynfer_source"]
    assert src["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert src["time_key"] == "day"


def test_h5ad_categorical_numeric_strings(tmp_path):
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, pd.Categorical(["1.5", "1.5", "3", "3"]))
    adata = read_h5ad_snapshots(path, time_key="day")
    np.testing.assert_array_equal(adata.obs["time"], [1.5, 1.5, 3.0, 3.0])


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (["d0", "d0", "d1"], "non-numeric"),
        ([0.0, np.nan, 1.0], "NaN"),
        ([1.0, 1.0, 1.0], "1 distinct"),
    ],
)
def test_h5ad_bad_times_name_the_column(tmp_path, times, message):
    path = tmp_path / "bad.h5ad"
    _write_h5ad(path, times)
    with pytest.raises(ValueError, match=message) as err:
        read_h5ad_snapshots(path, time_key="day")
    assert "'day'" in str(err.value)


def test_h5ad_missing_time_column(tmp_path):
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, [0, 1])
    with pytest.raises(ValueError, match=r"no column 'hours' \(time_key\)"):
        read_h5ad_snapshots(path, time_key="hours")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        read_h5ad_snapshots(tmp_path / "nope.h5ad")


# ------------------------------------------------------------------------------------------------ arrays
def _check_ragged(adata, arrays, times):
    np.testing.assert_allclose(adata.X, np.concatenate(arrays))
    np.testing.assert_array_equal(adata.obs["time"], np.repeat(times, [len(a) for a in arrays]))


def test_npz_one_array_per_time_natural_order(tmp_path):
    arrays = _ragged()
    path = tmp_path / "snaps.npz"
    # keys t0, t1, t2, t10: natural order puts t10 last (lexicographic order would not)
    np.savez(path, t10=arrays[3], t0=arrays[0], t2=arrays[2], t1=arrays[1])
    adata = read_snapshot_arrays(path)
    _check_ragged(adata, arrays, [0.0, 1.0, 2.0, 3.0])
    src = adata.uns["dynfer_source"]
    assert src["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert list(src["keys"]) == ["t0", "t1", "t2", "t10"]


def test_npz_object_array_under_key_with_times(tmp_path):
    arrays = _ragged(1)
    obj = np.empty(len(arrays), dtype=object)
    obj[:] = arrays
    path = tmp_path / "snaps.npz"
    np.savez(path, Xs=obj, hours=np.array([0.0, 0.5, 2.0, 4.0]))
    with pytest.raises(ValueError, match="allow_pickle=True"):
        read_snapshot_arrays(path, key="Xs")
    adata = read_snapshot_arrays(path, key="Xs", times="hours", allow_pickle=True)
    _check_ragged(adata, arrays, [0.0, 0.5, 2.0, 4.0])
    assert adata.uns["dynfer_source"]["times_key"] == "hours"


def test_npy_object_array_and_stacked(tmp_path):
    arrays = _ragged(2)
    obj = np.empty(len(arrays), dtype=object)
    obj[:] = arrays
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    adata = read_snapshot_arrays(tmp_path / "obj.npy", times=[1, 2, 3, 4], allow_pickle=True)
    _check_ragged(adata, arrays, [1.0, 2.0, 3.0, 4.0])

    stacked = np.random.default_rng(3).normal(size=(3, 4, 2)).astype(np.float32)
    np.save(tmp_path / "stacked.npy", stacked)
    adata = read_snapshot_arrays(tmp_path / "stacked.npy")
    assert adata.X.dtype == np.float32
    _check_ragged(adata, list(stacked), [0.0, 1.0, 2.0])


def test_python_list():
    arrays = _ragged(4)
    adata = read_snapshot_arrays(arrays, times=np.array([0.0, 1.0, 1.5, 9.0]))
    _check_ragged(adata, arrays, [0.0, 1.0, 1.5, 9.0])
    assert adata.uns["dynfer_source"]["file"] is None


def test_array_errors(tmp_path):
    arrays = _ragged()
    path = tmp_path / "snaps.npz"
    np.savez(path, Xs=np.zeros((3, 4, 2)), dts=np.arange(3.0), N_steps=3)
    with pytest.raises(ValueError, match=r"key: .*'missing'"):
        read_snapshot_arrays(path, key="missing")
    with pytest.raises(ValueError, match=r"pass key=.*'Xs'"):
        read_snapshot_arrays(path)
    with pytest.raises(ValueError, match=r"times: .*'hours'"):
        read_snapshot_arrays(path, key="Xs", times="hours")
    with pytest.raises(ValueError, match="time point 1 has 2 features but time point 0 has 3"):
        read_snapshot_arrays([arrays[0], np.zeros((4, 2))])
    with pytest.raises(ValueError, match="times has 3 entries but there are 4"):
        read_snapshot_arrays(arrays, times=[0, 1, 2])
    with pytest.raises(ValueError, match="strictly increasing"):
        read_snapshot_arrays(arrays, times=[0, 2, 1, 3])
    with pytest.raises(ValueError, match="at least two"):
        read_snapshot_arrays([arrays[0]])
    with pytest.raises(ValueError, match="2-D"):
        read_snapshot_arrays([arrays[0], np.zeros(4)])
    with pytest.raises(ValueError, match="NaN"):
        read_snapshot_arrays([arrays[0], np.full((2, 3), np.nan)])


def test_lv_benchmark_file(shared_data):
    path = shared_data / "mmtraj_benchmarks" / "LV_data.npz"
    adata = read_snapshot_arrays(path, key="Xs", times="dts")
    assert adata.shape == (11 * 200, 2)
    np.testing.assert_array_equal(np.unique(adata.obs["time"]), np.arange(11.0))
    assert np.bincount(adata.obs["time"].to_numpy().astype(int)).tolist() == [200] * 11
    with np.load(path) as npz:
        np.testing.assert_array_equal(adata.X[200:400], npz["Xs"][1])
    assert len(adata.uns["dynfer_source"]["sha256"]) == 64


def test_pbmc_benchmark_file(shared_data):
    path = shared_data / "pbmc_timecourse_nc" / "processed_pbmc_data_sub500_every_2_until20.npz"
    adata = read_snapshot_arrays(path, key="Xs")
    assert adata.shape == (21 * 500, 30)
    assert adata.X.dtype == np.float64
    np.testing.assert_array_equal(np.unique(adata.obs["time"]), np.arange(21.0))


# ------------------------------------------------------------------------------------------------ csv
def test_csv_round_trip(tmp_path):
    frame = pd.DataFrame(
        {"hour": [0, 0, 1, 1, 2], "g1": [1.0, 2, 3, 4, 5], "g2": [0.5, 0, 1, 1, 2], "label": list("abcab")}
    )
    path = tmp_path / "cells.csv"
    frame.to_csv(path, index=False)
    adata = read_snapshots_csv(path, time_column="hour")
    assert list(adata.var_names) == ["g1", "g2"]
    np.testing.assert_array_equal(adata.X, frame[["g1", "g2"]].to_numpy())
    np.testing.assert_array_equal(adata.obs["time"], [0.0, 0, 1, 1, 2])
    assert list(adata.obs["label"]) == list("abcab")
    only = read_snapshots_csv(path, time_column="hour", feature_columns=["g2"])
    assert list(only.var_names) == ["g2"]
    assert "g1" in only.obs


def test_csv_errors(tmp_path):
    path = tmp_path / "cells.csv"
    pd.DataFrame({"time": ["a", "b", "c"], "g1": [1.0, 2, 3], "tag": ["x", "y", "z"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"column 'time' \(time_column\) must hold numeric"):
        read_snapshots_csv(path)
    with pytest.raises(ValueError, match=r"column 'day' \(time_column\) is not in"):
        read_snapshots_csv(path, time_column="day")
    with pytest.raises(ValueError, match=r"feature_columns \['tag'\] are not numeric"):
        read_snapshots_csv(path, time_column="g1", feature_columns=["tag"])
    with pytest.raises(ValueError, match=r"feature_columns \['g9'\] are not in"):
        read_snapshots_csv(path, time_column="g1", feature_columns=["g9"])
    pd.DataFrame({"time": [0.0, np.nan, 1], "g1": [1.0, 2, 3]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'time' \(time_column\) has 1 NaN"):
        read_snapshots_csv(path)
    pd.DataFrame({"time": [3.0, 3.0], "g1": [1.0, 2]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="1 distinct"):
        read_snapshots_csv(path)


def test_csv_time_column_collision(tmp_path):
    path = tmp_path / "cells.csv"
    pd.DataFrame({"hour": [0, 1, 2], "time": ["a", "b", "c"], "g1": [1.0, 2, 3]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="non-feature column 'time'"):
        read_snapshots_csv(path, time_column="hour")
