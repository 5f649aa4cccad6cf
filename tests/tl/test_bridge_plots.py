"""pl.schrodinger_bridge draws the bridge's own paths; pl.drift_stream and the embedding maps behind both plots."""

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pytest

import dynfer
from dynfer import BadInputError
from dynfer.datasets import lotka_volterra_snapshots
from dynfer.pl._drift_stream import drift_grid
from dynfer.pl._embedding import embedding, parse_components

KEY = "schrodinger_bridge"


@pytest.fixture(scope="module")
def lv():
    adata = lotka_volterra_snapshots(n_per_time=30, seed=1)
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="lotka_volterra", sigma=0.1, n_iter=2, seed=0,
                                     transitions=False)
    return adata


def test_lines_are_stored_bridge_paths_through_every_time(lv):
    ax = dynfer.pl.schrodinger_bridge(lv, n_paths=7, seed=3, show=False)
    grid, paths = dynfer.tl.load_estimator(lv, KEY).trajectories()
    assert len(ax.lines) == 7
    for line in ax.lines:
        xy = np.asarray(line.get_xydata())
        assert xy.shape == (len(grid), 2)
        # the line is one stored path, point for point (not marginal samples drawn independently per time)
        match = np.abs(paths - xy[:, None, :]).max(axis=(0, 2))
        assert match.min() < 1e-5
    again = dynfer.pl.schrodinger_bridge(lv, n_paths=7, seed=3, show=False)
    np.testing.assert_array_equal(again.lines[0].get_xydata(), ax.lines[0].get_xydata())  # seeded choice
    resampled = dynfer.pl.schrodinger_bridge(lv, n_paths=2, n_times=5, seed=3, show=False)
    assert np.asarray(resampled.lines[0].get_xydata()).shape == (5, 2)
    plt.close("all")


def test_paths_on_a_linear_basis_are_mapped_exactly(lv):
    x = np.asarray(lv.X, dtype=np.float64)
    rot = np.array([[0.6, -0.8], [0.8, 0.6]])
    lv = lv.copy()
    lv.obsm["X_pca"] = (x - x.mean(0)) @ rot
    emb = embedding(lv, "X", "X_pca")
    assert emb.linear is not None
    np.testing.assert_allclose(emb.points(x), lv.obsm["X_pca"], atol=1e-10)
    np.testing.assert_allclose(emb.vectors(np.ones_like(x)), np.ones_like(x) @ rot, atol=1e-10)
    ax = dynfer.pl.schrodinger_bridge(lv, basis="pca", n_paths=3, seed=0, show=False)
    grid, paths = dynfer.tl.load_estimator(lv, KEY).trajectories()
    mapped = (paths - x.mean(0)) @ rot
    xy = np.asarray(ax.lines[0].get_xydata())
    assert np.abs(mapped - xy[:, None, :]).max(axis=(0, 2)).min() < 1e-5
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("PC1", "PC2")
    plt.close("all")


def test_cosine_projection_points_along_a_monotone_embedding():
    # cells on a line, drift +x, embedding a monotone warp of x: the embedded direction is +e1 inside the chain
    x = np.column_stack([np.linspace(0, 1, 60), np.zeros(60)])
    adata = ad.AnnData(x)
    adata.obsm["X_umap"] = np.column_stack([x[:, 0] ** 3, np.sin(3 * x[:, 0])])
    emb = embedding(adata, "X", "X_umap")
    assert emb.linear is None
    v = emb.vectors(np.tile([1.0, 0.0], (60, 1)))
    inner = slice(10, 50)
    assert (v[inner, 0] > 0).all()
    assert (emb.vectors(-np.tile([1.0, 0.0], (60, 1)))[inner, 0] < 0).all()
    np.testing.assert_array_equal(emb.vectors(np.zeros((60, 2))), 0.0)  # no drift, no direction


def test_drift_grid_reproduces_a_constant_field():
    rng = np.random.default_rng(0)
    pts = rng.uniform(size=(400, 2))
    xs, ys, u, v = drift_grid(pts, np.tile([0.3, -0.2], (400, 1)), n_grid=12)
    assert xs.shape == ys.shape == (12,) and u.shape == v.shape == (12, 12)
    ok = np.isfinite(u)
    assert ok.mean() > 0.9
    np.testing.assert_allclose(u[ok], 0.3, atol=1e-12)
    np.testing.assert_allclose(v[ok], -0.2, atol=1e-12)
    for bad in ({"n_grid": 1}, {"smooth": 0}, {"min_mass": 2.0}, {"smooth": float("nan")}):
        with pytest.raises(BadInputError, match=next(iter(bad))):
            drift_grid(pts, pts, **bad)


def test_drift_stream_draws_the_refined_field(lv):
    ax = dynfer.pl.drift_stream(lv, show=False)
    assert len(ax.collections) >= 2 and (ax.get_xlabel(), ax.get_ylabel()) == ("prey", "predator")
    fig = dynfer.pl.drift_stream(lv, color="time", density=0.5, return_fig=True)
    assert fig.axes[0].get_title().startswith("Learned drift (lotka_volterra")
    lv2 = lv.copy()
    lv2.obsm["X_umap"] = np.log(np.asarray(lv.X, dtype=np.float64))
    dynfer.pl.drift_stream(lv2, basis="X_umap", show=False)
    for kwargs in ({"density": 0}, {"density": "x"}, {"n_grid": 1}, {"basis": 3}, {"components": "1"}):
        with pytest.raises(BadInputError, match=next(iter(kwargs))):
            dynfer.pl.drift_stream(lv, show=False, **kwargs)
    plt.close("all")


def test_drift_stream_refuses_the_brownian_reference_and_changed_data(lv):
    adata = lotka_volterra_snapshots(n_per_time=10, seed=2)
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="brownian", sigma=0.3, seed=0, transitions=False)
    with pytest.raises(BadInputError, match="Brownian"):
        dynfer.pl.drift_stream(adata, show=False)
    changed = lv.copy()
    changed.X = np.asarray(changed.X) * 2
    with pytest.raises(dynfer.tl.InputsChangedError):
        dynfer.pl.drift_stream(changed, show=False)


@pytest.mark.parametrize(("value", "expected"), [("1,2", (0, 1)), ("2, 1", (1, 0)), ((1, 3), (0, 2)),
                                                 (np.array([3, 2]), (2, 1)), ([1.0, 2.0], (0, 1))])
def test_components_count_from_one(value, expected):
    assert parse_components(value, 3, "X") == expected
