r"""Plots of a fitted Markov jump process: the rate graph, and observed vs model time-dependent state histograms.

Both read what :func:`dynfer.tl.mjp` stored in ``uns[key]`` (the results, or the estimator rebuilt by
:func:`dynfer.tl.load_estimator`); neither refits.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from dynfer._errors import BadInputError
from dynfer._validation import check_int
from dynfer.pl._utils import finish, new_axes
from dynfer.tl._inputs import InputSpec
from dynfer.tl._mjp import DEFAULT_KEY, FACE
from dynfer.tl._store import load_estimator, stored_entry

__all__ = ["mjp_graph", "mjp_histograms"]


def _stored_rates(adata: AnnData, key: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The stored rate matrix ``(n, n)`` and results of the fit in ``uns[key]`` (checked, never refitted)."""
    entry = stored_entry(adata, key, face=FACE)
    results = entry.get("results")
    if not hasattr(results, "get") or "rate_matrix" not in results:
        raise BadInputError(f"adata.uns[{key!r}]", "no results['rate_matrix']",
                            f"the entry {FACE} writes (refit with {FACE})")
    q = np.asarray(results["rate_matrix"], dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] < 2 or not np.isfinite(q).all():
        raise BadInputError(f"adata.uns[{key!r}]['results']['rate_matrix']", f"shape {q.shape} or non-finite values",
                            "a finite (n, n) rate matrix, n >= 2 (refit with dynfer.tl.mjp)")
    return q, dict(results)


def _state_names(state_names: Sequence[str] | None, n: int) -> list[str]:
    if state_names is None:
        return [str(i) for i in range(n)]
    names = [str(s) for s in state_names]
    if len(names) != n:
        raise BadInputError("state_names", f"{len(names)} name(s)", f"one name per state ({n})")
    return names


