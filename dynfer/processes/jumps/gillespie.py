r"""Batched Gillespie simulation of continuous-time Markov jump processes.

The direct method (Gillespie 1977): in state :math:`i` the process waits an exponential holding time with rate
:math:`\lambda_i = -q_{ii} = \sum_{j \ne i} q_{ij}`, then jumps to :math:`j \ne i` with probability
:math:`q_{ij} / \lambda_i`. Here all paths advance together: one loop iteration is one jump *event* for every path
still running, drawn as tensors (the next state by Walker's alias method for a shared generator, by inverse CDF for
per-path generators; the holding times :math:`-\log(1 - U) / \lambda_i` for a whole block of events afterwards);
there is no Python loop over paths. Observation times passed during a holding interval are filled with the current
state. Every draw is exact up to float64 rounding (no time discretisation).

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

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import STEP_COST, as_tensor, check_memory, check_times, check_work, make_generator
from dynfer.processes.jumps.checks import (
    as_labels,
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
    """Walker's alias tables (Vose 1991) of the jump probabilities: thresholds ``(m,)`` and targets ``(2 m,)``.

    Row ``i`` is sampled exactly by ``x = n U``, ``k = floor(x)``: next state ``k`` if ``x - k < prob[i, k]``, else
    ``alias[i, k]`` (Walker 1977). With ``f = i (n + 1) + k`` and ``m = n (n + 1)``, the thresholds hold
    ``k + prob[i, k]`` (``x`` is compared undivided: ``x - k`` is exact, so only the rounding of the stored sum, a
    relative ``2^-53``, enters) and the targets hold ``k`` at ``f`` and ``alias[i, k]`` at ``m + f``: the next state is
    ``targets[f + m [x >= thresholds[f]]]``. Each row has a padding column ``k = n`` (threshold ``n``, the alias of
    column ``n - 1``) for the rounding case ``n U = n``. Built once on the CPU in O(n^2).
    """
    c = cum.detach().cpu().numpy()
    n = c.shape[-1]
    probs = np.diff(c, axis=-1, prepend=0.0) * n
    prob_tab = np.ones((n, n + 1))
    alias_tab = np.tile(np.arange(n + 1), (n, 1))
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
    prob_tab[:, n], alias_tab[:, n] = 0.0, alias_tab[:, n - 1]
    prob_tab += np.arange(n + 1)  # thresholds k + prob[i, k] for the undivided x = n U
    target = np.concatenate([np.tile(np.arange(n + 1), n), alias_tab.reshape(-1)])
    return (
        torch.as_tensor(prob_tab.reshape(-1), dtype=torch.float64, device=cum.device),
        torch.as_tensor(target, dtype=torch.int32, device=cum.device),
    )


def _check_n_paths(n_paths: Any) -> None:
    if n_paths is not None and (isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 1):
        raise BadInputError("n_paths", f"{n_paths!r}", "a positive integer or None")


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
    u = torch.rand(shape, dtype=torch.float64, device=device, generator=gen)
    return torch.rsub(u, 1.0).log_().neg_()


def _jump_chain(
    tables: tuple[torch.Tensor | None, ...],
    idx: torch.Tensor,
    s: torch.Tensor,
    u0: torch.Tensor,
    n_events: int,
    gen: torch.Generator,
    work: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n_events`` jumps for every running path, event-major: states ``(E + 1, P)`` and jump times ``(E, P)``.

    The loop is over events only; each iteration draws the next state of every path at once (alias method for a
    shared generator, inverse CDF for per-path generators) and reads and writes contiguous int32 rows. The holding
    times are drawn afterwards for the whole block as ``log(1 - U) * (-1 / lambda_s)``, with ``-1 / lambda_s`` looked
    up in ``tables[4]`` (in the caller's time unit; ``-inf`` when absorbing), and summed from the start times ``u0``
    (P,). Everything lives in the flat workspace ``work`` (int32 states, then two float64 buffers); the second float64
    buffer, free again on return, is handed back as scratch.
    """
    exit_rate, cum, thresh_tab, target_tab, neg_inv = tables
    n_run, dev = s.shape[0], s.device
    size = n_events * n_run
    chain = work[0][: size + n_run].view(n_events + 1, n_run)
    jump, spare = (w[:size].view(n_events, n_run) for w in work[1:3])
    chain[0] = s
    cur = chain[0]
    torch.rand((n_events, n_run), dtype=torch.float64, device=dev, generator=gen, out=jump)  # jump uniforms first
    if thresh_tab is not None and target_tab is not None:  # shared generator: Walker's alias method, O(1) per jump
        n = exit_rate.shape[-1]
        x = jump.mul_(n)
        col = spare.view(-1).view(torch.int32)[:size].view(n_events, n_run)
        col.copy_(x)  # floor(n U) (n only by rounding: padding column)
        half = n * (n + 1)
        flat = torch.empty(n_run, dtype=torch.int32, device=dev)
        thresh = torch.empty(n_run, dtype=torch.float64, device=dev)
        go = torch.empty(n_run, dtype=torch.int32, device=dev)  # int32: no type promotion in the add below
        for j in range(n_events):  # preallocated outputs: no allocation inside the event loop
            torch.add(col[j], cur, alpha=n + 1, out=flat)
            torch.index_select(thresh_tab, 0, flat, out=thresh)
            torch.ge(x[j], thresh, out=go)
            flat.add_(go, alpha=half)  # the alias half of the targets
            cur = torch.index_select(target_tab, 0, flat, out=chain[j + 1])
        rate = torch.index_select(neg_inv, 0, chain[:-1].reshape(-1), out=spare.view(-1)).view(n_events, n_run)
    else:  # one generator per path: inverse CDF, first state whose cumulative probability exceeds u
        u = jump.unsqueeze(-1)
        for j in range(n_events):
            cur = (u[j] >= cum[idx, cur]).sum(-1)
            chain[j + 1] = cur
        rate = spare.copy_(neg_inv[idx].gather(1, chain[:-1].T.long()).T)
    jump.uniform_(generator=gen)  # then the holding-time uniforms, into the same buffer
    torch.sub(torch.ones((), dtype=torch.float64, device=dev), jump, out=jump).log_().mul_(rate)  # log(1 - U) / -λ
    if bool((neg_inv == -math.inf).any()):
        jump.nan_to_num_(nan=math.inf)  # absorbing state and U = 0: 0 * inf
    jump[0] += u0
    return chain, jump.cumsum_(0), spare


