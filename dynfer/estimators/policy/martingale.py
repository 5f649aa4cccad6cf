r"""The martingale loss (offline policy evaluation): gradient Monte Carlo and its closed form for linear values.

[paper] Jia & Zhou (2022), Thm. "martingale loss": the minimiser of

.. math:: \mathrm{ML}(\theta) = \tfrac12 E\int_0^T\Big(e^{-\beta T}h(X_T) + \int_t^T e^{-\beta s}r_s\,ds
          - e^{-\beta t}J^\theta(t, X_t)\Big)^2 dt

is the best :math:`L^2` approximation of :math:`J`. Discretised ([derived], reference "Martingale loss / gradient
MC"), on each trajectory with samples :math:`0..K`:

.. math:: G_k = e^{-\beta(t_K - t_k)}H + \sum_{j=k}^{K-1} e^{-\beta(t_j - t_k)} r_j\Delta t_j ,\qquad
          \mathrm{ML} = \tfrac12\sum_k w_k (G_k - J_k)^2\Delta t_k,\quad w_k = e^{-2\beta(t_k - t_0)},

with :math:`H = h(X_K)` for a finite horizon. ``weights="relative"`` drops :math:`w_k` (the usual relative-discount
Monte Carlo). An infinite horizon has no observed tail: it is bootstrapped, :math:`H = J^{\theta}(t_K, X_K)` held
fixed in each gradient step ([derived]); in the ergodic setting :math:`r_j` becomes :math:`r_j - V` with :math:`V`
trained jointly and :math:`\beta = 0`. For a linear value the stationary point is a linear system ([derived]):

.. math:: \sum_k w_k\Delta t_k\,\psi_k\big(R_k + m_k^\top\tilde\theta\big) = 0,\qquad
          R_k = \sum_{j\ge k} e^{-\beta(t_j - t_k)}r_j\Delta t_j\,[+\,e^{-\beta(t_K - t_k)}h],

with :math:`m_k = -\phi_k` (finite), :math:`e^{-\beta(t_K - t_k)}\phi_K - \phi_k` (discounted) or
:math:`(\phi_K - \phi_k, -(t_K - t_k))` (ergodic), and :math:`\psi_k = \phi_k`, plus :math:`t_K - t_k` for
:math:`V`; for a finite horizon this is the weighted least-squares solution.
"""

from __future__ import annotations

import numpy as np
import torch

from dynfer.estimators.policy.data import StepTable
from dynfer.estimators.policy.lstd import solve_moment
from dynfer.estimators.policy.td_errors import recursion

__all__ = ["MartingaleTerms", "martingale_closed_form", "martingale_loss", "martingale_terms"]

WEIGHTS = ("reference", "relative")


class MartingaleTerms:
    """Per-step pieces of the martingale loss: returns without the tail, tail discounts, time to go, weights."""

    def __init__(self, table: StepTable, setting: str, discount: float, weights: str) -> None:
        beta = 0.0 if setting == "ergodic" else float(discount)
        dt = table.dt
        r = table.r[table.step_from]
        decay = np.exp(-beta * dt)
        self.returns = recursion(r * dt, decay, table.step_offsets, reverse=True)  # sum_{j>=k} e^{-b(t_j-t_k)} r_j dt_j
        end_time = table.last_times()[table.step_traj]
        t_k = table.t[table.step_from]
        self.to_go = end_time - t_k
        self.tail_discount = np.exp(-beta * self.to_go)
        self.end_sample = table.offsets[1:][table.step_traj] - 1
        start = table.first_times()[table.step_traj]
        self.weight = dt * (np.exp(-2.0 * beta * (t_k - start)) if weights == "reference" else 1.0)
        if setting == "finite":
            self.returns = self.returns + self.tail_discount * table.terminal[table.step_traj]
        self.setting = setting
        self.step_from = table.step_from
        self._tensors: dict[str, torch.Tensor] | None = None

    def tensors(self, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
        """The per-step arrays as tensors (built on the first call)."""
        if self._tensors is None:
            self._tensors = {
                "from": torch.as_tensor(self.step_from, device=device),
                "end": torch.as_tensor(self.end_sample, device=device),
                **{k: torch.as_tensor(getattr(self, k), dtype=dtype, device=device)
                   for k in ("returns", "tail_discount", "to_go", "weight")},
            }
        return self._tensors


def martingale_terms(table: StepTable, setting: str, discount: float, weights: str) -> MartingaleTerms:
    """The per-step pieces of the martingale loss (see the module docstring)."""
    return MartingaleTerms(table, setting, discount, weights)


def martingale_closed_form(mt: MartingaleTerms, features: torch.Tensor, table: StepTable) -> torch.Tensor:
    r"""The stationary point :math:`\tilde\theta` of the (bootstrapped) martingale loss for a linear value."""
    dev, dtype = features.device, features.dtype
    frm = torch.as_tensor(table.step_from, device=dev)
    phi = features[frm]
    w = torch.as_tensor(mt.weight, dtype=dtype, device=dev)
    ret = torch.as_tensor(mt.returns, dtype=dtype, device=dev)
    if mt.setting == "finite":
        m, psi = -phi, phi
    else:
        phi_end = features[torch.as_tensor(mt.end_sample, device=dev)]
        disc = torch.as_tensor(mt.tail_discount, dtype=dtype, device=dev)
        m = disc[:, None] * phi_end - phi
        psi = phi
        if mt.setting == "ergodic":
            to_go = torch.as_tensor(mt.to_go, dtype=dtype, device=dev)
            m = torch.cat([m, -to_go[:, None]], dim=1)
            psi = torch.cat([phi, to_go[:, None]], dim=1)
    return solve_moment(w[:, None] * psi, m, ret, what="martingale-loss")


def martingale_loss(values: torch.Tensor, mt: MartingaleTerms,
                    average_reward: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`\tfrac12\sum_k w_k(G_k - J_k)^2\Delta t_k / \sum_k w_k\Delta t_k` on the steps of ``mt``.

    ``values`` are :math:`J` at every sample; the bootstrapped tail :math:`J(t_K, X_K)` is detached.
    """
    tensors = mt.tensors(values.dtype, values.device)
    j_now = values[tensors["from"]]
    g = tensors["returns"]
    if mt.setting != "finite":
        g = g + tensors["tail_discount"] * values.detach()[tensors["end"]]
    if mt.setting == "ergodic":
        g = g - average_reward * tensors["to_go"]
    w = tensors["weight"]
    return 0.5 * (w * (g - j_now) ** 2).sum() / w.sum()
