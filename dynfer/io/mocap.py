"""Motion capture to AnnData: CMU ASF/AMC, BVH, C3D and the preprocessed CMU walking set ``mocap35.mat``.

Every reader returns trajectories in dynfer's data model (:mod:`dynfer._keys`): one row per frame, one trajectory
per file (or trial) in the categorical ``obs["trajectory"]``, ``obs["time"]`` in seconds counted from the first frame
of each trajectory, ``obs["frame"]`` the frame number written in the file, rows ordered by (trajectory, time), the
features in ``X`` with named ``var_names``, and the provenance (reader, files, their sha256, frame rate) in
``uns["dynfer_source"]``. The skeleton, where the format has one, goes to ``uns["skeleton"]``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd

from dynfer._errors import BadInputError
from dynfer._files import sha256_file
from dynfer.io._asf_amc import Skeleton, parse_amc, parse_asf
from dynfer.io._bvh import BVHMotion, parse_bvh
from dynfer.io._c3d import fill_missing, read_points
from dynfer.io._model import make_snapshots, validate_trajectories

__all__ = ["MOCAP35_FRAME_RATE", "SKELETON", "read_asf_amc", "read_bvh", "read_c3d", "read_mocap35"]

SKELETON = "skeleton"
"""``uns`` key of the skeleton description written by :func:`read_asf_amc` and :func:`read_bvh`."""

MOCAP35_FRAME_RATE = 10.0
"""Default frame rate (Hz) of ``mocap35.mat``: the frame spacing dt = 0.1 used by the ODE2VAE and latent-SDE loaders.

