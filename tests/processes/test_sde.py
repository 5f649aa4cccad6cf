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


# ------------------------------------------------------------------------------------------------- guards
def test_nan_and_diverging_paths_raise_with_the_time():
    import dynfer

    x0, times = torch.ones(100, 2), torch.linspace(0, 1, 11)
    nan_late = SDE(drift=lambda t, x: x * torch.where(t > 0.5, torch.nan, 1.0), diffusion=0.1)
    with pytest.raises(dynfer.BadInputError, match=r"drift or diffusion.*NaN or infinite between t = 0\.4\d* and "
                       r"t = 0\.5\d*.*100 of 100 paths.*smaller dt"):
        nan_late.simulate(x0, times, dt=0.01, seed=0)
    with pytest.raises(dynfer.BadInputError, match=r"NaN or infinite.*dt = 0\.1.*bounded"):
        SDE(drift=lambda t, x: x**3, diffusion=0.1).simulate(3 * x0, times, dt=0.1, seed=0)
    sqrt_noise = SDE(drift=lambda t, x: -x, diffusion=lambda t, x: torch.sqrt(x))  # NaN once a path goes negative
    with pytest.raises(dynfer.BadInputError, match="became NaN or infinite"):
        sqrt_noise.simulate(0.01 * x0, times, dt=0.01, seed=0)
    # a one-step window names the step exactly
    with pytest.raises(dynfer.BadInputError, match=r"at t = 1 \(step 1 of 1\)"):
        SDE(drift=lambda t, x: x + torch.inf, diffusion=0.1).simulate(x0, torch.tensor([0.0, 1.0]), seed=0)
    # large but finite states whose sum overflows float32 are not mistaken for non-finite ones
    big = SDE(drift=lambda t, x: torch.zeros_like(x), diffusion=0.0).simulate(torch.full((10, 2), 3e37), times,
                                                                              dt=0.01, seed=0)
    assert bool(torch.isfinite(big).all())


@pytest.mark.parametrize(
    ("drift", "diffusion", "match"),
    [
        (lambda t, x: -x[:, :1], 0.1, r"drift: returned shape \(5, 1\) for x of shape \(5, 2\); expected shape "
         r"\(5, 2\)"),
        (lambda t, x: -x.mean(0), 0.1, r"drift: returned shape \(2,\).*expected shape \(5, 2\)"),
        (lambda t, x: (-x).numpy(), 0.1, "drift: returned a ndarray"),
        (lambda t, x: torch.zeros(x.shape, dtype=torch.long), 0.1, "drift: returned a tensor of dtype torch.int64"),
        (lambda t, x: x @ torch.ones(3, 3), 0.1, r"drift: failed on x of shape \(5, 2\)"),
        (lambda t, x: -x, lambda t, x: torch.ones(3), r"diffusion: returned shape \(3,\) for x of shape \(5, 2\)"),
        (lambda t, x: -x, torch.ones(3), r"diffusion: returned shape \(3,\)"),
        (lambda t, x: -x, torch.ones(3, 2), r"diffusion: returned shape \(3, 2\).*noise_type='full'"),
    ],
)
def test_wrong_drift_or_diffusion_shapes_are_named(drift, diffusion, match):
    import dynfer

    with pytest.raises(dynfer.BadInputError, match=match):
        SDE(drift=drift, diffusion=diffusion).simulate(torch.zeros(5, 2), torch.linspace(0, 1, 3), seed=0)


def test_scalar_diffusion_callables_and_milstein_with_constant_callable():
    x0, times = torch.ones(20, 2), torch.linspace(0, 1, 3)
    for g in (lambda t, x: 0.3, lambda t, x: torch.full((x.shape[0], 1), 0.3)):
        paths = SDE(drift=lambda t, x: -x, diffusion=g, noise_type="scalar").simulate(x0, times, dt=0.1, seed=0)
        assert paths.shape == (3, 20, 2) and bool(torch.isfinite(paths).all())
    # Milstein with a callable diffusion that does not depend on x: no autograd error, the Euler scheme
    const = SDE(drift=lambda t, x: -x, diffusion=lambda t, x: torch.tensor(0.3))
    euler = SDE(drift=lambda t, x: -x, diffusion=0.3).simulate(x0, times, dt=0.1, seed=4)
    torch.testing.assert_close(const.simulate(x0, times, dt=0.1, method="milstein", seed=4), euler)


