"""Property-based fuzzing of the AnnData faces (tl, pl, the store): a clean BadInputError or a correct result.

Bad AnnData (NaN states, non-numeric or too few times, missing keys), bad arguments (sigma, n_iter, seeds, times,
n, keys) and damaged ``uns`` entries must raise :class:`dynfer.BadInputError` naming the argument or key, and leave
the user's AnnData as it was; never another exception, never NaN in a result.
"""

from __future__ import annotations

import copy
import json
import warnings

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.processes import OTConvergenceWarning

KEY = "schrodinger_bridge"
FAST = {"reference": "linear", "sigma": 0.3, "n_iter": 1, "seed": 0}


def _adata(n: int = 8, times=(0.0, 1.0, 2.0)) -> ad.AnnData:
    rng = np.random.default_rng(0)
    adata = ad.AnnData(np.concatenate([rng.normal(size=(n, 2)) + k for k in range(len(times))]))
    adata.obs["time"] = np.repeat(np.asarray(times, dtype=float), n)
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    return adata


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    adata = _adata()
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        dynfer.tl.schrodinger_bridge(adata, **FAST)
    return adata


def _state(adata: ad.AnnData) -> tuple:
    return (np.asarray(adata.X).copy(), adata.obs.copy(), sorted(adata.uns), list(adata.obsm))


def _same_state(a: tuple, b: tuple) -> None:
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].equals(b[1]) and a[2:] == b[2:]


BAD_FIT_ARGS = st.one_of(
    st.fixed_dictionaries({"sigma": st.sampled_from([-1.0, 0.0, float("nan"), float("inf"), "big", None, [0.1]])}),
    st.fixed_dictionaries({"n_iter": st.sampled_from([0, -3, 1.5, True, "2", None])}),
    st.fixed_dictionaries({"seed": st.sampled_from(["a", -1, 1.5, [1], {}])}),
    st.fixed_dictionaries({"use_rep": st.sampled_from(["X_missing", "", 3])}),
    st.fixed_dictionaries({"time_key": st.sampled_from(["nope", ""])}),
    st.fixed_dictionaries({"train_key": st.sampled_from(["nope"])}),
    st.fixed_dictionaries({"reference": st.sampled_from(["quadratic", "", 3, None])}),
    st.fixed_dictionaries({"p_step": st.sampled_from(["sinkhorn", "", 1])}),
    st.fixed_dictionaries({"steps_per_unit": st.sampled_from([0, -1.0, float("nan"), "x"])}),
    st.fixed_dictionaries({"coupling_kwargs": st.sampled_from([{"bogus": 1}, [1], "x"])}),
    st.fixed_dictionaries({"sigmaa": st.just(0.1)}),
)


@given(bad=BAD_FIT_ARGS)
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bad_fit_arguments_raise_bad_input_and_leave_adata_alone(bad):
    adata = _adata()
    before = _state(adata)
    with pytest.raises(BadInputError) as info:
        dynfer.tl.schrodinger_bridge(adata, **{**FAST, **bad})
    name = next(iter(bad))
    message = str(info.value)
    assert name in message or (name == "reference" and "famil" in message) or (name == "time_key" and "time" in
                                                                                 message), message
    _same_state(before, _state(adata))


BAD_DATA = st.sampled_from(["nan_x", "inf_x", "text_time", "nan_time", "two_times", "one_cell", "empty", "ragged_rep",
                            "nan_rep"])


@given(kind=BAD_DATA)
@settings(max_examples=20, deadline=None, derandomize=True)
def test_bad_data_raise_bad_input(kind):
    adata = _adata()
    kwargs = dict(FAST)
    if kind in ("nan_x", "inf_x"):
        x = np.asarray(adata.X).copy()
        x[3, 1] = np.nan if kind == "nan_x" else np.inf
        adata.X = x
    elif kind == "text_time":
        adata.obs["time"] = ["t"] * adata.n_obs
    elif kind == "nan_time":
        t = adata.obs["time"].to_numpy().copy()
        t[0] = np.nan
        adata.obs["time"] = t
    elif kind == "two_times":
        adata = adata[adata.obs["time"] < 2].copy()
    elif kind == "one_cell":
        adata = adata[[0, 8, 16]].copy()
    elif kind == "empty":
        adata = adata[:0].copy()
    elif kind in ("ragged_rep", "nan_rep"):
        rep = np.asarray(adata.X).copy()
        if kind == "nan_rep":
            rep[5, 0] = np.nan
            adata.obsm["X_rep"] = rep
        else:
            adata.obsm["X_rep"] = rep[:, :0]
        kwargs["use_rep"] = "X_rep"
    before = _state(adata)
    with pytest.raises(BadInputError):
        dynfer.tl.schrodinger_bridge(adata, **kwargs)
    _same_state(before, _state(adata))


