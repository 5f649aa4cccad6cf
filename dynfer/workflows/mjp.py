r"""The body shared by every Markov-jump-process workflow: fit each method on each context, score, report.

A workflow builds one or more :class:`MJPSetting` (a list of :class:`~dynfer.evaluation.JumpContext` with the
generator when it is known) and calls :func:`run_mjp_workflow`. For every method of :func:`mjp_methods` (the
maximum-likelihood baseline, and the foundation model when it is installed) and every context it records, side by
side (Berghaus et al. 2024, sec. 4; reference notes sec. 2):

* rate RMSE over the off-diagonal entries (mean :math:`\pm` sd over contexts) and the mean rate on the structural
  zeros;
* stationary law, time scales, relaxation time, MFPT and stationary entropy production, against the truth;
* the time-averaged Hellinger distance between the observed per-time state histograms and those of paths simulated
  from the fitted model (from its fitted initial law) at the same times, next to the same distance for paths of the
  true model (the sampling level of two finite sets of paths; a fitted initial law can come closer);
* calibration of the rate standard deviations: sd of the log-rate z-scores and the coverage of the 95 % intervals
  :math:`\exp(\log\hat q \pm 1.96\,\sigma)` on the true links, per context and pooled;
* seconds per context.

Methods are ``{name: factory}`` with ``factory(context) -> unfitted estimator``, so any estimator with the MJP
``fit(states, times, lengths)`` signature and ``rate_matrix_`` / ``log_rate_std_`` / ``initial_distribution_``
attributes can be added without changing this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynfer.evaluation.jumps import (
    ContextTable,
    JumpContext,
    context_table,
    derived_quantities,
    hellinger_histograms,
    score_rates,
)

__all__ = [
    "MJPSetting",
    "SettingResult",
    "evaluate_setting",
    "finite_or_none",
    "flip_labels",
    "mjp_methods",
    "report_setting",
    "run_mjp_workflow",
    "simulate_contexts",
]

Factory = Callable[[JumpContext], Any]


# ---------------------------------------------------------------------------------------------------- methods
def _has_foundation() -> bool:
    """Whether the foundation model (``dynfer.estimators.mjp.FoundationMJP`` with ``pretrained``) is importable."""
    try:
        from dynfer.estimators.mjp import FoundationMJP
    except ImportError:
        return False
    return callable(getattr(FoundationMJP, "pretrained", None))


def mjp_methods(
    *,
    device: str | None = None,
    mle: Mapping[str, Mapping[str, Any]] | None = None,
    foundation: bool | None = None,
) -> dict[str, Factory]:
    """The methods every MJP workflow compares: ``{name: factory(context) -> unfitted estimator}``.

    Parameters
    ----------
    device
        Torch device of the fits.
    mle
        ``{column name: MJPMaximumLikelihood parameters}`` (default ``{"MLE": {}}``); ``n_states`` comes from the
        context.
    foundation
        Add the column ``"foundation"`` (``FoundationMJP.pretrained``); default: when it is importable.

    Returns
    -------
    dict
        Factories, in column order (foundation first when present).
    """
    from dynfer.estimators.mjp.mle import MJPMaximumLikelihood

    out: dict[str, Factory] = {}
    if foundation is None:
        foundation = _has_foundation()
    if foundation:
        from dynfer.estimators.mjp import FoundationMJP

        out["foundation"] = lambda ctx: FoundationMJP.pretrained(n_states=ctx.n_states, device=device)
    for name, params in (mle if mle is not None else {"MLE": {}}).items():
        out[name] = lambda ctx, p=dict(params): MJPMaximumLikelihood(n_states=ctx.n_states, device=device, **p)
    return out


# ---------------------------------------------------------------------------------------------------- data helpers
def flip_labels(states: np.ndarray, n_states: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    r"""Replace each label with probability ``fraction`` by one of the other ``n_states - 1`` states, uniformly.

    .. math:: P(\tilde s = j \mid s = i) = (1 - p)\,\delta_{ij} + p\,(1 - \delta_{ij})/(n - 1),

    the symmetric label noise of FIM-MJP's prior and of :func:`dynfer.datasets.flashing_ratchet_paths`.
    """
    s = np.asarray(states, dtype=np.int64)
    if fraction <= 0:
        return s.copy()
    flip = rng.random(s.shape) < fraction
    shift = rng.integers(1, n_states, size=s.shape)
    return np.where(flip, (s + shift) % n_states, s)


def simulate_contexts(
    Q: np.ndarray,
    times: np.ndarray,
    lengths: np.ndarray | None = None,
    *,
    initial: np.ndarray | None = None,
    label_noise: float = 0.0,
    seed: int,
    name: str = "",
    adjacency: np.ndarray | None = None,
) -> JumpContext:
    """One context: paths of the generator ``Q`` (batched Gillespie) observed at ``times`` ``(P, L)``.

    Past each path's length the times repeat its last time (padding). ``initial``: the law at each path's first
    observation (default stationary). The clean labels are kept in ``extra["clean_states"]``; the true initial law
    in ``extra["initial"]`` and the seed of later draws in ``extra["seed"]``.
    """
    from dynfer.processes import RateMatrix

    q = np.asarray(Q, dtype=np.float64)
    rm = RateMatrix(torch.as_tensor(q, dtype=torch.float64), rtol=1e-5)
    t = np.asarray(times, dtype=np.float64)
    init = None if initial is None else torch.as_tensor(np.asarray(initial, dtype=np.float64))
    clean = rm.simulate(t.shape[0], torch.as_tensor(t), initial=init, seed=seed).numpy()
    rng = np.random.default_rng([seed, 1])
    observed = flip_labels(clean, q.shape[0], label_noise, rng)
    law = rm.stationary_distribution().numpy() if initial is None else np.asarray(initial, dtype=np.float64)
    return JumpContext(observed, t, lengths, Q_true=q, adjacency=adjacency, name=name,
                       extra={"clean_states": clean, "initial": law, "seed": int(seed), "label_noise": label_noise})


def _shared_grid(t: np.ndarray) -> bool:
    return t.ndim == 1 or bool(np.all(t == t[:1]))


def _simulate_like(Q: np.ndarray, initial: np.ndarray | None, ctx: JumpContext, seed: int) -> np.ndarray:
    """Paths of ``Q`` at the context's own per-path times (padding included), from ``initial``."""
    from dynfer.processes import RateMatrix

    _, t, _ = ctx.padded()
    rm = RateMatrix(torch.as_tensor(np.asarray(Q, dtype=np.float64)), rtol=1e-5)
    init = None
    if initial is not None:
        p = np.clip(np.asarray(initial, dtype=np.float64), 0.0, None)
        init = torch.as_tensor(p / p.sum())
    grid = t[0] if _shared_grid(t) else t
    return rm.simulate(t.shape[0], torch.as_tensor(grid), initial=init, seed=seed).numpy()


