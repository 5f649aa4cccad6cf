"""Ion-channel readers: ABF, CSV and NPY round trips, and clear errors on broken inputs."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from dynfer.io.ionchannel import read_abf, read_current_trace


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------- ABF
@pytest.fixture
def abf_file(tmp_path):
    pyabf = pytest.importorskip("pyabf")
    from pyabf import abfWriter

    # ABF1 stores int16 counts; with |data| <= 1 the writer's scale is 32768 counts per unit, so k / 32768 round-trips
    rng = np.random.default_rng(0)
    data = (rng.integers(-30000, 30000, size=(3, 1000)) / 32768).astype(np.float32)
    path = tmp_path / "rec.abf"
    abfWriter.writeABF1(data, str(path), 5000.0, "pA")
    assert pyabf.ABF(str(path)).sweepCount == 3
    return path, data


def test_abf_round_trip(abf_file):
    path, data = abf_file
    adata = read_abf(path)
    assert adata.shape == (3000, 1) and list(adata.var_names) == ["current"]
    np.testing.assert_array_equal(adata.X[:, 0], data.reshape(-1).astype(np.float64))
    np.testing.assert_allclose(adata.obs["time"].to_numpy()[:1000], np.arange(1000) / 5000.0)
    assert list(adata.obs["trajectory"].cat.categories) == ["0", "1", "2"]
    src = adata.uns["dynfer_source"]
    assert src["sampling_rate"] == 5000.0 and src["units"] == ["pA"]
    assert src["sha256"] == _sha(path) and src["file"] == str(path)


def test_abf_sweep_subset(abf_file):
    path, data = abf_file
    adata = read_abf(path, sweeps=[2, 0])
    assert list(adata.obs["trajectory"].cat.categories) == ["2", "0"]
    np.testing.assert_array_equal(adata.X[:1000, 0], data[2])
    np.testing.assert_array_equal(adata.X[1000:, 0], data[0])


@pytest.mark.parametrize("kwargs, match", [({"channel": 1}, "channel"), ({"sweeps": [3]}, "sweeps"),
                                           ({"sweeps": []}, "sweeps")])
def test_abf_bad_selection(abf_file, kwargs, match):
    with pytest.raises(ValueError, match=match):
        read_abf(abf_file[0], **kwargs)


def test_abf_broken_files(tmp_path):
    pytest.importorskip("pyabf")
    empty = tmp_path / "empty.abf"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_abf(empty)
    junk = tmp_path / "junk.abf"
    junk.write_bytes(b"not an abf file at all" * 10)
    with pytest.raises(ValueError, match="ABF"):
        read_abf(junk)
    with pytest.raises(FileNotFoundError):
        read_abf(tmp_path / "missing.abf")


def test_abf_without_pyabf(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyabf", None)  # import pyabf now raises ImportError
    with pytest.raises(ImportError, match=r"pip install dynfer\[io\]"):
        read_abf(tmp_path / "x.abf")


# ---------------------------------------------------------------------------------------------------- CSV
def test_csv_single_column_round_trip(tmp_path):
    x = np.random.default_rng(1).normal(size=500)
    path = tmp_path / "trace.csv"
    np.savetxt(path, x, fmt="%.17g")
    adata = read_current_trace(path, sampling_rate=10_000.0)
    assert adata.shape == (500, 1) and list(adata.var_names) == ["current"]
    np.testing.assert_array_equal(adata.X[:, 0], x)
    np.testing.assert_allclose(adata.obs["time"].to_numpy(), np.arange(500) / 10_000.0)
    assert adata.obs["trajectory"].astype(str).unique().tolist() == ["0"]
    src = adata.uns["dynfer_source"]
    assert src["sampling_rate"] == 10_000.0 and src["sha256"] == _sha(path)


def test_csv_named_and_positional_column(tmp_path):
    rng = np.random.default_rng(2)
    t, i = np.arange(50) / 100.0, rng.normal(size=50)
    path = tmp_path / "trace.csv"
    path.write_text("time,current_pA\n" + "".join(f"{a:.17g},{b:.17g}\n" for a, b in zip(t, i, strict=True)))
    by_name = read_current_trace(path, sampling_rate=100.0, column="current_pA")
    by_pos = read_current_trace(path, sampling_rate=100.0, column=1)
    np.testing.assert_array_equal(by_name.X[:, 0], i)
    np.testing.assert_array_equal(by_pos.X[:, 0], i)
    assert list(by_name.var_names) == ["current_pA"]
    with pytest.raises(ValueError, match="2 columns"):
        read_current_trace(path, sampling_rate=100.0)
    with pytest.raises(ValueError, match="'voltage' is not in"):
        read_current_trace(path, sampling_rate=100.0, column="voltage")
    with pytest.raises(ValueError, match="column 5"):
        read_current_trace(path, sampling_rate=100.0, column=5)


def test_csv_broken_inputs(tmp_path):
    nan = tmp_path / "nan.csv"
    nan.write_text("current\n1.0\nnan\n2.0\nNaN\n")
    with pytest.raises(ValueError, match=r"2 NaN or infinite sample\(s\): sweep 0 sample 1, sweep 0 sample 3"):
        read_current_trace(nan, sampling_rate=1.0)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_current_trace(empty, sampling_rate=1.0)
    header_only = tmp_path / "header.csv"
    header_only.write_text("current\n")
    with pytest.raises(ValueError, match="no samples"):
        read_current_trace(header_only, sampling_rate=1.0)
    text = tmp_path / "text.csv"
    text.write_text("current\n1.0\nabc\n")
    with pytest.raises(ValueError, match="non-numeric"):
        read_current_trace(text, sampling_rate=1.0)
    good = tmp_path / "good.csv"
    good.write_text("1.0\n2.0\n")
    for rate in (0.0, -5.0, float("nan"), "fast"):
        with pytest.raises(ValueError, match="sampling_rate"):
            read_current_trace(good, sampling_rate=rate)
    other = tmp_path / "trace.h5"
    other.write_text("x")
    with pytest.raises(ValueError, match="unknown trace format"):
        read_current_trace(other, sampling_rate=1.0)


# ---------------------------------------------------------------------------------------------------- NPY
def test_npy_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    one = rng.normal(size=300)
    np.save(tmp_path / "one.npy", one)
    a = read_current_trace(tmp_path / "one.npy", sampling_rate=5000.0)
    np.testing.assert_array_equal(a.X[:, 0], one)
    sweeps = rng.normal(size=(4, 250)).astype(np.float32)
    np.save(tmp_path / "sweeps.npy", sweeps)
    b = read_current_trace(tmp_path / "sweeps.npy", sampling_rate=5000.0)
    assert b.shape == (1000, 1)
    np.testing.assert_array_equal(b.X[:, 0], sweeps.reshape(-1).astype(np.float64))
    assert list(b.obs["trajectory"].cat.categories) == ["0", "1", "2", "3"]
    np.testing.assert_allclose(b.obs["time"].to_numpy()[250:500], np.arange(250) / 5000.0)


def test_npy_broken_inputs(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="shape"):
        read_current_trace(tmp_path / "cube.npy", sampling_rate=1.0)
    np.save(tmp_path / "empty.npy", np.zeros(0))
    with pytest.raises(ValueError, match="empty"):
        read_current_trace(tmp_path / "empty.npy", sampling_rate=1.0)
    arr = np.ones((2, 10))
    arr[1, 7] = np.nan
    np.save(tmp_path / "nan.npy", arr)
    with pytest.raises(ValueError, match="1 NaN or infinite sample\\(s\\): sweep 1 sample 7"):
        read_current_trace(tmp_path / "nan.npy", sampling_rate=1.0)
    np.save(tmp_path / "ok.npy", np.ones(5))
    with pytest.raises(ValueError, match="column applies to CSV"):
        read_current_trace(tmp_path / "ok.npy", sampling_rate=1.0, column=0)
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    with pytest.raises(ValueError, match="real numbers"):
        read_current_trace(tmp_path / "text.npy", sampling_rate=1.0)


# ---------------------------------------------------------------------------------- damaged files fail loudly
def test_damaged_csv_names_file_and_line(tmp_path):
    from dynfer import BadInputError

    (tmp_path / "latin.csv").write_bytes(b"current\n1.0\n2.0\n3.\xb50\n")
    with pytest.raises(BadInputError, match=r"latin\.csv, line 4: byte 0xb5 is not text"):
        read_current_trace(tmp_path / "latin.csv", sampling_rate=1.0)
    (tmp_path / "ragged.csv").write_text("time,current\n0,1.0\n1,2.0,7\n")
    with pytest.raises(BadInputError, match=r"ragged\.csv: not a table of comma-separated values \(ParserError"):
        read_current_trace(tmp_path / "ragged.csv", sampling_rate=1.0, column="current")
    (tmp_path / "gap.csv").write_text("# rec 3\ntime,current\n0,1.0\n1,\n2,3.0\n")
    with pytest.raises(BadInputError, match=r"gap\.csv, line 4: column 'current' holds a non-numeric value ''"):
        read_current_trace(tmp_path / "gap.csv", sampling_rate=1.0, column="current")
    (tmp_path / "inf.csv").write_text("current\n1.0\n\n2.0\n1e309\n")
    with pytest.raises(BadInputError, match=r"inf\.csv, line 5: 1 NaN or infinite sample"):
        read_current_trace(tmp_path / "inf.csv", sampling_rate=1.0)


def test_damaged_npy_refused(tmp_path):
    from dynfer import BadInputError

    np.save(tmp_path / "ok.npy", np.arange(40.0).reshape(2, 20))
    raw = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-8])
    with pytest.raises(BadInputError, match=r"cut\.npy: not a readable \.npy array"):
        read_current_trace(tmp_path / "cut.npy", sampling_rate=1.0)
    (tmp_path / "short.npy").write_bytes(raw.replace(b"(2, 20)", b"(1, 20)"))  # header now claims half the data
    with pytest.raises(BadInputError, match=r"short\.npy: 448 bytes where the header .* needs 288"):
        read_current_trace(tmp_path / "short.npy", sampling_rate=1.0)
    (tmp_path / "token.npy").write_bytes(raw.replace(b"(2, 20)", b"(2, 20 "))
    with pytest.raises(BadInputError, match=r"token\.npy: not a readable \.npy array \((TokenError|SyntaxError|Value)"):
        read_current_trace(tmp_path / "token.npy", sampling_rate=1.0)


def test_damaged_abf_header_refused_fast(abf_file, tmp_path):
    from dynfer import BadInputError

    path, _ = abf_file
    raw = bytearray(path.read_bytes())
    raw[16:20] = np.array(2**30, dtype="<i4").tobytes()  # lActualEpisodes: pyabf would build a list of 2^30 sweeps
    (tmp_path / "sweeps.abf").write_bytes(bytes(raw))
    with pytest.raises(BadInputError, match=r"sweeps\.abf: the header declares 3000 samples in 1073741824 sweep"):
        read_abf(tmp_path / "sweeps.abf")
    raw = bytearray(path.read_bytes())
    raw[48:52] = np.array(2**28, dtype="<i4").tobytes()  # lNumTagEntries: pyabf would read 2^28 tags, one by one
    (tmp_path / "tags.abf").write_bytes(bytes(raw))
    with pytest.raises(BadInputError, match=r"tags\.abf: the header declares .*, 268435456 tag\(s\), for a file of"):
        read_abf(tmp_path / "tags.abf")
    raw = bytearray(path.read_bytes())
    raw[10:14] = np.array(1974, dtype="<i4").tobytes()  # lActualAcqLength: pyabf would read 3 sweeps of 658 samples
    (tmp_path / "short.abf").write_bytes(bytes(raw))
    with pytest.raises(BadInputError, match=r"short\.abf: the header declares 1974 samples in 3 sweep\(s\) of 1000"):
        read_abf(tmp_path / "short.abf")
    (tmp_path / "cut.abf").write_bytes(path.read_bytes()[:4000])
    with pytest.raises(BadInputError, match=r"cut\.abf: the header declares 3000 samples .* for a file of 4000 bytes"):
        read_abf(tmp_path / "cut.abf")
    with pytest.raises(BadInputError, match=r"sampling_rate: 1e-320: sample 999 / sampling_rate overflows"):
        read_current_trace(_npy_of(tmp_path, 1000), sampling_rate=1e-320)


def _npy_of(folder, n):
    np.save(folder / "n.npy", np.zeros(n))
    return folder / "n.npy"


def test_abf2_section_table_check(tmp_path):
    import struct

    from dynfer import BadInputError
    from dynfer.io.ionchannel import _check_abf_header

    def abf2(count: int, sweeps: int = 1) -> bytes:
        head = bytearray(1024)
        head[:4] = b"ABF2"
        struct.pack_into("<I", head, 12, sweeps)
        struct.pack_into("<IIi", head, 236, 2, 2, count)  # data section: block 2, int16 samples
        return bytes(head) + bytes(2 * 100)

    (tmp_path / "ok.abf").write_bytes(abf2(100))
    _check_abf_header(tmp_path / "ok.abf")  # consistent: left to pyabf
    (tmp_path / "big.abf").write_bytes(abf2(2**30))
    with pytest.raises(BadInputError, match=r"big\.abf: the header declares section table entries at bytes \[236\]"):
        _check_abf_header(tmp_path / "big.abf")
    (tmp_path / "sweeps.abf").write_bytes(abf2(100, sweeps=101))
    with pytest.raises(BadInputError, match=r"sweeps\.abf: the header declares 100 data samples of 2 bytes in 101"):
        _check_abf_header(tmp_path / "sweeps.abf")
