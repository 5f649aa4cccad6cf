import numpy as np
import pytest
import torch

from dynfer.processes import brownian_bridge, brownian_bridge_moments


def test_bridge_endpoints_mean_and_variance(device):
    n, sigma = 40_000, 0.7
    a = torch.tensor([[0.0, 1.0]], device=device).expand(n, 2)
    b = torch.tensor([[2.0, -1.0]], device=device).expand(n, 2)
    times = torch.tensor([1.0, 1.3, 1.5, 2.2, 3.0], device=device)
    paths = brownian_bridge(a, b, times, sigma=sigma, seed=0)
    assert paths.shape == (5, n, 2) and paths.device.type == device.type
    assert torch.equal(paths[0], a) and torch.equal(paths[-1], b)
    t = times.cpu().numpy()
    for k in range(1, 4):
        frac = (t[k] - t[0]) / (t[-1] - t[0])
        mean = np.array([0.0, 1.0]) + frac * np.array([2.0, -2.0])
        var = sigma**2 * (t[k] - t[0]) * (t[-1] - t[k]) / (t[-1] - t[0])
        x = paths[k].cpu().double().numpy()
        assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / n))
        # sd of a sample variance of n Gaussians is var * sqrt(2/(n-1)); 5 of them
        assert np.all(np.abs(x.var(0) - var) < 5 * var * np.sqrt(2 / (n - 1)))


def test_bridge_covariance_between_times():
    # Cov(X_s, X_t) = sigma^2 (s - t0)(t1 - t)/(t1 - t0) for s <= t: checks the Markov construction, not only marginals
    n, sigma = 60_000, 1.0
    times = torch.tensor([0.0, 0.25, 0.6, 1.0], dtype=torch.float64)
    paths = brownian_bridge(torch.zeros(n, 1, dtype=torch.float64), torch.zeros(n, 1, dtype=torch.float64), times,
                            sigma=sigma, seed=1)
    c = float(torch.mean(paths[1, :, 0] * paths[2, :, 0]))
    exact = 0.25 * (1 - 0.6)
    assert abs(c - exact) < 5 * np.sqrt((0.25 * 0.75 * 0.6 * 0.4 + exact**2) / n)


def test_moments_function_matches_formula():
    mean, var = brownian_bridge_moments(torch.zeros(1, 1), torch.ones(1, 1), torch.tensor([0.0, 0.5, 2.0]),
                                        sigma=torch.tensor([2.0]))
    assert float(mean[1, 0, 0]) == pytest.approx(0.25)
    assert float(var[1, 0, 0]) == pytest.approx(4 * 0.5 * 1.5 / 2.0)
    assert float(var[0, 0, 0]) == 0 and float(var[-1, 0, 0]) == 0


def test_bridge_bad_input():
    z = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="same shape"):
        brownian_bridge(z, torch.zeros(4, 2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="increasing"):
        brownian_bridge(z, z, torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="sigma"):
        brownian_bridge(z, z, torch.tensor([0.0, 1.0]), sigma=-1.0)
    with pytest.raises(ValueError, match="NaN"):
        brownian_bridge(z + float("nan"), z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="two end times"):
        brownian_bridge(z, z, torch.tensor([0.0]))
