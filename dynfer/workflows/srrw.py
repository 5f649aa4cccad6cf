r"""The body shared by the SRRW / SA-SRRW workflows: sampling variance and optimisation error against :math:`\alpha`.

* :func:`least_squares_problem`: a seeded heterogeneous least-squares problem sharded over the nodes;
* :func:`sampling_sweep`: :math:`n\,\mathbb E\lVert x_n - \mu\rVert^2` of the walk itself against :math:`\alpha`,
  beside :math:`\operatorname{tr} V(\alpha)` (Doshi, Hu, Eun, ICML 2023);
* :func:`optimisation_sweep`: SA-SRRW (Hu, Doshi, Eun, ICLR 2024) mean-square error against :math:`n`, per regime
  and :math:`\alpha`, beside the finite-n linearised prediction (:mod:`dynfer.estimators.srrw.linearised`) and the
  asymptotic covariance :math:`V_\theta(\alpha)` (:mod:`dynfer.estimators.srrw.theory`);
* :func:`optimisation_baselines`: SRW, NBRW and i.i.d. tokens and centralised SGD (one uniformly drawn row per step);
* :func:`report_srrw`, :func:`study_graph` and :func:`run_srrw_workflow`: the tables, the log–log MSE figure,
  the covariance against theory and the variance-ratio table, written as one report.

The theory needs the dense spectrum of the base chain: it is skipped (and said so) above ``max_dense`` nodes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["ALPHAS", "REGIMES", "centralised_sgd_mse", "least_squares_problem", "optimisation_baselines",
           "optimisation_sweep", "report_srrw", "run_srrw_workflow", "sampling_sweep", "strip_curves", "study_graph",
           "theory_context", "uniform_spectrum"]

ALPHAS = (0.0, 1.0, 5.0, 10.0, 20.0)
#: regime -> (theta exponent a, measure exponent b) of gamma_n = (n+1)^-a, beta_n = (n+1)^-b
REGIMES = {"gamma=o(beta)": (0.9, 0.8), "gamma~beta": (0.8, 0.8), "beta=o(gamma)": (0.7, 0.8)}
QUICK_NOTE = "Quick mode: reduced steps and runs for a smoke test; the numbers on this page are not the benchmark's."


def least_squares_problem(
    n_nodes: int, *, n_features: int = 5, rows_per_node: int = 10, heterogeneity: float = 1.0, noise: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Rows ``(X, y)`` for a least-squares problem sharded in contiguous blocks (``node_of=None``).

    Node :math:`i` holds ``rows_per_node`` rows :math:`x \sim \mathcal N(0, I_p)`,
    :math:`y = x^\top\vartheta_i + \sigma\epsilon`, with its own :math:`\vartheta_i = \mathbf 1 +
    h\,\mathcal N(0, I_p)`: the nodes disagree, so the node gradients at :math:`\theta^*` do not vanish.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_nodes * rows_per_node, n_features))
    truth = 1.0 + heterogeneity * rng.normal(size=(n_nodes, n_features))
    y = np.einsum("rp,rp->r", x, np.repeat(truth, rows_per_node, axis=0)) + noise * rng.normal(size=x.shape[0])
    return x, y


def uniform_spectrum(graph: Any, max_dense: int) -> Any:
    """Spectrum of the MHRW to the uniform law (``None`` when ``N > max_dense``: the dense solve is too large)."""
    from dynfer.estimators.srrw.theory import chain_spectrum
    from dynfer.processes.walks import metropolis_hastings_matrix

    n = graph.number_of_nodes()
    if n > max_dense:
        return None
    return chain_spectrum(metropolis_hastings_matrix(graph, device="cpu", dtype=torch.float64), np.full(n, 1.0 / n))


def sampling_sweep(
    graph: Any, *, alphas: Sequence[float] = ALPHAS, n_steps: int, n_tokens: int, seed: int = 0,
    device: Any = None, max_dense: int = 7000, spectrum: Any = None,
) -> dict[str, Any]:
    r"""Sampling variance :math:`n\,\mathbb E\lVert x_n - \mu\rVert^2` of the SRRW (MHRW base to uniform, b = 1).

    ``n_tokens`` independent tokens from :math:`\mu`; the ratio to :math:`\alpha = 0` with its delta-method
    standard error, beside :math:`\operatorname{tr} V(\alpha)/\operatorname{tr} V(0)` when the dense spectrum is
    affordable.

    Returns
    -------
    dict
        ``{"n_steps", "n_tokens", "rows": [{alpha, n_mse, n_mse_se, ratio, ratio_se, trace_V, theory_ratio}]}``.
    """
    from dynfer.processes.walks import SelfRepellentWalk

    spec = spectrum if spectrum is not None else uniform_spectrum(graph, max_dense)
    traces = None
    if spec is not None:
        lam, norms = spec.eigenvalues, (spec.left_vectors**2).sum(0)
        traces = {a: float(np.sum((1 + lam) / (1 - lam) / (2 * a * (1 + lam) + 1) * norms)) for a in alphas}
    rows: list[dict[str, Any]] = []
    base = None
    for k, alpha in enumerate(alphas):
        walk = SelfRepellentWalk(graph, float(alpha), device=device)
        t0 = time.perf_counter()
        res = walk.run(n_steps, n_tokens=n_tokens, seed=seed + 7919 * k)
        per = n_steps * ((res.x.double().cpu() - walk.target.double().cpu()) ** 2).sum(1)
        row: dict[str, Any] = {"alpha": float(alpha), "n_mse": float(per.mean()),
                               "n_mse_se": float(per.std() / np.sqrt(n_tokens)), "seconds": time.perf_counter() - t0}
        if base is None:
            base = row
        else:
            row["ratio"] = row["n_mse"] / base["n_mse"]
            row["ratio_se"] = row["ratio"] * float(np.hypot(row["n_mse_se"] / row["n_mse"],
                                                            base["n_mse_se"] / base["n_mse"]))
        if traces is not None:
            row["trace_V"] = traces[alpha]
            row["theory_ratio"] = traces[alpha] / traces[alphas[0]]
        rows.append(row)
    return {"n_steps": n_steps, "n_tokens": n_tokens, "rows": rows,
            "theory": "tr V(alpha) from the dense spectrum" if traces else f"skipped: N > {max_dense}"}


def theory_context(graph: Any, X: Any, y: Any, *, max_dense: int = 7000, spectrum: Any = None) -> dict[str, Any]:
    """Objective pieces at the optimum for the theory: spectrum, ``H`` ``(N, p)``, Hessian, ``theta*``."""
    from dynfer.estimators.srrw import SelfRepellentSGD

    obj = SelfRepellentSGD().objective(graph, X, y)
    theta_star = obj.theta_star()
    return {"spectrum": spectrum if spectrum is not None else uniform_spectrum(graph, max_dense),
            "H": obj.node_gradients(theta_star), "hessian": obj.hessian(theta_star), "theta_star": theta_star}


def optimisation_sweep(
    graph: Any, X: Any, y: Any, *, alphas: Sequence[float] = ALPHAS, regimes: Sequence[str] = tuple(REGIMES),
    n_steps: int, n_runs: int, seed: int = 0, device: Any = None, theory: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    r"""SA-SRRW least squares on ``graph`` (MHRW base to uniform) for every regime and :math:`\alpha`.

    Each row: the simulated :math:`\mathbb E\lVert\theta_n - \theta^*\rVert^2` at the recorded steps (and its
    standard error over the ``n_runs`` runs), its ratio to :math:`\alpha = 0` at the last step, the linearised
    prediction at the same steps (when ``theory`` holds a spectrum), the empirical covariance of
    :math:`(\theta_n - \theta^*)/\sqrt{\gamma_n}` against :math:`V_\theta(\alpha)` and the linearised
    :math:`\operatorname{Cov}\theta_n/\gamma_n`.
    """
    from dynfer.estimators.srrw import SelfRepellentSGD
    from dynfer.estimators.srrw.linearised import linearised_mse
    from dynfer.estimators.srrw.theory import theta_asymptotic_covariance

    spec = theory.get("spectrum") if theory else None
    out: dict[str, Any] = {"n_steps": n_steps, "n_runs": n_runs, "regimes": {}}
    for regime in regimes:
        a, b = REGIMES[regime]
        rows = []
        for alpha in alphas:
            t0 = time.perf_counter()
            est = SelfRepellentSGD(alpha=float(alpha), theta_exponent=a, measure_exponent=b, n_steps=n_steps,
                                   n_runs=n_runs, seed=seed, device=device).fit(graph, X, y)
            res = est.results()
            gamma_n = float(res["gamma_final"])
            row: dict[str, Any] = {
                "alpha": float(alpha), "steps": res["steps"].tolist(), "mse": res["mse"].tolist(),
                "mse_sem": res["mse_sem"].tolist(), "mse_final": float(res["mse"][-1]),
                "mse_final_sem": float(res["mse_sem"][-1]), "trace_covariance": float(np.trace(res["covariance"])),
                "seconds": time.perf_counter() - t0, "throughput": float(res["throughput"]),
            }
            if spec is not None:
                t1 = time.perf_counter()
                lp = linearised_mse(spec, theory["H"], theory["hessian"], float(alpha), n_steps=n_steps,
                                    theta0_error=-np.asarray(theory["theta_star"]), theta_exponent=a,
                                    measure_exponent=b, record_steps=res["steps"])
                v = theta_asymptotic_covariance(spec, theory["H"], theory["hessian"], float(alpha),
                                                theta_exponent=a, measure_exponent=b)
                row.update({"linearised_mse": lp.mse.tolist(), "linearised_final": float(lp.mse[-1]),
                            "sim_over_linearised": float(res["mse"][-1] / lp.mse[-1]),
                            "trace_V_theta": float(np.trace(v)),
                            "linearised_trace_cov_over_gamma": float(np.trace(lp.covariance[-1]) / gamma_n),
                            "linearised_seconds": time.perf_counter() - t1})
            rows.append(row)
        base = rows[0]
        for row in rows:
            row["ratio_to_alpha0"] = row["mse_final"] / base["mse_final"]
            row["ratio_se"] = row["ratio_to_alpha0"] * float(np.hypot(row["mse_final_sem"] / row["mse_final"],
                                                                      base["mse_final_sem"] / base["mse_final"]))
            if "linearised_final" in row:
                row["linearised_ratio"] = row["linearised_final"] / base["linearised_final"]
                row["asymptotic_ratio"] = row["trace_V_theta"] / base["trace_V_theta"]
        out["regimes"][regime] = {"theta_exponent": a, "measure_exponent": b, "rows": rows}
    return out


def centralised_sgd_mse(X: np.ndarray, y: np.ndarray, theta_star: np.ndarray, *, n_steps: int, n_runs: int,
                        theta_exponent: float, seed: int = 0) -> float:
    r"""Centralised SGD, one uniformly drawn row per step: :math:`\mathbb E\lVert\theta_n - \theta^*\rVert^2`.

    :math:`\theta \mathrel{+}= \gamma_{k+1}(y_r - x_r^\top\theta)x_r` from :math:`\theta_0 = 0`, averaged over
    ``n_runs`` runs.
    """
    rng = np.random.default_rng(seed)
    theta = np.zeros((n_runs, X.shape[1]))
    for k in range(n_steps):
        r = rng.integers(0, X.shape[0], size=n_runs)
        xr = X[r]
        theta += (k + 2.0) ** -theta_exponent * (y[r] - np.einsum("rp,rp->r", xr, theta))[:, None] * xr
    return float(((theta - theta_star) ** 2).sum(1).mean())


def optimisation_baselines(graph: Any, X: Any, y: Any, *, regime: str = "gamma=o(beta)", n_steps: int, n_runs: int,
                           seed: int = 0, device: Any = None, theta_star: Any = None) -> dict[str, Any]:
    """SRW (1/d-reweighted), NBRW and i.i.d. tokens at ``alpha = 0``, and centralised SGD, in one regime."""
    from dynfer.estimators.srrw import SelfRepellentSGD

    a, b = REGIMES[regime]
    out: dict[str, Any] = {"regime": regime}
    for base in ("srw", "nbrw", "iid"):
        t0 = time.perf_counter()
        res = SelfRepellentSGD(alpha=0.0, base=base, theta_exponent=a, measure_exponent=b, n_steps=n_steps,
                               n_runs=n_runs, seed=seed, device=device).fit(graph, X, y).results()
        out[base] = {"mse_final": float(res["mse"][-1]), "mse_final_sem": float(res["mse_sem"][-1]),
                     "seconds": time.perf_counter() - t0}
    if theta_star is not None:
        t0 = time.perf_counter()
        out["centralised_sgd"] = {"mse_final": centralised_sgd_mse(np.asarray(X), np.asarray(y), np.asarray(theta_star),
                                                                   n_steps=n_steps, n_runs=n_runs, theta_exponent=a,
                                                                   seed=seed),
                                  "seconds": time.perf_counter() - t0}
    return out


def _fmt_ratio(value: Any, se: Any = None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if se is None else f"{value:.4g} ± {se:.2g}"


def report_srrw(report: Any, name: str, sampling: Mapping[str, Any] | None, sweep: Mapping[str, Any] | None,
                baselines: Mapping[str, Any] | None = None) -> None:
    """Add the variance-ratio table, the sweep tables, the log–log MSE figure and the covariance figure."""
    import matplotlib.pyplot as plt

    if sampling is not None:
        report.add_heading(f"{name}: sampling variance of the walk")
        report.add_text(f"n E||x_n - mu||^2 over {sampling['n_tokens']} tokens after {sampling['n_steps']} steps "
                        "(MHRW base to uniform, b = 1), ratio to alpha = 0 beside tr V(alpha)/tr V(0) "
                        f"({sampling['theory']}). Finite-n ratios approach the CLT value from below.")
        report.add_table([{"alpha": r["alpha"], "n MSE": r["n_mse"], "ratio": _fmt_ratio(r.get("ratio"),
                                                                                          r.get("ratio_se")),
                           "tr V(alpha)": r.get("trace_V", "—"), "theory ratio": r.get("theory_ratio", "—")}
                          for r in sampling["rows"]], caption="Sampling variance against alpha")
    if sweep is None:
        return
    for regime, block in sweep["regimes"].items():
        report.add_heading(f"{name}: SA-SRRW least squares, {regime} (a = {block['theta_exponent']}, "
                           f"b = {block['measure_exponent']})")
        rows = [{"alpha": r["alpha"], "MSE at n": r["mse_final"], "ratio to alpha=0": _fmt_ratio(
                    r["ratio_to_alpha0"], r["ratio_se"] if r["alpha"] else None),
                 "linearised ratio": r.get("linearised_ratio", "—"), "sim / linearised": r.get("sim_over_linearised",
                                                                                                 "—"),
                 "asymptotic ratio tr V_theta": r.get("asymptotic_ratio", "—"),
                 "tr cov / gamma_n": r["trace_covariance"], "tr V_theta": r.get("trace_V_theta", "—")}
                for r in block["rows"]]
        report.add_table(rows, caption=f"{sweep['n_runs']} runs of {sweep['n_steps']} steps; 'sim / linearised' is "
                         "the simulated MSE over the finite-n linearised prediction with the same step sizes")
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(block["rows"])))
        for r, col in zip(block["rows"], colours, strict=True):
            axes[0].loglog(r["steps"], r["mse"], color=col, label=f"alpha = {r['alpha']:g}")
            if "linearised_mse" in r:
                axes[0].loglog(r["steps"], r["linearised_mse"], color=col, ls="--", lw=1)
        axes[0].set_xlabel("steps n")
        axes[0].set_ylabel("E||theta_n - theta*||^2")
        axes[0].legend(fontsize=7)
        axes[0].set_title("simulated (solid), linearised (dashed)", fontsize=9)
        al = [r["alpha"] for r in block["rows"]]
        axes[1].semilogy(al, [r["trace_covariance"] for r in block["rows"]], "o-", label="empirical tr cov / gamma_n")
        if "trace_V_theta" in block["rows"][0]:
            axes[1].semilogy(al, [r["trace_V_theta"] for r in block["rows"]], "s--", label="tr V_theta (asymptotic)")
            axes[1].semilogy(al, [r["linearised_trace_cov_over_gamma"] for r in block["rows"]], "^:",
                             label="linearised tr Cov / gamma_n")
        axes[1].set_xlabel("alpha")
        axes[1].legend(fontsize=7)
        axes[1].set_title("covariance against theory", fontsize=9)
        fig.tight_layout()
        slug = "".join(ch if ch.isalnum() else "_" for ch in f"{name}_{regime}")
        report.add_figure(fig, f"mse_{slug}", caption=f"{name}, {regime}: MSE against n (log–log) and the "
                          "covariance of (theta_n - theta*)/sqrt(gamma_n) against alpha.")
        plt.close(fig)
    if baselines:
        report.add_heading(f"{name}: baselines ({baselines['regime']}, alpha = 0)")
        report.add_table([{"method": k, "MSE at n": v["mse_final"]} for k, v in baselines.items()
                          if isinstance(v, dict)], caption="SRW / NBRW reweight the gradient by 1/d; i.i.d. draws "
                         "the agent from the target; centralised SGD draws one row uniformly per step")


def study_graph(report: Any, graph: Any, *, name: str, seed: int, device: Any,
                sizes: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    """Sampling sweep, optimisation sweep, baselines on one graph, added to ``report``; returns (metrics, seconds).

    ``sizes`` holds ``sampling_steps``, ``sampling_tokens``, ``n_steps``, ``n_runs``, optional ``regimes``,
    ``alphas``, ``max_dense`` (largest N for the dense theory, default 7,000) and ``baselines`` (bool).
    """
    t_start = time.perf_counter()
    alphas = tuple(sizes.get("alphas", ALPHAS))
    max_dense = int(sizes.get("max_dense", 7000))
    spec = uniform_spectrum(graph, max_dense)
    x, y = least_squares_problem(graph.number_of_nodes(), seed=seed)
    theory = theory_context(graph, x, y, spectrum=spec)
    sampling = sampling_sweep(graph, alphas=alphas, n_steps=int(sizes["sampling_steps"]),
                              n_tokens=int(sizes["sampling_tokens"]), seed=seed, device=device, spectrum=spec,
                              max_dense=max_dense)
    sweep = optimisation_sweep(graph, x, y, alphas=alphas, regimes=tuple(sizes.get("regimes", REGIMES)),
                               n_steps=int(sizes["n_steps"]), n_runs=int(sizes["n_runs"]), seed=seed, device=device,
                               theory=theory if spec is not None else None)
    base = None
    if sizes.get("baselines", True):
        base = optimisation_baselines(graph, x, y, n_steps=int(sizes["n_steps"]), n_runs=int(sizes["n_runs"]),
                                      seed=seed, device=device, theta_star=theory["theta_star"])
    report_srrw(report, name, sampling, sweep, base)
    metrics = {"graph": name, "n_nodes": graph.number_of_nodes(), "n_edges": graph.number_of_edges(),
               "sizes": dict(sizes), "spectral_gap": spec.spectral_gap if spec is not None else None,
               "theory": "dense spectrum" if spec is not None else f"skipped: N > max_dense = {max_dense}",
               "sampling": sampling, "optimisation": strip_curves(sweep), "baselines": base}
    return metrics, time.perf_counter() - t_start


def run_srrw_workflow(
    out_dir: str | Path, graph: Any, *, name: str, title: str, summary: str, seed: int, device: Any, quick: bool,
    sizes: Mapping[str, Any], inputs: Mapping[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """One graph's :func:`study_graph` written as a report (``sizes`` as there); returns (report path, metrics)."""
    from dynfer.report import Report

    report = Report(title=title, summary=(QUICK_NOTE + " " if quick else "") + summary + f" Seed {seed}.")
    metrics, seconds = study_graph(report, graph, name=name, seed=seed, device=device, sizes=sizes)
    metrics.update({"quick": quick, "seed": seed})
    path = report.write(out_dir, metrics=metrics, seed=seed, device=str(device), inputs=dict(inputs or {}),
                        timings={"total": seconds})
    return path, metrics


def strip_curves(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep without the per-step curves (kept in the figure), for ``metrics.json``."""
    out = {k: v for k, v in sweep.items() if k != "regimes"}
    out["regimes"] = {reg: {**{k: v for k, v in blk.items() if k != "rows"},
                            "rows": [{k: v for k, v in r.items() if k not in ("steps", "mse", "mse_sem",
                                                                              "linearised_mse")}
                                     for r in blk["rows"]]}
                      for reg, blk in sweep["regimes"].items()}
    return out
