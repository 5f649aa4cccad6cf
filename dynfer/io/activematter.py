"""Active-matter simulation output to AnnData: LAMMPS text dumps and HOOMD GSD files.

Both readers return one row per frame in dynfer's particle model (:func:`dynfer.io.make_particles`):
``obsm["positions"]`` (n_frames, n_particles * dim, wrapped into the box), ``obs["time"]``, ``obs["timestep"]``,
``uns["box"]`` (edge lengths, shape (dim,)), ``uns["box_lo"]`` (lower corner), ``uns["box_tilt"]`` (xy, xz, yz tilt
in length units, LAMMPS convention), ``uns["n_particles"]``, ``uns["dim"]``, ``uns["particle_ids"]``,
``uns["particle_types"]`` and, when the file has them, ``obsm["positions_unwrapped"]``, ``obsm["orientations"]``
(unit director vectors, shape (n_frames, n_particles * dim)), ``obsm["velocities"]``, ``obsm["images"]`` and
``obsm["forces"]``.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.io._lammps import DumpFrame, box_matrix, parse_dump_file
from dynfer.io._model import make_particles

__all__ = ["read_gsd", "read_lammps_dump"]

POSITIONS_UNWRAPPED = "positions_unwrapped"
FORCES = "forces"
QUATERNIONS = "quaternions"
_AXES = "xyz"


# ------------------------------------------------------------------------------------------------ LAMMPS dumps
def _dump_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        text = str(paths)
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            found = sorted(glob.glob(text))
            if not found:
                raise FileNotFoundError(f"paths: the pattern {text!r} matches no file")
            return [Path(p) for p in found]
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.startswith("dump"))
            if not found:
                raise FileNotFoundError(f"paths: the folder {text!r} holds no file named 'dump*'")
            return found
        items: list[Path] = [path]
    else:
        items = [Path(p) for p in paths]
        if not items:
            raise BadInputError("paths is empty: give at least one LAMMPS dump file")
    for path in items:
        if not path.is_file():
            raise FileNotFoundError(f"paths: no such file {str(path)!r}")
    return items


def _column_block(frame: DumpFrame, names: Sequence[str]) -> np.ndarray | None:
    """Columns ``names`` of the frame as (n_atoms, len(names)), or None if any is missing."""
    index = {name: k for k, name in enumerate(frame.columns)}
    if not all(name in index for name in names):
        return None
    return frame.data[:, [index[name] for name in names]]


_INTEGER_COLUMNS = ("id", "type", "mol", "ix", "iy", "iz")
_VECTOR_PREFIXES = {"v": "velocities", "f": "forces", "i": "image flags", "mu": "dipole orientations"}


def _check_atom_values(frame: DumpFrame) -> None:
    """NaN/inf anywhere, and non-integers in the integer columns, refused with the file's line."""
    bad = ~np.isfinite(frame.data)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise BadInputError(frame.source, f"timestep {frame.timestep} holds {int(bad.sum())} NaN or infinite "
                            f"value(s), first in column {frame.columns[cols[0]]!r} of atom row {rows[0] + 1}",
                            "finite numbers", line=frame.line + int(rows[0]))
    for name in _INTEGER_COLUMNS:
        if name in frame.columns:
            col = frame.data[:, frame.columns.index(name)]
            wrong = (col != np.round(col)) | (np.abs(col) > 2.0**53)
            if wrong.any():
                r = int(np.flatnonzero(wrong)[0])
                raise BadInputError(frame.source, f"timestep {frame.timestep}: column {name!r} of atom row {r + 1} "
                                    f"holds {float(col[r])!r}", "an integer (below 2^53 in size)", line=frame.line + r)


def _check_vector_columns(frame: DumpFrame, dim: int) -> None:
    """A vector quantity needs one column per axis: ``vx vy`` without ``vz`` in 3-D is a damaged header."""
    groups = [[p + a for a in _AXES[:dim]] for p in _VECTOR_PREFIXES]
    groups.append(["quatw", "quati", "quatj", "quatk"])
    for group in groups:
        present = [c for c in group if c in frame.columns]
        if present and len(present) < len(group):
            missing = [c for c in group if c not in present]
            raise BadInputError(frame.source, f"the ATOMS header has {' '.join(present)} but not "
                                f"{' '.join(missing)}", f"all of {' '.join(group)} (one column per axis)",
                                line=frame.line - 1, hint="a damaged header, or dimension= set wrongly")


def _check_derived(frame: DumpFrame, rows: np.ndarray, what: str, values: np.ndarray) -> None:
    """Values computed from the frame (positions, unwrapped positions, directors) must be finite."""
    bad = ~np.isfinite(values).all(axis=-1)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise BadInputError(frame.source, f"timestep {frame.timestep}: the {what} of atom row {rows[r] + 1} "
                            f"overflow ({values[r].tolist()})", "values of physical size",
                            line=frame.line + int(rows[r]))


