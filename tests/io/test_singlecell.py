"""Single-cell snapshot adapters: round trips on small files, the staged benchmark files, broken inputs."""

import hashlib
import time

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from dynfer import BadInputError
from dynfer.io import singlecell
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
    with pytest.raises(BadInputError, match=r"cells.csv, line 2: column 'time' \(time_column\) holds the non-number "
                                            r"'a'; expected numeric times"):
        read_snapshots_csv(path)
    with pytest.raises(BadInputError, match=r"cells.csv, line 1: column 'day' \(time_column\) is not in the header"):
        read_snapshots_csv(path, time_column="day")
    with pytest.raises(BadInputError, match=r"line 2: feature column 'tag' holds the non-number 'x'"):
        read_snapshots_csv(path, time_column="g1", feature_columns=["tag"])
    with pytest.raises(BadInputError, match=r"feature_columns \['g9'\] are not in the header"):
        read_snapshots_csv(path, time_column="g1", feature_columns=["g9"])
    pd.DataFrame({"time": [0.0, np.nan, 1], "g1": [1.0, 2, 3]}).to_csv(path, index=False)
    with pytest.raises(BadInputError, match=r"line 3: column 'time' \(time_column\) holds NaN"):
        read_snapshots_csv(path)
    pd.DataFrame({"time": [3.0, 3.0], "g1": [1.0, 2]}).to_csv(path, index=False)
    with pytest.raises(BadInputError, match="1 distinct"):
        read_snapshots_csv(path)


def test_csv_time_column_collision(tmp_path):
    path = tmp_path / "cells.csv"
    pd.DataFrame({"hour": [0, 1, 2], "time": ["a", "b", "c"], "g1": [1.0, 2, 3]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="non-feature column 'time'"):
        read_snapshots_csv(path, time_column="hour")


# ------------------------------------------------------------------------------------------------ bad files fail loudly
def _cells(path, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"time": np.repeat([0.0, 1.0, 2.0], 5), "gene1": rng.normal(size=15).round(7),
                          "gene2": rng.normal(size=15).round(7), "gene3": rng.normal(size=15).round(7),
                          "label": list("abcab" * 3)})
    frame.to_csv(path, index=False)
    return path.read_text().splitlines()


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_corrupted_cell_is_an_error_not_a_moved_column(tmp_path):
    # before: gene3 went to obs (numeric-dtype filter) and X came back with two features, silently
    lines = _cells(tmp_path / "clean.csv")
    fields = lines[11].split(",")
    fields[3] = "4.0O69966"
    path = _write_lines(tmp_path / "cells.csv", lines[:11] + [",".join(fields)] + lines[12:])
    with pytest.raises(BadInputError) as err:
        read_snapshots_csv(path)
    assert str(err.value).startswith(f"{path}, line 12: column 'gene3' holds the non-number '4.0O69966'; expected "
                                     "numbers (")
    assert "obs_columns=" in str(err.value)
    kept = read_snapshots_csv(path, obs_columns=["gene3"])  # declared metadata is kept as it is
    assert list(kept.var_names) == ["gene1", "gene2"] and list(kept.obs["gene3"])[10] == "4.0O69966"
    assert kept.uns["dynfer_source"]["obs_columns"] == ["gene3"]


def test_csv_mixed_metadata_column_must_be_declared(tmp_path):
    lines = _cells(tmp_path / "cells.csv")
    lines[4] = lines[4].rsplit(",", 1)[0] + ",7"
    path = _write_lines(tmp_path / "mixed.csv", lines)
    with pytest.raises(BadInputError, match=r"mixed.csv, line 5: column 'label' mixes text with numbers such as '7'"):
        read_snapshots_csv(path)
    assert list(read_snapshots_csv(path, obs_columns=["label"]).var_names) == ["gene1", "gene2", "gene3"]
    with pytest.raises(BadInputError, match=r"obs_columns \['nope'\] are not in the header"):
        read_snapshots_csv(path, obs_columns=["nope"])
    with pytest.raises(BadInputError, match=r"both feature_columns and obs_columns"):
        read_snapshots_csv(path, feature_columns=["gene1"], obs_columns=["gene1"])
    with pytest.raises(BadInputError, match=r"must not include the time column"):
        read_snapshots_csv(path, obs_columns=["time"])