TIMES = st.one_of(
    st.just([]), st.just([float("nan")]), st.just([5.0]), st.just([-0.5]), st.just("soon"), st.just([[0.5]]),
    st.just([0.5, "x"]),
    st.lists(st.floats(-10, 10), min_size=1, max_size=3).filter(lambda v: max(v) > 2 + 1e-9 or min(v) < -1e-9),
)


@given(times=TIMES)
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_interpolate_bad_times_raise_bad_input(fitted, times):
    with pytest.raises(BadInputError, match="times"):
        dynfer.tl.interpolate(fitted, times, seed=0)


@given(times=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=4), n=st.integers(1, 24), seed=st.integers(0, 99))
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_interpolate_good_times_give_finite_samples(fitted, times, n, seed):
    out = dynfer.tl.interpolate(fitted, times, n=n, seed=seed)
    assert out.n_obs == n * len(times) and np.isfinite(out.X).all()
    np.testing.assert_array_equal(out.obs["time"].to_numpy(), np.repeat(times, n))


@given(n=st.sampled_from([0, -1, 10_000, 1.5, "3", True]))
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_interpolate_bad_n_raises_bad_input(fitted, n):
    with pytest.raises(BadInputError, match="n "):
        dynfer.tl.interpolate(fitted, [0.5], n=n, seed=0)


DAMAGE = st.sampled_from(["no_params", "bad_json", "no_state", "state_missing_paths", "unknown_estimator",
                          "newer_format", "not_a_dict", "wrong_param", "bad_shape_state"])


@given(kind=DAMAGE)
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_uns_entries_raise_bad_input_for_every_consumer(fitted, kind):
    adata = fitted.copy()
    entry = copy.deepcopy(dict(adata.uns[KEY]))
    if kind == "no_params":
        entry.pop("params")
    elif kind == "bad_json":
        entry["params"] = entry["params"][:-5]
    elif kind == "no_state":
        entry.pop("state")
    elif kind == "state_missing_paths":
        entry["state"] = {k: v for k, v in entry["state"].items() if k != "paths"}
    elif kind == "unknown_estimator":
        entry["estimator"] = "NoSuchEstimator"
    elif kind == "newer_format":
        entry["format_version"] = 99
    elif kind == "not_a_dict":
        entry = "fitted"
    elif kind == "wrong_param":
        params = json.loads(entry["params"])
        params["no_such_parameter"] = 1
        entry["params"] = json.dumps(params)
    elif kind == "bad_shape_state":
        entry["state"] = {**entry["state"], "reference": {"A": np.zeros((3, 3)), "b": np.zeros(3)}}
    adata.uns[KEY] = entry
    for consumer in (lambda: dynfer.tl.interpolate(adata, [0.5], seed=0),
                     lambda: dynfer.pl.schrodinger_bridge(adata, show=False),
                     lambda: dynfer.tl.load_estimator(adata, KEY)):
        with pytest.raises(BadInputError):
            consumer()
    plt.close("all")


@given(scale=st.floats(1.5, 100.0), drop=st.integers(1, 5))
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_changed_data_is_refused_by_every_consumer(fitted, scale, drop):
    for changed in (fitted.copy(), fitted[drop:].copy()):
        if changed.n_obs == fitted.n_obs:
            changed.X = np.asarray(changed.X) * scale
        for consumer in (lambda a=changed: dynfer.tl.interpolate(a, [0.5], seed=0),
                         lambda a=changed: dynfer.pl.schrodinger_bridge(a, show=False)):
            with pytest.raises(dynfer.tl.InputsChangedError):
                consumer()


@pytest.mark.slow
@given(bad=BAD_FIT_ARGS, kind=BAD_DATA)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bad_fits_many(bad, kind):
    test_bad_fit_arguments_raise_bad_input_and_leave_adata_alone.hypothesis.inner_test(bad)
    test_bad_data_raise_bad_input.hypothesis.inner_test(kind)


# ------------------------------------------------------------------ tl.mjp (Markov jump processes)

