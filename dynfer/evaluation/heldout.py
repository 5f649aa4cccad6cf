"""The held-out-time protocol, for any method that fits snapshots and samples at new times.

Train on some time points (by default the even-indexed ones), hold out the others that lie inside the training span,
and score each method at every held-out time by each metric against the held-out sample (Shen, Berlinghieri &
Broderick, AISTATS 2025, use W2: exact OT on the squared-Euclidean cost, square root). A **method** is a callable
``fit(train_snapshots, train_times)`` returning an object with ``sample(times, *, seed)`` (one array per time); an
estimator's ``fit`` fits the bill, and so do the baselines of :mod:`dynfer.evaluation.baselines`. The noise floor of
the metric (two halves of each held-out sample against each other) is reported beside.

Nothing here touches AnnData: inputs are arrays, outputs a :class:`HeldoutResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dynfer._errors import BadInputError
from dynfer.processes import wasserstein

__all__ = ["HeldoutResult", "Sampler", "evaluate_heldout", "split_half_floor", "split_times", "w2"]


class Sampler(Protocol):
    """What a method's fit returns: something that samples at given times."""

    def sample(self, times: Sequence[float], *, seed: Any = None) -> list[np.ndarray]:
        """One ``(n, d)`` sample per time."""
        ...


Method = Callable[[list[np.ndarray], np.ndarray], Sampler]
Metric = Callable[[np.ndarray, np.ndarray], float]


def w2(x: np.ndarray, y: np.ndarray) -> float:
    """Exact W2 between two samples (squared-Euclidean cost, square root)."""
    return float(wasserstein(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))


@dataclass
class HeldoutResult:
    """Scores of every method at every held-out time.

    Attributes
    ----------
    train_times, heldout_times
        The times trained on and scored at.
    scores
        ``{method: {metric: [value per held-out time]}}``.
    floor
        ``{metric: [noise floor per held-out time]}``.
    fit_seconds
        Wall-clock seconds of each method's fit.
    models
        What each method's fit returned (e.g. the fitted estimator).
    """

    train_times: list[float]
    heldout_times: list[float]
    scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    floor: dict[str, list[float]] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)

    def values(self, metric: str = "W2") -> dict[str, list[float]]:
        """``{method: [value per held-out time]}`` for one metric."""
        return {m: s[metric] for m, s in self.scores.items()}

    def mean(self, metric: str = "W2") -> dict[str, float]:
        """Mean over the held-out times, per method."""
        return {m: float(np.mean(v)) for m, v in self.values(metric).items()}

    def metrics(self, metric: str = "W2") -> dict[str, Any]:
        """Deterministic numbers (no timings) for ``metrics.json``, keyed as the reports have them."""
        floor = self.floor.get(metric, [])
        name = metric.lower()
        return {"train_times": self.train_times, "heldout_times": self.heldout_times, name: self.values(metric),
                f"{name}_mean": self.mean(metric), "split_half_floor": floor,
                "split_half_floor_mean": float(np.mean(floor)) if floor else float("nan")}


def split_times(times: Sequence[float], holdout: str = "odd") -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out times: ``holdout="odd"`` holds out the odd-indexed times inside the training span.

    Parameters
    ----------
    times
        Distinct observation times.
    holdout
        ``"odd"`` (train on even indices) or ``"even"`` (train on odd indices).

    Returns
    -------
    tuple
        ``(train, held)``, increasing.
    """
    t = np.unique(np.asarray(times, dtype=np.float64))
    if holdout not in ("odd", "even"):
        raise BadInputError(f"holdout must be 'odd' or 'even', got {holdout!r}")
    train, held = (t[0::2], t[1::2]) if holdout == "odd" else (t[1::2], t[0::2])
    held = held[(held > train[0]) & (held < train[-1])] if len(train) else held[:0]
    if len(train) < 2 or len(held) == 0:
        raise BadInputError(f"{len(t)} distinct times leave no held-out time inside the training span")
    return train, held


def split_half_floor(targets: Sequence[np.ndarray], seed: int, metric: Metric = w2) -> list[float]:
    """The metric between two random halves of each held-out sample: the sampling-noise floor."""
    rng = np.random.default_rng(seed)
    floor = []
    for target in targets:
        perm = rng.permutation(len(target))
        half = len(target) // 2
        floor.append(float(metric(target[perm[:half]], target[perm[half: 2 * half]])))
    return floor


def evaluate_heldout(
    snapshots: Sequence[np.ndarray],
    times: Sequence[float],
    methods: Mapping[str, Method],
    *,
    train: Sequence[float] | None = None,
    heldout: Sequence[float] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    floor: Mapping[str, Sequence[float]] | bool = True,
    seed: int = 0,
) -> HeldoutResult:
    """Fit every method on the training times and score it at the held-out ones.

    Parameters
    ----------
    snapshots, times
        One ``(n_k, d)`` array per observation time.
    methods
        ``{label: fit}``, ``fit(train_snapshots, train_times) -> sampler`` (see the module docstring).
    train, heldout
        The times to train on and to score at (default :func:`split_times` with ``holdout="odd"``).
    metrics
        ``{name: metric(sample, target)}`` (default ``{"W2": w2}``).
    floor
        ``True``: the split-half noise floor per metric; ``False``: none; or given values per metric.
    seed
        Seed of each method's sampling and of the split-half floor.

    Returns
    -------
    HeldoutResult
        Scores, floors, fit times and the fitted models.
    """
    t = np.asarray(times, dtype=np.float64)
    if len(snapshots) != len(t):
        raise BadInputError(f"{len(snapshots)} snapshots but {len(t)} times")
    by_time = {float(tt): np.asarray(s, dtype=np.float64) for s, tt in zip(snapshots, t, strict=True)}
    if train is None or heldout is None:
        tr, he = split_times(t)
        train = tr if train is None else train
        heldout = he if heldout is None else heldout
    train_t = np.asarray(train, dtype=np.float64)
    held_t = np.asarray(heldout, dtype=np.float64)
    missing = [float(x) for x in [*train_t, *held_t] if float(x) not in by_time]
    if missing:
        raise BadInputError(f"times {missing} have no snapshot")
    metrics = {"W2": w2} if metrics is None else dict(metrics)
    train_snaps = [by_time[float(x)] for x in train_t]
    targets = [by_time[float(x)] for x in held_t]
    result = HeldoutResult(train_times=train_t.tolist(), heldout_times=held_t.tolist())
    for label, fit in methods.items():
        start = time.perf_counter()
        model = fit(train_snaps, train_t)
        result.fit_seconds[label] = time.perf_counter() - start
        result.models[label] = model
        samples = model.sample(held_t.tolist(), seed=seed)
        result.scores[label] = {name: [float(m(s, y)) for s, y in zip(samples, targets, strict=True)]
                                for name, m in metrics.items()}
    if floor is True:
        result.floor = {name: split_half_floor(targets, seed, m) for name, m in metrics.items()}
    elif floor:
        result.floor = {name: [float(v) for v in values] for name, values in dict(floor).items()}
    return result