def _regular_grid(times: torch.Tensor) -> tuple[float, float, float] | None:
    """``(t0, h, window)`` when the shared grid is nearly even (every ``t_k`` within ``1e-3 h`` of ``t0 + k h``).

    ``window`` bounds how far a grid point in units of ``h``, ``u_k = (t_k - t0) / h``, may sit from ``k`` (e.g. a
    float32 grid), with a margin for rounding.
    """
    n_obs = times.shape[0]
    if n_obs < 2:
        return None
    t0, h = float(times[0]), float(times[-1] - times[0]) / (n_obs - 1)
    if not h > 0:
        return None
    ideal = torch.arange(n_obs, dtype=times.dtype, device=times.device)
    dev = float(((times - t0) / h - ideal).abs().max())
    if dev > 1e-3:
        return None
    return t0, h, 2 * dev + 1e-9


def _count_before(
    obs: torch.Tensor,
    jump: torch.Tensor,
    grid: tuple[float, float, float] | None,
    scratch: torch.Tensor,
    out: torch.Tensor,
) -> torch.Tensor:
    """Number of observation times strictly before each jump time (``searchsorted``, left side), event-major.

    ``jump`` is ``(E, P)``; ``obs`` is shared ``(T,)`` or per path ``(P, T)``; the counts are written into ``out``
    (int32 or int64, shaped like ``jump``) and returned. On a (nearly) even shared grid, in units of the step
    (``obs[k]`` within ``window`` of ``k``), the count is ``ceil(J)`` (clamped to ``T``) wherever ``J`` is farther
    than the window from an integer, i.e. ``g (1 - g) >= window`` for ``g = ceil(J) - J``; the few entries closer
    than that are redone with ``searchsorted``, so the result is exact. ``scratch`` is a float64 buffer shaped like
    ``jump``.
    """
    if grid is None:
        if obs.ndim == 1:
            return out.copy_(torch.searchsorted(obs, jump))
        return out.copy_(torch.searchsorted(obs, jump.T.contiguous()).T)
    window = grid[2]
    g = torch.ceil(jump, out=scratch).sub_(jump)  # in [0, 1) (nan for an infinite J: never near)
    near = g.addcmul_(g, g, value=-1.0) < window  # g (1 - g) < window: J within the window of an integer
    out.copy_(torch.ceil(jump, out=scratch).clamp_(max=obs.shape[-1]))
    if bool(near.any()):
        out[near] = torch.searchsorted(obs, jump[near]).to(out.dtype)
    return out


