r"""``PolicyData``: trajectories of a controlled diffusion under a fixed policy, checked once, used by every method.

A data set holds :math:`n` trajectories; trajectory :math:`i` is observed at strictly increasing times
:math:`t^i_0 < \dots < t^i_{n_i}` (any grid, any length :math:`\ge 2`) with states :math:`X^i_k \in \mathbb{R}^d`,
running reward rates :math:`r^i_k = r(t^i_k, X^i_k)` and, for a finite horizon, the terminal reward
:math:`h(X^i_{n_i})` at its last sample. Every method uses the steps :math:`k \to k+1` with
:math:`\Delta t_k = t_{k+1} - t_k` (left-point rewards :math:`r_k \Delta t_k`), so irregular grids are exact in
the sense of Jia & Zhou (2022), where :math:`\Delta t` is constant.

:class:`StepTable` is the flat form the methods work on: all samples concatenated, and one row per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dynfer._errors import BadInputError

__all__ = ["PolicyData", "StepTable", "as_policy_data"]


def _as_float_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise BadInputError(name, f"{type(value).__name__}", "numbers")
    try:
        arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise BadInputError(name, f"a {type(value).__name__} that is not numeric", "numbers") from None
    return arr


def _split(value: Any, name: str, ndim_stacked: int) -> list[Any]:
    """A list with one entry per trajectory: a list/tuple as given, an array split along its first axis."""
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise BadInputError(name, "an empty list", "one entry per trajectory")
        return list(value)
    arr = _as_float_array(value, name)
    if arr.ndim != ndim_stacked and not (ndim_stacked == 3 and arr.ndim == 2):
        raise BadInputError(name, f"an array of shape {arr.shape}",
                            "a list with one array per trajectory or a stacked array (n_traj, n_steps[, d])")
    if arr.shape[0] == 0:
        raise BadInputError(name, "no trajectory", "at least one trajectory")
    return list(arr)


@dataclass(frozen=True)
class PolicyData:
    r"""Trajectories under a fixed policy: times, states, running rewards and optional terminal rewards.

    Parameters
    ----------
    times
        A list of 1-d arrays (one per trajectory, strictly increasing, at least 2 samples each), or a 2-d array
        ``(n_traj, n_steps)``.
    states
        A list of ``(n_k, d)`` arrays (``(n_k,)`` for ``d = 1``), or a 3-d ``(n_traj, n_steps, d)`` / 2-d
        ``(n_traj, n_steps)`` array (``d = 1``).
    rewards
        The running reward rate :math:`r(t_k, X_k)` at every sample, aligned with ``times`` (same shapes).
    terminal_rewards
        ``None`` or ``(n_traj,)``: :math:`h(X_T)` at each trajectory's last sample.

    Notes
    -----
    The constructor stores the arguments; :func:`as_policy_data` checks them (every estimator calls it in
    ``fit``) and raises :class:`~dynfer.BadInputError` naming the argument at fault.
    """

    times: Any
    states: Any
    rewards: Any
    terminal_rewards: Any = None


@dataclass(frozen=True)
class StepTable:
    r"""The checked data in flat form.

    Attributes
    ----------
    t, x, r
        All samples concatenated: times ``(N,)``, states ``(N, d)`` and reward rates ``(N,)`` (float64).
    offsets
        ``(n_traj + 1,)`` sample offsets: trajectory ``i`` is ``offsets[i]:offsets[i+1]``.
    terminal
        ``(n_traj,)`` terminal rewards, or ``None``.
    step_from, step_traj
        ``(S,)`` index of the sample each step starts at, and its trajectory.
    dt
        ``(S,)`` step lengths :math:`\Delta t_k = t_{k+1} - t_k > 0`.
    step_last
        ``(S,)`` True for the last step of each trajectory (its end is the trajectory's last sample).
    """

    t: np.ndarray
    x: np.ndarray
    r: np.ndarray
    offsets: np.ndarray
    terminal: np.ndarray | None
    step_from: np.ndarray
    step_traj: np.ndarray
    dt: np.ndarray
    step_last: np.ndarray

    @property
    def n_traj(self) -> int:
        """Number of trajectories."""
        return len(self.offsets) - 1

    @property
    def dim(self) -> int:
        """State dimension :math:`d`."""
        return int(self.x.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        """Samples per trajectory."""
        return np.diff(self.offsets)

    @property
    def step_offsets(self) -> np.ndarray:
        """``(n_traj + 1,)`` step offsets (trajectory ``i`` has ``lengths[i] - 1`` steps)."""
        return np.concatenate([[0], np.cumsum(self.lengths - 1)])

    def first_times(self) -> np.ndarray:
        """Each trajectory's first time."""
        return self.t[self.offsets[:-1]]

    def last_times(self) -> np.ndarray:
        """Each trajectory's last time."""
        return self.t[self.offsets[1:] - 1]

    def dt_stats(self) -> dict[str, float]:
        """Smallest, median, mean and largest step length."""
        return {"min": float(self.dt.min()), "median": float(np.median(self.dt)), "mean": float(self.dt.mean()),
                "max": float(self.dt.max())}

    def subset(self, trajectories: np.ndarray) -> StepTable:
        """The table of the trajectories ``trajectories`` (indices), in that order."""
        pieces = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in trajectories]
        rows = np.concatenate(pieces)
        lengths = np.array([len(p) for p in pieces])
        terminal = None if self.terminal is None else self.terminal[np.asarray(trajectories)]
        return _table(self.t[rows], self.x[rows], self.r[rows], lengths, terminal)


