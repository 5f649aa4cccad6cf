r"""The entropy-production section: a driven Ornstein–Uhlenbeck system against its closed form.

The Brownian gyrator (Filliger & Reimann 2007: two coupled coordinates at temperatures 1 and 0.3, exact rate
:math:`u^2(T_1-T_2)^2/(T_1T_2(k_1+k_2)) = 0.196`) and the rotational OU process (:math:`2\omega^2/\mu = 0.754`):
exact stationary samples go through :func:`dynfer.tl.entropy_production` (a learned MLP score, its lower bound,
the score-free identity, the Gaussian plug-in, the equilibrium score), exact trajectories at a short lag through
the trajectory baselines (NEEP, the short-time TUR bound with a linear current), all against the closed form;
:func:`dynfer.pl.entropy_map` draws where the rotational system produces entropy (a ring: :math:`e(x) \propto
|x|^2`).
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import torch

import dynfer
from dynfer.workflows.sections._registry import Context, section

__all__: list[str] = []


@section("entropy_production", kind="estimator", order=30)
def entropy_section(ctx: Context) -> dict[str, Any]:
    """Fit every entropy-production estimate on two closed-form systems (see the module docstring).

    Returns
    -------
    dict
        Per system: the truth, every method's rate, error and seconds, and the score's diagnostics.
    """
    from dynfer.datasets.entropy_benchmarks import brownian_gyrator, rotational_ou
    from dynfer.evaluation.entropy_baselines import neep_rate, tur_rate
    from dynfer.workflows.entropy import report_entropy

    n, steps = (3000, 300) if ctx.quick else (20000, 1500)
    n_paths, n_lags, dt = (200, 20, 0.05) if ctx.quick else (1000, 20, 0.02)
    out: dict[str, Any] = {}
    for k, (name, bench) in enumerate((("gyrator", brownian_gyrator()), ("rotational_ou", rotational_ou()))):
        adata = ad.AnnData(bench.sample(n, seed=ctx.seed + k))
        dynfer.tl.entropy_production(adata, drift=bench.drift, diffusion=bench.D, n_steps=steps, seed=ctx.seed,
                                     dtype=torch.float64, device=ctx.device)
        paths = bench.trajectories(n_paths, n_lags, dt, seed=ctx.seed + 10 + k)
        extra = {"TUR bound (linear current)": tur_rate(paths, dt, basis="linear", seed=ctx.seed),
                 "NEEP": neep_rate(paths, dt, hidden=(64, 64), n_steps=200 if ctx.quick else 1000, seed=ctx.seed)}
        out[name] = report_entropy(
            ctx.report, title=f"Entropy production: {bench.name}",
            description=(f"{n} exact stationary samples of {bench.name} ({bench.parameters}); the trajectory "
                         f"baselines read {n_paths} exact stationary paths of {n_lags} lags of {dt:g} (they are "
                         "lower bounds or consistent only as the lag goes to 0)."),
            entry=adata.uns["entropy_production"], truth=bench.entropy_production, extra=extra, adata=adata,
            figure=f"entropy_map_{name}" if name == "rotational_ou" else None, bins=24)
    return out
