import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from dynfer.processes import SDE, OrnsteinUhlenbeck


def test_seeded_simulation_is_reproducible(device):
    sde = SDE(drift=lambda t, x: -x, diffusion=0.3)
    x0 = torch.zeros(50, 2, device=device)
    times = torch.linspace(0, 1, 6, device=device)
    a = sde.simulate(x0, times, dt=0.05, seed=7)
    b = sde.simulate(x0, times, dt=0.05, seed=7)
    c = sde.simulate(x0, times, dt=0.05, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.device.type == device.type and a.dtype == torch.float32


def test_scalar_diagonal_full_noise_variance():
    # dX = G dW, X0 = 0: Cov(X_T) = G G^T T exactly (Euler is exact for constant coefficients)
    n, t_end = 40_000, 2.0
    g_full = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.3, 0.2]], dtype=torch.float64)
    for diffusion, cov in [
        (0.5, 0.25 * np.eye(2)),
        (torch.tensor([0.5, 1.5], dtype=torch.float64), np.diag([0.25, 2.25])),
        (g_full, (g_full @ g_full.T).numpy()),
    ]:
        sde = SDE(diffusion=diffusion)
        x = sde.simulate(torch.zeros(n, 2, dtype=torch.float64), torch.tensor([0.0, t_end], dtype=torch.float64),
                         dt=0.5, seed=0)[-1].numpy()
        exact = cov * t_end
        se = np.sqrt((exact**2 + np.outer(np.diag(exact), np.diag(exact))) / n)
        assert np.all(np.abs(np.cov(x.T) - exact) < 5 * se)


def test_euler_log_likelihood_matches_scipy():
    a = np.array([[0.9, 0.4], [-0.3, 0.6]])
    g = np.array([[0.5, 0.1], [0.0, 0.4]])
    sde = SDE(drift=lambda t, x: -x @ torch.as_tensor(a).T + torch.sin(t), diffusion=torch.tensor(g))
    rng = np.random.default_rng(0)
    times = np.array([0.0, 0.1, 0.35, 0.4])
    paths = rng.normal(size=(4, 3, 2))
    got = sde.log_likelihood(torch.tensor(paths), torch.tensor(times)).numpy()
    want = np.zeros(3)
    for i in range(3):
        for k in range(3):
            dt = times[k + 1] - times[k]
            mean = paths[k, i] + (-a @ paths[k, i] + np.sin(times[k])) * dt
            want[i] += scipy.stats.multivariate_normal(mean, g @ g.T * dt).logpdf(paths[k + 1, i])
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_log_likelihood_diagonal_state_dependent_and_gradient():
    theta = torch.tensor(0.7, requires_grad=True)
    sde = SDE(drift=lambda t, x: -theta * x, diffusion=lambda t, x: 0.2 + x.abs())
    paths = torch.tensor([[[0.5]], [[0.2]], [[-0.1]]], dtype=torch.float64)
    times = torch.tensor([0.0, 0.2, 0.5], dtype=torch.float64)
    ll = sde.log_likelihood(paths, times)
    want = sum(
        scipy.stats.norm(x0 - 0.7 * x0 * dt, (0.2 + abs(x0)) * math.sqrt(dt)).logpdf(x1)
        for x0, x1, dt in [(0.5, 0.2, 0.2), (0.2, -0.1, 0.3)]
    )
    assert float(ll.detach()) == pytest.approx(want, rel=1e-6)
    ll.sum().backward()
    assert theta.grad is not None and torch.isfinite(theta.grad)


