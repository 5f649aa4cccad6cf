"""Property-based fuzzing of the policy-evaluation simulators, ``exact_value`` and ``natural_features``.

Bad sizes, steps, horizons, jitters, starts, seeds and model parameters raise :class:`dynfer.BadInputError` naming the
argument; good arguments give finite data of the documented shape, a finite closed-form value on every row and
features of the documented width.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynfer import BadInputError
from dynfer.datasets.synthetic_control import (
    bm_terminal,
    ergodic_lq,
    exact_value,
    gbm_power,
    mean_variance,
    natural_features,
    ou_discounted,
)

SIMULATORS = {
    "ou_discounted": ou_discounted,
    "bm_terminal": bm_terminal,
    "gbm_power": gbm_power,
    "ergodic_lq": ergodic_lq,
    "mean_variance": mean_variance,
}
BAD_COMMON = st.one_of(
    st.fixed_dictionaries({"n_paths": st.sampled_from([0, -3, 1.5, "4", None, True, float("nan")])}),
    st.fixed_dictionaries({"dt": st.sampled_from([0.0, -0.1, 0.3, float("nan"), float("inf"), "x", None])}),
    st.fixed_dictionaries({"horizon": st.sampled_from([0.0, -1.0, float("nan"), "long", None])}),
    st.fixed_dictionaries({"jitter": st.sampled_from([-0.1, 1.0, 2.0, float("nan"), "x"])}),
    st.fixed_dictionaries({"seed": st.sampled_from(["a", -1, 1.5])}),
    st.fixed_dictionaries({"x0": st.sampled_from(["a", [1.0, 2.0, 3.0], [[1.0]], float("inf"), float("nan")])}),
    st.fixed_dictionaries({"dtype": st.sampled_from(["int64", "float16", 3])}),
)
BAD_SPECIFIC = st.sampled_from([
    ("ou_discounted", {"kappa": 0.0}), ("ou_discounted", {"sigma": -1.0}), ("ou_discounted", {"discount": 0.0}),
    ("bm_terminal", {"sigma": float("nan")}), ("gbm_power", {"mu": "x"}), ("gbm_power", {"power": 0.0}),
    ("gbm_power", {"x0": 0.0}), ("ergodic_lq", {"phi": (1.5, 0.0)}), ("ergodic_lq", {"phi": "ab"}),
    ("ergodic_lq", {"action_var": -1.0}), ("ergodic_lq", {"entropy_weight": -0.1}), ("ergodic_lq", {"M": None}),
    ("ergodic_lq", {"reward": "both"}), ("ergodic_lq", {"substeps": 0}), ("mean_variance", {"mu": 0.0}),
    ("mean_variance", {"sigma": 0.0}), ("mean_variance", {"temperature": 0.0}), ("mean_variance", {"w": "x"}),
    ("mean_variance", {"policy_var0": -1.0}), ("mean_variance", {"reward": 1}),
])
SMALL = {"n_paths": 2, "dt": 0.25, "horizon": 1.0}


def _bad_common(name, bad):
    key = next(iter(bad))
    with pytest.raises(BadInputError, match=key if key != "horizon" else "horizon|dt"):
        SIMULATORS[name](**{**SMALL, **bad})


def _bad_specific(case):
    name, bad = case
    with pytest.raises(BadInputError, match=next(iter(bad))):
        SIMULATORS[name](**{**SMALL, **bad})


def _good(name, n_paths, n_steps, horizon, jitter, seed, reward):
    kwargs = {"n_paths": n_paths, "dt": horizon / n_steps, "horizon": horizon, "jitter": jitter, "seed": seed}
    if name in ("ergodic_lq", "mean_variance"):
        kwargs.update(reward=reward, substeps=2)
    adata = SIMULATORS[name](**kwargs)
    assert adata.shape == (n_paths * (n_steps + 1), 1)
    assert all(np.isfinite(adata.obs[c].to_numpy()).all() for c in adata.obs.columns)
    assert np.isfinite(np.asarray(adata.X)).all()
    t = adata.obs["time"].to_numpy().reshape(n_paths, -1)
    assert (np.diff(t, axis=1) > 0).all()
    problem = adata.uns["policy_problem"]
    value = exact_value(problem, adata.obs["time"].to_numpy(), adata.X)
    assert value.shape == (adata.n_obs,) and np.isfinite(value).all()
    phi, names = natural_features(problem)
    feats = phi(torch.as_tensor(adata.obs["time"].to_numpy()), torch.as_tensor(np.asarray(adata.X, np.float64)))
    assert feats.shape == (adata.n_obs, len(names)) and bool(torch.isfinite(feats).all())


GOOD = {"name": st.sampled_from(sorted(SIMULATORS)), "n_paths": st.integers(1, 4), "n_steps": st.integers(1, 12),
        "horizon": st.floats(0.1, 3.0), "jitter": st.floats(0.0, 0.99), "seed": st.integers(0, 2**31 - 2),
        "reward": st.sampled_from(["relaxed", "sampled"])}


@given(name=st.sampled_from(sorted(SIMULATORS)), bad=BAD_COMMON)
@settings(max_examples=25, deadline=None, derandomize=True)
def test_fuzz_simulators_refuse_bad_common_arguments(name, bad):
    _bad_common(name, bad)


@given(case=BAD_SPECIFIC)
@settings(max_examples=20, deadline=None, derandomize=True)
def test_fuzz_simulators_refuse_bad_model_parameters(case):
    _bad_specific(case)


@given(**GOOD)
@settings(max_examples=15, deadline=None, derandomize=True)
def test_fuzz_simulators_give_finite_data_values_and_features(name, n_paths, n_steps, horizon, jitter, seed, reward):
    _good(name, n_paths, n_steps, horizon, jitter, seed, reward)


@given(x=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5),
       name=st.sampled_from(sorted(SIMULATORS)))
@settings(max_examples=20, deadline=None, derandomize=True)
def test_fuzz_exact_value_refuses_non_finite_states(x, name):
    problem = SIMULATORS[name](**SMALL, seed=0).uns["policy_problem"]
    arr = np.asarray(x)
    if name == "gbm_power":
        arr = np.abs(arr)
    if np.isfinite(arr).all():
        with np.errstate(over="ignore"):
            value = exact_value(problem, 0.5, arr)
        assert value.shape == arr.shape
    else:
        with pytest.raises(BadInputError, match="finite"):
            exact_value(problem, 0.5, arr)


@pytest.mark.slow
@given(name=st.sampled_from(sorted(SIMULATORS)), bad=BAD_COMMON)
@settings(max_examples=300, deadline=None)
def test_fuzz_simulators_refuse_bad_common_arguments_slow(name, bad):
    _bad_common(name, bad)


@pytest.mark.slow
@given(case=BAD_SPECIFIC)
@settings(max_examples=100, deadline=None)
def test_fuzz_simulators_refuse_bad_model_parameters_slow(case):
    _bad_specific(case)


@pytest.mark.slow
@given(**GOOD)
@settings(max_examples=200, deadline=None)
def test_fuzz_simulators_give_finite_data_values_and_features_slow(name, n_paths, n_steps, horizon, jitter, seed,
                                                                    reward):
    _good(name, n_paths, n_steps, horizon, jitter, seed, reward)
