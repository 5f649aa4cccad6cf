"""NEEP and short-time TUR rates from exact OU trajectories, against closed forms computed here.

At a finite lag the estimators do not target sigma itself but, in the limit of infinite data,
* NEEP: the pair Kullback-Leibler rate KL(p(x_t, x_t+1) || p(x_t+1, x_t)) / dt (its optimum, an exact Gaussian
  computation below);
* linear TUR: 2 mu^T C^-1 mu / dt with mu, C the mean and covariance of the basis currents dx_k xbar_l, computed
  from the Gaussian pair law by Isserlis' theorem.
Both tend to sigma linearly in dt (checked below), and the estimates must match them within a few standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm

from dynfer import BadInputError
from dynfer.datasets.entropy_benchmarks import (
    LinearEntropyBenchmark,
    bead_spring,
    brownian_gyrator,
    rotational_ou,
)
from dynfer.evaluation.entropy_baselines import MIN_PAIRS, EntropyRateEstimate, neep_rate, tur_rate


def _pair_covariance(b: LinearEntropyBenchmark, dt: float) -> np.ndarray:
    s, phi = b.covariance, expm(-b.A * dt)
    return np.block([[s, s @ phi.T], [phi @ s, s]])  # Cov of (x_t, x_t+1): E[x_t+1 x_t^T] = e^{-A dt} Sigma


def pair_kl_rate(b: LinearEntropyBenchmark, dt: float) -> float:
    """KL between the forward and reversed Gaussian pair laws per unit time (equal determinants)."""
    c, d = _pair_covariance(b, dt), b.dim
    swap = np.block([[np.zeros((d, d)), np.eye(d)], [np.eye(d), np.zeros((d, d))]])
    return float(0.5 * np.trace(np.linalg.solve(swap @ c @ swap, c)) - d) / dt


def linear_tur_limit(b: LinearEntropyBenchmark, dt: float) -> float:
    """The best linear-basis TUR value of the population at lag dt (Isserlis moments of the Gaussian pair)."""
    c, d = _pair_covariance(b, dt), b.dim
    eye = np.eye(d)
    inc, mid = np.hstack([-eye, eye]), np.hstack([eye / 2, eye / 2])
    e_dd, e_mm, e_dm = inc @ c @ inc.T, mid @ c @ mid.T, inc @ c @ mid.T
    mu = e_dm.reshape(-1)  # E[dx_k xbar_l]; the constant part of d(x) has zero mean current and no covariance
    cov = np.einsum("ab,lm->albm", e_dd, e_mm) + np.einsum("am,lb->albm", e_dm, e_dm.T)
    cov = cov.reshape(d * d, d * d)
    return float(2 * mu @ np.linalg.solve(cov, mu) / dt)


def test_finite_lag_targets_tend_to_sigma_linearly():
    # the test's own targets: both gaps shrink like dt (halving dt halves them), and are below sigma
    for b in (rotational_ou(), brownian_gyrator(), bead_spring(2)):
        sigma = b.entropy_production
        for target in (pair_kl_rate, linear_tur_limit):
            gaps = [sigma - target(b, dt) for dt in (0.02, 0.01, 0.005)]
            assert all(g > 0 for g in gaps)
            assert 1.8 < gaps[0] / gaps[1] < 2.2 and 1.8 < gaps[1] / gaps[2] < 2.2
            assert gaps[2] / sigma < 0.02


@pytest.mark.parametrize(("bench", "dt"), [(rotational_ou(), 0.01), (brownian_gyrator(), 0.02)])
def test_linear_tur_matches_its_finite_lag_limit_and_bounds_sigma(bench, dt):
    paths = bench.trajectories(200, 3000, dt, seed=1)
    est = tur_rate(paths, dt, seed=0)
    assert isinstance(est, EntropyRateEstimate) and est.method == "tur-linear"
    assert est.details["closed_form"] and est.n_pairs > 0.1 * 200 * 3000
    target = linear_tur_limit(bench, dt)
    # statistical tolerance: 4 standard errors of the held-out estimate
    assert abs(est.rate - target) < 4 * est.stderr
    assert est.rate < bench.entropy_production + 4 * est.stderr
    assert est.stderr < 0.2 * bench.entropy_production
    # Simple with the training-set scale is at most the held-out TUR value (max over the scale), and close to it
    assert est.details["simple"] <= est.rate + 1e-12
    assert abs(est.details["simple"] - target) < 4 * est.details["simple_stderr"]


def test_tur_standard_error_is_calibrated():
    # 16 independent replicates: the sd of the estimates matches the mean reported stderr (the sd of 16 normal
    # draws has a relative standard error of ~18%, so a factor in [0.5, 1.6] is a > 3-sigma band)
    b, dt = rotational_ou(), 0.02
    ests = [tur_rate(b.trajectories(100, 1000, dt, seed=10 + i), dt, seed=i) for i in range(16)]
    rates = np.array([e.rate for e in ests])
    ratio = rates.std(ddof=1) / np.mean([e.stderr for e in ests])
    assert 0.5 < ratio < 1.6
    assert abs(rates.mean() - linear_tur_limit(b, dt)) < 4 * rates.std(ddof=1) / 4  # 4 se of the mean of 16


def test_neep_on_the_two_bead_chain():
    b, dt = bead_spring(2), 0.01
    paths = b.trajectories(250, 2200, dt, seed=2)
    est = neep_rate(paths, dt, hidden=(32, 32), n_steps=400, batch_size=1024, lr=3e-3, seed=0)
    assert est.method == "neep" and est.details["fit"]["steps_run"] <= 400
    target = pair_kl_rate(b, dt)  # 1.985 vs sigma = 2.025
    # 4 standard errors plus 3% for the network's approximation of the optimal log-ratio
    assert abs(est.rate - target) < 4 * est.stderr + 0.03 * target
    assert abs(est.rate - 2.025) / 2.025 < 0.10
    # ~1.1e5 held-out pairs on 50 paths: the martingale part alone gives se ~ sqrt(2 sigma / (N dt)) = 3%; the slow
    # fluctuations of the local rate along each path add about as much again (caught by the batch means)
    assert 0.03 * 2.025 < est.stderr < 0.06 * 2.025


def test_equilibrium_rates_vanish_within_their_errors():
    # symmetric A and D = T I: detailed balance, sigma = 0. For any antisymmetric DeltaS or current fixed on the
    # training units the held-out mean is exactly 0 in expectation (the pair law is symmetric), so 3 se bands hold
    b = LinearEntropyBenchmark("eq", [[1.5, 0.4], [0.4, 0.8]], 0.5 * np.eye(2))
    dt = 0.02
    paths = b.trajectories(100, 1000, dt, seed=4)
    neep = neep_rate(paths, dt, hidden=(16, 16), n_steps=100, batch_size=512, seed=0)
    assert abs(neep.rate) < 3 * neep.stderr
    tur = tur_rate(paths, dt, seed=0)
    assert abs(tur.details["mean_current"]) < 3 * tur.details["mean_current_stderr"]
    assert tur.rate < 0.05


def test_tur_mlp_basis_starts_from_the_linear_optimum():
    b, dt = brownian_gyrator(), 0.02
    paths = b.trajectories(100, 2000, dt, seed=5)
    est = tur_rate(paths, dt, basis="mlp", hidden=(16,), n_steps=60, batch_size=2048, seed=0)
    lin = tur_rate(paths, dt, seed=0)
    assert est.method == "tur-mlp" and "fit" in est.details
    assert abs(est.rate - linear_tur_limit(b, dt)) < 4 * est.stderr
    assert abs(est.rate - lin.rate) < 2 * lin.stderr


def test_estimates_are_deterministic_and_accept_lists_and_single_paths():
    b, dt = rotational_ou(), 0.05
    paths = b.trajectories(4, 300, dt, seed=0)
    one = neep_rate(paths, dt, hidden=(8,), n_steps=20, batch_size=64, seed=3)
    two = neep_rate(paths, dt, hidden=(8,), n_steps=20, batch_size=64, seed=3)
    assert one.rate == two.rate and one.stderr == two.stderr
    split = [paths[:, :2], paths[:150, 2:]]
    assert math.isfinite(tur_rate(split, dt, seed=0).rate)
    single = tur_rate(paths[:, :1], dt, seed=0)  # one path: cut into time blocks
    assert single.details["n_units"] >= 20 and math.isfinite(single.stderr)
    assert tur_rate(paths, dt, seed=1).rate == tur_rate(paths, dt, seed=1).rate


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"paths": np.zeros((5, 3))}, "paths"),
    ({"paths": np.zeros((1, 30, 2))}, "paths"),
    ({"paths": np.zeros((3, 5, 2))}, "paths"),  # 10 pairs < MIN_PAIRS
    ({"paths": np.full((30, 2, 2), np.nan)}, "paths"),
    ({"paths": [np.zeros((30, 2, 2)), np.zeros((30, 2, 3))]}, "paths"),
    ({"paths": []}, "paths"),
    ({"paths": "abc"}, "paths"),
    ({"dt": 0.0}, "dt"),
    ({"dt": float("inf")}, "dt"),
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"n_steps": 0}, "n_steps"),
    ({"lr": -1.0}, "lr"),
    ({"dtype": "int8"}, "dtype"),
    ({"seed": -2}, "seed"),
])
def test_bad_input_is_refused(kwargs, name):
    good = {"paths": np.random.default_rng(0).normal(size=(30, 2, 2)), "dt": 0.1}
    for fn in (neep_rate, tur_rate):
        with pytest.raises(BadInputError, match=name):
            fn(**{**good, **kwargs})
    with pytest.raises(BadInputError, match="basis"):
        tur_rate(good["paths"], 0.1, basis="cubic")
    assert MIN_PAIRS == 20
