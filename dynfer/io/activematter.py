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


def _detect_dim(frames: list[DumpFrame], dimension: int | None) -> int:
    has_z = any(c in frames[0].columns for c in ("z", "zs", "zu", "zsu"))
    if dimension is not None:
        if dimension not in (2, 3):
            raise BadInputError(f"dimension must be 2 or 3, got {dimension!r}")
        if dimension == 3 and not has_z:
            raise BadInputError("dimension=3 but the dump has no z column (z, zs, zu or zsu)")
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
    ValueError
        A file that is not a LAMMPS text dump; a truncated frame (fewer atom lines than ``NUMBER OF ATOMS``);
        missing position columns; NaN or infinite values; atom counts, id sets or types that differ between frames;
        timesteps that do not increase within a file or repeat across files; ``unwrap=True`` without unwrapped
        columns or image flags.

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
            raise BadInputError(f"{path}: timesteps must increase within a file; timestep {steps[k + 1]} follows "
                                f"{steps[k]}")
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
            raise BadInputError(f"atom counts differ between frames: {first.n_atoms} at timestep {first.timestep} "
                                f"({first.source}) but {frame.n_atoms} at timestep {frame.timestep} ({frame.source})")
        if frame.columns != first.columns:
            raise BadInputError(f"columns differ between frames: {' '.join(first.columns)} at timestep "
                                f"{first.timestep} but {' '.join(frame.columns)} at timestep {frame.timestep}")
    for frame in frames:
        bad = ~np.isfinite(frame.data)
        if bad.any():
            rows, cols = np.nonzero(bad)
            raise BadInputError(f"{frame.source}: timestep {frame.timestep} holds {int(bad.sum())} NaN or infinite "
                                f"value(s), first in column {frame.columns[cols[0]]!r} of atom row {rows[0] + 1}")

    dim = _detect_dim(frames, dimension)
    has_id = "id" in first.columns
    n = first.n_atoms
    ids0 = None
    for frame in frames:
        if has_id:
            ids = frame.data[:, first.columns.index("id")].astype(np.int64)
            if sort:
                perm = np.argsort(ids, kind="stable")
                frame.data = frame.data[perm]
                ids = ids[perm]
            if ids0 is None:
                ids0 = ids
                if len(np.unique(ids)) != n:
                    raise BadInputError(f"{frame.source}: timestep {frame.timestep} has repeated atom ids")
            elif not np.array_equal(ids, ids0):
                what = "atom id sets" if not np.array_equal(np.sort(ids), np.sort(ids0)) else "atom orders"
                hint = "" if sort else " (pass sort=True to order atoms by id)"
                raise BadInputError(f"{what} differ between timestep {frames[0].timestep} and timestep "
                                    f"{frame.timestep} ({frame.source}){hint}")
    if ids0 is None:
        ids0 = np.arange(1, n + 1, dtype=np.int64)

    types = None
    if "type" in first.columns:
        k = first.columns.index("type")
        types = first.data[:, k].astype(np.int64)
        for frame in frames[1:]:
            if not np.array_equal(frame.data[:, k].astype(np.int64), types):
                raise BadInputError(f"atom types change between timestep {first.timestep} and timestep "
                                    f"{frame.timestep} ({frame.source})")

    n_frames = len(frames)
    wrapped = np.empty((n_frames, n, dim))
    unwrapped = np.empty((n_frames, n, dim))
    have_unwrapped = True
    lengths = np.empty((n_frames, dim))
    for t, frame in enumerate(frames):
        h, lo = box_matrix(frame.bounds, frame.tilt), frame.bounds[:, 0]
        w, u = _positions(frame, dim, h, lo)
        wrapped[t] = w[:, :dim]
        lengths[t] = np.diag(h)[:dim]
        if u is None:
            have_unwrapped = False
        else:
            unwrapped[t] = u[:, :dim]
    if unwrap is True and not have_unwrapped:
        raise BadInputError("unwrap=True but the dump has neither unwrapped columns (xu yu ...) nor image flags "
                            "(ix iy ...)")

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
            orientations = _quaternion_directors(extra[QUATERNIONS])[..., :dim]

    source: dict[str, Any] = {"name": "lammps_dump", "files": [str(p) for p in files], "dt": float(dt),
                              "columns": list(first.columns)}
    if "units" in first.extra:
        source["units"] = first.extra["units"]
    adata = make_particles(wrapped, steps * float(dt), lengths[0], orientations=orientations, extra_obsm=extra,
                           source=source)
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
    ValueError
        Particle counts or types that change between frames, an empty frame selection, NaN positions.

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
    try:
        traj = gsd.hoomd.open(str(path), mode="r")
    except Exception as exc:  # gsd raises RuntimeError/OSError on a file that is not GSD
        raise BadInputError(f"{path}: not a readable HOOMD GSD file ({exc})") from exc
    with traj:
        n_total = len(traj)
        if frames is None:
            index = list(range(n_total))
        elif isinstance(frames, slice):
            index = list(range(n_total))[frames]
        else:
            index = [int(k) for k in frames]
            bad = [k for k in index if not -n_total <= k < n_total]
            if bad:
                raise BadInputError(f"frames {bad} out of range: the file has {n_total} frames")
            index = [k % n_total for k in index]
        if not index:
            raise BadInputError(f"frames selects no frame (the file has {n_total})")
        fh = traj.file

        def stored(name: str) -> bool:
            return any(fh.chunk_exists(frame=k, name=name) for k in {0, *index})

        snaps = [traj[k] for k in index]
        first = snaps[0]
        dim = int(first.configuration.dimensions)
        n = int(first.particles.N)
        types = np.asarray(first.particles.typeid, dtype=np.int64)
        for k, snap in zip(index, snaps, strict=True):
            if int(snap.particles.N) != n:
                raise BadInputError(f"{path}: particle counts differ between frames: {n} in frame {index[0]} but "
                                    f"{int(snap.particles.N)} in frame {k}")
            if not np.array_equal(np.asarray(snap.particles.typeid, dtype=np.int64), types):
                raise BadInputError(f"{path}: particle types change between frame {index[0]} and frame {k}")
        boxes = np.array([np.asarray(s.configuration.box, dtype=np.float64) for s in snaps])
        pos = np.stack([np.asarray(s.particles.position, dtype=np.float64) for s in snaps])
        steps = np.array([int(s.configuration.step) for s in snaps], dtype=np.int64)
        extra: dict[str, np.ndarray] = {}
        orientations = None
        if stored("particles/orientation"):
            quat = np.stack([np.asarray(s.particles.orientation, dtype=np.float64) for s in snaps])
            extra[QUATERNIONS] = quat
            orientations = _quaternion_directors(quat)[..., :dim]
        if stored("particles/velocity"):
            extra[K.VELOCITIES] = np.stack([np.asarray(s.particles.velocity, dtype=np.float64) for s in snaps])[
                ..., :dim]
        if stored("particles/image"):
            images = np.stack([np.asarray(s.particles.image, dtype=np.int64) for s in snaps])
            extra[K.IMAGES] = images[..., :dim]
            lx, ly, lz, xy, xz, yz = np.moveaxis(boxes, -1, 0)
            h = np.zeros((len(snaps), 3, 3))
            h[:, 0, 0], h[:, 1, 1], h[:, 2, 2] = lx, ly, lz
            h[:, 0, 1], h[:, 0, 2], h[:, 1, 2] = xy * ly, xz * lz, yz * lz
            extra[POSITIONS_UNWRAPPED] = (pos + np.einsum("fij,fnj->fni", h, images.astype(np.float64)))[..., :dim]
        type_names = list(first.particles.types)
    if len(steps) > 1 and (np.diff(steps) <= 0).any():
        warnings.warn(f"{path}: configuration/step does not increase over the selected frames (steps "
                      f"{steps[:5].tolist()}...); obs['time'] = step * dt is then not a usable time axis",
                      UserWarning, stacklevel=2)
    if not np.isfinite(pos).all():
        raise BadInputError(f"{path}: particle positions contain NaN or infinite values")
    lengths = boxes[0, :dim].copy()
    source = {"name": "hoomd_gsd", "files": [str(path)], "frames": [int(k) for k in index], "dt": float(dt)}
    adata = make_particles(pos[..., :dim], steps * float(dt), lengths, orientations=orientations,
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
