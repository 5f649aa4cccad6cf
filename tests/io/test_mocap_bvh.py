"""BVH reader: round trip on a tiny file written here, and clear errors on broken files."""

from __future__ import annotations

import numpy as np
import pytest

from dynfer.io.mocap import read_bvh

HIERARCHY = """\
HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0.0 5.2 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 4.0 0.0
    }
  }
  JOINT LeftHip
  {
    OFFSET 3.9 0.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 -8.0 0.0
    }
  }
}
"""

VARS = ["Hips_Xposition", "Hips_Yposition", "Hips_Zposition", "Hips_Zrotation", "Hips_Xrotation", "Hips_Yrotation",
        "Chest_Zrotation", "Chest_Xrotation", "Chest_Yrotation", "LeftHip_Zrotation", "LeftHip_Xrotation",
        "LeftHip_Yrotation"]


def _bvh(values: np.ndarray, frame_time: float, frames: int | None = None) -> str:
    rows = "\n".join(" ".join(repr(float(v)) for v in row) for row in values)
    n = len(values) if frames is None else frames
    return f"{HIERARCHY}MOTION\nFrames: {n}\nFrame Time: {frame_time!r}\n{rows}\n"


@pytest.fixture
def values():
    return np.random.default_rng(1).normal(size=(5, 12))


def test_round_trip(tmp_path, values):
    (tmp_path / "take1.bvh").write_text(_bvh(values, 0.0083333))
    (tmp_path / "take2.bvh").write_text(_bvh(values[:3] * 2, 0.04))
    adata = read_bvh([tmp_path / "take1.bvh", tmp_path / "take2.bvh"])
    assert list(adata.var_names) == VARS
    np.testing.assert_array_equal(adata.X, np.vstack([values, values[:3] * 2]))
    assert list(adata.obs["trajectory"].cat.categories) == ["take1", "take2"]
    np.testing.assert_allclose(adata.obs["time"], np.r_[np.arange(5) * 0.0083333, np.arange(3) * 0.04], rtol=1e-12)
    np.testing.assert_allclose(adata.uns["dynfer_source"]["frame_rate"], [1 / 0.0083333, 25.0])
    skel = adata.uns["skeleton"]
    assert list(skel["joint"]) == ["Hips", "Chest", "Chest_End", "LeftHip", "LeftHip_End"]
    assert list(skel["parent"]) == ["", "Hips", "Chest", "Hips", "LeftHip"]
    np.testing.assert_array_equal(skel["offset"][[1, 2, 4]], [[0, 5.2, 0], [0, 4.0, 0], [0, -8.0, 0]])
    assert list(skel["end_site"]) == [False, False, True, False, True]
    adata.write_h5ad(tmp_path / "out.h5ad")


def test_single_path_string(tmp_path, values):
    (tmp_path / "one.bvh").write_text(_bvh(values, 0.5))
    adata = read_bvh(str(tmp_path / "one.bvh"))
    np.testing.assert_array_equal(adata.obs["time"], np.arange(5) * 0.5)
    np.testing.assert_array_equal(adata.obs["frame"], np.arange(5))


def test_fewer_motion_lines_than_frames(tmp_path, values):
    (tmp_path / "cut.bvh").write_text(_bvh(values, 0.1, frames=7))
    with pytest.raises(ValueError, match=r"'Frames: 7' but the MOTION section has 5 line\(s\).*truncated"):
        read_bvh(tmp_path / "cut.bvh")


def test_channel_count_mismatch(tmp_path, values):
    text = _bvh(values, 0.1).splitlines()
    text[-2] = " ".join(text[-2].split()[:-1])
    (tmp_path / "short.bvh").write_text("\n".join(text))
    with pytest.raises(ValueError, match=r"has 11 value\(s\); the HIERARCHY declares 12 channel"):
        read_bvh(tmp_path / "short.bvh")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (HIERARCHY, "no MOTION"),
        (HIERARCHY.removesuffix("}\n") + "MOTION\nFrames: 0\nFrame Time: 0.1\n", "1 unclosed block"),
        (HIERARCHY.replace("CHANNELS 3 Zrotation Xrotation Yrotation\n    End", "CHANNELS 3 Zrotation\n    End", 1)
         + "MOTION\nFrames: 0\nFrame Time: 0.1\n", r"'Chest' declares 3 channel\(s\) but lists 1"),
        (HIERARCHY + "MOTION\nFrames: 1\nFrame Time: 0\n" + "0 " * 12, r"line 27: Frame Time: .0.; expected a"),
        ("hello\n", "not a BVH"),
    ],
)
def test_malformed(tmp_path, text, match):
    (tmp_path / "bad.bvh").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_bvh(tmp_path / "bad.bvh")


def test_different_skeletons_and_missing(tmp_path, values):
    (tmp_path / "a.bvh").write_text(_bvh(values, 0.1))
    (tmp_path / "b.bvh").write_text(_bvh(values, 0.1).replace("LeftHip", "RightHip"))
    with pytest.raises(ValueError, match="differs"):
        read_bvh([tmp_path / "a.bvh", tmp_path / "b.bvh"])
    with pytest.raises(FileNotFoundError):
        read_bvh([tmp_path / "a.bvh", tmp_path / "zzz.bvh"])


@pytest.mark.parametrize(("edit", "match"), [
    (lambda t: t.replace("OFFSET 0.0 5.2 0.0", "OFFSET 0.0 nan 0.0"),
     r"line 8: OFFSET of 'Chest' is 0.0 nan 0.0; expected 3 finite numbers"),
    (lambda t: t.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Zrotation Xrotatinn Yrotation", 1),
     r"line 9: CHANNELS of 'Chest' are Zrotation Xrotatinn Yrotation; expected distinct names"),
    (lambda t: t.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS \u00b3 Zrotation Xrotation Yrotation",
                         1), r"line 9: CHANNELS of 'Chest' must start with a count, got '\u00b3'"),
    (lambda t: t.replace("Frame Time: 0.1", "Frame Time: 1e-320"), r"line 27: Frame Time: '1e-320'; expected"),
    (lambda t: t.replace("Frames: 5", "Frames: 5e0"), r"line 26: Frames: '5e0'; expected a non-negative integer"),
    (lambda t: t[: t.rindex("\n", 0, -1)] + "\n" + "0 " * 11 + "inf\n",
     r"line 32: frame 4 holds 'inf', which is not a finite number"),
])
def test_bad_values_refused_with_line(tmp_path, values, edit, match):
    from dynfer import BadInputError

    (tmp_path / "bad.bvh").write_text(edit(_bvh(values, 0.1)))
    with pytest.raises(BadInputError, match=r"bad\.bvh, " + match):
        read_bvh(tmp_path / "bad.bvh")