def test_tiny_dt_and_huge_outputs_are_refused_up_front():
    import time

    import dynfer

    sde = SDE(drift=lambda t, x: -x, diffusion=0.1)
    start = time.perf_counter()
    with pytest.raises(dynfer.BadInputError, match=r"SDE.simulate: dt: 1e\+09 steps x 100 paths x 2 coordinates.*"
                       r"max_work = 2e\+10.*larger dt \(now 1e-09\)"):
        sde.simulate(torch.zeros(100, 2), torch.tensor([0.0, 1.0]), dt=1e-9)
    with pytest.raises(dynfer.BadInputError, match="1e\\+300 steps"):  # no OverflowError from ceil(inf)
        sde.simulate(torch.zeros(1, 1), torch.tensor([0.0, 1.0]), dt=1e-300)
    # one path counts at least STEP_COST per step: a billion steps of one path are refused too
    with pytest.raises(dynfer.BadInputError, match="1e\\+09 steps x 1 paths"):
        sde.simulate(torch.zeros(1, 1), torch.tensor([0.0, 1.0]), dt=1e-9)
    # an output that cannot fit in memory is refused before it is allocated (here 3.6 TiB)
    with dynfer.settings.override(max_work=float("inf")), pytest.raises(dynfer.BadInputError,
                                                                        match=r"needs 3\.6\d TiB"):
        sde.simulate(torch.zeros(10**7, 1), torch.linspace(0, 1, 10**5))
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"times": torch.zeros(0)}, "times: no time"),
        ({"times": torch.tensor([0.0, 1e300], dtype=torch.float64)}, "beyond the range of x0's dtype float32"),
        ({"x0": torch.zeros(0, 2)}, r"x0: shape \(0, 2\)"),
        ({"x0": torch.zeros(3)}, None),
        ({"x0": torch.zeros(2), "n_paths": 2.5}, "n_paths: 2.5"),
        ({"x0": torch.zeros(2), "n_paths": "3"}, "n_paths: '3'"),
        ({"dt": "x"}, "dt must be a number"),
    ],
)
def test_simulate_argument_checks(kwargs, match):
    import dynfer

    sde = SDE(drift=lambda t, x: -x, diffusion=0.1)
    args = {"x0": torch.zeros(4, 2), "times": torch.linspace(0, 1, 3), **kwargs}
    if match is None:
        assert sde.simulate(args.pop("x0"), args.pop("times"), seed=0, **args).shape == (3, 1, 3)
        return
    with pytest.raises(dynfer.BadInputError, match=match):
        sde.simulate(args.pop("x0"), args.pop("times"), seed=0, **args)


def test_log_likelihood_refuses_nan_drifts_and_overflow():
    import dynfer

    paths, times = torch.zeros(3, 4, 2), torch.tensor([0.0, 0.5, 1.0])
    with pytest.raises(dynfer.BadInputError, match="log_likelihood: drift"):
        SDE(drift=lambda t, x: x * torch.nan, diffusion=0.1).log_likelihood(paths, times)
    with pytest.raises(dynfer.BadInputError, match=r"drift: returned shape \(8, 1\)"):
        SDE(drift=lambda t, x: x[:, :1], diffusion=0.1).log_likelihood(paths, times)
    with pytest.raises(dynfer.BadInputError, match="log_likelihood: paths.*overflows float32"):
        SDE(drift=lambda t, x: -x, diffusion=1e-10).log_likelihood(paths + torch.arange(3.0)[:, None, None] * 1e20,
                                                                     times)


def test_models_refuse_states_of_another_dimension():
    import dynfer
    from dynfer.processes import DoubleWell, LotkaVolterra

    with pytest.raises(dynfer.BadInputError, match="x0: states with 2 coordinates; expected 1 coordinates, the "
                       "dimension of this OrnsteinUhlenbeck"):  # was broadcast silently: a (1,) diffusion fits (n, 2)
        OrnsteinUhlenbeck(1.0, 1.0, dim=1).simulate(torch.zeros(3, 2), torch.tensor([0.0, 1.0]), seed=0)
    with pytest.raises(dynfer.BadInputError, match="x0: states with 1 coordinates; expected 2"):
        LotkaVolterra().simulate(torch.ones(3, 1), torch.tensor([0.0, 1.0]), seed=0)
    with pytest.raises(dynfer.BadInputError, match="paths: states with 2 coordinates"):
        DoubleWell(dim=3).log_likelihood(torch.zeros(2, 3, 2), torch.tensor([0.0, 1.0]))
