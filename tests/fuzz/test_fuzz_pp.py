"""Property-based fuzzing of ``dynfer.pp``: a finite AnnData result, or a clean BadInputError and ``adata`` untouched.

Each example builds valid snapshot, trajectory or current data and an argument set, then applies at most one fault:
NaN, infinite or huge values in ``X``, float16 / integer / boolean / sparse ``X``, no cells or no features, constant
``X``, missing, non-numeric, NaN or non-monotone times, trajectories split in blocks, and out-of-range, wrongly typed
or unknown arguments. The property, for every call:

* it returns (``copy=True``) or writes (``copy=False``) an AnnData whose ``X``, ``obsm`` and numeric ``uns`` entries
  are finite, or
* it raises :class:`dynfer.BadInputError` naming the argument or the part of ``adata`` at fault, and leaves ``adata``
  as it was;

never another exception, never NaN in a result, never a hang (a deadline per example; ``settings.max_work`` lowered).

The default run draws a few dozen examples per function (seconds); the ``slow`` twins draw hundreds each
(``pytest -m slow tests/fuzz/test_fuzz_pp.py``).
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta

import anndata as ad
import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import dynfer
from dynfer import BadInputError, pp

QUICK = settings(max_examples=20, derandomize=True, database=None, deadline=timedelta(seconds=20),
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = settings(QUICK, max_examples=250)
NAMES = {"adata", "X", "obs", "time", "holdout", "key_added", "n", "seed", "per", "n_comps", "times",
         "trajectory", "n_states", "method", "current", "n_iter", "shared_noise"}


@pytest.fixture(autouse=True)
def _quiet():
    with dynfer.settings.override(max_work=1e9), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy / sklearn chatter about small data
        yield


# ---------------------------------------------------------------------------------------------------- data
def _snapshots(x: np.ndarray, times: np.ndarray) -> ad.AnnData:
    adata = ad.AnnData(x)
    adata.obs["time"] = times
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    adata.var_names = [f"g{j}" for j in range(adata.n_vars)]
    return adata


@st.composite
def snapshot_data(draw, trajectories=False):
    """Snapshot (or trajectory) data with 1-4 features at 3-5 time points, possibly damaged in one way."""
    n_times, per, d = draw(st.integers(3, 5)), draw(st.integers(2, 6)), draw(st.integers(1, 4))
    grid = np.cumsum([0.0] + draw(st.lists(st.floats(0.1, 2.0), min_size=n_times - 1, max_size=n_times - 1)))
    x = draw(st.one_of(  # random states, or hypothesis's own (often repeated, shrinking) values
        st.integers(0, 2**16).map(lambda seed: np.random.default_rng(seed).normal(size=(n_times * per, d))),
        hnp.arrays(np.float64, (n_times * per, d), elements=st.floats(-5, 5))))
    if trajectories:  # rows ordered by (trajectory, time): per paths, each observed at every time
        times = np.tile(grid, per)
        labels = np.repeat([f"p{k}" for k in range(per)], n_times)
    else:
        times, labels = np.repeat(grid, per), None
    fault = draw(st.sampled_from([None] * 6 + list(DATA_FAULTS)))
    if fault is not None:
        x, times, labels = DATA_FAULTS[fault](x, times, labels)
    try:
        adata = _snapshots(x, times)
    except (TypeError, ValueError):  # anndata itself refuses this X: not dynfer's to check
        adata = _snapshots(np.zeros((len(times), 1)), times)
    if labels is not None:
        adata.obs["trajectory"] = labels
    return adata


def _nan(x, t, lab):
    x = x.copy()
    x.flat[0] = math.nan
    return x, t, lab


DATA_FAULTS = {
    "nan_x": _nan,
    "inf_x": lambda x, t, lab: (np.where(np.arange(x.size).reshape(x.shape) == 1, math.inf, x), t, lab),
    "huge_x": lambda x, t, lab: (x * 1e300, t, lab),
    "tiny_x": lambda x, t, lab: (x * 1e-300, t, lab),
    "float16_x": lambda x, t, lab: ((x * 1e3).astype(np.float16), t, lab),
    "float16_big": lambda x, t, lab: (np.clip(x * 2e4, -6e4, 6e4).astype(np.float16), t, lab),
    "int_x": lambda x, t, lab: (np.round(x).astype(np.int64), t, lab),
    "bool_x": lambda x, t, lab: (x > 0, t, lab),
    "sparse_x": lambda x, t, lab: (sparse.csr_matrix(np.where(np.abs(x) > 2, x, 0.0)), t, lab),
    "zero_x": lambda x, t, lab: (np.zeros_like(x), t, lab),
    "no_features": lambda x, t, lab: (x[:, :0], t, lab),
    "one_cell": lambda x, t, lab: (x[:1], t[:1], None if lab is None else lab[:1]),
    "no_cells": lambda x, t, lab: (x[:0], t[:0], None if lab is None else lab[:0]),
    "nan_time": lambda x, t, lab: (x, np.where(np.arange(len(t)) == 0, math.nan, t), lab),
    "string_time": lambda x, t, lab: (x, np.array([f"t{v}" for v in t], dtype=object), lab),
    "one_time": lambda x, t, lab: (x, np.zeros_like(t), lab),
    "shuffled": lambda x, t, lab: (x, t[::-1].copy(), lab),
    "split_paths": lambda x, t, lab: (x, t, None if lab is None else np.roll(lab, 1)),
    "nan_labels": lambda x, t, lab: (x, t, None if lab is None else np.where(np.arange(len(lab)) == 0, None, lab)),
}


# ---------------------------------------------------------------------------------------------------- the property
def _numeric_finite(value, where):
    if isinstance(value, dict):
        for k, v in value.items():
            _numeric_finite(v, f"{where}[{k!r}]")
    elif isinstance(value, pd.DataFrame):
        for col in value.select_dtypes("number"):
            _numeric_finite(value[col].to_numpy(), f"{where}.{col}")
    elif sparse.issparse(value):
        _numeric_finite(value.data, where)
    elif isinstance(value, np.ndarray | np.number | float) and np.asarray(value).dtype.kind == "f":
        assert np.isfinite(value).all(), f"{where} holds NaN or infinite values"


def _snapshot(adata):
    x = adata.X
    x = x.toarray() if sparse.issparse(x) else np.array(x, copy=True)
    return x, adata.obs.copy(), sorted(adata.uns), sorted(adata.obsm), adata.shape


def _same(before, after):
    np.testing.assert_array_equal(before[0], after[0])
    assert before[1].equals(after[1]) and before[2:] == after[2:], "adata changed although the call was refused"


def check(fn, adata, kwargs, copy):
    """``fn(adata, **kwargs, copy=copy)``: finite output, or a BadInputError naming an argument, adata untouched."""
    before = _snapshot(adata)
    try:
        out = fn(adata, **kwargs, copy=copy)
    except BadInputError as err:
        text = str(err)
        assert any(name in text for name in NAMES | set(map(str, kwargs.values()))), f"names no argument: {text}"
        _same(before, _snapshot(adata))
        return None
    result = out if copy else adata
    assert isinstance(result, ad.AnnData) and (out is None) != copy
    _numeric_finite(result.X, "X")
    for key, value in result.obsm.items():
        _numeric_finite(np.asarray(value), f"obsm[{key!r}]")
    _numeric_finite(dict(result.uns), "uns")
    return result


def fuzz_pair(strategy, prop):
    """The default-run test of ``prop`` on ``strategy`` examples, and its ``slow`` twin drawing hundreds more."""
    def case_test(case):  # a named function: pytest.mark would take a lambda for a mark argument
        prop(case)

    twin = LONG(given(case=strategy)(case_test))
    return QUICK(given(case=strategy)(case_test)), pytest.mark.slow(twin)


def _run(fn, adata, kwargs, copy):
    """Call on a copy of ``adata`` in place (``copy=False``) or returning a copy; both must satisfy the property."""
    return check(fn, adata if copy else adata.copy(), kwargs, copy)


# ---------------------------------------------------------------------------------------------------- split / subsample
@st.composite
def split_calls(draw):
    adata = draw(snapshot_data())
    kwargs = draw(st.fixed_dictionaries({}, optional={
        "holdout": st.one_of(st.just("odd"), st.just("even"), st.lists(st.floats(0, 10), max_size=3),
                             st.just([]), st.just(["a"]), st.just([math.nan])),
        "time_key": st.sampled_from(["time", "nope", ""]),
        "key_added": st.sampled_from(["split", "fold"]),
    }))
    if draw(st.booleans()) and adata.n_obs:  # hold out real time points
        times = np.unique(pd.to_numeric(adata.obs["time"], errors="coerce"))
        kwargs["holdout"] = list(times[1: 1 + draw(st.integers(1, 2))])
    return adata, kwargs, draw(st.booleans())


def _split_property(case):
    adata, kwargs, copy = case
    out = _run(pp.split_timepoints, adata, kwargs, copy)
    if out is not None:
        labels = out.obs[kwargs.get("key_added", "split")]
        assert set(labels.unique()) == {"train", "heldout"}


test_fuzz_split_timepoints, test_fuzz_split_timepoints_slow = fuzz_pair(
    split_calls(), _split_property)


@st.composite
def subsample_calls(draw):
    adata = draw(snapshot_data())
    kwargs = {"n": draw(st.one_of(st.integers(1, 5), st.sampled_from([0, -1, 2.5, "3", True, None]))),
              "seed": draw(st.one_of(st.integers(0, 99), st.none(), st.sampled_from([-1, 1.5, "s"]))),
              "time_key": draw(st.sampled_from(["time", "time", "nope"]))}
    return adata, kwargs, draw(st.booleans())


def _subsample_property(case):
    adata, kwargs, copy = case
    out = _run(pp.subsample_per_time, adata, kwargs, copy)
    if out is not None:
        assert out.obs.groupby("time", observed=True).size().max() <= kwargs["n"]


test_fuzz_subsample_per_time, test_fuzz_subsample_per_time_slow = fuzz_pair(
    subsample_calls(), _subsample_property)


# ---------------------------------------------------------------------------------------------------- scaling, PCA
@st.composite
def scale_calls(draw):
    adata = draw(snapshot_data())
    per = draw(st.sampled_from(["dataset", "time", "global", "global", "cell", None]))
    fit = max(1, min(adata.n_obs, adata.n_vars))
    pca_kwargs = {"n_comps": draw(st.one_of(st.integers(1, fit), st.integers(1, fit), st.none(),
                                            st.sampled_from([0, -1, 1.5, "2", 100]))),
                  draw(st.sampled_from(["seed", "random_state"])): draw(st.one_of(
                      st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.sampled_from([-1, "s"]))),
                  "key_added": draw(st.sampled_from(["X_pca", "X_pca", "X_mine"]))}
    return adata, per, pca_kwargs, draw(st.booleans())


def _scale_property(case):
    adata, per, pca_kwargs, copy = case
    out = _run(pp.standardize, adata, {"per": per}, copy)
    if out is not None:
        rec = out.uns["standardize"]
        assert rec["std"].dtype == np.float64 and (rec["std"] > 0).all()
        assert out.X.dtype == (adata.X.dtype if np.issubdtype(adata.X.dtype, np.floating) else np.float64)
    res = _run(pp.pca, adata, pca_kwargs, copy)
    if res is not None:
        z = res.obsm[pca_kwargs["key_added"]]
        limit = min(adata.n_obs, adata.n_vars)
        want = pca_kwargs["n_comps"] or max(1, limit - 1 if limit <= 50 else 50)  # None: scanpy's rule
        assert z.shape == (adata.n_obs, want)


test_fuzz_standardize_and_pca, test_fuzz_standardize_and_pca_slow = fuzz_pair(
    scale_calls(), _scale_property)


# ---------------------------------------------------------------------------------------------------- trajectories
@st.composite
def trajectory_calls(draw):
    adata = draw(snapshot_data(trajectories=True))
    kwargs = {"seed": draw(st.integers(0, 99)),
              "trajectory_key": draw(st.sampled_from(["trajectory", "trajectory", "nope"]))}
    grid = st.lists(st.floats(0, 8), min_size=1, max_size=4, unique=True).map(sorted)
    kwargs["times"] = draw(st.one_of(st.none(), st.none(), grid, st.just([2.0, 1.0]), st.just([]),
                                     st.just([math.nan]), st.just(["a"]), st.just([1e300])))
    return adata, kwargs, draw(st.booleans())


def _trajectory_property(case):
    adata, kwargs, copy = case
    out = _run(pp.trajectories_to_snapshots, adata, kwargs, copy)
    if out is not None:
        assert "trajectory" not in out.obs and out.n_vars == adata.n_vars
        if kwargs["times"] is None:
            assert out.n_obs == adata.n_obs


test_fuzz_trajectories_to_snapshots, test_fuzz_trajectories_to_snapshots_slow = fuzz_pair(
    trajectory_calls(), _trajectory_property)


# ---------------------------------------------------------------------------------------------------- idealize
@st.composite
def current_calls(draw):
    """A noisy two- or three-level current (one or more trajectories), with at most one fault."""
    K, T = draw(st.integers(2, 3)), draw(st.integers(20, 120))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    states = np.cumsum(rng.random(T) < 0.1) % K
    x = (states + 0.1 * rng.normal(size=T))[:, None]
    adata = ad.AnnData(x)
    if draw(st.booleans()):
        adata.obs["trajectory"] = np.repeat(["a", "b"], [T // 2, T - T // 2])
    kwargs = {"n_states": K, "method": draw(st.sampled_from(["gmm_hmm", "gmm"])), "n_iter": draw(st.integers(1, 5)),
              "shared_noise": draw(st.booleans()), "seed": draw(st.integers(0, 99))}
    fault = draw(st.sampled_from([None, None, None, "n_states", "method", "n_iter", "current_key", "X", "traj"]))
    if fault == "n_states":
        kwargs["n_states"] = draw(st.sampled_from([1, 0, 2.5, "2", True, T, 500, 10**6]))
    elif fault == "method":
        kwargs["method"] = draw(st.sampled_from(["hmm", None]))
    elif fault == "n_iter":
        kwargs["n_iter"] = draw(st.sampled_from([0, -1, 1.5, "3", None]))
    elif fault == "current_key":
        kwargs["current_key"] = draw(st.sampled_from(["nope", "trajectory", ""]))
    elif fault == "X":
        bad_x = draw(st.sampled_from([np.full((T, 1), 3.0), x * 1e300, x * 1e-300, np.where(x > 1, math.nan, x),
                                      x[:, :0], x[:3], x.astype(np.float16), x.astype(bool)]))
        adata = ad.AnnData(bad_x, obs=adata.obs.iloc[: len(bad_x)].copy())
    elif fault == "traj" and "trajectory" in adata.obs:
        adata.obs["trajectory"] = np.where(np.arange(T) % 7 == 0, "a", "b")
    return adata, kwargs, draw(st.booleans())


def _idealize_property(case):
    adata, kwargs, copy = case
    out = _run(pp.idealize, adata, kwargs, copy)
    if out is not None:
        states = out.obs["state"].to_numpy()
        assert states.dtype == np.int64 and ((states >= 0) & (states < kwargs["n_states"])).all()
        table = out.uns["dwell_times"]
        assert int(table["n_samples"].sum()) == adata.n_obs


test_fuzz_idealize, test_fuzz_idealize_slow = fuzz_pair(
    current_calls(), _idealize_property)
