r"""The synthetic prior the foundation model is trained on: random Markov jump processes, grids, noise and contexts.

Every draw is in the dimensionless time of the observation grid (mean gap about 1); the statistics
(:mod:`.statistics`) then re-measure time in the median lag :math:`\tau` of the drawn context, so the targets are
:math:`\log(q_{ij}\tau)`, exactly what the model infers from real data. One context:

* **states** :math:`n \in \{2,\dots,6\}` with probabilities ``(0.1, 0.15, 0.15, 0.2, 0.4)``;
* **rates**: the fastest rate per grid gap :math:`\log_{10}\rho_{\max} \sim U[-2.3, 0.5]`, a window width
  :math:`w \sim U[0.3, 2.8]` decades, every off-diagonal rate log-uniform on
  :math:`[\rho_{\max} 10^{-w}, \rho_{\max}]` (covers the flashing ratchet for :math:`V \le 3`, whose rates span
  2.6 decades);
* **links**: all present with probability 0.3, else each dropped independently with probability
  :math:`U[0.1, 0.7]`; a state left without an exit gets one random link back;
* **initial law**: the long-time law from a uniform start (probability 0.4), Dirichlet(1) (0.25),
  Dirichlet(0.3) (0.2) or one state (0.15);
* **context**: :math:`K` paths, :math:`\log K \sim U[\log 10, \log 3000]`, capped at 400,000 observations;
* **grid**: regular with probability 0.5 (:math:`L` points :math:`0, 1, \dots, L - 1`,
  :math:`\log L \sim U[\log 5, \log 150]`), else per path :math:`L_k \sim U\{L_-, \dots, L_+\}` sorted uniform
  times on :math:`[0, L_+]` (:math:`\log L_- \sim U[\log 3, \log 60]`, :math:`L_+ = L_- \cdot U[1, 3]`, at most
  150);
* **label noise**: none with probability 0.5, else each observed label is replaced by a uniformly chosen other
  state with probability :math:`p \sim U[0.005, 0.12]`.

Paths are simulated exactly by the backend's batched Gillespie
(:func:`dynfer.processes.jumps.gillespie.simulate_states`, one rate matrix per path).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dynfer.estimators.mjp.foundation.statistics import MAX_STATES, context_statistics
from dynfer.processes.jumps.gillespie import simulate_states
from dynfer.processes.jumps.likelihood import transition_matrices

__all__ = ["PRIOR", "sample_contexts"]

#: The prior's settings (recorded with the weights).
PRIOR: dict[str, Any] = {
    "state_probabilities": [0.1, 0.15, 0.15, 0.2, 0.4],
    "log10_fastest_rate": [-2.3, 0.5],
    "window_decades": [0.3, 2.8],
    "full_graph_probability": 0.3,
    "drop_probability": [0.1, 0.7],
    "initial": {"long_time": 0.4, "dirichlet_1": 0.25, "dirichlet_0.3": 0.2, "one_state": 0.15},
    "paths": [10, 3000],
    "max_observations": 400_000,
    "regular_probability": 0.5,
    "regular_points": [5, 150],
    "irregular_min_points": [3, 60],
    "irregular_spread": [1.0, 3.0],
    "max_points": 150,
    "noise_free_probability": 0.5,
    "label_noise": [0.005, 0.12],
}


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _log_uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return math.exp(_uniform(gen, math.log(lo), math.log(hi)))


def _draw_generator(gen: torch.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rates ``(n, n)`` (diagonal 0) and adjacency ``(n, n)`` of one MJP."""
    hi = _uniform(gen, *PRIOR["log10_fastest_rate"])
    width = _uniform(gen, *PRIOR["window_decades"])
    logr = hi - width * torch.rand((n, n), generator=gen, dtype=torch.float64).numpy()
    rates = 10.0**logr
    off = ~np.eye(n, dtype=bool)
    adj = off.copy()
    if _uniform(gen, 0, 1) >= PRIOR["full_graph_probability"]:
        drop = _uniform(gen, *PRIOR["drop_probability"])
        adj &= torch.rand((n, n), generator=gen, dtype=torch.float64).numpy() >= drop
        for i in range(n):
            if not adj[i].any():
                others = [j for j in range(n) if j != i]
                adj[i, others[int(torch.randint(len(others), (), generator=gen))]] = True
    return np.where(adj, rates, 0.0), adj


def _draw_initial(gen: torch.Generator, rates: np.ndarray) -> np.ndarray:
    n = rates.shape[0]
    u = _uniform(gen, 0, 1)
    w = PRIOR["initial"]
    if u < w["long_time"]:
        q = torch.as_tensor(rates - np.diag(rates.sum(1)))
        slow = float(rates[rates > 0].min())
        p = torch.full((n,), 1.0 / n, dtype=torch.float64) @ transition_matrices(q, torch.tensor([50.0 / slow]))[0]
        p = p.clamp_min(0).numpy()
    elif u < w["long_time"] + w["dirichlet_1"] + w["dirichlet_0.3"]:
        alpha = 1.0 if u < w["long_time"] + w["dirichlet_1"] else 0.3
        g = torch.distributions.Gamma(torch.full((n,), alpha, dtype=torch.float64), 1.0)
        seed = int(torch.randint(0, 2**62, (), generator=gen))
        with torch.random.fork_rng(devices=[]):  # Gamma draws from the global RNG: seed it, leave the caller's alone
            torch.manual_seed(seed)
            p = g.sample().numpy()
    else:
        p = np.zeros(n)
        p[int(torch.randint(n, (), generator=gen))] = 1.0
    p = np.maximum(p, 0.0)
    return p / p.sum()


