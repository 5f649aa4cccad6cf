"""Property-based fuzzing of the motion-capture readers: BVH, ASF/AMC, C3D and ``mocap35.mat`` (MATLAB v5 and v7.3).

Each reader gets a small clean file (the BVH and ASF/AMC ones built by the tests in ``tests/io``), damaged by
hypothesis; it must raise :class:`dynfer.BadInputError` naming the file or return data of the clean file's shape with
every value finite (see ``test_fuzz_activematter.py``, which holds the mutation engine). AMC files carry no frame
count, so an AMC cut exactly after a frame reads as the shorter motion it then is.
"""

from __future__ import annotations

import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from dynfer.io.mocap import read_asf_amc, read_bvh, read_c3d, read_mocap35

_shared = runpy.run_path(str(Path(__file__).with_name("test_fuzz_activematter.py")))  # the mutation engine
Case = _shared["Case"]
_asf_amc = runpy.run_path(str(Path(__file__).parents[1] / "io" / "test_mocap_asf_amc.py"))  # the tiny skeleton
_bvh_io = runpy.run_path(str(Path(__file__).parents[1] / "io" / "test_mocap_bvh.py"))


def _values(n_frames: int, n: int, seed: int) -> np.ndarray:
    return np.round(np.random.default_rng(seed).normal(scale=20.0, size=(n_frames, n)), 4)


def _bvh(folder: Path) -> Path:
    path = folder / "walk.bvh"
    path.write_text(_bvh_io["_bvh"](_values(4, 12, 0), 0.0083333))
    return path


def _asf(folder: Path) -> Path:
    (folder / "walk.amc").write_text(_asf_amc["_amc"](_values(4, 10, 1)))
    (folder / "tiny.asf").write_text(_asf_amc["ASF"])
    return folder / "tiny.asf"


def _amc(folder: Path) -> Path:
    _asf(folder)
    return folder / "walk.amc"


def _c3d(folder: Path) -> Path:
    c3d = pytest.importorskip("c3d")
    writer = c3d.Writer(point_rate=100.0, point_units="m   ")
    writer.set_point_labels(["HEAD", "LKNE"])
    xyz = np.arange(6 * 2 * 3, dtype=np.float32).reshape(6, 2, 3) * 0.25
    frames = [(np.c_[pos, np.zeros((2, 2))].astype(np.float32), np.zeros((0, 0), dtype=np.float32)) for pos in xyz]
    writer.add_frames(frames)
    path = folder / "walk.c3d"
    with open(path, "wb") as handle, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No analog data found")
        writer.write(handle)
    return path


def _mocap35_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {"Xtr": rng.normal(size=(2, 4, 5)), "Xval": rng.normal(size=(1, 4, 5)), "Xtest": rng.normal(size=(1, 4, 5)),
            "u": rng.normal(size=(5, 5)), "v": rng.uniform(1, 2, size=(1, 5)), "Xtr_low": rng.normal(size=(2, 4, 3))}


def _mocap35(folder: Path) -> Path:
    path = folder / "mocap35.mat"
    scipy.io.savemat(path, _mocap35_arrays())
    return path


def _mocap35_v73(folder: Path) -> Path:
    h5py = pytest.importorskip("h5py")
    path = folder / "mocap35.mat"
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key, value in _mocap35_arrays().items():
            handle[key] = value.T
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as handle:
        handle.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return path


def _read_asf(path: Path):
    return read_asf_amc(path, path.parent / "walk.amc")


def _read_amc(path: Path):
    return read_asf_amc(path.parent / "tiny.asf", path)


def _read_mocap35(path: Path):
    return read_mocap35(path, split="all")


CASES = [
    Case("bvh", _bvh, read_bvh, ".bvh"),
    Case("asf", _asf, _read_asf, ".asf"),
    Case("amc", _amc, _read_amc, ".amc", count_free=True),
    Case("c3d", _c3d, read_c3d, ".c3d", binary=True),
    Case("mocap35", _mocap35, _read_mocap35, ".mat", binary=True),
    Case("mocap35_v73", _mocap35_v73, _read_mocap35, ".mat", binary=True),
]

clean_files, test_fuzz_mocap_readers, test_fuzz_mocap_readers_slow = _shared["fuzz_tests"](CASES)
