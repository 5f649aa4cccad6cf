r"""LSTD and LSTD(:math:`\lambda`): the martingale orthogonality condition solved in closed form (linear values).

With test functions :math:`\xi_k` and the affine TD error :math:`\delta_k = c_k + a_k^\top\tilde\theta`
(:mod:`.td_errors`), the discretised condition :math:`\sum_k \xi_k\delta_k = 0` ([paper] Jia & Zhou 2022, MOC
:math:`E\int\xi_t\,dM^\theta_t = 0`) gives ([derived], reference eq. "LSTD")

.. math:: \hat{\tilde\theta} = -\Big[\sum_k \xi_k a_k^\top\Big]^{-1}\sum_k \xi_k c_k ,

with :math:`\xi_k = \phi_k` (LSTD) or the trace :math:`e_k = \lambda^{t_k - t_{k-1}}e_{k-1} + \phi_k\Delta t_k`
(LSTD(:math:`\lambda`); the per-step exponent on irregular grids is [derived]). In the ergodic setting the constant
test function is added, :math:`\tilde\xi_k = (\xi_k, 1)`, and :math:`(\theta, V)` are solved for jointly
(:math:`a_k` then ends in :math:`-\Delta t_k`).
"""

from __future__ import annotations

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer.estimators.policy.data import StepTable
from dynfer.estimators.policy.td_errors import LinearTerms, recursion

__all__ = ["lstd", "solve_moment", "test_functions", "trace"]


def solve_moment(psi: torch.Tensor, m: torch.Tensor, r: torch.Tensor, *, what: str) -> torch.Tensor:
    r"""Solve :math:`\sum_k \psi_k (r_k + m_k^\top\theta) = 0` for :math:`\theta` (least squares if singular).

    Raises
    ------
    BadInputError
        If the system is singular (features that are collinear on the data, or a constant feature in the ergodic
        setting).
    """
    lhs = psi.T @ m
    rhs = -(psi.T @ r)
    cond = torch.linalg.cond(lhs)
    if not bool(torch.isfinite(cond)) or float(cond) * torch.finfo(lhs.dtype).eps > 1e-4:
        raise BadInputError("features", f"a singular {what} system (condition number {float(cond):.3g})",
                            "features that are linearly independent on the data (a constant feature cannot be "
                            "identified in the ergodic setting; a time feature needs several times)")
    return torch.linalg.solve(lhs, rhs)


def trace(terms: LinearTerms, table: StepTable, lam: float) -> torch.Tensor:
    r"""The eligibility trace :math:`e_k = \lambda^{t_k - t_{k-1}}e_{k-1} + \phi_k\Delta t_k`, reset per trajectory."""
    dt = table.dt
    decay = np.ones_like(dt) if lam == 1.0 else np.power(lam, np.concatenate([[0.0], dt[:-1]]))
    u = (terms.phi * terms.dt[:, None]).detach().cpu().numpy().astype(np.float64)
    e = recursion(u, decay, table.step_offsets)
    return torch.as_tensor(e, dtype=terms.phi.dtype, device=terms.phi.device)


def trace_weight(table: StepTable, lam: float) -> float:
    r""":math:`\int_0^{\bar T}\lambda^s\,ds` with :math:`\bar T` the mean trajectory duration: the trace's full weight.

    Dividing the trace by it is a constant rescaling of the step size ([derived]), so that the learning rates of
    TD(:math:`\lambda`) and TD(0) are on the same scale.
    """
    duration = float(np.mean(table.last_times() - table.first_times()))
    if lam >= 1.0:
        return duration
    if lam <= 0.0:
        return float(np.mean(table.dt))
    return float((1.0 - lam**duration) / np.log(1.0 / lam))


def test_functions(terms: LinearTerms, table: StepTable, lam: float, setting: str, *,
                   normalise: bool = False) -> torch.Tensor:
    r"""The test functions :math:`\tilde\xi_k`: :math:`\phi_k` (``lam == 0``) or the trace, plus 1 if ergodic."""
    xi = terms.phi if lam == 0.0 else trace(terms, table, lam)
    if normalise and lam > 0.0:
        xi = xi / trace_weight(table, lam)
    if setting == "ergodic":
        xi = torch.cat([xi, torch.ones_like(xi[:, :1])], dim=1)
    return xi


def lstd(terms: LinearTerms, table: StepTable, lam: float, setting: str) -> torch.Tensor:
    r"""The LSTD(:math:`\lambda`) estimate of :math:`\tilde\theta` (see the module docstring)."""
    xi = test_functions(terms, table, lam, setting)
    return solve_moment(xi, terms.a, terms.c, what="LSTD")