def model_hellinger(Q: np.ndarray, initial: np.ndarray | None, ctx: JumpContext, *, seed: int,
                    bins: int = 10) -> float:
    """:func:`~dynfer.evaluation.hellinger_histograms` of the observed context against paths simulated from ``Q``.

    On a grid shared by all paths each observation time is its own histogram; on per-path times the times are
    grouped into ``bins`` equal bins.
    """
    s, t, m = ctx.padded()
    model = _simulate_like(Q, initial, ctx, seed)
    n = ctx.n_states or int(s[m].max()) + 1
    if _shared_grid(t) and m.all():
        return float(hellinger_histograms(s, model, n))
    return float(hellinger_histograms(s, model, n, times=t, model_times=t, bins=bins, mask=m, model_mask=m))


# ---------------------------------------------------------------------------------------------------- settings
@dataclass
class MJPSetting:
    """One benchmark setting: its contexts, how to describe it and what to compare with.

    Attributes
    ----------
    name
        Key in ``metrics.json``.
    title
        Heading in the report.
    description
        Paragraph describing the data and protocol.
    contexts
        The contexts (:class:`~dynfer.evaluation.JumpContext`); ``Q_true`` may differ between them.
    methods
        Methods for this setting only (default: the workflow's).
    extra_scorer
        ``extra_scorer(rate_matrix) -> {name: float}`` added to every context's scores (e.g. ratchet parameters).
    truth_extra
        Values of the ``extra_scorer`` quantities for the truth (shown in the comparison table).
    show_extra
        Names of ``extra_scorer`` outputs to show in the quantity table even without a truth value.
    references
        Published values ``{quantity: text}`` shown beside the truth (e.g. ``{"stationary law": "(0.73, 0.27)"}``).
    hellinger
        Score the time-averaged Hellinger distance.
    hellinger_bins
        Time bins of the Hellinger distance on per-path times.
    """

    name: str
    title: str
    description: str
    contexts: list[JumpContext]
    methods: dict[str, Factory] | None = None
    extra_scorer: Callable[[np.ndarray], dict[str, float]] | None = None
    truth_extra: dict[str, float] = field(default_factory=dict)
    show_extra: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)
    hellinger: bool = True
    hellinger_bins: int = 10