The file itself stores no rate; the CMU cameras record at 120 Hz but the preprocessing (Wang, Fleet & Hertzmann 2007;
Yildiz et al. 2019) does not state its subsampling, so this is the modelling convention of those papers.
"""

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------------------------------------- helpers


def _as_paths(paths: PathLike | Sequence[PathLike], name: str) -> list[Path]:
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not items:
        raise BadInputError(f"{name} must name at least one file")
    out = []
    for p in items:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: no such file {str(path)!r}")
        out.append(path)
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")


def _trajectory_names(paths: list[Path]) -> list[str]:
    """File stems as trajectory names; the full paths when two files share a stem."""
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    full = [str(p) for p in paths]
    return full if len(set(full)) == len(full) else [f"{s}_{i}" for i, s in enumerate(stems)]


def _check_rate(frame_rate: float, name: str = "frame_rate") -> float:
    try:
        rate = float(frame_rate)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be a positive number (frames per second), got {frame_rate!r}") from None
    if not np.isfinite(rate) or rate <= 0:
        raise BadInputError(f"{name} must be a positive number (frames per second), got {frame_rate!r}")
    return rate


def _assemble(
    blocks: list[tuple[str, np.ndarray, np.ndarray, float, str]],
    var_names: list[str],
    source: dict[str, Any],
    extra_obs: dict[str, np.ndarray] | None = None,
) -> ad.AnnData:
    """Stack (trajectory, frame numbers, values, rate, file) blocks into validated trajectory AnnData.

    Every value and time must be finite: a BadInputError names the file, the trajectory and the first bad frame.
    """
    names, frames, times, xs = [], [], [], []
    for name, frame, values, rate, where in blocks:
        with np.errstate(over="ignore"):
            t = (frame - frame[0]) / rate
        bad = np.flatnonzero(~np.isfinite(t) | ~np.isfinite(values).all(axis=1))
        if len(bad):
            what = "its time is" if not np.isfinite(t[bad[0]]) else "its values are"
            raise BadInputError(where, f"trajectory {name!r}, frame {frame[bad[0]]}: {what} not finite "
                                f"(frame rate {rate})", "finite values and times")
        names.append(np.full(len(frame), name, dtype=object))
        frames.append(frame)
        times.append(t)
        xs.append(values)
    frame_all = np.concatenate(frames)
    traj = np.concatenate(names)
    index = [f"{t}:{f}" for t, f in zip(traj, frame_all, strict=True)]
    obs = pd.DataFrame({"frame": frame_all.astype(np.int64)}, index=index)
    for key, value in (extra_obs or {}).items():
        obs[key] = value
    adata = make_snapshots(
        np.vstack(xs).astype(np.float64), np.concatenate(times), trajectory=traj, var_names=var_names, obs=obs,
        source=source,
    )
    return validate_trajectories(adata)


def _skeleton_uns_asf(skel: Skeleton) -> dict[str, Any]:
    bones = skel.bones
    return {
        "name": skel.name,
        "format": "ASF",
        "units": dict(skel.units),
        "bone": np.array([b.name for b in bones], dtype=object),
        "parent": np.array([b.parent for b in bones], dtype=object),
        "dof": np.array([" ".join(b.dof) for b in bones], dtype=object),
        "direction": np.array([b.direction for b in bones], dtype=np.float64),
        "length": np.array([b.length for b in bones], dtype=np.float64),
        "axis": np.array([b.axis for b in bones], dtype=np.float64),
        "axis_order": np.array([b.axis_order for b in bones], dtype=object),
        "root_position": np.asarray(skel.root_position, dtype=np.float64),
        "root_orientation": np.asarray(skel.root_orientation, dtype=np.float64),
    }


def _skeleton_uns_bvh(motion: BVHMotion) -> dict[str, Any]:
    joints = motion.joints
    return {
        "format": "BVH",
        "joint": np.array([j.name for j in joints], dtype=object),
        "parent": np.array([j.parent for j in joints], dtype=object),
        "offset": np.array([j.offset for j in joints], dtype=np.float64),
        "channels": np.array([" ".join(j.channels) for j in joints], dtype=object),
        "end_site": np.array([j.end_site for j in joints], dtype=bool),
    }


# ---------------------------------------------------------------------------------------------------------- readers


def read_asf_amc(
    asf_path: PathLike, amc_paths: PathLike | Sequence[PathLike], *, frame_rate: float = 120.0
) -> ad.AnnData:
    """Read CMU/Acclaim motion capture: one ASF skeleton and one or more AMC motions (one trajectory each).

    Row :math:`i` of a trajectory is the AMC frame numbered :math:`n_i`, at time
    :math:`t_i = (n_i - n_0) / f` seconds with :math:`f` the ``frame_rate``; its features are the values of every
    degree of freedom, as written in the file (angles in the ASF ``:units angle``, translations in its length unit).

    Parameters
    ----------
    asf_path
        The ``.asf`` skeleton file.
    amc_paths
        One ``.amc`` file or a sequence of them, all recorded on this skeleton. Each becomes one trajectory, named
        after the file stem.
    frame_rate
        Frames per second; AMC files do not store it. The CMU database records at 120 Hz.

    Returns
    -------
    anndata.AnnData
        ``X`` (n_frames, n_dof) with ``var_names`` ``"<bone>_<dof>"`` (``"root_tx"``, ``"lfemur_rx"``), ``var``
        columns ``bone``, ``dof``, ``lower``, ``upper`` (the ASF limits; infinite where none), ``obs["time"]``,
        ``obs["trajectory"]``, ``obs["frame"]``; ``uns["skeleton"]`` (bones, parents, dof, direction, length, axis,
        units) and ``uns["dynfer_source"]``.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    BadInputError
        (a ``ValueError``) naming the file and line: a malformed ASF (unknown or repeated degrees of freedom, values
        that are not finite numbers, limits with lower > upper), or an AMC frame that misses a bone, has the wrong
        number of values, an unknown bone or a value that is not a finite number.

    References
    ----------
    CMU Graphics Lab Motion Capture Database, http://mocap.cs.cmu.edu.
    """
    rate = _check_rate(frame_rate)
    (asf,) = _as_paths(asf_path, "asf_path")
    amcs = _as_paths(amc_paths, "amc_paths")
    skel = parse_asf(_read_text(asf), source=str(asf))
    if not skel.columns:
        raise BadInputError(f"{asf}: the skeleton has no degrees of freedom")
    blocks = []
    for name, path in zip(_trajectory_names(amcs), amcs, strict=True):
        frames, values = parse_amc(_read_text(path), skel, source=str(path))
        blocks.append((name, frames, values, rate, str(path)))
    columns = skel.columns
    source = {
        "name": "asf_amc",
        "reader": "dynfer.io.read_asf_amc",
        "format": "ASF/AMC",
        "files": [str(asf), *map(str, amcs)],
        "sha256": [sha256_file(asf), *map(sha256_file, amcs)],
        "trajectories": [b[0] for b in blocks],
        "frame_rate": rate,
        "time_unit": "s",
    }
    adata = _assemble(blocks, [f"{b}_{d}" for b, d in columns], source)
    limits = np.vstack([b.limits for b in skel.dof_bones])
    adata.var["bone"] = [b for b, _ in columns]
    adata.var["dof"] = [d for _, d in columns]
    adata.var["lower"], adata.var["upper"] = limits[:, 0], limits[:, 1]
    adata.uns[SKELETON] = _skeleton_uns_asf(skel)
    return adata


def read_bvh(paths: PathLike | Sequence[PathLike]) -> ad.AnnData:
    r"""Read Biovision Hierarchy (BVH) files, one trajectory per file.

    Row :math:`i` of a file is at time :math:`t_i = i\,\Delta t` with :math:`\Delta t` the file's
    ``Frame Time``; its features are the channel values in declaration order.

    Parameters
    ----------
    paths
        One ``.bvh`` file or a sequence of them; all must declare the same joints and channels (their frame times
        may differ). Trajectories are named after the file stems.

    Returns
    -------
    anndata.AnnData
        ``X`` (n_frames, n_channels) with ``var_names`` ``"<joint>_<channel>"`` (``"Hips_Xposition"``), ``var``
        columns ``joint`` and ``channel``, ``obs["time"]``, ``obs["trajectory"]``, ``obs["frame"]`` (0-based);
        ``uns["skeleton"]`` (joints, parents, offsets, channels; end sites as ``"<parent>_End"``) and
        ``uns["dynfer_source"]`` with each file's ``frame_rate`` = 1 / Frame Time.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    BadInputError
        (a ``ValueError``) naming the file and line: a malformed file (unknown channel names, offsets that are not
        finite), fewer or more motion lines than its ``Frames:``, a line that does not hold one finite number per
        channel, a ``Frame Time`` that is not positive, or files with different skeletons.

    References
    ----------
    M. Meredith and S. Maddock, "Motion capture file formats explained", University of Sheffield (2001).
    """
    files = _as_paths(paths, "paths")
    motions = [parse_bvh(_read_text(p), source=str(p)) for p in files]
    first = motions[0]
    for path, motion in zip(files[1:], motions[1:], strict=True):
        if motion.columns != first.columns or [j.parent for j in motion.joints] != [j.parent for j in first.joints]:
            raise BadInputError(f"{path}: its skeleton (joints and channels) differs from that of {files[0]}")
    names = _trajectory_names(files)
    rates = [1.0 / m.frame_time for m in motions]
    blocks = [(n, np.arange(len(m.values)), m.values, r, str(p))
              for n, m, r, p in zip(names, motions, rates, files, strict=True)]
    blocks = [b for b in blocks if len(b[1])]
    if not blocks:
        raise BadInputError(", ".join(map(str, files)), "every BVH file has 0 frames", "at least one frame")
    source = {
        "name": "bvh",
        "reader": "dynfer.io.read_bvh",
        "format": "BVH",
        "files": [str(p) for p in files],
        "sha256": [sha256_file(p) for p in files],
        "trajectories": names,
        "frame_rate": np.array(rates, dtype=np.float64),
        "time_unit": "s",
    }
    columns = first.columns
    adata = _assemble(blocks, [f"{j}_{c}" for j, c in columns], source)
    adata.var["joint"] = [j for j, _ in columns]
    adata.var["channel"] = [c for _, c in columns]
    adata.uns[SKELETON] = _skeleton_uns_bvh(first)
    return adata


def read_c3d(
    paths: PathLike | Sequence[PathLike], *, missing: Literal["raise", "interpolate", "drop"] = "raise"
) -> ad.AnnData:
    """Read marker positions from C3D files, one trajectory per file (needs the optional ``c3d`` package).

    Row :math:`i` is the frame numbered :math:`n_i` in the file, at time :math:`t_i = (n_i - n_0) / f` with
    :math:`f` the point rate from the file's header; its features are the x, y, z of every marker.

    Parameters
    ----------
    paths
        One ``.c3d`` file or a sequence of them, all with the same marker labels. Trajectories are named after the
        file stems.
    missing
        What to do with missing markers (C3D residual < 0): ``"raise"`` (default) raises a ValueError naming the
        markers; ``"interpolate"`` fills each gap linearly in time from the marker's observed frames (held constant
        before its first and after its last observation); ``"drop"`` removes every frame where any marker is missing
        (the kept frames keep their times, so the sampling becomes irregular). The number of missing marker-frames
        per file is stored in ``uns["dynfer_source"]["n_missing"]``.

    Returns
    -------
    anndata.AnnData
        ``X`` (n_frames, 3 n_markers) with ``var_names`` ``"<label>_x"``, ``"<label>_y"``, ``"<label>_z"``, ``var``
        columns ``marker`` and ``axis``, ``obs["time"]``, ``obs["trajectory"]``, ``obs["frame"]``;
        ``uns["dynfer_source"]`` with the frame rate and the length unit (``POINT:UNITS``).

    Raises
    ------
    ImportError
        If the ``c3d`` package is missing (``pip install dynfer[io]``).
    FileNotFoundError
        If a file does not exist.
    BadInputError
        (a ``ValueError``) naming the file: a file the ``c3d`` package cannot read, a header that disagrees with
        its parameters, fewer frames than the header declares (a truncated file), markers missing with
        ``missing="raise"``, or labels that differ between files.

    References
    ----------
    C3D file format user guide, https://www.c3d.org.
    """
    if missing not in ("raise", "interpolate", "drop"):
        raise BadInputError(f"missing must be 'raise', 'interpolate' or 'drop', got {missing!r}")
    files = _as_paths(paths, "paths")
    names = _trajectory_names(files)
    blocks, labels, rates, counts, units = [], None, [], [], []
    for name, path in zip(names, files, strict=True):
        points = read_points(path)
        if labels is None:
            labels = points.labels
        elif points.labels != labels:
            raise BadInputError(f"{path}: marker labels {points.labels} differ from those of {files[0]}: {labels}")
        xyz, frames, n_missing = fill_missing(points, missing, str(path))
        blocks.append((name, frames, xyz.reshape(len(frames), -1), points.rate, str(path)))
        rates.append(points.rate)
        counts.append(n_missing)
        units.append(points.units)
    assert labels is not None
    source = {
        "name": "c3d",
        "reader": "dynfer.io.read_c3d",
        "format": "C3D",
        "files": [str(p) for p in files],
        "sha256": [sha256_file(p) for p in files],
        "trajectories": names,
        "frame_rate": np.array(rates, dtype=np.float64),
        "units": units,
        "missing": missing,
        "n_missing": np.array(counts, dtype=np.int64),
        "time_unit": "s",
    }
    adata = _assemble(blocks, [f"{m}_{a}" for m in labels for a in "xyz"], source)
    adata.var["marker"] = [m for m in labels for _ in "xyz"]
    adata.var["axis"] = [a for _ in labels for a in "xyz"]
    return adata


_SPLITS = {"train": "Xtr", "val": "Xval", "test": "Xtest"}


_MI_SIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}  # MAT-file v5 numeric data types
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_MX_NUMERIC = range(6, 16)  # mxDOUBLE_CLASS .. mxUINT64_CLASS


def _mat5_elements(buf: bytes, pos: int, end: int, order: str, where: str) -> list[tuple[int, int, int, int]]:
    """(type, data start, data size, tag offset) of the data elements in ``buf[pos:end]``, each inside its parent."""
    out = []
    while pos < end:
        if end - pos < 8:
            raise BadInputError(where, f"a data element cut short ({end - pos} byte(s) left)", "8-byte element tags",
                                offset=pos, hint="the file is truncated")
        first, second = struct.unpack_from(order + "II", buf, pos)
        if first >> 16:  # a small data element: type and size packed in one 4-byte word
            mtype, nbytes, start, stop = first & 0xFFFF, first >> 16, pos + 4, pos + 8
        else:
            mtype, nbytes, start = first, second, pos + 8
            stop = start + nbytes + (0 if mtype == _MI_COMPRESSED else -nbytes % 8)
        if start + nbytes > end or (first >> 16 and nbytes > 4):
            raise BadInputError(where, f"a data element of {nbytes} bytes where {end - start} remain",
                                "elements inside the file", offset=pos, hint="the file is truncated or damaged")
        out.append((mtype, start, nbytes, pos))
        pos = stop
    return out


def _check_mat5_array(buf: bytes, start: int, nbytes: int, at: int, order: str, where: str) -> None:
    """One miMATRIX element: a real or complex numeric array whose data elements hold exactly its elements."""
    subs = _mat5_elements(buf, start, start + nbytes, order, where)
    if len(subs) < 4 or subs[0][0] != 6 or subs[0][2] != 8 or subs[1][0] != 5 or subs[1][2] % 4 or subs[1][2] < 8:
        raise BadInputError(where, "an array element without valid flags and dimensions", "a MAT-file v5 array",
                            offset=at, hint="the file is damaged")
    flags = buf[subs[0][1] : subs[0][1] + 4]
    mx_class, complex_ = (flags[0], flags[1] & 0x08) if order == "<" else (flags[3], flags[2] & 0x08)
    if mx_class not in _MX_NUMERIC:
        raise BadInputError(where, f"an array of MATLAB class {mx_class}", "numeric arrays (classes 6-15) only",
                            offset=at, hint="mocap35.mat holds numeric arrays only; the file is damaged or another")
    dims = np.frombuffer(buf, dtype=order + "i4", count=subs[1][2] // 4, offset=subs[1][1])
    data = subs[3:]
    if (dims < 0).any() or len(data) != 1 + bool(complex_):
        raise BadInputError(where, f"an array of dimensions {dims.tolist()} with {len(data)} data part(s)"
                            f"{' (complex)' if complex_ else ''}", "one part per real or imaginary component",
                            offset=at, hint="the file is damaged")
    for mtype, _, size, pos in data:
        if mtype not in _MI_SIZE or size != int(np.prod(dims, dtype=np.int64)) * _MI_SIZE[mtype]:
            raise BadInputError(where, f"a data part of type {mtype} and {size} bytes for dimensions "
                                f"{dims.tolist()}", "a numeric type (1-13) and one value per element", offset=pos,
                                hint="the file is damaged")


def _check_mat5(buf: bytes, where: str) -> None:
    """Check the element tree of a MAT-file v5 holding numeric arrays, before scipy reads it.

    scipy's compiled reader trusts type tags, array flags and sizes: a damaged one can crash the interpreter (a bus
    error or a segmentation fault, not an exception), so every top-level element must be a numeric array, plain or
    zlib-compressed, whose parts are consistent.
    """
    order = "<" if buf[126:128] == b"IM" else ">"
    for mtype, start, nbytes, at in _mat5_elements(buf, 128, len(buf), order, where):
        if mtype == _MI_COMPRESSED:
            try:
                inner = zlib.decompress(buf[start : start + nbytes])
            except zlib.error as err:
                raise BadInputError(where, f"a compressed element does not decompress ({err})",
                                    "a valid zlib stream", offset=at) from None
            items = _mat5_elements(inner, 0, len(inner), order, where)
            if [t for t, *_ in items] != [_MI_MATRIX]:
                raise BadInputError(where, "a compressed element that is not one array", "one array", offset=at)
            _check_mat5_array(inner, items[0][1], items[0][2], at, order, where)
        elif mtype == _MI_MATRIX:
            _check_mat5_array(buf, start, nbytes, at, order, where)
        else:
            raise BadInputError(where, f"a top-level data element of type {mtype}", "arrays (type 14 or 15)",
                                offset=at, hint="the file is damaged")


def _load_mat(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a MATLAB file: v4-v7 through scipy, v7.3 (HDF5) through h5py (axes reversed back to MATLAB's)."""
    import scipy.io
    from scipy.io.matlab import matfile_version

    where = str(path)
    try:
        major, _ = matfile_version(where)
    except Exception as err:  # ValueError, OSError, MatReadError (empty, truncated), IndexError (not a MAT file)
        raise BadInputError(where, f"not a MATLAB .mat file ({type(err).__name__}: {err})",
                            "a MAT-file (v5, v7 or v7.3)") from err
    if major == 2:
        import h5py

        try:
            with h5py.File(path, "r") as handle:
                return {k: np.asarray(v).T for k, v in handle.items() if isinstance(v, h5py.Dataset)}
        except Exception as err:  # h5py raises OSError, KeyError, RuntimeError ... on a damaged HDF5 file
            raise BadInputError(where, f"cannot read the v7.3 (HDF5) .mat file ({type(err).__name__}: {err})",
                                "an intact MAT-file", hint="truncated or damaged?") from err
    if major == 1:
        _check_mat5(path.read_bytes(), where)
    try:
        data = scipy.io.loadmat(where)
    except Exception as err:  # scipy raises several types on truncated files
        raise BadInputError(where, f"cannot read the .mat file ({type(err).__name__}: {err})", "an intact MAT-file",
                            hint="truncated?") from err
    return {k: v for k, v in data.items() if not k.startswith("__")}


