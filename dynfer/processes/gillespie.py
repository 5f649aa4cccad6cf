r"""Batched Gillespie simulation of continuous-time Markov jump processes.

The direct method (Gillespie 1977): in state :math:`i` the process waits an exponential holding time with rate
:math:`\lambda_i = -q_{ii} = \sum_{j \ne i} q_{ij}`, then jumps to :math:`j \ne i` with probability
:math:`q_{ij} / \lambda_i`. Here all paths advance together: one loop iteration is one jump *event* for every path
still running, drawn as tensors (an ``exponential_`` holding time and an inverse-CDF next state per path); there is no
Python loop over paths. Observation times passed during a holding interval are filled with the current state.

References
----------
Gillespie, D. T. (1977). Exact stochastic simulation of coupled chemical reactions. *J. Phys. Chem.* 81, 2340-2361.
Norris, J. R. (1997). *Markov Chains*. Cambridge University Press, ch. 2-3.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dynfer._validation import as_tensor, check_times, make_generator
from dynfer.processes.jump_checks import (
    as_rate_tensor,
    check_rate_matrix,
    check_states,
    reachability,
    resolve_initial,
)

__all__ = ["first_passage_times", "gillespie"]


def _jump_tables(rates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exit rates ``(..., n)`` and cumulative jump probabilities ``(..., n, n)`` (last column exactly 1)."""
    n = rates.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=rates.device)
    off = rates.masked_fill(eye, 0.0).clamp_min(0.0)
    exit_rate = off.sum(-1)
    cum = off.cumsum(-1)
    last = cum[..., -1:]
    # x / x == 1 exactly in IEEE arithmetic, so u ~ U[0, 1) never runs off the end; absorbing rows are never used
    cum = torch.where(last > 0, cum / last.clamp_min(torch.finfo(cum.dtype).tiny), torch.ones_like(cum))
    return exit_rate, cum


