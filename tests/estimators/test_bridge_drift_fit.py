"""θ-step of the Schrödinger-bridge estimator: Euler pseudo-likelihood refits against independent closed forms.

Paths are simulated by Euler–Maruyama with the internal step equal to the observation step, so the Euler transition
density is the exact likelihood of the data: the least-squares estimator is then the MLE, unbiased for families linear
in θ, with covariance σ² (Σ_s Δ_s Φ_sᵀ Φ_s)⁻¹ (Gauss–Markov; for the nonlinear repressilator the same with the
Jacobian of f in θ, asymptotically). Tolerances are 5 of these standard errors, computed here in numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dynfer.estimators.bridges.drift_fit import FitReport, euler_residual_loss, fit_reference
from dynfer.estimators.bridges.references import as_reference, make_reference
from dynfer.processes import SDE, LotkaVolterra, Repressilator

F64 = torch.float64
LV_TRUE = {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1}
REP_TRUE = {"beta": 10.0, "n": 3.0, "k": 1.0, "gamma": 1.0}


def _velocity_data(paths: torch.Tensor, times: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Starts x (N, d), velocities v (N, d) and weights Δ (N,), in numpy, independent of the code under test."""
    p = paths.numpy()
    dt = np.diff(times.numpy())
    v = (p[1:] - p[:-1]) / dt[:, None, None]
    w = np.broadcast_to(dt[:, None], p.shape[:2] - np.array([1, 0])).reshape(-1)
    return p[:-1].reshape(-1, p.shape[2]), v.reshape(-1, p.shape[2]), w


