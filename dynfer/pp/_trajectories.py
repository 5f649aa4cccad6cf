"""From trajectory data (paths with an identity) to snapshot data (unpaired samples at each time)."""

from __future__ import annotations

import copy as _copy
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._validation import resolve_seed
from dynfer.io._model import validate_trajectories

__all__ = ["trajectories_to_snapshots"]

RECORD = "trajectories_to_snapshots"


def _shuffle_within_time(times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row order sorted by time with a uniformly random order inside each time point."""
    return np.lexsort((rng.random(len(times)), times))


def _interpolate(
    x: np.ndarray, times: np.ndarray, codes: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation of every trajectory at every grid time inside its observed span, all at once.

    Rows are grouped by trajectory (``codes``) and increasing in time within a group. Returns the interpolated
    states, their times and the trajectory code of each, for the (trajectory, grid time) pairs that lie inside the
    trajectory's span ``[first time, last time]``.
    """
    n_traj = int(codes.max()) + 1
    # exact composite sort key: (trajectory, rank of time among all data and grid times)
    universe = np.unique(np.concatenate([times, grid]))
    width = len(universe) + 1
    row_key = codes.astype(np.int64) * width + np.searchsorted(universe, times)
    traj_q = np.repeat(np.arange(n_traj), len(grid))
    time_q = np.tile(grid, n_traj)
    query_key = traj_q * width + np.searchsorted(universe, time_q)
    # rows are ordered by (trajectory, time) so row_key is increasing: last row at or before each query
    left = np.searchsorted(row_key, query_key, side="right") - 1
    first = np.full(n_traj, -1)
    last = np.full(n_traj, -1)
    present, first_row = np.unique(codes, return_index=True)
    first[present] = first_row
    present, last_from_end = np.unique(codes[::-1], return_index=True)
    last[present] = len(codes) - 1 - last_from_end
    inside = (left >= first[traj_q]) & (time_q <= times[last[traj_q]])
    left, traj_q, time_q = left[inside], traj_q[inside], time_q[inside]
    right = np.minimum(left + 1, last[traj_q])
    span = times[right] - times[left]
    weight = np.divide(time_q - times[left], span, out=np.zeros_like(time_q), where=span > 0)
    states = x[left] + weight[:, None] * (x[right] - x[left])
    return states, time_q, traj_q


def trajectories_to_snapshots(
    adata: AnnData,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    time_key: str = K.TIME,
    trajectory_key: str = K.TRAJECTORY,
    seed: int | None = None,
    copy: bool = False,
) -> AnnData | None:
    r"""Turn trajectories into snapshots: forget which row belongs to which path.

    Two modes:

    * ``times=None`` (**shuffle**): every row keeps its state and time; ``obs[trajectory_key]`` is dropped, rows
      are sorted by time and shuffled uniformly within each time point (seeded), and ``obs_names`` are renumbered,
      so no trace of the pairing across times is left. Other ``obs`` columns and ``obsm`` entries travel with
      their rows. Trajectories observed at different times give snapshots at all of those times; pass ``times``
      to put them on a common grid.
    * ``times`` given (**linear interpolation**): each trajectory :math:`(t_k, x_k)` is evaluated at each grid
      time :math:`\tau` inside its observed span, :math:`x(\tau) = x_k + \frac{\tau - t_k}{t_{k+1} - t_k}
      (x_{k+1} - x_k)` for :math:`t_k \le \tau \le t_{k+1}` (no extrapolation: a trajectory contributes nothing
      at grid times outside its span). The result holds only ``X`` and ``obs["time"]`` (plus ``var``, ``uns``):
      other ``obs`` columns, ``obsm`` and layers cannot be interpolated and are dropped. Rows are then shuffled
      within each time as in the first mode.

    Parameters
    ----------
    adata
        Trajectory data: ``obs[time_key]``, ``obs[trajectory_key]``, rows ordered by (trajectory, time).
    times
        Common observation times to interpolate to (strictly increasing), or ``None`` to keep the observed times.
    time_key
        Column of ``obs`` with the observation times.
    trajectory_key
        Column of ``obs`` with the path identity.
    seed
        Seed of the shuffle (:func:`numpy.random.default_rng`); ``None``: ``dynfer.settings.seed`` (fresh entropy when
        that is ``None``); the seed used is recorded in ``uns["trajectories_to_snapshots"]["seed"]``.
    copy
        Return the snapshot data instead of replacing ``adata``'s contents in place.

    Returns
    -------
    AnnData or None
        The snapshots when ``copy=True``, else ``None`` (``adata`` is replaced in place). Writes
        ``uns["trajectories_to_snapshots"]`` with ``method`` (``"shuffle"`` or ``"linear_interpolation"``),
        ``seed``, ``n_trajectories`` and, when interpolating, ``times`` and ``n_per_time`` (trajectories covering
        each grid time).

    Raises
    ------
    ValueError
        If ``adata`` is not valid trajectory data, ``times`` is not finite and strictly increasing, or a grid time
        lies outside every trajectory's span.
    """
    seed = resolve_seed(seed)
    validate_trajectories(adata, time_key, trajectory_key)
    if adata.isbacked and not copy:
        raise BadInputError("adata is backed on disk; use copy=True")
    rng = np.random.default_rng(seed)
    obs_times = adata.obs[time_key].to_numpy(dtype=np.float64)
    traj = adata.obs[trajectory_key]
    if bool(traj.isna().any()):
        raise BadInputError(f"adata.obs[{trajectory_key!r}]", f"{int(traj.isna().sum())} missing trajectory label(s)",
                            "a label on every row (trajectory_key names the path of each row)")
    codes = np.asarray(pd.Categorical(traj, categories=list(dict.fromkeys(traj))).codes, dtype=np.int64)
    n_traj = int(codes.max()) + 1 if len(codes) else 0
    record: dict = {"seed": seed, "n_trajectories": n_traj, "time_key": time_key}

    if times is None:
        order = _shuffle_within_time(obs_times, rng)
        new = adata[order].copy()
        del new.obs[trajectory_key]
        new.obs_names = [str(i) for i in range(new.n_obs)]
        record["method"] = "shuffle"
    else:
        try:
            grid = np.asarray(times, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise BadInputError("times must be numeric (the common observation times)") from None
        if grid.size == 0 or not np.isfinite(grid).all() or (np.diff(grid) <= 0).any():
            raise BadInputError(f"times must be finite and strictly increasing, got {np.asarray(times).tolist()}")
        if adata.X is None:
            raise BadInputError("adata.X is None; interpolation needs the states in X")
        x = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        states, state_times, _ = _interpolate(x, obs_times, codes, grid)
        per_time = np.bincount(np.searchsorted(grid, state_times), minlength=len(grid))
        empty = grid[per_time == 0]
        if empty.size:
            raise BadInputError(
                f"times {empty.tolist()} lie outside the observed span of every trajectory (data times "
                f"{obs_times.min():g} to {obs_times.max():g}); interpolation does not extrapolate"
            )
        order = _shuffle_within_time(state_times, rng)
        obs = pd.DataFrame({K.TIME: state_times[order]}, index=[str(i) for i in range(len(order))])
        new = AnnData(X=states[order].astype(x.dtype, copy=False), obs=obs, var=adata.var.copy(),
                      uns=_copy.deepcopy(dict(adata.uns)))
        record.update(method="linear_interpolation", times=grid, n_per_time=per_time.astype(np.int64))
        if time_key != K.TIME:
            new.obs[time_key] = new.obs[K.TIME]
    new.uns[RECORD] = record
    if copy:
        return new
    _replace(adata, new)
    return None


def _replace(adata: AnnData, new: AnnData) -> None:
    """Replace the contents of ``adata`` by ``new`` in place (as anndata's own in-place subsetting does)."""
    adata._init_as_actual(new)
