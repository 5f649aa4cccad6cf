r"""TD(0) and TD(:math:`\lambda`): the martingale orthogonality condition solved by stochastic approximation.

[paper] Jia & Zhou (2022), Sec. 4: with a test function :math:`\xi_t`, solve :math:`E\int\xi_t\,dM^\theta_t = 0` by

.. math:: \theta \leftarrow \theta + \alpha_j\,\frac{1}{T_B}\sum_{k\in B}\xi_k\,\delta_k(\theta),

over mini-batches :math:`B` of trajectories (total time :math:`T_B`, so the step has the same scale for every
:math:`\Delta t`: [derived]); :math:`\xi_k = \partial_\theta J^\theta_k` gives TD(0) and the trace
:math:`e_k = \lambda^{t_k - t_{k-1}}e_{k-1} + \partial_\theta J^\theta_k\Delta t_k` TD(:math:`\lambda`) ([paper]
recursion; divided by its full weight :math:`\int_0^{\bar T}\lambda^s ds`, a constant rescaling of
:math:`\alpha`: [derived]). In the ergodic setting :math:`V \leftarrow V + \alpha_j T_B^{-1}\sum_k\delta_k` (the
constant test function, [derived] from "replace :math:`\beta J\,dt` by :math:`V dt`").

For a linear value the batch moment is :math:`b_B + P_B\tilde\theta` with per-trajectory sums
:math:`P_i = \sum_k\tilde\xi_ka_k^\top`, :math:`b_i = \sum_k\tilde\xi_kc_k` computed once (:class:`LinearStats`);
full batches with a constant step converge to the LSTD(:math:`\lambda`) solution. For a nonlinear value the
trace moment is evaluated in its forward view
:math:`\sum_k e_k\delta_k = \sum_j\partial_\theta J_j\Delta t_j D_j`,
:math:`D_j = \sum_{k\ge j}\lambda^{t_k-t_j}\delta_k` (exact for offline updates; [derived]).
"""

from __future__ import annotations

import numpy as np
import torch

from dynfer.estimators.policy.data import StepTable
from dynfer.estimators.policy.td_errors import recursion

__all__ = ["LinearStats", "forward_view", "per_trajectory_sums"]

CHUNK = 65536


def per_trajectory_sums(traj: torch.Tensor, n_traj: int, left: torch.Tensor, right: torch.Tensor | None = None
                        ) -> torch.Tensor:
    """``sum_k left_k right_k^T`` per trajectory, ``(n_traj, p, q)`` (``right=None``: ``sum_k left_k``, ``(n, p)``)."""
    if right is None:
        out = torch.zeros(n_traj, *left.shape[1:], dtype=left.dtype, device=left.device)
        return out.index_add_(0, traj, left)
    out = torch.zeros(n_traj, left.shape[1], right.shape[1], dtype=left.dtype, device=left.device)
    for lo in range(0, left.shape[0], CHUNK):
        hi = lo + CHUNK
        out.index_add_(0, traj[lo:hi], left[lo:hi, :, None] * right[lo:hi, None, :])
    return out


class LinearStats:
    """Per-trajectory sums for the linear stochastic-approximation methods (TD, GTD, GTD2, TDC)."""

    def __init__(self, table: StepTable, xi: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> None:
        dev = xi.device
        self.traj = torch.as_tensor(table.step_traj, device=dev)
        self.n_traj = table.n_traj
        self.P = per_trajectory_sums(self.traj, self.n_traj, xi, a)
        self.b = per_trajectory_sums(self.traj, self.n_traj, xi * c[:, None])
        self.T = per_trajectory_sums(self.traj, self.n_traj,
                                     torch.as_tensor(table.dt, dtype=xi.dtype, device=dev)[:, None])[:, 0]

    def batch(self, rows: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(P_B, b_B, T_B)`` summed over trajectories ``rows`` (``None``: all)."""
        if rows is None:
            return self.P.sum(0), self.b.sum(0), self.T.sum()
        return self.P[rows].sum(0), self.b[rows].sum(0), self.T[rows].sum()


def forward_view(delta: np.ndarray, table: StepTable, lam: float) -> np.ndarray:
    r""":math:`D_j = \sum_{k\ge j}\lambda^{t_k - t_j}\delta_k` per trajectory (from detached TD errors)."""
    decay = np.ones_like(table.dt) if lam == 1.0 else np.power(lam, table.dt)
    return recursion(delta, decay, table.step_offsets, reverse=True)
