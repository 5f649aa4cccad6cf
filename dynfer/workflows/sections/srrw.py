r"""The SA-SRRW section: sampling variance and optimisation error against :math:`\alpha` on the karate club.

Zachary's karate club (34 nodes, MHRW base to uniform). The walk's sampling variance :math:`n\,\mathbb E\lVert x_n -
\mu\rVert^2` for :math:`\alpha \in \{0, 5\}` beside :math:`\operatorname{tr} V(\alpha)/\operatorname{tr} V(0)`
(reference table 0.0528 at :math:`\alpha = 5`; finite-n ratios approach it from below), then SA-SRRW on a
heterogeneous least-squares problem (:func:`dynfer.workflows.srrw.least_squares_problem`) with
:math:`\gamma_n = (n+1)^{-0.9}`, :math:`\beta_n = (n+1)^{-0.8}` for :math:`\alpha \in \{0, 10\}`, beside the
finite-n linearised prediction (:mod:`dynfer.estimators.srrw.linearised`). A few seconds on one CPU core.
"""

from __future__ import annotations

from typing import Any

from dynfer.workflows.sections._registry import Context, section

__all__: list[str] = []

#: wall-clock entries of the sweeps: left out of the metrics so that a rerun writes the same metrics.json
TIMING_KEYS = frozenset({"seconds", "linearised_seconds", "throughput"})


def _without_timings(value: Any) -> Any:
    """``value`` with every :data:`TIMING_KEYS` entry removed from its (nested) dictionaries."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@section("srrw_optimization", kind="estimator", order=40)
def srrw_section(ctx: Context) -> dict[str, Any]:
    """Sampling and optimisation sweeps on the karate club (see the module docstring).

    Returns
    -------
    dict
        ``sampling`` (rows per alpha) and ``optimisation`` (rows per alpha, regime gamma=o(beta)).
    """
    import networkx as nx

    from dynfer.workflows.srrw import (
        least_squares_problem,
        optimisation_sweep,
        report_srrw,
        sampling_sweep,
        strip_curves,
        theory_context,
        uniform_spectrum,
    )

    graph = nx.karate_club_graph()
    steps, runs, tokens = (1500, 20, 200) if ctx.quick else (5000, 50, 500)
    spec = uniform_spectrum(graph, 1000)
    x, y = least_squares_problem(graph.number_of_nodes(), seed=ctx.seed)
    sampling = sampling_sweep(graph, alphas=(0.0, 5.0), n_steps=steps, n_tokens=tokens, seed=ctx.seed,
                              device=ctx.device, spectrum=spec)
    sweep = optimisation_sweep(graph, x, y, alphas=(0.0, 10.0), regimes=("gamma=o(beta)",), n_steps=steps,
                               n_runs=runs, seed=ctx.seed, device=ctx.device,
                               theory=theory_context(graph, x, y, spectrum=spec))
    report_srrw(ctx.report, "karate club", sampling, sweep)
    return _without_timings({"sampling": sampling, "optimisation": strip_curves(sweep)})
