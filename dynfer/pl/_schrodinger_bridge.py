"""Plots of a fitted Schrödinger bridge: snapshots with bridge trajectories, and θ across refinement rounds."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynfer.tl._schrodinger_bridge import DEFAULT_KEY, interpolate

__all__ = ["bridge_parameters", "schrodinger_bridge"]


def schrodinger_bridge(
    adata: AnnData,
    *,
    key: str = DEFAULT_KEY,
    dims: Sequence[int] = (0, 1),
    n_paths: int = 30,
    n_times: int = 60,
    ax: Axes | None = None,
    seed: int = 0,
) -> Axes:
    """Snapshots coloured by time, with ``n_paths`` bridge trajectories drawn through them.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.schrodinger_bridge`.
    key
        Its ``key_added``.
    dims
        The two coordinates (of ``X`` or the fitted representation) to draw.
    n_paths
        Number of trajectories drawn.
    n_times
        Time points per trajectory.
    ax
        Axes to draw into (a new figure when ``None``).
    seed
        Seed of the trajectories.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.
    """
    if key not in adata.uns:
        raise ValueError(f"adata.uns has no fitted bridge under {key!r}; run dynfer.tl.schrodinger_bridge first")
    res = adata.uns[key]
    prm = res["params"]
    rep = prm["use_rep"]
    x = np.asarray(adata.X if rep == "X" else adata.obsm[rep])
    i, j = (int(d) for d in dims)
    if max(i, j) >= x.shape[1]:
        raise ValueError(f"dims {tuple(dims)} out of range for {x.shape[1]} features")
    times = np.asarray(res["times"], dtype=np.float64)
    grid = np.linspace(times[0], times[-1], int(n_times))
    paths = interpolate(adata, grid, key=key, n=int(n_paths), seed=seed)
    traj = np.asarray(paths.X).reshape(len(grid), int(n_paths), -1)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    t = adata.obs[prm["time_key"]].to_numpy(dtype=np.float64)
    sc = ax.scatter(x[:, i], x[:, j], c=t, s=6, cmap="viridis", alpha=0.6, linewidths=0)
    ax.plot(traj[:, :, i], traj[:, :, j], color="k", lw=0.6, alpha=0.5)
    ax.figure.colorbar(sc, ax=ax, label=prm["time_key"])
    ax.set_xlabel(f"{rep}[{i}]")
    ax.set_ylabel(f"{rep}[{j}]")
    ax.set_title(f"Schrödinger bridge ({res['family']} reference)")
    return ax


def bridge_parameters(adata: AnnData, *, key: str = DEFAULT_KEY, truth: dict[str, float] | None = None) -> Figure:
    """Each scalar reference parameter θ against the refinement round (with ``truth`` as dashed lines if given).

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.schrodinger_bridge`.
    key
        Its ``key_added``.
    truth
        Known generating values, drawn for comparison.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per scalar parameter.
    """
    if key not in adata.uns:
        raise ValueError(f"adata.uns has no fitted bridge under {key!r}; run dynfer.tl.schrodinger_bridge first")
    theta = {k: np.asarray(v) for k, v in adata.uns[key]["theta"].items() if np.asarray(v).ndim == 1}
    if not theta:
        raise ValueError("this reference has no scalar parameters to plot (e.g. brownian or network drifts)")
    fig, axes = plt.subplots(1, len(theta), figsize=(2.6 * len(theta), 2.6), squeeze=False)
    for ax, (name, values) in zip(axes[0], sorted(theta.items()), strict=True):
        ax.plot(np.arange(1, len(values) + 1), values, "o-", ms=3)
        if truth and name in truth:
            ax.axhline(truth[name], color="k", ls="--", lw=1)
        ax.set_title(name)
        ax.set_xlabel("round")
    fig.tight_layout()
    return fig
