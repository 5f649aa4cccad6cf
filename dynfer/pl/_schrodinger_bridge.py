"""Plots of a fitted Schrödinger bridge: cells with bridge paths, and θ across refinement rounds.

Both load the estimator that :func:`dynfer.tl.schrodinger_bridge` stored; neither refits. The paths drawn are the
bridge's own (:meth:`~dynfer.estimators.bridges.SchrodingerBridge.trajectories`: each line is one path of the
multi-marginal bridge, through every observation time), not independent marginal samples joined by lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynfer._errors import BadInputError
from dynfer._validation import check_int
from dynfer.estimators._base import resolve_seed
from dynfer.estimators.bridges.estimator import SchrodingerBridge
from dynfer.pl._embedding import embedding, parse_components
from dynfer.pl._utils import finish, new_axes, scatter_cells
from dynfer.tl._inputs import InputSpec
from dynfer.tl._schrodinger_bridge import DEFAULT_KEY, FACE
from dynfer.tl._store import load_estimator, stored_entry

__all__ = ["bridge_parameters", "fitted_bridge", "schrodinger_bridge"]


def fitted_bridge(adata: AnnData, key: str, verify: bool) -> tuple[SchrodingerBridge, InputSpec]:
    """The stored bridge in ``uns[key]`` (loaded, never refitted) and what its fit read."""
    entry = stored_entry(adata, key, face=FACE)
    est = load_estimator(adata, key, verify=verify)
    if not isinstance(est, SchrodingerBridge):
        raise BadInputError(f"adata.uns[{key!r}]", f"a {type(est).__name__}", f"a Schrödinger bridge ({FACE})")
    return est, InputSpec.from_dict(dict(entry["inputs"]))


def _paths(est: SchrodingerBridge, n_paths: int, n_times: int | None, seed: Any) -> np.ndarray:
    """``(T, n_paths, d)`` bridge paths (a seeded choice among the stored ones), on the bridge grid or resampled."""
    grid, paths = est.trajectories()
    rng = np.random.default_rng(resolve_seed(seed) if not isinstance(seed, torch.Generator) else seed.initial_seed())
    pick = np.sort(rng.choice(paths.shape[1], size=min(n_paths, paths.shape[1]), replace=False))
    paths = paths[:, pick].astype(np.float64)
    if n_times is None:
        return paths
    # piecewise-linear along every path between its grid points, all paths at once (np.interp's formula)
    tq = np.linspace(grid[0], grid[-1], n_times)
    a = np.clip(np.searchsorted(grid, tq, side="right") - 1, 0, len(grid) - 1)
    b = np.minimum(a + 1, len(grid) - 1)
    dx = (grid[b] - grid[a]).astype(np.float64)
    slope = np.divide(paths[b] - paths[a], dx[:, None, None], out=np.zeros((n_times, *paths.shape[1:])),
                      where=dx[:, None, None] > 0)
    return slope * (tq - grid[a])[:, None, None] + paths[a]


def schrodinger_bridge(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    basis: str | None = None,
    components: str | Sequence[int] = (1, 2),
    color: str | None = None,
    n_paths: int = 30,
    n_times: int | None = None,
    seed: int | torch.Generator | None = None,
    verify: bool = True,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """The cells coloured by ``color`` (default: the time), with ``n_paths`` bridge paths drawn through them.

    The paths are drawn from the stored bridge (:func:`dynfer.tl.load_estimator`, no refit): each line is one path
    of the fitted multi-marginal bridge on its own time grid. On a ``basis`` other than the fitted representation
    the paths are mapped as :mod:`dynfer.pl._embedding` describes (exactly for a linear basis such as ``X_pca`` of
    ``X``, by a k-nearest-cell average for a non-linear one such as ``X_umap``).

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.schrodinger_bridge`.
    key
        Its ``key_added``.
    basis
        ``obsm`` key of the embedding to draw in (``"X_pca"``, ``"X_umap"``, or ``"umap"``); ``None``: the fitted
        representation.
    components
        The two coordinates of the basis to draw, counted from 1 (``"1,2"`` or ``(1, 2)``).
    color
        Column of ``obs`` to colour the cells by (numeric: colour bar; categorical: legend); default the time.
    n_paths
        Number of bridge paths drawn (a seeded choice among the stored ones).
    n_times
        ``None`` (default): each path on the bridge's own grid; an int: resampled at that many equally spaced times
        (piecewise-linearly between grid points).
    seed
        Seed of the choice of paths (``None``: ``settings.seed``).
    verify
        Refuse data changed since the fit (see :func:`dynfer.tl.load_estimator`).
    ax
        Axes to draw into (a new figure when ``None``).
    show
        Show the figure (``None``: when the matplotlib backend is interactive).
    save
        File to save the figure to.
    return_fig
        Return the figure instead of the Axes.

    Returns
    -------
    Axes, Figure or None
        The figure if ``return_fig``; the Axes when the figure is not shown; else ``None``.
    """
    est, spec = fitted_bridge(adata, key, verify)
    n_paths = check_int(n_paths, "n_paths", 1)
    if n_times is not None:
        n_times = check_int(n_times, "n_times", 2)
    colour_key = spec.obs_keys[0] if color is None else color
    if not isinstance(colour_key, str) or colour_key not in adata.obs:
        raise BadInputError("color", repr(color), f"a column of adata.obs (columns: {list(adata.obs.columns)})")
    emb = embedding(adata, spec.use_rep, basis)
    i, j = parse_components(components, emb.cells.shape[1], basis or spec.use_rep)
    traj = _paths(est, n_paths, n_times, seed)
    shape = traj.shape
    drawn = emb.points(traj.reshape(-1, shape[2])).reshape(shape[0], shape[1], -1)
    fig, ax = new_axes(ax, (5, 4))
    scatter_cells(ax, emb.cells[:, i], emb.cells[:, j], adata.obs[colour_key], colour_key)
    ax.plot(drawn[:, :, i], drawn[:, :, j], color="k", lw=0.6, alpha=0.5)
    ax.set_xlabel(emb.names[i])
    ax.set_ylabel(emb.names[j])
    ax.set_title(f"Schrödinger bridge ({est.reference_.family} reference): {shape[1]} bridge paths")
    return finish(fig, ax, show=show, save=save, return_fig=return_fig)


def bridge_parameters(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    truth: dict[str, float] | None = None,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Figure | list[Axes] | None:
    """Each scalar reference parameter θ against the refinement round (with ``truth`` as dashed lines if given).

    Reads the stored results only (no data, no refit). A parameter plot, not an embedding: it has no ``basis``,
    ``components`` or ``color``.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.schrodinger_bridge`.
    key
        Its ``key_added``.
    truth
        Known generating values, drawn for comparison.
    ax
        One Axes per scalar parameter (in the parameters' sorted order), or ``None`` for a new figure.
    show, save, return_fig
        As in :func:`schrodinger_bridge`.

    Returns
    -------
    Figure, list of Axes or None
        The figure if ``return_fig``; one Axes per parameter when the figure is not shown; else ``None``.
    """
    entry = stored_entry(adata, key, face=FACE)
    results = entry.get("results")
    if not hasattr(results, "get") or not hasattr(results.get("theta"), "items"):
        raise BadInputError(f"adata.uns[{key!r}]", "no results['theta']", f"the entry {FACE} writes (refit)")
    theta = {k: np.asarray(v) for k, v in results["theta"].items() if np.asarray(v).ndim == 1}
    if not theta:
        raise BadInputError("this reference has no scalar parameters to plot (e.g. brownian or network drifts)")
    if ax is None:
        fig, grid = plt.subplots(1, len(theta), figsize=(2.6 * len(theta), 2.6), squeeze=False)
        axes = list(grid[0])
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != len(theta) or not all(isinstance(a, Axes) for a in axes):
            raise BadInputError("ax", f"{len(axes)} object(s)",
                                f"None or {len(theta)} matplotlib Axes, one per parameter {sorted(theta)}")
        fig = axes[0].figure
    for a, (name, values) in zip(axes, sorted(theta.items()), strict=True):
        a.plot(np.arange(1, len(values) + 1), values, "o-", ms=3)
        if truth and name in truth:
            a.axhline(truth[name], color="k", ls="--", lw=1)
        a.set_title(name)
        a.set_xlabel("round")
    if ax is None:
        fig.tight_layout()
    return finish(fig, axes, show=show, save=save, return_fig=return_fig)