@dataclass
class SettingResult:
    """Scores of one setting: the :class:`~dynfer.evaluation.ContextTable`, the truth floor and pooled calibration."""

    setting: MJPSetting
    table: ContextTable
    floor: list[float]
    pooled: dict[str, dict[str, float] | None]
    truth: dict[str, Any] | None

    def metrics(self) -> dict[str, Any]:
        """Plain, finite data for ``metrics.json`` (``nan`` and ``inf`` become ``None``)."""
        out: dict[str, Any] = {
            "n_contexts": len(self.setting.contexts),
            # wall-clock seconds vary from run to run: they go to timings.json, so metrics.json reproduces exactly
            "methods": {m: {k: v for k, v in row.items() if k != "seconds"} for m, row in self.table.summary().items()},
            "pooled_calibration": self.pooled,
            "errors": {m: [list(e) for e in v] for m, v in self.table.errors.items()},
            "warnings": self.table.warnings,
        }
        if self.floor:
            out["hellinger_truth_floor"] = {"mean": float(np.mean(self.floor)), "sd": float(np.std(self.floor))}
        if self.truth is not None:
            out["truth"] = self.truth
        return finite_or_none(out)


def finite_or_none(value: Any) -> Any:
    """A copy with numpy converted to Python and every non-finite float replaced by ``None`` (JSON-safe)."""
    if isinstance(value, Mapping):
        return {str(k): finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, np.ndarray):
        return finite_or_none(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _common_truth(contexts: Sequence[JumpContext]) -> np.ndarray | None:
    qs = [c.Q_true for c in contexts]
    if not qs or any(q is None for q in qs):
        return None
    return qs[0] if all(q.shape == qs[0].shape and np.allclose(q, qs[0]) for q in qs) else None


def evaluate_setting(setting: MJPSetting, methods: Mapping[str, Factory]) -> SettingResult:
    """Fit and score every method on every context of ``setting`` (see the module docstring)."""
    chosen = setting.methods if setting.methods is not None else dict(methods)

    def scorer(est: Any, ctx: JumpContext) -> dict[str, Any]:
        q = np.asarray(est.rate_matrix_, dtype=np.float64)
        out = score_rates(est, ctx)
        out.update(_mfpt_error(out["mfpt"], ctx))
        if setting.extra_scorer is not None:
            out.update(setting.extra_scorer(q))
        if setting.hellinger:
            out["hellinger"] = model_hellinger(q, getattr(est, "initial_distribution_", None), ctx,
                                               seed=int(ctx.extra.get("seed", 0)) + 7919,
                                               bins=setting.hellinger_bins)
        return out

    table = context_table(chosen, setting.contexts, scorer=scorer)
    floor = []
    if setting.hellinger:
        for ctx in setting.contexts:
            if ctx.Q_true is not None:
                floor.append(model_hellinger(ctx.Q_true, ctx.extra.get("initial"), ctx,
                                             seed=int(ctx.extra.get("seed", 0)) + 104729,
                                             bins=setting.hellinger_bins))
    truths = [c.Q_true for c in setting.contexts]
    pooled = {m: table.pooled_calibration(m, truths) if all(q is not None for q in truths) else None
              for m in chosen}
    q_true = _common_truth(setting.contexts)
    truth = None
    if q_true is not None:
        d = derived_quantities(q_true)
        truth = {**d, "rate_matrix": q_true, **setting.truth_extra}
    return SettingResult(setting=setting, table=table, floor=floor, pooled=pooled, truth=truth)


def _mfpt_error(mfpt: np.ndarray, ctx: JumpContext) -> dict[str, float]:
    r"""Mean relative MFPT error :math:`\langle |\hat\tau_{ij} - \tau_{ij}| / \tau_{ij} \rangle` over finite pairs."""
    if ctx.Q_true is None:
        return {}
    tau = derived_quantities(ctx.Q_true)["mfpt"]
    off = ~np.eye(len(tau), dtype=bool) & np.isfinite(tau) & (tau > 0)
    est = np.asarray(mfpt)[off]
    rel = np.abs(est - tau[off]) / tau[off]
    return {"mfpt_rel_error": float(np.mean(rel)) if rel.size else float("nan")}


# ---------------------------------------------------------------------------------------------------- report
def _pm(mean: Any, sd: Any, digits: int = 3) -> str:
    if mean is None or not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}g} ± {sd:.{digits}g}"


