"""The epsilon-scaling routes of ``ot_plan`` (dynfer, then POT) against a tight solve; the relative tolerance."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from dynfer import BadInputError
from dynfer.processes.transport import OTConvergenceWarning, ot_plan, sinkhorn_epsilon_scaling
from dynfer.processes.transport.plans import _pot_epsilon_scaling

F64 = torch.float64


def _problem(seed: int = 0, n: int = 60, m: int = 45, d: int = 3):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=F64)
    y = 1 + torch.randn(m, d, generator=gen, dtype=F64)
    return x, y, ((x[:, None] - y[None]) ** 2).sum(-1)


def _l1_relative(plan, n, m):
    rows = (plan.sum(1) - 1 / n).abs().sum()
    cols = (plan.sum(0) - 1 / m).abs().sum()
    return float(max(rows, cols))


def _tv_bound(plan: torch.Tensor, cost: torch.Tensor, reg: float) -> float:
    r"""Upper bound on the total variation between a Sinkhorn iterate and the exact entropic plan.

    Any scaling iterate is :math:`P = \operatorname{diag}(u) K \operatorname{diag}(v)`, :math:`K = e^{-C/\varepsilon}`.
    By Birkhoff's theorem :math:`K` contracts Hilbert's projective metric by :math:`\lambda = \tanh(\kappa/4)^2`,
    :math:`\kappa = \max \log(K_{ik} K_{jl} / (K_{jk} K_{il}))`, so a scaling whose marginals are off by
    :math:`r = \max |\log(\text{marginal} / \text{target})|` lies within :math:`r / (1 - \lambda)` of the fixed point
    in each factor (Franklin & Lorenz 1989). Then :math:`|\log P_{ij} - \log P^\star_{ij}| \le D = 2r/(1 - \lambda)
    + |\log \sum P|` and :math:`\tfrac12 \|P - P^\star\|_1 \le (e^D - 1)/2`.
    """
    n, m = plan.shape
    lk = -cost / reg
    cross = lk[:, None, :, None] + lk[None, :, None, :] - lk[None, :, :, None] - lk[:, None, None, :]
    kappa = float(cross.max())
    lam = math.tanh(kappa / 4) ** 2
    r = max(float((plan.sum(1) * n).log().abs().max()), float((plan.sum(0) * m).log().abs().max()))
    D = 2 * r / (1 - lam) + abs(math.log(float(plan.sum())))
    return (math.exp(D) - 1) / 2


@pytest.mark.parametrize("route", ["pot", "ot_plan"])
@pytest.mark.parametrize("reg", [2.0, 1.0])
def test_scaling_routes_within_the_derived_bound_of_a_tight_log_domain_solve(reg, route):
    x, y, C = _problem(n=20, m=15)
    n, m = C.shape
    a, b = torch.full((n,), 1 / n, dtype=F64), torch.full((m,), 1 / m, dtype=F64)
    tight, err, _ = sinkhorn_epsilon_scaling(a, b, C, reg, max_iter=200_000, tol=1e-14)
    assert err < 1e-14

    def solve(eps):
        if route == "pot":  # POT's epsilon-scaling alone, as ot_plan calls it
            return _pot_epsilon_scaling(a, b, C, eps, 100_000, 1e-12, None)
        return ot_plan(x, y, method="sinkhorn_scaling", reg=eps, tol=1e-12, max_iter=100_000)

    plan = solve(reg)
    tv = 0.5 * float((plan - tight).abs().sum())
    bound = _tv_bound(plan, C, reg)
    assert bound < 1e-5  # the bound is informative at this tolerance ...
    assert tv <= bound  # ... and holds
    # a different temperature is far outside it (the test can fail)
    assert 0.5 * float((solve(1.1 * reg) - tight).abs().sum()) > 100 * bound


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_scaling"])
def test_rtol_bounds_the_marginal_error_relative_to_the_mass(method):
    for n in (30, 600):  # the same rtol means the same relative error whatever the number of points
        gen = torch.Generator().manual_seed(n)
        x, y = torch.randn(n, 2, generator=gen, dtype=F64), torch.randn(n, 2, generator=gen, dtype=F64) + 1
        plan = ot_plan(x, y, method=method, reg=0.05, rtol=1e-4, max_iter=100_000)
        assert _l1_relative(plan, n, n) <= 1e-4


def test_rtol_is_invariant_to_the_scale_of_the_data():
    x, y, _ = _problem(seed=3)
    base = ot_plan(x, y, method="sinkhorn_scaling", reg=0.1, rtol=1e-6, max_iter=100_000)
    for s in (1e-3, 1e3):
        with warnings.catch_warnings():
            warnings.simplefilter("error", OTConvergenceWarning)
            plan = ot_plan(x * s, y * s, method="sinkhorn_scaling", reg=0.1 * s * s, rtol=1e-6, max_iter=100_000)
        assert _l1_relative(plan, *plan.shape) <= 1e-6
        assert 0.5 * float((plan - base).abs().sum()) < 1e-4


def test_own_solver_rtol_stops_early_and_meets_it():
    _, _, C = _problem(seed=1)
    n, m = C.shape
    a, b = torch.full((n,), 1 / n, dtype=F64), torch.full((m,), 1 / m, dtype=F64)
    loose, _, it_loose = sinkhorn_epsilon_scaling(a, b, C, 0.05, tol=0.0, rtol=1e-3, max_iter=100_000)
    _, _, it_tight = sinkhorn_epsilon_scaling(a, b, C, 0.05, tol=0.0, rtol=1e-9, max_iter=100_000)
    assert _l1_relative(loose, n, m) <= 1e-3 and it_loose < it_tight


def test_unconverged_warning_names_rtol():
    x, y, _ = _problem()
    with pytest.warns(OTConvergenceWarning, match="rtol"):
        ot_plan(x, y, method="sinkhorn_scaling", reg=1e-3, rtol=1e-12, max_iter=200)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "sinkhorn_scaling", "rtol": -1.0}, "rtol"),
    ({"method": "sinkhorn", "rtol": float("nan")}, "rtol"),
    ({"method": "unbalanced", "rtol": 1e-3}, "rtol"),
])
def test_bad_rtol(kwargs, match):
    x, y, _ = _problem()
    with pytest.raises(BadInputError, match=match):
        ot_plan(x, y, reg=0.1, **kwargs)
    with pytest.raises(BadInputError, match="rtol"):
        sinkhorn_epsilon_scaling(torch.ones(2, dtype=F64) / 2, torch.ones(2, dtype=F64) / 2, torch.eye(2, dtype=F64),
                                 0.1, rtol=0.0)


def test_scaling_uses_dynfer_where_it_converges_and_pot_where_it_does_not():
    _, _, C = _problem(seed=2)
    n, m = C.shape
    a, b = torch.full((n,), 1 / n, dtype=F64), torch.full((m,), 1 / m, dtype=F64)
    # an easy problem (range over eps ~ 20): dynfer's solver converges and its plan is returned
    easy = ot_plan(None, None, cost=C, method="sinkhorn_scaling", reg=1.0, tol=1e-9, max_iter=100_000)
    assert torch.equal(easy, sinkhorn_epsilon_scaling(a, b, C, 1.0, max_iter=100_000, tol=1e-9)[0])
    # a cold one (range over eps ~ 4,000) at a tight tolerance: dynfer's plateaus above it, POT's plan is returned
    _, err, _ = sinkhorn_epsilon_scaling(a, b, C, 5e-3, max_iter=100_000, tol=1e-9)
    assert err > 1e-9
    cold = ot_plan(None, None, cost=C, method="sinkhorn_scaling", reg=5e-3, tol=1e-9, max_iter=100_000)
    assert torch.equal(cold, _pot_epsilon_scaling(a, b, C, 5e-3, 100_000, 1e-9, None))
    assert _l1_relative(cold, n, m) <= math.sqrt(max(n, m)) * 1e-9