def _table(t: np.ndarray, x: np.ndarray, r: np.ndarray, lengths: np.ndarray, terminal: np.ndarray | None
           ) -> StepTable:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n_traj = len(lengths)
    traj_of_sample = np.repeat(np.arange(n_traj), lengths)
    is_last_sample = np.zeros(len(t), dtype=bool)
    is_last_sample[offsets[1:] - 1] = True
    step_from = np.flatnonzero(~is_last_sample)
    dt = t[step_from + 1] - t[step_from]
    step_last = is_last_sample[step_from + 1]
    return StepTable(t=t, x=x, r=r, offsets=offsets, terminal=terminal, step_from=step_from,
                     step_traj=traj_of_sample[step_from], dt=dt, step_last=step_last)


def as_policy_data(data: Any) -> StepTable:
    """Check trajectory data and return its :class:`StepTable`.

    Parameters
    ----------
    data
        A :class:`PolicyData`, or a mapping with its fields (``times``, ``states``, ``rewards`` and optionally
        ``terminal_rewards``).

    Returns
    -------
    StepTable
        The flat form.

    Raises
    ------
    BadInputError
        Naming the field: fewer than 2 samples in a trajectory, times not strictly increasing or not finite,
        states or rewards misaligned with the times, NaN or infinite values, terminal rewards of the wrong length.
    """
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"times", "states", "rewards", "terminal_rewards"})
        if unknown:
            raise BadInputError("data", f"unknown field(s) {unknown}", "times, states, rewards, terminal_rewards")
        missing = [k for k in ("times", "states", "rewards") if k not in data]
        if missing:
            raise BadInputError("data", f"no field(s) {missing}", "a mapping with times, states and rewards")
        data = PolicyData(data["times"], data["states"], data["rewards"], data.get("terminal_rewards"))
    if not isinstance(data, PolicyData):
        raise BadInputError("data", f"a {type(data).__name__}", "a PolicyData or a dict with its fields")
    times = _split(data.times, "times", 2)
    states = _split(data.states, "states", 3)
    rewards = _split(data.rewards, "rewards", 2)
    n = len(times)
    for name, seq in (("states", states), ("rewards", rewards)):
        if len(seq) != n:
            raise BadInputError(name, f"{len(seq)} trajectories", f"one per trajectory of times ({n})")
    ts, xs, rs = [], [], []
    dim = None
    for i in range(n):
        t = _as_float_array(times[i], f"times[{i}]")
        if t.ndim != 1:
            raise BadInputError(f"times[{i}]", f"shape {t.shape}", "a 1-d array of sample times")
        if t.size < 2:
            raise BadInputError(f"times[{i}]", f"{t.size} sample(s)", "at least 2 samples per trajectory (one step)")
        if not np.isfinite(t).all():
            raise BadInputError(f"times[{i}]", "NaN or infinite values", "finite times")
        if not (np.diff(t) > 0).all():
            k = int(np.flatnonzero(np.diff(t) <= 0)[0])
            raise BadInputError(f"times[{i}]", f"non-increasing times at positions {k} and {k + 1} "
                                f"({t[k]!r}, {t[k + 1]!r})", "strictly increasing times")
        x = _as_float_array(states[i], f"states[{i}]")
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[0] != t.size or x.shape[1] == 0:
            raise BadInputError(f"states[{i}]", f"shape {x.shape}", f"({t.size}, d) states aligned with times[{i}]")
        if dim is None:
            dim = x.shape[1]
        elif x.shape[1] != dim:
            raise BadInputError(f"states[{i}]", f"dimension {x.shape[1]}", f"the dimension of states[0] ({dim})")
        if not np.isfinite(x).all():
            raise BadInputError(f"states[{i}]", "NaN or infinite values", "finite states")
        r = _as_float_array(rewards[i], f"rewards[{i}]")
        if r.shape != t.shape:
            raise BadInputError(f"rewards[{i}]", f"shape {r.shape}",
                                f"one reward rate per sample, aligned with times[{i}] (shape {t.shape})")
        if not np.isfinite(r).all():
            raise BadInputError(f"rewards[{i}]", "NaN or infinite values", "finite reward rates")
        ts.append(t)
        xs.append(x)
        rs.append(r)
    terminal = None
    if data.terminal_rewards is not None:
        terminal = _as_float_array(data.terminal_rewards, "terminal_rewards")
        if terminal.shape != (n,):
            raise BadInputError("terminal_rewards", f"shape {terminal.shape}",
                                f"None or one terminal reward per trajectory ({n},)")
        if not np.isfinite(terminal).all():
            raise BadInputError("terminal_rewards", "NaN or infinite values", "finite terminal rewards")
    lengths = np.array([t.size for t in ts])
    return _table(np.concatenate(ts), np.concatenate(xs), np.concatenate(rs), lengths, terminal)