@pytest.mark.parametrize(("change", "message"), [
    (lambda lines: lines[:6] + [lines[6].rsplit(",", 1)[0]] + lines[7:], r"line 7: 4 field\(s\); expected 5"),
    (lambda lines: lines[:6] + [lines[6] + ",9"] + lines[7:], r"line 7: 6 field\(s\); expected 5"),
    (lambda lines: [lines[0].replace("gene2", "gene1")] + lines[1:],
     r"line 1: the header names the column\(s\) \['gene1'\] more than once"),
    (lambda lines: lines[:1], r"a header but no data rows"),
    (lambda lines: lines[:3] + [lines[3].replace(",", ',"', 1)] + lines[4:], r"pandas|field"),
    (lambda lines: lines[:8] + [lines[8].replace(lines[8].split(",")[2], "")] + lines[9:],
     r"line 9: column 'gene2' holds NaN \(an empty or NA cell\)"),
    (lambda lines: lines[:8] + [lines[8].replace(lines[8].split(",")[1], "inf")] + lines[9:],
     r"line 9: column 'gene1' holds an infinite value"),
    (lambda lines: lines[:8] + [lines[8].replace(lines[8].split(",")[1], "1e999")] + lines[9:],
     r"line 9: column 'gene1' holds '1e999', which overflows float64"),
    # pandas 2.3 crashes the process (segmentation fault) on an exponent of ten digits
    (lambda lines: lines[:8] + [lines[8].replace(lines[8].split(",")[1], "0.3645e239618607573")] + lines[9:],
     r"line 9: the number '0.3645e239618607573' has an exponent beyond any float64"),
])
def test_csv_structure_errors_name_file_and_line(tmp_path, change, message):
    path = _write_lines(tmp_path / "bad.csv", change(_cells(tmp_path / "clean.csv")))
    with pytest.raises(BadInputError, match=message) as err:
        read_snapshots_csv(path)
    assert str(path) in str(err.value)


def test_csv_empty_and_wrong_encodings(tmp_path):
    text = "\n".join(_cells(tmp_path / "clean.csv")) + "\n"
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"empty.csv: the file is empty"):
        read_snapshots_csv(tmp_path / "empty.csv")
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    with pytest.raises(BadInputError, match=r"u16.csv, line 1, byte offset 0: .*UTF-16"):
        read_snapshots_csv(tmp_path / "u16.csv")
    (tmp_path / "latin.csv").write_bytes(text.replace("a\n", "caf\xe9\n", 1).encode("latin-1"))
    with pytest.raises(BadInputError, match=r"latin.csv, line 2, byte offset \d+: the byte 0xe9 is not UTF-8"):
        read_snapshots_csv(tmp_path / "latin.csv")
    (tmp_path / "nul.csv").write_bytes(text.replace("\n", "\n\x00", 2).encode())
    with pytest.raises(BadInputError, match=r"nul.csv, line 2, byte offset \d+: a NUL byte"):
        read_snapshots_csv(tmp_path / "nul.csv")
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # a UTF-8 BOM is fine
    assert list(read_snapshots_csv(tmp_path / "bom.csv").var_names) == ["gene1", "gene2", "gene3"]


def test_npz_damage_names_the_file_and_array(tmp_path):
    arrays = _ragged()
    clean = tmp_path / "snaps.npz"
    np.savez(clean, t0=arrays[0], t1=arrays[1])
    data = clean.read_bytes()
    (tmp_path / "magic.npz").write_bytes(b"QK" + data[2:])  # numpy said "pickled data ... allow_pickle=False"
    with pytest.raises(BadInputError, match=r"magic.npz, byte offset 0: the file starts with .*a zip archive"):
        read_snapshot_arrays(tmp_path / "magic.npz")
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])  # zipfile.BadZipFile
    with pytest.raises(BadInputError, match=r"cut.npz: the archive is damaged"):
        read_snapshot_arrays(tmp_path / "cut.npz")
    at = data.index(arrays[1].tobytes()[:8])  # a flipped byte in t1's values: the zip CRC catches it
    (tmp_path / "flip.npz").write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    with pytest.raises(BadInputError, match=r"flip.npz: array 't1' is damaged \(Bad CRC-32"):
        read_snapshot_arrays(tmp_path / "flip.npz")
    np.save(tmp_path / "s.npy", np.stack([arrays[0][:3], arrays[1][:3]]))
    npy = (tmp_path / "s.npy").read_bytes()
    (tmp_path / "s.npy").write_bytes(npy[:-5])
    with pytest.raises(BadInputError, match=r"s.npy: the array declares shape \(2, 3, 3\) of float64 \(144 bytes of "
                                            r"data\) but holds 139 bytes"):
        read_snapshot_arrays(tmp_path / "s.npy")
    # a damaged shape in the header: numpy read the first 2 x 1 x 3 values and ignored the rest
    (tmp_path / "shape.npy").write_bytes(npy.replace(b"(2, 3, 3)", b"(2, 1, 3)", 1))
    with pytest.raises(BadInputError, match=r"shape.npy: the array declares shape \(2, 1, 3\)"):
        read_snapshot_arrays(tmp_path / "shape.npy")
    end = data.rindex(b"PK\x05\x06")  # the directory record announces 3 arrays, the directory lists 2
    (tmp_path / "count.npz").write_bytes(data[:end + 8] + (3).to_bytes(2, "little") * 2 + data[end + 12:])
    with pytest.raises(BadInputError, match=r"count.npz: the archive lists 2 arrays where its directory record "
                                            r"announces 3"):
        read_snapshot_arrays(tmp_path / "count.npz")
    (tmp_path / "no.npy").write_bytes(b"\x00" + npy[1:])
    with pytest.raises(BadInputError, match=r"no.npy, byte offset 0: the file starts with"):
        read_snapshot_arrays(tmp_path / "no.npy")


