"""ScoreEntropyProduction against closed forms (dynfer.datasets.entropy_benchmarks computes them independently).

Tolerances: the Gaussian plug-in and the score-free identity are unbiased up to O(d/n); they are checked at 4
batch-means standard errors. The learned MLP score is checked at a fixed relative error (the benchmark measures the
3 % goal with more samples and steps).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dynfer
from dynfer._errors import BadInputError
from dynfer.datasets.entropy_benchmarks import aoup_trap, bead_spring, brownian_gyrator, random_ou, rotational_ou
from dynfer.estimators.entropy import ScoreEntropyProduction
from dynfer.processes.drifts import CallableDrift, LinearDrift

FAST = {"n_steps": 400, "hidden": (32, 32), "seed": 0, "dtype": torch.float64}


@pytest.fixture(autouse=True)
def _quiet():
    with dynfer.settings.override(progress=False):
        yield


def _fit(bench, n, *, seed=1, **params):
    x = bench.sample(n, seed=seed)
    return ScoreEntropyProduction(bench.drift, bench.D, **{**FAST, **params}).fit(x), x


@pytest.mark.parametrize("make", [rotational_ou, brownian_gyrator, lambda: random_ou(3, seed=2)])
def test_gaussian_and_score_free_match_closed_form(make):
    bench = make()
    est, _ = _fit(bench, 6000, model="gaussian")
    sigma = bench.entropy_production
    assert abs(est.rate_ - sigma) < 4 * est.rate_stderr_ + 2e-3 * sigma
    sf = est.baselines_["score_free"]
    assert abs(sf["rate"] - sigma) < 4 * sf["stderr"]
    assert est.baselines_["equilibrium"]["rate"] == 0.0


def test_mlp_score_recovers_rate_velocity_and_lower_bound_on_rotational_ou():
    bench = rotational_ou()
    est, x = _fit(bench, 6000, n_steps=800)
    sigma = bench.entropy_production  # 2 w^2 / mu = 0.75385
    assert abs(est.rate_ - sigma) / sigma < 0.05
    assert est.rate_lower_bound_ < sigma + 4 * est.rate_lower_bound_stderr_
    v_true = bench.velocity(x[:2000])
    v_hat = est.velocity(x[:2000])
    assert np.linalg.norm(v_hat - v_true) / np.linalg.norm(v_true) < 0.10
    # the local production is |v|^2 / T: e(x) = w^2 |x|^2 on this system
    local = est.local_production(x[:2000])
    np.testing.assert_allclose(local.mean(), (bench.local_density(x[:2000])).mean(), rtol=0.1)
    assert math.isfinite(est.diagnostics_["fpe_residual"]) and est.diagnostics_["fpe_residual"] < 0.2 * sigma


@pytest.mark.parametrize("objective", ["dsm", "sliced"])
def test_other_objectives_learn_the_score(objective):
    bench = brownian_gyrator()
    est, _ = _fit(bench, 6000, objective=objective, n_steps=600)
    sigma = bench.entropy_production  # 0.196
    assert est.objective_ == objective
    assert abs(est.rate_ - sigma) / sigma < 0.1


def test_per_coordinate_rates_sum_to_the_rate_and_match_closed_form():
    bench = bead_spring(2)  # sigma = 2.025
    est, _ = _fit(bench, 8000, model="gaussian")
    assert abs(est.per_coordinate_.sum() - est.rate_) < 1e-8 * abs(est.rate_)
    np.testing.assert_allclose(est.per_coordinate_, bench.per_coordinate_rates, rtol=0.08)


def test_degenerate_noise_gives_the_noisy_sector_rate():
    # AOUP in a trap at epsilon = 0: only g is noisy; sigma_g -> d kappa (reference notes, hypoelliptic limit)
    bench = aoup_trap(dim=1, kappa=0.5, v0=1.2, gamma=0.3, epsilon=0.0)
    est, _ = _fit(bench, 8000, model="gaussian")
    assert est.diagnostics_["noisy_coordinates"].tolist() == [1]
    target = bench.sector_rate([1])
    assert abs(target - 0.5) < 1e-9
    assert abs(est.rate_ - target) < 4 * est.rate_stderr_ + 1e-3
    sf = est.baselines_["score_free"]
    assert abs(sf["rate"] - target) < 4 * sf["stderr"]
    assert math.isnan(est.diagnostics_["fpe_residual"])  # not defined without the full score


def test_mlp_on_degenerate_noise():
    bench = aoup_trap(dim=1, kappa=0.5, v0=1.2, gamma=0.3, epsilon=0.0)
    est, _ = _fit(bench, 6000, n_steps=600)
    assert abs(est.rate_ - 0.5) / 0.5 < 0.08


def test_gaussian_start_and_equilibrium_start():
    bench = random_ou(3, seed=2)
    x = bench.sample(4000, seed=0)
    start = ScoreEntropyProduction(bench.drift, bench.D, n_steps=1, lr=1e-12, seed=0, dtype=torch.float64).fit(x)
    gauss = ScoreEntropyProduction(bench.drift, bench.D, model="gaussian", seed=0, dtype=torch.float64).fit(x)
    # a step of 1e-12 leaves the start in place: the Gaussian fitted on the training 80 % of the rows, against the
    # Gaussian on all rows (their covariances, hence scores, differ by O(sqrt(0.2 / 3200)) ~ 1 % relative)
    s0, sg = start.score(x[:500]), gauss.score(x[:500])
    assert np.linalg.norm(s0 - sg) / np.linalg.norm(sg) < 0.03
    eq = ScoreEntropyProduction(bench.drift, bench.D, n_steps=1, init="equilibrium", seed=0,
                                dtype=torch.float64).fit(x)
    assert eq.rate_ < 0.05 * bench.entropy_production  # the paper's start: v = 0
    with pytest.raises(BadInputError, match="init"):
        ScoreEntropyProduction(bench.drift, bench.D, init="nope").fit(x)


def test_equilibrium_ou_has_zero_rate():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])  # symmetric drift, D = T I: detailed balance
    bench_x = np.random.default_rng(0).multivariate_normal(np.zeros(2), np.linalg.inv(A) * 0.7, size=6000)
    est = ScoreEntropyProduction(A, 0.7, model="gaussian", seed=0).fit(bench_x)
    # the plug-in is a mean of squares, biased up by the covariance estimate: with Sigma-hat from n samples,
    # E|v-hat|^2_{D^-1} = tr(D (Sigma-hat^-1 - Sigma^-1) Sigma (...)) ~ (d + 1) tr(D Sigma^-1) / n (Wishart moments)
    bias = (2 + 1) * np.trace(0.7 * A / 0.7) / 6000
    assert 0 <= est.rate_ < 3 * bias
    assert abs(est.baselines_["score_free"]["rate"]) < 4 * est.baselines_["score_free"]["stderr"]


def test_odd_momentum_parity_gives_zero_for_underdamped_equilibrium():
    # dx = p dt, dp = (-gamma p - k x) dt + sqrt(2 gamma T) dW: equilibrium when p is odd (sigma = 0); with the
    # all-even convention the same samples give a positive rate
    k, gamma, T = 1.5, 0.8, 0.6
    A = np.array([[0.0, -1.0], [k, gamma]])
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(scale=math.sqrt(T / k), size=8000), rng.normal(scale=math.sqrt(T), size=8000)])
    D = np.diag([0.0, gamma * T])
    odd = ScoreEntropyProduction(A, D, parity=(1, -1), model="gaussian", seed=0).fit(x)
    assert abs(odd.rate_) < 4 * odd.rate_stderr_ + 1e-3
    assert abs(odd.baselines_["score_free"]["rate"]) < 4 * odd.baselines_["score_free"]["stderr"] + 1e-3
    even = ScoreEntropyProduction(A, D, model="gaussian", seed=0).fit(x)
    # even p: v_p = b_p + gamma p = -k x, so sigma = k^2 E[x^2] / (gamma T) = k / gamma
    assert abs(even.rate_ - k / gamma) < 4 * even.rate_stderr_ + 1e-3


def test_callable_drift_and_autograd_divergence():
    bench = rotational_ou()
    A = torch.tensor(bench.A)
    est = ScoreEntropyProduction(lambda x: -x @ A.T.to(x.dtype), bench.D, model="gaussian", seed=0)
    est.fit(bench.sample(4000, seed=0))
    sf = est.baselines_["score_free"]
    assert abs(sf["rate"] - bench.entropy_production) < 4 * sf["stderr"]


def test_bad_inputs_raise_clear_errors():
    x = rotational_ou().sample(100, seed=0)
    A = rotational_ou().A
    with pytest.raises(BadInputError, match="diffusion.*negative"):
        ScoreEntropyProduction(A, [-1.0, 1.0]).fit(x)
    with pytest.raises(BadInputError, match="diffusion.*non-zero cross"):
        ScoreEntropyProduction(A, [[0.0, 0.5], [0.5, 1.0]]).fit(x)
    with pytest.raises(BadInputError, match="diffusion.*eigenvalue"):
        ScoreEntropyProduction(A, [[1.0, 1.0], [1.0, 1.0]]).fit(x)
    with pytest.raises(BadInputError, match="no noise"):
        ScoreEntropyProduction(A, 0.0).fit(x)
    with pytest.raises(BadInputError, match="drift.*shape"):
        ScoreEntropyProduction(CallableDrift(lambda t: t[:, :1]), 1.0, model="gaussian").fit(x)
    with pytest.raises(BadInputError, match="drift.*NaN"):
        ScoreEntropyProduction(CallableDrift(lambda t: t * float("nan")), 1.0, model="gaussian").fit(x)
    with pytest.raises(BadInputError, match="at least 20 samples"):
        ScoreEntropyProduction(A, 1.0).fit(x[:5])
    with pytest.raises(BadInputError, match="x.*NaN"):
        ScoreEntropyProduction(A, 1.0).fit(np.where(np.arange(200).reshape(100, 2) == 3, np.nan, x))
    with pytest.raises(BadInputError, match="shape"):
        ScoreEntropyProduction(A, 1.0).fit(x[:, :1])
    with pytest.raises(BadInputError, match="parity"):
        ScoreEntropyProduction(A, 1.0, parity=(1, 0)).fit(x)
    with pytest.raises(BadInputError, match="model"):
        ScoreEntropyProduction(A, 1.0, model="transformer").fit(x)
    with pytest.raises(BadInputError, match="noise"):
        ScoreEntropyProduction(A, 1.0, noise=(0.01, 0.1)).fit(x)


def test_save_load_round_trip(tmp_path):
    bench = brownian_gyrator()
    est, x = _fit(bench, 2000, n_steps=100)
    path = est.save(tmp_path / "epr.pt")
    back = ScoreEntropyProduction.load(path)
    np.testing.assert_array_equal(back.velocity(x[:50]), est.velocity(x[:50]))
    assert back.rate_ == est.rate_ and back.drift == LinearDrift(bench.A)


@pytest.mark.slow
def test_local_transformer_on_free_active_particles_and_transfer_to_4n():
    # AOUP in a periodic box without interactions: rho is uniform in x with g ~ N(0, I), so s_x = 0, v_x = v0 g and
    # sigma = N d v0^2 / epsilon (16 per frame here); the local model trained at N evaluates at 4N unchanged
    from dynfer.processes.particles import ActiveParticles

    def model(edge):
        return ActiveParticles("aoup", box=(edge, edge), v0=0.5, gamma=1.0, epsilon=0.5, interaction_strength=0.0,
                               force="none")

    small = model(12.0).sample_stationary(16, 200, dt=0.01, seed=0)
    x = np.concatenate([small.obsm["positions"].reshape(200, 16, 2), small.obsm["active"].reshape(200, 16, 2)], -1)
    est = ScoreEntropyProduction(model(12.0), n_steps=1000, batch_size=16, k_neighbors=8, embed_dim=32,
                                 seed=0).fit(x)
    assert abs(est.rate_ - 16.0) / 16.0 < 0.1
    big = model(24.0).sample_stationary(64, 40, dt=0.01, seed=1)
    xb = np.concatenate([big.obsm["positions"].reshape(40, 64, 2), big.obsm["active"].reshape(40, 64, 2)], -1)
    ev = est.evaluate(xb, drift=model(24.0))
    assert abs(ev["rate"] / 64 - est.rate_ / 16) / (est.rate_ / 16) < 0.1


def test_cross_fit_removes_the_squared_error_bias_of_the_gaussian_plug_in():
    """Stiff chain (σ = 1 against E|b|² = 65): the plain plug-in's bias E|ŝ - s|²_D is many replicate SDs, the
    cross-fitted one is unbiased within 3 replicate standard errors (K independent sample sets)."""
    bench = bead_spring(32)
    sigma = bench.entropy_production
    plain, cross = [], []
    for rep in range(8):
        x = bench.sample(8000, seed=100 + rep)
        est = ScoreEntropyProduction(bench.drift, bench.D, model="gaussian", cross_fit=True, seed=rep,
                                     dtype=torch.float64).fit(x)
        assert est.baselines_["gaussian_cross_fit"]["rate"] == est.rate_
        plain.append(est.baselines_["gaussian"]["rate"])
        cross.append(est.rate_)
    plain, cross = np.array(plain), np.array(cross)
    se_plain = plain.std(ddof=1) / math.sqrt(plain.size)
    se_cross = cross.std(ddof=1) / math.sqrt(cross.size)
    assert plain.mean() - sigma > 10 * se_plain  # the bias is real ...
    assert abs(cross.mean() - sigma) < 3 * se_cross  # ... and cross-fitting removes it


def test_cross_fit_mlp_state_round_trip_and_local_terms(tmp_path):
    bench = bead_spring(8)
    sigma = bench.entropy_production
    est, x = _fit(bench, 6000, cross_fit=True, n_steps=200)
    assert "train_loss_fold2" in est.history_ and len(est.history_["kept_start"]) == 1
    assert abs(est.rate_ - sigma) < 0.05 * sigma
    assert math.isfinite(est.diagnostics_["rate_plugin"])
    # the rate is the mean of the cross-fitted local terms, which split over the coordinates
    np.testing.assert_allclose(est.local_production(x).mean(), est.rate_, rtol=1e-10)
    np.testing.assert_allclose(est.per_coordinate_.sum(), est.rate_, rtol=1e-10)
    # the mean score gives the velocity
    first, second = est._net.members
    with torch.no_grad():
        mean = 0.5 * (first(torch.as_tensor(x[:5])) + second(torch.as_tensor(x[:5])))
    np.testing.assert_allclose(est.score(x[:5]), mean.numpy(), rtol=1e-12)
    est.save(tmp_path / "cross.pt")
    back = ScoreEntropyProduction.load(tmp_path / "cross.pt")
    np.testing.assert_array_equal(back.score(x[:50]), est.score(x[:50]))
    assert back.evaluate(x)["rate"] == pytest.approx(est.rate_, rel=1e-12)


def test_cross_fit_bad_inputs():
    bench = bead_spring(4)
    x = bench.sample(200, seed=0)
    with pytest.raises(BadInputError, match="cross_fit"):
        ScoreEntropyProduction(bench.drift, bench.D, cross_fit="yes").fit(x)
    with pytest.raises(BadInputError, match="cross_fit"):
        ScoreEntropyProduction(bench.drift, bench.D, model="equilibrium", cross_fit=True).fit(x)
    # the smallest sample (20, half held out) still gives two folds
    est = ScoreEntropyProduction(bench.drift, bench.D, model="mlp", cross_fit=True, val_fraction=0.5, n_steps=5,
                                 hidden=(8,), seed=0).fit(x[:20])
    assert math.isfinite(est.rate_)
