r"""Validated discretely observed Markov-jump paths: :class:`JumpPaths`, :func:`check_paths`, :func:`paths_from_adata`.

Path :math:`m` is observed in states :math:`s^m_0, \dots, s^m_{L_m - 1}` (integers in :math:`0..n-1`) at
non-decreasing times :math:`t^m_0 \le \dots \le t^m_{L_m - 1}`; paths may differ in length and in their times
(irregular grids). The padded arrays of :class:`JumpPaths` are what the MJP estimators consume; everything a user can
get wrong is refused here with a :class:`~dynfer._errors.BadInputError` that names the argument and what was
expected.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._validation import check_int

__all__ = ["JumpPaths", "check_paths", "paths_from_adata"]


@dataclass
class JumpPaths:
    r"""Padded, validated jump paths.

    Attributes
    ----------
    states
        ``(P, L)`` int64 state labels in ``0..n_states-1``; entries past a path's length are 0.
    times
        ``(P, L)`` float64 observation times, non-decreasing within each path; padded with the path's last time.
    lengths
        ``(P,)`` int64 number of observations of each path (``>= 1``).
    n_states
        Number of states :math:`n \ge 2`.
    """

    states: np.ndarray
    times: np.ndarray
    lengths: np.ndarray
    n_states: int

    @property
    def n_paths(self) -> int:
        """Number of paths :math:`P`."""
        return int(self.states.shape[0])

    @property
    def n_transitions(self) -> int:
        r"""Number of consecutive observation pairs :math:`\sum_m (L_m - 1)`."""
        return int(np.sum(self.lengths - 1))

    @property
    def mask(self) -> np.ndarray:
        """``(P, L)`` bool: True where an observation is valid (within the path's length)."""
        return np.arange(self.states.shape[1])[None, :] < self.lengths[:, None]

    def transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r"""Every consecutive pair :math:`(s_i, s_{i+1}, \Delta t_i)` of every path.

        Returns
        -------
        tuple of numpy.ndarray
            ``src``, ``dst`` (int64), ``dt`` (float64, :math:`\ge 0`) and ``path`` (int64 path index), each of
            length :attr:`n_transitions`, path by path in time order.
        """
        pair = self.mask[:, 1:]
        rows = np.nonzero(pair)[0]
        return (self.states[:, :-1][pair], self.states[:, 1:][pair], np.diff(self.times, axis=1)[pair], rows)

    def first_states(self) -> np.ndarray:
        """``(P,)`` int64 first observed state of each path."""
        return self.states[:, 0].copy()


def _label_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a numeric numpy array, refusing strings, bools, complex numbers and objects."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise BadInputError(name, f"a {type(value).__name__} that is not a rectangular array",
                            "integer state labels, (n_paths, L), (L,) or a list of 1-D arrays") from None
    if arr.dtype == object:
        try:
            arr = np.asarray(arr.tolist(), dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise BadInputError(name, "an object array holding non-numbers", "integer state labels") from None
    if arr.dtype.kind == "b":
        raise BadInputError(name, "booleans", "integer state labels 0..n-1 (convert with states.astype(int))")
    if arr.dtype.kind not in "iuf":
        raise BadInputError(name, f"values of dtype {arr.dtype}", "integer state labels 0..n-1")
    return arr


def _time_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 numpy array, refusing strings, bools, complex numbers and objects."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise BadInputError(name, f"a {type(value).__name__} that is not a rectangular array",
                            "numeric observation times") from None
    if arr.dtype == object:
        try:
            arr = np.asarray(arr.tolist(), dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise BadInputError(name, "an object array holding non-numbers", "numeric observation times") from None
    if arr.dtype.kind not in "iuf":
        raise BadInputError(name, f"values of dtype {arr.dtype}", "numeric (float) observation times")
    with np.errstate(all="ignore"):
        return arr.astype(np.float64)


def _is_ragged_list(value: Any) -> bool:
    """Whether ``value`` is a list/tuple of 1-D array-likes (one per path)."""
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        return False
    try:
        return all(np.ndim(v) == 1 for v in value)
    except (TypeError, ValueError):
        return False


def _pad(rows: Sequence[np.ndarray], width: int, dtype: Any) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype=dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _check_paths(
    states: Any,
    times: Any,
    lengths: Any,
    n_states: Any,
    where: str,
    state_name: str,
    time_name: str,
) -> JumpPaths:
    sname, tname, lname = f"{where}: {state_name}", f"{where}: {time_name}", f"{where}: lengths"
    # ---------------------------------------------------------------- shapes
    if _is_ragged_list(states):
        rows = [_label_array(s, sname) for s in states]
        own = np.array([len(r) for r in rows], dtype=np.int64)
        width = int(own.max())
        if np.any(own == 0):
            raise BadInputError(sname, f"an empty path (path {int(np.argmax(own == 0))})",
                                "at least one observation in every path (drop empty paths)")
        if _is_ragged_list(times):
            trows = [_time_array(t, tname) for t in times]
            if len(trows) != len(rows) or any(len(a) != len(b) for a, b in zip(trows, rows, strict=False)):
                raise BadInputError(tname, f"{len(trows)} paths of lengths {[len(t) for t in trows][:8]}",
                                    f"one time per state: {len(rows)} paths of lengths {own[:8].tolist()}")
            tm = _pad(trows, width, np.float64)
        else:
            shared = _time_array(times, tname)
            if shared.ndim != 1 or shared.shape[0] != width:
                raise BadInputError(tname, f"shape {shared.shape}",
                                    f"a list of per-path times, or shared times of shape ({width},) "
                                    "(the longest path)")
            tm = np.broadcast_to(shared, (len(rows), width)).copy()
        s = _pad(rows, width, np.float64 if any(r.dtype.kind == "f" for r in rows) else np.int64)
        if lengths is None:
            lengths = own
        else:
            ln = _lengths(lengths, len(rows), width, lname)
            if np.any(ln > own):
                raise BadInputError(lname, f"a length beyond its path (lengths {ln[:8].tolist()}, paths "
                                    f"{own[:8].tolist()})", "lengths no longer than each path")
            lengths = ln
    else:
        s = _label_array(states, sname)
        if s.ndim == 1:
            s = s[None, :]
        if s.ndim != 2:
            raise BadInputError(sname, f"shape {s.shape}", "(n_paths, L), one path (L,), or a list of 1-D arrays")
        n_paths, width = s.shape
        if n_paths == 0 or width == 0:
            raise BadInputError(sname, f"shape {s.shape} (no observations)",
                                "at least one path with two or more observations")
        tm = _time_array(times, tname)
        if tm.ndim == 1:
            if tm.shape[0] != width:
                raise BadInputError(tname, f"shape {tm.shape}", f"shared times ({width},) or per-path times "
                                    f"{s.shape}, matching {state_name} {s.shape}")
            tm = np.broadcast_to(tm, s.shape).copy()
        elif tm.shape != s.shape:
            raise BadInputError(tname, f"shape {tm.shape}", f"the shape of {state_name} {s.shape} or ({width},)")
        else:
            tm = tm.copy()
        lengths = np.full(n_paths, width, dtype=np.int64) if lengths is None else _lengths(lengths, n_paths, width,
                                                                                             lname)
    n_paths, width = s.shape
    valid = np.arange(width)[None, :] < lengths[:, None]
    # ---------------------------------------------------------------- states
    vals = s[valid]
    if vals.dtype.kind == "f":
        bad = ~np.isfinite(vals)
        if bad.any():
            raise BadInputError(sname, f"{int(bad.sum())} NaN or infinite label(s)", "integer state labels 0..n-1")
        frac = vals != np.round(vals)
        if frac.any():
            raise BadInputError(sname, f"non-integer labels such as {float(vals[frac][0])!r}",
                                "integer state labels 0..n-1 (discrete states, e.g. from dynfer.pp.idealize)")
        if np.any(np.abs(vals) > 2.0**53):
            raise BadInputError(sname, f"labels as large as {float(np.abs(vals).max()):.3g}",
                                "state labels 0..n-1")
    vals = vals.astype(np.int64)
    if np.any(vals < 0):
        raise BadInputError(sname, f"negative label {int(vals.min())}", "state labels 0..n-1")
    top = int(vals.max())
    observed = np.unique(vals)
    if n_states is None:
        n = top + 1
        if n < 2:
            raise BadInputError(sname, "a single state (0) in every observation",
                                "at least two states: a jump process needs somewhere to jump")
        if len(observed) != n:
            missing = np.setdiff1d(np.arange(min(n, len(observed) + 10)), observed)[:5]
            raise BadInputError(sname, f"labels up to {top} but {n - len(observed)} of 0..{top} never observed "
                                f"(e.g. {missing.tolist()})", "every label 0..n-1 observed",
                                hint="relabel the states 0..n-1, or pass n_states= to keep unobserved states")
    else:
        n = check_int(n_states, f"{where}: n_states", 2)
        if top >= n:
            raise BadInputError(sname, f"label {top}, more than the model's {n} states", f"labels 0..{n - 1}",
                                hint="raise n_states, or relabel the states")
        if len(observed) < n:
            unseen = np.setdiff1d(np.arange(n), observed)
            warnings.warn(f"{where}: states {unseen[:10].tolist()} of the {n} states are never observed in "
                          f"{state_name}; their rates are not identified by the data", UserWarning, stacklevel=3)
    out_states = np.where(valid, s, 0).astype(np.int64) if s.dtype.kind == "f" else np.where(valid, s, 0)
    out_states = out_states.astype(np.int64)
    # ---------------------------------------------------------------- times
    tv = tm[valid]
    bad = ~np.isfinite(tv)
    if bad.any():
        raise BadInputError(tname, f"{int(bad.sum())} NaN or infinite time(s)", "finite observation times")
    last = tm[np.arange(n_paths), lengths - 1]
    tm = np.where(valid, tm, last[:, None])
    with np.errstate(all="ignore"):
        steps = np.diff(tm, axis=1)
    if np.any(~np.isfinite(steps)):
        raise BadInputError(tname, "times so large that their differences overflow", "finite time differences")
    dec = steps < 0
    if dec.any():
        p, i = (int(v) for v in np.argwhere(dec)[0])
        raise BadInputError(tname, f"time going backwards in path {p} at observation {i + 1} "
                            f"({float(tm[p, i])!r} then {float(tm[p, i + 1])!r}; {int(dec.sum())} such step(s))",
                            "non-decreasing times along each path", hint="sort each path by time")
    if int(np.sum(lengths - 1)) == 0:
        raise BadInputError(sname, f"{n_paths} path(s), all of length 1 (no transition)",
                            "at least one path with two or more observations")
    return JumpPaths(states=out_states, times=tm, lengths=lengths.astype(np.int64), n_states=n)


def _lengths(value: Any, n_paths: int, width: int, name: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise BadInputError(name, f"a {type(value).__name__}", f"integers of shape ({n_paths},)") from None
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu" or arr.shape != (n_paths,):
        raise BadInputError(name, f"dtype {arr.dtype}, shape {arr.shape}", f"integers of shape ({n_paths},)")
    arr = arr.astype(np.int64)
    if np.any((arr < 1) | (arr > width)):
        raise BadInputError(name, f"values from {int(arr.min())} to {int(arr.max())}",
                            f"lengths in 1..{width} (each path has at least one observation)")
    return arr


def check_paths(
    states: Any,
    times: Any,
    lengths: Any = None,
    *,
    n_states: int | None = None,
    where: str = "fit",
) -> JumpPaths:
    r"""Validate discretely observed jump paths and pad them into a :class:`JumpPaths`.

    Parameters
    ----------
    states
        Integer state labels: ``(n_paths, L)``, one path ``(L,)``, or a list of 1-D arrays (ragged paths). Floats
        are accepted when they hold whole numbers.
    times
        Observation times of the same shape (a list of 1-D arrays for ragged paths), or shared ``(L,)`` times
        (the longest path's length for ragged paths); non-decreasing along each path.
    lengths
        Valid observations per path ``(n_paths,)``, each in ``1..L``; entries past a path's length are ignored.
    n_states
        Number of states :math:`n \ge 2`. ``None``: the largest label + 1, and every label ``0..n-1`` must be
        observed; when given, states never observed give a ``UserWarning``.
    where
        Prefix of error messages (the calling function).

    Returns
    -------
    JumpPaths
        Padded int64 states, float64 times, int64 lengths and the number of states.

    Raises
    ------
    BadInputError
        For non-integer, boolean, string, negative or too large (``>= n_states``) labels, NaN/infinite or
        decreasing times, mismatched shapes, data without any transition (only paths of length 1), ``n_states < 2``
        and, with ``n_states=None``, a label ``0..n-1`` never observed; the message names the argument.
    """
    return _check_paths(states, times, lengths, n_states, where, "states", "times")


def paths_from_adata(
    adata: Any,
    *,
    state_key: str = K.STATE,
    time_key: str = K.TIME,
    trajectory_key: str = K.TRAJECTORY,
    n_states: int | None = None,
) -> JumpPaths:
    """Jump paths from discrete-state AnnData (``obs[state_key]``, ``obs[time_key]``, ``obs[trajectory_key]``).

    Rows are grouped by trajectory (in order of first appearance) and put in time order within each (a stable
    sort: equal times keep their row order). Without a ``trajectory_key`` column all rows are one path. This is the
    data model that :func:`dynfer.pp.idealize` and :func:`dynfer.io.make_states` write.

    Parameters
    ----------
    adata
        AnnData (or anything with a pandas ``obs``).
    state_key, time_key, trajectory_key
        ``obs`` columns of the integer states, the times and the path ids.
    n_states
        As in :func:`check_paths`.

    Returns
    -------
    JumpPaths
        The validated paths.

    Raises
    ------
    BadInputError
        Naming the ``obs`` column at fault (missing, non-numeric, non-integer states, ...).
    """
    obs = getattr(adata, "obs", None)
    if obs is None or not hasattr(obs, "columns"):
        raise BadInputError("adata", f"a {type(adata).__name__}", "an AnnData with obs columns of states and times")
    for key, what in ((state_key, "integer states"), (time_key, "observation times")):
        if key not in obs.columns:
            raise BadInputError(f"adata.obs[{key!r}]", "no such column", f"a column of {what}",
                                hint=f"obs has {list(obs.columns)[:10]}; pass {'state' if key == state_key else 'time'}"
                                     "_key= to name another")
    s_col, t_col = obs[state_key], obs[time_key]
    s = _label_array(np.asarray(s_col.to_numpy()), f"adata.obs[{state_key!r}]")
    t = _time_array(np.asarray(t_col.to_numpy()), f"adata.obs[{time_key!r}]")
    if len(s) == 0:
        raise BadInputError(f"adata.obs[{state_key!r}]", "no rows", "at least one path with two or more observations")
    if trajectory_key in obs.columns:
        import pandas as pd

        codes, _ = pd.factorize(obs[trajectory_key], sort=False)
        if np.any(codes < 0):
            raise BadInputError(f"adata.obs[{trajectory_key!r}]", f"{int(np.sum(codes < 0))} missing path id(s)",
                                "a path id on every row")
    else:
        codes = np.zeros(len(s), dtype=np.int64)
    key_t = np.where(np.isfinite(t), t, np.inf)  # NaN times are refused below, with the column named
    order = np.lexsort((key_t, codes))
    codes, s, t = codes[order], s[order], t[order]
    n_paths = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_paths)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    width = int(counts.max())
    pos = np.arange(len(codes)) - starts[codes]
    st = np.zeros((n_paths, width), dtype=s.dtype)
    tm = np.zeros((n_paths, width), dtype=np.float64)
    st[codes, pos] = s
    tm[codes, pos] = t
    return _check_paths(st, tm, counts.astype(np.int64), n_states, "paths_from_adata",
                        f"adata.obs[{state_key!r}]", f"adata.obs[{time_key!r}]")