def _pm_metric(table: ContextTable, method: str, key: str) -> str:
    """Mean ± sd over the finite values, and how many contexts gave an infinite value (``inf in k/n``)."""
    n_inf = table.n_infinite(method, key)
    n = len(table.scores[method].get(key, []))
    if n_inf == 0:
        return _pm(*table.mean_sd(method, key))
    if n_inf == n:
        return f"inf ({n}/{n})"
    return f"{_pm(*table.mean_sd(method, key))}; inf in {n_inf}/{n}"


def _vec(v: Any, digits: int = 3) -> str:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    return "(" + ", ".join("n/a" if not np.isfinite(x) else f"{x:.{digits}g}" for x in a) + ")"


def _num(v: Any) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{float(v):.4g}"


def _mat(m: Any, digits: int = 3) -> str:
    a = np.asarray(m, dtype=np.float64)
    return "[" + "; ".join(_vec(row, digits)[1:-1] for row in a) + "]"


SCALAR_COLUMNS = [
    ("rate_rmse", "rate RMSE"),
    ("zero_mass", "mass on structural zeros"),
    ("stationary_tv", "stationary TV error"),
    ("entropy_production", "entropy production"),
    ("relaxation_time", "relaxation time"),
    ("mfpt_rel_error", "MFPT rel. error"),
    ("hellinger", "Hellinger (time-avg.)"),
    ("z_sd", "z-score sd"),
]


def _scalar_rows(result: SettingResult) -> list[dict[str, Any]]:
    table = result.table
    rows = []
    present = [(k, label) for k, label in SCALAR_COLUMNS if any(k in table.scores[m] for m in table.methods)]
    for m in table.methods:
        row: dict[str, Any] = {"method": m}
        for key, label in present:
            row[label] = _pm_metric(table, m, key)
        pooled = result.pooled.get(m)
        if pooled is not None:
            row["95 % coverage (pooled)"] = f"{pooled['coverage']:.3f} ({pooled['n_links']} links)"
        sec = np.asarray(table.seconds[m]) if table.seconds[m] else np.full(1, np.nan)
        row["s / context"] = _pm(float(sec.mean()), float(sec.std()))
        row["failed"] = len(table.errors[m])
        rows.append(row)
    if result.truth is not None or result.floor:
        row = {"method": "truth"}
        for key, label in present:
            if key == "hellinger" and result.floor:
                row[label] = _pm(float(np.mean(result.floor)), float(np.std(result.floor))) + " (true model's paths)"
            elif key in ("entropy_production", "relaxation_time") and result.truth is not None:
                row[label] = f"{result.truth[key]:.4g}"
            elif key in ("rate_rmse", "zero_mass", "stationary_tv", "mfpt_rel_error") and result.truth is not None:
                row[label] = "0"
            else:
                row[label] = ""
        rows.append(row)
    return rows


def _quantity_rows(result: SettingResult) -> list[dict[str, Any]]:
    """Stationary law, time scales, EPR, MFPT (small systems) and extras: truth, references, each method's mean."""
    table, truth, refs = result.table, result.truth, result.setting.references
    methods = table.methods

    def mean(m: str, key: str) -> Any:
        return table.mean_sd(m, key)[0] if table.scores[m].get(key) else None

    specs: list[tuple[str, str, Callable[[Any], str]]] = [
        ("stationary law", "stationary_distribution", _vec),
        ("time scales", "timescales", _vec),
        ("entropy production", "entropy_production", _num),
    ]
    n = len(truth["stationary_distribution"]) if truth is not None else None
    if n is None:
        for m in methods:
            if table.scores[m].get("stationary_distribution"):
                n = len(table.scores[m]["stationary_distribution"][0])
                break
    if n is not None and n <= 4:
        specs.append(("MFPT (row i to column j)", "mfpt", _mat))
    for key in dict.fromkeys([*(result.setting.truth_extra or {}), *result.setting.show_extra]):
        specs.append((key, key, _num))
    rows = []
    for label, key, fmt in specs:
        row: dict[str, Any] = {"quantity": label}
        if truth is not None:
            row["truth"] = fmt(truth[key]) if key in truth else ""
        if refs:
            row["published"] = refs.get(label, "")
        for m in methods:
            v = mean(m, key)
            n_inf = table.n_infinite(m, key)
            text = "n/a" if v is None else fmt(v)
            if n_inf:
                n = len(table.scores[m][key])
                text = f"inf ({n}/{n})" if n_inf == n else f"{text}; inf in {n_inf}/{n}"
            row[m] = text
        rows.append(row)
    for label, text in refs.items():  # references for quantities not in the list above
        if label not in {r["quantity"] for r in rows}:
            rows.append({"quantity": label, **({"truth": ""} if truth is not None else {}), "published": text,
                         **dict.fromkeys(methods, "")})
    return rows