def _alias_tables(cum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Walker's alias tables (Vose 1991) of the jump probabilities: flat ``(n * n,)`` thresholds and aliases.

    Row ``i`` is sampled exactly by ``k = floor(n U)``, ``V = n U - k``: next state ``k`` if ``V < prob[i, k]``, else
    ``alias[i, k]`` (Walker 1977). Built once on the CPU in O(n^2).
    """
    c = cum.detach().cpu().numpy()
    n = c.shape[-1]
    probs = np.diff(c, axis=-1, prepend=0.0) * n
    prob_tab = np.ones((n, n))
    alias_tab = np.tile(np.arange(n), (n, 1))
    for i in range(n):
        p = probs[i].copy()
        small = [k for k in range(n) if p[k] < 1.0]
        large = [k for k in range(n) if p[k] >= 1.0]
        while small and large:
            lo, hi = small.pop(), large.pop()
            prob_tab[i, lo], alias_tab[i, lo] = p[lo], hi
            p[hi] -= 1.0 - p[lo]
            (small if p[hi] < 1.0 else large).append(hi)
        for k in small:  # leftovers are 1 up to rounding; keep them only if they carry probability
            prob_tab[i, k] = 1.0 if probs[i, k] > 0 else 0.0
            if probs[i, k] == 0:
                alias_tab[i, k] = int(np.argmax(probs[i]))
    return (
        torch.as_tensor(prob_tab.reshape(-1), dtype=torch.float64, device=cum.device),
        torch.as_tensor(alias_tab.reshape(-1), dtype=torch.long, device=cum.device),
    )


def _prepare_rates(rates: Any, name: str, device: str | torch.device | None) -> torch.Tensor:
    r = as_rate_tensor(rates, name, device=device)
    check_rate_matrix(r, name, batched=r.ndim == 3)
    return r.detach().to(torch.float64)


def _holding_and_jump(
    exit_rate: torch.Tensor,
    cum: torch.Tensor,
    idx: torch.Tensor,
    s: torch.Tensor,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One event for every running path: holding times ``Exp(λ_s)`` (inf when absorbing) and next states."""
    if exit_rate.ndim == 2:  # one rate matrix per path
        lam, rows = exit_rate[idx, s], cum[idx, s]
    else:
        lam, rows = exit_rate[s], cum[s]
    e = _exponential(tuple(s.shape), s.device, gen)
    hold = torch.where(lam > 0, e / lam.clamp_min(torch.finfo(lam.dtype).tiny), math.inf)
    u = torch.rand(s.shape, dtype=torch.float64, device=s.device, generator=gen)
    nxt = (u.unsqueeze(-1) >= rows).sum(-1)  # inverse CDF: first j with cum_j > u
    return hold, nxt


_MAX_CHUNK_ELEMENTS = 20_000_000  # events x paths held at once (a few hundred MB at most)


def _exponential(shape: tuple[int, ...], device: torch.device, gen: torch.Generator) -> torch.Tensor:
    """Standard exponential draws ``-log(1 - U)`` (a few times faster than ``Tensor.exponential_`` on CPU)."""
    return torch.rand(shape, dtype=torch.float64, device=device, generator=gen).neg_().log1p_().neg_()


def _jump_chain(
    tables: tuple[torch.Tensor, ...], idx: torch.Tensor, s: torch.Tensor, n_events: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_events`` jumps for every running path: visited states ``(P, E + 1)`` and holding times ``(P, E)``.

    The loop is over events only; each iteration draws the next state of every path at once (alias method for a
    shared generator, inverse CDF for per-path generators), event-major so every step reads and writes contiguously.
    """
    exit_rate, cum, prob_tab, alias_tab = tables
    n_run, dev = s.shape[0], s.device
    chain = torch.empty((n_events + 1, n_run), dtype=torch.long, device=dev)
    chain[0] = s
    cur = s
    if exit_rate.ndim == 1:  # shared generator: Walker's alias method, O(1) per jump
        n = exit_rate.shape[0]
        scaled = torch.rand((n_events, n_run), dtype=torch.float64, device=dev, generator=gen).mul_(n)
        col = scaled.long().clamp_(max=n - 1)
        frac = scaled.sub_(col)
        flat = torch.empty(n_run, dtype=torch.long, device=dev)
        thresh = torch.empty(n_run, dtype=torch.float64, device=dev)
        alias = torch.empty(n_run, dtype=torch.long, device=dev)
        stay = torch.empty(n_run, dtype=torch.bool, device=dev)
        for j in range(n_events):  # preallocated outputs: no allocation inside the event loop
            torch.add(col[j], cur, alpha=n, out=flat)
            torch.index_select(prob_tab, 0, flat, out=thresh)
            torch.index_select(alias_tab, 0, flat, out=alias)
            torch.lt(frac[j], thresh, out=stay)
            cur = torch.where(stay, col[j], alias, out=chain[j + 1])
    else:  # one generator per path: inverse CDF, first state whose cumulative probability exceeds u
        u = torch.rand((n_events, n_run, 1), dtype=torch.float64, device=dev, generator=gen)
        for j in range(n_events):
            cur = (u[j] >= cum[idx, cur]).sum(-1)
            chain[j + 1] = cur
    chain = chain.T.contiguous()
    visited = chain[:, :-1]
    lam = exit_rate[visited] if exit_rate.ndim == 1 else exit_rate[idx.unsqueeze(-1), visited]
    expo = _exponential((n_run, n_events), dev, gen)
    hold = torch.where(lam > 0, expo.div_(lam.clamp_min(torch.finfo(lam.dtype).tiny)), math.inf)
    return chain, hold


def _regular_grid(times: torch.Tensor) -> tuple[float, float, float] | None:
    """``(t0, h, window)`` when the shared grid is nearly even (every ``t_k`` within ``1e-3 h`` of ``t0 + k h``).

    ``window`` bounds how far (in units of ``h``) a grid point may sit from ``t0 + k h``, e.g. a float32 grid.
    """
    n_obs = times.shape[0]
    if n_obs < 2:
        return None
    t0, h = float(times[0]), float(times[-1] - times[0]) / (n_obs - 1)
    if not h > 0:
        return None
    ideal = t0 + h * torch.arange(n_obs, dtype=times.dtype, device=times.device)
    dev = float((times - ideal).abs().max()) / h
    if dev > 1e-3:
        return None
    return t0, h, 2 * dev + 1e-9


def _count_before(times: torch.Tensor, jump_t: torch.Tensor, grid: tuple[float, float, float] | None) -> torch.Tensor:
    """Number of observation times strictly before each jump time (``searchsorted``, left side).

    On a (nearly) even grid ``t_k ~ t_0 + k h`` this is ``ceil((J - t_0) / h)`` wherever ``(J - t_0) / h`` is farther
    than the grid's deviation from an integer; the few entries closer than that are redone with ``searchsorted``,
    so the result is exact.
    """
    if grid is None:
        return torch.searchsorted(times, jump_t)
    t0, h, window = grid
    x = (jump_t - t0).div_(h)
    c = x.ceil().clamp_(0, times.shape[-1])
    gap = c - x  # in [0, 1) below the clamp
    near = gap.abs() < window
    near |= gap > 1 - window
    out = c.long()
    if bool(near.any()):
        out[near] = torch.searchsorted(times, jump_t[near])
    return out


def _simulate(rates: torch.Tensor, times: torch.Tensor, init: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batched Gillespie core: states ``(P, T)`` at ``times`` ((T,) or (P, T), float64) from ``init`` (P,).

    Paths run in chunks of ``E`` events. For a chunk, the jump times ``J`` give ``c_j`` = number of observations
    before ``J_j``; the state at observation ``k`` is chain entry ``m_k = #{j: c_j <= k}`` (a scatter-add and a
    cumulative sum). Paths with observations left after their last simulated jump run another chunk.
    """
    exit_rate, cum = _jump_tables(rates)
    prob_tab, alias_tab = _alias_tables(cum) if rates.ndim == 2 else (None, None)
    tables = (exit_rate, cum, prob_tab, alias_tab)
    n_paths, n_obs = init.shape[0], times.shape[-1]
    dev = init.device
    shared = times.ndim == 1
    out = torch.empty((n_paths, n_obs), dtype=torch.long, device=dev)
    idx = torch.arange(n_paths, device=dev)
    s = init.clone()
    t = (times[0].expand(n_paths) if shared else times[:, 0]).clone()
    settled = torch.zeros(n_paths, dtype=torch.long, device=dev)  # observations already written
    grid = _regular_grid(times) if shared else None
    first = True
    while idx.numel() > 0:
        t_obs = times if shared or first else times[idx]
        t_last = times[-1] if shared else t_obs[:, -1]
        # events per chunk: Poisson mean + 2 sd of the jumps still needed, capped by memory
        lam_now = exit_rate[s] if exit_rate.ndim == 1 else exit_rate[idx, s]
        mean_events = float((lam_now * (t_last - t).clamp_min(0)).mean())
        guess = mean_events + 2 * math.sqrt(mean_events) + 4
        n_events = int(max(4, min(guess, 4096, _MAX_CHUNK_ELEMENTS // idx.numel())))
        chain, hold = _jump_chain(tables, idx, s, n_events, gen)
        jump_t = hold.cumsum_(1).add_(t.unsqueeze(-1))  # jump_t[:, j]: time the path leaves chain[:, j]
        before = _count_before(t_obs, jump_t, grid)  # observations strictly before each jump (right-continuity)
        # state at observation k is chain[:, m_k], m_k = number of jumps at or before t_k = #{j: before_j <= k}
        counts = torch.zeros((idx.numel(), n_obs + 1), dtype=torch.int32, device=dev)
        counts.scatter_add_(1, before, torch.ones((1, 1), dtype=torch.int32, device=dev).expand_as(before))
        block = chain.gather(1, counts[:, :n_obs].cumsum(1).long())
        if first:
            out = block  # entries after a path's last jump are provisional and rewritten by the next chunk
            first = False
        else:
            fresh = torch.arange(n_obs, device=dev) >= settled[idx].unsqueeze(-1)
            out[idx] = torch.where(fresh, block, out[idx])
        last = before[:, -1]
        settled[idx] = last
        s, t = chain[:, -1], jump_t[:, -1]
        keep = last < n_obs  # observations remain at or after the last simulated jump
        if not bool(keep.all()):
            idx, s, t = idx[keep], s[keep], t[keep]
    return out


def gillespie(
    rates: Any,
    times: Any,
    initial: Any,
    *,
    n_paths: int | None = None,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    r"""Simulate Markov jump paths observed at given times, all paths at once (batched Gillespie 1977).

    In state :math:`i` a path waits :math:`\tau \sim \mathrm{Exp}(\lambda_i)`, :math:`\lambda_i = \sum_{j\ne i}
    q_{ij}`, then jumps to :math:`j` with probability :math:`q_{ij}/\lambda_i`. A path starts at its first observation
    time in its initial state; the returned state at time :math:`t` is the state of the (right-continuous) path there.

    Parameters
    ----------
    rates
        One generator ``(n, n)`` shared by all paths, or one per path ``(n_paths, n, n)`` (rows = from state).
    times
        Non-decreasing observation times: shared ``(T,)`` or per path ``(n_paths, T)``.
    initial
        Integer start states (an int or ``(n_paths,)``), or a probability vector ``(n,)`` to draw them from.
    n_paths
        Number of paths; needed only when neither ``initial``, ``times`` nor ``rates`` fixes it.
    seed
        Seed or :class:`torch.Generator` (``None``: ``settings.seed``).
    device
        Device to simulate on (default: that of ``rates``).

    Returns
    -------
    torch.Tensor
        Long tensor ``(n_paths, T)`` of observed states.

    References
    ----------
    Gillespie, D. T. (1977). *J. Phys. Chem.* 81, 2340-2361.
    """
    r = _prepare_rates(rates, "rates", device)
    dev, n = r.device, r.shape[-1]
    tm = as_tensor(times, "times", dtype=torch.float64, device=dev, ndim=(1, 2))
    if tm.shape[-1] == 0:
        raise ValueError("times must hold at least one observation time")
    check_times(tm, "times", strict=False)
    sizes = {
        "rates": r.shape[0] if r.ndim == 3 else None,
        "times": tm.shape[0] if tm.ndim == 2 else None,
        "n_paths": n_paths,
    }
    if isinstance(initial, torch.Tensor | list | tuple) or hasattr(initial, "__array__"):
        init_t = torch.as_tensor(initial) if not isinstance(initial, torch.Tensor) else initial
        if not init_t.is_floating_point() and init_t.ndim == 1:
            sizes["initial"] = init_t.shape[0]
    known = {k: v for k, v in sizes.items() if v is not None}
    if len(set(known.values())) > 1:
        raise ValueError(f"the number of paths disagrees between arguments: {known}")
    if not known:
        raise ValueError("give n_paths (or per-path times, rates or initial states) to fix the number of paths")
    count = next(iter(known.values()))
    if count < 1:
        raise ValueError(f"n_paths must be >= 1, got {count}")
    gen = make_generator(seed, dev)
    init = resolve_initial(initial, count, n, stationary=None, generator=gen, device=dev)
    return _simulate(r, tm, init, gen)


def _check_hit_surely(r: torch.Tensor, starts: torch.Tensor, target_mask: torch.Tensor) -> None:
    """Raise unless every start state hits the target with probability one or ends in an absorbing state."""
    n = r.shape[-1]
    adj = (r > 0) & ~torch.eye(n, dtype=torch.bool, device=r.device)
    adj = adj & ~target_mask.unsqueeze(-1)  # the target stops the path
    reach = reachability(adj)  # (..., n, n)
    absorbing = adj.sum(-1) == 0
    # a state that cannot reach the target and is not absorbing can trap a path forever
    trap = ~(reach & target_mask).any(-1) & ~absorbing
    risky = (reach & trap.unsqueeze(-2)).any(-1)  # (..., n)
    if r.ndim == 3:
        bad = risky.gather(1, starts.unsqueeze(-1)).squeeze(-1)
    else:
        bad = risky[starts]
    if bool(bad.any()):
        raise ValueError(
            "the target is not reached with probability 1 from some start state (a non-absorbing set of states "
            "cannot reach it); pass max_time to stop such paths, which then report an infinite hitting time"
        )


def first_passage_times(
    rates: Any,
    start: Any,
    target: int | Any,
    n_paths: int | None = None,
    *,
    max_time: float | None = None,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    r"""Sample first-passage (hitting) times :math:`T_A = \inf\{t \ge 0: X_t \in A\}` by batched Gillespie.

    The sample mean estimates the mean first-passage time :math:`\tau_{iA}` solving
    :math:`1 + \sum_k q_{ik}\tau_{kA} = 0` for :math:`i \notin A`, :math:`\tau_{iA} = 0` for :math:`i \in A`
    (Norris 1997, thm 3.3.3).

    Parameters
    ----------
    rates
        Generator ``(n, n)`` or one per path ``(n_paths, n, n)``.
    start
        Start state(s): an int, integer states ``(n_paths,)``, or a probability vector ``(n,)``.
    target
        A target state or a list of target states :math:`A`.
    n_paths
        Number of paths (may be omitted when ``start`` or ``rates`` fixes it).
    max_time
        Stop paths at this time; paths that have not hit :math:`A` by then (or that are absorbed elsewhere) report
        ``inf``. Required when :math:`A` is not reached with probability 1.
    seed
        Seed or :class:`torch.Generator`.
    device
        Device (default: that of ``rates``).

    Returns
    -------
    torch.Tensor
        Float64 hitting times ``(n_paths,)`` (0 for paths starting in :math:`A`).
    """
    r = _prepare_rates(rates, "rates", device)
    dev, n = r.device, r.shape[-1]
    tgt = torch.as_tensor(target, device=dev).reshape(-1)
    if tgt.numel() == 0:
        raise ValueError("target must name at least one state")
    check_states(tgt, n, "target")
    target_mask = torch.zeros(n, dtype=torch.bool, device=dev)
    target_mask[tgt.long()] = True
    if max_time is not None and not (max_time > 0):
        raise ValueError(f"max_time must be > 0, got {max_time!r}")
    sizes = {"rates": r.shape[0] if r.ndim == 3 else None, "n_paths": n_paths}
    st = start if isinstance(start, torch.Tensor) else torch.as_tensor(start)
    if not st.is_floating_point() and st.ndim == 1:
        sizes["start"] = st.shape[0]
    known = {k: v for k, v in sizes.items() if v is not None}
    if len(set(known.values())) > 1:
        raise ValueError(f"the number of paths disagrees between arguments: {known}")
    if not known or next(iter(known.values())) < 1:
        raise ValueError(f"n_paths must be a positive int, got {n_paths!r}")
    count = next(iter(known.values()))
    gen = make_generator(seed, dev)
    s = resolve_initial(start, count, n, stationary=None, generator=gen, device=dev)
    if max_time is None:
        _check_hit_surely(r, s, target_mask)
    exit_rate, cum = _jump_tables(r)
    hit = torch.full((count,), math.inf, dtype=torch.float64, device=dev)
    at_target = target_mask[s]
    hit[at_target] = 0.0
    idx = torch.nonzero(~at_target).squeeze(-1)
    s = s[idx]
    t = torch.zeros(idx.shape, dtype=torch.float64, device=dev)
    horizon = math.inf if max_time is None else float(max_time)
    while idx.numel() > 0:
        hold, nxt = _holding_and_jump(exit_rate, cum, idx, s, gen)
        t = t + hold
        alive = t <= horizon  # false for absorbed paths (t = inf) and those past max_time
        reached = alive & target_mask[nxt]
        hit[idx[reached]] = t[reached]
        keep = alive & ~reached
        s = nxt
        if not bool(keep.all()):
            idx, s, t = idx[keep], s[keep], t[keep]
    return hit
