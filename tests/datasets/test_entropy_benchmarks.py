"""Closed-form entropy-production benchmarks: the notes' check values, the OU identities and exact sampling.

Reference values are computed here from the published formulas (or the notes' tables), independently of the
module: own Lyapunov solves, own matrix exponentials, Monte-Carlo means with tolerances of 4 standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm, solve_continuous_lyapunov

from dynfer import BadInputError
from dynfer.datasets.entropy_benchmarks import (
    BEAD_SPRING_UNIT_RATE_T_COLD,
    ENTROPY_BENCHMARKS,
    LinearEntropyBenchmark,
    aoup_trap,
    bead_spring,
    brownian_gyrator,
    entropy_benchmark,
    random_ou,
    rotational_ou,
)
from dynfer.processes.drifts import LinearDrift

REL = 1e-4


def _lyapunov(a, d):
    return solve_continuous_lyapunov(a, 2 * d)


# ---------------------------------------------------------------------- check values of the notes
def test_rotational_ou_rate_is_two_omega_squared_over_mu():
    mu, omega = 1.3, 0.7
    assert rotational_ou().entropy_production == pytest.approx(2 * omega**2 / mu, rel=1e-10)
    assert rotational_ou().entropy_production == pytest.approx(0.75385, rel=REL)
    # independent of the temperature, and Sigma = (T / mu) I
    b = rotational_ou(temperature=3.0)
    assert b.entropy_production == pytest.approx(0.75385, rel=REL)
    np.testing.assert_allclose(b.covariance, 3.0 / 1.3 * np.eye(2), atol=1e-12)
    x = np.array([[0.3, -1.1]])
    np.testing.assert_allclose(b.velocity(x), omega * np.array([[-1.1, -0.3]]), atol=1e-12)  # v = omega (y, -x)


def test_brownian_gyrator_rate():
    k1, k2, u, t1, t2 = 2.0, 1.0, 0.6, 1.0, 0.3
    want = u**2 * (t1 - t2) ** 2 / (t1 * t2 * (k1 + k2))
    assert want == pytest.approx(0.196, rel=REL)
    assert brownian_gyrator().entropy_production == pytest.approx(want, rel=1e-10)
    assert brownian_gyrator(k1=3.0, k2=2.0, u=-1.0, T1=0.5, T2=2.0).entropy_production == pytest.approx(
        1.0 * 1.5**2 / (0.5 * 2.0 * 5.0), rel=1e-10)


@pytest.mark.parametrize("dim", [1, 3])
def test_aoup_rates_and_sectors(dim):
    kappa, v0, gamma, eps = 0.5, 1.2, 0.3, 0.1
    b = aoup_trap(dim=dim)
    sigma = dim * v0**2 * gamma / (eps * (kappa + gamma))
    sigma_g = dim * v0**2 * gamma * kappa / (eps * (kappa + gamma) ** 2 + v0**2 * gamma)
    assert b.entropy_production == pytest.approx(sigma, rel=1e-10)
    assert b.entropy_production / dim == pytest.approx(5.4, rel=REL)
    g = list(range(dim, 2 * dim))
    assert b.sector_rate(g) == pytest.approx(sigma_g, rel=1e-10)
    assert b.sector_rate(g) / dim == pytest.approx(0.43548, rel=REL)
    assert b.sector_rate(list(range(dim))) + b.sector_rate(g) == pytest.approx(sigma, rel=1e-10)
    # stationary covariance per component
    s = b.covariance
    assert s[dim, dim] == pytest.approx(1.0)
    assert s[0, dim] == pytest.approx(v0 / (kappa + gamma))
    assert s[0, 0] == pytest.approx((eps + v0**2 / (kappa + gamma)) / kappa)


def test_aoup_hypoelliptic_limit():
    assert aoup_trap(epsilon=1e-6).sector_rate([1]) == pytest.approx(0.49999926, rel=REL)
    b = aoup_trap(epsilon=0.0)
    assert b.noisy == (1,)
    assert b.entropy_production == math.inf
    assert b.sector_rate([1]) == pytest.approx(0.5, rel=1e-10)  # d kappa
    b3 = aoup_trap(dim=3, kappa=0.05, v0=0.3, gamma=0.1, epsilon=0.0)
    assert b3.sector_rate([3, 4, 5]) == pytest.approx(3 * 0.05, rel=1e-9)
    rates = b.per_coordinate_rates
    assert rates[0] == math.inf and rates[1] == pytest.approx(0.5, rel=1e-10)


def test_aoup_paper_parameters_without_interactions():
    b = aoup_trap(dim=1, kappa=0.05, v0=0.3, gamma=0.1, epsilon=0.1)
    assert b.entropy_production == pytest.approx(0.6, rel=1e-9)
    assert b.sector_rate([1]) == pytest.approx(0.04, rel=1e-9)


def test_bead_spring_small_chains():
    k, e, tc, th = 1.0, 1.0, 1.0, 10.0
    assert bead_spring(2).entropy_production == pytest.approx(k * (th - tc) ** 2 / (4 * e * th * tc), rel=1e-10)
    assert bead_spring(2).entropy_production == pytest.approx(2.025, rel=REL)
    assert bead_spring(5).entropy_production == pytest.approx(0.62982, rel=REL)
    # the formula scales with k / e at N = 2
    assert bead_spring(2, T_cold=2.0, k=3.0, e=0.5).entropy_production == pytest.approx(
        3.0 * 64 / (4 * 0.5 * 20.0), rel=1e-10)


@pytest.mark.parametrize("n", sorted(BEAD_SPRING_UNIT_RATE_T_COLD))
def test_bead_spring_high_dimensional_set_has_unit_rate(n):
    b = bead_spring(n)
    assert b.parameters["T_cold"] == BEAD_SPRING_UNIT_RATE_T_COLD[n]
    assert abs(b.entropy_production - 1.0) < 2e-4


# ---------------------------------------------------------------------- OU identities on random systems
@pytest.mark.parametrize(("dim", "diagonal"), [(2, True), (5, True), (5, False), (10, True)])
def test_random_ou_identities(dim, diagonal):
    b = random_ou(dim, seed=3, diagonal_noise=diagonal)
    a, d = b.A, b.D
    sigma = _lyapunov(a, d)
    np.testing.assert_allclose(b.covariance, sigma, rtol=1e-10, atol=1e-12)
    theta = a @ sigma - d
    np.testing.assert_allclose(theta, -theta.T, atol=1e-10)  # antisymmetric
    via_a = np.trace(np.linalg.solve(d, a @ sigma @ a.T)) - np.trace(a)
    via_theta = -np.trace(np.linalg.solve(d, theta) @ np.linalg.solve(sigma, theta))
    assert via_a == pytest.approx(via_theta, rel=1e-9)
    assert b.entropy_production == pytest.approx(via_a, rel=1e-9)
    assert 0.05 < b.entropy_production < 50
    # stationarity of the probability flow: div v + v . s = 0, i.e. tr M = 0 and Sigma^{-1} M antisymmetric
    m = a - d @ np.linalg.inv(sigma)
    assert abs(np.trace(m)) < 1e-9 * np.abs(a).sum()
    pm = np.linalg.solve(sigma, m)
    np.testing.assert_allclose(pm + pm.T, 0.0, atol=1e-9)
    # per-coordinate rates from M Sigma M^T
    want = np.diag(m @ sigma @ m.T) / np.diag(d)
    np.testing.assert_allclose(b.per_coordinate_rates, want, rtol=1e-9)
    if diagonal:
        assert b.per_coordinate_rates.sum() == pytest.approx(b.entropy_production, rel=1e-9)


def test_random_ou_monte_carlo_rate_and_local_density():
    b = random_ou(5, seed=0)
    n = 200_000
    x = b.sample(n, seed=1)
    sigma = _lyapunov(b.A, b.D)
    v = x @ (-b.A + b.D @ np.linalg.inv(sigma)).T
    e = np.einsum("ni,ij,nj->n", v, np.linalg.inv(b.D), v)
    # the module's local density, the Godreche-Luck quadratic form, and the plain v^T D^-1 v agree pointwise
    np.testing.assert_allclose(b.local_density(x[:100]), e[:100], rtol=1e-9)
    theta = b.A @ sigma - b.D
    q = np.linalg.solve(sigma, theta.T) @ np.linalg.solve(b.D, theta) @ np.linalg.inv(sigma)
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", x[:100], q, x[:100]), e[:100], rtol=1e-8)
    # Monte Carlo mean within 4 standard errors (iid exact samples: se = sd / sqrt(n))
    assert abs(e.mean() - b.entropy_production) < 4 * e.std() / math.sqrt(n)


def test_score_and_velocity_accept_torch_and_vectors():
    b = brownian_gyrator()
    x = np.array([0.4, -0.2])
    np.testing.assert_allclose(b.score(x), -np.linalg.solve(b.covariance, x), atol=1e-12)
    xt = torch.tensor([[0.4, -0.2]], dtype=torch.float32)
    vt = b.velocity(xt)
    assert isinstance(vt, torch.Tensor) and vt.dtype == torch.float32
    np.testing.assert_allclose(vt.numpy()[0], b.velocity(x), rtol=1e-6)
    assert isinstance(b.local_density(xt), torch.Tensor)
    with pytest.raises(BadInputError, match="x"):
        b.score(np.zeros((3, 5)))
    with pytest.raises(BadInputError, match="x"):
        b.velocity(torch.tensor([[float("nan"), 0.0]]))


def test_drift_is_the_linear_drift():
    b = rotational_ou()
    assert isinstance(b.drift, LinearDrift)
    x = torch.randn(4, 2, dtype=torch.float64)
    np.testing.assert_allclose(b.drift(x).numpy(), -x.numpy() @ b.A.T)


# ---------------------------------------------------------------------- exact samples and paths
def test_samples_have_the_stationary_covariance_and_are_seeded():
    b = random_ou(3, seed=2)
    n = 100_000
    x = b.sample(n, seed=5)
    assert x.dtype == np.float64 and x.shape == (n, 3)
    np.testing.assert_array_equal(x, b.sample(n, seed=5))
    s = b.covariance
    se = np.sqrt((np.outer(np.diag(s), np.diag(s)) + s**2) / n)  # sd of a Gaussian sample covariance entry
    assert (np.abs(np.cov(x.T) - s) < 4.5 * se).all()


def test_transition_is_the_exact_ou_transition():
    b = random_ou(4, seed=1)
    for dt in (1e-3, 0.1, 3.0):
        phi, cov = b.transition(dt)
        want_phi = expm(-b.A * dt)
        np.testing.assert_allclose(phi, want_phi, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(cov, b.covariance - want_phi @ b.covariance @ want_phi.T, rtol=1e-7, atol=1e-12)


def test_trajectories_are_stationary_with_the_lag_covariance():
    b = rotational_ou()
    dt, n_paths = 0.2, 20_000
    p = b.trajectories(n_paths, 5, dt, seed=0)
    assert p.shape == (6, n_paths, 2) and p.dtype == np.float64
    np.testing.assert_array_equal(p, b.trajectories(n_paths, 5, dt, seed=0))
    s = b.covariance
    lag = expm(-b.A * dt) @ s  # E[x_{t+1} x_t^T]
    # every entry is a mean of n_paths iid products whose sd is below sqrt(s_ii s_jj + lag_ij^2) <= 2 s_max
    tol = 4 * 2 * s.max() / math.sqrt(n_paths)
    np.testing.assert_allclose(p[-1].T @ p[-1] / n_paths, s, atol=tol)
    np.testing.assert_allclose(p[-1].T @ p[-2] / n_paths, lag, atol=tol)


def test_hypoelliptic_paths_are_finite():
    p = aoup_trap(epsilon=0.0).trajectories(50, 20, 0.01, seed=0)
    assert np.isfinite(p).all()


# ---------------------------------------------------------------------- registry and validation
def test_registry_builds_every_benchmark_with_its_defaults():
    assert set(ENTROPY_BENCHMARKS) == {"random_ou", "rotational_ou", "brownian_gyrator", "aoup_trap", "bead_spring"}
    assert entropy_benchmark("rotational_ou").entropy_production == pytest.approx(0.75385, rel=REL)
    assert entropy_benchmark("bead_spring", n_beads=5).entropy_production == pytest.approx(0.62982, rel=REL)
    assert entropy_benchmark("random_ou", dim=3, seed=1).dim == 3
    with pytest.raises(BadInputError, match="name"):
        entropy_benchmark("nope")
    with pytest.raises(BadInputError, match="params"):
        entropy_benchmark("rotational_ou", colour=1)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: LinearEntropyBenchmark("x", -np.eye(2), np.eye(2)), "A"),
    (lambda: LinearEntropyBenchmark("x", np.eye(2), -np.eye(2)), "D"),
    (lambda: LinearEntropyBenchmark("x", np.eye(2), [[1.0, 0.5], [0.0, 1.0]]), "D"),
    (lambda: LinearEntropyBenchmark("x", np.eye(2), np.zeros((2, 2))), "D"),
    (lambda: LinearEntropyBenchmark("x", np.eye(2), np.eye(3)), "D"),
    (lambda: LinearEntropyBenchmark("x", [[1.0, float("nan")], [0.0, 1.0]], np.eye(2)), "A"),
    (lambda: LinearEntropyBenchmark("x", np.eye(2), np.diag([1.0, 0.0])), "A, D"),  # noise never reaches x_2
    (lambda: rotational_ou(mu=-1.0), "mu"),
    (lambda: rotational_ou(temperature=0.0), "temperature"),
    (lambda: brownian_gyrator(T1=-1.0), "T1"),
    (lambda: brownian_gyrator(u=2.0), "u"),
    (lambda: aoup_trap(epsilon=-0.1), "epsilon"),
    (lambda: aoup_trap(v0=0.0, epsilon=0.0), "v0"),
    (lambda: aoup_trap(dim=0), "dim"),
    (lambda: bead_spring(1), "n_beads"),
    (lambda: bead_spring(3, T_cold=-1.0), "T_cold"),
    (lambda: bead_spring(3, k=0.0), "k"),
    (lambda: random_ou(1), "dim"),
    (lambda: random_ou(3, asymmetry=float("nan")), "asymmetry"),
])
def test_bad_input_is_refused(call, name):
    with pytest.raises(BadInputError, match=name):
        call()


def test_methods_refuse_bad_arguments():
    b = aoup_trap(epsilon=0.0)
    with pytest.raises(BadInputError, match="coords"):
        b.sector_rate([0])  # no noise on x
    with pytest.raises(BadInputError, match="coords"):
        b.sector_rate([1, 1])
    with pytest.raises(BadInputError, match="n"):
        b.sample(0)
    with pytest.raises(BadInputError, match="dt"):
        b.trajectories(2, 2, 0.0)
    with pytest.raises(BadInputError, match="n_steps"):
        b.trajectories(2, -1, 0.1)


def test_equilibrium_ou_has_zero_rate():
    b = LinearEntropyBenchmark("eq", [[2.0, 0.5], [0.5, 1.0]], 0.7 * np.eye(2))
    assert abs(b.entropy_production) < 1e-12
    np.testing.assert_allclose(b.velocity(np.ones((3, 2))), 0.0, atol=1e-12)
