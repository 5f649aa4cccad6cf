"""Property-based fuzzing of the bridge defaults and options: ``sigma="auto"``, ``init="auto"``, ``batch_size``,
joint multi-time ``sample(..., noise=)``, ``mean_paths`` and the P-step's numerical repairs.

Good inputs give finite output of the documented shapes (rows of one ``sample`` call are one path each); bad ones
raise :class:`dynfer.BadInputError` naming the option.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.estimators.bridges.coupling import BridgeNumericalError, bridge_paths, robust_cholesky
from dynfer.estimators.bridges.estimator import auto_sigma

RNG = np.random.default_rng(0)
GOOD = [RNG.normal(size=(8, 2)) + k for k in range(3)]
TIMES = [0.0, 1.0, 2.0]
FIXTURE = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def fitted():
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SchrodingerBridge("linear", n_iter=1, seed=0).fit(GOOD, TIMES)


# ------------------------------------------------------------------ sample / mean_paths
def _check_sample(est, times, n, noise, seed):
    out = est.sample(times, n=n, seed=seed, noise=noise)
    tq = np.atleast_1d(np.asarray(times, dtype=np.float64))
    assert len(out) == tq.size
    rows = est.paths_.shape[1] if n is None else n
    for x in out:
        assert x.shape == (rows, 2) and np.isfinite(x).all()
    for i in range(tq.size):  # equal times give equal rows: one path, one point per time
        for j in range(tq.size):
            if tq[i] == tq[j]:
                np.testing.assert_array_equal(out[i], out[j])
    if not noise:  # the conditional mean is deterministic
        again = est.sample(times, n=n, seed=None if seed is None else seed + 1, noise=False)
        for a, b in zip(out, again, strict=True):
            np.testing.assert_array_equal(a, b)


TIMES_IN = st.lists(st.floats(0.0, 2.0, allow_nan=False), min_size=1, max_size=6)


@given(times=TIMES_IN, n=st.one_of(st.none(), st.integers(1, 24)), noise=st.booleans(),
       seed=st.one_of(st.none(), st.integers(0, 2**31 - 1)))
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=FIXTURE)
def test_sample_joint_and_mean(fitted, times, n, noise, seed):
    _check_sample(fitted, times, n, noise, seed)


@pytest.mark.slow
@given(times=TIMES_IN, n=st.one_of(st.none(), st.integers(1, 24)), noise=st.booleans(),
       seed=st.one_of(st.none(), st.integers(0, 2**31 - 1)))
@settings(max_examples=300, deadline=None, suppress_health_check=FIXTURE)
def test_sample_joint_and_mean_slow(fitted, times, n, noise, seed):
    _check_sample(fitted, times, n, noise, seed)


@given(noise=st.sampled_from([None, "no", 1, 0.0, [True]]))
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=FIXTURE)
def test_bad_noise_raises(fitted, noise):
    with pytest.raises(BadInputError, match="noise"):
        fitted.sample(0.5, noise=noise)


@pytest.mark.slow
@given(noise=st.one_of(st.none(), st.text(max_size=3), st.integers(), st.floats()))
@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE)
def test_bad_noise_raises_slow(fitted, noise):
    with pytest.raises(BadInputError, match="noise"):
        fitted.sample(0.5, noise=noise)


# ------------------------------------------------------------------ options at fit
BAD_BATCH = st.sampled_from([0, 1, -3, 2.5, "big", [4], True])


@given(batch=BAD_BATCH, init=st.sampled_from(["auto", "paper"]))
@settings(max_examples=14, deadline=None, derandomize=True)
def test_bad_batch_size_is_refused_by_fit(batch, init):
    with pytest.raises(BadInputError, match="batch_size"):
        SchrodingerBridge("linear", n_iter=1, seed=0, batch_size=batch, init=init).fit(GOOD, TIMES)


@pytest.mark.slow
@given(batch=st.one_of(BAD_BATCH, st.integers(max_value=1), st.floats(allow_nan=True)), init=st.sampled_from(
    ["auto", "paper", "displacement", "shooting"]))
@settings(max_examples=80, deadline=None)
def test_bad_batch_size_is_refused_by_fit_slow(batch, init):
    with pytest.raises(BadInputError, match="batch_size"):
        SchrodingerBridge("linear", n_iter=1, seed=0, batch_size=batch, init=init).fit(GOOD, TIMES)


def _good_fit(reference, batch, init, sizes, scale, stored="auto"):
    g = np.random.default_rng(sum(sizes))
    xs = [scale * g.normal(size=(m, 2)) + k for k, m in enumerate(sizes)]
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb = SchrodingerBridge(reference, n_iter=1, seed=0, batch_size=batch, init=init,
                               stored_paths=stored).fit(xs, [0.0, 0.5, 1.5])
    assert math.isfinite(sb.sigma_) and sb.sigma_ > 0
    if stored not in ("auto", None):
        assert sb.paths_.shape[1] <= 3 * max(stored, max(sizes))
    assert np.isfinite(sb.trajectories()[1]).all()
    grid, mean = sb.mean_paths()
    assert mean.shape == sb.trajectories()[1].shape and np.isfinite(mean).all()


GOOD_FIT = {"reference": st.sampled_from(["brownian", "linear"]),
            "batch": st.sampled_from(["auto", None, 2, 5, 50]),
            "init": st.sampled_from(["auto", "paper"]),
            "sizes": st.lists(st.integers(3, 12), min_size=3, max_size=3),
            "scale": st.sampled_from([1e-3, 1.0, 30.0]),
            "stored": st.sampled_from(["auto", None, 1, 4, 100])}


@given(**GOOD_FIT)
@settings(max_examples=8, deadline=None, derandomize=True)
def test_good_options_fit_finite(reference, batch, init, sizes, scale, stored):
    _good_fit(reference, batch, init, sizes, scale, stored)


@pytest.mark.slow
@given(**GOOD_FIT)
@settings(max_examples=60, deadline=None)
def test_good_options_fit_finite_slow(reference, batch, init, sizes, scale, stored):
    _good_fit(reference, batch, init, sizes, scale, stored)


BAD_STORED = st.sampled_from([0, -2, 1.5, "some", [3], True])


@given(stored=BAD_STORED)
@settings(max_examples=6, deadline=None, derandomize=True)
def test_bad_stored_paths_is_refused_by_fit(stored):
    with pytest.raises(BadInputError, match="stored_paths"):
        SchrodingerBridge("linear", n_iter=1, seed=0, stored_paths=stored).fit(GOOD, TIMES)


@pytest.mark.slow
@given(stored=st.one_of(BAD_STORED, st.integers(max_value=0), st.floats(allow_nan=True), st.text(max_size=3)))
@settings(max_examples=60, deadline=None)
def test_bad_stored_paths_is_refused_by_fit_slow(stored):
    with pytest.raises(BadInputError, match="stored_paths"):
        SchrodingerBridge("linear", n_iter=1, seed=0, stored_paths=stored).fit(GOOD, TIMES)


# ------------------------------------------------------------------ auto_sigma and the numerical repairs
CLOUDS = st.tuples(st.integers(2, 30), st.integers(1, 6), st.floats(1e-6, 1e3), st.floats(1e-3, 10.0))


def _auto(n, d, scale, gap):
    g = np.random.default_rng(n * d)
    xs = [torch.as_tensor(scale * g.normal(size=(n, d))) for _ in range(3)]
    s = auto_sigma(xs, [0.0, gap, 2 * gap])
    assert math.isfinite(s) and s > 0
    assert s >= auto_sigma(xs) * (1 - 1e-12)  # the convergence floor only ever raises the spread rule
    assert auto_sigma([torch.zeros(n, d)] * 3, [0.0, gap, 2 * gap]) == 0.1  # constant data: the fallback


@given(cloud=CLOUDS)
@settings(max_examples=20, deadline=None, derandomize=True)
def test_auto_sigma_positive_finite(cloud):
    _auto(*cloud)


@pytest.mark.slow
@given(cloud=CLOUDS)
@settings(max_examples=300, deadline=None)
def test_auto_sigma_positive_finite_slow(cloud):
    _auto(*cloud)


def _chol(d, scale, rank):
    g = np.random.default_rng(d + rank)
    a = torch.as_tensor(g.normal(size=(3, d, rank))) * scale
    cov = a @ a.transpose(-1, -2)  # rank-deficient when rank < d
    try:
        chol = robust_cholesky(cov)
    except BridgeNumericalError as err:
        assert "not positive definite" in str(err)
        return
    assert torch.isfinite(chol).all()
    assert float((chol @ chol.transpose(-1, -2) - cov).abs().max()) <= 1e-1 * float(cov.abs().max()) + 1e-300


@given(d=st.integers(1, 5), scale=st.floats(1e-8, 1e8), rank=st.integers(1, 5))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_robust_cholesky(d, scale, rank):
    _chol(d, scale, rank)


@pytest.mark.slow
@given(d=st.integers(1, 8), scale=st.floats(1e-30, 1e30), rank=st.integers(1, 8))
@settings(max_examples=300, deadline=None)
def test_robust_cholesky_slow(d, scale, rank):
    _chol(d, scale, rank)


@given(frac=st.sampled_from([-0.1, 1.5, "x", None, True]))
@settings(max_examples=5, deadline=None, derandomize=True)
def test_bad_max_fallback(frac):
    a = torch.zeros(2, 1, dtype=torch.float64)
    with pytest.raises(BadInputError, match="max_fallback"):
        bridge_paths(a, a, 0.0, 1.0, 2, lambda x: -x, 0.1, max_fallback=frac)


@pytest.mark.slow
@given(frac=st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0 + 1e-9), st.text(max_size=2)))
@settings(max_examples=60, deadline=None)
def test_bad_max_fallback_slow(frac):
    a = torch.zeros(2, 1, dtype=torch.float64)
    with pytest.raises(BadInputError, match="max_fallback"):
        bridge_paths(a, a, 0.0, 1.0, 2, lambda x: -x, 0.1, max_fallback=frac)
