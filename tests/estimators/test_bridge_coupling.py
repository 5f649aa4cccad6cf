"""The fast P-step on one interval: Gaussian transitions, transition cost, entropic coupling, bridge sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.stats import multivariate_normal, norm

from dynfer.estimators.bridges.coupling import (
    bridge_paths,
    couple,
    gaussian_transition,
    sample_pairs,
    transition_cost,
)

F64 = torch.float64
ALPHA, BETA, GAMMA, DELTA = 1.0, 0.4, 0.4, 0.1


def lv(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([ALPHA * x[:, 0] - BETA * x[:, 0] * x[:, 1], DELTA * x[:, 0] * x[:, 1] - GAMMA * x[:, 1]], 1)


def lv_np(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = z
    f = np.array([ALPHA * x - BETA * x * y, DELTA * x * y - GAMMA * y])
    J = np.array([[ALPHA - BETA * y, -BETA * x], [DELTA * y, DELTA * x - GAMMA]])
    return f, J


def ou(theta: float):
    return lambda x: -theta * x


def quantile_points(n: int, mean: float, sd: float) -> torch.Tensor:
    """n equal-weight points at the Gaussian's quantiles (a low-noise stand-in for a Gaussian sample)."""
    u = (np.arange(n) + 0.5) / n
    return torch.tensor(mean + sd * norm.ppf(u), dtype=F64)[:, None]


# ------------------------------------------------------------------------------------------ transitions
def test_brownian_cost_is_scaled_squared_distance():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, generator=gen, dtype=F64), torch.randn(5, 3, generator=gen, dtype=F64)
    sigma, dt = 0.3, 0.7
    C = transition_cost(None, x, y, dt, sigma)
    sq = ((x[:, None] - y[None]) ** 2).sum(-1)
    const = 1.5 * math.log(sigma**2 * dt)  # (d/2) log(sigma^2 dt): constant, does not move the plan
    torch.testing.assert_close(C, sq / (2 * sigma**2 * dt) + const, rtol=1e-12, atol=1e-10)
    mean, cov = gaussian_transition(None, x, dt, sigma)
    torch.testing.assert_close(mean, x)
    torch.testing.assert_close(cov, (sigma**2 * dt * torch.eye(3, dtype=F64)).expand(7, 3, 3))


def test_brownian_plan_is_pot_entropic_ot_with_eps_2_sigma2_dt():
    import ot

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(40, 2, generator=gen, dtype=F64)
    y = torch.randn(50, 2, generator=gen, dtype=F64) + 0.5
    sigma, dt = 0.5, 0.8
    plan = couple(x, y, dt, None, sigma, tol=1e-11, rtol=None)  # a tight solve: tol only
    xn, yn = x.numpy(), y.numpy()
    M = ((xn[:, None] - yn[None]) ** 2).sum(-1)
    ref = ot.sinkhorn(np.full(40, 1 / 40), np.full(50, 1 / 50), M, 2 * sigma**2 * dt, method="sinkhorn_log",
                      numItermax=10_000, stopThr=1e-12)
    np.testing.assert_allclose(plan.numpy(), ref, rtol=1e-5, atol=1e-10)
    torch.testing.assert_close(plan.sum(1), torch.full((40,), 1 / 40, dtype=F64), rtol=0, atol=1e-8)


def test_ou_rk4_matches_exact_transition():
    theta, sigma, dt = 1.3, 0.4, 0.5
    x = torch.linspace(-2, 2, 9, dtype=F64)[:, None]
    mean, cov = gaussian_transition(ou(theta), x, dt, sigma, n_rk4=4)
    # RK4 error: about (z)^5 / 120 per step, z = rate * h, h = dt / 4 (rate theta for the mean, 2 theta for the
    # variance), i.e. about 4e-6 relative for the mean; allow twice the bound
    z = theta * dt / 4
    torch.testing.assert_close(mean, math.exp(-theta * dt) * x, rtol=2 * 4 * z**5 / 120, atol=1e-12)
    var = sigma**2 * (1 - math.exp(-2 * theta * dt)) / (2 * theta)
    torch.testing.assert_close(cov[:, 0, 0], torch.full((9,), var, dtype=F64), rtol=2 * 4 * (2 * z) ** 5 / 120, atol=0)
    # the exact route (Van Loan) is exact to rounding
    mean_e, cov_e = gaussian_transition(ou(theta), x, dt, sigma, exact="linear")
    torch.testing.assert_close(mean_e, math.exp(-theta * dt) * x, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cov_e[:, 0, 0], torch.full((9,), var, dtype=F64), rtol=1e-12, atol=0)


