r"""The SA-SRRW step on a batch of tokens: walk move, measure update, iterate update (Hu, Doshi, Eun, ICLR 2024).

Per step :math:`k = 0, 1, \dots` of every token (run):

1. :math:`X_{k+1} \sim K_{X_k, \cdot}[x_k]` (the sampler, with the token's own uniform);
2. :math:`x_{k+1} = x_k + \beta_{k+1}(\delta_{X_{k+1}} - x_k)`;
3. :math:`\theta_{k+1} = \theta_k + \gamma_{k+1} H(\theta_k, X_{k+1})`,
   :math:`H(\theta, i) = -(w_i/\pi_i)\nabla f_i(\theta)`.

The measure is kept unnormalised, :math:`m_k = x_k / c_k` with :math:`c_k = \prod_{j\le k}(1-\beta_j)` (the kernel is
scale-invariant), so step 2 costs one scatter-add: :math:`m_{k+1} = m_k + (\beta_{k+1}/c_{k+1})\,\delta_{X_{k+1}}`;
it is rescaled by a common factor whenever the increment exceeds :math:`e^{30}`. The scalars depend on :math:`k`
only (:class:`MeasureClock`), so every process of a distributed run applies the same ones. For least squares,
:math:`H(\theta, i) = \tilde b_i - \tilde A_i\theta` with precomputed :math:`\tilde A_i = (w_i/\pi_i)(A_i + \lambda I)`
and :math:`\tilde b_i = (w_i/\pi_i) b_i`: one batched mat-vec per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dynfer.estimators.srrw.objectives import ShardedObjective
from dynfer.estimators.srrw.sampler import TokenSampler
from dynfer.estimators.srrw.steps import StepSchedule
from dynfer.estimators.srrw.streams import uniforms

__all__ = ["Drift", "MeasureClock", "TokenBatch", "make_drift", "move_tokens", "start_tokens", "update_theta"]

_RESCALE_LOG = 30.0
GROUPED_FROM = 16  # least squares with p >= this: one GEMM per node instead of a gathered (R, p, p) batch
CHUNK = 256  # steps of uniforms drawn at once


class Drift:
    r"""The field :math:`H(\theta, i) = -(w_i/\pi_i)\nabla f_i(\theta)` for a batch, on the nodes this process holds.

    Build with :func:`make_drift`. ``__call__(theta (R, p), nodes (R,)) -> (R, p)``.
    """

    def __init__(self, objective: ShardedObjective, importance: np.ndarray, nodes: Sequence[int] | None,
                 device: torch.device, dtype: torch.dtype) -> None:
        n, p = objective.n_nodes, objective.n_features
        held = np.arange(n) if nodes is None else np.asarray(sorted({int(i) for i in nodes}), dtype=np.int64)
        self.nodes = held
        self.loss = objective.loss
        self.l2 = objective.l2
        self._scale = torch.as_tensor(importance, dtype=dtype, device=device)
        if self.loss == "least_squares":
            a = np.zeros((n, p, p))
            b = np.zeros((n, p))
            eye = np.eye(p)
            for i in held:  # only the shards held here are read
                xi, yi = objective.node_rows(i)
                a[i] = importance[i] * (xi.T @ xi / xi.shape[0] + objective.l2 * eye)
                b[i] = importance[i] * (xi.T @ yi / xi.shape[0])
            self._a = torch.as_tensor(a, dtype=dtype, device=device)
            self._b = torch.as_tensor(b, dtype=dtype, device=device)
            self._a_t = self._a.transpose(1, 2).contiguous()
            self._grouped = p >= GROUPED_FROM
        elif self.loss == "logistic":
            width = int(objective.counts[held].max())
            xs = np.zeros((n, width, p))
            ys = np.zeros((n, width))
            mask = np.zeros((n, width))
            for i in held:
                xi, yi = objective.node_rows(i)
                xs[i, : xi.shape[0]] = xi
                ys[i, : xi.shape[0]] = yi
                mask[i, : xi.shape[0]] = importance[i] / xi.shape[0]  # the mean over the rows, reweighted
            self._x = torch.as_tensor(xs, dtype=dtype, device=device)
            self._y = torch.as_tensor(ys, dtype=dtype, device=device)
            self._m = torch.as_tensor(mask, dtype=dtype, device=device)

    def __call__(self, theta: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        """``H(theta, nodes)`` ``(R, p)`` for iterates ``(R, p)`` at nodes ``(R,)`` (held by this process)."""
        # index_select rather than advanced indexing: several times faster on CPU, same values
        if self.loss == "least_squares":
            if self._grouped:
                return self._b.index_select(0, nodes) - self._grouped_matvec(theta, nodes)
            a = self._a.index_select(0, nodes)
            return self._b.index_select(0, nodes) - torch.bmm(a, theta[:, :, None])[:, :, 0]
        scale = self._scale.index_select(0, nodes)[:, None]
        if self.loss == "logistic":
            x = self._x.index_select(0, nodes)  # (R, m, p)
            z = torch.bmm(x, theta[:, :, None])[:, :, 0]
            resid = (torch.sigmoid(z) - self._y.index_select(0, nodes)) * self._m.index_select(0, nodes)
            return -(torch.bmm(resid[:, None, :], x)[:, 0, :] + (self.l2 * scale) * theta)
        g = self.loss(theta.to(torch.float64), nodes)
        g = torch.as_tensor(g, dtype=theta.dtype, device=theta.device)
        return -scale * (g + self.l2 * theta)

    def _grouped_matvec(self, theta: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        r""":math:`\tilde A_{X_r}\theta_r` for every token by one GEMM per node.

        Tokens are sorted by node, padded into ``(N, cap, p)`` and multiplied by :math:`\tilde A_i^\top`: faster
        than gathering ``(R, p, p)`` for large ``p``.
        """
        n, p = self._a.shape[0], theta.shape[1]
        order = torch.argsort(nodes, stable=True)
        sorted_nodes = nodes.index_select(0, order)
        counts = torch.bincount(nodes, minlength=n)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(nodes.shape[0], device=nodes.device) - starts.index_select(0, sorted_nodes)
        cap = int(counts.max())
        flat = sorted_nodes * cap + slot
        buf = theta.new_zeros(n * cap, p).index_copy_(0, flat, theta.index_select(0, order))
        out = torch.bmm(buf.view(n, cap, p), self._a_t).view(n * cap, p).index_select(0, flat)
        return torch.empty_like(theta).index_copy_(0, order, out)


def make_drift(objective: ShardedObjective, sampler: TokenSampler, *, nodes: Sequence[int] | None = None,
               device: torch.device, dtype: torch.dtype) -> Drift:
    """The :class:`Drift` of ``objective`` under ``sampler``'s importance weights, for the ``nodes`` held here."""
    return Drift(objective, sampler.importance, nodes, device, dtype)


