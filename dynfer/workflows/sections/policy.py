r"""The policy-evaluation section: Brownian motion with terminal reward x², where the MSTDE fails.

:func:`dynfer.datasets.synthetic_control.bm_terminal` (:math:`dX = dW` on :math:`[0, 1]`, :math:`X_0 = 0`,
:math:`h = x^2`; 4,000 paths at :math:`\Delta t = 0.02`, 2,000 in quick mode): the value
:math:`J = x^2 + (T - t)` is exact in :math:`(x^2, T - t)` with :math:`\theta^* = (1, 1)`. The martingale loss,
TD(0) and LSTD recover it; the mean-square TD error converges to :math:`(0.6, 1)` (Jia & Zhou 2022; the limit from
:func:`~dynfer.datasets.synthetic_control.bm_mstde_limit`). LSTD is then fitted through the AnnData face
:func:`dynfer.tl.policy_evaluation` and drawn with ``pl.policy_value``, which loads the stored fit.
"""

from __future__ import annotations

import warnings
from typing import Any

import matplotlib.pyplot as plt

from dynfer.workflows.sections._registry import Context, section

__all__: list[str] = []


@section("policy_evaluation", kind="estimator", order=60)
def policy_section(ctx: Context) -> dict[str, Any]:
    """Fit four methods on the Brownian terminal-reward problem and draw the stored LSTD fit (module docstring).

    Returns
    -------
    dict
        ``{"theta": {method: [theta1, theta2]}, "value_error": {...}, "mstde_limit": [0.6, 1.0], ...}``.
    """
    from dynfer.datasets.synthetic_control import bm_mstde_limit, bm_terminal, natural_features
    from dynfer.pl._policy_evaluation import policy_value
    from dynfer.tl._policy_evaluation import policy_evaluation
    from dynfer.workflows.policy import _fit, score_fit

    n_paths = 2000 if ctx.quick else 4000
    adata = bm_terminal(n_paths=n_paths, dt=0.02, seed=ctx.seed)
    phi, _ = natural_features(adata.uns["policy_problem"])
    methods = {"martingale": {"method": "martingale"}, "TD(0)": {"method": "td"}, "LSTD": {"method": "lstd"},
               "MSTDE": {"method": "mstde"}}
    rows, out = [], {"theta": {}, "value_error": {}}  # no seconds: the metrics are deterministic given the seed
    for label, kw in methods.items():
        est, sec = _fit({**kw, "features": phi}, adata, seed=ctx.seed, device=str(ctx.device))
        score = score_fit(est, adata)
        out["theta"][label], out["value_error"][label] = score["theta"], score["value_error"]
        rows.append({"method": label, "θ̂₁ (x²)": score["theta"][0], "θ̂₂ (T − t)": score["theta"][1],
                     "value error": score["value_error"], "seconds": sec})
    limit = bm_mstde_limit()
    out["mstde_limit"] = limit.tolist()
    ctx.report.add_heading("Policy evaluation: the martingale approach against the mean-square TD error")
    ctx.report.add_text(f"Brownian motion with terminal reward x² ({n_paths} paths, Δt = 0.02, X₀ = 0): J = x² + "
                        "(T − t), θ* = (1, 1). Jia & Zhou (2022): minimising the mean-square TD error approximates "
                        "the quadratic variation of the value process and converges to the wrong answer, "
                        f"({limit[0]:.2g}, {limit[1]:.2g}) here; the martingale loss and the martingale orthogonality "
                        "condition (TD, LSTD) do not.")
    ctx.report.add_table(rows, caption="Coefficients of J = θ₁x² + θ₂(T − t) and the relative L² value error "
                         "against the closed form (reference at 4,000 paths, Δt = 0.01: MSTDE (0.61, 1.06), "
                         "TD(0)/LSTD (1.01, 1.06)).")
    with warnings.catch_warnings():  # the callable features cannot be stored in h5ad: passed again below
        warnings.simplefilter("ignore", UserWarning)
        policy_evaluation(adata, method="lstd", features=phi, terminal_key="terminal_reward", seed=ctx.seed)
    ax = policy_value(adata, key="policy_evaluation", time=0.5, features=phi, seed=ctx.seed, show=False)
    ctx.report.add_figure(ax.figure, "policy_value", caption="The LSTD fit stored by dynfer.tl.policy_evaluation, "
                          "J(0.5, x), against the sampled returns (pl.policy_value).")
    plt.close(ax.figure)
    return out
