r"""A stream plot of a bridge's learned drift on an embedding, as scvelo's ``velocity_embedding_stream``.

1. The refined reference drift :math:`f_\theta(x_i)` of the stored bridge is evaluated at every cell in the fitted
   representation (the estimator is loaded, never refitted; the same field that
   :func:`dynfer.tl.schrodinger_bridge` writes to ``obsm[f"{key}_drift"]``).
2. The vectors are carried to the basis (:mod:`dynfer.pl._embedding`): exactly by the loadings for a linear basis
   (``X_pca`` of ``X``, or the representation itself), by scvelo's cosine-kernel expected displacement for a
   non-linear one (``X_umap``).
3. They are smoothed onto an ``n x n`` grid (:func:`drift_grid`): at a grid point :math:`g` with spacing :math:`h`,
   :math:`V(g) = \sum_i w_i V_i / \sum_i w_i` with :math:`w_i = \exp(-|e_i - g|^2 / (2 (s h)^2))`, ``s`` =
   ``smooth``; grid points whose kernel mass :math:`\sum_i w_i` is below ``min_mass`` times its largest value (no
   cells near) are left empty.
4. :meth:`matplotlib.axes.Axes.streamplot` draws the grid field over the cells, line width growing with the speed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynfer._errors import BadInputError
from dynfer._validation import check_int
from dynfer.pl._embedding import embedding, parse_components
from dynfer.pl._schrodinger_bridge import fitted_bridge
from dynfer.pl._utils import finish, new_axes, scatter_cells
from dynfer.tl._bridge_outputs import reference_drift
from dynfer.tl._inputs import representation
from dynfer.tl._schrodinger_bridge import DEFAULT_KEY

__all__ = ["drift_grid", "drift_stream"]


def _positive(value: float, name: str, hi: float | None = None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, (bool, np.bool_)) or not np.isfinite(v) or v <= 0 or (hi is not None and v > hi):
        raise BadInputError(name, repr(value), "a positive number" + (f" up to {hi}" if hi is not None else ""))
    return v


def drift_grid(
    points: np.ndarray, vectors: np.ndarray, *, n_grid: int = 40, smooth: float = 1.5, min_mass: float = 0.02
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Gaussian-kernel average of 2-D vectors on a regular grid (step 3 of the module docstring).

    Parameters
    ----------
    points, vectors
        ``(n, 2)`` positions and vectors; rows with NaN are left out.
    n_grid
        Grid points per axis (the grid spans the points' range).
    smooth
        Kernel width in grid spacings.
    min_mass
        Grid points with a kernel mass below ``min_mass`` times the largest one are NaN.

    Returns
    -------
    tuple
        ``(xs (n_grid,), ys (n_grid,), u (n_grid, n_grid), v (n_grid, n_grid))`` with ``u[row, col]`` at
        ``(xs[col], ys[row])``, as :meth:`~matplotlib.axes.Axes.streamplot` reads them.
    """
    pts = np.asarray(points, dtype=np.float64)
    vec = np.asarray(vectors, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or vec.shape != pts.shape:
        raise BadInputError("points, vectors", f"shapes {pts.shape} and {vec.shape}", "two (n, 2) arrays")
    n_grid = check_int(n_grid, "n_grid", 2)
    smooth = _positive(smooth, "smooth")
    min_mass = _positive(min_mass, "min_mass", 1.0)
    ok = np.isfinite(pts).all(axis=1) & np.isfinite(vec).all(axis=1)
    if ok.sum() < 2:
        raise BadInputError("points", f"{int(ok.sum())} finite point(s)", "at least 2 cells with a finite drift")
    pts, vec = pts[ok], vec[ok]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    xs = np.linspace(lo[0], lo[0] + span[0], n_grid)
    ys = np.linspace(lo[1], lo[1] + span[1], n_grid)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    # distances in units of each axis' spacing (the axes may have different scales)
    step = span / (n_grid - 1)
    mass = np.zeros(len(grid))
    total = np.zeros((len(grid), 2))
    for start in range(0, len(pts), 1024):
        d = (grid[:, None, :] - pts[None, start:start + 1024, :]) / step
        w = np.exp(-0.5 * (d ** 2).sum(axis=2) / smooth ** 2)
        mass += w.sum(axis=1)
        total += w @ vec[start:start + 1024]
    keep = mass >= min_mass * mass.max()
    field = np.full_like(total, np.nan)
    field[keep] = total[keep] / mass[keep, None]
    return xs, ys, field[:, 0].reshape(n_grid, n_grid), field[:, 1].reshape(n_grid, n_grid)


def drift_stream(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    basis: str | None = None,
    components: str | Sequence[int] = (1, 2),
    color: str | None = None,
    density: float = 1.0,
    n_grid: int = 40,
    smooth: float = 1.5,
    min_mass: float = 0.02,
    verify: bool = True,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    r"""Stream lines of the bridge's learned drift :math:`f_\theta` over the cells of an embedding.

    The refined reference drift of the stored bridge is evaluated at every cell, carried to ``basis`` and smoothed
    on a grid (see the module docstring); scvelo's ``velocity_embedding_stream`` does the same with RNA velocity.
    Nothing is refitted. The Brownian reference has no drift to draw (an error says so).

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.schrodinger_bridge`.
    key
        Its ``key_added``.
    basis
        ``obsm`` key of the embedding (``"X_pca"``, ``"X_umap"``, or ``"umap"``); ``None``: the fitted
        representation.
    components
        The two coordinates of the basis, counted from 1 (``"1,2"`` or ``(1, 2)``).
    color
        Column of ``obs`` colouring the cells (default: the time).
    density
        Density of the stream lines (:meth:`~matplotlib.axes.Axes.streamplot`).
    n_grid, smooth, min_mass
        The grid (:func:`drift_grid`).
    verify
        Refuse data changed since the fit (see :func:`dynfer.tl.load_estimator`).
    ax, show, save, return_fig
        scanpy's conventions (see :func:`dynfer.pl.schrodinger_bridge`).

    Returns
    -------
    Axes, Figure or None
        The figure if ``return_fig``; the Axes when the figure is not shown; else ``None``.
    """
    est, spec = fitted_bridge(adata, key, verify)
    if est.reference_.family == "brownian":
        raise BadInputError(f"adata.uns[{key!r}]", "a bridge with the Brownian reference (zero drift)",
                            "a fit with a drift family, e.g. dynfer.tl.schrodinger_bridge(adata, reference='linear')")
    density = _positive(density, "density", 10.0)
    colour_key = spec.obs_keys[0] if color is None else color
    if not isinstance(colour_key, str) or colour_key not in adata.obs:
        raise BadInputError("color", repr(color), f"a column of adata.obs (columns: {list(adata.obs.columns)})")
    emb = embedding(adata, spec.use_rep, basis)
    i, j = parse_components(components, emb.cells.shape[1], basis or spec.use_rep)
    drift = reference_drift(est, representation(adata, spec.use_rep))
    vec = emb.vectors(drift)[:, [i, j]]
    xs, ys, u, v = drift_grid(emb.cells[:, [i, j]], vec, n_grid=n_grid, smooth=smooth, min_mass=min_mass)
    fig, ax = new_axes(ax, (5.5, 4.5))
    scatter_cells(ax, emb.cells[:, i], emb.cells[:, j], adata.obs[colour_key], colour_key, size=5, alpha=0.35)
    speed = np.hypot(u, v)
    top = np.nanmax(speed) if np.isfinite(speed).any() else 0.0
    width = 0.4 + 1.6 * np.nan_to_num(speed / top if top > 0 else speed)
    with np.errstate(invalid="ignore"):
        ax.streamplot(xs, ys, np.ma.masked_invalid(u), np.ma.masked_invalid(v), density=density, color="k",
                      linewidth=width, arrowsize=1.0, minlength=0.05)
    ax.set_xlabel(emb.names[i])
    ax.set_ylabel(emb.names[j])
    how = "" if emb.linear is not None else "; cosine-kernel directions"
    ax.set_title(f"Learned drift ({est.reference_.family} reference{how})")
    return finish(fig, ax, show=show, save=save, return_fig=return_fig)

