"""One return convention for every plot, scanpy style: ``ax``, ``show``, ``save`` and ``return_fig``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynfer._errors import BadInputError

__all__ = ["finish", "new_axes", "scatter_cells"]


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The figure and axes to draw into: ``ax`` and its figure, or a new figure when ``ax`` is None."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    if not isinstance(ax, Axes):
        raise BadInputError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.figure, ax


def scatter_cells(ax: Axes, x: np.ndarray, y: np.ndarray, values: pd.Series, label: str, *, size: float = 6,
                  alpha: float = 0.6) -> None:
    """Cells coloured by an ``obs`` column, as scanpy does: numeric with a colour bar, categorical with a legend."""
    if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype) \
            and not pd.api.types.is_bool_dtype(values):
        sc = ax.scatter(x, y, c=values.to_numpy(dtype=np.float64), s=size, cmap="viridis", alpha=alpha,
                        linewidths=0)
        ax.figure.colorbar(sc, ax=ax, label=label)
        return
    cats = pd.Categorical(values.astype(str) if not isinstance(values.dtype, pd.CategoricalDtype) else values)
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(cats.categories), 1)))
    for code, cat in enumerate(cats.categories):
        at = cats.codes == code
        ax.scatter(x[at], y[at], s=size, color=colours[code], alpha=alpha, linewidths=0, label=str(cat))
    ax.legend(title=label, markerscale=2, fontsize="small", loc="best")


def _interactive_backend() -> bool:
    backend = matplotlib.get_backend().lower()
    return not (backend == "agg" or backend.endswith("_agg") or backend in ("pdf", "ps", "svg", "cairo", "template"))


def finish(
    fig: Figure, axes: Any, *, show: bool | None, save: str | os.PathLike | None, return_fig: bool
) -> Figure | Any | None:
    """Save and/or show a finished plot and return what scanpy's plots return.

    Parameters
    ----------
    fig
        The figure.
    axes
        The Axes (or list of Axes) drawn into.
    show
        Show the figure (``None``: when the matplotlib backend is interactive).
    save
        A file to write the figure to (the format follows the suffix), or ``None``.
    return_fig
        Return the figure.

    Returns
    -------
    Figure, Axes or None
        The figure if ``return_fig``; else the Axes when the figure is not shown; else ``None``.
    """
    if save is not None:
        target = Path(os.fspath(save))
        if not target.parent.is_dir():
            raise BadInputError("save", f"{str(target)!r}: the folder {str(target.parent)!r} does not exist",
                                "a file in an existing folder")
        try:
            fig.savefig(target, bbox_inches="tight")
        except ValueError as err:  # an unknown suffix
            raise BadInputError("save", f"{str(target)!r} ({err})", "a file name ending in .png, .pdf, .svg, ...") \
                from None
    if show is None:
        show = _interactive_backend()
    if return_fig:
        return fig
    if show:
        plt.show()
        return None
    return axes
