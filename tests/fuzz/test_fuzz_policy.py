"""Property-based fuzzing of PolicyData, MartingalePolicyEvaluation and tl.policy_evaluation.

Strategies draw ragged trajectories (1 to 12 samples, some with repeated, decreasing, NaN or infinite times),
states of dimension 1 to 3 (sometimes NaN or huge), rewards aligned or not, terminal rewards of any length or
NaN, and every method, feature family, setting, discount (negative and NaN too), trace parameter, variant and step
size option. The property, for every call: ``fit`` returns an estimator whose ``value`` is finite with one entry
per point asked, or raises :class:`dynfer.BadInputError`; never another exception. The default run draws a few
dozen examples (seconds); the ``slow`` twins draw hundreds (``pytest -m slow tests/fuzz/test_fuzz_policy.py``).
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta

import anndata as ad
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynfer import BadInputError
from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData
from dynfer.tl._policy_evaluation import policy_evaluation, policy_value

FAST = {"max_examples": 25, "derandomize": True, "database": None, "deadline": timedelta(seconds=30),
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
SLOW = {**FAST, "max_examples": 300}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@st.composite
def trajectories(draw):
    n_traj = draw(st.integers(1, 4))
    dim = draw(st.integers(1, 3))
    times, states, rewards = [], [], []
    for _ in range(n_traj):
        n = 1 if draw(st.integers(0, 19)) == 19 else draw(st.integers(2, 12))
        steps = np.array(draw(st.lists(st.sampled_from([0.01, 0.05, 0.1, 0.3, 1.0]), min_size=n, max_size=n)))
        t = np.cumsum(steps) + draw(st.sampled_from([0.0, 0.0, 2.0]))
        if n > 1 and draw(st.integers(0, 14)) == 14:
            t[draw(st.integers(0, n - 1))] = draw(st.sampled_from([math.nan, math.inf, -1.0, t[0]]))
        seed = draw(st.integers(0, 2**16))
        x = np.random.default_rng(seed).normal(size=(n, dim))
        if draw(st.integers(0, 19)) == 19:
            x[0, 0] = draw(st.sampled_from([math.nan, math.inf, 1e200]))
        r = x[:, 0] ** 2
        if draw(st.integers(0, 19)) == 19:
            r = r[:-1] if n > 1 else np.append(r, 1.0)
        if draw(st.integers(0, 29)) == 29:
            r = r.copy()
            r[0] = math.nan
        times.append(t)
        states.append(x if dim > 1 or draw(st.booleans()) else x[:, 0])
        rewards.append(r)
    terminal = None
    if draw(st.booleans()):
        ends = np.array([s[-1, 0] if s.ndim == 2 else s[-1] for s in states]) ** 2
        kind = draw(st.sampled_from(["ok", "ok", "ok", "ok", "short", "nan"]))
        terminal = ends if kind == "ok" else ends[:-1] if kind == "short" else np.full(n_traj, math.nan)
        if draw(st.integers(0, 5)) < 5:  # a finite horizon needs a common end time
            end = max(float(t[-1]) for t in times if t.size and np.isfinite(t[-1]))
            times = [t + (end - t[-1]) if t.size and np.isfinite(t[-1]) else t for t in times]
    return PolicyData(times, states, rewards, terminal), dim


GOOD = {
    "method": ["martingale", "td", "lstd", "gtd", "mstde"],
    "features": ["polynomial", "polynomial", "rbf", "mlp"],
    "degree": [1, 2, 2, 3],
    "discount": [0.0, 0.5, 2.0],
    "setting": ["auto", "auto", "auto", "finite", "discounted", "ergodic"],
    "lam": [0.0, 0.0, 0.5, 1.0],
    "variant": ["gtd", "gtd2", "tdc"],
    "schedule": ["constant", "power", "log", 0.7],
    "n_epochs": [1, 3],
    "tol": [1e-8, 0.0, 1e-3],
    "batch_size": [None, 1, 2],
    "weights": ["reference", "relative"],
    "hidden": [(4,), (4, 4)],
    "n_centers": [1, 3],
}
BAD = {"method": "nope", "degree": -1, "discount": math.nan, "lam": 1.5, "variant": "x", "schedule": 0.2,
       "n_epochs": 0, "tol": -1.0, "batch_size": 0, "weights": "x", "features": "splines", "n_centers": 0,
       "setting": "x"}


@st.composite
def parameters(draw, finite: bool = False):
    """Mostly valid parameter sets (the fit must then succeed or name the data); one in five has a bad value."""
    params = {k: draw(st.sampled_from(v)) for k, v in GOOD.items()}
    if params["method"] in ("lstd", "gtd") and params["features"] == "mlp":
        params["features"] = "polynomial"
    if params["method"] not in ("td", "lstd"):
        params["lam"] = 0.0
    if params["setting"] == "discounted" and params["discount"] == 0.0:
        params["discount"] = 0.5
    if params["setting"] == "ergodic":
        params["discount"] = 0.0
    if params["setting"] == "finite" and not finite:
        params["setting"] = "auto"
    if params["setting"] in ("discounted", "ergodic") and finite:
        params["setting"] = "auto"
    if draw(st.integers(0, 4)) == 4:
        name = draw(st.sampled_from(sorted(BAD)))
        params[name] = BAD[name]
    return params


def check_fit(data, dim, params):
    try:
        est = MartingalePolicyEvaluation(**params, seed=0).fit(data)
    except BadInputError:
        return
    x = np.linspace(-1, 1, 3 * dim).reshape(3, dim)
    out = est.value(np.array([0.0, 0.5, 1.0]), x)
    assert out.shape == (3,) and np.isfinite(out).all()
    res = est.results()
    assert np.isfinite(res["coef"]).all() and res["setting"] in ("finite", "discounted", "ergodic")


@st.composite
def cases(draw):
    data, dim = draw(trajectories())
    return data, dim, draw(parameters(finite=data.terminal_rewards is not None))


@settings(**FAST)
@given(cases())
def test_fit_gives_a_finite_value_or_a_bad_input_error(case):
    check_fit(*case)


@pytest.mark.slow
@settings(**SLOW)
@given(cases())
def test_fit_gives_a_finite_value_or_a_bad_input_error_slow(case):
    check_fit(*case)


@st.composite
def policy_adata(draw):
    n_traj, n = draw(st.integers(1, 3)), draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.normal(size=(n_traj * n, 1))
    adata = ad.AnnData(x)
    adata.obs_names = [f"r{i}" for i in range(adata.n_obs)]
    repeated = draw(st.integers(0, 9)) == 9
    adata.obs["time"] = np.zeros(n_traj * n) if repeated else np.tile(np.arange(n) * 0.1, n_traj)
    if draw(st.integers(0, 5)) < 5:
        adata.obs["trajectory"] = np.repeat(np.arange(n_traj), n).astype(str)
    reward = draw(st.integers(0, 9))  # 0..6: numbers; 7: NaN; 8: text; 9: no column
    if reward <= 6:
        adata.obs["reward"] = x[:, 0] ** 2
    elif reward == 7:
        adata.obs["reward"] = np.nan
    elif reward == 8:
        adata.obs["reward"] = "a"
    terminal = "h" if draw(st.booleans()) else None
    if terminal:
        h = np.full(adata.n_obs, np.nan)
        if draw(st.integers(0, 4)) < 4:
            h[n - 1 :: n] = 1.0
        adata.obs["h"] = h
    adata = adata[rng.permutation(adata.n_obs)].copy()
    return adata, terminal


FACE_PARAMS = st.fixed_dictionaries({
    "method": st.sampled_from(["martingale", "td", "lstd", "gtd", "mstde"]),
    "discount": st.sampled_from([0.0, 1.0, -1.0]),
    "n_epochs": st.sampled_from([2]),
})


def check_face(drawn, params):
    adata, terminal = drawn
    try:
        policy_evaluation(adata, terminal_key=terminal, **params)
    except BadInputError:
        assert "policy_evaluation" not in adata.uns
        return
    values = policy_value(adata)
    assert values.shape == (adata.n_obs,) and np.isfinite(values).all()


@settings(**FAST)
@given(policy_adata(), FACE_PARAMS)
def test_face_stores_a_finite_value_or_raises_bad_input(drawn, params):
    check_face(drawn, params)


@pytest.mark.slow
@settings(**SLOW)
@given(policy_adata(), FACE_PARAMS)
def test_face_stores_a_finite_value_or_raises_bad_input_slow(drawn, params):
    check_face(drawn, params)
