"""LAMMPS dump and HOOMD GSD readers: real staged files, round trips through small written files."""

from __future__ import annotations

import numpy as np
import pytest

from dynfer import BadInputError
from dynfer.io import validate_particles
from dynfer.io.activematter import read_gsd, read_lammps_dump


def write_dump(path, frames, columns, *, box=((0.0, 10.0), (0.0, 8.0), (-0.5, 0.5)), header="pp pp pp", tilt=None):
    """Write a LAMMPS text dump: frames = [(timestep, data (n, len(columns)))], rows written as given."""
    out = []
    for step, data in frames:
        out += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(data)), f"ITEM: BOX BOUNDS {header}"]
        for k, (lo, hi) in enumerate(box):
            out.append(f"{lo!r} {hi!r}" + ("" if tilt is None else f" {tilt[k]!r}"))
        out.append("ITEM: ATOMS " + " ".join(columns))
        out += [" ".join(repr(float(v)) if not float(v).is_integer() else str(int(v)) for v in row) for row in data]
    path.write_text("\n".join(out) + "\n")
    return path


def abp_frames(n=7, n_frames=2, seed=0):
    """Per-frame dicts of 2-D positions (wrapped into [0,10)x[0,8)), images, orientations and types, by id 1..n."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n_frames):
        pos = rng.uniform([0, 0], [10, 8], size=(n, 2))
        img = rng.integers(-2, 3, size=(n, 2))
        theta = rng.uniform(-np.pi, np.pi, n)
        frames.append({"step": 1000 * (t + 1), "pos": pos, "img": img, "mu": np.c_[np.cos(theta), np.sin(theta)],
                       "type": 1 + np.arange(n) % 2})
    return frames


# ------------------------------------------------------------------------------------------- small written dumps
def test_shuffled_columns_and_atoms_round_trip(tmp_path):
    truth = abp_frames()
    rng = np.random.default_rng(1)
    columns = ["muy", "x", "iy", "type", "z", "id", "mux", "y", "ix"]
    frames = []
    for fr in truth:
        n = len(fr["pos"])
        table = {"id": np.arange(1, n + 1), "type": fr["type"], "x": fr["pos"][:, 0], "y": fr["pos"][:, 1],
                 "z": np.zeros(n), "ix": fr["img"][:, 0], "iy": fr["img"][:, 1], "mux": fr["mu"][:, 0],
                 "muy": fr["mu"][:, 1]}
        data = np.column_stack([table[c] for c in columns])[rng.permutation(n)]
        frames.append((fr["step"], data))
    adata = read_lammps_dump(write_dump(tmp_path / "traj.dump", frames, columns), dt=0.01)
    validate_particles(adata)
    assert adata.uns["dim"] == 2 and adata.uns["n_particles"] == 7
    np.testing.assert_array_equal(adata.uns["particle_ids"], np.arange(1, 8))
    np.testing.assert_array_equal(adata.uns["particle_types"], truth[0]["type"])
    np.testing.assert_array_equal(adata.obs["timestep"], [1000, 2000])
    np.testing.assert_allclose(adata.obs["time"], [10.0, 20.0])
    np.testing.assert_array_equal(adata.uns["box"], [10.0, 8.0])
    np.testing.assert_array_equal(adata.uns["box_lo"], [0.0, 0.0])
    pos = adata.obsm["positions"].reshape(2, 7, 2)
    ori = adata.obsm["orientations"].reshape(2, 7, 2)
    unw = adata.obsm["positions_unwrapped"].reshape(2, 7, 2)
    for t, fr in enumerate(truth):  # repr() round-trips floats exactly
        np.testing.assert_array_equal(pos[t], fr["pos"])
        np.testing.assert_array_equal(ori[t], fr["mu"])
        np.testing.assert_array_equal(adata.obsm["images"].reshape(2, 7, 2)[t], fr["img"])
        np.testing.assert_allclose(unw[t], fr["pos"] + fr["img"] * [10.0, 8.0], rtol=0, atol=1e-12)


def test_scaled_coordinates(tmp_path):
    rng = np.random.default_rng(2)
    s = rng.uniform(size=(5, 3))
    data = np.column_stack([np.arange(1, 6), np.ones(5), s])
    path = write_dump(tmp_path / "scaled.dump", [(0, data)], ["id", "type", "xs", "ys", "zs"],
                      box=((-1.0, 3.0), (2.0, 7.0), (0.0, 6.0)))
    adata = read_lammps_dump(path)
    assert adata.uns["dim"] == 3
    expected = np.array([-1.0, 2.0, 0.0]) + s * [4.0, 5.0, 6.0]
    np.testing.assert_allclose(adata.obsm["positions"].reshape(5, 3), expected, rtol=0, atol=1e-12)
    assert "positions_unwrapped" not in adata.obsm
    with pytest.raises(ValueError, match="unwrap: True but .*scaled.dump has neither"):
        read_lammps_dump(path, unwrap=True)


def test_triclinic_box_and_images(tmp_path):
    # LAMMPS bounding box from lo/hi and tilt (xy, xz, yz) = (1, 0, 0): xlo_bound = xlo + min(0, xy, ...)
    tilt = (1.0, 0.0, 0.0)
    box = ((0.0, 11.0), (0.0, 8.0), (-0.5, 0.5))  # lx = 10 after removing the tilt
    data = np.array([[1, 1, 0.5, 7.5, 0.0, 0.0, 1.0], [2, 1, 9.0, 1.0, 0.0, 1.0, -1.0]])
    path = write_dump(tmp_path / "tri.dump", [(5, data)], ["id", "type", "x", "y", "z", "ix", "iy"],
                      box=box, header="xy xz yz pp pp pp", tilt=tilt)
    adata = read_lammps_dump(path)
    np.testing.assert_array_equal(adata.uns["box"], [10.0, 8.0])
    np.testing.assert_array_equal(adata.uns["box_tilt"], tilt)
    # unwrapped = r + ix * a + iy * b, a = (10, 0), b = (xy, 8) = (1, 8)
    expected = np.array([[0.5 + 1.0, 7.5 + 8.0], [9.0 + 10.0 - 1.0, 1.0 - 8.0]])
    np.testing.assert_allclose(adata.obsm["positions_unwrapped"].reshape(2, 2), expected)


def test_one_file_per_frame_sorted_by_timestep(tmp_path):
    truth = abp_frames(n=4, n_frames=3, seed=3)
    paths = []
    for fr in reversed(truth):  # given out of order
        data = np.column_stack([np.arange(1, 5), fr["type"], fr["pos"], fr["pos"] + fr["img"] * [10.0, 8.0]])
        paths.append(write_dump(tmp_path / f"dump{fr['step']}.txt", [(fr["step"], data)],
                                ["id", "type", "x", "y", "xu", "yu"]))
    adata = read_lammps_dump(paths)
    np.testing.assert_array_equal(adata.obs["timestep"], [1000, 2000, 3000])
    np.testing.assert_array_equal(adata.obsm["positions"].reshape(3, 4, 2), np.stack([f["pos"] for f in truth]))
    same = read_lammps_dump(tmp_path)  # a folder: every dump* file in it
    np.testing.assert_array_equal(same.obsm["positions_unwrapped"], adata.obsm["positions_unwrapped"])
    np.testing.assert_array_equal(read_lammps_dump(str(tmp_path / "dump*.txt")).obsm["positions"],
                                  adata.obsm["positions"])
    assert "positions_unwrapped" not in read_lammps_dump(paths, unwrap=False).obsm


def test_wrap_from_unwrapped_only(tmp_path):
    data = np.array([[2, 1, 12.5, -3.0], [1, 1, 4.0, 17.0]])
    adata = read_lammps_dump(write_dump(tmp_path / "u.dump", [(0, data)], ["id", "type", "xu", "yu"]))
    np.testing.assert_allclose(adata.obsm["positions"].reshape(2, 2), [[4.0, 1.0], [2.5, 5.0]], atol=1e-12)


# ------------------------------------------------------------------------------------------------ broken dumps
def _good(tmp_path, n=3):
    data = np.column_stack([np.arange(1, n + 1), np.ones(n), np.linspace(1, 2, n), np.linspace(3, 4, n)])
    return data, ["id", "type", "x", "y"]


def test_truncated_frame(tmp_path):
    data, cols = _good(tmp_path)
    path = write_dump(tmp_path / "t.dump", [(0, data), (1, data)], cols)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # last frame loses one atom line
    with pytest.raises(ValueError, match="truncated frame at timestep 1: NUMBER OF ATOMS is 3 but only 2"):
        read_lammps_dump(path)
    # a truncated frame followed by another frame
    text = write_dump(tmp_path / "a.dump", [(0, data[:2])], cols).read_text().replace("ATOMS\n2", "ATOMS\n3")
    text += write_dump(tmp_path / "b.dump", [(1, data)], cols).read_text()
    (tmp_path / "c.dump").write_text(text)
    with pytest.raises(ValueError, match="truncated frame at timestep 0"):
        read_lammps_dump(tmp_path / "c.dump")


def test_missing_columns_nan_and_counts(tmp_path):
    data, cols = _good(tmp_path)
    with pytest.raises(ValueError, match="no position columns"):
        read_lammps_dump(write_dump(tmp_path / "m.dump", [(0, data[:, :3])], cols[:3]))
    bad = data.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite value.*column 'x' of atom row 2"):
        read_lammps_dump(write_dump(tmp_path / "n.dump", [(0, bad)], cols))
    with pytest.raises(ValueError, match="atom counts differ between frames: 3 .* but 2"):
        read_lammps_dump(write_dump(tmp_path / "c.dump", [(0, data), (1, data[:2])], cols))
    other = data.copy()
    other[0, 0] = 9
    with pytest.raises(ValueError, match="atom id sets differ"):
        read_lammps_dump(write_dump(tmp_path / "i.dump", [(0, data), (1, other)], cols))
    with pytest.raises(ValueError, match="timesteps must increase within a file; timestep 5 follows 5"):
        read_lammps_dump(write_dump(tmp_path / "s.dump", [(5, data), (5, data)], cols))
    with pytest.raises(ValueError, match="atom orders differ.*sort=True"):
        read_lammps_dump(write_dump(tmp_path / "o.dump", [(0, data), (1, data[::-1])], cols), sort=False)
    with pytest.raises(ValueError, match=r"x.dump, line 11: bad atoms block of timestep 0.*the non-number 'abc'"):
        text = write_dump(tmp_path / "x.dump", [(0, data)], cols).read_text().replace("\n2 1", "\n2 abc")
        (tmp_path / "x.dump").write_text(text)
        read_lammps_dump(tmp_path / "x.dump")


def test_unknown_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="must start with 'ITEM: TIMESTEP'.*not a LAMMPS text dump"):
        read_lammps_dump(tmp_path / "notes.txt")
    (tmp_path / "empty.dump").write_text("")
    with pytest.raises(ValueError, match="no frames"):
        read_lammps_dump(tmp_path / "empty.dump")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_lammps_dump(tmp_path / "missing.dump")


def test_unknown_gsd_file(tmp_path):
    pytest.importorskip("gsd", reason="the optional 'gsd' package (dynfer[io]) is not installed")
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="not a readable HOOMD GSD"):
        read_gsd(tmp_path / "notes.txt")


# ------------------------------------------------------------------------------------------------ real ABP dumps
def test_abp_lammps_dumps(shared_data):
    folder = shared_data / "abp_lammps_amep"
    files = sorted(folder.glob("dump*.txt"))
    assert len(files) == 26
    adata = read_lammps_dump(files, dt=1e-5)
    validate_particles(adata)
    n = 4000
    assert adata.n_obs == 26 and adata.uns["n_particles"] == n and adata.uns["dim"] == 2
    assert adata.obsm["positions"].shape == (26, n * 2)
    assert adata.obsm["positions_unwrapped"].shape == (26, n * 2)
    np.testing.assert_array_equal(adata.obs["timestep"], np.arange(250000, 500001, 10000))
    assert (np.diff(adata.obs["timestep"]) > 0).all()
    np.testing.assert_allclose(adata.obs["time"], np.arange(250000, 500001, 10000) * 1e-5)
    np.testing.assert_allclose(adata.uns["box"], [79.266, 79.266])  # PROVENANCE: box [0, 79.266]^2
    np.testing.assert_array_equal(adata.uns["box_lo"], [0.0, 0.0])
    np.testing.assert_array_equal(adata.uns["particle_ids"], np.arange(1, n + 1))
    pos = adata.obsm["positions"].reshape(26, n, 2)
    # LAMMPS remaps atoms into the box only when it rebuilds neighbour lists: a few wrapped x lie just outside
    assert (pos >= -0.1).all() and (pos <= 79.266 + 0.1).all()
    assert ((pos < 0) | (pos > 79.266)).mean() < 1e-3
    mu = adata.obsm["orientations"].reshape(26, n, 2)
    np.testing.assert_allclose(np.linalg.norm(mu, axis=-1), 1.0, atol=1e-5)  # 6 significant digits in the file
    # the wrapped positions are the unwrapped ones modulo the box
    unw = adata.obsm["positions_unwrapped"].reshape(26, n, 2)
    shift = (unw - pos) / 79.266
    np.testing.assert_allclose(shift, np.round(shift), atol=1e-4)
    # unwrapped paths are continuous: no step between frames (0.1 time units) comes near the box size; free flight
    # at v0 = 100 would be 10 sigma per frame (PROVENANCE), plus diffusion
    assert np.linalg.norm(np.diff(unw, axis=0), axis=-1).max() < 15.0
    assert adata.obsm["forces"].shape == (26, n * 2) and adata.obsm["velocities"].shape == (26, n * 2)


def test_abp_first_file_h5ad_round_trip(shared_data, tmp_path):
    import anndata as ad

    adata = read_lammps_dump(shared_data / "abp_lammps_amep" / "dump250000.txt")
    adata.write_h5ad(tmp_path / "abp.h5ad")
    back = ad.read_h5ad(tmp_path / "abp.h5ad")
    np.testing.assert_array_equal(back.obsm["positions"], adata.obsm["positions"])
    np.testing.assert_array_equal(back.uns["box"], adata.uns["box"])


# ------------------------------------------------------------------------------------------------ GSD
def test_gsd_fixture(shared_data):
    path = shared_data / "gsd_lj_freud_fixture" / "LJsampletraj.gsd"
    with pytest.warns(UserWarning, match="configuration/step does not increase"):
        adata = read_gsd(path)  # the file has no configuration/step chunk: every step is 0
    validate_particles(adata)
    L = 10.772174
    assert adata.n_obs == 4 and adata.uns["n_particles"] == 1000 and adata.uns["dim"] == 3
    np.testing.assert_allclose(adata.uns["box"], [L, L, L], rtol=1e-6)
    np.testing.assert_allclose(adata.uns["box_lo"], [-L / 2] * 3, rtol=1e-6)
    assert list(adata.uns["type_names"]) == ["A"]
    assert "quaternions" not in adata.obsm and "orientations" not in adata.obsm  # chunk absent
    assert adata.obsm["velocities"].shape == (4, 3000)
    pos = adata.obsm["positions"].reshape(4, 1000, 3)
    assert (np.abs(pos) <= L / 2 + 1e-5).all()
    shift = (adata.obsm["positions_unwrapped"].reshape(4, 1000, 3) - pos) / adata.uns["box"]
    np.testing.assert_allclose(shift, adata.obsm["images"].reshape(4, 1000, 3), atol=1e-5)
    with pytest.warns(UserWarning):
        two = read_gsd(path, frames=slice(1, 3))
    np.testing.assert_array_equal(two.obsm["positions"], adata.obsm["positions"][1:3])
    np.testing.assert_array_equal(two.obs["frame"], [1, 2])


def test_gsd_written_round_trip(tmp_path):
    hoomd = pytest.importorskip("gsd.hoomd")
    rng = np.random.default_rng(4)
    n, L = 6, 5.0
    truth = []
    with hoomd.open(str(tmp_path / "abp.gsd"), mode="w") as traj:
        for step in (0, 100, 200):
            frame = hoomd.Frame()
            frame.configuration.step = step
            frame.configuration.dimensions = 2
            frame.configuration.box = [L, 2 * L, 0, 0, 0, 0]
            pos = np.c_[rng.uniform(-L / 2, L / 2, n), rng.uniform(-L, L, n), np.zeros(n)].astype(np.float32)
            theta = rng.uniform(-np.pi, np.pi, n)
            quat = np.c_[np.cos(theta / 2), np.zeros(n), np.zeros(n), np.sin(theta / 2)].astype(np.float32)
            img = np.c_[rng.integers(-3, 4, (n, 2)), np.zeros(n)].astype(np.int32)
            vel = rng.normal(size=(n, 3)).astype(np.float32)
            vel[:, 2] = 0
            frame.particles.N = n
            frame.particles.types = ["A", "B"]
            frame.particles.typeid = (np.arange(n) % 2).astype(np.uint32)
            frame.particles.position = pos
            frame.particles.orientation = quat
            frame.particles.image = img
            frame.particles.velocity = vel
            traj.append(frame)
            truth.append((pos, theta, img, vel))
    adata = read_gsd(tmp_path / "abp.gsd", dt=0.005)
    validate_particles(adata)
    assert adata.uns["dim"] == 2
    np.testing.assert_array_equal(adata.obs["timestep"], [0, 100, 200])
    np.testing.assert_allclose(adata.obs["time"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(adata.uns["box"], [L, 2 * L])
    assert list(adata.uns["particle_types"]) == ["A", "B"] * 3
    for t, (pos, theta, img, vel) in enumerate(truth):
        np.testing.assert_array_equal(adata.obsm["positions"].reshape(3, n, 2)[t], pos[:, :2])
        np.testing.assert_array_equal(adata.obsm["images"].reshape(3, n, 2)[t], img[:, :2])
        np.testing.assert_array_equal(adata.obsm["velocities"].reshape(3, n, 2)[t], vel[:, :2])
        np.testing.assert_allclose(adata.obsm["orientations"].reshape(3, n, 2)[t], np.c_[np.cos(theta),
                                   np.sin(theta)], atol=1e-6)
        np.testing.assert_allclose(adata.obsm["positions_unwrapped"].reshape(3, n, 2)[t],
                                   pos[:, :2] + img[:, :2] * [L, 2 * L], atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        read_gsd(tmp_path / "abp.gsd", frames=[7])


def test_gzip_and_time_item(tmp_path):
    import gzip

    data = np.array([[2, 1, 1.5, 2.5], [1, 1, 0.5, 3.5]])
    text = write_dump(tmp_path / "a.dump", [(10, data)], ["id", "type", "x", "y"]).read_text()
    text = text.replace("ITEM: NUMBER OF ATOMS", "ITEM: TIME\n0.25\nITEM: NUMBER OF ATOMS")
    with gzip.open(tmp_path / "a.dump.gz", "wt") as handle:
        handle.write(text)
    adata = read_lammps_dump(tmp_path / "a.dump.gz", dt=0.5)
    np.testing.assert_array_equal(adata.obsm["positions"], [[0.5, 3.5, 1.5, 2.5]])
    np.testing.assert_array_equal(adata.obs["dump_time"], [0.25])
    np.testing.assert_array_equal(adata.obs["time"], [5.0])


# ------------------------------------------------------------------------------- bad input fails loudly (fuzz fixes)
def _two_frame_dump(tmp_path, name="d.dump", **kwargs):
    data, cols = _good(tmp_path)
    return write_dump(tmp_path / name, [(0, data), (1, data)], cols, **kwargs)


@pytest.mark.parametrize(("line", "match"), [
    ("nan 10.0", r"line 6: box bound nan of timestep 0; expected finite numbers"),
    ("0.0 inf", r"line 6: box bound inf of timestep 0; expected finite numbers"),
    ("10.0 0.0", r"line 6: box bounds 10.0 0.0 of timestep 0 give the x edge length -10.0; expected lo < hi"),
    ("3.0 3.0", r"line 6: box bounds 3.0 3.0 of timestep 0 give the x edge length 0.0"),
    ("-1e308 1e308", r"line 6: box bounds -1e\+308 1e\+308 .* edge length inf"),
    ("0.0 1e308", r"line 6: box edge lengths .* overflow"),
    ("0.0 10.0 2.5", r"line 6: box line '0.0 10.0 2.5' of timestep 0; expected 2 numbers: lo hi"),
])
def test_box_bounds_refused(tmp_path, line, match):
    path = _two_frame_dump(tmp_path)
    lines = path.read_text().split("\n")
    assert lines[5] == "0.0 10.0"
    lines[5] = line
    path.write_text("\n".join(lines))
    with pytest.raises(BadInputError, match=r"d\.dump, " + match):
        read_lammps_dump(path)


def test_damaged_text_and_gzip_name_file_and_line(tmp_path):
    import gzip

    path = _two_frame_dump(tmp_path)
    raw = path.read_bytes()
    (tmp_path / "latin.dump").write_bytes(raw.replace(b"ITEM: ATOMS id", b"ITEM: ATOMS \xe9d", 1))
    with pytest.raises(BadInputError, match=r"latin\.dump, line 9: byte 0xe9 is not text"):
        read_lammps_dump(tmp_path / "latin.dump")
    packed = gzip.compress(raw)
    (tmp_path / "cut.dump.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(BadInputError, match=r"cut\.dump\.gz: the gzip stream is truncated or corrupt \(EOFError"):
        read_lammps_dump(tmp_path / "cut.dump.gz")
    (tmp_path / "crc.dump.gz").write_bytes(packed[:-8] + bytes(8))
    with pytest.raises(BadInputError, match=r"crc\.dump\.gz: the gzip stream .*(BadGzipFile|error)"):
        read_lammps_dump(tmp_path / "crc.dump.gz")


@pytest.mark.parametrize(("edit", "match"), [
    (lambda t: t + "ITEM: TIMESTEP\n2\nITEM: TIME", r"line 27: 'ITEM: TIME' without a value"),
    (lambda t: t + "ITEM: TIMESTEP\n2\nITEM: UNITS\n", r"line 27: 'ITEM: UNITS' without a value"),
    (lambda t: t.replace("ITEM: NUMBER OF ATOMS", "ITEM: TIME\n0.2.5\nITEM: NUMBER OF ATOMS", 1),
     r"line 4: ITEM: TIME value '0.2.5'; expected a finite number"),
    (lambda t: t.replace("ITEM: TIMESTEP\n1\n", "ITEM: TIMESTEP\n" + "9" * 30 + "\n"),
     r"line 14: the timestep 9+; expected an integer in 0 .. 2\^63 - 1"),
    (lambda t: t.replace("ITEM: NUMBER OF ATOMS\n3", "ITEM: NUMBER OF ATOMS\n-3", 1),
     r"line 4: the number of atoms -3; expected an integer"),
    (lambda t: t.replace("ITEM: TIMESTEP\n1\n", "ITEM: TIMESTEP\nITEM: TIME\n"),
     r"line 14: 'ITEM: TIME' after 'ITEM: TIMESTEP'; expected the timestep"),
    (lambda t: t.replace("pp pp pp", "pp pp", 1), r"line 5: box header 'ITEM: BOX BOUNDS pp pp'"),
])
def test_header_items_refused_with_line(tmp_path, edit, match):
    path = _two_frame_dump(tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(BadInputError, match=r"d\.dump, " + match):
        read_lammps_dump(path)


def test_atom_values_refused(tmp_path):
    n = 3
    base = np.column_stack([np.arange(1, n + 1), np.ones(n), np.linspace(1, 2, n), np.linspace(3, 4, n),
                            np.zeros(n), np.zeros(n)])
    cols = ["id", "type", "x", "y", "ix", "iy"]
    bad = base.copy()
    bad[1, 4] = 1e300  # an image flag that overflows int64
    with pytest.raises(BadInputError, match=r"i\.dump, line 11: timestep 0: column 'ix' of atom row 2 holds 1e\+300"):
        read_lammps_dump(write_dump(tmp_path / "i.dump", [(0, bad)], cols))
    bad = base.copy()
    bad[2, 2] = 5e9  # far outside the box [0, 10)
    with pytest.raises(BadInputError, match=r"o\.dump, line 12: .*atom row 3 lies at .*more than a box length outside"):
        read_lammps_dump(write_dump(tmp_path / "o.dump", [(0, bad)], cols))
    with pytest.raises(BadInputError, match=r"v\.dump, line 9: the ATOMS header has vy but not vx"):
        read_lammps_dump(write_dump(tmp_path / "v.dump", [(0, base)], ["id", "type", "x", "y", "ix", "vy"]))
    text = write_dump(tmp_path / "n.dump", [(0, base)], cols).read_text().replace("\n2 1 1.5", "\n2 1 nan")
    (tmp_path / "n.dump").write_text(text)
    with pytest.raises(BadInputError, match=r"n\.dump, line 11: timestep 0 holds 1 NaN or infinite value"):
        read_lammps_dump(tmp_path / "n.dump")


def test_frame_mismatch_errors_name_the_file(tmp_path):
    data, cols = _good(tmp_path)
    text = write_dump(tmp_path / "a.dump", [(0, data)], cols).read_text()
    text += write_dump(tmp_path / "b.dump", [(1, data[:, [0, 1, 3, 2]])], ["id", "type", "y", "x"]).read_text()
    (tmp_path / "mixed.dump").write_text(text)
    with pytest.raises(BadInputError, match=r"mixed\.dump, line 21: columns differ between frames"):
        read_lammps_dump(tmp_path / "mixed.dump")
    with pytest.raises(BadInputError, match=r"a\.dump, line 9: dimension=3 but the ATOMS header has no z column"):
        read_lammps_dump(tmp_path / "a.dump", dimension=3)


def _gsd_file(path, *, velocity=None, box=(4.0, 4.0, 0, 0, 0, 0)):
    hoomd = pytest.importorskip("gsd.hoomd", reason="the optional 'gsd' package (dynfer[io]) is not installed")
    with hoomd.open(str(path), mode="w") as traj:
        for step in (0, 10):
            frame = hoomd.Frame()
            frame.configuration.step = step
            frame.configuration.dimensions = 2
            frame.configuration.box = list(box)
            frame.particles.N = 3
            frame.particles.position = np.array([[0.5, -1, 0], [1, 1.5, 0], [-1.5, 0.25, 0]], np.float32) + step / 100
            frame.particles.velocity = np.ones((3, 3), np.float32) if velocity is None else velocity
            traj.append(frame)
    return path


def test_gsd_damage_is_refused(tmp_path):
    velocity = np.ones((3, 3), np.float32)
    velocity[2, 1] = np.nan
    with pytest.raises(BadInputError, match=r"nan\.gsd: frame 0: the velocities of particle 2 are .*nan"):
        read_gsd(_gsd_file(tmp_path / "nan.gsd", velocity=velocity))
    with pytest.raises(BadInputError, match=r"box\.gsd: frame 0: configuration/box is \[4\.0, inf"):
        read_gsd(_gsd_file(tmp_path / "box.gsd", box=(4.0, np.inf, 0, 0, 0, 0)))
    raw = _gsd_file(tmp_path / "ok.gsd").read_bytes()
    (tmp_path / "cut.gsd").write_bytes(raw[: len(raw) - 700])
    with pytest.raises(BadInputError, match=r"cut\.gsd"):
        read_gsd(tmp_path / "cut.gsd")
    # the row count of index entry 3 (frame 0's positions), set to 2^40: refused before libgsd allocates 12 TiB
    entry = int(np.frombuffer(raw[8:16], dtype="<u8")[0]) + 3 * 32
    huge = bytearray(raw)
    huge[entry + 8 : entry + 16] = np.array(2**40, dtype="<u8").tobytes()
    (tmp_path / "huge.gsd").write_bytes(bytes(huge))
    with pytest.raises(BadInputError, match=r"huge\.gsd: index entry 3 \(frame 0\) has an empty chunk, or one reach"):
        read_gsd(tmp_path / "huge.gsd")
    header = bytearray(raw)
    header[23] ^= 0x17  # the top byte of the index size: libgsd mapped memory past the file's end (a segfault)
    (tmp_path / "header.gsd").write_bytes(bytes(header))
    with pytest.raises(BadInputError, match=r"header\.gsd: the header places \d+ index entries at byte"):
        read_gsd(tmp_path / "header.gsd")
    renamed = raw.replace(b"particles/velocity", b"particles/velocitz")
    (tmp_path / "name.gsd").write_bytes(renamed)
    with pytest.raises(BadInputError, match=r"name\.gsd: chunk name 'particles/velocitz' is not in the HOOMD schema"):
        read_gsd(tmp_path / "name.gsd")
