import math

import numpy as np
import pytest
import scipy.linalg
import torch

from dynfer.processes import OrnsteinUhlenbeck

A2 = np.array([[1.0, 0.8], [-0.6, 0.5]])  # non-symmetric: a driven, non-reversible OU
D2 = np.array([[0.3, 0.1], [0.1, 0.2]])


def exact_cov_quadrature(a: np.ndarray, d: np.ndarray, t: float, n: int = 4001) -> np.ndarray:
    """Sigma_t = int_0^t e^{-As} 2D e^{-A^T s} ds by Simpson's rule (independent of Van Loan)."""
    s = np.linspace(0.0, t, n)
    vals = np.stack([scipy.linalg.expm(-a * si) @ (2 * d) @ scipy.linalg.expm(-a.T * si) for si in s])
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return (w[:, None, None] * vals).sum(0) * (s[1] - s[0]) / 3


def test_scalar_ou_transition_matches_closed_form():
    theta, sigma, t = 1.0, 0.5, 1.0
    ou = OrnsteinUhlenbeck(theta, sigma**2 / 2, dim=1)
    x = torch.tensor([[2.0], [-1.0]], dtype=torch.float64)
    mean, cov = ou.transition(x, t)
    np.testing.assert_allclose(mean.numpy().ravel(), [2 * math.exp(-1), -math.exp(-1)], rtol=1e-12)
    # sigma^2/(2 theta)(1 - e^{-2 theta t}) = 0.1081 for theta = 1, sigma = 0.5
    assert float(cov) == pytest.approx(0.25 / 2 * (1 - math.exp(-2)), rel=1e-10)
    assert float(cov) == pytest.approx(0.1081, abs=5e-5)


def test_multivariate_transition_and_stationary_covariance():
    ou = OrnsteinUhlenbeck(torch.tensor(A2), torch.tensor(D2))
    _, cov = ou.transition(torch.zeros(1, 2, dtype=torch.float64), 0.7)
    np.testing.assert_allclose(cov.numpy(), exact_cov_quadrature(A2, D2, 0.7), rtol=1e-8, atol=1e-10)
    lyap = scipy.linalg.solve_continuous_lyapunov(A2, 2 * D2)
    np.testing.assert_allclose(ou.stationary_covariance().numpy(), lyap, rtol=1e-10)
    _, cov_long = ou.transition(torch.zeros(1, 2, dtype=torch.float64), 60.0)
    np.testing.assert_allclose(cov_long.numpy(), lyap, rtol=1e-8)


def test_brownian_limit_a_zero():
    ou = OrnsteinUhlenbeck(0.0, 0.5, dim=3)
    _, cov = ou.transition(torch.zeros(1, 3, dtype=torch.float64), 2.0)
    np.testing.assert_allclose(cov.numpy(), 2 * 0.5 * 2.0 * np.eye(3), rtol=1e-12)
    with pytest.raises(ValueError, match="no stationary law"):
        ou.stationary_covariance()