def _draw_grid(gen: torch.Generator, n_paths: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Times ``(K, L)`` (padded with the last time), lengths ``(K,)`` and the grid kind."""
    max_pts = PRIOR["max_points"]
    if _uniform(gen, 0, 1) < PRIOR["regular_probability"]:
        length = int(round(_log_uniform(gen, *PRIOR["regular_points"])))
        times = torch.arange(length, dtype=torch.float64).expand(n_paths, length).contiguous()
        return times, torch.full((n_paths,), length, dtype=torch.long), "regular"
    lo = int(round(_log_uniform(gen, *PRIOR["irregular_min_points"])))
    hi = min(max_pts, max(lo, int(round(lo * _uniform(gen, *PRIOR["irregular_spread"])))))
    lengths = torch.randint(lo, hi + 1, (n_paths,), generator=gen)
    raw = torch.rand((n_paths, hi), generator=gen, dtype=torch.float64) * hi
    col = torch.arange(hi)
    raw = torch.where(col < lengths[:, None], raw, torch.inf)
    times = torch.sort(raw, dim=1).values
    last = times.gather(1, (lengths - 1)[:, None])
    times = torch.where(col < lengths[:, None], times, last)
    return times, lengths, "irregular"


def _flip(states: torch.Tensor, n: torch.Tensor, p: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Replace each label with probability ``p`` by a uniformly drawn other state of its ``n``."""
    flip = torch.rand(states.shape, generator=gen, dtype=torch.float64) < p[:, None]
    shift = 1 + (torch.rand(states.shape, generator=gen, dtype=torch.float64) * (n[:, None] - 1)).long()
    return torch.where(flip, (states + shift) % n[:, None], states)


def sample_contexts(n_contexts: int, gen: torch.Generator) -> dict[str, np.ndarray]:
    r"""Draw ``n_contexts`` MJPs from :data:`PRIOR`, simulate their contexts and return statistics and targets.

    Returns
    -------
    dict
        ``pairs`` ``(C, 6, 6, B)``, ``triples`` ``(C, 6, 6, 6)``, ``first`` ``(C, 6)``, ``n_states`` ``(C,)``
        (the network input, :func:`~.statistics.context_statistics`); targets ``log_rates`` ``(C, 6, 6)``
        (:math:`\log(q_{ij}\tau)` on present links, 0 elsewhere), ``adjacency`` ``(C, 6, 6)`` and ``initial``
        ``(C, 6)``; and ``n_paths``, ``label_noise``, ``regular``, ``time_unit`` per context.
    """
    m = MAX_STATES
    rates_all, times_all, lengths_all, init_all, ctx_all = [], [], [], [], []
    n_all, adj_all, p0_all, noise_all, reg_all, k_all = [], [], [], [], [], []
    probs = torch.tensor(PRIOR["state_probabilities"], dtype=torch.float64)
    for c in range(n_contexts):
        n = 2 + int(torch.multinomial(probs, 1, generator=gen))
        rates, adj = _draw_generator(gen, n)
        p0 = _draw_initial(gen, rates)
        k = int(round(_log_uniform(gen, *PRIOR["paths"])))
        times, lengths, kind = _draw_grid(gen, k)
        if int(lengths.sum()) > PRIOR["max_observations"]:
            k = max(10, PRIOR["max_observations"] // int(lengths.max()))
            times, lengths = times[:k], lengths[:k]
        padded = np.zeros((m, m))
        padded[:n, :n] = rates
        q = padded - np.diag(padded.sum(1))
        rates_all.append(torch.as_tensor(q).expand(k, m, m))
        times_all.append(times)
        lengths_all.append(lengths)
        init_all.append(torch.multinomial(torch.as_tensor(p0), k, replacement=True, generator=gen))
        ctx_all.append(torch.full((k,), c, dtype=torch.long))
        n_all.append(n)
        a = np.zeros((m, m), dtype=bool)
        a[:n, :n] = adj
        adj_all.append(a)
        pp = np.zeros(m)
        pp[:n] = p0
        p0_all.append(pp)
        noise_all.append(0.0 if _uniform(gen, 0, 1) < PRIOR["noise_free_probability"]
                         else _uniform(gen, *PRIOR["label_noise"]))
        reg_all.append(kind == "regular")
        k_all.append(k)
    width = max(t.shape[1] for t in times_all)
    times = torch.cat([torch.nn.functional.pad(t, (0, width - t.shape[1]), mode="replicate") if t.shape[1] < width
                       else t for t in times_all])
    rates = torch.cat(rates_all).contiguous()
    lengths = torch.cat(lengths_all)
    init = torch.cat(init_all)
    context = torch.cat(ctx_all)
    clean = simulate_states(rates, times, init, gen, where="foundation prior")
    n_t = torch.tensor(n_all, dtype=torch.long)
    noise = torch.tensor(noise_all, dtype=torch.float64)
    observed = _flip(clean, n_t[context], noise[context], gen)
    stats = context_statistics(observed, times, lengths, context, n_contexts, n_t)
    tau = stats.time_unit.numpy()
    q_off = np.stack([r[0].numpy() for r in rates_all]) * (1 - np.eye(m))
    adj = np.stack(adj_all)
    log_rates = np.where(adj, np.log(np.where(adj, q_off, 1.0) * tau[:, None, None]), 0.0)
    return {
        "pairs": stats.pairs.numpy(),
        "triples": stats.triples.numpy(),
        "first": stats.first.numpy(),
        "n_states": n_t.numpy(),
        "log_rates": log_rates.astype(np.float32),
        "adjacency": adj,
        "initial": np.stack(p0_all).astype(np.float32),
        "n_paths": np.array(k_all),
        "label_noise": noise.numpy(),
        "regular": np.array(reg_all),
        "time_unit": tau,
    }
