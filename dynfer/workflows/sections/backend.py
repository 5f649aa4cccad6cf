"""Backend checks: four small experiments with the process backend, each against an independent answer.

Ornstein–Uhlenbeck variance against the exact law, the flashing ratchet's occupation and mean first-passage time
against linear algebra, the self-repellent walk's error against its CLT covariance, and empirical W2 against the
Bures formula. ``backend_demo`` runs these alone; ``quickstart`` runs them after the estimators.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch

from dynfer.processes import (
    OrnsteinUhlenbeck,
    SelfRepellentWalk,
    first_passage_times,
    flashing_ratchet,
    wasserstein,
)
from dynfer.workflows.sections._registry import Context, section

__all__: list[str] = []


@section("ornstein_uhlenbeck", kind="backend", order=10)
def ornstein_uhlenbeck_section(ctx: Context) -> dict:
    """Backend check (ornstein uhlenbeck); see the module docstring."""
    report, seed, device, quick = ctx.report, ctx.seed, ctx.device, ctx.quick
    n_paths = 2_000 if quick else 10_000
    ou = OrnsteinUhlenbeck(1.0, 0.125, dim=10).to(device)
    times = torch.linspace(0, 2, 21, device=device)
    paths = ou.simulate(torch.zeros(n_paths, 10, device=device), times, dt=1e-3, seed=seed)
    var_sim = paths.var(dim=1).mean(dim=1).cpu().numpy()
    var_exact = np.array([0.125 * (1 - math.exp(-2 * float(t))) for t in times.cpu()])
    report.add_heading("Ornstein–Uhlenbeck: Euler–Maruyama against the exact law")
    report.add_text(
        f"dX = -X dt + 0.5 dW in 10 dimensions, {n_paths} paths, dt = 1e-3. The exact variance at time t is "
        "0.125 (1 - exp(-2t))."
    )
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(times.cpu(), var_exact, "k-", label="exact")
    ax.plot(times.cpu(), var_sim, "o", ms=4, label="simulated")
    ax.set_xlabel("t")
    ax.set_ylabel("variance per coordinate")
    ax.legend()
    report.add_figure(fig, "ou_variance", caption="Variance per coordinate against time.")
    plt.close(fig)
    se = 0.125 * math.sqrt(2 / (10 * n_paths))
    rows = [{"t": 1.0, "simulated": float(var_sim[10]), "exact": float(var_exact[10]), "standard error": se}]
    report.add_table(rows, caption="Variance at t = 1")
    return {"n_paths": n_paths, "variance_t1_simulated": float(var_sim[10]), "variance_t1_exact": float(var_exact[10])}


@section("flashing_ratchet", kind="backend", order=20)
def flashing_ratchet_section(ctx: Context) -> dict:
    """Backend check (flashing ratchet); see the module docstring."""
    report, seed, device, quick = ctx.report, ctx.seed, ctx.device, ctx.quick
    n_paths = 2_000 if quick else 10_000
    rm = flashing_ratchet(V=1.0, device=device)
    q = rm.Q.cpu().numpy()
    # independent answer: the left null vector of Q by a least-squares solve
    lhs = np.vstack([q.T, np.ones(6)])
    pi_exact = np.linalg.lstsq(lhs, np.r_[np.zeros(6), 1.0], rcond=None)[0]
    states = rm.simulate(n_paths, torch.linspace(0, 10, 101, dtype=torch.float64, device=device), seed=seed)
    occ = np.bincount(states[:, -1].cpu().numpy(), minlength=6) / n_paths
    mfpt = float(rm.mfpt()[0, 2])
    hits = first_passage_times(rm.Q, 0, 2, n_paths, seed=seed + 1).cpu().numpy()
    report.add_heading("Discrete flashing ratchet: batched Gillespie against linear algebra")
    report.add_text(
        f"Six-state ratchet (V = 1, r = b = 1), {n_paths} paths from the stationary law to t = 10. "
        f"Stationary entropy production {float(rm.entropy_production()):.4f} (reference value 0.1792)."
    )
    rows = [
        {"state": i, "occupation at t=10": float(occ[i]), "stationary law": float(pi_exact[i]),
         "standard error": float(math.sqrt(pi_exact[i] * (1 - pi_exact[i]) / n_paths))}
        for i in range(6)
    ]
    report.add_table(rows, caption="Occupation against the stationary law")
    report.add_table(
        [{"quantity": "MFPT 0 -> 2", "simulated": float(hits.mean()), "linear algebra": mfpt,
          "standard error": float(hits.std() / math.sqrt(n_paths))}],
        caption="Mean first-passage time",
    )
    return {
        "n_paths": n_paths,
        "occupation_t10": occ.tolist(),
        "stationary": pi_exact.tolist(),
        "entropy_production": float(rm.entropy_production()),
        "mfpt_0_to_2_simulated": float(hits.mean()),
        "mfpt_0_to_2_exact": mfpt,
    }


@section("self_repellent_walk", kind="backend", order=30)
def self_repellent_walk_section(ctx: Context) -> dict:
    """Backend check (self repellent walk); see the module docstring."""
    report, seed, device, quick = ctx.report, ctx.seed, ctx.device, ctx.quick
    graph = nx.karate_club_graph()
    n_tokens, n_steps = (200, 1_000) if quick else (500, 3_000)
    alphas = (0.0, 1.0, 5.0)
    err = {}
    for alpha in alphas:
        walk = SelfRepellentWalk(graph, alpha, base="mhrw", device=device)
        res = walk.run(n_steps, n_tokens=n_tokens, seed=seed)
        mu = torch.full((walk.n_nodes,), 1.0 / walk.n_nodes, dtype=res.x.dtype, device=res.x.device)
        err[alpha] = float(((res.x - mu) ** 2).sum(1).mean()) * n_steps
    walk0 = SelfRepellentWalk(graph, 0.0, base="mhrw", device=device)
    theory = {a: float(np.trace(walk0.asymptotic_covariance(a))) for a in alphas}
    rows = [
        {"alpha": a, "n E|x_n - mu|^2": err[a], "ratio to alpha=0": err[a] / err[0.0],
         "theory ratio": theory[a] / theory[0.0]}
        for a in alphas
    ]
    report.add_heading("Self-repellent random walk on the karate-club graph")
    report.add_text(
        f"{n_tokens} tokens x {n_steps} steps on a Metropolis-Hastings base chain to the uniform law. The "
        "visit-frequency error shrinks with the repellence alpha as the CLT covariance V(alpha) predicts "
        "(finite runs approach the ratio from below)."
    )
    report.add_table(rows, caption="Sampling error against alpha")
    return {"n_tokens": n_tokens, "n_steps": n_steps,
            "scaled_mse": {str(a): err[a] for a in alphas},
            "theory_ratio": {str(a): theory[a] / theory[0.0] for a in alphas}}


@section("transport", kind="backend", order=40)
def transport_section(ctx: Context) -> dict:
    """Backend check (transport); see the module docstring."""
    report, seed, device, quick = ctx.report, ctx.seed, ctx.device, ctx.quick
    n = 500 if quick else 1_500
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    s1 = np.diag([1.0, 0.25])
    y = torch.randn(n, 2, generator=gen, dtype=torch.float64) @ torch.tensor(np.sqrt(s1)) + torch.tensor([1.0, 0.0])
    w2 = float(wasserstein(x.to(device), y.to(device), p=2))
    # Bures: |m1 - m2|^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2) with S1 = I: = 1 + (1 - 1)^2 + (1 - 0.5)^2
    exact = math.sqrt(1.0 + (1 - 1.0) ** 2 + (1 - 0.5) ** 2)
    report.add_heading("Optimal transport: exact W2 between Gaussian samples")
    report.add_text(f"Two samples of {n} points from N(0, I) and N((1, 0), diag(1, 0.25)); the Bures formula gives "
                    f"W2 = {exact:.4f}; the empirical W2 is biased upwards by sampling noise of order n^(-1/2).")
    report.add_table([{"empirical W2": w2, "Bures W2": exact}], caption="W2")
    return {"n_points": n, "w2_empirical": w2, "w2_exact": exact}