def test_simulated_moments_match_exact_law(device):
    ou = OrnsteinUhlenbeck(torch.tensor(A2), torch.tensor(D2)).to(device)
    n, t_end = 20_000, 0.8
    x0 = torch.tensor([1.0, -2.0], dtype=torch.float64, device=device)
    paths = ou.simulate(x0, torch.tensor([0.0, t_end], dtype=torch.float64), dt=1e-3, n_paths=n, seed=3)
    assert paths.device.type == device.type and paths.shape == (2, n, 2)
    xt = paths[-1].cpu().numpy()
    mean_exact = scipy.linalg.expm(-A2 * t_end) @ np.array([1.0, -2.0])
    cov_exact = exact_cov_quadrature(A2, D2, t_end)
    se_mean = np.sqrt(np.diag(cov_exact) / n)
    # 5 standard errors; the Euler bias at dt=1e-3 is O(dt) ~ 1e-3 relative, far below that.
    assert np.all(np.abs(xt.mean(0) - mean_exact) < 5 * se_mean + 2e-3)
    cov_hat = np.cov(xt.T)
    se_cov = np.sqrt((cov_exact**2 + np.outer(np.diag(cov_exact), np.diag(cov_exact))) / n)
    assert np.all(np.abs(cov_hat - cov_exact) < 5 * se_cov + 2e-3 * np.abs(cov_exact))


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="symmetric"):
        OrnsteinUhlenbeck(torch.eye(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive semi-definite"):
        OrnsteinUhlenbeck(torch.eye(2), torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="square"):
        OrnsteinUhlenbeck(torch.ones(2, 3), 1.0)
    with pytest.raises(ValueError, match="dimension"):
        OrnsteinUhlenbeck(1.0, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        OrnsteinUhlenbeck(float("nan"), 1.0, dim=2)
    with pytest.raises(ValueError, match="t must be finite and >= 0"):
        OrnsteinUhlenbeck(1.0, 1.0, dim=1).transition(torch.zeros(1, 1), -1.0)


def test_transition_over_long_lags_is_the_stationary_law():
    # Van Loan's block exponential holds e^{At}, which overflows for long lags: the Lyapunov form takes over
    ou = OrnsteinUhlenbeck(torch.tensor([[1.0, 0.3], [0.0, 2.0]], dtype=torch.float64), 0.5 * torch.eye(2,
                           dtype=torch.float64))
    for t in (30.0, 1e3, 1e300):
        mean, cov = ou.transition(torch.ones(3, 2, dtype=torch.float64), t)
        torch.testing.assert_close(cov, ou.stationary_covariance(), rtol=1e-10, atol=1e-12)
        assert float(mean.abs().max()) < 1e-10
    # both formulas agree where they meet
    a, b = ou.transition(torch.ones(1, 2, dtype=torch.float64), 4.99)[1], ou.transition(
        torch.ones(1, 2, dtype=torch.float64), 5.01)[1]
    assert float((a - b).abs().max()) < 1e-4


def test_bad_inputs_name_the_argument():
    import dynfer

    with pytest.raises(dynfer.BadInputError, match="D must be numeric"):  # was a TypeError from torch.as_tensor
        OrnsteinUhlenbeck(np.array(1.0, dtype=object), np.array("a", dtype=object), dim=1)
    with pytest.raises(dynfer.BadInputError, match="dim: 1.5"):
        OrnsteinUhlenbeck(1.0, 1.0, dim=1.5)
    with pytest.raises(dynfer.BadInputError, match="A and D: dimension 0"):
        OrnsteinUhlenbeck(np.zeros(0), np.zeros(0))
    with pytest.raises(dynfer.BadInputError, match="D holds values beyond the range of float32"):
        OrnsteinUhlenbeck(1.0, 1e300, dim=1)
    ou = OrnsteinUhlenbeck(1.0, 1.0, dim=1)
    with pytest.raises(dynfer.BadInputError, match=r"x: shape \(3, 2\); expected states with d = 1"):
        ou.transition(torch.zeros(3, 2), 1.0)  # was a bare matmul size error
    with pytest.raises(dynfer.BadInputError, match="t: a lag t = 1e\\+300 whose transition law overflows float32"):
        OrnsteinUhlenbeck(0.0, 1.0, dim=1).transition(torch.zeros(3, 1), 1e300)  # A = 0: variance 2 D t
    with pytest.raises(dynfer.BadInputError, match="non-positive real part: the process grows"):
        OrnsteinUhlenbeck(-1.0, 1.0, dim=1).transition(torch.zeros(1, 1, dtype=torch.float64), 1e3)


@pytest.mark.parametrize("t", [0.5, 5.0, 30.0])
def test_transition_with_a_growing_and_a_decaying_mode(t):
    # A = [[1, 2], [2, 1]] has eigenvalues 3 and -1: at t = 30 Van Loan's block exponential returned a "covariance"
    # of size 1e34 with an eigenvalue of -8e34 (found by fuzzing); doubling from a short lag keeps every digit
    a = np.array([[1.0, 2.0], [2.0, 1.0]])
    ou = OrnsteinUhlenbeck(torch.tensor(a), torch.eye(2, dtype=torch.float64))
    _, cov = ou.transition(torch.zeros(1, 2, dtype=torch.float64), t)
    lam, v = np.linalg.eigh(a)
    rate = lam[:, None] + lam[None, :]
    exact = v @ ((v.T @ (2 * np.eye(2)) @ v) * -np.expm1(-rate * t) / rate) @ v.T
    np.testing.assert_allclose(cov.numpy(), exact, rtol=1e-12, atol=1e-13 * np.abs(exact).max())
