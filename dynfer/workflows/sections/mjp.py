r"""The Markov-jump-process section: rate matrices of the flashing ratchet, every MJP method side by side.

Contexts of 300 paths x 100 regular points on [0, 2.5] from :func:`dynfer.datasets.flashing_ratchet_paths` (V = r =
b = 1, the design of FIM-MJP's DFR benchmark, Berghaus et al. 2024), each fitted alone by every method of
:func:`dynfer.workflows.mjp.mjp_methods` (the maximum-likelihood baseline; the foundation model when installed).
The table is that of every MJP workflow (:func:`dynfer.workflows.mjp.report_setting`): rate RMSE over the 30
off-diagonals, mass on the 12 structural zeros, derived quantities, Hellinger distance of model histograms,
calibration and seconds per context. One context is then fitted through the AnnData face :func:`dynfer.tl.mjp`
and drawn with the ``pl`` functions, which load the stored fit without refitting.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

import dynfer
from dynfer.workflows.sections._registry import Context, section

__all__: list[str] = []


@section("markov_jump_processes", kind="estimator", order=20)
def mjp_section(ctx: Context) -> dict[str, Any]:
    """Fit and score the MJP methods on ratchet contexts, then store one fit and draw it (see the module docstring).

    Returns
    -------
    dict
        The setting's metrics (:meth:`dynfer.workflows.mjp.SettingResult.metrics`).
    """
    from dynfer.evaluation import JumpContext, ratchet_parameters
    from dynfer.workflows.mjp import MJPSetting, evaluate_setting, mjp_methods, report_setting

    n_ctx, n_paths = (2, 300) if ctx.quick else (10, 300)
    contexts, first = [], None
    for k in range(n_ctx):
        adata = dynfer.datasets.flashing_ratchet_paths(n_paths=n_paths, seed=ctx.seed + k, device=ctx.device)
        first = adata if first is None else first
        src = adata.uns["dynfer_source"]
        n_t = int(src["parameters"]["n_times"])
        contexts.append(JumpContext(adata.obs["state"].to_numpy().reshape(n_paths, n_t),
                                    adata.obs["time"].to_numpy()[:n_t], Q_true=src["rate_matrix"],
                                    name=f"ratchet {k}", extra={"seed": ctx.seed + k,
                                                                "initial": src["stationary_distribution"]}))

    def vrb(q: Any) -> dict[str, float]:
        V, r, b = ratchet_parameters(q)
        return {"V": V, "r": r, "b": b}

    setting = MJPSetting(
        name="ratchet", title="Markov jump processes: rate matrices of the flashing ratchet",
        description=(f"Discrete flashing ratchet (Roldán & Parrondo 2010; FIM-MJP's DFR, V = r = b = 1): {n_paths} "
                     "paths x 100 regular points on [0, 2.5] per context from dynfer.datasets.flashing_ratchet_paths "
                     "(seed + context index), each context fitted alone. References (300 paths): plain MLE "
                     "0.092-0.098 ± 0.023, FIM's published model 0.162 ± 0.021."),
        contexts=contexts, extra_scorer=vrb, truth_extra={"V": 1.0, "r": 1.0, "b": 1.0})
    result = evaluate_setting(setting, mjp_methods(device=str(ctx.device)))
    report_setting(ctx.report, result)
    if first is not None and hasattr(dynfer.pl, "mjp_graph"):
        dynfer.tl.mjp(first, method="mle", key_added="mjp")
        ax = dynfer.pl.mjp_graph(first, key="mjp", show=False)
        ctx.report.add_figure(ax.figure, "mjp_rate_graph", caption="Rate graph of the MLE fit of the first context "
                              "(edge width proportional to the rate; absent links not drawn).")
        plt.close(ax.figure)
        if hasattr(dynfer.pl, "mjp_histograms"):
            ax = dynfer.pl.mjp_histograms(first, key="mjp", seed=ctx.seed, show=False)
            ctx.report.add_figure(ax.figure, "mjp_histograms", caption="Observed (solid) and model (dashed) "
                                  "per-time state histograms of the first context.")
            plt.close(ax.figure)
    return result.metrics()
