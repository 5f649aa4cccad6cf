r"""The naive mean-square TD error (MSTDE): the negative example of Jia & Zhou (2022).

.. math:: \mathrm{MSTDE}(\theta) = \frac{1}{T_{\rm tot}}\sum_k \delta_k(\theta)^2 ,

minimised in all parameters (the gradient flows through :math:`J_{k+1}` too). By Itô's formula
:math:`E\sum_k\delta_k^2 = E\langle M^\theta\rangle_T + O(\Delta t) = E\int|\sigma^\top\partial_xJ^\theta|^2dt
+ O(\Delta t)` ([paper]: MSTDE approximates the quadratic variation; the expansion is [derived]): the minimiser
flattens :math:`J^\theta` in :math:`x` and is not the value function. For a linear value
:math:`\delta_k = c_k + a_k^\top\tilde\theta` and the minimiser is the least-squares solution
:math:`\hat{\tilde\theta} = -(\sum_k a_ka_k^\top)^{-1}\sum_k a_kc_k` ([derived]).
"""

from __future__ import annotations

import torch

from dynfer.estimators.policy.lstd import solve_moment
from dynfer.estimators.policy.td_errors import LinearTerms

__all__ = ["mstde_closed_form", "mstde_loss"]


def mstde_closed_form(terms: LinearTerms) -> torch.Tensor:
    r"""The least-squares minimiser of :math:`\sum_k\delta_k^2` for a linear value."""
    return solve_moment(terms.a, terms.a, terms.c, what="MSTDE least-squares")


def mstde_loss(delta: torch.Tensor, total_time: float) -> torch.Tensor:
    r""":math:`\sum_k\delta_k^2 / T_{\rm tot}` (differentiate through every :math:`J` in :math:`\delta`)."""
    return (delta**2).sum() / total_time
