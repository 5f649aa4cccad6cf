"""Property-based fuzzing of the bridge face's outputs and plots: obsm drift, obsp transitions, drift_stream.

A fit on random small snapshots either raises :class:`dynfer.BadInputError` or writes a finite drift and a
row-stochastic transition matrix that only steps to the next time; the sparsification keeps the smallest set of
entries holding the mass; every plot argument is either drawn or refused with a BadInputError naming it.
"""

from __future__ import annotations

import warnings

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.pl._drift_stream import drift_grid
from dynfer.tl._bridge_outputs import sparsify_rows

KEY = "schrodinger_bridge"


def _snapshots(seed: int, n: int, d: int, n_times: int, gaps: list[float]) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    times = np.concatenate([[0.0], np.cumsum(gaps[: n_times - 1])])
    x = np.concatenate([rng.normal(size=(n, d)) + 0.5 * k for k in range(n_times)])
    adata = ad.AnnData(x)
    adata.obs["time"] = np.repeat(times, n)
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    return adata


@given(seed=st.integers(0, 10_000), n=st.integers(2, 9), d=st.integers(1, 3), n_times=st.integers(3, 5),
       gaps=st.lists(st.floats(0.2, 2.0), min_size=4, max_size=4),
       reference=st.sampled_from(["brownian", "linear", "hooke"]), sigma=st.floats(0.2, 2.0))