def test_affine_drift_exact_matches_fine_rk4_and_given_matrices():
    A = torch.tensor([[-1.0, 0.8], [-0.5, -0.3]], dtype=F64)
    b = torch.tensor([0.4, -0.2], dtype=F64)
    drift = lambda z: z @ A.T + b  # noqa: E731
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    sigma = torch.tensor([0.3, 0.6], dtype=F64)
    m1, S1 = gaussian_transition(drift, x, 0.9, sigma, exact="linear")
    m2, S2 = gaussian_transition(drift, x, 0.9, sigma, exact=(A, b))
    m3, S3 = gaussian_transition(drift, x, 0.9, sigma, n_rk4=64)
    torch.testing.assert_close(m1, m2)
    torch.testing.assert_close(S1, S2)
    torch.testing.assert_close(m1, m3, rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(S1, S3, rtol=1e-8, atol=1e-9)


def test_nonlinear_moment_odes_match_fine_deterministic_solve():
    x = torch.tensor([[2.0, 1.5], [5.0, 3.0], [8.0, 1.0]], dtype=F64)
    sigma, dt = 0.2, 0.5
    mean, cov = gaussian_transition(lv, x, dt, sigma, n_rk4=8)

    def rhs(_t, z):
        m, S = z[:2], z[2:].reshape(2, 2)
        f, J = lv_np(m)
        return np.concatenate([f, (J @ S + S @ J.T + sigma**2 * np.eye(2)).ravel()])

    for i in range(3):
        z0 = np.concatenate([x[i].numpy(), np.zeros(4)])
        sol = solve_ivp(rhs, (0, dt), z0, rtol=1e-11, atol=1e-13, method="DOP853").y[:, -1]
        np.testing.assert_allclose(mean[i].numpy(), sol[:2], rtol=1e-6)
        np.testing.assert_allclose(cov[i].numpy(), sol[2:].reshape(2, 2), rtol=1e-5, atol=1e-9)


def test_nonlinear_cost_is_gaussian_negative_log_density():
    gen = torch.Generator().manual_seed(3)
    x = 3 + torch.rand(8, 2, generator=gen, dtype=F64) * 3
    y = 3 + torch.rand(6, 2, generator=gen, dtype=F64) * 3
    C = transition_cost(lv, x, y, 0.3, 0.3)
    mean, cov = gaussian_transition(lv, x, 0.3, 0.3)
    ref = np.array([[-multivariate_normal(mean[i].numpy(), cov[i].numpy()).logpdf(y[j].numpy()) - math.log(2 * math.pi)
                     for j in range(6)] for i in range(8)])
    np.testing.assert_allclose(C.numpy(), ref, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------ coupling
@pytest.mark.parametrize("reg", [1.0, 0.2])
def test_gaussian_static_sb_cross_covariance_closed_form(reg):
    """Brownian SB between N(m0, s0^2) and N(m1, s1^2) in 1-D: a Gaussian coupling with cross-covariance c.

    The plan's density is proportional to exp(-(x - y)^2 / eps) u(x) v(y) with eps = 2 s^2 (s^2 = sigma^2 dt); its
    x-y precision coefficient c / (s0^2 s1^2 - c^2) must equal 2 / eps, so 2 c^2 + eps c - 2 s0^2 s1^2 = 0 and
    c = (sqrt(4 s0^2 s1^2 + s^4) - s^2) / 2 (Mallasto et al. 2022; Janati et al. 2020 in 1-D). A temperature
    reg tempers the cost by 1/reg, i.e. s^2 -> reg s^2.
    """
    n, sigma, dt = 600, 1.0, 0.5
    x = quantile_points(n, 0.0, 1.0)
    y = quantile_points(n, 2.0, 1.5)
    plan = couple(x, y, dt, None, sigma, reg=reg, tol=1e-10)
    s0, s1 = float(x.var(unbiased=False)), float(y.var(unbiased=False))
    s2 = reg * sigma**2 * dt
    c_theory = (math.sqrt(4 * s0 * s1 + s2**2) - s2) / 2
    xc, yc = x[:, 0] - x.mean(), y[:, 0] - y.mean()
    c_plan = float((plan * xc[:, None] * yc[None, :]).sum())
    assert c_plan == pytest.approx(c_theory, rel=1e-3)  # measured 6e-5 (quantile points, n = 600)
    assert c_theory < math.sqrt(s0 * s1) - 0.04  # away from the OT (comonotone) value: the test discriminates
    # the marginals of the plan are the uniform snapshot weights
    torch.testing.assert_close(plan.sum(0), torch.full((n,), 1 / n, dtype=F64), rtol=0, atol=1e-8)


def test_small_temperature_gives_sorted_matching():
    x = quantile_points(30, 0.0, 1.0)
    y = quantile_points(30, 1.0, 2.0)[torch.randperm(30, generator=torch.Generator().manual_seed(0))]
    plan = couple(x, y, 1.0, None, 1.0, reg=0.01, max_iter=20_000, tol=1e-5)
    match = plan.argmax(1)
    assert torch.equal(torch.argsort(y[match, 0]), torch.arange(30))  # monotone: x sorted -> matched y sorted
    assert float(plan.max(1).values.min()) > 0.4 / 30  # and concentrating on it


def test_sample_pairs_follow_the_plan():
    plan = torch.tensor([[0.1, 0.3, 0.0], [0.2, 0.0, 0.4]], dtype=F64)
    rows, cols = sample_pairs(plan, 40_000, seed=5)
    freq = torch.zeros(2, 3, dtype=F64)
    freq.index_put_((rows, cols), torch.ones(40_000, dtype=F64), accumulate=True)
    freq /= 40_000
    se = (plan * (1 - plan) / 40_000).sqrt()
    assert bool(((freq - plan).abs() <= 5 * se + 1e-12).all())
    r2, c2 = sample_pairs(plan, 40_000, seed=5)
    assert torch.equal(rows, r2) and torch.equal(cols, c2)


# ------------------------------------------------------------------------------------------ bridges
def test_brownian_bridge_paths_marginals():
    n, sigma, t0, t1 = 4000, 0.7, 1.0, 3.0
    a = torch.full((n, 1), -1.0, dtype=F64)
    b = torch.full((n, 1), 2.0, dtype=F64)
    paths = bridge_paths(a, b, t0, t1, 8, None, sigma, seed=0)
    assert paths.shape == (9, n, 1)
    assert torch.equal(paths[0], a) and torch.equal(paths[-1], b)
    k = 3
    t = t0 + k * (t1 - t0) / 8
    mean = -1.0 + (t - t0) / (t1 - t0) * 3.0
    var = sigma**2 * (t - t0) * (t1 - t) / (t1 - t0)
    xs = paths[k, :, 0]
    assert abs(float(xs.mean()) - mean) < 4 * math.sqrt(var / n)
    assert abs(float(xs.var()) - var) < 4 * var * math.sqrt(2 / n)


def test_guided_proposal_linear_drift_matches_ou_bridge():
    n, theta, sigma, T, a0, b0, steps = 4000, 2.0, 0.5, 1.0, 1.5, 1.0, 200
    a = torch.full((n, 1), a0, dtype=F64)
    b = torch.full((n, 1), b0, dtype=F64)
    paths = bridge_paths(a, b, 0.0, T, steps, ou(theta), sigma, seed=1)
    assert torch.equal(paths[0], a) and torch.equal(paths[-1], b)
    for k in (50, 100, 150):
        t = k * T / steps
        mean = (a0 * math.sinh(theta * (T - t)) + b0 * math.sinh(theta * t)) / math.sinh(theta * T)
        v = lambda s: sigma**2 * (1 - math.exp(-2 * theta * s)) / (2 * theta)  # noqa: E731
        var = v(t) - (math.exp(-theta * (T - t)) * v(t)) ** 2 / v(T)
        xs = paths[k, :, 0]
        # 4 standard errors plus an Euler-Maruyama allowance of order h = 1/200
        assert abs(float(xs.mean()) - mean) < 4 * math.sqrt(var / n) + 0.01
        assert abs(float(xs.var()) - var) < 4 * var * math.sqrt(2 / n) + 0.01 * var
        linear = a0 + t / T * (b0 - a0)  # the Brownian-bridge mean: the test must tell the two apart
        assert abs(linear - mean) > 10 * math.sqrt(var / n)


def test_guided_proposal_nonlinear_pinned_and_finite():
    gen = torch.Generator().manual_seed(4)
    a = 2 + 4 * torch.rand(50, 2, generator=gen)
    b = 2 + 4 * torch.rand(50, 2, generator=gen)
    paths = bridge_paths(a, b, 0.0, 1.0, 30, lv, 0.1, seed=0)
    assert paths.dtype == torch.float32 and paths.shape == (31, 50, 2)
    assert torch.equal(paths[0], a) and torch.equal(paths[-1], b)
    assert bool(torch.isfinite(paths).all())
    assert float((paths[-2] - b).abs().max()) < 0.5  # the guide brings the paths to their end points
    torch.testing.assert_close(paths, bridge_paths(a, b, 0.0, 1.0, 30, lv, 0.1, seed=0))


def test_guided_proposal_follows_the_nonlinear_flow():
    """LV over a third of a period: bridges between pairs of one forward simulation reproduce its midpoints.

    The flow residual (n_flow=4) puts bridge midpoints within W2 0.17 of the simulated ones (about the two-sample
    noise level); the plain linearised residual (n_flow=0) lands 2.6 away (measured).
    """
    from dynfer.processes import wasserstein

    gen = torch.Generator().manual_seed(0)
    x0 = torch.stack([6 + 4 * torch.rand(200, generator=gen, dtype=F64),
                      0.5 + 2 * torch.rand(200, generator=gen, dtype=F64)], 1)
    x, mid = x0, None
    for s in range(100):  # Euler-Maruyama, dt = 0.02, sigma = 0.1
        x = x + 0.02 * lv(x) + 0.1 * math.sqrt(0.02) * torch.randn(x.shape, generator=gen, dtype=F64)
        mid = x if s == 49 else mid
    flow = bridge_paths(x0, x, 0.0, 2.0, 100, lv, 0.1, seed=1)
    plain = bridge_paths(x0, x, 0.0, 2.0, 100, lv, 0.1, seed=1, n_flow=0)
    w_flow, w_plain = float(wasserstein(flow[50], mid)), float(wasserstein(plain[50], mid))
    assert w_flow < 0.3 and w_plain > 1.0, (w_flow, w_plain)


# ------------------------------------------------------------------------------------------ devices and errors
def test_follows_input_device_and_dtype(device):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 2, generator=gen).to(device)
    y = torch.randn(25, 2, generator=gen).to(device)
    plan = couple(x, y, 1.0, ou(0.5), 0.5)
    assert plan.device.type == device.type and plan.dtype == torch.float32 and plan.shape == (20, 25)
    rows, cols = sample_pairs(plan, 20, seed=0)
    assert rows.device.type == device.type
    for drift in (None, ou(0.5)):
        paths = bridge_paths(x, y[cols], 0.0, 1.0, 5, drift, 0.5, seed=0)
        assert paths.device.type == device.type and paths.shape == (6, 20, 2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: transition_cost(None, torch.zeros(3, 2), torch.zeros(3, 3), 1.0, 1.0), "same dimension"),
        (lambda: couple(torch.tensor([[0.0], [math.nan]]), torch.zeros(2, 1), 1.0, None, 1.0), "NaN"),
        (lambda: gaussian_transition(None, torch.zeros(3, 2), -1.0, 1.0), "dt"),
        (lambda: gaussian_transition(None, torch.zeros(3, 2), 1.0, 0.0), "sigma"),
        (lambda: gaussian_transition(ou(1.0), torch.zeros(3, 2), 1.0, 1.0, exact="yes"), "exact"),
        (lambda: gaussian_transition(lambda z: z[:, :1], torch.zeros(3, 2), 1.0, 1.0), "drift"),
        (lambda: bridge_paths(torch.zeros(3, 2), torch.zeros(4, 2), 0.0, 1.0, 5, None, 1.0), "same shape"),
        (lambda: bridge_paths(torch.zeros(3, 2), torch.zeros(3, 2), 1.0, 1.0, 5, None, 1.0), "t1"),
        (lambda: sample_pairs(-torch.ones(2, 2), 3), "non-negative"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