def _check_inside(frame: DumpFrame, rows: np.ndarray, wrapped: np.ndarray, h: np.ndarray, lo: np.ndarray,
                  dim: int) -> None:
    """Wrapped positions lie in the box up to the LAMMPS re-neighbouring lag; more than a box length out is damage."""
    s = np.linalg.solve(h, (wrapped - lo).T).T[:, :dim]
    far = ((s < -1) | (s > 2)).any(axis=1)
    if far.any():
        r = int(np.flatnonzero(far)[0])
        raise BadInputError(frame.source, f"timestep {frame.timestep}: atom row {rows[r] + 1} lies at "
                            f"{wrapped[r, :dim].tolist()}, more than a box length outside the box",
                            "wrapped coordinates inside the box (LAMMPS writes x y z wrapped)",
                            line=frame.line + int(rows[r]),
                            hint="if these are unwrapped coordinates, name the columns xu yu zu")


def _pair(a: DumpFrame, b: DumpFrame) -> str:
    """The file, or both files, of two frames compared in a message."""
    return a.source if a.source == b.source else f"{a.source} and {b.source}"


def _detect_dim(frames: list[DumpFrame], dimension: int | None) -> int:
    has_z = any(c in frames[0].columns for c in ("z", "zs", "zu", "zsu"))
    if dimension is not None:
        if dimension not in (2, 3):
            raise BadInputError(f"dimension must be 2 or 3, got {dimension!r}")
        if dimension == 3 and not has_z:
            raise BadInputError(frames[0].source, f"dimension=3 but the ATOMS header has no z column "
                                f"({' '.join(frames[0].columns)})", "one of z, zs, zu or zsu",
                                line=frames[0].line - 1)
        return dimension
    if not has_z:
        return 2
    for frame in frames:
        for name in ("z", "zs", "zu", "zsu"):
            col = _column_block(frame, [name])
            if col is not None and np.ptp(col) > 0:
                return 3
    return 2


