r"""Plot of a fitted entropy production: where it is produced, beside where the mass is.

Reads what :func:`dynfer.tl.entropy_production` wrote (``obsm[key + '_local']`` and the stored entry); never
refits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._validation import check_int
from dynfer.pl._embedding import parse_components
from dynfer.pl._utils import finish
from dynfer.tl._entropy_production import DEFAULT_KEY, FACE
from dynfer.tl._inputs import representation
from dynfer.tl._names import representation_names
from dynfer.tl._store import check_inputs, stored_entry

__all__ = ["entropy_grid", "entropy_map"]

MAX_BINS = 4096


def _points(adata: AnnData, key: str, basis: str | None, components: Sequence[int], frames: Any
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str, str]:
    """Points ``(P, 2)``, their local production ``(P,)``, the box, and the axis labels."""
    entry = stored_entry(adata, key, face=FACE)
    check_inputs(adata, entry, key)  # the local production belongs to the data it was computed on
    local_key = f"{key}_local"
    if local_key not in adata.obsm:
        raise BadInputError("adata.obsm", f"no {local_key!r}", f"the local production {FACE} writes (refit)")
    local = np.asarray(adata.obsm[local_key], dtype=np.float64)
    if local.ndim != 2 or local.shape[0] != adata.n_obs or local.shape[1] == 0 or not np.isfinite(local).all():
        raise BadInputError(f"adata.obsm[{local_key!r}]", f"shape {local.shape} (or NaN values)",
                            f"the finite local production {FACE} writes, one row per observation (refit)")
    rows = _rows(frames, adata.n_obs)
    if basis is not None and not isinstance(basis, str):
        raise BadInputError("basis", repr(basis), "None or an obsm key (a string)")
    rep = str(entry.get("use_rep", "X"))
    if rep.startswith(K.POSITIONS) and K.N_PARTICLES in adata.uns:
        n, dim = int(adata.uns[K.N_PARTICLES]), int(adata.uns[K.DIM])
        comps = [c + 1 for c in parse_components(components, dim, "the position axes")]
        if local.shape[1] != n:
            raise BadInputError(f"adata.obsm[{local_key!r}]", f"shape {local.shape}",
                                f"({adata.n_obs}, {n}): one local production per particle (refit)")
        pos = representation(adata, K.POSITIONS).reshape(adata.n_obs, n, dim)[rows]
        pts = pos[..., [comps[0] - 1, comps[1] - 1]].reshape(-1, 2)
        try:
            box = np.asarray(adata.uns.get(K.BOX, np.full(dim, np.inf)), dtype=np.float64).reshape(-1)
            lo = np.asarray(adata.uns.get("box_lo", -box / 2), dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise BadInputError("adata.uns['box']", repr(adata.uns.get(K.BOX)), "edge lengths (numbers)") from None
        if lo.shape != box.shape:
            lo = -box / 2
        if basis is not None:
            raise BadInputError("basis", repr(basis), "None for particle data (positions are drawn)")
        edges = None
        if box.size == dim and np.isfinite(box).all() and np.isfinite(lo).all() and (box > 0).all():
            edges = np.array([[lo[comps[0] - 1], lo[comps[0] - 1] + box[comps[0] - 1]],
                              [lo[comps[1] - 1], lo[comps[1] - 1] + box[comps[1] - 1]]])
        return pts, local[rows].reshape(-1), edges, f"x{comps[0]}", f"x{comps[1]}"
    source = rep if basis is None else basis
    if basis is not None and basis not in adata.obsm:
        raise BadInputError("basis", repr(basis), f"an obsm key (adata.obsm has {list(adata.obsm.keys())})")
    coords = representation(adata, source)
    i, j = parse_components(components, coords.shape[1], repr(source))
    names = representation_names(adata, source, coords.shape[1])
    pts = coords[rows][:, [i, j]]
    return pts, local[rows, 0], None, names[i], names[j]


def _rows(frames: Any, n_obs: int) -> np.ndarray:
    """Row indices from ``frames``: ``None`` (all), integer indices (negative from the end) or a boolean mask."""
    if frames is None:
        return np.arange(n_obs)
    expected = f"None, row indices in [-{n_obs}, {n_obs}) or a boolean mask of length {n_obs}"
    arr = np.asarray(frames)
    if arr.dtype == bool:
        if arr.shape != (n_obs,):
            raise BadInputError("frames", f"a boolean mask of shape {arr.shape}", expected)
        arr = np.flatnonzero(arr)
    elif arr.dtype.kind not in "iu":
        try:
            as_float = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise BadInputError("frames", repr(frames), expected) from None
        if not np.isfinite(as_float).all() or not (as_float == np.round(as_float)).all():
            raise BadInputError("frames", repr(frames), expected)
        arr = as_float.astype(np.int64)
    rows = arr.astype(np.int64).reshape(-1)
    if rows.size == 0 or rows.min() < -n_obs or rows.max() >= n_obs:
        raise BadInputError("frames", repr(frames), expected)
    return rows


def entropy_grid(points: np.ndarray, local: np.ndarray, *, bins: int = 32, edges: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    r"""Bin local production on a 2-D grid: density and production per bin.

    Parameters
    ----------
    points
        ``(P, 2)`` positions (all particles of all frames, or embedded samples).
    local
        ``(P,)`` local production :math:`\hat e` at each point.
    bins
        Bins per axis.
    edges
        ``[[x0, x1], [y0, y1]]`` range (``None``: the data range).

    Returns
    -------
    dict
        ``x_edges``, ``y_edges``, ``density`` (fraction of points per unit area), ``mean_production`` (mean
        :math:`\hat e` of the points in a bin, ``nan`` where empty) and ``production_density`` (density times
        mean production: where the rate is produced; it sums, times the bin area, to the mean of ``local``).
    """
    try:
        pts = np.asarray(points, dtype=np.float64)
        loc = np.asarray(local, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError("points, local", "non-numeric input", "numeric arrays (P, 2) and (P,)") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise BadInputError("points", f"shape {pts.shape}", "(P, 2) positions with P >= 1")
    if loc.shape != (pts.shape[0],):
        raise BadInputError("local", f"shape {loc.shape}", f"({pts.shape[0]},): one value per point")
    if not (np.isfinite(pts).all() and np.isfinite(loc).all()):
        raise BadInputError("points, local", "NaN or infinite values", "finite positions and productions")
    check_int(bins, "bins", 2)
    if edges is not None:
        edges = np.asarray(edges, dtype=np.float64)
        if edges.shape != (2, 2) or not np.isfinite(edges).all() or (edges[:, 1] <= edges[:, 0]).any():
            raise BadInputError("edges", f"{edges.tolist()!r}", "[[x0, x1], [y0, y1]] with x0 < x1, y0 < y1")
    points, local = pts, loc
    rng = None if edges is None else [tuple(edges[0]), tuple(edges[1])]
    count, xe, ye = np.histogram2d(points[:, 0], points[:, 1], bins=bins, range=rng)
    total, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[xe, ye], weights=local)
    area = np.diff(xe)[:, None] * np.diff(ye)[None, :]
    n = max(points.shape[0], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return {"x_edges": xe, "y_edges": ye, "density": count / n / area, "mean_production": mean,
            "production_density": total / n / area}


def entropy_map(
    adata: AnnData,
    key: str = DEFAULT_KEY,
    *,
    basis: str | None = None,
    components: str | Sequence[int] = (1, 2),
    frames: Any = None,
    bins: int = 32,
    cmap: str = "magma",
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> list[Axes] | Figure | None:
    r"""The spatial decomposition of the entropy production beside the density.

    Left: the density of particles (or samples) per unit area; right: the production density
    :math:`\rho(x)\,\bar e(x)` per unit area, where :math:`\bar e` is the mean local production
    (:math:`|v_{g,i}|^2_{D_g^{-1}}` per particle) of the points in a bin, so the right panel integrates to the rate
    per particle. Reads the stored local production only.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.entropy_production`.
    key
        Its ``key_added``.
    basis
        For sample data: the ``obsm`` key of an embedding (``X_pca``, ``X_umap``; default: the representation
        fitted). Particle data are drawn at their positions.
    components
        The two components (or position axes) to draw, counted from 1 (``"1,2"`` or ``(1, 2)``). Axes are labelled
        with the representation's names (``var_names``, ``PC1``, ...; ``x1``, ``x2`` for positions).
    frames
        Rows (frames) to pool (``None``: all).
    bins
        Bins per axis.
    cmap
        Colour map. (The bins are coloured by density and production, so there is no ``color=`` column.)
    ax
        Two Axes to draw into (``None``: a new figure).
    show, save, return_fig
        scanpy's conventions: show the figure, write it to a file, return the figure.

    Returns
    -------
    list of Axes, Figure or None
        The two Axes when the figure is not shown; the figure with ``return_fig=True``.
    """
    if not isinstance(adata, AnnData):
        raise BadInputError("adata", f"a {type(adata).__name__}", "an AnnData")
    check_int(bins, "bins", 2)
    if bins > MAX_BINS:
        raise BadInputError("bins", repr(bins), f"at most {MAX_BINS} bins per axis")
    if not isinstance(cmap, str) or cmap not in matplotlib.colormaps:
        raise BadInputError("cmap", repr(cmap), "the name of a matplotlib colour map, e.g. 'magma'")
    pts, local, edges, xlabel, ylabel = _points(adata, key, basis, components, frames)
    grid = entropy_grid(pts, local, bins=int(bins), edges=edges)
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
        axes = list(axes)
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != 2 or not all(isinstance(a, Axes) for a in axes):
            raise BadInputError("ax", f"{len(axes)} object(s)", "None or two matplotlib Axes (density, production)")
        fig = axes[0].figure
    extent = [grid["x_edges"][0], grid["x_edges"][-1], grid["y_edges"][0], grid["y_edges"][-1]]
    for a, field, title in ((axes[0], "density", "density"),
                            (axes[1], "production_density", "entropy production density")):
        im = a.imshow(grid[field].T, origin="lower", extent=extent, aspect="auto", cmap=cmap)
        fig.colorbar(im, ax=a, shrink=0.85)
        a.set_title(title)
        a.set_xlabel(xlabel)
        a.set_ylabel(ylabel)
    rate = adata.uns[key].get("rate") if hasattr(adata.uns[key], "get") else None
    try:
        fig.suptitle(f"entropy production rate {float(rate):.4g}")
    except (TypeError, ValueError):
        pass  # no readable rate: no title
    return finish(fig, axes, show=show, save=save, return_fig=return_fig)