MJP_KEY = "mjp"


def _mjp_adata(n_paths: int = 6, n_times: int = 8) -> ad.AnnData:
    return dynfer.datasets.flashing_ratchet_paths(n_paths=n_paths, n_times=n_times, seed=0)


BAD_MJP_ARGS = st.one_of(
    st.fixed_dictionaries({"method": st.sampled_from(["bayes", "", "MLE", None, 3])}),
    st.fixed_dictionaries({"state_key": st.sampled_from(["nope", "", 3, None])}),
    st.fixed_dictionaries({"time_key": st.sampled_from(["nope", "", 3])}),
    st.fixed_dictionaries({"trajectory_key": st.sampled_from(["", 3, None])}),
    st.fixed_dictionaries({"n_states": st.sampled_from([0, 1, -2, 1.5, "6", True, 3])}),
    st.fixed_dictionaries({"key_added": st.sampled_from(["", "a/b", 3])}),
    st.fixed_dictionaries({"max_iter": st.sampled_from([0, -1, 1.5, "x"])}),
    st.fixed_dictionaries({"label_noise": st.sampled_from([-0.1, 1.0, 1.5, float("nan"), "x"])}),
    st.fixed_dictionaries({"adjacency": st.sampled_from([np.ones((3, 3), bool), "all", [[1, 0]]])}),
    st.fixed_dictionaries({"max_itr": st.just(3)}),
)


@given(bad=BAD_MJP_ARGS)
@settings(max_examples=30, deadline=None, derandomize=True)
def test_mjp_bad_arguments_raise_bad_input_and_leave_adata_alone(bad):
    adata = _mjp_adata()
    before = (adata.obs.copy(), sorted(adata.uns), list(adata.obsm))
    with pytest.raises(BadInputError) as info:
        dynfer.tl.mjp(adata, **{"method": "mle", **bad})
    name = next(iter(bad))
    message = str(info.value)
    assert name in message or (name in ("state_key", "time_key") and repr(bad[name]) in message), message
    assert adata.obs.equals(before[0]) and (sorted(adata.uns), list(adata.obsm)) == before[1:]


BAD_MJP_DATA = st.sampled_from(["fractional", "negative", "nan_state", "text_state", "bool_state", "nan_time",
                                "text_time", "inf_time", "one_point_each", "empty", "missing_trajectory", "gap"])


@given(kind=BAD_MJP_DATA)
@settings(max_examples=24, deadline=None, derandomize=True)
def test_mjp_bad_data_raise_bad_input_naming_the_column(kind):
    adata = _mjp_adata()
    column = "state"
    s = adata.obs["state"].to_numpy().copy()
    if kind == "fractional":
        adata.obs["state"] = s + 0.5
    elif kind == "negative":
        s[3] = -1
        adata.obs["state"] = s
    elif kind == "nan_state":
        adata.obs["state"] = np.where(np.arange(len(s)) == 2, np.nan, s)
    elif kind == "text_state":
        adata.obs["state"] = [f"s{v}" for v in s]
    elif kind == "bool_state":
        adata.obs["state"] = s > 2
    elif kind in ("nan_time", "inf_time", "text_time"):
        column = "time"
        t = adata.obs["time"].to_numpy().copy()
        if kind == "text_time":
            adata.obs["time"] = ["t"] * adata.n_obs
        else:
            t[4] = np.nan if kind == "nan_time" else np.inf
            adata.obs["time"] = t
    elif kind == "one_point_each":
        adata = adata[adata.obs["time"] == 0.0].copy()
    elif kind == "empty":
        adata = adata[:0].copy()
    elif kind == "missing_trajectory":
        column = "trajectory"
        traj = adata.obs["trajectory"].astype(object).to_numpy().copy()
        traj[1] = None
        adata.obs["trajectory"] = traj
    elif kind == "gap":  # labels 0..5 with 2 never observed and no n_states
        adata.obs["state"] = np.where(s == 2, 5, s)
    before = (adata.obs.copy(), sorted(adata.uns))
    with pytest.raises(BadInputError) as info:
        dynfer.tl.mjp(adata, method="mle")
    assert column in str(info.value) or kind in ("one_point_each", "empty"), str(info.value)
    assert adata.obs.equals(before[0]) and sorted(adata.uns) == before[1]


@given(n_paths=st.integers(1, 4), n_times=st.integers(2, 7), n_labels=st.integers(2, 4), seed=st.integers(0, 999),
       irregular=st.booleans())
