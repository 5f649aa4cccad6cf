"""Property-based fuzzing of the array-level estimators: bad snapshots, parameters, calls and files.

Every bad input raises :class:`dynfer.BadInputError`; a loaded file that is not a dynfer estimator never runs code.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.estimators import Estimator
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.processes import OTConvergenceWarning

RNG = np.random.default_rng(0)
GOOD = [RNG.normal(size=(6, 2)) + k for k in range(3)]
TIMES = [0.0, 1.0, 2.0]


@pytest.fixture(scope="module")
def fitted():
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        return SchrodingerBridge("linear", sigma=0.3, n_iter=1, seed=0).fit(GOOD, TIMES)


def _bad_snapshots(kind: str):
    if kind == "nan":
        xs = [x.copy() for x in GOOD]
        xs[1][2, 0] = np.nan
        return xs, TIMES
    return {
        "one_array": (GOOD[0], TIMES), "vectors": ([x[:, 0] for x in GOOD], TIMES), "two_times": (GOOD[:2], TIMES[:2]),
        "dims": ([GOOD[0], GOOD[1][:, :1], GOOD[2]], TIMES), "order": (GOOD, [0.0, 2.0, 1.0]),
        "ties": (GOOD, [0.0, 1.0, 1.0]), "length": (GOOD, TIMES[:2]), "strings": (["a", "b", "c"], TIMES),
        "one_particle": ([x[:1] for x in GOOD], TIMES), "nan_time": (GOOD, [0.0, np.nan, 2.0]),
        "text_times": (GOOD, "soon"), "none": (None, TIMES),
    }[kind]


@given(kind=st.sampled_from(["nan", "one_array", "vectors", "two_times", "dims", "order", "ties", "length", "strings",
                             "one_particle", "nan_time", "text_times", "none"]))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_bad_snapshots_raise_bad_input(kind):
    xs, times = _bad_snapshots(kind)
    with pytest.raises(BadInputError):
        SchrodingerBridge("linear", sigma=0.3, n_iter=1, seed=0).fit(xs, times)


@given(bad=st.one_of(
    st.fixed_dictionaries({"sigma": st.sampled_from([-1, 0, "x", float("nan"), None])}),
    st.fixed_dictionaries({"fit_sigma": st.sampled_from(["yes", 2, None])}),
    st.fixed_dictionaries({"n_iter": st.sampled_from([0, 1.5, "3", True])}),
    st.fixed_dictionaries({"reg": st.sampled_from([0, -1, float("inf")])}),
    st.fixed_dictionaries({"tol": st.sampled_from([-1e-3, "x"])}),
    st.fixed_dictionaries({"min_steps": st.sampled_from([0, 2.5])}),
    st.fixed_dictionaries({"reference_kwargs": st.sampled_from([[1], "x", {"alpha": "x"}])}),
    st.fixed_dictionaries({"dtype": st.sampled_from(["int64", torch.int32, "nope", 3])}),
    st.fixed_dictionaries({"device": st.sampled_from(["tpu", "cuda:99" if not torch.cuda.is_available() else "tpu"])}),
    st.fixed_dictionaries({"init": st.sampled_from(["nope", 3])}),
))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_bad_parameters_are_stored_then_refused_by_fit(bad):
    est = SchrodingerBridge("linear", **{"sigma": 0.3, "n_iter": 1, "seed": 0, **bad})
    with pytest.raises(BadInputError, match=next(iter(bad))):
        est.fit(GOOD, TIMES)


@given(times=st.one_of(st.just([]), st.just("x"), st.just([[0.5]]), st.just([3.0]), st.just([np.nan])),
       n=st.one_of(st.none(), st.sampled_from([0, -1, 10**6, 1.5, "2"])))
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bad_sample_calls_raise_bad_input(fitted, times, n):
    with pytest.raises(BadInputError):
        fitted.sample(times, n=n, seed=0)


@given(data=st.binary(max_size=256))
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_loading_arbitrary_bytes_is_a_clean_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("junk") / "model.pt"
    path.write_bytes(data)
    with pytest.raises(BadInputError, match="model.pt"):
        Estimator.load(path)


@given(drop=st.sampled_from(["paths", "grid", "reference", "history", "dim", "dtype"]))
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_incomplete_states_are_refused(fitted, drop):
    state = {k: v for k, v in fitted.state_dict().items() if k != drop}
    with pytest.raises(BadInputError, match="state"):
        SchrodingerBridge.from_state(fitted.stored_params(), state)
