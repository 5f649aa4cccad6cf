"""Construct and validate AnnData objects in dynfer's data model (see :mod:`dynfer._keys`).

Every adapter and generator returns AnnData built or checked here, so that all estimators can rely on the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from dynfer import _keys as K
from dynfer._errors import BadInputError

__all__ = [
    "make_particles",
    "make_snapshots",
    "make_states",
    "particle_state_blocks",
    "validate_particles",
    "validate_snapshots",
    "validate_states",
    "validate_trajectories",
]


def _numeric_times(values: Any, name: str) -> np.ndarray:
    try:
        times = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be numeric (one observation time per row)") from None
    if times.ndim != 1:
        raise BadInputError(f"{name} must be one-dimensional, got shape {times.shape}")
    bad = ~np.isfinite(times)
    if bad.any():
        raise BadInputError(f"{name} holds {int(bad.sum())} NaN or infinite time(s); every row needs a finite time")
    return times


def validate_snapshots(adata: ad.AnnData, time_key: str = K.TIME, *, min_times: int = 2) -> ad.AnnData:
    """Check snapshot data: numeric finite ``obs[time_key]`` with at least ``min_times`` distinct values, finite X."""
    if not isinstance(adata, ad.AnnData):
        raise BadInputError(f"adata must be an AnnData, got {type(adata).__name__}")
    if time_key not in adata.obs:
        raise BadInputError(f"adata.obs has no column {time_key!r} (time_key); columns: {list(adata.obs.columns)}")
    times = _numeric_times(adata.obs[time_key].to_numpy(), f"adata.obs[{time_key!r}]")
    n_distinct = len(np.unique(times))
    if n_distinct < min_times:
        raise BadInputError(
            f"adata.obs[{time_key!r}] has {n_distinct} distinct time(s); at least {min_times} are needed"
        )
    x = adata.X
    if x is not None:
        data = x.data if hasattr(x, "data") and not isinstance(x, np.ndarray) else np.asarray(x)
        if np.issubdtype(np.asarray(data).dtype, np.floating) and not np.isfinite(data).all():
            raise BadInputError("adata.X contains NaN or infinite values")
    return adata


def validate_trajectories(
    adata: ad.AnnData, time_key: str = K.TIME, trajectory_key: str = K.TRAJECTORY
) -> ad.AnnData:
    """Check trajectory data: snapshots plus ``obs[trajectory_key]``, rows ordered by (trajectory, time)."""
    validate_snapshots(adata, time_key, min_times=1)
    if trajectory_key not in adata.obs:
        raise BadInputError(f"adata.obs has no column {trajectory_key!r} (trajectory_key)")
    traj = adata.obs[trajectory_key]
    codes = pd.Categorical(traj).codes if not isinstance(traj.dtype, pd.CategoricalDtype) else traj.cat.codes
    codes = np.asarray(codes)
    times = adata.obs[time_key].to_numpy(dtype=np.float64)
    changes = np.flatnonzero(np.diff(codes) != 0) + 1
    starts = np.r_[0, changes]
    if len(np.unique(codes[starts])) != len(starts):
        raise BadInputError(f"rows must be grouped by {trajectory_key!r}: a trajectory appears in separate blocks")
    same = np.diff(codes) == 0
    if (np.diff(times)[same] <= 0).any():
        raise BadInputError(f"within each trajectory, {time_key!r} must be strictly increasing (rows ordered by time)")
    return adata


def validate_states(adata: ad.AnnData, state_key: str = K.STATE, *, n_states: int | None = None) -> ad.AnnData:
    """Check discrete-state data: non-negative integer ``obs[state_key]`` (below ``n_states`` if given)."""
    if state_key not in adata.obs:
        raise BadInputError(f"adata.obs has no column {state_key!r} (state_key)")
    s = adata.obs[state_key].to_numpy()
    if not np.issubdtype(s.dtype, np.integer):
        raise BadInputError(f"adata.obs[{state_key!r}] must hold integers, got dtype {s.dtype}")
    if (s < 0).any() or (n_states is not None and (s >= n_states).any()):
        hi = "" if n_states is None else f" and < {n_states}"
        raise BadInputError(f"adata.obs[{state_key!r}] must be >= 0{hi}")
    return adata


def validate_particles(adata: ad.AnnData) -> ad.AnnData:
    """Check particle data: ``obsm['positions']`` (frames, N*d), ``uns['box']`` and ``uns['n_particles']``."""
    for key in (K.N_PARTICLES, K.DIM, K.BOX):
        if key not in adata.uns:
            raise BadInputError(f"adata.uns has no {key!r}; particle data need it")
    if K.POSITIONS not in adata.obsm:
        raise BadInputError(f"adata.obsm has no {K.POSITIONS!r}")
    n, d = int(adata.uns[K.N_PARTICLES]), int(adata.uns[K.DIM])
    pos = np.asarray(adata.obsm[K.POSITIONS])
    if pos.shape != (adata.n_obs, n * d):
        raise BadInputError(f"obsm[{K.POSITIONS!r}] must have shape ({adata.n_obs}, {n * d}), got {pos.shape}")
    if not np.isfinite(pos).all():
        raise BadInputError(f"obsm[{K.POSITIONS!r}] contains NaN or infinite values")
    return adata


def make_snapshots(
    x: np.ndarray,
    times: Sequence[float] | np.ndarray,
    *,
    trajectory: Sequence[Any] | np.ndarray | None = None,
    var_names: Sequence[str] | None = None,
    obs: pd.DataFrame | None = None,
    source: Mapping[str, Any] | None = None,
) -> ad.AnnData:
    """AnnData from states ``x`` (n, d) and one time per row, optionally trajectory ids (then sorted by them, time)."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise BadInputError(f"x must be 2-dimensional (cells x features), got shape {arr.shape}")
    t = _numeric_times(times, "times")
    if len(t) != arr.shape[0]:
        raise BadInputError(f"times has {len(t)} entries but x has {arr.shape[0]} rows")
    frame = pd.DataFrame(index=[str(i) for i in range(arr.shape[0])]) if obs is None else obs.copy()
    frame.index = frame.index.astype(str)
    frame[K.TIME] = t
    if trajectory is not None:
        tr = np.asarray(trajectory)
        if len(tr) != arr.shape[0]:
            raise BadInputError(f"trajectory has {len(tr)} entries but x has {arr.shape[0]} rows")
        frame[K.TRAJECTORY] = pd.Categorical(tr.astype(str), categories=list(dict.fromkeys(tr.astype(str))))
        order = np.lexsort((t, frame[K.TRAJECTORY].cat.codes.to_numpy()))
        arr, frame = arr[order], frame.iloc[order]
    adata = ad.AnnData(X=arr, obs=frame)
    if var_names is not None:
        if len(var_names) != arr.shape[1]:
            raise BadInputError(f"var_names has {len(var_names)} names but x has {arr.shape[1]} columns")
        adata.var_names = [str(v) for v in var_names]
    if source is not None:
        adata.uns[K.SOURCE] = dict(source)
    if trajectory is not None:
        return validate_trajectories(adata)
    return validate_snapshots(adata, min_times=1)