@settings(max_examples=8, deadline=None, derandomize=True)
def test_fit_writes_a_finite_drift_and_a_stochastic_chain(seed, n, d, n_times, gaps, reference, sigma):
    adata = _snapshots(seed, n, d, n_times, gaps)
    try:
        with dynfer.settings.override(progress=False), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dynfer.tl.schrodinger_bridge(adata, reference=reference, sigma=sigma, n_iter=1, seed=seed)
    except BadInputError:
        assert KEY not in adata.uns and f"{KEY}_drift" not in adata.obsm
        return
    drift = adata.obsm[f"{KEY}_drift"]
    assert drift.shape == (adata.n_obs, d) and np.isfinite(drift).all()
    tmat = adata.obsp[f"{KEY}_transitions"]
    assert sp.isspmatrix_csr(tmat) and tmat.shape == (adata.n_obs, adata.n_obs) and (tmat.data > 0).all()
    np.testing.assert_allclose(np.asarray(tmat.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    t = adata.obs["time"].to_numpy()
    times = np.unique(t)
    rows, cols = tmat.nonzero()
    step = np.searchsorted(times, t[cols]) - np.searchsorted(times, t[rows])
    last = t[rows] == times[-1]
    assert (step[~last] == 1).all() and (rows[last] == cols[last]).all()


@given(bad=st.one_of(st.fixed_dictionaries({"transitions": st.sampled_from(["yes", 1, 0, None, 0.5, [True]])}),
                     st.fixed_dictionaries({"key_added": st.sampled_from(["", "a/b", 3, None])})))
@settings(max_examples=10, deadline=None, derandomize=True)
def test_bad_output_options_raise_bad_input_and_write_nothing(bad):
    adata = _snapshots(0, 4, 2, 3, [1.0, 1.0, 1.0, 1.0])
    before = (sorted(adata.uns), list(adata.obsm), list(adata.obsp))
    with pytest.raises(BadInputError, match=next(iter(bad))):
        dynfer.tl.schrodinger_bridge(adata, reference="linear", sigma=0.5, n_iter=1, seed=0, **bad)
    assert (sorted(adata.uns), list(adata.obsm), list(adata.obsp)) == before


@given(rows=st.integers(1, 6), cols=st.integers(1, 8), mass=st.floats(0.05, 1.0), seed=st.integers(0, 10_000),
       zeros=st.floats(0.0, 0.7))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_sparsify_keeps_the_smallest_set_holding_the_mass(rows, cols, mass, seed, zeros):
    rng = np.random.default_rng(seed)
    p = rng.exponential(size=(rows, cols)) * (rng.uniform(size=(rows, cols)) >= zeros)
    p[np.arange(rows), rng.integers(0, cols, rows)] += 0.1  # every row has mass
    r, c, v = sparsify_rows(torch.as_tensor(p), mass)
    kept = np.zeros_like(p)
    kept[r, c] = v
    full = p / p.sum(1, keepdims=True)
    np.testing.assert_allclose(kept.sum(1), 1.0, atol=1e-12)
    for i in range(rows):
        on = kept[i] > 0
        m = full[i, on].sum()
        assert m >= mass - 1e-9  # holds the mass
        assert m - full[i, on].min() < mass - 1e-12 or on.sum() == 1  # dropping its smallest entry would not
        assert 0.5 * np.abs(kept[i] - full[i]).sum() == pytest.approx(1 - m, abs=1e-12)


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    adata = _snapshots(0, 12, 2, 3, [1.0, 1.0, 1.0, 1.0])
    adata.obsm["X_umap"] = np.tanh(np.asarray(adata.X))
    adata.obs["group"] = np.tile(["a", "b", "c"], 12)
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynfer.tl.schrodinger_bridge(adata, reference="linear", sigma=0.5, n_iter=1, seed=0)
    return adata


GOOD_PLOT = {"basis": [None, "X_umap", "umap"], "components": [(1, 2), "2,1", [2, 1]], "color": [None, "group"],
             "density": [0.3, 2.0], "n_grid": [2, 7, 30], "smooth": [0.2, 3.0], "min_mass": [0.001, 1.0]}
BAD_PLOT = {"basis": ["X_missing", 3, ""], "components": [(0, 1), (1, 3), (1, 1), "1", "x,y", None, 2, (True, 2)],
            "color": ["nope", 3], "density": [0, -1.0, float("nan"), "x", True, 100.0],
            "n_grid": [1, 0, 2.5, "x"], "smooth": [0, -1, float("inf")], "min_mass": [0, 2.0, float("nan")],
            "key": ["missing"]}


@st.composite
def plot_kwargs(draw):
    kwargs = {k: draw(st.sampled_from(v)) for k, v in GOOD_PLOT.items() if draw(st.booleans())}
    broken = draw(st.sampled_from([None, *BAD_PLOT]))
    if broken is not None:
        kwargs[broken] = draw(st.sampled_from(BAD_PLOT[broken]))
    return kwargs, broken


@given(case=plot_kwargs())
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_drift_stream_draws_or_names_the_bad_argument(fitted, case):
    kwargs, broken = case
    try:
        if broken is None:
            ax = dynfer.pl.drift_stream(fitted, show=False, **kwargs)
            assert ax.get_xlabel() and ax.get_ylabel()
        else:
            with pytest.raises(BadInputError) as info:
                dynfer.pl.drift_stream(fitted, show=False, **kwargs)
            assert broken in str(info.value) or (broken == "key" and "missing" in str(info.value)), str(info.value)
    finally:
        plt.close("all")


@given(case=plot_kwargs(), n_paths=st.integers(1, 40), n_times=st.sampled_from([None, 2, 9]))
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bridge_plot_draws_or_names_the_bad_argument(fitted, case, n_paths, n_times):
    kwargs, broken = case
    kwargs = {k: v for k, v in kwargs.items() if k in ("basis", "components", "color", "key")}
    broken = broken if broken in kwargs else None
    try:
        if broken is None:
            ax = dynfer.pl.schrodinger_bridge(fitted, n_paths=n_paths, n_times=n_times, seed=0, show=False,
                                              **kwargs)
            assert len(ax.lines) == min(n_paths, dynfer.tl.load_estimator(fitted, KEY).paths_.shape[1])
        else:
            with pytest.raises(BadInputError):
                dynfer.pl.schrodinger_bridge(fitted, show=False, **kwargs)
    finally:
        plt.close("all")


@given(n=st.integers(2, 60), seed=st.integers(0, 10_000), n_grid=st.integers(2, 15), spread=st.floats(1e-3, 1e3))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_drift_grid_averages_within_the_vectors_range(n, seed, n_grid, spread):
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(n, 2)) * spread
    vec = rng.normal(size=(n, 2))
    xs, ys, u, v = drift_grid(pts, vec, n_grid=n_grid)
    assert u.shape == v.shape == (n_grid, n_grid) and np.isfinite(u).any()
    ok = np.isfinite(u)
    assert (np.isfinite(v) == ok).all()
    # a weighted mean of the vectors: inside their range
    assert (u[ok] >= vec[:, 0].min() - 1e-9).all() and (u[ok] <= vec[:, 0].max() + 1e-9).all()


@pytest.mark.slow
@given(seed=st.integers(0, 10**6), n=st.integers(2, 20), d=st.integers(1, 4), n_times=st.integers(3, 5),
       gaps=st.lists(st.floats(0.05, 5.0), min_size=4, max_size=4),
       reference=st.sampled_from(["brownian", "linear", "hooke", "vortex"]), sigma=st.floats(0.05, 5.0))
@settings(max_examples=60, deadline=None)
def test_fits_many(seed, n, d, n_times, gaps, reference, sigma):
    test_fit_writes_a_finite_drift_and_a_stochastic_chain.hypothesis.inner_test(seed, n, d, n_times, gaps,
                                                                                reference, sigma)


@pytest.mark.slow
@given(rows=st.integers(1, 40), cols=st.integers(1, 60), mass=st.floats(1e-3, 1.0), seed=st.integers(0, 10**6),
       zeros=st.floats(0.0, 0.95))
@settings(max_examples=400, deadline=None)
def test_sparsify_many(rows, cols, mass, seed, zeros):
    test_sparsify_keeps_the_smallest_set_holding_the_mass.hypothesis.inner_test(rows, cols, mass, seed, zeros)


@pytest.mark.slow
@given(case=plot_kwargs(), n_paths=st.integers(1, 40), n_times=st.sampled_from([None, 2, 9, 50]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_plots_many(fitted, case, n_paths, n_times):
    test_drift_stream_draws_or_names_the_bad_argument.hypothesis.inner_test(fitted, case)
    test_bridge_plot_draws_or_names_the_bad_argument.hypothesis.inner_test(fitted, case, n_paths, n_times)


@pytest.mark.slow
@given(n=st.integers(2, 300), seed=st.integers(0, 10**6), n_grid=st.integers(2, 60), spread=st.floats(1e-6, 1e6))
@settings(max_examples=200, deadline=None)
def test_drift_grid_many(n, seed, n_grid, spread):
    test_drift_grid_averages_within_the_vectors_range.hypothesis.inner_test(n, seed, n_grid, spread)
