"""Snapshot generators: seeded, parameters recorded, marginals checked against closed forms with sampling tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dynfer import _keys as K
from dynfer.datasets import lotka_volterra_snapshots, ou_snapshots, repressilator_snapshots, vortex_snapshots
from dynfer.io import validate_snapshots, validate_trajectories

SMALL = {"n_per_time": 20, "times": [0.0, 0.5, 1.0]}


@pytest.mark.parametrize("gen", [lotka_volterra_snapshots, repressilator_snapshots, vortex_snapshots, ou_snapshots])
def test_seeded_reproducible_and_parameters_recorded(gen):
    a, b, c = gen(**SMALL, seed=3), gen(**SMALL, seed=3), gen(**SMALL, seed=4)
    validate_snapshots(a)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, c.X)
    src = a.uns[K.SOURCE]
    assert src["name"] == gen.__name__ and src["parameters"]["seed"] == 3
    np.testing.assert_array_equal(src["parameters"]["times"], SMALL["times"])
    assert src["parameters"]["n_per_time"] == 20
    assert a.n_obs == 60 and (a.obs[K.TIME].value_counts() == 20).all()


def test_lotka_volterra_defaults_match_the_benchmark_design():
    adata = lotka_volterra_snapshots(n_per_time=200, seed=0)
    assert adata.shape == (11 * 200, 2) and list(adata.var_names) == ["prey", "predator"]
    np.testing.assert_array_equal(np.unique(adata.obs[K.TIME]), np.arange(11.0))
    p = adata.uns[K.SOURCE]["parameters"]
    assert (p["alpha"], p["beta"], p["gamma"], p["delta"], p["sigma"]) == (1.0, 0.4, 0.4, 0.1, 0.02)
    assert np.isfinite(adata.X).all() and (adata.X > 0).all()


def test_lotka_volterra_initial_law():
    """At t = 0 the snapshot is the initial draw U([5, 5.1] x [4, 4.1]): mean (5.05, 4.05), sd 0.1 / sqrt(12)."""
    n = 400
    adata = lotka_volterra_snapshots(n_per_time=n, times=[0.0, 1.0], seed=1)
    x0 = adata.X[adata.obs[K.TIME].to_numpy() == 0.0]
    assert x0.shape == (n, 2)
    assert (x0 >= [5.0, 4.0]).all() and (x0 <= [5.1, 4.1]).all()
    se = 0.1 / math.sqrt(12) / math.sqrt(n)
    np.testing.assert_allclose(x0.mean(0), [5.05, 4.05], atol=4 * se)
    np.testing.assert_allclose(x0.std(0), 0.1 / math.sqrt(12), rtol=0.15)


def test_independent_draws_versus_paired_paths():
    ind = lotka_volterra_snapshots(n_per_time=30, times=[0.0, 0.01], dt=0.01, seed=0)
    a, b = (ind.X[ind.obs[K.TIME].to_numpy() == t] for t in (0.0, 0.01))
    assert np.abs(a - b).max() > 0.01  # fresh initial draws per time: rows are unrelated
    assert K.TRAJECTORY not in ind.obs
    paired = lotka_volterra_snapshots(n_per_time=30, times=[0.0, 0.01], dt=0.01, sigma=1e-9, independent=False, seed=0)
    validate_trajectories(paired)
    x = paired.X.reshape(30, 2, 2)  # rows ordered by (trajectory, time)
    prey, pred = x[:, 0, 0], x[:, 0, 1]
    drift = np.stack([prey - 0.4 * prey * pred, 0.1 * prey * pred - 0.4 * pred], 1)
    np.testing.assert_allclose(x[:, 1], x[:, 0] + 0.01 * drift, atol=1e-7)  # one Euler step of the same path


def test_repressilator_defaults():
    adata = repressilator_snapshots(n_per_time=50, seed=0)
    assert adata.shape == (11 * 50, 3)
    np.testing.assert_allclose(np.unique(adata.obs[K.TIME]), 1.5 * np.arange(11))
    p = adata.uns[K.SOURCE]["parameters"]
    assert (p["beta"], p["n"], p["k"], p["gamma"], p["sigma"]) == (10.0, 3.0, 1.0, 1.0, 0.02)
    assert (adata.X > 0).all()
    x0 = adata.X[adata.obs[K.TIME].to_numpy() == 0]
    assert (x0 >= [1, 1, 2]).all() and (x0 <= [1.1, 1.1, 2.1]).all()


def test_vortex_mean_rotates_rigidly():
    """E[X_t] = c + R(omega t)(E[X_0] - c); Cov X_t = R Cov X_0 R^T + sigma^2 t I (exact law of the rigid vortex)."""
    n, omega, sigma, t = 2000, 0.4, 0.05, 8.0
    adata = vortex_snapshots(n_per_time=n, times=[0.0, t], omega=omega, sigma=sigma, seed=2)
    x = adata.X[adata.obs[K.TIME].to_numpy() == t]
    a = omega * t
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    mean = rot @ np.array([0.0, -0.75])
    cov = rot @ np.diag([0.1**2 / 12, 0.1**2 / 12]) @ rot.T + sigma**2 * t * np.eye(2)
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0) - mean) < 4 * se)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=5 * np.sqrt(2 / n) * cov.max())


def test_vortex_paired_paths_keep_their_radius_without_noise():
    adata = vortex_snapshots(n_per_time=10, times=[0.0, 1.0, 3.0], sigma=1e-12, independent=False, seed=0)
    validate_trajectories(adata)
    r = np.linalg.norm(adata.X, axis=1).reshape(10, 3)
    np.testing.assert_allclose(r, r[:, :1].repeat(3, axis=1), rtol=1e-9)


def test_ou_marginals_match_closed_form():
    """dX = -a X dt + sqrt(2D) dW, X_0 ~ N(m0, s0^2): mean m0 e^{-at}, var s0^2 e^{-2at} + (D/a)(1 - e^{-2at})."""
    n, a, d_coef, m0, s0 = 2000, 1.5, 0.2, 2.0, 0.1
    times = np.array([0.0, 0.3, 1.0, 3.0])
    adata = ou_snapshots(n_per_time=n, times=times, A=a, D=d_coef, dim=2, x0_mean=m0, x0_std=s0, seed=5)
    src = adata.uns[K.SOURCE]
    mean = m0 * np.exp(-a * times)
    var = s0**2 * np.exp(-2 * a * times) + d_coef / a * (1 - np.exp(-2 * a * times))
    np.testing.assert_allclose(src["marginal_means"], np.stack([mean, mean], 1), rtol=1e-10)
    np.testing.assert_allclose(src["marginal_covariances"][:, 0, 0], var, rtol=1e-8)
    for k, t in enumerate(times):
        x = adata.X[adata.obs[K.TIME].to_numpy() == t]
        assert np.all(np.abs(x.mean(0) - mean[k]) < 4.5 * np.sqrt(var[k] / n))
        assert np.all(np.abs(x.var(0) / var[k] - 1) < 4.5 * np.sqrt(2 / n))


@pytest.mark.parametrize("bad", [{"times": [1.0, 0.5]}, {"times": [-1.0, 0.0]}, {"n_per_time": 0}])
def test_invalid_arguments(bad):
    kwargs = {"n_per_time": 5, "times": [0.0, 1.0], **bad}
    with pytest.raises(ValueError):
        lotka_volterra_snapshots(**kwargs)
    with pytest.raises(ValueError):
        vortex_snapshots(**kwargs)
