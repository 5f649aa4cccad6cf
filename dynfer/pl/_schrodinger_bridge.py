"""Plots of a fitted Schrödinger bridge: snapshots with bridge trajectories, and θ across refinement rounds.

Both load the estimator that :func:`dynfer.tl.schrodinger_bridge` stored; neither refits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynfer._errors import BadInputError
from dynfer.pl._utils import finish, new_axes
from dynfer.tl._inputs import InputSpec, representation
from dynfer.tl._schrodinger_bridge import DEFAULT_KEY, FACE
from dynfer.tl._store import load_estimator, stored_entry

__all__ = ["bridge_parameters", "schrodinger_bridge"]


def _scatter(ax: Axes, x: np.ndarray, y: np.ndarray, values: pd.Series, label: str) -> None:
    """Points coloured by a numeric column (colour bar) or a categorical one (legend)."""
    if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
        sc = ax.scatter(x, y, c=values.to_numpy(dtype=np.float64), s=6, cmap="viridis", alpha=0.6, linewidths=0)
        ax.figure.colorbar(sc, ax=ax, label=label)
        return
    cats = pd.Categorical(values)
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(cats.categories), 1)))
    for code, cat in enumerate(cats.categories):
        at = cats.codes == code
        ax.scatter(x[at], y[at], s=6, color=colours[code], alpha=0.6, linewidths=0, label=str(cat))
    ax.legend(title=label, markerscale=2, fontsize="small", loc="best")


def schrodinger_bridge(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    dims: Sequence[int] = (0, 1),
    color: str | None = None,
    n_paths: int = 30,
    n_times: int = 60,
    seed: int | torch.Generator | None = None,
    verify: bool = True,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """Snapshots coloured by ``color`` (default: the time), with ``n_paths`` bridge trajectories drawn through them.

    The trajectories are sampled from the stored estimator (:func:`dynfer.tl.load_estimator`): a sampling, no refit.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.schrodinger_bridge`.
    key
        Its ``key_added``.
    dims
        The two coordinates of the fitted representation to draw.
    color
        Column of ``obs`` to colour the cells by (numeric: colour bar; categorical: legend); default the time.
    n_paths
        Number of trajectories drawn.
    n_times
        Time points per trajectory.
    seed
        Seed of the trajectories (``None``: ``settings.seed``).
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
    entry = stored_entry(adata, key, face=FACE)
    est = load_estimator(adata, key, verify=verify)
    spec = InputSpec.from_dict(dict(entry["inputs"]))
    x = representation(adata, spec.use_rep)
    if len(dims) != 2:
        raise BadInputError(f"dims must name two coordinates, got {tuple(dims)}")
    i, j = (int(d) for d in dims)
    if min(i, j) < 0 or max(i, j) >= x.shape[1]:
        raise BadInputError(f"dims {tuple(dims)} out of range for {x.shape[1]} features of {spec.use_rep}")
    colour_key = spec.obs_keys[0] if color is None else color
    if colour_key not in adata.obs:
        raise BadInputError(f"color={colour_key!r} is not a column of adata.obs")
    times = np.asarray(est.times_, dtype=np.float64)
    grid = np.linspace(times[0], times[-1], int(n_times))
    traj = np.stack(est.sample(grid, n=min(int(n_paths), est.paths_.shape[1]), seed=seed))
    fig, ax = new_axes(ax, (5, 4))
    _scatter(ax, x[:, i], x[:, j], adata.obs[colour_key], colour_key)
    ax.plot(traj[:, :, i], traj[:, :, j], color="k", lw=0.6, alpha=0.5)
    names = list(adata.var_names) if spec.use_rep == "X" else [f"{spec.use_rep}[{k}]" for k in range(x.shape[1])]
    ax.set_xlabel(str(names[i]))
    ax.set_ylabel(str(names[j]))
    ax.set_title(f"Schrödinger bridge ({est.reference_.family} reference)")
    return finish(fig, ax, show=show, save=save, return_fig=return_fig)


def bridge_parameters(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    truth: dict[str, float] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Figure | list[Axes] | None:
    """Each scalar reference parameter θ against the refinement round (with ``truth`` as dashed lines if given).

    Reads the stored results only (no data, no refit).

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.schrodinger_bridge`.
    key
        Its ``key_added``.
    truth
        Known generating values, drawn for comparison.
    show, save, return_fig
        As in :func:`schrodinger_bridge`.

    Returns
    -------
    Figure, list of Axes or None
        The figure if ``return_fig``; one Axes per parameter when the figure is not shown; else ``None``.
    """
    entry = stored_entry(adata, key, face=FACE)
    theta = {k: np.asarray(v) for k, v in entry["results"]["theta"].items() if np.asarray(v).ndim == 1}
    if not theta:
        raise BadInputError("this reference has no scalar parameters to plot (e.g. brownian or network drifts)")
    fig, axes = plt.subplots(1, len(theta), figsize=(2.6 * len(theta), 2.6), squeeze=False)
    for ax, (name, values) in zip(axes[0], sorted(theta.items()), strict=True):
        ax.plot(np.arange(1, len(values) + 1), values, "o-", ms=3)
        if truth and name in truth:
            ax.axhline(truth[name], color="k", ls="--", lw=1)
        ax.set_title(name)
        ax.set_xlabel("round")
    fig.tight_layout()
    return finish(fig, list(axes[0]), show=show, save=save, return_fig=return_fig)
