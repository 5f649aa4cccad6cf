"""The Schrödinger-bridge section: held-out W2 on the Lotka–Volterra snapshots, recovered θ, the stored model's plots.

Trains on the even-indexed time points and scores the odd ones (the SBIRR protocol): dynfer with the true
(Lotka–Volterra) reference family, with a misspecified linear one, vanilla SB (Brownian reference), the OT-midpoint
(McCann) interpolation and persistence. The Lotka–Volterra fit is then stored in the AnnData
(:func:`dynfer.tl.store_estimator`) and drawn by the ``pl`` functions, which load it without refitting: the
bridge's own paths, the stream lines of the learned drift and θ per round, on axes named by the variables.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

import dynfer
from dynfer.workflows.bridges import heldout_with_baselines, report_heldout, theta_summary
from dynfer.workflows.sections._registry import Context, section

__all__: list[str] = []

TRUTH = {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1}
METHODS = {
    "dynfer (Lotka-Volterra reference)": {"reference": "lotka_volterra", "sigma": 0.1},
    "dynfer (linear reference, misspecified)": {"reference": "linear", "sigma": 0.1},
    "vanilla SB (Brownian reference)": {"reference": "brownian", "sigma": 0.1},
}
TRUE_METHOD = "dynfer (Lotka-Volterra reference)"


@section("schrodinger_bridge", kind="estimator", order=10)
def bridge_section(ctx: Context) -> dict[str, Any]:
    """Fit, score and plot the bridges on ``ctx.data["lotka_volterra"]`` (see the module docstring).

    Returns
    -------
    dict
        W2 per held-out time and method, their means, and the recovered parameters.
    """
    adata = ctx.data["lotka_volterra"]
    x = np.asarray(adata.X, dtype=np.float64)
    t = adata.obs["time"].to_numpy(dtype=np.float64)
    times = np.unique(t)
    train = np.asarray(adata.uns["split"]["train_times"], dtype=np.float64)
    held = np.asarray(adata.uns["split"]["heldout_times"], dtype=np.float64)
    n_iter = 6 if ctx.quick else 10
    methods = {label: {**kw, "n_iter": n_iter} for label, kw in METHODS.items()}
    result = heldout_with_baselines([x[t == tt] for tt in times], times, methods, seed=ctx.seed,
                                    device=str(ctx.device), train=train, heldout=held, floor=False)
    report = ctx.report
    report.add_heading("Schrödinger bridges with iterative reference refinement")
    report.add_text(
        "Population dynamics from snapshots (Shen, Berlinghieri & Broderick, AISTATS 2025): trained on the even "
        "time points, evaluated at the held-out odd ones by W2 (exact OT, squared-Euclidean cost, square root)."
    )
    report_heldout(report, result, truth=TRUTH, truth_method=TRUE_METHOD)
    key = "sb_lotka_volterra"
    dynfer.tl.store_estimator(adata, result.models[TRUE_METHOD], key_added=key, train_key="split")
    ax = dynfer.pl.schrodinger_bridge(adata, key=key, n_paths=30, seed=ctx.seed, show=False)
    report.add_figure(ax.figure, "bridge_trajectories",
                      caption="Snapshots (colour: time) and 30 of the bridge's own paths (pl.schrodinger_bridge).")
    plt.close(ax.figure)
    ax = dynfer.pl.drift_stream(adata, key=key, show=False)
    report.add_figure(ax.figure, "bridge_drift",
                      caption="Stream lines of the refined Lotka-Volterra drift at every cell (pl.drift_stream).")
    plt.close(ax.figure)
    fig = dynfer.pl.bridge_parameters(adata, key=key, truth=TRUTH, return_fig=True)
    report.add_figure(fig, "bridge_theta", caption="Reference parameters per refinement round (dashed: truth).")
    plt.close(fig)
    theta = theta_summary(result.models[TRUE_METHOD])
    return {"heldout_times": held.tolist(), "w2": result.values(), "w2_mean": result.mean(),
            "theta_lotka_volterra": {k: float(np.asarray(theta[k])) for k in TRUTH}}