def _mocap35_arrays(data: dict[str, np.ndarray], keys: list[str], low_dim: bool, mat: Path) -> list[np.ndarray]:
    """The trial arrays ``keys`` (trials, frames, features), checked for shape and finite values, and u, v."""
    where = str(mat)
    for key in [*keys, "u", "v"]:
        if key not in data:
            raise BadInputError(where, f"no array {key!r}; found {sorted(map(str, data))}", "the arrays of mocap35.mat",
                                hint="is this mocap35.mat?")
    out = []
    for key in [*keys, "u", "v"]:
        value = data[key]
        if not np.issubdtype(np.asarray(value).dtype, np.number) or np.iscomplexobj(value):
            raise BadInputError(where, f"{key!r} holds {np.asarray(value).dtype}", "real numbers")
        arr = np.asarray(value, dtype=np.float64)
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            raise BadInputError(where, f"{key!r} holds {len(bad)} NaN or infinite value(s), first at index "
                                f"{tuple(int(i) for i in bad[0])}", "finite numbers")
        out.append(arr)
    *trials, u, v = out
    for key, arr in zip(keys, trials, strict=True):
        if arr.ndim != 3 or 0 in arr.shape:
            raise BadInputError(where, f"{key!r} has shape {arr.shape}", "(trials, frames, features), none empty")
    if len({arr.shape[2] for arr in trials}) > 1:
        raise BadInputError(where, f"the splits have {[a.shape[2] for a in trials]} features", "the same number")
    n = u.shape[0] if u.ndim == 2 else -1
    if u.shape != (n, n) or v.size != n or (not low_dim and trials[0].shape[2] != n):
        raise BadInputError(where, f"'u' has shape {u.shape}, 'v' {v.shape}, the trials {trials[0].shape[2]} "
                            "features", "u (features, features) and v (features,) for the trials' features")
    return [*trials, u, v.ravel()]


