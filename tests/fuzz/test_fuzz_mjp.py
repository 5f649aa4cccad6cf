"""Property-based fuzzing of the MJP path checks and the maximum-likelihood fit: a valid result or a BadInputError.

Strategies feed :func:`dynfer.estimators.mjp.check_paths` and :class:`MJPMaximumLikelihood` states of every dtype
(ints, whole and fractional floats, NaN, bools, strings, objects), negative and too large labels, ragged lists,
times that are NaN, infinite, huge, tiny, equal or decreasing, wrong shapes, garbage lengths, ``n_states`` and
parameters (label noise, adjacency, iteration caps). The property, for every call:

* ``check_paths`` returns padded int64 states in ``0..n-1``, finite non-decreasing times and at least one
  transition, or raises :class:`dynfer.BadInputError` naming one of its arguments;
* ``fit`` returns a finite, valid generator (non-negative off-diagonal rates, zero row sums), standard deviations
  that are non-negative or ``inf`` (never NaN) and an initial law, or raises :class:`dynfer.BadInputError`;

never another exception, never NaN, never a hang (each example runs under a deadline with ``settings.max_work``
lowered). The default run draws a few dozen examples (seconds); the ``slow`` twins draw hundreds
(``pytest -m slow tests/fuzz/test_fuzz_mjp.py``).
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.estimators.mjp import ConvergenceWarning, JumpPaths, MJPMaximumLikelihood, check_paths
from dynfer.processes.jumps import RateMatrix

FAST = {"max_examples": 30, "derandomize": True, "database": None, "deadline": timedelta(seconds=20),
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
SLOW = {**FAST, "max_examples": 300}
MAX_WORK = 2e9
ARGUMENTS = ("states", "times", "lengths", "n_states", "label_noise", "adjacency", "max_iter", "tol", "dtype")


@pytest.fixture(autouse=True)
def _bounded_work():
    with dynfer.settings.override(max_work=MAX_WORK), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# ---------------------------------------------------------------------------------------------------- strategies
TIME_SPECIAL = [0.0, 1e-300, 1e-12, 1.0, 1e12, 1e300, -1.0, math.nan, math.inf, -math.inf]


@st.composite
def label_arrays(draw, shape):
    """Labels of ``shape``: mostly small ints, sometimes floats, NaN, bools, strings or objects."""
    kind = draw(st.sampled_from(["int", "int", "int", "whole", "float", "nan", "bool", "str", "obj", "big"]))
    size = int(np.prod(shape))
    ints = draw(st.lists(st.integers(-1, 5), min_size=size, max_size=size))
    arr = np.array(ints, dtype=np.int64).reshape(shape)
    if kind == "whole":
        return arr.astype(np.float64)
    if kind == "float":
        return arr + draw(st.sampled_from([0.0, 0.5, 1e-9]))
    if kind == "nan":
        out = arr.astype(np.float64)
        if size:
            out.reshape(-1)[0] = math.nan
        return out
    if kind == "bool":
        return arr > 1
    if kind == "str":
        return arr.astype(str)
    if kind == "obj":
        out = arr.astype(object)
        if size:
            out.reshape(-1)[0] = draw(st.sampled_from([None, "a", 1.0, [1]]))
        return out
    if kind == "big":
        return arr * draw(st.sampled_from([10**6, 10**18]))
    return np.abs(arr) if draw(st.booleans()) else arr


@st.composite
def time_arrays(draw, shape):
    """Times of ``shape``: mostly sorted uniforms, sometimes special values, unsorted or equal."""
    kind = draw(st.sampled_from(["sorted", "sorted", "sorted", "grid", "special", "unsorted", "equal"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e3]))
    if kind == "grid":
        t = np.broadcast_to(np.arange(shape[-1]) * scale, shape).astype(np.float64) if shape else np.zeros(())
    else:
        t = np.sort(rng.uniform(0, 10 * scale, size=shape), axis=-1) if shape else np.zeros(())
    if kind == "special" and t.size:
        t = t.copy()
        t.reshape(-1)[draw(st.integers(0, t.size - 1))] = draw(st.sampled_from(TIME_SPECIAL))
    if kind == "unsorted" and t.size > 1:
        t = t[..., ::-1].copy()
    if kind == "equal":
        t = np.zeros(shape)
    return t


@st.composite
def path_data(draw):
    """(states, times, lengths, n_states) in one of the accepted layouts, or a broken one."""
    layout = draw(st.sampled_from(["rect", "rect", "shared", "one", "ragged", "mismatch"]))
    n_paths, n_obs = draw(st.integers(0, 6)), draw(st.integers(0, 8))
    lengths = None
    if layout == "ragged":
        lens = draw(st.lists(st.integers(0, 8), min_size=1, max_size=5))
        states = [draw(label_arrays((k,))) for k in lens]
        times = [draw(time_arrays((k,))) for k in lens]
    elif layout == "one":
        states, times = draw(label_arrays((n_obs,))), draw(time_arrays((n_obs,)))
    else:
        states = draw(label_arrays((n_paths, n_obs)))
        t_shape = {"rect": (n_paths, n_obs), "shared": (n_obs,), "mismatch": (n_paths, n_obs + 1)}[layout]
        times = draw(time_arrays(t_shape))
        if draw(st.booleans()):
            lengths = draw(st.one_of(
                st.lists(st.integers(-1, n_obs + 1), min_size=n_paths, max_size=n_paths).map(np.array),
                st.sampled_from([None, "abc", [1.5], np.ones((2, 2))])))
    n_states = draw(st.one_of(st.none(), st.integers(0, 8), st.sampled_from([2.5, "3", True])))
    return states, times, lengths, n_states


@st.composite
def valid_paths(draw):
    """Well-formed paths (so that the fit itself is exercised): labels in 0..n-1, sorted times."""
    n = draw(st.integers(2, 5))
    n_paths, n_obs = draw(st.integers(1, 12)), draw(st.integers(2, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    sticky = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    states = rng.integers(0, n, size=(n_paths, n_obs))
    keep = rng.uniform(size=states.shape) < sticky
    for j in range(1, n_obs):
        states[:, j] = np.where(keep[:, j], states[:, j - 1], states[:, j])
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    if draw(st.booleans()):
        times = np.arange(n_obs) * scale
    else:
        times = np.sort(rng.uniform(0, n_obs * scale, size=(n_paths, n_obs)), axis=1)
        if draw(st.booleans()):
            times[:, 1] = times[:, 0]  # a zero lag
    lengths = rng.integers(1, n_obs + 1, size=n_paths) if draw(st.booleans()) else None
    return states, times, lengths, n


PARAMS = st.fixed_dictionaries({}, optional={
    "label_noise": st.sampled_from([0.0, 0.05, 0.3, "fit", 1.0, -0.1, "x"]),
    "adjacency": st.sampled_from(["random", "ones", None]),
    "max_iter": st.sampled_from([1, 5, 40]),
    "standard_errors": st.booleans(),
    "tol": st.sampled_from([1e-8, 1e-3, 0.0]),
})


# ---------------------------------------------------------------------------------------------------- properties
def _names_an_argument(err: BadInputError) -> None:
    msg = str(err)
    assert any(a in msg for a in ARGUMENTS) or "adata" in msg, msg


def _check_paths_property(data) -> None:
    states, times, lengths, n_states = data
    try:
        p = check_paths(states, times, lengths, n_states=n_states)
    except BadInputError as err:
        _names_an_argument(err)
        return
    assert isinstance(p, JumpPaths)
    assert p.states.dtype == np.int64 and p.times.dtype == np.float64 and p.lengths.dtype == np.int64
    assert p.states.shape == p.times.shape == (p.n_paths, p.states.shape[1])
    assert p.n_states >= 2 and np.all(p.lengths >= 1) and p.n_transitions >= 1
    assert p.states.min() >= 0 and p.states.max() < p.n_states
    assert np.all(np.isfinite(p.times)) and np.all(np.diff(p.times, axis=1) >= 0)


def _fit_property(states, times, lengths, n_states, params) -> None:
    params = dict(params)
    if params.get("adjacency") == "random":
        n = n_states if isinstance(n_states, int) and n_states >= 2 else 3
        params["adjacency"] = np.random.default_rng(n).uniform(size=(n, n)) < 0.6
    elif params.get("adjacency") == "ones":
        params["adjacency"] = None
    if params.get("max_iter", 40) == 40:
        params["max_iter"] = 40
    try:
        est = MJPMaximumLikelihood(n_states=n_states, **params).fit(states, times, lengths)
    except BadInputError as err:
        _names_an_argument(err)
        return
    q = est.rate_matrix_
    n = est.n_states_
    assert q.shape == (n, n) and np.all(np.isfinite(q))
    assert np.all(q[~np.eye(n, dtype=bool)] >= 0)
    RateMatrix(q)  # rows sum to zero within tolerance
    for std in (est.log_rate_std_, est.rate_std_):
        assert not np.isnan(std).any() and np.all(std >= 0)
    assert est.initial_distribution_.shape == (n,) and est.initial_distribution_.sum() == pytest.approx(1.0)
    assert 0.0 <= est.label_noise_ < 1.0 and not math.isnan(est.log_likelihood_)
    assert isinstance(est.converged_, bool) and isinstance(est.message_, str)


@settings(**FAST)
@given(path_data())
def test_check_paths_fuzz(data):
    _check_paths_property(data)


@pytest.mark.slow
@settings(**SLOW)
@given(path_data())
def test_check_paths_fuzz_slow(data):
    _check_paths_property(data)


@settings(**FAST)
@given(path_data(), PARAMS)
def test_fit_garbage_fuzz(data, params):
    states, times, lengths, n_states = data
    _fit_property(states, times, lengths, n_states, params)


@settings(**FAST)
@given(valid_paths(), PARAMS)
def test_fit_valid_fuzz(data, params):
    states, times, lengths, n = data
    _fit_property(states, times, lengths, n, params)


@pytest.mark.slow
@settings(**SLOW)
@given(path_data(), PARAMS)
def test_fit_garbage_fuzz_slow(data, params):
    states, times, lengths, n_states = data
    _fit_property(states, times, lengths, n_states, params)


@pytest.mark.slow
@settings(**SLOW)
@given(valid_paths(), PARAMS)
def test_fit_valid_fuzz_slow(data, params):
    states, times, lengths, n = data
    _fit_property(states, times, lengths, n, params)
