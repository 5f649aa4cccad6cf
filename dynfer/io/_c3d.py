"""Read marker trajectories from C3D files through the optional ``c3d`` package, and handle missing markers.

In C3D, a point whose residual is negative was not reconstructed in that frame (the marker is missing); its
coordinates are meaningless. Reference: C3D file format user guide, https://www.c3d.org/docs/C3D_User_Guide.pdf.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynfer._errors import BadInputError

__all__ = ["C3DPoints", "fill_missing", "read_points"]


@dataclass
class C3DPoints:
    """Markers of one C3D file: ``xyz`` (n_frames, n_markers, 3) with NaN where missing, file ``frames``, rate."""

    labels: list[str]
    xyz: np.ndarray
    frames: np.ndarray
    rate: float
    units: str


def _import_c3d():
    try:
        import c3d
    except ImportError as err:
        raise ImportError(
            "reading C3D files needs the optional 'c3d' package: pip install dynfer[io] (or pip install c3d)"
        ) from err
    return c3d


_DAMAGE_WARNINGS = ("reached end of file", "incomplete reading of data blocks", "inconsistent data block")


def _check_header(reader, where: str) -> None:
    """The header and the POINT/TRIAL parameters must agree on what decides how the data are read.

    The c3d package takes the parameter when both exist (the larger frame count, for the last frame); a header
    and a parameter that disagree mean one of them is damaged, and the data would be read with the wrong scale,
    marker count, rate or first frame.
    """
    header = reader.header
    pairs = [("point count", header.point_count, reader.point_used),
             ("point scale", header.scale_factor, reader.point_scale),
             ("point rate", header.frame_rate, reader.point_rate)]
    if header.first_frame < 65535 and reader.first_frame < 65535:  # the header holds 16 bits
        pairs.append(("first frame", header.first_frame, reader.first_frame))
    for what, in_header, in_parameters in pairs:
        if not np.isclose(float(in_header), float(in_parameters), rtol=1e-6, atol=0):
            raise BadInputError(where, f"the header gives {what} {in_header} but the POINT/TRIAL parameters "
                                f"{in_parameters}", "a header that agrees with the parameters",
                                hint="the file is damaged")


def read_points(path: Path) -> C3DPoints:
    """Markers of the C3D file at ``path``; missing points (residual < 0) become NaN.

    Refuses (:class:`~dynfer.BadInputError` naming the file) a file the ``c3d`` package cannot parse, a header that
    disagrees with the parameters, a short read (fewer frames than the header's frame count: the c3d package only
    warns and stops), data that run past the declared frames, no markers, and a rate that is not positive.
    """
    c3d = _import_c3d()
    where = str(path)
    with open(path, "rb") as handle, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reader = c3d.Reader(handle)
            _check_header(reader, where)
            labels = [str(label).strip() for label in reader.point_labels]
            rate = float(reader.point_rate)
            expected = int(reader.last_frame) - int(reader.first_frame) + 1
            frames, points = [], []
            for number, pts, _ in reader.read_frames(copy=True):
                frames.append(number)
                points.append(np.asarray(pts, dtype=np.float64))
            units_param = reader.get("POINT:UNITS")
            units = units_param.string_value.strip() if units_param is not None else ""
        except BadInputError:
            raise
        except Exception as err:  # the c3d package raises struct.error, AssertionError, ... on corrupt files
            raise BadInputError(where, f"not a readable C3D file ({type(err).__name__}: {err})",
                                "a C3D file") from err
    damage = [str(w.message).split("!")[0].split("\n")[0] for w in caught
              if any(key in str(w.message) for key in _DAMAGE_WARNINGS)]
    if len(points) != expected or damage:
        raise BadInputError(where, f"{len(points)} frame(s) read but the header declares {expected}"
                            + (f" (the c3d package warns: {damage[0].strip()})" if damage else ""),
                            f"{expected} frames", hint="the file is truncated or damaged")
    if not points:
        raise BadInputError(where, "the C3D file holds no frames", "at least one frame")
    if not np.isfinite(rate) or rate <= 0:
        raise BadInputError(where, f"the C3D header gives point rate {rate}", "a positive frame rate")
    if not labels:
        raise BadInputError(where, "the C3D file holds no markers (POINT:USED is 0)", "at least one marker")
    if len(set(labels)) != len(labels):
        raise BadInputError(where, f"marker labels are not unique: {labels}", "distinct labels")
    arr = np.stack(points)  # (frames, markers, 5): x, y, z, residual, camera mask
    if arr.shape[1] != len(labels):
        raise BadInputError(where, f"{arr.shape[1]} points per frame but {len(labels)} labels", "one label per point")
    xyz = arr[:, :, :3].copy()
    xyz[arr[:, :, 3] < 0] = np.nan
    return C3DPoints(labels=labels, xyz=xyz, frames=np.asarray(frames, dtype=np.int64), rate=rate, units=units)


def fill_missing(points: C3DPoints, missing: str, source: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Apply the ``missing`` policy; returns (xyz, frames, number of missing marker-frames found)."""
    xyz, frames = points.xyz, points.frames
    gaps = np.isnan(xyz).any(axis=2)  # (frames, markers)
    n_missing = int(gaps.sum())
    if n_missing == 0:
        return xyz, frames, 0
    if missing == "raise":
        bad = [points.labels[k] for k in np.flatnonzero(gaps.any(axis=0))]
        raise BadInputError(
            f"{source}: {n_missing} marker-frame(s) are missing (residual < 0), in marker(s) {bad}; pass "
            "missing='interpolate' to fill them linearly in time or missing='drop' to drop those frames"
        )
    if missing == "drop":
        keep = ~gaps.any(axis=1)
        if not keep.any():
            raise BadInputError(f"{source}: every frame misses at least one marker; missing='drop' would leave none")
        return xyz[keep], frames[keep], n_missing
    # interpolate: linear in frame number, constant beyond the first/last observed frame
    out = xyz.copy()
    for k in np.flatnonzero(gaps.any(axis=0)):
        ok = ~gaps[:, k]
        if not ok.any():
            raise BadInputError(f"{source}: marker {points.labels[k]!r} is missing in every frame; cannot interpolate")
        for c in range(3):
            out[~ok, k, c] = np.interp(frames[~ok], frames[ok], xyz[ok, k, c])
    return out, frames, n_missing