def report_setting(report: Any, result: SettingResult) -> None:
    """Add the heading, text and the two tables of one setting to a :class:`dynfer.report.Report`."""
    s = result.setting
    report.add_heading(s.title)
    ctxs = s.contexts
    report.add_text(s.description + f" {len(ctxs)} context(s). Methods: {', '.join(result.table.methods)}.")
    report.add_table(_scalar_rows(result), caption=(
        "Mean ± sd over contexts. Rate RMSE over the off-diagonal entries; mass on structural zeros = mean rate on "
        "the links absent in truth; stationary TV = ½ Σ|π̂ − π|; Hellinger = time-averaged H(p, q) = "
        "sqrt(1 − Σ sqrt(p q)) between observed and model per-time histograms (truth row: as many paths of the "
        "true model from its initial law, the sampling level of the distance; not a lower bound, since a fitted "
        "initial law can follow the observed first states more closely); z-score sd and 95 % coverage of "
        "exp(log q̂ ± 1.96 σ) on the true links."))
    if result.truth is not None or s.references:
        report.add_table(_quantity_rows(result), caption="Derived quantities: truth, published values where "
                         "cited, and each method's mean over contexts.")
    problems = {m: e for m, e in result.table.errors.items() if e}
    for m, errs in problems.items():
        report.add_text(f"{m} failed on {len(errs)} context(s); first: {errs[0][0]}: {errs[0][1]}")
    for m, warned in result.table.warnings.items():
        for msg, count in list(warned.items())[:3]:
            report.add_text(f"{m}: {count} fit(s) warned: {msg[:300]}")


def run_mjp_workflow(
    out_dir: str | Path,
    settings: Sequence[MJPSetting],
    *,
    title: str,
    summary: str,
    seed: int,
    device: str | None,
    methods: Mapping[str, Factory] | None = None,
    inputs: Mapping[str, Any] | None = None,
    extra_metrics: Mapping[str, Any] | None = None,
    before_write: Callable[[Any, dict[str, Any]], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Evaluate every setting, write the report and return ``(report.html, metrics)``.

    Parameters
    ----------
    out_dir
        Report folder.
    settings
        The settings, in report order.
    title, summary
        The report's title and summary.
    seed, device
        Recorded in the report (the contexts were drawn with the seed already).
    methods
        ``{name: factory}`` (default :func:`mjp_methods` on ``device``).
    inputs
        Input files recorded with their sha256.
    extra_metrics
        More entries of ``metrics.json``.
    before_write
        ``before_write(report, metrics)``: add figures or tables (e.g. a context-size study) before writing.
    """
    from dynfer.report import Report

    chosen = dict(methods) if methods is not None else mjp_methods(device=device)
    report = Report(title=title, summary=summary + f" Methods: {', '.join(chosen)}. Seed {seed}.")
    metrics: dict[str, Any] = {"seed": seed, "methods": list(chosen), **(extra_metrics or {}), "settings": {}}
    timings: dict[str, float] = {}
    for setting in settings:
        result = evaluate_setting(setting, chosen)
        report_setting(report, result)
        metrics["settings"][setting.name] = result.metrics()
        for m, sec in result.table.seconds.items():
            timings[f"{setting.name}: fit {m} (total)"] = float(np.sum(sec))
            timings[f"{setting.name}: fit {m} (median per context)"] = float(np.median(sec)) if sec else 0.0
    if before_write is not None:
        before_write(report, metrics)
    path = report.write(out_dir, metrics=finite_or_none(metrics), seed=seed, device=str(device),
                        inputs=dict(inputs or {}), timings=timings)
    return path, finite_or_none(metrics)
