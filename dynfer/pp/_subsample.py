"""Subsample cells per time point, seeded and without replacement."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._validation import resolve_seed
from dynfer.io._model import validate_snapshots

__all__ = ["subsample_per_time"]


def subsample_per_time(
    adata: AnnData,
    n: int,
    *,
    time_key: str = K.TIME,
    seed: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Keep at most ``n`` cells of every time point, drawn uniformly without replacement.

    Time points with ``n`` cells or fewer are kept whole. Kept cells stay in their original order, so row order
    (and with it the data model's ordering) is preserved.

    Parameters
    ----------
    adata
        Snapshot data with numeric ``obs[time_key]``.
    n
        Largest number of cells kept per time point (a positive integer).
    time_key
        Column of ``obs`` with the observation times.
    seed
        Seed of the :func:`numpy.random.default_rng` generator; ``None``: ``dynfer.settings.seed`` (fresh entropy
        when that is ``None``); the seed used is recorded in ``uns["subsample_per_time"]["seed"]``. The same seed
        always keeps the same cells.
    copy
        Return the subsample instead of subsetting ``adata`` in place.

    Returns
    -------
    AnnData or None
        The subsample when ``copy=True``, else ``None`` (``adata`` is subset in place, like
        :func:`scanpy.pp.subsample`). Writes ``uns["subsample_per_time"]`` with ``n``, ``seed``, ``time_key`` and
        ``n_cells_before`` / ``n_cells_after`` per time point (in sorted time order, with ``times``).

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer, ``seed`` is not a non-negative integer or ``None``, or ``obs[time_key]``
        is missing or not numeric.
    """
    seed = resolve_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise BadInputError(f"n must be a positive integer (cells kept per time point), got {n!r}")
    validate_snapshots(adata, time_key, min_times=1)
    times = adata.obs[time_key].to_numpy(dtype=np.float64)
    distinct, inverse, counts = np.unique(times, return_inverse=True, return_counts=True)
    rng = np.random.default_rng(seed)
    # one uniform key per cell; within each time point keep the n smallest keys (a uniform draw without replacement)
    keys = rng.random(len(times))
    order = np.lexsort((keys, inverse))
    rank = np.empty(len(times), dtype=np.int64)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank[order] = np.arange(len(times)) - np.repeat(starts, counts)
    keep = np.flatnonzero(rank < n)
    record = {
        "n": int(n),
        "seed": seed,
        "time_key": time_key,
        "times": distinct,
        "n_cells_before": counts.astype(np.int64),
        "n_cells_after": np.minimum(counts, n).astype(np.int64),
    }
    if copy:
        out = adata[keep].copy()
        out.uns["subsample_per_time"] = record
        return out
    adata._inplace_subset_obs(keep)
    adata.uns["subsample_per_time"] = record
    return None