@settings(max_examples=8, deadline=None, derandomize=True)
def test_mjp_small_random_paths_fit_or_raise_bad_input(n_paths, n_times, n_labels, seed, irregular):
    rng = np.random.default_rng(seed)
    states = rng.integers(0, n_labels, size=n_paths * n_times)
    times = np.tile(np.arange(n_times, dtype=float), n_paths)
    if irregular:
        times = np.concatenate([np.sort(rng.uniform(0, 5, n_times)) for _ in range(n_paths)])
    adata = ad.AnnData(obs={"state": states, "time": times,
                            "trajectory": np.repeat(np.arange(n_paths), n_times).astype(str)})
    adata.obs_names = [f"r{i}" for i in range(adata.n_obs)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dynfer.tl.mjp(adata, method="mle", n_states=n_labels)
    except BadInputError:
        return
    entry = adata.uns[MJP_KEY]
    q = np.asarray(entry["rate_matrix"])
    assert q.shape == (n_labels, n_labels) and np.isfinite(q).all()
    np.testing.assert_allclose(q.sum(1), 0.0, atol=1e-8 * max(1.0, np.abs(q).sum()))
    assert (q[~np.eye(n_labels, dtype=bool)] >= 0).all()
    est = dynfer.tl.load_estimator(adata, MJP_KEY)
    np.testing.assert_array_equal(est.rate_matrix_, q)


@pytest.fixture(scope="module")
def mjp_fitted() -> ad.AnnData:
    adata = _mjp_adata(n_paths=20, n_times=10)
    dynfer.tl.mjp(adata, method="mle")
    return adata


MJP_DAMAGE = st.sampled_from(["no_params", "no_state", "no_results", "bad_rates", "unknown_estimator",
                              "newer_format", "not_a_dict", "wrong_param"])


@given(kind=MJP_DAMAGE)
@settings(max_examples=16, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mjp_damaged_entries_raise_bad_input_for_every_consumer(mjp_fitted, kind):
    adata = mjp_fitted.copy()
    entry = copy.deepcopy(dict(adata.uns[MJP_KEY]))
    if kind in ("no_params", "no_state"):
        entry.pop(kind[3:])
    elif kind == "no_results":
        entry.pop("results")
        entry["state"] = {}
    elif kind == "bad_rates":
        entry["results"] = {**entry["results"], "rate_matrix": np.full((6, 5), np.nan)}
        entry["state"] = {k: v for k, v in entry["state"].items() if "rate" not in k}
    elif kind == "unknown_estimator":
        entry["estimator"] = "NoSuchEstimator"
    elif kind == "newer_format":
        entry["format_version"] = 99
    elif kind == "not_a_dict":
        entry = "fitted"
    elif kind == "wrong_param":
        params = json.loads(entry["params"])
        params["no_such_parameter"] = 1
        entry["params"] = json.dumps(params)
    adata.uns[MJP_KEY] = entry
    consumers = [lambda: dynfer.pl.mjp_histograms(adata, n_paths=5, seed=0, show=False),
                 lambda: dynfer.tl.load_estimator(adata, MJP_KEY)]
    if kind in ("no_params", "no_state", "no_results", "bad_rates", "newer_format", "not_a_dict"):
        consumers.append(lambda: dynfer.pl.mjp_graph(adata, show=False))
    for consumer in consumers:
        with pytest.raises(BadInputError):
            consumer()
    plt.close("all")


@pytest.mark.slow
@given(bad=BAD_MJP_ARGS, kind=BAD_MJP_DATA)
@settings(max_examples=150, deadline=None)
def test_mjp_bad_fits_many(bad, kind):
    test_mjp_bad_arguments_raise_bad_input_and_leave_adata_alone.hypothesis.inner_test(bad)
    test_mjp_bad_data_raise_bad_input_naming_the_column.hypothesis.inner_test(kind)


@pytest.mark.slow
@given(n_paths=st.integers(1, 8), n_times=st.integers(2, 12), n_labels=st.integers(2, 5), seed=st.integers(0, 10**6),
       irregular=st.booleans())
@settings(max_examples=60, deadline=None)
def test_mjp_random_paths_many(n_paths, n_times, n_labels, seed, irregular):
    test_mjp_small_random_paths_fit_or_raise_bad_input.hypothesis.inner_test(n_paths, n_times, n_labels, seed,
                                                                              irregular)
