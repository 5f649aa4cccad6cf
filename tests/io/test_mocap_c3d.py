"""C3D reader: round trip on tiny files written with the c3d package's Writer; missing-marker policies."""

from __future__ import annotations

import numpy as np
import pytest

c3d = pytest.importorskip("c3d")

from dynfer.io.mocap import read_c3d  # noqa: E402

LABELS = ["HEAD", "LKNE"]
pytestmark = pytest.mark.filterwarnings("ignore:No analog data found")  # from the Writer


def _write(path, xyz: np.ndarray, rate: float, missing: tuple[int, int] | None = None) -> None:
    """Write xyz (frames, markers, 3); the (frame, marker) in ``missing`` gets residual -1."""
    writer = c3d.Writer(point_rate=rate, point_units="m   ")
    writer.set_point_labels(LABELS)
    frames = []
    for k, pos in enumerate(xyz):
        points = np.zeros((len(LABELS), 5), dtype=np.float32)
        points[:, :3] = pos
        if missing is not None and missing[0] == k:
            points[missing[1], 3] = -1.0
        frames.append((points, np.zeros((0, 0), dtype=np.float32)))
    writer.add_frames(frames)
    with open(path, "wb") as handle:
        writer.write(handle)


@pytest.fixture
def xyz():
    # float32-representable values so the round trip is exact
    return np.arange(5 * 2 * 3, dtype=np.float64).reshape(5, 2, 3) * 0.25


def test_round_trip(tmp_path, xyz):
    _write(tmp_path / "t1.c3d", xyz, 100.0)
    _write(tmp_path / "t2.c3d", xyz[:4] + 1.0, 50.0)
    adata = read_c3d([tmp_path / "t1.c3d", tmp_path / "t2.c3d"])
    assert list(adata.var_names) == ["HEAD_x", "HEAD_y", "HEAD_z", "LKNE_x", "LKNE_y", "LKNE_z"]
    np.testing.assert_array_equal(adata.X, np.vstack([xyz.reshape(5, 6), (xyz[:4] + 1.0).reshape(4, 6)]))
    assert list(adata.obs["trajectory"]) == ["t1"] * 5 + ["t2"] * 4
    np.testing.assert_allclose(adata.obs["time"], np.r_[np.arange(5) / 100.0, np.arange(4) / 50.0], rtol=1e-12)
    src = adata.uns["dynfer_source"]
    np.testing.assert_array_equal(src["frame_rate"], [100.0, 50.0])
    assert src["units"] == ["m", "m"] and list(src["n_missing"]) == [0, 0]
    adata.write_h5ad(tmp_path / "out.h5ad")


def test_missing_marker_policies(tmp_path, xyz):
    _write(tmp_path / "gap.c3d", xyz, 100.0, missing=(2, 1))
    with pytest.raises(ValueError, match=r"1 marker-frame\(s\) are missing.*\['LKNE'\].*missing='interpolate'"):
        read_c3d(tmp_path / "gap.c3d")
    dropped = read_c3d(tmp_path / "gap.c3d", missing="drop")
    np.testing.assert_array_equal(dropped.obs["frame"], [1, 2, 4, 5])
    np.testing.assert_allclose(dropped.obs["time"], [0.0, 0.01, 0.03, 0.04])
    np.testing.assert_array_equal(dropped.X, xyz[[0, 1, 3, 4]].reshape(4, 6))
    filled = read_c3d(tmp_path / "gap.c3d", missing="interpolate")
    expected = xyz.copy()
    expected[2, 1] = (xyz[1, 1] + xyz[3, 1]) / 2  # linear in time
    np.testing.assert_allclose(filled.X, expected.reshape(5, 6))
    assert filled.uns["dynfer_source"]["n_missing"][0] == 1
    with pytest.raises(ValueError, match="missing must be"):
        read_c3d(tmp_path / "gap.c3d", missing="zero")


def test_corrupt_and_missing_file(tmp_path, xyz):
    _write(tmp_path / "ok.c3d", xyz, 100.0)
    data = (tmp_path / "ok.c3d").read_bytes()
    (tmp_path / "cut.c3d").write_bytes(data[:600])
    with pytest.raises(ValueError, match="cut.c3d"):
        read_c3d(tmp_path / "cut.c3d")
    (tmp_path / "junk.c3d").write_bytes(b"not a c3d file at all" * 10)
    with pytest.raises(ValueError, match="junk.c3d"):
        read_c3d(tmp_path / "junk.c3d")
    with pytest.raises(FileNotFoundError):
        read_c3d(tmp_path / "absent.c3d")


def test_short_read_and_header_damage_refused(tmp_path):
    from dynfer import BadInputError

    labels = [f"M{k:02d}" for k in range(16)]  # 16 markers: 256 bytes per frame
    writer = c3d.Writer(point_rate=100.0, point_units="m   ")
    writer.set_point_labels(labels)
    rng = np.random.default_rng(0)
    writer.add_frames([(np.c_[rng.normal(size=(16, 3)), np.zeros((16, 2))].astype(np.float32),
                        np.zeros((0, 0), dtype=np.float32)) for _ in range(20)])
    with open(tmp_path / "long.c3d", "wb") as handle:
        writer.write(handle)
    raw = (tmp_path / "long.c3d").read_bytes()
    start = (int(np.frombuffer(raw[16:18], dtype="<u2")[0]) - 1) * 512  # header word 9: first data block
    (tmp_path / "cut.c3d").write_bytes(raw[: start + 7 * 256])
    with pytest.raises(BadInputError, match=r"cut\.c3d: 7 frame\(s\) read but the header declares 20 .*reached end"):
        read_c3d(tmp_path / "cut.c3d")
    assert read_c3d(tmp_path / "long.c3d").n_obs == 20
    moved = bytearray(raw)
    moved[6:8] = np.array(3, dtype="<u2").tobytes()  # header word 4: first frame 3, TRIAL:ACTUAL_START_FIELD says 1
    (tmp_path / "first.c3d").write_bytes(bytes(moved))
    with pytest.raises(BadInputError, match=r"first\.c3d: the header gives first frame 3 but the POINT/TRIAL .* 1"):
        read_c3d(tmp_path / "first.c3d")
    (tmp_path / "empty.c3d").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"empty\.c3d: not a readable C3D file"):
        read_c3d(tmp_path / "empty.c3d")
