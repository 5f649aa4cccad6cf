"""read_mocap35: the real file through the shared_data fixture, a synthetic v7.3 (HDF5) file, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from dynfer.io.mocap import MOCAP35_FRAME_RATE, read_mocap35


@pytest.fixture
def mat(shared_data):
    path = shared_data / "mocap35" / "mocap35.mat"
    if not path.is_file():
        pytest.skip(f"{path} not in the shared data mirror")
    return path


def test_train_values_and_model(mat):
    raw = scipy.io.loadmat(str(mat))
    adata = read_mocap35(mat)
    assert adata.shape == (16 * 300, 50)
    assert list(adata.var_names[:2]) == ["feature_00", "feature_01"]
    np.testing.assert_array_equal(adata.X, raw["Xtr"].reshape(-1, 50))
    counts = adata.obs["trajectory"].value_counts(sort=False)
    assert list(counts.index) == [f"train_{k:02d}" for k in range(16)] and (counts == 300).all()
    np.testing.assert_allclose(adata.obs["time"].to_numpy()[:300], np.arange(300) / MOCAP35_FRAME_RATE)
    np.testing.assert_array_equal(adata.uns["mocap35_u"], raw["u"])
    np.testing.assert_array_equal(adata.uns["mocap35_v"], raw["v"].ravel())
    src = adata.uns["dynfer_source"]
    assert src["frame_rate"] == 10.0 and "ODE2VAE" in src["frame_rate_origin"]
    assert src["sha256"][0].startswith("105484f138487f10")  # prefix recorded in PROVENANCE.md


def test_splits_and_low_dim(mat):
    raw = scipy.io.loadmat(str(mat))
    everything = read_mocap35(mat.parent, split="all", frame_rate=120.0)
    assert everything.shape == ((16 + 3 + 4) * 300, 50)
    np.testing.assert_array_equal(everything.X, np.vstack([raw[k].reshape(-1, 50) for k in ("Xtr", "Xval", "Xtest")]))
    assert everything.obs["split"].value_counts().to_dict() == {"train": 4800, "val": 900, "test": 1200}
    assert everything.obs["time"].max() == pytest.approx(299 / 120.0)
    val = read_mocap35(mat, split="val")
    np.testing.assert_array_equal(val.X, raw["Xval"].reshape(-1, 50))
    assert val.obs["trajectory"].cat.categories.tolist() == ["val_00", "val_01", "val_02"]
    low = read_mocap35(mat, low_dim=True)
    assert list(low.var_names) == ["PC1", "PC2", "PC3"] and low.shape == (4800, 3)
    np.testing.assert_array_equal(low.X, raw["Xtr_low"].reshape(-1, 3))


def _write_v73(path, arrays: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 file: a 512-byte MATLAB header then HDF5, arrays stored with axes reversed like MATLAB."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key, value in arrays.items():
            handle[key] = np.asarray(value).T
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as handle:
        handle.write(header)


def test_v73_hdf5_file(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {"Xtr": rng.normal(size=(2, 4, 5)), "Xval": rng.normal(size=(1, 4, 5)),
              "Xtest": rng.normal(size=(1, 4, 5)), "u": rng.normal(size=(5, 5)),
              "v": rng.normal(size=(1, 5)), "Xtr_low": rng.normal(size=(2, 4, 3))}
    _write_v73(tmp_path / "mocap35.mat", arrays)
    adata = read_mocap35(tmp_path, split="test", frame_rate=1.0)
    np.testing.assert_array_equal(adata.X, arrays["Xtest"].reshape(-1, 5))
    np.testing.assert_array_equal(adata.obs["time"], np.arange(4.0))
    np.testing.assert_array_equal(adata.uns["mocap35_u"], arrays["u"])
    assert adata.uns["dynfer_source"]["frame_rate_origin"] == "given by the caller"


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="split must be"):
        read_mocap35(tmp_path, split="training")
    with pytest.raises(ValueError, match="low_dim=True needs split='train'.*training trials only"):
        read_mocap35(tmp_path, split="test", low_dim=True)
    with pytest.raises(FileNotFoundError, match="mocap35.mat"):
        read_mocap35(tmp_path)
    scipy.io.savemat(tmp_path / "other.mat", {"Xtr": np.zeros((1, 3, 2))})
    with pytest.raises(ValueError, match="no array 'u'"):
        read_mocap35(tmp_path / "other.mat")
    (tmp_path / "cut.mat").write_bytes((tmp_path / "other.mat").read_bytes()[:150])
    with pytest.raises(ValueError, match="cut.mat"):
        read_mocap35(tmp_path / "cut.mat")


def test_damaged_mat_files_name_the_file(tmp_path):
    from dynfer import BadInputError

    rng = np.random.default_rng(3)
    arrays = {"Xtr": rng.normal(size=(2, 4, 5)), "u": rng.normal(size=(5, 5)), "v": rng.normal(size=(1, 5))}
    scipy.io.savemat(tmp_path / "ok.mat", arrays)
    raw = (tmp_path / "ok.mat").read_bytes()
    (tmp_path / "empty.mat").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"empty\.mat: not a MATLAB \.mat file \(MatReadError"):
        read_mocap35(tmp_path / "empty.mat")
    (tmp_path / "png.mat").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(BadInputError, match=r"png\.mat: not a MATLAB \.mat file"):
        read_mocap35(tmp_path / "png.mat")
    tag = raw.rindex(b"\x09\x00\x00\x00")  # the miDOUBLE tag of v's values; 0xc1 crashed scipy's reader (bus error)
    (tmp_path / "tag.mat").write_bytes(raw[:tag] + b"\xc1" + raw[tag + 1:])
    with pytest.raises(BadInputError, match=r"tag\.mat, byte offset \d+: a data part of type 193 and 40 bytes"):
        read_mocap35(tmp_path / "tag.mat")
    flags = raw.rindex(b"\x06\x00\x00\x00\x08\x00\x00\x00") + 9  # v's array flags: set "complex" (a segfault)
    (tmp_path / "complex.mat").write_bytes(raw[:flags] + b"\x08" + raw[flags + 1:])
    with pytest.raises(BadInputError, match=r"complex\.mat, byte offset \d+: an array .* 1 data part\(s\) \(complex"):
        read_mocap35(tmp_path / "complex.mat")
    (tmp_path / "cut.mat").write_bytes(raw[: len(raw) - 30])
    with pytest.raises(BadInputError, match=r"cut\.mat, byte offset \d+: a data element of \d+ bytes where \d+ remain"):
        read_mocap35(tmp_path / "cut.mat")
    nan = dict(arrays, Xtr=arrays["Xtr"].copy())
    nan["Xtr"][1, 2, 3] = np.nan
    scipy.io.savemat(tmp_path / "nan.mat", nan)
    with pytest.raises(BadInputError, match=r"nan\.mat: 'Xtr' holds 1 NaN or infinite value\(s\), first at index "
                       r"\(1, 2, 3\)"):
        read_mocap35(tmp_path / "nan.mat")
    _write_v73(tmp_path / "v73.mat", arrays)
    (tmp_path / "v73cut.mat").write_bytes((tmp_path / "v73.mat").read_bytes()[:1500])
    with pytest.raises(BadInputError, match=r"v73cut\.mat: cannot read the v7\.3 \(HDF5\) \.mat file"):
        read_mocap35(tmp_path / "v73cut.mat")
