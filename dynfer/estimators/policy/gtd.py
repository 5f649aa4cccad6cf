r"""GTD-type methods: minimise a quadratic form of the martingale orthogonality conditions (linear values).

[paper] Jia & Zhou (2022): minimise :math:`\tfrac12 G(\theta)^\top A\,G(\theta)` with
:math:`G(\theta) = E\int\xi_t\,dM^\theta_t`, :math:`A = I` or :math:`A = (E\int_0^T\xi_t\xi_t^\top dt)^{-1}`, by two
time scales (Sutton et al. 2009). Discretised ([derived], reference "GTD / GTD2 / TDC"), with test functions
:math:`\xi_k = \phi_k` (plus the constant in the ergodic setting, for :math:`V`) and
:math:`a_k = \partial\delta_k/\partial\tilde\theta` (:mod:`.td_errors`), per step

* GTD (:math:`A = I`): :math:`w \leftarrow w + \alpha_w(\xi_k\delta_k - w)`,
  :math:`\tilde\theta \leftarrow \tilde\theta - \alpha_\theta a_k(\xi_k^\top w)`;
* GTD2: :math:`w \leftarrow w + \alpha_w(\xi_k\delta_k - \xi_k\xi_k^\top w\,\Delta t_k)`, the same
  :math:`\tilde\theta` step;
* TDC: :math:`\theta \leftarrow \theta + \alpha_\theta[(1 + \beta\Delta t_k)\xi_k\delta_k
  - \Delta t_k\,\xi_{k+1}(\xi_k^\top w)]` (the GTD2 :math:`w`; in the ergodic setting the :math:`V` row uses
  :math:`\Delta t_k\delta_k` and no :math:`\xi_{k+1}` term, which is :math:`\Delta t_k` times its GTD2 step:
  [derived]).

Here these sums run over a mini-batch of trajectories and are divided by its total time :math:`T_B` (for GTD the
:math:`w` update uses the batch mean :math:`T_B^{-1}\sum_k\xi_k\delta_k`), so the updates keep their scale for every
:math:`\Delta t` ([derived]). All three share the LSTD fixed point :math:`\sum_k\xi_k\delta_k = 0`.
"""

from __future__ import annotations

import torch

from dynfer.estimators.policy.data import StepTable
from dynfer.estimators.policy.td import LinearStats, per_trajectory_sums
from dynfer.estimators.policy.td_errors import LinearTerms

__all__ = ["GTDStats", "VARIANTS", "gtd_step"]

VARIANTS = ("gtd", "gtd2", "tdc")


class GTDStats(LinearStats):
    r""":class:`~.td.LinearStats` plus :math:`M_i = \sum\xi\xi^\top\Delta t` and the TDC sums per trajectory."""

    def __init__(self, table: StepTable, xi: torch.Tensor, terms: LinearTerms, setting: str, discount: float
                 ) -> None:
        super().__init__(table, xi, terms.a, terms.c)
        dt = terms.dt
        self.M = per_trajectory_sums(self.traj, self.n_traj, xi * dt[:, None], xi)
        rho = (1.0 + discount * dt)[:, None].expand_as(xi).clone()
        nxt = terms.phi_next
        if setting == "ergodic":
            rho[:, -1] = dt
            nxt = torch.cat([nxt, torch.zeros_like(nxt[:, :1])], dim=1)
        self.P_rho = per_trajectory_sums(self.traj, self.n_traj, rho * xi, terms.a)
        self.b_rho = per_trajectory_sums(self.traj, self.n_traj, rho * xi * terms.c[:, None])
        self.C = per_trajectory_sums(self.traj, self.n_traj, nxt * dt[:, None], xi)

    def sums(self, rows: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Every sum over the trajectories ``rows`` (``None``: all)."""
        pick = (lambda s: s.sum(0)) if rows is None else (lambda s: s[rows].sum(0))
        return {"P": pick(self.P), "b": pick(self.b), "T": pick(self.T), "M": pick(self.M), "P_rho": pick(self.P_rho),
                "b_rho": pick(self.b_rho), "C": pick(self.C)}


def gtd_step(theta: torch.Tensor, w: torch.Tensor, s: dict[str, torch.Tensor], variant: str, alpha_theta: float,
             alpha_w: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One simultaneous two-time-scale update of ``(theta, w)`` from the batch sums ``s`` (module docstring)."""
    T = s["T"]
    moment = (s["b"] + s["P"] @ theta) / T              # T^-1 sum xi_k delta_k
    if variant == "gtd":
        w_new = w + alpha_w * (moment - w)
    else:
        w_new = w + alpha_w * (moment - (s["M"] @ w) / T)
    if variant == "tdc":
        theta_new = theta + alpha_theta * ((s["b_rho"] + s["P_rho"] @ theta) - s["C"] @ w) / T
    else:
        theta_new = theta - alpha_theta * (s["P"].T @ w) / T
    return theta_new, w_new
