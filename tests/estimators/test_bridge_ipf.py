"""Tests of the simulation-based IPF P-step (:mod:`dynfer.estimators.bridges.ipf`) against closed forms.

Tolerances are a sampling part (from the sample sizes) plus an IPF/regression allowance measured on CPU, seeds
0-2, with the settings used here (see each test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dynfer.estimators.bridges.ipf import IPFResult, ipf_bridge
from dynfer.processes.sde import SDE

M0, S0, M1, S1, SIGMA, T = -1.0, 0.5, 1.5, 0.8, 0.7, 1.0
FAST = {"n_steps": 10, "n_ipf": 4, "train_steps": 200, "batch_size": 512, "n_paths": 2000, "hidden": (64, 64)}


def _gaussians(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + seed)
    return M0 + S0 * torch.randn(n, 1, generator=g), M1 + S1 * torch.randn(n, 1, generator=g)


def _gaussian_sb_variance(tau: float, s0: float, s1: float, eps: float) -> float:
    """Var X_t of the Brownian-reference SB between N(., s0^2) and N(., s1^2), eps = sigma^2 T.

    The static coupling minimises E|X0 - X1|^2 / (2 eps) + KL(pi | mu0 x mu1); for 1-D Gaussians its covariance c
    solves c^2 + eps c - s0^2 s1^2 = 0, and X_t = (1 - tau) X0 + tau X1 + sqrt(eps tau (1 - tau)) Z.
    """
    c = (-eps + math.sqrt(eps**2 + 4 * s0**2 * s1**2)) / 2
    return (1 - tau) ** 2 * s0**2 + tau**2 * s1**2 + 2 * tau * (1 - tau) * c + eps * tau * (1 - tau)


def test_gaussian_marginals_brownian_reference():
    n = 200
    x0, x1 = _gaussians(n, 0)
    res = ipf_bridge(x0, x1, 0.0, T, None, SIGMA, seed=0, **FAST)
    assert isinstance(res, IPFResult)
    reps = 10
    paths = res.sample_forward(x0.repeat(reps, 1), seed=1)
    assert paths.shape == (FAST["n_steps"] + 1, n * reps, 1)
    end, mid = paths[-1], paths[FAST["n_steps"] // 2]
    n_sim = n * reps
    # Sampling: x1 and the simulated end points each estimate m1 with standard error s1 / sqrt(size); 3 SE.
    # IPF allowance 0.1: measured |forward end mean - x1 mean| <= 0.09 and |mid mean - emp. midpoint| <= 0.095.
    tol_mean = 3 * S1 * math.sqrt(1 / n + 1 / n_sim) + 0.1
    assert abs(end.mean().item() - M1) < tol_mean
    # Sample-sd standard error s / sqrt(2 size); measured sd deficit 0.02-0.035 -> allowance 0.06.
    tol_sd = 3 * S1 * math.sqrt(1 / (2 * n) + 1 / (2 * n_sim)) + 0.06
    assert abs(end.std().item() - S1) < tol_sd
    # Midpoint: any mixture of Brownian bridges has mean (1 - tau) E X0 + tau E X1, so (m0 + m1) / 2 at tau = 1/2.
    tol_mid = 3 * 0.5 * math.sqrt(S0**2 + S1**2) * math.sqrt(1 / n) + 0.1
    assert abs(mid.mean().item() - (M0 + M1) / 2) < tol_mid
    # Marginal mismatch is reported and small next to the initial (reference) mismatch.
    assert res.w2_forward[0] > 2.0
    assert res.marginal_w2 < 0.25
    assert len(res.history) == 1 + 2 * FAST["n_ipf"]
    assert [h["direction"] for h in res.history[:3]] == ["backward", "forward", "backward"]
    # Normalised losses: the regression noise alone gives ~1.
    assert all(0.5 < h["final_loss"] < 2.0 for h in res.history)


@pytest.mark.slow
def test_gaussian_sb_closed_form_variance_slow():
    n = 500
    x0, x1 = _gaussians(n, 1)
    res = ipf_bridge(x0, x1, 0.0, T, None, SIGMA, n_steps=20, n_ipf=10, n_paths=5000, seed=1)
    paths = res.sample_forward(x0.repeat(10, 1), seed=2)
    s0, s1 = x0.std().item(), x1.std().item()
    want_mid = (x0.mean() + x1.mean()).item() / 2
    assert abs(paths[10].mean().item() - want_mid) < 0.08
    assert abs(paths[-1].mean().item() - x1.mean().item()) < 0.08
    var_mid = _gaussian_sb_variance(0.5, s0, s1, SIGMA**2 * T)
    # Measured midpoint variance about 15% below the closed form (the learned drifts smooth the score).
    assert abs(paths[10].var().item() - var_mid) / var_mid < 0.3
    assert res.marginal_w2 < 0.15


def _ou(x: torch.Tensor) -> torch.Tensor:
    return -1.5 * (x - torch.tensor([0.5, -0.5], dtype=x.dtype))


def test_reference_is_already_the_bridge():
    n, sigma = 300, 0.5
    g = torch.Generator().manual_seed(7)
    x0 = torch.tensor([2.0, 1.0]) + 0.3 * torch.randn(n, 2, generator=g)
    sde = SDE(drift=lambda t, x: _ou(x), diffusion=sigma)
    x1 = sde.simulate(x0, torch.tensor([0.0, 1.0]), dt=0.01, seed=3)[-1]
    res = ipf_bridge(x0, x1, 0.0, 1.0, _ou, sigma, seed=0, **FAST)
    paths = res.sample_forward(x0, seed=4)
    xs = paths[:-1].reshape(-1, 2)
    ts = res.times().to(xs.dtype)[:-1, None].expand(-1, n).reshape(-1)
    with torch.no_grad():
        learned = res.forward(ts, xs)
    ref = _ou(xs)
    rel = ((learned - ref) ** 2).sum(1).mean().sqrt() / (ref**2).sum(1).mean().sqrt()
    print(f"relative drift error {rel:.3f}")
    assert rel < 0.25
    assert res.marginal_w2 < 0.2


def test_seeded_reproducibility():
    x0, x1 = _gaussians(64, 0)
    kw = {"n_steps": 4, "n_ipf": 1, "train_steps": 10, "hidden": (8,), "n_paths": 128, "batch_size": 64}
    a = ipf_bridge(x0, x1, 0.0, 1.0, None, 0.5, seed=3, **kw)
    b = ipf_bridge(x0, x1, 0.0, 1.0, None, 0.5, seed=3, **kw)
    c = ipf_bridge(x0, x1, 0.0, 1.0, None, 0.5, seed=4, **kw)
    assert a.losses == b.losses and a.marginal_w2 == b.marginal_w2
    assert a.losses != c.losses
    torch.testing.assert_close(a.sample_forward(seed=1), b.sample_forward(seed=1))
    back = a.sample_backward(seed=1)
    assert back.shape == (5, 64, 1)
    torch.testing.assert_close(back[-1], x1)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"x1": np.zeros((10, 2))}, "columns"),
        ({"x0": np.full((10, 1), np.nan)}, "NaN"),
        ({"t1": 0.0}, "t0 < t1"),
        ({"t1": -1.0}, "t0 < t1"),
        ({"n_ipf": 0}, "n_ipf"),
        ({"sigma": 0.0}, "sigma"),
        ({"x0": np.zeros(10)}, "2-dimensional"),
        ({"drift": lambda x: x[:, :1].repeat(1, 3)}, "shape"),
        ({"target": "score"}, "target"),
    ],
)
def test_bad_input(change, match):
    args = {"x0": np.zeros((10, 1)), "x1": np.ones((10, 1)), "t0": 0.0, "t1": 1.0, "drift": None, "sigma": 0.5}
    args.update(change)
    with pytest.raises(ValueError, match=match):
        ipf_bridge(**args, n_steps=2, train_steps=1)