def _check_events(where: str, done: float, per_path: float, n_run: int, n_paths: int, exit_rate: torch.Tensor,
                  span: float) -> None:
    """Refuse a simulation whose jump events (done so far plus still expected) exceed ``settings.max_work``.

    One event for ``n_run`` running paths costs ``n_run + STEP_COST`` element-steps; ``per_path`` is the mean number
    of events a running path still needs (its exit rate times its remaining time).
    """
    work = done + per_path * (n_run + STEP_COST)
    if not work <= settings.max_work:
        fastest = float(exit_rate.max()) if exit_rate.numel() else 0.0
        check_work(work, f"{where}: rates", f"about {per_path:.3g} jump events per path still to simulate for "
                   f"{n_run} of {n_paths} paths (exit rates up to {fastest:.3g} per unit time over a time span of "
                   f"{span:.3g})", change="use slower rates (rescale time), a shorter time span (times) or fewer paths")


def simulate_states(
    rates: torch.Tensor,
    times: torch.Tensor,
    init: torch.Tensor,
    gen: torch.Generator,
    *,
    where: str = "gillespie",
) -> torch.Tensor:
    """Batched Gillespie core: the states of ``P`` paths at the observation times, from checked inputs.

    The engine behind :func:`gillespie` and :meth:`~dynfer.processes.jumps.RateMatrix.simulate`, which validate the
    arguments first; it checks only the work: before every block of events after the first (whose size the
    workspace bounds), the events simulated so far plus those still expected (the exit rate of each path's current
    state times its remaining time, averaged over the running paths; paths absorbed in the first block count for
    nothing) must stay within
    :attr:`dynfer.settings.max_work` (refused with :class:`~dynfer.BadInputError` naming ``where`` otherwise), and
    the output must fit in memory.

    Parameters
    ----------
    rates
        Validated float64 rate matrix ``(n, n)`` shared by all paths, or one per path ``(P, n, n)``.
    times
        Float64 observation times, shared ``(T,)`` or per path ``(P, T)``, non-decreasing along the last axis.
    init
        Long tensor ``(P,)`` of start states.
    gen
        Generator of every random draw (on the device of ``init``).
    where
        The public function, for messages.

    Returns
    -------
    torch.Tensor
        Long tensor ``(P, T)`` of states.

    Notes
    -----
    Paths advance in blocks of ``E`` events, event-major; after each block the paths with no observation left after
    their last jump drop out. On an even shared grid, time is measured in grid steps from ``times[0]`` (observation
    ``k`` at about ``k``). For a block, the jump times ``J`` give ``c_j`` = number of observations before ``J_j``; the
    state at observation ``k`` is the start state plus the sum of the state changes ``chain[j + 1] - chain[j]`` with
    ``c_j <= k``: the changes are added into a flat ``(P, T + 1)`` buffer at row ``p``, column ``1 + c_j`` (the
    jumps after the last observation land in column 0 of row ``p + 1``, or in one spare last entry, which no
    observation reads), and one cumulative sum over columns ``1..T`` at the end gives the states. All blocks share
    one workspace sized by the first, the largest.
    """
    exit_rate, cum = _jump_tables(rates)
    thresh_tab, target_tab = _alias_tables(cum) if rates.ndim == 2 else (None, None)
    n_paths, n_obs = init.shape[0], times.shape[-1]
    dev = init.device
    shared = times.ndim == 1
    grid = _regular_grid(times) if shared else None
    h = grid[1] if grid is not None else 1.0
    obs = (times - grid[0]) / h if grid is not None else times  # observation times in the unit h
    neg_inv = (-1.0 / h) / exit_rate  # -1 / (lambda h): holding time = log(1 - U) * neg_inv; -inf when absorbing
    tables = (exit_rate, cum, thresh_tab, target_tab, neg_inv)
    # every partial sum of state changes is a difference of two states (and every prefix sum from the start state a
    # state), so a narrow integer type holds them exactly: less memory to clear, add into and scan
    n = exit_rate.shape[-1]
    small = torch.int8 if n <= 127 else torch.int16 if n <= 32767 else torch.int32
    width = n_obs + 1
    check_memory(n_paths * (width * small.itemsize + n_obs * 8), f"{where}: times",
                 f"states of {n_paths} paths at {n_obs} observation times", device=dev,
                 change="simulate fewer paths or observation times (in batches)")
    span = float((times[..., -1] - times[..., 0]).max()) if n_obs else 0.0
    done = 0.0
    pos_type = torch.int32 if n_paths * width < 2**31 else torch.long
    acc = torch.zeros(n_paths * width + 1, dtype=small, device=dev)
    rows = acc[:-1].view(n_paths, width)
    rows[:, 1] = init
    idx = torch.arange(n_paths, device=dev)
    s = init
    u = (obs[0].expand(n_paths) if shared else obs[:, 0]).contiguous()
    work: tuple[torch.Tensor, ...] = ()
    while idx.numel() > 0:
        n_run = idx.numel()
        obs_run = obs if shared or n_run == n_paths else obs[idx]
        u_last = obs_run[-1] if shared else obs_run[:, -1]
        lam_now = exit_rate[s] if exit_rate.ndim == 1 else exit_rate[idx, s]
        mean_events = float((lam_now * (u_last - u).clamp_min(0)).mean()) * h  # jumps still needed, on average
        if work:  # the first block is bounded by its workspace; from then on, the paths' own states tell
            _check_events(where, done, mean_events, n_run, n_paths, exit_rate, span)
        if not work:  # first block: about the mean less one sd (few paths finish sooner); workspace sized to it
            guess = mean_events - math.sqrt(mean_events)
            n_events = int(max(4, min(guess, 4096, _MAX_CHUNK_ELEMENTS // n_run)))
            size = n_events * n_run
            work = (
                torch.empty(size + n_run, dtype=torch.int32, device=dev),  # states, then positions (when int32)
                torch.empty(size, dtype=torch.float64, device=dev),
                torch.empty(size, dtype=torch.float64, device=dev),
                torch.empty(size, dtype=small, device=dev),  # state changes
            )
        else:  # later blocks: the mean + 2 sd of the jumps still needed, within the workspace
            guess = mean_events + 2 * math.sqrt(mean_events) + 4
            n_events = int(max(1, min(guess, 4096, work[1].numel() // n_run)))
        size = n_events * n_run
        done += n_events * (n_run + STEP_COST)
        chain, jump, scratch = _jump_chain(tables, idx, s, u, n_events, gen, work)
        delta = torch.sub(chain[1:].reshape(-1), chain[:-1].reshape(-1), out=work[3][:size])
        s = chain[-1].clone()
        # positions: row p, column 1 + (observations strictly before the jump), in the states' memory if int32
        pos = work[0][:size] if pos_type == torch.int32 else torch.empty(size, dtype=torch.long, device=dev)
        before = _count_before(obs_run, jump, grid, scratch, pos.view(n_events, n_run))
        keep = before[-1] < n_obs  # observations remain at or after the last simulated jump
        before += (idx * width + 1).to(pos_type)
        acc.index_add_(0, pos, delta)
        u = jump[-1].clone()
        if not bool(keep.all()):
            idx, s, u = idx[keep], s[keep], u[keep]
    return torch.empty((n_paths, n_obs), dtype=torch.long, device=dev).copy_(rows[:, 1:].cumsum_(1))


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
    _check_n_paths(n_paths)
    r = _prepare_rates(rates, "rates", device)
    dev, n = r.device, r.shape[-1]
    tm = as_tensor(times, "times", dtype=torch.float64, device=dev, ndim=(1, 2))
    if tm.shape[-1] == 0:
        raise BadInputError("times must hold at least one observation time")
    check_times(tm, "times", strict=False)
    sizes = {
        "rates": r.shape[0] if r.ndim == 3 else None,
        "times": tm.shape[0] if tm.ndim == 2 else None,
        "n_paths": n_paths,
    }
    if isinstance(initial, torch.Tensor | list | tuple) or hasattr(initial, "__array__"):
        init_t = as_labels(initial, "initial")
        if not init_t.is_floating_point() and init_t.ndim == 1:
            sizes["initial"] = init_t.shape[0]
    known = {k: v for k, v in sizes.items() if v is not None}
    if len(set(known.values())) > 1:
        raise BadInputError(f"the number of paths disagrees between arguments: {known}")
    if not known:
        raise BadInputError("give n_paths (or per-path times, rates or initial states) to fix the number of paths")
    count = next(iter(known.values()))
    if count < 1:
        raise BadInputError(f"n_paths must be >= 1, got {count}")
    gen = make_generator(seed, dev)
    init = resolve_initial(initial, count, n, stationary=None, generator=gen, device=dev)
    return simulate_states(r, tm, init, gen)


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
        raise BadInputError(
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
    _check_n_paths(n_paths)
    r = _prepare_rates(rates, "rates", device)
    dev, n = r.device, r.shape[-1]
    tgt = as_labels(target, "target", dev).reshape(-1)
    if tgt.numel() == 0:
        raise BadInputError("target must name at least one state")
    check_states(tgt, n, "target")
    target_mask = torch.zeros(n, dtype=torch.bool, device=dev)
    target_mask[tgt.long()] = True
    if max_time is not None and not (max_time > 0):
        raise BadInputError(f"max_time must be > 0, got {max_time!r}")
    sizes = {"rates": r.shape[0] if r.ndim == 3 else None, "n_paths": n_paths}
    st = as_labels(start, "start")
    if not st.is_floating_point() and st.ndim == 1:
        sizes["start"] = st.shape[0]
    known = {k: v for k, v in sizes.items() if v is not None}
    if len(set(known.values())) > 1:
        raise BadInputError(f"the number of paths disagrees between arguments: {known}")
    if not known or next(iter(known.values())) < 1:
        raise BadInputError(f"n_paths must be a positive int, got {n_paths!r}")
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
    done, events = 0.0, 0
    while idx.numel() > 0:
        if max_time is not None and events % 64 == 1:  # expected events left: exit rate x time left, from now
            lam = exit_rate[idx, s] if exit_rate.ndim == 2 else exit_rate[s]
            left = float((lam * (horizon - t).clamp_min(0)).mean())
            _check_events("first_passage_times", done, left, idx.numel(), count, exit_rate, horizon)
        done += idx.numel() + STEP_COST
        events += 1
        if done > settings.max_work:
            raise BadInputError(
                "first_passage_times: target",
                f"{idx.numel()} of {count} paths still short of the target after {events} jump events each "
                f"(about {done:.3g} element-steps)",
                f"at most dynfer.settings.max_work = {settings.max_work:.3g} element-steps of work",
                hint="pass a max_time to stop the paths that take too long, choose a target that is reached sooner, "
                "or raise dynfer.settings.max_work",
            )
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
