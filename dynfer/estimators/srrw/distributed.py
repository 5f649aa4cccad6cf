r"""SA-SRRW across processes: each process holds a group of agents, and tokens travel between processes.

Under an initialised :mod:`torch.distributed` process group (gloo on CPU), rank :math:`r` owns the agents
``owner == r``: it builds the gradient field only from their data shards. A token (one run) lives on the rank that
owns its current node. Each step :math:`k`, every rank, for the tokens it holds,

1. draws :math:`X_{k+1} \sim K_{X_k,\cdot}[x_k]` with the token's own counter-based uniform (the walk's tables are
   graph structure, known to every rank) and updates the token's measure :math:`x_{k+1}`;
2. sends every token whose new node another rank owns to that rank, its whole state: run index, stream key,
   node, auxiliary walk state (the NBRW's last edge), measure and iterate (point-to-point ``isend``/``irecv``
   after an ``all_gather`` of the counts); no generator state travels, since a token's uniforms are a function of
   its key and the step;
3. applies :math:`\theta_{k+1} = \theta_k + \gamma_{k+1} H(\theta_k, X_{k+1})` to the tokens it now holds, with
   the data of :math:`X_{k+1}`, which it owns.

Every scalar (step sizes, the measure's rescaling) depends on :math:`k` alone and every per-token operation is
row-wise, so the iterates equal those of :meth:`SelfRepellentSGD.fit <dynfer.estimators.srrw.SelfRepellentSGD.fit>`
with the same seed (to the last bit up to the rounding of vectorised kernels on batches of other sizes).

References
----------
- J. Hu, V. Doshi, D. Y. Eun, "Accelerating distributed stochastic optimization via self-repellent random walks",
  ICLR 2024, arXiv:2401.09665 (the token algorithm on a network of agents).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from dynfer._errors import BadInputError
from dynfer.estimators.srrw.engine import (
    MeasureClock,
    TokenBatch,
    make_drift,
    move_tokens,
    record_positions,
    start_tokens,
    update_theta,
)
from dynfer.estimators.srrw.estimator import SelfRepellentSGD, _check_count, record_steps
from dynfer.estimators.srrw.sampler import make_sampler
from dynfer.estimators.srrw.streams import stream_keys, uniforms

__all__ = ["default_owner", "fit_distributed"]


def default_owner(n_nodes: int, world_size: int) -> np.ndarray:
    """Contiguous blocks of node indices: node ``i`` belongs to rank ``floor(i W / N)``."""
    return (np.arange(n_nodes, dtype=np.int64) * world_size) // n_nodes


def _pack(batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    ints = torch.stack([batch.run, batch.key, batch.node, batch.aux], dim=1)
    return ints.contiguous(), torch.cat([batch.measure, batch.theta], dim=1).contiguous()


def _unpack(ints: torch.Tensor, floats: torch.Tensor, n_nodes: int) -> TokenBatch:
    return TokenBatch(ints[:, 0].clone(), ints[:, 1].clone(), ints[:, 2].clone(), ints[:, 3].clone(),
                      floats[:, :n_nodes].clone(), floats[:, n_nodes:].clone())


def _exchange(batch: TokenBatch, dest: torch.Tensor, rank: int, world: int, n_nodes: int,
              group: Any) -> tuple[TokenBatch, int]:
    """Send each token to rank ``dest``; return the tokens now held here and the number this rank sent away."""
    counts = torch.bincount(dest, minlength=world).to(torch.int64)
    table = [torch.zeros(world, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(table, counts, group=group)
    width = n_nodes + batch.theta.shape[1]
    requests, inbox = [], []
    for other in range(world):
        if other == rank:
            continue
        out = int(table[rank][other])
        if out:
            ints, floats = _pack(batch.select(torch.nonzero(dest == other).squeeze(1)))
            requests += [dist.isend(ints, other, group=group), dist.isend(floats, other, group=group)]
        inc = int(table[other][rank])
        if inc:
            ints = torch.empty(inc, 4, dtype=torch.int64)
            floats = torch.empty(inc, width, dtype=batch.theta.dtype)
            requests += [dist.irecv(ints, other, group=group), dist.irecv(floats, other, group=group)]
            inbox.append((ints, floats))
    for req in requests:
        req.wait()
    kept = batch.select(torch.nonzero(dest == rank).squeeze(1))
    parts = [kept] + [_unpack(i, f, n_nodes) for i, f in inbox]
    return TokenBatch.concat(parts), int(counts.sum() - counts[rank])


def fit_distributed(
    estimator: SelfRepellentSGD,
    graph: Any,
    X: Any,
    y: Any,
    node_of: Any = None,
    *,
    owner: Any = None,
    group: Any = None,
) -> SelfRepellentSGD:
    r"""Fit ``estimator`` with its agents spread over the processes of a torch.distributed group (CPU).

    Every rank calls it with the same arguments. Rank :math:`r` reads only the shards of the nodes it owns to
    build its gradient field (:math:`\theta^*`, a reference for the recorded errors, is computed from the whole
    objective). On return every rank's ``estimator`` is fitted with the same attributes as
    :meth:`SelfRepellentSGD.fit` (``theta_``, ``mse_``, ``errors_``, ``x_``, ...), gathered from all ranks, plus
    ``handoffs_`` (tokens sent between ranks over the run, summed over ranks) and ``world_size_``.

    Parameters
    ----------
    estimator : SelfRepellentSGD
        The parameters (``device`` must be the CPU: gloo).
    graph, X, y, node_of
        As for :meth:`SelfRepellentSGD.fit`.
    owner : array-like of shape (N,) or None
        The rank owning each node (``None``: :func:`default_owner`).
    group
        Process group (``None``: the default group).

    Returns
    -------
    SelfRepellentSGD
        ``estimator``, fitted.
    """
    if not (dist.is_available() and dist.is_initialized()):
        raise BadInputError("fit_distributed", "no initialised torch.distributed process group",
                            "torch.distributed.init_process_group('gloo') first (e.g. under torchrun)")
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    est = estimator
    schedule = est.schedule()
    n_steps = _check_count(est.n_steps, "n_steps")
    n_runs = _check_count(est.n_runs, "n_runs")
    record = record_steps(est.record, n_steps)
    seed = est._resolve_seed()
    dtype = est._resolve_dtype()
    device = est._resolve_device()
    if device.type != "cpu":
        raise BadInputError("device", str(device), "the CPU for fit_distributed (gloo)")
    objective = est.objective(graph, X, y, node_of)
    n = objective.n_nodes
    own = default_owner(n, world) if owner is None else np.asarray(owner, dtype=np.int64)
    if own.shape != (n,) or own.min() < 0 or own.max() >= world:
        raise BadInputError("owner", f"shape {own.shape}, ranks in [{own.min()}, {own.max()}]",
                            f"({n},) ranks in [0, {world - 1}]")
    sampler = make_sampler(graph, est.base, est.alpha, objective.weights, device=device, dtype=dtype)
    theta_star = objective.theta_star()
    drift = make_drift(objective, sampler, nodes=np.flatnonzero(own == rank), device=device, dtype=dtype)
    owner_t = torch.as_tensor(own)
    p = objective.n_features
    runs = torch.arange(n_runs)
    everyone = start_tokens(sampler, runs, stream_keys(seed, runs), est.initial_theta(p, device, dtype), dtype)
    batch = everyone.select(torch.nonzero(owner_t[everyone.node] == rank).squeeze(1))
    clock = MeasureClock(schedule.measure_exponent)
    gammas = schedule.gamma(np.arange(1, n_steps + 1)).tolist()
    where = record_positions(n_steps, record)
    star = torch.as_tensor(theta_star, dtype=dtype)
    pi = torch.as_tensor(sampler.stationary, dtype=dtype)
    errors = torch.zeros(len(record), n_runs, dtype=dtype)
    tvd = torch.zeros(len(record), n_runs, dtype=dtype)
    handoffs = 0
    start = time.perf_counter()
    for k in range(n_steps):
        inc, rescale = clock.tick(k)
        if batch.run.numel():  # the token's uniform at step k: stream counter k + 2, as in the single process
            move_tokens(batch, sampler, uniforms(batch.key, k + 1, 1)[0], inc, rescale)
        batch, sent = _exchange(batch, owner_t[batch.node], rank, world, n, group)
        handoffs += sent
        if batch.run.numel():
            update_theta(batch, drift, gammas[k])
        pos = where.get(k)
        if pos is not None and batch.run.numel():
            errors[pos, batch.run] = ((batch.theta - star) ** 2).sum(dim=1)
            tvd[pos, batch.run] = 0.5 * (batch.x() - pi).abs().sum(dim=1)
    seconds = time.perf_counter() - start
    theta = torch.zeros(n_runs, p, dtype=dtype)
    xs = torch.zeros(n_runs, n, dtype=dtype)
    theta[batch.run] = batch.theta
    xs[batch.run] = batch.x()
    for t in (theta, xs, errors, tvd):  # each run is held by exactly one rank: the sum assembles them
        dist.all_reduce(t, group=group)
    total = torch.tensor([handoffs], dtype=torch.int64)
    dist.all_reduce(total, group=group)
    out = {"theta": theta.double().numpy(), "errors": errors.double().numpy(), "tvd": tvd.double().numpy(),
           "x": xs.double().numpy(), "seconds": seconds}
    est._store_runs(out, theta_star, record, sampler, schedule)
    est.handoffs_ = int(total)
    est.world_size_ = world
    return est
