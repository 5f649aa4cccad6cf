"""Compose a report from registered sections: the body of ``quickstart`` and ``backend_demo``."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dynfer._settings import settings
from dynfer.workflows.bridges import QUICK_NOTE
from dynfer.workflows.sections import Context, registered

__all__ = ["compose"]


def compose(
    out_dir: str | Path,
    *,
    kinds: Sequence[str],
    title: str,
    summary: str,
    seed: int,
    device: str | None,
    quick: bool,
    metrics: Mapping[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run every registered section of the given kinds, in order, and write one report.

    Parameters
    ----------
    out_dir
        Report folder (empty or absent).
    kinds
        Section kinds to include (see :data:`dynfer.workflows.sections.KINDS`).
    title, summary
        The report's title and summary (the summary gains the seed and the estimator sections' names, and in a
        quick run opens with :data:`~dynfer.workflows.bridges.QUICK_NOTE`).
    seed, device, quick
        The run's options, handed to every section.
    metrics
        Extra top-level metrics.

    Returns
    -------
    tuple
        Path of ``report.html`` and the metrics: one entry per section, plus ``seed``, ``quick`` and ``estimators``.
    """
    from dynfer.report import Report

    dev = settings.resolve_device(device)
    chosen = [s for kind in kinds for s in registered(kind)]
    estimators = [s.name for s in chosen if s.kind == "estimator"]
    extra = f" Estimators: {', '.join(estimators)}." if estimators else ""
    note = f"{QUICK_NOTE} " if quick else ""
    report = Report(title=title, summary=f"{note}{summary} Seed {seed}{', quick sizes' if quick else ''}.{extra}")
    ctx = Context(report=report, seed=seed, device=dev, quick=quick)
    out: dict[str, Any] = {**(metrics or {}), "seed": seed, "quick": quick, "estimators": estimators}
    timings: dict[str, float] = {}
    for sec in chosen:
        start = time.perf_counter()
        out[sec.name] = sec.run(ctx)
        timings[sec.name] = time.perf_counter() - start
    path = report.write(out_dir, metrics=out, seed=seed, device=str(dev), timings=timings)
    return path, out