def mjp_graph(
    adata: AnnData,
    key: str = DEFAULT_KEY,
    *,
    threshold: float | None = None,
    min_probability: float | None = None,
    state_names: Sequence[str] | None = None,
    rate_labels: bool = False,
    node_size: str | None = "stationary",
    max_width: float = 6.0,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    r"""The rate graph of a fitted jump process: states on a circle, one arrow per link :math:`i \to j`.

    Arrow widths are proportional to the rate :math:`\hat q_{ij}` (the widest is ``max_width`` points); a link whose
    rate is zero or below ``threshold`` is not drawn. The two directions of a pair are separate, slightly curved
    arrows, so a driven (non-reversible) cycle shows as unequal widths. Reads the stored results only.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.mjp`.
    key
        Its ``key_added``.
    threshold
        Links with :math:`\hat q_{ij} \le` ``threshold`` are absent (default: :math:`10^{-3}` times the largest
        rate; ``0`` draws every positive rate).
    min_probability
        Also leave out links whose stored ``link_probability`` (the foundation model's presence probability) is
        below this value (``None``: no such filter; fits without link probabilities are not filtered).
    state_names
        A label per state (default ``0 .. n-1``).
    rate_labels
        Write the rate next to each arrow.
    node_size
        ``"stationary"`` (default): node area proportional to the stationary probability; ``None``: equal nodes.
    max_width
        Line width (points) of the fastest link.
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
    q, results = _stored_rates(adata, key)
    n = q.shape[0]
    names = _state_names(state_names, n)
    off = q.copy()
    np.fill_diagonal(off, 0.0)
    off = np.clip(off, 0.0, None)
    top = float(off.max())
    if threshold is None:
        cut = 1e-3 * top
    else:
        try:
            cut = float(threshold)
        except (TypeError, ValueError):
            raise BadInputError("threshold", repr(threshold), "a rate >= 0 or None") from None
        if not np.isfinite(cut) or cut < 0:
            raise BadInputError("threshold", repr(threshold), "a rate >= 0 or None")
    keep = off > cut
    if min_probability is not None:
        try:
            p_min = float(min_probability)
        except (TypeError, ValueError):
            raise BadInputError("min_probability", repr(min_probability), "a probability in [0, 1] or None") from None
        if not 0.0 <= p_min <= 1.0:
            raise BadInputError("min_probability", repr(min_probability), "a probability in [0, 1] or None")
        if "link_probability" in results:
            prob = np.asarray(results["link_probability"], dtype=np.float64)
            if prob.shape == (n, n):
                keep &= np.nan_to_num(prob, nan=0.0) >= p_min
    if node_size not in ("stationary", None):
        raise BadInputError("node_size", repr(node_size), "'stationary' or None")
    width = float(max_width)
    if not np.isfinite(width) or width <= 0:
        raise BadInputError("max_width", repr(max_width), "a positive line width")

    angles = np.pi / 2 - 2 * np.pi * np.arange(n) / n
    pos = np.column_stack([np.cos(angles), np.sin(angles)])
    base = 0.17 if n <= 6 else 0.17 * 6 / n
    if node_size == "stationary" and "stationary_distribution" in results:
        pi = np.clip(np.nan_to_num(np.asarray(results["stationary_distribution"], dtype=np.float64)), 0, None)
        pi = pi / pi.sum() if pi.shape == (n,) and pi.sum() > 0 else np.full(n, 1.0 / n)
        radii = base * np.sqrt(np.clip(pi * n, 0.15, 4.0)) * 0.8
    else:
        radii = np.full(n, base)

    fig, ax = new_axes(ax, (4.5, 4.5))
    colours = plt.get_cmap("tab10")(np.arange(n) % 10)
    for i in range(n):
        ax.add_patch(Circle(pos[i], radii[i], facecolor=colours[i], edgecolor="k", lw=1, alpha=0.9, zorder=3))
        ax.text(*pos[i], names[i], ha="center", va="center", zorder=4, fontsize="medium", fontweight="bold")
    for i in range(n):
        for j in range(n):
            if i == j or not keep[i, j] or off[i, j] <= 0:
                continue
            lw = max(width * off[i, j] / top, 0.3)
            d = (pos[j] - pos[i]) / np.hypot(*(pos[j] - pos[i]))
            arrow = FancyArrowPatch(pos[i] + radii[i] * d, pos[j] - radii[j] * d, arrowstyle="-|>",
                                    mutation_scale=8 + 2 * lw, lw=lw, connectionstyle="arc3,rad=0.15", color="0.25",
                                    alpha=0.8, zorder=2, shrinkA=0, shrinkB=0)
            arrow.set_gid(f"link {i}->{j}")
            ax.add_patch(arrow)
            if rate_labels:
                mid, d = (pos[i] + pos[j]) / 2, pos[j] - pos[i]
                normal = np.array([d[1], -d[0]]) / max(np.hypot(*d), 1e-12)
                ax.text(*(mid + 0.12 * normal), f"{off[i, j]:.3g}", ha="center", va="center", fontsize="x-small",
                        zorder=5)
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"Rate graph ({results.get('method', 'mjp')}; width ∝ rate)")
    return finish(fig, ax, show=show, save=save, return_fig=return_fig)


def _observed_paths(adata: AnnData, key: str, n: int) -> Any:
    """The paths the stored fit read (the ``obs`` columns it recorded), as :class:`JumpPaths` on ``n`` states."""
    from dynfer.estimators.mjp import paths_from_adata

    entry = stored_entry(adata, key, face=FACE)
    keys = InputSpec.from_dict(dict(entry["inputs"])).obs_keys
    if len(keys) < 2:
        raise BadInputError(f"adata.uns[{key!r}]['inputs']['obs_keys']", repr(keys),
                            "the state and time columns the fit read (refit with dynfer.tl.mjp)")
    state_key, time_key = keys[0], keys[1]
    if len(keys) > 2:
        source, trajectory_key = adata, keys[2]
    else:  # the fit found no trajectory column, so all rows were one path: read them without any other column
        source, trajectory_key = AnnData(obs=adata.obs[[state_key, time_key]].copy()), "trajectory"
    with warnings.catch_warnings():  # unobserved states: the fit has warned already
        warnings.simplefilter("ignore", UserWarning)
        return paths_from_adata(source, state_key=state_key, time_key=time_key, trajectory_key=trajectory_key,
                                n_states=n)


def _bins(elapsed: np.ndarray, n_bins: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and the times to draw them at.

    One bin per distinct elapsed time (drawn at that time) when there are at most 50 of them and ``n_bins`` is
    None; else ``n_bins`` (default 20) equal bins, drawn at their centres.
    """
    distinct = np.unique(elapsed)
    if n_bins is None and len(distinct) <= 50:
        if len(distinct) == 1:
            return np.array([distinct[0], distinct[0] + 1.0]), distinct
        mids = (distinct[1:] + distinct[:-1]) / 2
        return np.concatenate([[distinct[0]], mids, [distinct[-1]]]), distinct
    k = 20 if n_bins is None else n_bins
    lo, hi = float(distinct[0]), float(distinct[-1])
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, k + 1)
    return edges, (edges[1:] + edges[:-1]) / 2


