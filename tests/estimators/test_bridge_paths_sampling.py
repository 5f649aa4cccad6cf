"""Joint multi-time sampling of bridge paths, their conditional mean, and the P-step's numerical repairs."""

import math
import warnings

import numpy as np
import pytest
import torch

from dynfer.estimators.bridges.coupling import BridgeNumericalError, bridge_paths, robust_cholesky
from dynfer.estimators.bridges.estimator import SchrodingerBridge, auto_sigma
from dynfer.processes import OTConvergenceWarning


def _brownian_fit(sigma=0.5, n=400, seed=0):
    g = np.random.default_rng(seed)
    xs = [g.normal(size=(n, 2)) + k for k in range(3)]
    # one Euler step per interval: the grid is the knots, so a gap is a whole interval of length 1
    return SchrodingerBridge("brownian", sigma=sigma, min_steps=1, steps_per_unit=1.0, seed=seed).fit(xs, [0, 1, 2])


def test_sample_draws_each_path_jointly_with_the_brownian_bridge_covariance():
    sb = _brownian_fit()
    grid, paths = sb.trajectories()
    assert grid.tolist() == [0.0, 1.0, 2.0]
    s, t, u = 0.25, 0.6, 1.5  # s, t in the gap [0, 1]; u in the next gap
    draws = sb.sample([t, u, s], seed=3)
    xt, xu, xs_ = draws
    # residuals from the straight line between the knots: independent of the knot values (Brownian reference)
    rs = xs_ - (paths[0] + s * (paths[1] - paths[0]))
    rt = xt - (paths[0] + t * (paths[1] - paths[0]))
    ru = xu - (paths[1] + (u - 1) * (paths[2] - paths[1]))
    m = rs.size  # N paths x 2 coordinates, all independent
    sig2 = sb.sigma_**2
    cov_st, var_s, var_t = float((rs * rt).mean()), float((rs * rs).mean()), float((rt * rt).mean())
    exp_st, exp_s, exp_t = sig2 * s * (1 - t), sig2 * s * (1 - s), sig2 * t * (1 - t)
    # standard error of a sample covariance of m Gaussian pairs: sqrt((c^2 + v_s v_t) / m); 4 standard errors
    assert abs(cov_st - exp_st) < 4 * math.sqrt((exp_st**2 + exp_s * exp_t) / m)
    assert abs(var_s - exp_s) < 4 * math.sqrt(2 * exp_s**2 / m)
    assert abs(var_t - exp_t) < 4 * math.sqrt(2 * exp_t**2 / m)
    exp_u = sig2 * 0.5 * 0.5
    assert abs(float((rt * ru).mean())) < 4 * math.sqrt(exp_t * exp_u / m)  # different gaps: independent
    # the single-time marginal is unchanged by asking for other times too (same law as a lone draw)
    alone = sb.sample(t, seed=11)[0] - (paths[0] + t * (paths[1] - paths[0]))
    assert abs(float((alone * alone).mean()) - exp_t) < 4 * math.sqrt(2 * exp_t**2 / m)