class MeasureClock:
    r"""Scalars of the unnormalised measure update at step :math:`k`, the same in every process.

    The increment :math:`\beta_{k+1}/c_{k+1}` (divided by the scale already taken out) and, when it grows past
    :math:`e^{30}`, a common rescaling factor.
    """

    def __init__(self, measure_exponent: float) -> None:
        self.b = measure_exponent
        self.log_c = 0.0
        self.shift = 0.0

    def tick(self, step: int) -> tuple[float, float | None]:
        """``(increment, rescale)`` for step ``step`` (``rescale`` is ``None`` or the factor to multiply ``m`` by)."""
        beta = (step + 2.0) ** (-self.b)
        self.log_c += math.log1p(-beta)
        log_g = math.log(beta) - self.log_c - self.shift
        rescale = None
        if log_g > _RESCALE_LOG:
            rescale = math.exp(-log_g)
            self.shift += log_g
            log_g = 0.0
        return math.exp(log_g), rescale


@dataclass
class TokenBatch:
    """The state of a batch of tokens: run index, stream key, node, auxiliary walk state, measure and iterate."""

    run: torch.Tensor  # (R,) int64
    key: torch.Tensor  # (R,) int64
    node: torch.Tensor  # (R,) int64, X_k
    aux: torch.Tensor  # (R,) int64
    measure: torch.Tensor  # (R, N) unnormalised x_k
    theta: torch.Tensor  # (R, p)

    def select(self, rows: torch.Tensor) -> TokenBatch:
        """The tokens at positions ``rows``."""
        return TokenBatch(self.run[rows], self.key[rows], self.node[rows], self.aux[rows], self.measure[rows],
                          self.theta[rows])

    @staticmethod
    def concat(parts: Sequence[TokenBatch]) -> TokenBatch:
        """The tokens of ``parts``, in order."""
        return TokenBatch(*(torch.cat([getattr(p, f) for p in parts]) for f in
                            ("run", "key", "node", "aux", "measure", "theta")))

    def x(self) -> torch.Tensor:
        """Normalised empirical measures ``(R, N)``."""
        return self.measure / self.measure.sum(dim=1, keepdim=True)