def mjp_histograms(
    adata: AnnData,
    key: str = DEFAULT_KEY,
    *,
    n_paths: int | None = None,
    n_bins: int | None = None,
    seed: int | torch.Generator | None = None,
    state_names: Sequence[str] | None = None,
    verify: bool = True,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    r"""Observed vs model time-dependent state histograms: per time bin, the fraction of paths in each state.

    The observed side bins the paths the fit read by elapsed time (from each path's first observation). The model
    side simulates ``n_paths`` paths of the stored model (:meth:`RateMatrix.simulate
    <dynfer.processes.jumps.RateMatrix.simulate>`, exact Gillespie) from its fitted initial law, observed at the
    observed paths' own times (cycled when ``n_paths`` exceeds their number). Solid lines: observed; dashed: model;
    one colour per state. The title gives the time-averaged Hellinger distance
    (:func:`dynfer.evaluation.jumps.hellinger_histograms`)
    :math:`\bar H = \frac1B \sum_b \sqrt{1 - \sum_k \sqrt{p_{bk}\,\hat p_{bk}}}` (Berghaus et al. 2024, Table 2).
    The estimator is loaded (:func:`dynfer.tl.load_estimator`), never refitted.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`dynfer.tl.mjp`.
    key
        Its ``key_added``.
    n_paths
        Model paths simulated (default: as many as observed, at least 500).
    n_bins
        Number of equal time bins (default: one bin per distinct elapsed time when there are at most 50, else 20).
    seed
        Seed of the simulation (``None``: ``settings.seed``).
    state_names
        A label per state (default ``0 .. n-1``).
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
    from dynfer.evaluation.jumps import hellinger_histograms, state_histograms

    stored_entry(adata, key, face=FACE)
    est = load_estimator(adata, key, verify=verify)
    n = int(est.n_states_)
    paths = _observed_paths(adata, key, n)
    names = _state_names(state_names, n)
    if n_bins is not None:
        n_bins = check_int(n_bins, "n_bins", minimum=1)
    n_model = max(paths.n_paths, 500) if n_paths is None else check_int(n_paths, "n_paths", minimum=1)
    mask = np.arange(paths.states.shape[1])[None, :] < paths.lengths[:, None]
    elapsed = paths.times - paths.times[:, :1]
    edges, centres = _bins(elapsed[mask], n_bins)

    pick = np.arange(n_model) % paths.n_paths
    grid = np.ascontiguousarray(elapsed[pick])
    initial = np.clip(np.asarray(est.initial_distribution_, dtype=np.float64), 0, None)
    sim = est.rate_model().simulate(n_model, torch.as_tensor(grid, dtype=torch.float64),
                                    initial=torch.as_tensor(initial / initial.sum(), dtype=torch.float64), seed=seed,
                                    device="cpu").cpu().numpy()
    observed = state_histograms(paths.states, n, times=elapsed, bins=edges, mask=mask)
    model = state_histograms(sim, n, times=grid, bins=edges, mask=mask[pick])
    mean_h = hellinger_histograms(paths.states, sim, n, times=elapsed, model_times=grid, bins=edges, mask=mask,
                                  model_mask=mask[pick])

    fig, ax = new_axes(ax, (5.5, 3.5))
    colours = plt.get_cmap("tab10")(np.arange(n) % 10)
    for k in range(n):
        ax.plot(centres, observed[:, k], "-", color=colours[k], lw=1.5, label=names[k])
        ax.plot(centres, model[:, k], "--", color=colours[k], lw=1.5)
    ax.set_xlabel("time since the first observation")
    ax.set_ylabel("fraction in state")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(title="state (solid: observed, dashed: model)", fontsize="small", title_fontsize="small",
              ncol=min(n, 3), loc="best")
    ax.set_title(f"State histograms ({n_model} model paths; mean Hellinger {mean_h:.3f})")
    return finish(fig, ax, show=show, save=save, return_fig=return_fig)