def test_sample_repeats_and_order():
    sb = _brownian_fit(n=50)
    a, b, c = sb.sample([0.5, 0.5, 0.0], seed=0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(c, sb.trajectories()[1][0])
    # the draw at a time does not depend on where it sits in the request (sorted internally)
    x1, x2 = sb.sample([0.3, 0.7], seed=5)
    y2, y1 = sb.sample([0.7, 0.3], seed=5)
    np.testing.assert_allclose(x1, y1)
    np.testing.assert_allclose(x2, y2)
    with pytest.raises(ValueError, match="noise"):
        sb.sample(0.5, noise="no")


def test_conditional_mean_is_the_straight_line_for_brownian_and_spread_free():
    sb = _brownian_fit(n=80)
    grid, paths = sb.trajectories()
    mean = sb.sample([0.5, 1.25], noise=False)
    np.testing.assert_allclose(mean[0], 0.5 * (paths[0] + paths[1]), atol=1e-6)  # float32 default dtype
    np.testing.assert_allclose(mean[1], 0.75 * paths[1] + 0.25 * paths[2], atol=1e-6)  # float32 default dtype
    g2, mp = sb.mean_paths(10)
    assert mp.shape == (3, 10, 2) and np.array_equal(g2, grid)


def test_noise_free_guided_bridge_is_the_mean_of_the_linear_bridge():
    # OU reference dX = -X dt + sigma dW pinned at a, b over [0, 1]: E[X_t | a, b] is the closed form
    # (a sinh(1 - t) + b sinh(t)) / sinh(1) (the OU bridge mean), independent of sigma
    a, b = torch.tensor([[1.0, -2.0]], dtype=torch.float64), torch.tensor([[0.5, 1.0]], dtype=torch.float64)
    path = bridge_paths(a, b, 0.0, 1.0, 400, lambda x: -x, 0.3, noise=False)
    t = torch.linspace(0, 1, 401, dtype=torch.float64)[:, None, None]
    closed = (a * torch.sinh(1 - t) + b * torch.sinh(t)) / math.sinh(1.0)
    assert float((path - closed).abs().max()) < 5e-3  # Euler error O(h) = O(1/400)


def test_robust_cholesky_repairs_rounding_and_names_hopeless_cases():
    good = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    singular = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64) - 1e-13 * torch.eye(2)
    chol = robust_cholesky(torch.stack([good, singular]))
    np.testing.assert_allclose((chol[0] @ chol[0].T).numpy(), good.numpy(), atol=1e-14)  # untouched
    assert torch.isfinite(chol).all()
    np.testing.assert_allclose((chol[1] @ chol[1].T).numpy(), singular.numpy(), atol=1e-4)
    with pytest.raises(BridgeNumericalError, match="not positive definite"):
        robust_cholesky(torch.tensor([[[1.0, 0.0], [0.0, -5.0]]], dtype=torch.float64))
    with pytest.raises(BridgeNumericalError, match="non-finite"):
        robust_cholesky(torch.full((1, 2, 2), math.inf, dtype=torch.float64))


def test_diverging_guided_bridge_is_a_clear_error():
    a = torch.full((4, 1), 3.0, dtype=torch.float64)
    with pytest.raises(BridgeNumericalError, match="steps_per_unit") as info:
        bridge_paths(a, a, 0.0, 10.0, 4, lambda x: x**3, 0.1, n_flow=1)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FloatingPointError)


def test_auto_sigma_keeps_sinkhorn_temperature_within_reach():
    g = np.random.default_rng(0)
    # many overlapping points in 30-d at short gaps: the temperature floor decides
    xs = [torch.as_tensor(g.normal(scale=0.25, size=(200, 30))) for _ in range(3)]
    s = auto_sigma(xs, [0.0, 0.1, 0.2])
    D = 2 * 30 * 0.25**2
    assert D / (2 * s**2 * 0.1) == pytest.approx(300, rel=0.1)
    # tight clouds far apart: a tenth of the pooled spread
    far = [torch.as_tensor(g.normal(scale=0.01, size=(200, 2)) + 10 * k) for k in range(3)]
    pooled = torch.cat(far).std(0, correction=0).mean()
    assert auto_sigma(far, [0.0, 1.0, 2.0]) == pytest.approx(0.1 * float(pooled))


def test_convergence_problems_are_one_warning_per_fit():
    g = np.random.default_rng(1)
    xs = [g.normal(size=(40, 3)) + k for k in range(4)]
    sb = SchrodingerBridge("linear", sigma=0.02, n_iter=2, seed=0,
                           coupling_kwargs={"max_iter": 1, "tol": 1e-30, "rtol": 1e-14})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb.fit(xs, [0.0, 1.0, 2.0, 3.0])
    ot = [w for w in caught if issubclass(w.category, OTConvergenceWarning)]
    assert len(ot) == 1
    assert "sigma" in str(ot[0].message) and "max_iter" in str(ot[0].message)