def _weighted_lstsq(design: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy lstsq of sqrt(w)·design θ ≈ sqrt(w)·y and the inverse information (design' W design)^-1."""
    sw = np.sqrt(w)[:, None]
    theta = np.linalg.lstsq(design * sw, y * sw[:, 0], rcond=None)[0]
    return theta, np.linalg.inv(design.T @ (design * w[:, None]))


@pytest.fixture(scope="module")
def lv_data():
    sigma = 0.05
    gen = torch.Generator().manual_seed(0)
    x0 = torch.tensor([4.0, 2.5], dtype=F64) + 2 * torch.rand(200, 2, generator=gen, dtype=F64)
    times = torch.linspace(0.0, 10.0, 201, dtype=F64)
    paths = LotkaVolterra(**LV_TRUE, sigma=sigma).simulate(x0, times, dt=None, seed=1)
    return paths, times, sigma


@pytest.fixture(scope="module")
def lv_numpy_solution(lv_data):
    """Independent weighted least squares on the LV increments: both output rows stacked, θ = (α, β, γ, δ)."""
    paths, times, sigma = lv_data
    x, v, w = _velocity_data(paths, times)
    u, y = x[:, 0], x[:, 1]
    zero = np.zeros_like(u)
    design = np.concatenate([np.stack([u, -u * y, zero, zero], 1), np.stack([zero, zero, -y, u * y], 1)])
    theta, inv_info = _weighted_lstsq(design, np.concatenate([v[:, 0], v[:, 1]]), np.concatenate([w, w]))
    return theta, sigma * np.sqrt(np.diag(inv_info))


def _as_vector(theta: dict, keys) -> np.ndarray:
    return np.array([float(theta[k]) for k in keys])


def test_lotka_volterra_lstsq_from_the_paper_init(lv_data, lv_numpy_solution):
    paths, times, sigma = lv_data
    ref = make_reference("lotka_volterra", 2, dtype=F64)  # params 1e-5 as in the paper
    report = fit_reference(ref, paths, times, sigma=sigma)
    assert isinstance(report, FitReport) and report.method == "lstsq" and report.steps == 1
    assert report.loss_after < report.loss_before
    est = _as_vector(report.theta, LV_TRUE)
    np_theta, se = lv_numpy_solution
    np.testing.assert_allclose(est, np_theta, rtol=1e-8)  # the exact solve equals numpy's lstsq
    truth = np.array(list(LV_TRUE.values()))
    assert np.all(np.abs(est - truth) < 5 * se), (est, truth, se)
    assert np.all(np.abs(est / truth - 1) < 0.03)


def test_lotka_volterra_lbfgs_reaches_the_exact_solution(lv_data, lv_numpy_solution):
    paths, times, sigma = lv_data
    ref = make_reference("lotka_volterra", 2)  # float32 parameters: fitted on a float64 copy
    report = fit_reference(ref, paths, times, sigma=sigma, method="lbfgs")
    assert report.method == "lbfgs" and report.steps > 0
    assert ref.raw_alpha.dtype == torch.float32
    np.testing.assert_allclose(_as_vector(report.theta, LV_TRUE), lv_numpy_solution[0], rtol=1e-5)


def test_sigma_mle_recovers_the_simulation_sigma(lv_data):
    paths, times, sigma = lv_data
    ref = make_reference("lotka_volterra", 2, dtype=F64)
    report = fit_reference(ref, paths, times, sigma=1.0, fit_sigma=True)
    n_d = report.n_transitions * 2
    # N d sigma_hat^2 / sigma^2 ~ chi^2_{Nd - p}: relative sd of sigma_hat is about 1 / sqrt(2 N d)
    assert abs(report.sigma / sigma - 1) < 5 / math.sqrt(2 * n_d)
    x, v, w = _velocity_data(paths, times)
    with torch.no_grad():
        f = ref(torch.as_tensor(x)).numpy()
    resid = (v - f) * w[:, None]  # X_{s+1} - X_s - f Δ
    assert report.sigma**2 == pytest.approx(np.mean((resid**2).sum(1) / (2 * w)), rel=1e-10)


def test_log_likelihood_matches_the_sde_euler_likelihood(lv_data):
    paths, times, sigma = lv_data
    ref = make_reference("lotka_volterra", 2, alpha=0.9, beta=0.3, gamma=0.5, delta=0.1, dtype=F64)
    report = fit_reference(ref, paths, times, sigma=sigma)
    ll = ref.to_sde(sigma).log_likelihood(paths, times).mean().item()
    # (the SDE stores sigma in settings.dtype, float32 here: 1e-7 relative rounding of sigma^2)
    assert report.log_likelihood == pytest.approx(ll, rel=1e-6)
    # and the loss is -2 sigma^2 / n * sum(loglik) + const: differences between two thetas agree
    other = make_reference("lotka_volterra", 2, alpha=0.9, beta=0.3, gamma=0.5, delta=0.1, dtype=F64)
    d_loss = euler_residual_loss(other, paths, times).item() - report.loss_after
    d_ll = other.to_sde(sigma).log_likelihood(paths, times).mean().item() - ll
    assert d_loss == pytest.approx(-2 * sigma**2 * d_ll, rel=1e-6)


def _repressilator_information(paths, times, theta) -> np.ndarray:
    """Σ Δ JᵀJ with the analytic Jacobian of f in (β, n, k, γ), written independently of the code under test."""
    x, _, w = _velocity_data(paths, times)
    beta, n, k, _ = theta
    u = np.roll(x, 1, axis=1) / k
    un = u**n
    jac = np.stack(
        [1 / (1 + un), -beta * un * np.log(u) / (1 + un) ** 2, beta * n * un / (k * (1 + un) ** 2), -x], axis=-1
    )  # (N, d, 4)
    return np.einsum("nip,niq,n->pq", jac, jac, w)


@pytest.fixture(scope="module")
def repressilator_data():
    sigma = 0.1
    x0 = 0.2 + 5 * torch.rand(100, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    times = torch.linspace(0.0, 10.0, 501, dtype=F64)
    paths = Repressilator(**REP_TRUE, sigma=sigma).simulate(x0, times, dt=None, seed=2)
    return paths, times, sigma


@pytest.mark.parametrize(
    "init",
    [
        {},  # the paper's (1e-5, 1, 1, 1e-5)
        {"beta": 100.0, "n": 10.0, "k": 5.0, "gamma": 5.0},
        {"beta": 1e-5, "n": 8.0, "k": 0.1, "gamma": 1e-5},
    ],
)
def test_repressilator_recovery_is_insensitive_to_the_init(repressilator_data, init):
    paths, times, sigma = repressilator_data
    ref = make_reference("repressilator", 3, dtype=F64, **init)
    report = fit_reference(ref, paths, times, sigma=sigma)
    assert report.method == "lbfgs"
    est = _as_vector(report.theta, REP_TRUE)
    truth = np.array(list(REP_TRUE.values()))
    assert (paths > 0).all()  # the log in the information is defined
    se = sigma * np.sqrt(np.diag(np.linalg.inv(_repressilator_information(paths, times, truth))))
    assert np.all(np.abs(est - truth) < 5 * se), (est, truth, se)
    assert np.all(np.abs(est / truth - 1) < 0.02)


def test_linear_lstsq_equals_numpy_and_recovers_the_ou_matrix():
    a_true = np.array([[-1.0, 2.0], [-2.0, -0.5]])
    b_true = np.array([0.5, -0.3])
    sigma = 0.3
    true = make_reference("linear", 2, A=a_true, b=b_true, dtype=F64)
    x0 = 2 * torch.randn(300, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    times = torch.cat([torch.linspace(0, 2, 101, dtype=F64), torch.tensor([2.05, 2.15], dtype=F64)])  # uneven Δ
    paths = true.to_sde(sigma).simulate(x0, times, dt=None, seed=6)
    ref = make_reference("linear", 2, dtype=F64)
    report = fit_reference(ref, paths, times, sigma=sigma, ridge=0.0)
    x, v, w = _velocity_data(paths, times)
    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    sols = [_weighted_lstsq(design, v[:, i], w) for i in range(2)]
    np.testing.assert_allclose(report.theta["A"], np.stack([s[0][:2] for s in sols]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(report.theta["b"], [s[0][2] for s in sols], rtol=1e-10, atol=1e-12)
    se = sigma * np.sqrt(np.diag(sols[0][1]))  # same design for both outputs
    assert np.all(np.abs(report.theta["A"] - a_true) < 5 * se[:2])
    assert np.all(np.abs(report.theta["b"] - b_true) < 5 * se[2])
    # the default tiny ridge changes nothing measurable
    ref2 = make_reference("linear", 2, dtype=F64)
    np.testing.assert_allclose(fit_reference(ref2, paths, times, sigma=sigma).theta["A"], report.theta["A"], rtol=1e-7)


def test_hooke_lstsq_is_the_closed_form_and_respects_positivity():
    k_true, sigma = 0.8, 0.2
    x0 = torch.randn(200, 3, generator=torch.Generator().manual_seed(1), dtype=F64) * 2
    times = torch.linspace(0, 2, 101, dtype=F64)
    paths = make_reference("hooke", 3, k=k_true, dtype=F64).to_sde(sigma).simulate(x0, times, dt=None, seed=3)
    ref = make_reference("hooke", 3, dtype=F64)
    k_hat = float(fit_reference(ref, paths, times, sigma=sigma).theta["k"])
    x, v, w = _velocity_data(paths, times)
    info = np.sum(w * (x**2).sum(1))
    assert k_hat == pytest.approx(-np.sum(w * (x * v).sum(1)) / info, rel=1e-9)
    assert abs(k_hat - k_true) < 5 * sigma / math.sqrt(info)
    # an expanding process (f = +0.5 x) has unconstrained solution k < 0: the constrained solve gives exactly 0
    grow = SDE(drift=lambda t, z: 0.5 * z, diffusion=sigma).simulate(x0, times, dt=None, seed=4)
    assert float(fit_reference(ref, grow, times, sigma=sigma).theta["k"]) == 0.0


def test_vortex_lbfgs_equals_the_linear_reparametrisation():
    truth = {"x0": 1.0, "y0": -0.5, "scale": 1.5, "rate": 0.8}
    sigma = 0.05
    x0 = torch.tensor([1.0, -0.5], dtype=F64) + torch.randn(
        150, 2, generator=torch.Generator().manual_seed(2), dtype=F64
    )
    times = torch.linspace(0, 4, 201, dtype=F64)
    paths = make_reference("vortex", 2, dtype=F64, **truth).to_sde(sigma).simulate(x0, times, dt=None, seed=7)
    ref = make_reference("vortex", 2, dtype=F64)  # centre 0, scale 1, rate 1e-5
    report = fit_reference(ref, paths, times, sigma=sigma)
    assert report.method == "lbfgs"
    # f = (-a y + c, b x + e) with a = ω s, b = ω / s, c = ω s y0, e = -ω x0 / s: two linear regressions
    x, v, w = _velocity_data(paths, times)
    ones = np.ones(len(x))
    (neg_a, c), _ = _weighted_lstsq(np.stack([x[:, 1], ones], 1), v[:, 0], w)
    (b, e), _ = _weighted_lstsq(np.stack([x[:, 0], ones], 1), v[:, 1], w)
    a = -neg_a
    expected = {"x0": -e / b, "y0": c / a, "scale": math.sqrt(a / b), "rate": math.copysign(math.sqrt(a * b), b)}
    for key, value in expected.items():
        assert float(report.theta[key]) == pytest.approx(value, rel=1e-5, abs=1e-7), key
        assert float(report.theta[key]) == pytest.approx(truth[key], rel=0.03, abs=0.02), key


def test_mlp_families_train_through_the_shared_fit_loop():
    sigma = 0.1
    x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float32)
    times = torch.linspace(0, 1, 21)
    paths = make_reference("hooke", 2, k=1.0).to_sde(sigma).simulate(x0, times, dt=None, seed=5)
    for name in ("mlp", "mlp_potential"):
        torch.manual_seed(0)
        ref = make_reference(name, 2, hidden=(32, 32))
        report = fit_reference(ref, paths, times, sigma=sigma, max_steps=300, lr=1e-2, batch_size=256, seed=0)
        assert report.method == "adam" and report.steps == 300
        # the loss floor is the noise, E[loss] = sigma^2 d (T - 1) per path at the true drift
        floor = sigma**2 * 2 * (len(times) - 1)
        assert report.loss_before > 2.5 * floor
        assert report.loss_after < 1.1 * floor, (name, report.loss_after, floor)
        states = paths[:-1].reshape(-1, 2)
        err = (ref(states).detach() + states).pow(2).sum(1).mean() / states.pow(2).sum(1).mean()
        assert err < 0.1, (name, float(err))


def test_brownian_has_nothing_to_fit():
    sigma = 0.3
    times = torch.linspace(0, 1, 51, dtype=F64)
    paths = SDE(diffusion=sigma).simulate(torch.zeros(100, 2, dtype=F64), times, dt=None, seed=0)
    ref = make_reference("brownian", 2, dtype=F64)
    report = fit_reference(ref, paths, times, sigma=sigma, fit_sigma=True)
    assert report.steps == 0 and report.loss_before == report.loss_after
    assert abs(report.sigma / sigma - 1) < 5 / math.sqrt(2 * report.n_transitions * 2)


def test_custom_module_fits_with_lbfgs():
    times = torch.linspace(0, 1, 51, dtype=F64)
    x0 = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    paths = SDE(drift=lambda t, z: -2 * z + 1, diffusion=0.05).simulate(x0, times, dt=None, seed=1)
    ref = as_reference(torch.nn.Linear(2, 2).double(), 2)
    report = fit_reference(ref, paths, times, sigma=0.05)
    assert report.method == "lbfgs"
    np.testing.assert_allclose(report.theta["weight"], -2 * np.eye(2), atol=0.1)
    np.testing.assert_allclose(report.theta["bias"], [1, 1], atol=0.1)


def test_euler_residual_loss_formula_and_gradient():
    times = torch.tensor([0.0, 0.5, 1.5], dtype=F64)
    paths = torch.tensor([[[1.0, 2.0]], [[2.0, 2.0]], [[2.0, 4.0]]], dtype=F64)
    ref = make_reference("hooke", 2, k=1.0, dtype=F64)
    # step 1: Δ=.5, v=(2, 0), f=(-1,-2): .5*(9+4); step 2: Δ=1, v=(0, 2), f=(-2,-2): 1*(4+16)
    loss = euler_residual_loss(ref, paths, times)
    assert loss.item() == pytest.approx(0.5 * 13 + 20)
    loss.backward()
    assert ref.raw_k.grad is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "newton"}, "method must be one of"),
        ({"sigma": 0.0}, "sigma must be finite and > 0"),
        ({"max_steps": 0}, "max_steps must be a positive int"),
        ({"paths": torch.zeros(5, 2)}, "paths must be 3-dimensional"),
        ({"times": torch.linspace(0, 1, 4)}, "times has 4 entries but paths has 5"),
        ({"times": torch.tensor([0.0, 1.0, 1.0, 2.0, 3.0])}, "times must be strictly increasing"),
        ({"paths": torch.full((5, 3, 2), float("nan"))}, "paths contains 30 NaN"),
        ({"paths": torch.zeros(5, 3, 3)}, "paths have 3 coordinates .* dim=2"),
        ({"paths": torch.zeros(1, 3, 2), "times": torch.zeros(1)}, "at least two time points"),
        (
            {"reference": make_reference("repressilator", 3), "paths": torch.ones(5, 3, 3), "method": "lstsq"},
            "needs a family linear in θ",
        ),
        ({"reference": torch.nn.Linear(2, 2)}, "reference must be a ReferenceDrift"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, match):
    args = {
        "reference": make_reference("hooke", 2),
        "paths": torch.ones(5, 3, 2),
        "times": torch.arange(5.0),
        "sigma": 0.1,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit_reference(args.pop("reference"), args.pop("paths"), args.pop("times"), **args)
