r"""Log-domain Sinkhorn with :math:`\varepsilon`-scaling, in torch on the inputs' device.

Entropic OT

.. math::  \min_{P \in \Pi(a, b)} \langle P, C\rangle + \varepsilon\, \mathrm{KL}(P \,\|\, a b^\top),
           \qquad P_{ij} = a_i b_j \exp\big((f_i + g_j - C_{ij})/\varepsilon\big),

is solved by the alternating dual updates

.. math::  f_i = -\varepsilon \log \sum_j b_j e^{(g_j - C_{ij})/\varepsilon}, \qquad
           g_j = -\varepsilon \log \sum_i a_i e^{(f_i - C_{ij})/\varepsilon}.

Plain Sinkhorn needs a number of iterations that grows like :math:`\max C / \varepsilon`; at the small temperatures
of a Schrödinger bridge with little noise (cost over :math:`\varepsilon` in the thousands) it stalls. Scaling solves
a sequence of problems :math:`\varepsilon_0 > \varepsilon_1 > \dots > \varepsilon` (geometric, factor ``scaling``),
warm-starting each from the previous duals, so that every stage starts close to its solution (Kosowsky & Yuille
1994; Schmitzer 2019, sec. 3.2). The intermediate stages run a few iterations each; the last one runs to ``tol``.

References
----------
- J. J. Kosowsky, A. L. Yuille (1994), The invisible hand algorithm, *Neural Networks* 7(3), 477-490.
- B. Schmitzer (2019), Stabilized sparse scaling algorithms for entropy regularized transport problems,
  *SIAM J. Sci. Comput.* 41(3), A1443-A1481.
"""

from __future__ import annotations

import math

import torch

from dynfer._errors import BadInputError

__all__ = ["sinkhorn_epsilon_scaling"]


def _half_step(kernel_log: torch.Tensor, other: torch.Tensor, log_w: torch.Tensor, dim: int) -> torch.Tensor:
    # alpha = log a - LSE_j(-C_ij/eps + beta_j)  (dim=1), or the symmetric update of beta (dim=0)
    other = other[None, :] if dim == 1 else other[:, None]
    return log_w - torch.logsumexp(kernel_log + other, dim=dim)


def sinkhorn_epsilon_scaling(
    a: torch.Tensor,
    b: torch.Tensor,
    cost: torch.Tensor,
    reg: float,
    *,
    max_iter: int = 10_000,
    tol: float = 1e-9,
    rtol: float | None = None,
    scaling: float = 0.5,
    stage_iter: int = 20,
    check_every: int = 10,
) -> tuple[torch.Tensor, float, int]:
    r"""Entropic OT plan by log-domain Sinkhorn with :math:`\varepsilon`-scaling.

    Parameters
    ----------
    a, b
        Marginal weights ``(n,)`` and ``(m,)`` (positive, each summing to 1).
    cost
        Cost matrix ``(n, m)``.
    reg
        Target temperature :math:`\varepsilon > 0`.
    max_iter
        Cap on the iterations of the last stage (the intermediate stages add ``stage_iter`` each).
    tol
        Stop when the Euclidean norm of the row-marginal violation is below ``tol``.
    rtol
        Also stop when the violation relative to the marginal mass, :math:`\|P\mathbf 1 - a\|_1 / \|a\|_1`, is at
        most ``rtol`` (``None``: ``tol`` alone). Unlike the Euclidean norm, which for a fixed error per particle
        shrinks like :math:`n^{-1/2}`, this does not depend on the number of points or the scale of the weights.
    scaling
        Ratio :math:`\varepsilon_{s+1}/\varepsilon_s` in ``(0, 1)``; the schedule starts at the cost's range and
        stops at ``reg``.
    stage_iter
        Iterations per intermediate stage (``0``: no scaling, plain log-domain Sinkhorn at ``reg``).
    check_every
        Iterations between two evaluations of the marginal error in the last stage.

    Returns
    -------
    plan : torch.Tensor
        :math:`P_{ij} = a_i b_j \exp((f_i + g_j - C_{ij})/\varepsilon)`, ``(n, m)``, in the cost's dtype.
    error : float
        Final marginal violation (Euclidean norm, as ``tol``).
    iterations : int
        Total number of dual updates (all stages).
    """
    if not 0 < scaling < 1:
        raise BadInputError(f"scaling must lie in (0, 1), got {scaling!r}")
    if isinstance(stage_iter, bool) or not isinstance(stage_iter, int) or stage_iter < 0:
        raise BadInputError(f"stage_iter must be a non-negative int, got {stage_iter!r}")
    if rtol is not None and not (math.isfinite(rtol) and rtol > 0):
        raise BadInputError("rtol", repr(rtol), "None or a finite number > 0")
    loga, logb = torch.log(a), torch.log(b)
    mass = float(a.sum())
    spread = float(cost.max() - cost.min())
    n_stages = 0 if stage_iter == 0 else max(0, math.ceil(math.log(max(spread, reg) / reg) / math.log(1 / scaling)))
    # scaled duals alpha = f/eps + log a, beta = g/eps + log b; the duals f, g (cost units) carry across stages
    f = torch.zeros_like(a)
    g = torch.zeros_like(b)
    total = 0
    for s in range(n_stages, 0, -1):
        eps = reg / scaling**s
        kernel_log = -cost / eps
        alpha, beta = f / eps + loga, g / eps + logb
        for _ in range(stage_iter):
            alpha = _half_step(kernel_log, beta, loga, 1)
            beta = _half_step(kernel_log, alpha, logb, 0)
        f, g = eps * (alpha - loga), eps * (beta - logb)
        total += stage_iter
    kernel_log = -cost / reg
    beta = g / reg + logb
    alpha = f / reg + loga
    error = math.inf
    for it in range(1, max_iter + 1):
        alpha = _half_step(kernel_log, beta, loga, 1)
        beta = _half_step(kernel_log, alpha, logb, 0)
        total += 1
        if it % check_every == 0 or it == max_iter:
            # after the beta-update the column sums are exact; the row sums measure the violation
            rows = torch.exp(alpha + torch.logsumexp(kernel_log + beta[None, :], dim=1))
            error = float(torch.linalg.vector_norm(rows - a))
            if error < tol or (rtol is not None and float((rows - a).abs().sum()) <= rtol * mass):
                break
    plan = torch.exp(kernel_log + alpha[:, None] + beta[None, :])
    return plan, error, total