def start_tokens(sampler: TokenSampler, run: torch.Tensor, key: torch.Tensor, theta0: torch.Tensor,
                 dtype: torch.dtype) -> TokenBatch:
    r"""Tokens at :math:`X_0 \sim \pi` (stream counter 0), :math:`x_0 = \mathbf 1/N`, :math:`\theta_0` ``(R, p)``."""
    u = uniforms(key, 0, 1)[0]
    node, aux = sampler.start(u)
    n = sampler.n_nodes
    measure = torch.full((run.shape[0], n), 1.0 / n, dtype=dtype, device=key.device)
    return TokenBatch(run, key, node, aux, measure, theta0.to(dtype).clone())


def move_tokens(batch: TokenBatch, sampler: TokenSampler, u: torch.Tensor, increment: float,
                rescale: float | None) -> None:
    """Steps 1-2 in place: the walk move with uniforms ``u`` ``(R,)`` and the measure update."""
    if rescale is not None:
        batch.measure.mul_(rescale)
    batch.node, batch.aux = sampler.step(batch.node, batch.aux, batch.measure, u)
    batch.measure.scatter_add_(1, batch.node[:, None],
                               torch.full((batch.node.shape[0], 1), increment, dtype=batch.measure.dtype,
                                          device=batch.measure.device))


def update_theta(batch: TokenBatch, drift: Drift, gamma: float) -> None:
    r"""Step 3 in place: :math:`\theta \leftarrow \theta + \gamma H(\theta, X)` at the tokens' new nodes."""
    batch.theta.add_(drift(batch.theta, batch.node), alpha=gamma)


def record_positions(n_steps: int, record: Sequence[int]) -> dict[int, int]:
    """``{step index k (0-based, after which theta_{k+1} is recorded): position in the record}``."""
    return {int(n) - 1: j for j, n in enumerate(record)}


def simulate(sampler: TokenSampler, drift: Drift, schedule: StepSchedule, keys: torch.Tensor,
             theta0: torch.Tensor, n_steps: int, record: np.ndarray, theta_star: torch.Tensor,
             dtype: torch.dtype) -> dict[str, np.ndarray]:
    r"""Run every token for ``n_steps`` steps in one process; squared errors and TVDs at the ``record`` steps.

    Returns
    -------
    dict
        ``theta`` ``(R, p)``, ``x`` ``(R, N)``, ``errors`` ``(len(record), R)`` of :math:`\lVert\theta_n -
        \theta^*\rVert^2`, ``tvd`` ``(len(record), R)`` of :math:`\tfrac12\lVert x_n - \pi\rVert_1`, ``seconds``.
    """
    import time

    r = keys.shape[0]
    batch = start_tokens(sampler, torch.arange(r, device=keys.device), keys, theta0, dtype)
    clock = MeasureClock(schedule.measure_exponent)
    gammas = schedule.gamma(np.arange(1, n_steps + 1)).tolist()
    where = record_positions(n_steps, record)
    pi = torch.as_tensor(sampler.stationary, dtype=dtype, device=keys.device)
    errors = torch.empty(len(record), r, dtype=dtype, device=keys.device)
    tvd = torch.empty(len(record), r, dtype=dtype, device=keys.device)
    start = time.perf_counter()
    for first in range(0, n_steps, CHUNK):
        block = uniforms(keys, first + 1, min(CHUNK, n_steps - first), dtype=torch.float64)
        for j in range(block.shape[0]):
            k = first + j
            inc, rescale = clock.tick(k)
            move_tokens(batch, sampler, block[j], inc, rescale)
            update_theta(batch, drift, gammas[k])
            pos = where.get(k)
            if pos is not None:
                errors[pos] = ((batch.theta - theta_star) ** 2).sum(dim=1)
                tvd[pos] = 0.5 * (batch.x() - pi).abs().sum(dim=1)
    if keys.device.type == "cuda":
        torch.cuda.synchronize(keys.device)
    seconds = time.perf_counter() - start
    return {"theta": batch.theta.double().cpu().numpy(), "x": batch.x().double().cpu().numpy(),
            "errors": errors.double().cpu().numpy(), "tvd": tvd.double().cpu().numpy(), "seconds": seconds}