def test_npz_nonfinite_and_complex_values_are_refused(tmp_path):
    arrays = _ragged()
    arrays[2][1, 2] = np.inf
    np.savez(tmp_path / "inf.npz", t0=arrays[0], t1=arrays[1], t2=arrays[2])
    with pytest.raises(BadInputError, match=r"inf.npz: time point 2 \(array 't2'\) holds NaN or infinite values, "
                                            r"the first in row 1, column 2"):
        read_snapshot_arrays(tmp_path / "inf.npz")
    np.savez(tmp_path / "c.npz", Xs=np.ones((2, 3, 2), dtype=complex))
    with pytest.raises(BadInputError, match=r"c.npz: time point 0 .* is not numeric \(dtype complex128\)"):
        read_snapshot_arrays(tmp_path / "c.npz")
    np.savez(tmp_path / "t.npz", Xs=np.ones((2, 3, 2)), dts=np.array([0.0, np.nan]))
    with pytest.raises(BadInputError, match=r"t.npz: times holds NaN or infinite values \(entry 1\)"):
        read_snapshot_arrays(tmp_path / "t.npz", key="Xs", times="dts")


def _global_heap_offset(path):
    data = path.read_bytes()
    return data.index(b"GCOL\x01\x00\x00\x00")


def test_h5ad_zeroed_global_heap_fails_fast_instead_of_hanging(tmp_path):
    # before: 64 zero bytes inside the global heap made h5py's attribute read loop for more than 240 s
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, [0, 0, 1, 1, 2, 2], name="time")
    data = bytearray(path.read_bytes())
    at = _global_heap_offset(path) + 64
    data[at:at + 64] = bytes(64)
    path.write_bytes(bytes(data))
    start = time.perf_counter()
    with pytest.raises(BadInputError, match=r"cells.h5ad, byte offset \d+: a global heap object of 0 bytes"):
        read_h5ad_snapshots(path)
    assert time.perf_counter() - start < 5


def test_h5ad_truncated_or_not_hdf5(tmp_path):
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, [0, 0, 1, 1], name="time")
    data = path.read_bytes()
    (tmp_path / "cut.h5ad").write_bytes(data[: len(data) - 100])
    with pytest.raises(BadInputError, match=rf"cut.h5ad: the HDF5 superblock records {len(data)} bytes but the file "
                                            rf"has {len(data) - 100}.*truncated"):
        read_h5ad_snapshots(tmp_path / "cut.h5ad")
    (tmp_path / "text.h5ad").write_text("time,g\n0,1\n")
    with pytest.raises(BadInputError, match=r"text.h5ad: no HDF5 signature at byte 0"):
        read_h5ad_snapshots(tmp_path / "text.h5ad")
    (tmp_path / "empty.h5ad").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"empty.h5ad: no HDF5 signature"):
        read_h5ad_snapshots(tmp_path / "empty.h5ad")


@pytest.mark.filterwarnings("ignore:Element '/x' was written without encoding metadata")
def test_h5ad_library_errors_become_bad_input(tmp_path):
    import h5py

    with h5py.File(tmp_path / "plain.h5ad", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(BadInputError, match=r"plain.h5ad: anndata cannot read it \(TypeError"):
        read_h5ad_snapshots(tmp_path / "plain.h5ad")


def test_h5ad_walk_timeout_and_crash_are_bad_input(tmp_path, monkeypatch):
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, [0, 0, 1, 1], name="time")
    with pytest.raises(BadInputError, match=r"cells.h5ad: HDF5 could not walk the file within 1e-06 s"):
        read_h5ad_snapshots(path, timeout=1e-6)
    assert read_h5ad_snapshots(path).n_obs == 4  # a fresh worker after the killed one
    monkeypatch.setattr(singlecell._PROBER, "probe", lambda p, t: {"crash": -11})
    with pytest.raises(BadInputError, match=r"cells.h5ad: the HDF5 library crashed reading it \(exit status -11\)"):
        read_h5ad_snapshots(path)


def test_h5ad_nonfinite_x_and_obsm_name_the_row(tmp_path):
    adata = ad.AnnData(X=np.ones((4, 2)))
    adata.obs["time"] = [0.0, 0.0, 1.0, 1.0]
    adata.obsm["X_pca"] = np.zeros((4, 2))
    adata.obsm["X_pca"][2, 1] = np.nan
    adata.write_h5ad(tmp_path / "pca.h5ad")
    with pytest.raises(BadInputError, match=r"pca.h5ad: obsm\['X_pca'\] holds NaN .* in row 2 \(obs name '2'\), "
                                            r"column 1"):
        read_h5ad_snapshots(tmp_path / "pca.h5ad")
    import scipy.sparse as sp

    adata = ad.AnnData(X=sp.csr_matrix(np.array([[0.0, 1.0], [0.0, 0.0], [np.inf, 0.0], [1.0, 0.0]])))
    adata.obs["time"] = [0.0, 0.0, 1.0, 1.0]
    adata.write_h5ad(tmp_path / "sparse.h5ad")
    with pytest.raises(BadInputError, match=r"sparse.h5ad: X holds an infinite value in row 2"):
        read_h5ad_snapshots(tmp_path / "sparse.h5ad")