def _positions(frame: DumpFrame, dim: int, h: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Wrapped and (when derivable) unwrapped positions (n_atoms, 3) of one frame, with z zero-filled for 2-D."""
    axes = _AXES[:dim]

    def pick(suffix: str, scaled: bool) -> np.ndarray | None:
        cols = [a + ("s" if scaled else "") + suffix for a in axes]
        block = _column_block(frame, cols)
        if block is None:
            return None
        out = np.zeros((len(block), 3))
        out[:, :dim] = block
        if scaled:  # r = lo + h s (LAMMPS lamda coordinates)
            return lo + out @ h.T
        return out

    wrapped = pick("", False)
    if wrapped is None:
        wrapped = pick("", True)
    unwrapped = pick("u", False)
    if unwrapped is None:
        unwrapped = pick("u", True)
    images = _column_block(frame, ["i" + a for a in axes])
    if wrapped is None and unwrapped is None:
        need = " ".join(axes)
        raise BadInputError(f"{frame.source}: timestep {frame.timestep} has no position columns: need {need} (or the "
                            f"scaled {' '.join(a + 's' for a in axes)}, or unwrapped "
                            f"{' '.join(a + 'u' for a in axes)}); "
                            f"columns are {' '.join(frame.columns)}")
    if wrapped is None:  # wrap the unwrapped coordinates through scaled coordinates
        s = np.linalg.solve(h, (unwrapped - lo).T).T
        s[:, :dim] -= np.floor(s[:, :dim])
        wrapped = lo + s @ h.T
    if unwrapped is None and images is not None:
        img = np.zeros((len(images), 3))
        img[:, :dim] = images
        unwrapped = wrapped + img @ h.T
    return wrapped, unwrapped


def read_lammps_dump(
    paths: str | Path | Sequence[str | Path],
    *,
    sort: bool = True,
    unwrap: bool | None = None,
    dt: float = 1.0,
    dimension: int | None = None,
) -> ad.AnnData:
    """Read LAMMPS text dumps (``dump custom`` or ``dump atom``) into one AnnData row per frame.

    Parameters
    ----------
    paths
        One dump file (one or several frames), a sequence of files (for example one file per frame), a glob pattern
        (``"run/dump*.txt"``) or a folder (every file in it whose name starts with ``dump``). Files ending in ``.gz``
        are decompressed. Frames from several files are put in order of timestep.
    sort
        Sort the atoms of every frame by ``id`` (the default; LAMMPS writes them in processor order unless
        ``dump_modify sort id``). With ``sort=False`` the file order is kept and must be the same in every frame.
    unwrap
        ``None`` (default): store ``obsm["positions_unwrapped"]`` when the dump has unwrapped columns (``xu``,
        ``xsu``) or image flags (``ix``); ``True``: require them; ``False``: do not store them.
    dt
        Integration time step: ``obs["time"] = timestep * dt``.
    dimension
        2 or 3. ``None`` detects it: 2-D when there is no z column or z is constant over all atoms and frames.

    Returns
    -------
    anndata.AnnData
        One row per frame: ``obs["time"]``, ``obs["timestep"]`` (and ``obs["dump_time"]`` when the dump holds
        ``ITEM: TIME``); ``obsm["positions"]`` wrapped into the box, shape (n_frames, n_particles * dim);
        ``obsm["positions_unwrapped"]``, ``obsm["orientations"]`` (from ``mux muy [muz]``), ``obsm["velocities"]``
        (``vx vy [vz]``), ``obsm["forces"]`` (``fx fy [fz]``), ``obsm["images"]`` (``ix iy [iz]``) when present;
        ``uns["box"]`` (edge lengths), ``uns["box_lo"]``, ``uns["box_tilt"]`` (xy, xz, yz), ``uns["particle_ids"]``,
        ``uns["particle_types"]``, ``uns["n_particles"]``, ``uns["dim"]`` and ``uns["dynfer_source"]``.
        When the box changes between frames (barostat), ``obsm["box"]`` holds each frame's edge lengths and
        ``uns["box"]`` those of the first frame.

    Raises
    ------
    FileNotFoundError
        A path that does not exist, or a pattern or folder that matches no file.
    BadInputError
        (a ``ValueError``) naming the file and line: a file that is not a LAMMPS text dump (not UTF-8 text, a
        damaged gzip stream, no ``ITEM: TIMESTEP``); a header item without its value; box bounds that are not finite,
        have lo >= hi or overflow; a truncated frame (fewer atom lines than ``NUMBER OF ATOMS``); missing position
        columns or a vector with a missing component (``vy`` without ``vx``); NaN or infinite values, non-integer
        ids, types or image flags, wrapped positions more than a box length outside the box; atom counts, columns,
        id sets or types that differ between frames; timesteps that do not increase within a file or repeat across
        files; ``unwrap=True`` without unwrapped columns or image flags.

    Notes
    -----
    Scaled coordinates s are converted with r = lo + h s, where h = [[lx, xy, xz], [0, ly, yz], [0, 0, lz]] holds
    the box edge vectors; unwrapped positions from image flags n are r + h n. Triclinic boxes
    (``ITEM: BOX BOUNDS xy xz yz ...``) are supported: the bounding box is converted to lo, lx, ly, lz and the tilt
    factors as described in the LAMMPS manual (Howto triclinic).

    Wrapped columns ``x y z`` are kept as LAMMPS wrote them: LAMMPS remaps atoms into the periodic box only when
    it rebuilds its neighbour lists, so a few may lie slightly outside [lo, hi) (in the staged ABP dumps, 22 of
    208,000 coordinates, by at most 0.05). Positions derived from ``xu``-only dumps are wrapped exactly.

    Each frame's atoms block is parsed by one ``numpy.loadtxt`` call (compiled parser), not atom by atom.
    Orientations ``mux muy`` are stored as given (unit vectors for ``fix propel/self dipole``; not renormalised).

    References
    ----------
    LAMMPS documentation, ``dump`` command and "Triclinic (non-orthogonal) simulation boxes",
    https://docs.lammps.org.
    """
    if not np.isfinite(dt) or dt <= 0:
        raise BadInputError(f"dt must be a positive finite number, got {dt!r}")
    files = _dump_paths(paths)
    frames: list[DumpFrame] = []
    for path in files:
        in_file = parse_dump_file(path)
        steps = np.array([f.timestep for f in in_file])
        if (np.diff(steps) <= 0).any():
            k = int(np.flatnonzero(np.diff(steps) <= 0)[0])
            raise BadInputError(str(path), f"timesteps must increase within a file; timestep {steps[k + 1]} "
                                f"follows {steps[k]}", "frames in the order LAMMPS wrote them",
                                line=in_file[k + 1].line)
        frames.extend(in_file)
    steps = np.array([f.timestep for f in frames])
    order = np.argsort(steps, kind="stable")
    frames = [frames[k] for k in order]
    steps = steps[order]
    if (np.diff(steps) == 0).any():
        k = int(np.flatnonzero(np.diff(steps) == 0)[0])
        raise BadInputError(f"timestep {steps[k]} appears twice: in {frames[k].source} and {frames[k + 1].source}")

    first = frames[0]
    for frame in frames[1:]:
        if frame.n_atoms != first.n_atoms:
            raise BadInputError(_pair(first, frame), f"atom counts differ between frames: {first.n_atoms} at "
                                f"timestep {first.timestep} but {frame.n_atoms} at timestep {frame.timestep}",
                                "the same atoms in every frame")
        if frame.columns != first.columns:
            raise BadInputError(_pair(first, frame), f"columns differ between frames: {' '.join(first.columns)} at "
                                f"timestep {first.timestep} but {' '.join(frame.columns)} at timestep "
                                f"{frame.timestep}", "the same ATOMS columns in every frame", line=frame.line - 1)
    for frame in frames:
        _check_atom_values(frame)

    dim = _detect_dim(frames, dimension)
    _check_vector_columns(first, dim)
    has_id = "id" in first.columns
    n = first.n_atoms
    ids0 = None
    rows = [np.arange(n) for _ in frames]  # file row of each (sorted) atom, for error messages
    for t, frame in enumerate(frames):
        if has_id:
            ids = frame.data[:, first.columns.index("id")].astype(np.int64)
            if sort:
                perm = np.argsort(ids, kind="stable")
                frame.data = frame.data[perm]
                ids = ids[perm]
                rows[t] = perm
            if ids0 is None:
                ids0 = ids
                if len(np.unique(ids)) != n:
                    twice = int(ids[np.flatnonzero(np.diff(np.sort(ids)) == 0)[0]])
                    raise BadInputError(frame.source, f"timestep {frame.timestep} has atom id {twice} twice",
                                        "each atom id once per frame")
            elif not np.array_equal(ids, ids0):
                what = "atom id sets" if not np.array_equal(np.sort(ids), np.sort(ids0)) else "atom orders"
                hint = "" if sort else " (pass sort=True to order atoms by id)"
                raise BadInputError(_pair(frames[0], frame), f"{what} differ between timestep {frames[0].timestep} "
                                    f"and timestep {frame.timestep}", "the same atoms in every frame",
                                    hint=hint.strip(" ()") or None)
    if ids0 is None:
        ids0 = np.arange(1, n + 1, dtype=np.int64)

    types = None
    if "type" in first.columns:
        k = first.columns.index("type")
        types = first.data[:, k].astype(np.int64)
        for frame in frames[1:]:
            if not np.array_equal(frame.data[:, k].astype(np.int64), types):
                raise BadInputError(_pair(first, frame), f"atom types change between timestep {first.timestep} "
                                    f"and timestep {frame.timestep}", "the same type for each atom in every frame")

    n_frames = len(frames)
    wrapped = np.empty((n_frames, n, dim))
    unwrapped = np.empty((n_frames, n, dim))
    have_unwrapped = True
    lengths = np.empty((n_frames, dim))
    for t, frame in enumerate(frames):
        h, lo = box_matrix(frame.bounds, frame.tilt), frame.bounds[:, 0]
        with np.errstate(over="ignore", invalid="ignore"):
            w, u = _positions(frame, dim, h, lo)
        _check_derived(frame, rows[t], "positions", w[:, :dim])
        _check_inside(frame, rows[t], w, h, lo, dim)
        wrapped[t] = w[:, :dim]
        lengths[t] = np.diag(h)[:dim]
        if u is None:
            have_unwrapped = False
        else:
            _check_derived(frame, rows[t], "unwrapped positions", u[:, :dim])
            unwrapped[t] = u[:, :dim]
    if unwrap is True and not have_unwrapped:
        raise BadInputError("unwrap", f"True but {first.source} has neither unwrapped columns (xu yu ...) nor "
                            "image flags (ix iy ...)", "unwrap=None or False for this dump")

    axes = _AXES[:dim]
    extra: dict[str, np.ndarray] = {}
    if have_unwrapped and unwrap is not False:
        extra[POSITIONS_UNWRAPPED] = unwrapped
    orientations = None
    for key, prefix in ((K.VELOCITIES, "v"), (FORCES, "f"), (K.IMAGES, "i"), ("orientations", "mu")):
        cols = [prefix + a for a in axes]
        if _column_block(first, cols) is None:
            continue
        block = np.stack([_column_block(f, cols) for f in frames])
        if key == "orientations":
            orientations = block
        else:
            extra[key] = block.astype(np.int64) if key == K.IMAGES else block
    quat_cols = ["quatw", "quati", "quatj", "quatk"]
    if _column_block(first, quat_cols) is not None:
        extra[QUATERNIONS] = np.stack([_column_block(f, quat_cols) for f in frames])
        if orientations is None:
            with np.errstate(over="ignore", invalid="ignore"):
                orientations = _quaternion_directors(extra[QUATERNIONS])[..., :dim]
            for t, frame in enumerate(frames):
                _check_derived(frame, rows[t], "directors (from quatw quati quatj quatk)", orientations[t])

    with np.errstate(over="ignore"):
        times = steps * float(dt)
    if not np.isfinite(times).all():
        raise BadInputError("dt", f"{dt!r}: timestep {steps.max()} * dt overflows", "a dt that gives finite times")
    source: dict[str, Any] = {"name": "lammps_dump", "files": [str(p) for p in files], "dt": float(dt),
                              "columns": list(first.columns)}
    if "units" in first.extra:
        source["units"] = first.extra["units"]
    adata = make_particles(wrapped, times, lengths[0], orientations=orientations, extra_obsm=extra, source=source)
    adata.obs["timestep"] = steps.astype(np.int64)
    if all(f.time is not None for f in frames):
        adata.obs["dump_time"] = np.array([f.time for f in frames])
    adata.uns["box_lo"] = first.bounds[:dim, 0].copy()
    adata.uns["box_tilt"] = first.tilt.copy()
    adata.uns["box_periodic"] = list(first.periodic[:dim])
    if not np.allclose(lengths, lengths[0], rtol=0, atol=0):
        adata.obsm[K.BOX] = lengths
    adata.uns[K.PARTICLE_IDS] = ids0
    if types is not None:
        adata.uns[K.PARTICLE_TYPES] = types
    return adata


# ------------------------------------------------------------------------------------------------ HOOMD GSD
def _quaternion_directors(q: np.ndarray) -> np.ndarray:
    """Body x-axis rotated by unit quaternions q = (w, x, y, z): (1 - 2(y²+z²), 2(xy + wz), 2(xz - wy))."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=-1)


_GSD_GROUPS = {"configuration", "particles", "bonds", "angles", "dihedrals", "impropers", "constraints", "pairs",
               "log", "state"}
_GSD_READ = {"configuration": {"step", "dimensions", "box"},
             "particles": {"N", "types", "typeid", "type_shapes", "mass", "charge", "diameter", "body",
                           "moment_inertia", "position", "orientation", "velocity", "angmom", "image"}}


def _hoomd_h(boxes: np.ndarray) -> np.ndarray:
    """Box matrices (frames, 3, 3) from HOOMD boxes (Lx, Ly, Lz, xy, xz, yz): columns are the edge vectors."""
    lx, ly, lz, xy, xz, yz = np.moveaxis(boxes, -1, 0)
    h = np.zeros((len(boxes), 3, 3))
    h[:, 0, 0], h[:, 1, 1], h[:, 2, 2] = lx, ly, lz
    h[:, 0, 1], h[:, 0, 2], h[:, 1, 2] = xy * ly, xz * lz, yz * lz
    return h


_GSD_DEFAULTS = {"configuration/step": np.zeros(1, np.uint64), "configuration/dimensions": np.full(1, 3, np.uint8),
                 "configuration/box": np.array([1, 1, 1, 0, 0, 0], np.float32), "particles/N": np.zeros(1, np.uint32)}
_GSD_PER_PARTICLE = {"position": [0.0] * 3, "orientation": [1.0, 0.0, 0.0, 0.0], "velocity": [0.0] * 3,
                     "image": [0] * 3, "typeid": [0]}


def _gsd_index(n_total: int, frames: Sequence[int] | slice | None, where: str) -> list[int]:
    """The selected frame indices."""
    if frames is None:
        index = list(range(n_total))
    elif isinstance(frames, slice):
        index = list(range(n_total))[frames]
    else:
        index = [int(k) for k in frames]
        bad = [k for k in index if not -n_total <= k < n_total]
        if bad:
            raise BadInputError("frames", f"{bad} out of range: {where} has {n_total} frames", f"indices in "
                                f"{-n_total} .. {n_total - 1}")
        index = [k % n_total for k in index]
    if not index:
        raise BadInputError("frames", f"selects no frame of {where} (the file has {n_total})", "at least one frame")
    return index


def _check_gsd_names(fh, where: str) -> None:
    """Every chunk name in the file's name table belongs to the HOOMD schema (a damaged name loses its data)."""
    for name in fh.find_matching_chunk_names(""):
        group, _, item = name.partition("/")
        if group not in _GSD_GROUPS or (group in _GSD_READ and item not in _GSD_READ[group]):
            raise BadInputError(where, f"chunk name {name!r} is not in the HOOMD schema",
                                "names such as particles/position, configuration/box",
                                hint="the file's name table is damaged")


_GSD_INDEX = np.dtype([("frame", "<u8"), ("N", "<u8"), ("location", "<i8"), ("M", "<u4"), ("id", "<u2"),
                       ("type", "u1"), ("flags", "u1")])
_GSD_TYPE_SIZE = np.array([0, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8, 1])  # gsd_type 1..11: uint8 .. double, character


_GSD_MAGIC = 0x65DF65DF65DF65DF


def _check_gsd_header(path: Path) -> None:
    """The GSD header's index and name-table blocks lie inside the file (checked before libgsd opens it).

    libgsd maps the index block with the size the header declares: a damaged count maps memory past the end of the
    file, and reading it crashes the interpreter (a segmentation fault, not an exception).
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(256)
    if len(header) < 256 or int(np.frombuffer(header, dtype="<u8", count=1)[0]) != _GSD_MAGIC:
        return  # not a GSD file at all: libgsd says so
    index, n_index, names, n_names = (int(v) for v in np.frombuffer(header, dtype="<u8", count=5)[1:])
    if index + 32 * n_index > size or names + 64 * n_names > size or not n_index:
        raise BadInputError(str(path), f"the header places {n_index} index entries at byte {index} and {n_names} "
                            f"names at byte {names}, in a file of {size} bytes", "blocks inside the file",
                            hint="the header is damaged, or the file truncated")


def _check_gsd_index(path: Path, n_names: int) -> None:
    """The chunk index of a GSD file is consistent: ids, types and sizes valid, data inside the file, in order.

    libgsd checks a chunk's extent only when it reads it, after allocating an array of the size the index declares;
    checked here first, a damaged index entry is one clear error instead of a huge allocation or data read from
    the wrong place. Frames are appended in order, so their data lie in increasing order in the file.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(256)
        location, allocated = (int(v) for v in np.frombuffer(header, dtype="<u8", count=3)[1:3])
        handle.seek(min(location, size))
        raw = handle.read(min(allocated, size // _GSD_INDEX.itemsize) * _GSD_INDEX.itemsize)
    entries = np.frombuffer(raw[: len(raw) // _GSD_INDEX.itemsize * _GSD_INDEX.itemsize], dtype=_GSD_INDEX)
    used = np.flatnonzero(entries["location"] == 0)
    entries = entries[: used[0] if len(used) else len(entries)]
    if not len(entries):
        return
    kind = entries["type"].astype(np.int64)
    start = entries["location"].astype(np.float64)
    nbytes = entries["N"].astype(np.float64) * entries["M"] * _GSD_TYPE_SIZE[np.clip(kind, 0, 11)]
    frame = entries["frame"].astype(np.float64)
    order = np.lexsort((entries["id"], frame))
    problems = {
        "a frame number out of order": np.r_[False, np.diff(frame) < 0],
        "a chunk id outside the name table": entries["id"] >= n_names,
        "an unknown data type": (kind < 1) | (kind > 11),
        "an empty chunk, or one reaching outside the file": (nbytes == 0) | (start < 256) | (start + nbytes > size),
        "a chunk listed twice in one frame": np.r_[False, (np.diff(frame[order]) == 0)
                                                   & (np.diff(entries["id"][order].astype(np.int64)) == 0)][
            np.argsort(order)],
    }
    for what, bad in problems.items():
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise BadInputError(str(path), f"index entry {k} (frame {int(frame[k])}) has {what}",
                                "a consistent chunk index", hint="the file is damaged")
    cuts = np.r_[0, np.flatnonzero(np.diff(frame)) + 1]
    first, last = np.minimum.reduceat(start, cuts), np.maximum.reduceat(start + nbytes, cuts)
    late = np.flatnonzero(first[1:] < last[:-1])
    if len(late):
        k = int(late[0])
        raise BadInputError(str(path), f"the data of frame {int(frame[cuts[k + 1]])} start before those of frame "
                            f"{int(frame[cuts[k]])} end", "frames stored in the order they were written",
                            hint="the chunk index is damaged")


def _gsd_chunk(fh, k: int, name: str) -> np.ndarray | None:
    """Chunk ``name`` of frame ``k``, else of frame 0 (the GSD rule), else None."""
    for frame in (k, 0):
        if fh.chunk_exists(frame=frame, name=name):
            return fh.read_chunk(frame=frame, name=name)
    return _GSD_DEFAULTS.get(name)


def _gsd_frame(fh, k: int, where: str) -> dict[str, Any]:
    """The configuration and the per-particle arrays of frame ``k``, each checked for shape.

    Read chunk by chunk, not through ``gsd.hoomd``: that fills the defaults of every absent per-particle array (and
    of bonds, angles ...) with as many rows as a particle count read from the file, damaged or not.
    """
    out: dict[str, Any] = {}
    for name, size in (("step", 1), ("dimensions", 1), ("box", 6)):
        value = np.asarray(_gsd_chunk(fh, k, f"configuration/{name}")).ravel()
        if value.shape != (size,):
            raise BadInputError(where, f"frame {k}: configuration/{name} holds {value.size} value(s)", f"{size}")
        out[name] = value if size > 1 else value[0]
    n_chunk = np.asarray(_gsd_chunk(fh, k, "particles/N")).ravel()
    if n_chunk.shape != (1,) or not 0 < int(n_chunk[0]) < 2**31:
        raise BadInputError(where, f"frame {k}: particles/N is {n_chunk.tolist()}", "one positive particle count")
    n = out["N"] = int(n_chunk[0])
    for name, default in _GSD_PER_PARTICLE.items():
        value = _gsd_chunk(fh, k, f"particles/{name}")
        width = len(default)
        if value is None:
            out[name] = np.tile(np.asarray(default), (n, 1))
            continue
        value = np.asarray(value).reshape(len(value), -1)
        if value.shape != (n, width):
            raise BadInputError(where, f"frame {k}: particles/{name} has shape {value.shape}",
                                f"({n}, {width}) for particles/N = {n}")
        out[name] = value
    types = _gsd_chunk(fh, k, "particles/types")
    if types is None:
        out["types"] = ["A"]
    else:
        out["types"] = [row.tobytes().rstrip(b"\0").decode("utf-8") for row in np.asarray(types, dtype=np.int8)]
    out["stored"] = {name for name in ("orientation", "velocity", "image")
                     if fh.chunk_exists(frame=k, name=f"particles/{name}")
                     or fh.chunk_exists(frame=0, name=f"particles/{name}")}  # the rule of gsd.hoomd
    return out


def _check_gsd_frame(snap: dict[str, Any], k: int, dim: int, where: str) -> None:
    """Dimensions, box, step, type ids and positions inside the box, for one frame."""
    box = np.asarray(snap["box"], dtype=np.float64)
    if int(snap["dimensions"]) != dim or dim not in (2, 3):
        raise BadInputError(where, f"frame {k}: configuration/dimensions is {int(snap['dimensions'])}",
                            f"2 or 3, the same in every frame (the first selected has {dim})")
    if not np.isfinite(box).all() or (box[:dim] <= 0).any():
        raise BadInputError(where, f"frame {k}: configuration/box is {box.tolist()}",
                            f"(Lx, Ly, Lz, xy, xz, yz) finite, with the first {dim} edges positive")
    if int(snap["step"]) >= 2**63:
        raise BadInputError(where, f"frame {k}: configuration/step is {int(snap['step'])}", "a step below 2^63")
    typeid = snap["typeid"].ravel()
    if (typeid >= len(snap["types"])).any():
        raise BadInputError(where, f"frame {k}: particles/typeid holds {int(typeid.max())}",
                            f"type ids below {len(snap['types'])} (the number of particles/types)")
    h = _hoomd_h(box[None])[0]
    if dim == 2:
        h[2, 2] = 1.0
    pos = np.asarray(snap["position"], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        frac = np.linalg.solve(h, pos.T).T[:, :dim]
    far = (np.abs(frac) > 1.5).any(axis=1)  # NaN is not far: the finite check names it
    if far.any():
        p = int(np.flatnonzero(far)[0])
        raise BadInputError(where, f"frame {k}: particle {p} lies at {pos[p].tolist()}, outside the box "
                            f"{box.tolist()} by more than a box length",
                            "positions inside the box (HOOMD keeps particles wrapped)")


def _check_gsd_finite(where: str, index: list[int], arrays: dict[str, np.ndarray | None]) -> None:
    """Positions, directors, quaternions, velocities and unwrapped positions hold finite values only."""
    for key, value in arrays.items():
        if value is None:
            continue
        bad = ~np.isfinite(value).all(axis=-1)
        if bad.any():
            t, p = (int(v) for v in np.argwhere(bad)[0])
            raise BadInputError(where, f"frame {index[t]}: the {key} of particle {p} are {value[t, p].tolist()}",
                                "finite numbers", hint="the file is damaged")


def read_gsd(path: str | Path, *, frames: Sequence[int] | slice | None = None, dt: float = 1.0) -> ad.AnnData:
    """Read a HOOMD-blue GSD trajectory (schema ``hoomd``) into one AnnData row per frame.

    Parameters
    ----------
    path
        The ``.gsd`` file.
    frames
        Frame indices (a sequence of ints or a slice); ``None`` reads every frame.
    dt
        Integration time step: ``obs["time"] = step * dt`` with ``step`` from ``configuration/step``.

    Returns
    -------
    anndata.AnnData
        ``obsm["positions"]`` (n_frames, N * dim) with dim = ``configuration/dimensions``; ``obs["time"]``,
        ``obs["timestep"]``; ``uns["box"]`` (Lx, Ly[, Lz]), ``uns["box_lo"]`` (= -L/2, HOOMD boxes are centred),
        ``uns["box_tilt"]`` (xy, xz, yz converted to LAMMPS length units: xy * Ly, xz * Lz, yz * Lz),
        ``uns["box_hoomd"]`` (the raw (Lx, Ly, Lz, xy, xz, yz)); ``uns["particle_ids"]`` (0..N-1, GSD has no ids),
        ``uns["particle_types"]`` (type names per particle) and ``uns["type_names"]``. When the file stores them:
        ``obsm["quaternions"]`` (N * 4, (w, x, y, z)) with ``obsm["orientations"]`` the rotated body x-axis
        (unit director, N * dim; in 2-D (cos θ, sin θ) for q = (cos θ/2, 0, 0, sin θ/2)), ``obsm["velocities"]``,
        ``obsm["images"]`` and ``obsm["positions_unwrapped"]`` = r + h n.

    Raises
    ------
    ImportError
        The ``gsd`` package is missing (``pip install dynfer[io]``).
    BadInputError
        (a ``ValueError``) naming the file: a file libgsd cannot open or read ("Corrupt GSD file"), an inconsistent
        chunk index or a chunk name outside the HOOMD schema, particle counts or types that change between frames,
        arrays of the wrong length, a box that is not finite and positive, positions more than a box length outside
        the box, NaN or infinite positions, velocities, orientations or unwrapped positions; an empty or out-of-range
        frame selection.

    Notes
    -----
    A chunk missing from a frame falls back to frame 0 and then to the schema default (the GSD rule); a quantity
    counts as present when frame 0 or the frame itself stores its chunk. When ``configuration/step`` is absent
    every step is 0; a warning says so because ``obs["time"]`` is then constant.

    References
    ----------
    GSD documentation, "HOOMD schema", https://gsd.readthedocs.io.
    """
    try:
        import gsd.hoomd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("read_gsd needs the 'gsd' package: pip install dynfer[io]") from exc
    if not np.isfinite(dt) or dt <= 0:
        raise BadInputError(f"dt must be a positive finite number, got {dt!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    where = str(path)
    _check_gsd_header(path)
    try:
        traj = gsd.hoomd.open(str(path), mode="r")
    except Exception as exc:  # gsd raises RuntimeError/OSError on a file that is not GSD
        raise BadInputError(where, f"not a readable HOOMD GSD file ({type(exc).__name__}: {exc})",
                            "a GSD file of schema 'hoomd'") from exc
    try:
        with traj:
            fh = traj.file
            index = _gsd_index(len(traj), frames, where)
            _check_gsd_names(fh, where)
            _check_gsd_index(path, len(fh.find_matching_chunk_names("")))
            snaps = [_gsd_frame(fh, k, where) for k in index]
    except BadInputError:
        raise
    except Exception as exc:  # gsd raises RuntimeError ("Corrupt GSD file"), KeyError, MemoryError (a chunk whose
        # declared size is absurd), UnicodeDecodeError (type names) ... on damaged files
        raise BadInputError(where, f"a damaged GSD file ({type(exc).__name__}: {exc})",
                            "a complete, uncorrupted HOOMD GSD file") from exc
    first = snaps[0]
    dim, n, type_names = int(first["dimensions"]), first["N"], first["types"]
    types = first["typeid"].ravel().astype(np.int64)
    for k, snap in zip(index, snaps, strict=True):
        if snap["N"] != n:
            raise BadInputError(where, f"particle counts differ between frames: {n} in frame {index[0]} but "
                                f"{snap['N']} in frame {k}", "the same particles in every frame")
        _check_gsd_frame(snap, k, dim, where)
        if not np.array_equal(snap["typeid"].ravel(), types) or snap["types"] != type_names:
            raise BadInputError(where, f"particle types change between frame {index[0]} and frame {k}",
                                "the same types in every frame")
    boxes = np.array([np.asarray(s["box"], dtype=np.float64) for s in snaps])
    pos = np.stack([np.asarray(s["position"], dtype=np.float64) for s in snaps])
    steps = np.array([int(s["step"]) for s in snaps], dtype=np.int64)
    stored = set().union(*(s["stored"] for s in snaps))  # present when frame 0 or a selected frame stores it
    extra: dict[str, np.ndarray] = {}
    orientations = None
    if "orientation" in stored:
        quat = np.stack([np.asarray(s["orientation"], dtype=np.float64) for s in snaps])
        extra[QUATERNIONS] = quat
        with np.errstate(over="ignore", invalid="ignore"):
            orientations = _quaternion_directors(quat)[..., :dim]
    if "velocity" in stored:
        extra[K.VELOCITIES] = np.stack([np.asarray(s["velocity"], dtype=np.float64) for s in snaps])[..., :dim]
    if "image" in stored:
        images = np.stack([np.asarray(s["image"], dtype=np.int64) for s in snaps])
        extra[K.IMAGES] = images[..., :dim]
        extra[POSITIONS_UNWRAPPED] = (pos + np.einsum("fij,fnj->fni", _hoomd_h(boxes),
                                                      images.astype(np.float64)))[..., :dim]
    if len(steps) > 1 and (np.diff(steps) <= 0).any():
        warnings.warn(f"{path}: configuration/step does not increase over the selected frames (steps "
                      f"{steps[:5].tolist()}...); obs['time'] = step * dt is then not a usable time axis",
                      UserWarning, stacklevel=2)
    _check_gsd_finite(where, index, {"positions": pos[..., :dim], "orientations": orientations,
                                     **{k: v for k, v in extra.items() if k != K.IMAGES}})
    with np.errstate(over="ignore"):
        times = steps * float(dt)
    if not np.isfinite(times).all():
        raise BadInputError("dt", f"{dt!r}: step {steps.max()} * dt overflows", "a dt that gives finite times")
    lengths = boxes[0, :dim].copy()
    source = {"name": "hoomd_gsd", "files": [str(path)], "frames": [int(k) for k in index], "dt": float(dt)}
    adata = make_particles(pos[..., :dim], times, lengths, orientations=orientations,
                           extra_obsm=extra, source=source)
    adata.obs["timestep"] = steps
    adata.obs["frame"] = np.asarray(index, dtype=np.int64)
    adata.uns["box_lo"] = -lengths / 2
    b0 = boxes[0]
    adata.uns["box_tilt"] = np.array([b0[3] * b0[1], b0[4] * b0[2], b0[5] * b0[2]])
    adata.uns["box_hoomd"] = b0
    if not np.array_equal(boxes, np.broadcast_to(b0, boxes.shape)):
        adata.obsm[K.BOX] = boxes[:, :dim]
    adata.uns[K.PARTICLE_IDS] = np.arange(n, dtype=np.int64)
    adata.uns[K.PARTICLE_TYPES] = np.asarray(type_names)[types] if type_names else types
    adata.uns["type_names"] = type_names
    return adata
