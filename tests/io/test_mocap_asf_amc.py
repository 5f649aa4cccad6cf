"""ASF/AMC reader: round trip on a tiny 3-bone skeleton written here, and clear errors on broken files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from dynfer.io.mocap import read_asf_amc

ASF = """\
# tiny test skeleton
:version 1.10
:name tiny
:units
  mass 1.0
  length 0.45
  angle deg
:documentation
  three bones
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name lhipjoint
     direction 0.692 -0.648 0.316
     length 2.4
     axis 0 0 -20 XYZ
  end
  begin
     id 2
     name lfemur
     direction 0.342 -0.939 0
     length 7.15
     axis 0 0 20  XYZ
    dof rx ry rz
    limits (-160.0 , 20.0)
           (-70.0 , 70.0)
           (-60.0 , 70.0)
  end
  begin
     id 3
     name ltibia
     direction 0.342 -0.939 0
     length 7.5
     axis 0 0 20  XYZ
    dof rx
    limits (-10.0 , 170.0)
  end
:hierarchy
  begin
    root lhipjoint
    lhipjoint lfemur
    lfemur ltibia
  end
"""

VARS = ["root_tx", "root_ty", "root_tz", "root_rx", "root_ry", "root_rz", "lfemur_rx", "lfemur_ry", "lfemur_rz",
        "ltibia_rx"]


def _amc(values: np.ndarray, first: int = 1) -> str:
    lines = ["#!OML:ASF tiny.asf", ":FULLY-SPECIFIED", ":DEGREES"]
    for k, row in enumerate(values):
        lines.append(str(first + k))
        lines.append("root " + " ".join(repr(float(v)) for v in row[:6]))
        # bones in another order than the ASF: the reader must place them by name
        lines.append("ltibia " + repr(float(row[9])))
        lines.append("lfemur " + " ".join(repr(float(v)) for v in row[6:9]))
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 10)), rng.normal(size=(3, 10))
    (tmp_path / "tiny.asf").write_text(ASF)
    (tmp_path / "walk1.amc").write_text(_amc(a))
    (tmp_path / "walk2.amc").write_text(_amc(b))
    return tmp_path, a, b


def test_round_trip_values_times_names(tiny):
    d, a, b = tiny
    adata = read_asf_amc(d / "tiny.asf", [d / "walk1.amc", d / "walk2.amc"], frame_rate=120.0)
    assert list(adata.var_names) == VARS
    np.testing.assert_array_equal(adata.X, np.vstack([a, b]))
    assert isinstance(adata.obs["trajectory"].dtype, pd.CategoricalDtype)
    assert list(adata.obs["trajectory"]) == ["walk1"] * 4 + ["walk2"] * 3
    np.testing.assert_array_equal(adata.obs["time"], np.r_[np.arange(4), np.arange(3)] / 120.0)
    np.testing.assert_array_equal(adata.obs["frame"], np.r_[1:5, 1:4])
    assert list(adata.var["bone"]) == ["root"] * 6 + ["lfemur"] * 3 + ["ltibia"]
    np.testing.assert_array_equal(adata.var["lower"].iloc[6:], [-160.0, -70.0, -60.0, -10.0])
    np.testing.assert_array_equal(adata.var["upper"].iloc[6:], [20.0, 70.0, 70.0, 170.0])
    assert np.isinf(adata.var["lower"].iloc[:6]).all()
    skel = adata.uns["skeleton"]
    assert list(skel["bone"]) == ["root", "lhipjoint", "lfemur", "ltibia"]
    assert list(skel["parent"]) == ["", "root", "lhipjoint", "lfemur"]
    assert list(skel["dof"]) == ["tx ty tz rx ry rz", "", "rx ry rz", "rx"]
    np.testing.assert_allclose(skel["length"], [0.0, 2.4, 7.15, 7.5])
    assert skel["units"]["angle"] == "deg"
    src = adata.uns["dynfer_source"]
    assert src["frame_rate"] == 120.0 and len(src["sha256"]) == 3 and all(len(h) == 64 for h in src["sha256"])


def test_single_amc_frame_rate_and_h5ad(tiny, tmp_path):
    d, a, _ = tiny
    adata = read_asf_amc(str(d / "tiny.asf"), str(d / "walk1.amc"), frame_rate=30.0)
    np.testing.assert_allclose(adata.obs["time"], np.arange(4) / 30.0)
    adata.write_h5ad(tmp_path / "out.h5ad")  # uns must be serialisable


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t + "5\nroot 0 0 0 0 0 0 0\n", r"has 7 value\(s\), expected 6"),
        (lambda t: t + "5\nroot 0 0 0 0 0 0\n", "lacks bone"),
        (lambda t: t.replace("ltibia", "lknee", 1), "not a bone"),
        (lambda t: t.replace("\n2\n", "\n1\n", 1), "does not follow"),
        (lambda t: re.sub(r"\nroot \S+", "\nroot x", t, count=1),
         r"bad.amc, line 5: bone .root. in frame 1 is .x .*expected finite"),
    ],
)
def test_broken_amc_raises(tiny, edit, match):
    d, _, _ = tiny
    (d / "bad.amc").write_text(edit((d / "walk1.amc").read_text()))
    with pytest.raises(ValueError, match=match):
        read_asf_amc(d / "tiny.asf", d / "bad.amc")


def test_frame_with_too_few_values(tiny):
    d, _, _ = tiny
    text = (d / "walk1.amc").read_text().splitlines()
    i = next(k for k, line in enumerate(text) if line.startswith("lfemur"))
    text[i] = " ".join(text[i].split()[:3])
    (d / "short.amc").write_text("\n".join(text))
    with pytest.raises(ValueError, match=r"'lfemur' in frame 1 has 2 value\(s\), expected 3"):
        read_asf_amc(d / "tiny.asf", d / "short.amc")


def test_broken_asf_and_missing_file(tiny):
    d, _, _ = tiny
    (d / "cut.asf").write_text(ASF[: ASF.index("  end\n  begin\n     id 3")] + "  begin\n  id 3\n")
    with pytest.raises(ValueError, match="hierarchy|truncated"):
        read_asf_amc(d / "cut.asf", d / "walk1.amc")
    (d / "undef.asf").write_text(ASF.replace("lfemur ltibia", "lfemur lfoot"))
    with pytest.raises(ValueError, match="'lfoot'"):
        read_asf_amc(d / "undef.asf", d / "walk1.amc")
    with pytest.raises(FileNotFoundError, match="nope.amc"):
        read_asf_amc(d / "tiny.asf", d / "nope.amc")
    with pytest.raises(ValueError, match="frame_rate"):
        read_asf_amc(d / "tiny.asf", d / "walk1.amc", frame_rate=0)


@pytest.mark.parametrize(("old", "new", "match"), [
    ("id 2", "id 0x1F", r"line 24: bone id '0x1F'; expected an integer"),
    ("name ltibia", "name", r"line 36: 'name' without a value"),
    ("axis 0 0 20  XYZ\n    dof rx\n", "axis 0 nan 20  XYZ\n    dof rx\n", r"line 39: bone 'ltibia' axis is '0 nan"),
    ("dof rx\n", "dof rq\n", r"line 40: bone 'ltibia' dof 'rq'; expected distinct names among tx ty tz rx ry rz l"),
    ("limits (-10.0 , 170.0)", "limits (10.0 , -170.0)", r"line 41: bone 'ltibia' limits .*expected lower <= upper"),
    ("angle deg", "angle dgr", r"line 7: :units angle 'dgr'; expected deg or rad"),
    ("axis XYZ", "axis XYY", r"line 12: axis order 'XYY'; expected a permutation of XYZ"),
])
def test_bad_skeleton_refused_with_line(tiny, old, new, match):
    from dynfer import BadInputError

    d, _, _ = tiny
    assert old in ASF
    (d / "bad.asf").write_text(ASF.replace(old, new, 1))
    with pytest.raises(BadInputError, match=r"bad\.asf, " + match):
        read_asf_amc(d / "bad.asf", d / "walk1.amc")


def test_bad_motion_refused_with_line(tiny):
    from dynfer import BadInputError

    d, _, _ = tiny
    text = (d / "walk1.amc").read_text()
    (d / "nan.amc").write_text(text.replace("\nltibia ", "\nltibia nan #", 1))
    with pytest.raises(BadInputError, match=r"nan\.amc, line 6: bone 'ltibia' in frame 1 is 'nan'; expected finite"):
        read_asf_amc(d / "tiny.asf", d / "nan.amc")
    (d / "dash.amc").write_text(text.replace("\n2\n", "\n--2\n", 1))
    with pytest.raises(BadInputError, match=r"dash\.amc, line 8: '--2' is not a bone of the skeleton .*tiny\.asf"):
        read_asf_amc(d / "tiny.asf", d / "dash.amc")
    (d / "huge.amc").write_text(text.replace("\n2\n", "\n" + "9" * 25 + "\n", 1))
    with pytest.raises(BadInputError, match=r"huge\.amc, line 8: frame number 9+; expected a frame number below"):
        read_asf_amc(d / "tiny.asf", d / "huge.amc")
    with pytest.raises(BadInputError, match=r"walk1\.amc: trajectory 'walk1', frame 3: its time is not finite"):
        read_asf_amc(d / "tiny.asf", d / "walk1.amc", frame_rate=1e-308)