def read_mocap35(
    path: PathLike,
    *,
    split: Literal["train", "val", "test", "all"] = "train",
    low_dim: bool = False,
    frame_rate: float = MOCAP35_FRAME_RATE,
) -> ad.AnnData:
    r"""Read the preprocessed CMU walking set ``mocap35.mat`` (subject 35; ODE2VAE / latent-SDE benchmark).

    Each trial is one trajectory of 300 frames; frame :math:`i` is at time :math:`t_i = i / f` with :math:`f` the
    ``frame_rate``. The 50 features are the joint-angle features of Wang, Fleet & Hertzmann (2007), centred on the
    training set; ``low_dim=True`` gives instead the whitened 3-PC projection
    :math:`(x - \bar x)\, u_{:, :3} / \sqrt{v_{:3}}` stored in the file as ``Xtr_low``.

    Parameters
    ----------
    path
        The ``mocap35.mat`` file, or a folder holding it.
    split
        ``"train"`` (``Xtr``, 16 trials), ``"val"`` (``Xval``, 3), ``"test"`` (``Xtest``, 4) or ``"all"`` (23 trials,
        in that order, with ``obs["split"]`` telling them apart).
    low_dim
        Return the 3 principal components (``PC1``..``PC3``) instead of the 50 features. The file holds them for the
        training trials only, so this needs ``split="train"``.
    frame_rate
        Frames per second. The file stores none; the default 10 Hz is the frame spacing dt = 0.1 used by the ODE2VAE
        and latent-SDE loaders (a modelling convention: the underlying CMU recordings are at 120 Hz and the
        subsampling of the preprocessing is not documented). Recorded in ``uns["dynfer_source"]``.

    Returns
    -------
    anndata.AnnData
        ``X`` (n_trials * 300, 50) with ``var_names`` ``"feature_00"``..``"feature_49"`` (or 3 ``"PC<k>"``),
        trajectories ``"<split>_<trial>"`` (``"train_00"``), ``obs["time"]``, ``obs["frame"]``, ``obs["split"]``;
        ``uns["mocap35_u"]`` (50, 50) PCA loadings and ``uns["mocap35_v"]`` (50,) their variances; provenance in
        ``uns["dynfer_source"]``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    BadInputError
        (a ``ValueError``) if ``split`` is unknown or ``low_dim`` is asked for another split than ``"train"``; naming
        the file: not a readable MAT-file (damaged, truncated), arrays missing, not 3-D, or holding NaN or inf.

    References
    ----------
    Ç. Yildiz, M. Heinonen, H. Lähdesmäki, "ODE2VAE: Deep generative second order ODEs with Bayesian neural
    networks", NeurIPS 2019. J. M. Wang, D. J. Fleet, A. Hertzmann, "Gaussian process dynamical models for human
    motion", IEEE TPAMI 30 (2008). Data: CMU Graphics Lab Motion Capture Database, http://mocap.cs.cmu.edu.
    """
    if split not in (*_SPLITS, "all"):
        raise BadInputError(f"split must be 'train', 'val', 'test' or 'all', got {split!r}")
    if low_dim and split != "train":
        raise BadInputError(
            f"low_dim=True needs split='train' (got {split!r}): mocap35.mat holds the 3-PC projection 'Xtr_low' "
            "for the training trials only; project other splits yourself with uns['mocap35_u'] and uns['mocap35_v']"
        )
    rate = _check_rate(frame_rate)
    p = Path(path)
    if p.is_dir():
        p = p / "mocap35.mat"
    (mat,) = _as_paths(p, "path")
    data = _load_mat(mat)
    splits = list(_SPLITS) if split == "all" else [split]
    keys = ["Xtr_low"] if low_dim else [_SPLITS[s] for s in splits]
    *trials, u, v = _mocap35_arrays(data, keys, low_dim, mat)
    blocks, split_col = [], []
    for s, arr in zip(splits, trials, strict=True):
        for k, trial in enumerate(arr):
            blocks.append((f"{s}_{k:02d}", np.arange(len(trial)), trial, rate, str(mat)))
            split_col += [s] * len(trial)
    n_features = blocks[0][2].shape[1]
    var_names = [f"PC{k + 1}" for k in range(n_features)] if low_dim else [f"feature_{k:02d}" for k in
                                                                          range(n_features)]
    source = {
        "name": "mocap35",
        "reader": "dynfer.io.read_mocap35",
        "files": [str(mat)],
        "sha256": [sha256_file(mat)],
        "split": split,
        "low_dim": bool(low_dim),
        "arrays": keys,
        "frame_rate": rate,
        "frame_rate_origin": (
            "default 10 Hz: dt = 0.1, the frame spacing of the ODE2VAE / latent-SDE loaders (not stored in the file)"
            if rate == MOCAP35_FRAME_RATE
            else "given by the caller"
        ),
        "time_unit": "s",
        "citation": "CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu), funded by NSF EIA-0196217; "
        "preprocessing of Yildiz et al., NeurIPS 2019",
    }
    adata = _assemble(blocks, var_names, source, extra_obs={"split": pd.Categorical(split_col, categories=splits)})
    adata.uns["mocap35_u"] = u
    adata.uns["mocap35_v"] = v
    return adata