def make_states(
    states: np.ndarray,
    times: np.ndarray,
    trajectory: np.ndarray,
    *,
    signal: np.ndarray | None = None,
    source: Mapping[str, Any] | None = None,
) -> ad.AnnData:
    """AnnData of discrete-state paths: ``obs['state']``, ``obs['time']``, ``obs['trajectory']``; signal in ``X``."""
    s = np.asarray(states)
    if not np.issubdtype(s.dtype, np.integer):
        raise BadInputError(f"states must be integers, got dtype {s.dtype}")
    x = np.zeros((len(s), 0)) if signal is None else np.asarray(signal, dtype=np.float64).reshape(len(s), -1)
    adata = make_snapshots(x, times, trajectory=trajectory, source=source)
    # make_snapshots sorted rows by (trajectory, time): sort the states the same way
    order = np.lexsort((np.asarray(times, dtype=np.float64), pd.Categorical(np.asarray(trajectory).astype(str),
                        categories=list(dict.fromkeys(np.asarray(trajectory).astype(str)))).codes))
    adata.obs[K.STATE] = s[order].astype(np.int64)
    return validate_states(adata)


def make_particles(
    positions: np.ndarray,
    times: Sequence[float] | np.ndarray,
    box: np.ndarray,
    *,
    orientations: np.ndarray | None = None,
    extra_obsm: Mapping[str, np.ndarray] | None = None,
    source: Mapping[str, Any] | None = None,
) -> ad.AnnData:
    """AnnData of a particle system from ``positions`` (frames, N, d): one row per frame, flattened in ``obsm``."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3:
        raise BadInputError(f"positions must have shape (n_frames, n_particles, dim), got {pos.shape}")
    n_frames, n, d = pos.shape
    adata = ad.AnnData(X=np.zeros((n_frames, 0)), obs=pd.DataFrame(index=[str(i) for i in range(n_frames)]))
    adata.obs[K.TIME] = _numeric_times(times, "times") if n_frames else np.zeros(0)
    adata.obsm[K.POSITIONS] = pos.reshape(n_frames, n * d)
    if orientations is not None:
        ori = np.asarray(orientations, dtype=np.float64)
        if ori.shape[:2] != (n_frames, n):
            raise BadInputError(f"orientations must start with shape ({n_frames}, {n}), got {ori.shape}")
        adata.obsm[K.ORIENTATIONS] = ori.reshape(n_frames, -1)
    for key, value in (extra_obsm or {}).items():
        adata.obsm[key] = np.asarray(value).reshape(n_frames, -1)
    adata.uns[K.BOX] = np.asarray(box, dtype=np.float64)
    adata.uns[K.N_PARTICLES] = n
    adata.uns[K.DIM] = d
    if source is not None:
        adata.uns[K.SOURCE] = dict(source)
    return validate_particles(adata)


def _particle_block(adata: ad.AnnData, key: str) -> np.ndarray:
    try:
        return np.asarray(adata.obsm[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"adata.obsm[{key!r}]", "non-numeric values", "numbers") from None


def particle_state_blocks(adata: ad.AnnData, n_active: int, *, active_key: str | None = None,
                          angle: bool = False) -> tuple[np.ndarray, str]:
    r"""Particle states ``(frames, N, dim + n_active)``: positions, then each particle's active coordinates.

    The active coordinates come from ``obsm[active_key]``; by default from ``obsm['active']`` when present, else,
    for one angle per particle (``angle=True``, 2-D), :math:`\theta = \mathrm{atan2}(o_y, o_x)` of the directors
    ``obsm['orientations']`` (what the LAMMPS and GSD readers write).

    Parameters
    ----------
    adata
        Particle data (``uns['n_particles']``, ``uns['dim']``, ``obsm['positions']``).
    n_active
        Active coordinates per particle (0: positions only).
    active_key
        The ``obsm`` key of the active coordinates (``None``: the default above).
    angle
        Whether the one active coordinate is an angle that directors may give.

    Returns
    -------
    (numpy.ndarray, str)
        The finite float64 states and the representation read: ``"positions"``, ``"positions+active"``, ...

    Raises
    ------
    BadInputError
        Missing or malformed ``uns`` counts or ``obsm`` blocks, shapes that do not fit, NaN or infinite values.
    """
    try:
        n, dim = int(adata.uns[K.N_PARTICLES]), int(adata.uns[K.DIM])
    except (KeyError, TypeError, ValueError):
        raise BadInputError("adata.uns", f"n_particles = {adata.uns.get(K.N_PARTICLES)!r}, dim = "
                            f"{adata.uns.get(K.DIM)!r}", "whole numbers >= 1 (particle data)") from None
    if n < 1 or dim < 1:
        raise BadInputError("adata.uns", f"n_particles = {n}, dim = {dim}", "whole numbers >= 1 (particle data)")
    if K.POSITIONS not in adata.obsm:
        raise BadInputError("adata", f"no obsm[{K.POSITIONS!r}]", "particle positions (frames, N * dim)")
    frames = adata.n_obs
    pos = _particle_block(adata, K.POSITIONS)
    if pos.shape != (frames, n * dim):
        raise BadInputError("adata.obsm['positions']", f"shape {pos.shape}",
                            f"({frames}, {n * dim}): n_particles x dim = {n} x {dim} coordinates per frame")
    pos = pos.reshape(frames, n, dim)
    key = K.POSITIONS
    if n_active == 0:
        states = pos
    else:
        key = active_key or (K.ACTIVE if K.ACTIVE in adata.obsm else K.ORIENTATIONS)
        if key not in adata.obsm:
            raise BadInputError("adata.obsm", f"no {key!r} (keys: {list(adata.obsm.keys())})",
                                f"the {n_active} active coordinate(s) per particle (velocities g or angles θ) in "
                                "obsm['active'], directors in obsm['orientations'] for active Brownian particles, "
                                "or the key named by active_key=")
        block = _particle_block(adata, key)
        if key == K.ORIENTATIONS and active_key is None:
            if not (angle and n_active == 1 and dim == 2 and block.ndim == 2 and block.shape[0] == frames
                    and block.shape[1] in (2 * n, 3 * n)):
                raise BadInputError("adata.obsm['orientations']", f"shape {block.shape} for {n_active} active "
                                    "coordinate(s)", f"({frames}, {2 * n}) 2-D directors of one angle per "
                                    "particle, or obsm['active']")
            directors = block.reshape(frames, n, -1)
            active = np.arctan2(directors[..., 1], directors[..., 0])[..., None]
        else:
            if block.shape != (frames, n * n_active):
                raise BadInputError(f"adata.obsm[{key!r}]", f"shape {block.shape}",
                                    f"({frames}, {n * n_active}): {n_active} active coordinate(s) per particle")
            active = block.reshape(frames, n, n_active)
        states = np.concatenate([pos, active], axis=-1)
        key = f"{K.POSITIONS}+{key}"
    if not np.isfinite(states).all():
        raise BadInputError("adata", "NaN or infinite positions or active coordinates", "finite values")
    return states, key