def test_milstein_has_smaller_strong_error_on_gbm():
    # dX = mu X dt + s X dW has X_T = X0 exp((mu - s^2/2) T + s W_T). Rebuild W_T from the same seeded generator,
    # which draws one (n, d) normal block per step in order.
    mu, s, n, steps = 0.5, 0.8, 4000, 20
    sde = SDE(drift=lambda t, x: mu * x, diffusion=lambda t, x: s * x)
    x0 = torch.ones(n, 1, dtype=torch.float64)
    times = torch.tensor([0.0, 1.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(11)
    w = sum(torch.randn((n, 1), generator=gen, dtype=torch.float64) for _ in range(steps)) * math.sqrt(1 / steps)
    exact = torch.exp((mu - s**2 / 2) + s * w)
    err = {}
    for method in ("euler", "milstein"):
        x = sde.simulate(x0, times, dt=1 / steps, method=method, seed=11)[-1]
        err[method] = float((x - exact).abs().mean())
    # strong order 1/2 vs 1: at 20 steps Milstein's error is several times smaller
    assert err["milstein"] < 0.4 * err["euler"]


def test_time_reversal_of_stationary_nonreversible_ou():
    a = np.array([[1.0, 1.0], [-1.0, 1.0]])
    d = 0.5 * np.eye(2)
    ou = OrnsteinUhlenbeck(torch.tensor(a), torch.tensor(d))
    sigma = scipy.linalg.solve_continuous_lyapunov(a, 2 * d)
    prec = torch.tensor(np.linalg.inv(sigma))
    rev = ou.reverse(lambda t, x: -x @ prec.T, t_end=1.0)
    n, tau = 40_000, 0.5
    y0 = torch.tensor(np.random.default_rng(0).multivariate_normal(np.zeros(2), sigma, size=n))
    y = rev.simulate(y0, torch.tensor([0.0, tau], dtype=torch.float64), dt=2e-3, seed=2)
    # Y_s = X_{T-s}: E[Y_tau Y_0^T] = Sigma e^{-A^T tau}, the transpose of the forward lag covariance
    got = (y[1].T @ y[0] / n).numpy()
    want = sigma @ scipy.linalg.expm(-a.T * tau)
    assert np.all(np.abs(got - want) < 5 * np.sqrt(np.outer(np.diag(sigma), np.diag(sigma)) * 2 / n) + 0.01)
    # a forward simulation would give the transpose, which differs here
    assert np.abs(want - want.T).max() > 0.1


def test_module_drift_parameters_are_registered():
    net = torch.nn.Linear(2, 2)
    sde = SDE(drift=lambda t, x: net(x), diffusion=0.1)
    sde2 = SDE(drift=net, diffusion=0.1)
    assert len(list(sde.parameters())) == 0
    assert {id(p) for p in sde2.parameters()} == {id(p) for p in net.parameters()}


def test_simulate_bad_input():
    sde = SDE(drift=lambda t, x: -x, diffusion=0.3)
    x0 = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="increasing"):
        sde.simulate(x0, torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="NaN"):
        sde.simulate(x0 + float("nan"), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="method"):
        sde.simulate(x0, torch.tensor([0.0, 1.0]), method="rk4")
    with pytest.raises(ValueError, match="dt"):
        sde.simulate(x0, torch.tensor([0.0, 1.0]), dt=-0.1)
    with pytest.raises(ValueError, match="x0"):
        sde.simulate(torch.zeros(2, 2, 2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="n_paths"):
        sde.simulate(x0, torch.tensor([0.0, 1.0]), n_paths=3)
    with pytest.raises(ValueError, match="noise_type"):
        SDE(diffusion=lambda t, x: x, noise_type="weird")
    with pytest.raises(ValueError, match="diffusion must be given"):
        SDE(drift=lambda t, x: x)
    with pytest.raises(ValueError, match="time points"):
        sde.log_likelihood(torch.zeros(3, 4, 2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="singular"):
        SDE(diffusion=torch.tensor([[1.0], [1.0]])).log_likelihood(torch.zeros(2, 3, 2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="constant"):
        SDE(diffusion=lambda t, x: x).reverse(lambda t, x: x, 1.0)


def test_milstein_equals_euler_for_constant_diffusion():
    sde = SDE(drift=lambda t, x: torch.sin(x), diffusion=torch.tensor([[0.5, 0.2], [0.0, 0.3]]))
    x0, times = torch.ones(10, 2), torch.linspace(0, 1, 4)
    assert torch.equal(sde.simulate(x0, times, dt=0.1, method="milstein", seed=0),
                       sde.simulate(x0, times, dt=0.1, method="euler", seed=0))


def test_progress_bar_follows_settings(capsys):
    import dynfer

    sde = SDE(drift=lambda t, x: -x, diffusion=0.3)
    sde.simulate(torch.zeros(4, 1), torch.tensor([0.0, 1.0]), dt=0.01, seed=0)
    assert "SDE steps" not in capsys.readouterr().err
    with dynfer.settings.override(progress=True):
        sde.simulate(torch.zeros(4, 1), torch.tensor([0.0, 1.0]), dt=0.01, seed=0)
    assert "SDE steps" in capsys.readouterr().err
