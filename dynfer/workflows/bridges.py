"""The body shared by every Schrödinger-bridge workflow: fit, score at held-out times, report.

:func:`bridge_method` turns estimator parameters into a method of :func:`dynfer.evaluation.evaluate_heldout`;
:func:`heldout_with_baselines` adds the OT-midpoint and persistence baselines; :func:`report_heldout` writes the W2
and parameter-recovery tables; :func:`run_bridge_workflow` is the whole body of a dataset workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.evaluation import HeldoutResult, OTMidpoint, Persistence, evaluate_heldout

__all__ = ["bridge_method", "heldout_with_baselines", "report_heldout", "run_bridge_workflow", "theta_summary"]

BASELINES = {"OT-midpoint": lambda s, t: OTMidpoint().fit(s, t), "persistence": lambda s, t: Persistence().fit(s, t)}


def bridge_method(
    params: Mapping[str, Any], *, n_fit: int | None = None, seed: int = 0
) -> Callable[[list[np.ndarray], np.ndarray], SchrodingerBridge]:
    """A held-out method that fits :class:`SchrodingerBridge` with ``params``.

    Parameters
    ----------
    params
        Constructor parameters (``seed`` and ``device`` included).
    n_fit
        Fit on a seeded subsample of at most ``n_fit`` particles per snapshot (``None``: all).
    seed
        Seed of the subsample.
    """

    def fit(snaps: list[np.ndarray], times: np.ndarray) -> SchrodingerBridge:
        rng = np.random.default_rng(seed)
        use = [s if n_fit is None or len(s) <= n_fit else s[np.sort(rng.choice(len(s), n_fit, replace=False))]
               for s in snaps]
        return SchrodingerBridge(**params).fit(use, times)

    return fit


def theta_summary(est: SchrodingerBridge, max_size: int = 64) -> dict[str, Any]:
    """The fitted θ (arrays of at most ``max_size`` entries), σ and the number of rounds, as plain data."""
    out: dict[str, Any] = {k: np.asarray(v).tolist() for k, v in est.reference_.theta().items()
                           if np.asarray(v).size <= max_size}
    out["sigma"] = float(est.sigma_)
    out["n_rounds"] = len(est.history_)
    return out


def heldout_with_baselines(
    snapshots: Sequence[np.ndarray],
    times: Sequence[float],
    methods: Mapping[str, Mapping[str, Any]],
    *,
    seed: int,
    device: str | None,
    n_fit: int | None = None,
    **protocol: Any,
) -> HeldoutResult:
    """Score bridge fits with ``methods`` (``{label: SchrodingerBridge parameters}``) and the two baselines.

    Returns
    -------
    HeldoutResult
        W2 per held-out time for every method and baseline, the split-half floor and the fitted bridges.
    """
    fits = {label: bridge_method({**kw, "seed": seed, "device": device}, n_fit=n_fit, seed=seed)
            for label, kw in methods.items()}
    return evaluate_heldout(snapshots, times, {**fits, **BASELINES}, seed=seed, **protocol)


def report_heldout(
    report: Any, result: HeldoutResult, *, truth: Mapping[str, float] | None = None, truth_method: str | None = None
) -> None:
    """Add the W2 table (and a recovered-against-generating table when ``truth`` is given) to a report."""
    held = result.heldout_times
    rows = [{"method": m, **{f"t={tt:g}": v for tt, v in zip(held, vals, strict=True)}, "mean": float(np.mean(vals))}
            for m, vals in result.values("W2").items()]
    floor = result.floor.get("W2", [])
    if floor:
        rows.append({"method": "split-half noise floor", **{f"t={tt:g}": v for tt, v in zip(held, floor, strict=True)},
                     "mean": float(np.mean(floor))})
    report.add_table(rows, caption="Held-out W2 (exact OT, squared-Euclidean cost, square root; lower is better)")
    if truth and truth_method in result.models:
        fitted = result.models[truth_method].reference_.theta()
        report.add_table([{"parameter": k, "recovered": float(np.asarray(fitted[k])), "generating": v,
                           "relative error": abs(float(np.asarray(fitted[k])) - v) / abs(v)}
                          for k, v in truth.items()], caption=f"{truth_method}: recovered against generating values")


def run_bridge_workflow(
    out_dir: str | Path,
    snapshots: Sequence[np.ndarray],
    times: Sequence[float],
    methods: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
    summary: str,
    protocol_text: str,
    seed: int,
    device: str,
    inputs: Mapping[str, Any] | None = None,
    truth: Mapping[str, float] | None = None,
    truth_method: str | None = None,
    n_fit: int | None = None,
    extra_metrics: Mapping[str, Any] | None = None,
    **protocol: Any,
) -> tuple[Path, dict[str, Any]]:
    """Fit, score and write the report of one bridge dataset workflow.

    Parameters
    ----------
    out_dir
        Report folder.
    snapshots, times
        One array per observation time.
    methods
        ``{label: SchrodingerBridge parameters}``.
    title, summary, protocol_text
        The report's title, summary and the paragraph describing the protocol.
    seed, device
        Seed and device of every fit.
    inputs
        Input files recorded with their sha256.
    truth, truth_method
        Generating parameters and the method whose fit is compared with them.
    n_fit
        Particles per training snapshot used by the fits (``None``: all).
    extra_metrics
        More entries of ``metrics.json``.
    **protocol
        Passed to :func:`dynfer.evaluation.evaluate_heldout` (``train``, ``heldout``, ``floor``).

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics dictionary.
    """
    from dynfer.report import Report

    result = heldout_with_baselines(snapshots, times, methods, seed=seed, device=device, n_fit=n_fit, **protocol)
    means = result.mean()
    report = Report(title=title, summary=summary)
    report.add_heading("Held-out time points")
    report.add_text(protocol_text + " Measured mean W2: " + ", ".join(f"{m} {v:.3f}" for m, v in means.items()) + ".")
    report_heldout(report, result, truth=truth, truth_method=truth_method)
    metrics = {"seed": seed, **(extra_metrics or {}), **result.metrics(),
               "theta": {m: theta_summary(est) for m, est in result.models.items() if m in methods}}
    timings = {f"fit {m}": s for m, s in result.fit_seconds.items()}
    path = report.write(out_dir, metrics=metrics, seed=seed, device=device, inputs=dict(inputs or {}),
                        timings=timings)
    return path, metrics
