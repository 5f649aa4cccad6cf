"""Log-domain Sinkhorn with epsilon-scaling against POT and against the entropic bound on the exact OT cost."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from dynfer.processes.transport import ot_plan, sinkhorn_epsilon_scaling


def _clouds(seed: int, n: int = 60, m: int = 45, d: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64), 2 + torch.randn(m, d, generator=gen,
                                                                                    dtype=torch.float64)


@pytest.mark.parametrize("reg", [1.0, 0.1])
def test_plan_matches_pot_sinkhorn(reg):
    x, y = _clouds(0)
    a = np.random.default_rng(1).uniform(0.5, 1.5, len(x))
    a /= a.sum()
    b = np.full(len(y), 1 / len(y))
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    expected = ot.sinkhorn(a, b, cost.numpy(), reg, method="sinkhorn_log", numItermax=100_000, stopThr=1e-13)
    plan, err, _ = sinkhorn_epsilon_scaling(torch.tensor(a), torch.tensor(b), cost, reg, max_iter=100_000, tol=1e-12)
    assert err < 1e-12
    np.testing.assert_allclose(plan.numpy(), expected, atol=1e-10)


def test_small_temperature_cost_within_entropic_bound_of_exact():
    # <P_eps, C> + eps KL(P_eps | ab^T) <= <P*, C> + eps KL(P* | ab^T) = OT + eps log n for a permutation P*
    x, y = _clouds(2, n=80, m=80)
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    exact = float((ot_plan(x, y, method="exact") * cost).sum())
    reg = 1e-3 * float(cost.mean())
    plan = ot_plan(x, y, method="sinkhorn_scaling", reg=reg, max_iter=50_000, tol=1e-6)
    value = float((plan * cost).sum())
    assert exact - 1e-9 <= value <= exact + reg * math.log(80) + 1e-9
    np.testing.assert_allclose(plan.sum(1).numpy(), np.full(80, 1 / 80), atol=1e-6)


def test_scaling_needs_fewer_iterations_than_plain_at_low_temperature():
    x, y = _clouds(3, n=100, m=100)
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    a = torch.full((100,), 0.01, dtype=torch.float64)
    reg = 2e-3 * float(cost.mean())
    _, err_s, it_s = sinkhorn_epsilon_scaling(a, a, cost, reg, max_iter=100_000, tol=1e-7)
    _, err_p, it_p = sinkhorn_epsilon_scaling(a, a, cost, reg, max_iter=100_000, tol=1e-7, scaling=0.5, stage_iter=0)
    assert err_s < 1e-7 and err_p < 1e-7
    assert it_s < it_p


def test_bad_scaling_is_rejected():
    x, y = _clouds(4, n=5, m=5)
    a = torch.full((5,), 0.2, dtype=torch.float64)
    with pytest.raises(ValueError, match="scaling"):
        sinkhorn_epsilon_scaling(a, a, ((x[:, None] - y[None]) ** 2).sum(-1), 0.1, scaling=1.5)
