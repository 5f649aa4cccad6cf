r"""The body shared by every entropy-production workflow: one table of every estimate, side by side.

A workflow fits :func:`dynfer.tl.entropy_production` (the learned score, with its lower bound and the baselines it
always computes: the score-free identity, the Gaussian plug-in and the equilibrium score) and, where trajectories
exist, the trajectory baselines of :mod:`dynfer.evaluation.entropy_baselines` (NEEP and the short-time TUR bound),
then calls :func:`report_entropy` to add one table per system:

* the estimate of every method, its standard error, the relative error :math:`|\hat\sigma - \sigma|/\sigma`
  against the closed form when it is known, and the seconds it took;
* the diagnostics of the score (gap to the lower bound, stationarity residual) and, with a figure, the spatial map
  of :func:`dynfer.pl.entropy_map`.

:func:`entropy_metrics` gives the same numbers as plain, finite data for ``metrics.json`` (``None`` where a number
is not defined, e.g. the stationarity residual with degenerate noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt

__all__ = ["entropy_metrics", "entropy_rows", "report_entropy"]

SCORE_ROWS = (("score (plug-in)", "rate", "rate_stderr"), ("score (lower bound)", "rate_lower_bound",
                                                                "rate_lower_bound_stderr"))
BASELINE_ROWS = (("score-free identity (oracle)", "score_free"), ("Gaussian plug-in", "gaussian"),
                 ("Gaussian plug-in, cross-fitted", "gaussian_cross_fit"), ("equilibrium score", "equilibrium"))


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _rounded(value: float | None) -> float | None:
    """12 significant digits: BLAS reductions differ in the last bits with memory alignment, metrics must not."""
    return None if value is None else float(f"{value:.12g}")


def entropy_rows(entry: Mapping[str, Any], truth: float | None = None,
                 extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows ``method, rate, stderr, rel. error, seconds`` from a ``tl.entropy_production`` entry and extras.

    Parameters
    ----------
    entry
        ``adata.uns[key]`` written by :func:`dynfer.tl.entropy_production`.
    truth
        The exact rate (``None``: unknown, no error column).
    extra
        ``{method: EntropyRateEstimate}`` (NEEP, TUR, ...) computed on the same system.
    """
    rows: list[dict[str, Any]] = []

    def add(method: str, rate: Any, se: Any, seconds: Any = None) -> None:
        row: dict[str, Any] = {"method": method, "rate": _finite(rate), "stderr": _finite(se)}
        if truth is not None:
            r = _finite(rate)
            row["rel. error"] = None if r is None or truth == 0 else abs(r - truth) / abs(truth)
        row["seconds"] = _finite(seconds)
        rows.append(row)

    for label, rate, se in SCORE_ROWS:
        add(f"{label} [{entry.get('model', '')}]", entry[rate], entry[se],
            entry.get("fit_seconds") if rate == "rate" else None)
    baselines = entry["baselines"]
    for label, name in BASELINE_ROWS:
        if name in baselines:
            add(label, baselines[name]["rate"], baselines[name]["stderr"])
    for name, est in (extra or {}).items():
        add(name, est.rate, est.stderr, est.seconds)
    return rows


def entropy_metrics(entry: Mapping[str, Any], truth: float | None = None,
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rows of :func:`entropy_rows` (without seconds) and the score's diagnostics, as plain finite data."""
    diag = entry.get("diagnostics", {})
    out: dict[str, Any] = {"truth": _rounded(_finite(truth)), "methods": {}}
    for row in entropy_rows(entry, truth, extra):
        # seconds go to the tables and timings, not metrics.json (which must reproduce exactly)
        out["methods"][row["method"]] = {k: _rounded(v) for k, v in row.items() if k not in ("method", "seconds")}
    out["diagnostics"] = {k: _rounded(_finite(diag.get(k)))
                          for k in ("gap", "fpe_residual", "mean_div_v", "mean_v_dot_s")}
    out["n_samples"] = int(diag.get("n_samples", 0))
    return out


def report_entropy(report: Any, *, title: str, description: str, entry: Mapping[str, Any],
                   truth: float | None = None, extra: Mapping[str, Any] | None = None, adata: Any = None,
                   key: str = "entropy_production", figure: str | None = None, **map_kwargs: Any) -> dict[str, Any]:
    """Add a heading, the description, the table of every estimate and (with ``adata``) the spatial map.

    Returns
    -------
    dict
        :func:`entropy_metrics` of the system.
    """
    import dynfer

    report.add_heading(title)
    report.add_text(description)
    report.add_table(entropy_rows(entry, truth, extra), caption="Entropy production rate (k_B = 1, per unit time)"
                     + ("" if truth is None else f"; exact value {truth:.6g}"))
    metrics = entropy_metrics(entry, truth, extra)
    diag = metrics["diagnostics"]
    report.add_table([{"diagnostic": k, "value": v} for k, v in diag.items()],
                     caption="Score diagnostics: gap = plug-in minus lower bound (score error); the stationarity "
                             "residual E[(div v + v.s)^2] is defined only with non-degenerate noise")
    if adata is not None and figure is not None:
        fig = dynfer.pl.entropy_map(adata, key=key, show=False, return_fig=True, **map_kwargs)
        report.add_figure(fig, figure, caption="Left: density; right: entropy-production density (pl.entropy_map)")
        plt.close(fig)
    return metrics
