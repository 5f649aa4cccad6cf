"""The scaling form, the over-relaxed last stage and the schedule options of the epsilon-scaling solver."""

from __future__ import annotations

import math

import ot
import pytest
import torch

from dynfer import BadInputError
from dynfer.processes.transport import ot_plan, sinkhorn_epsilon_scaling

F64 = torch.float64


def _uniform(n: int) -> torch.Tensor:
    return torch.full((n,), 1.0 / n, dtype=F64)


def _clouds(seed: int, n: int = 60, m: int = 50, d: int = 2, shift: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=F64)
    y = shift + torch.randn(m, d, generator=gen, dtype=F64)
    return ((x[:, None] - y[None]) ** 2).sum(-1)


def _pot_tight(C: torch.Tensor, reg: float) -> torch.Tensor:
    """POT's log-domain Sinkhorn run far: an independent reference solution."""
    n, m = C.shape
    return ot.sinkhorn(_uniform(n), _uniform(m), C, reg, method="sinkhorn_log", numItermax=200_000, stopThr=1e-13)


@pytest.mark.parametrize("relaxation", [1.0, 1.5, 1.9])
def test_every_relaxation_reaches_the_same_plan_as_pot(relaxation):
    C = _clouds(0)
    reg = 0.05 * float(C.mean())
    tight = _pot_tight(C, reg)
    n, m = C.shape
    plan, err, _ = sinkhorn_epsilon_scaling(_uniform(n), _uniform(m), C, reg, max_iter=100_000, tol=1e-11,
                                            relaxation=relaxation)
    assert err < 1e-11
    # the plan is a smooth function of the marginals: a 1e-11 marginal error moves it by far less than 1e-8
    assert 0.5 * float((plan - tight).abs().sum()) < 1e-8


def test_relaxation_cuts_the_iterations_on_a_slowly_mixing_problem():
    # two clouds at a temperature where plain Sinkhorn's last stage crawls (range over eps ~ 400)
    C = _clouds(1, n=200, m=200, d=5, shift=0.3)
    reg = float(C.max() - C.min()) / 400
    a = _uniform(200)
    _, err_p, it_p = sinkhorn_epsilon_scaling(a, a, C, reg, max_iter=200_000, tol=0.0, rtol=1e-6)
    _, err_r, it_r = sinkhorn_epsilon_scaling(a, a, C, reg, max_iter=200_000, tol=0.0, rtol=1e-6, relaxation=1.9)
    assert err_p < 1e-5 and err_r < 1e-5
    assert it_r < it_p / 2, (it_r, it_p)


def test_an_underflowing_kernel_falls_back_on_log_domain_updates():
    # one row of the first kernel underflows (its costs over eps exceed 745): the scalings would be infinite
    C = _clouds(2, n=20, m=20)
    C[0] += 2000.0
    reg = 1.0
    a = _uniform(20)
    plan, err, _ = sinkhorn_epsilon_scaling(a, a, C, reg, max_iter=50_000, tol=1e-12, stage_iter=0)
    assert bool(torch.isfinite(plan).all()) and err < 1e-12
    tight = _pot_tight(C, reg)
    assert 0.5 * float((plan - tight).abs().sum()) < 1e-8


@pytest.mark.parametrize("bad", [2.0, 0.5, math.nan, True, "1.9"])
def test_bad_relaxation_is_named(bad):
    C = _clouds(3, n=5, m=5)
    with pytest.raises(BadInputError, match="relaxation"):
        sinkhorn_epsilon_scaling(_uniform(5), _uniform(5), C, 1.0, relaxation=bad)


def test_scaling_options_reach_the_solver_and_are_checked():
    C = _clouds(4, n=30, m=30)
    a = _uniform(30)
    options = {"scaling": 0.25, "stage_iter": 10, "relaxation": 1.9}
    plan = ot_plan(None, None, cost=C, method="sinkhorn_scaling", reg=0.5, tol=1e-9, max_iter=100_000,
                   scaling_options=options)
    assert torch.equal(plan, sinkhorn_epsilon_scaling(a, a, C, 0.5, max_iter=100_000, tol=1e-9, **options)[0])
    with pytest.raises(BadInputError, match="scaling_options"):
        ot_plan(None, None, cost=C, method="sinkhorn", reg=0.05, scaling_options=options)
    with pytest.raises(BadInputError, match="scaling_options"):
        ot_plan(None, None, cost=C, method="sinkhorn_scaling", reg=0.05, scaling_options={"omega": 1.9})
