"""tl.schrodinger_bridge / tl.interpolate / pl faces: results land in uns, round-trip through h5ad, input safety."""

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import numpy as np
import pytest

import dynfer
from dynfer.datasets import lotka_volterra_snapshots
from dynfer.processes import wasserstein


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    adata = lotka_volterra_snapshots(n_per_time=80, seed=1)
    dynfer.pp.split_timepoints(adata, holdout="odd")
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="lotka_volterra", sigma=0.1, n_iter=6, train_key="split")
    path = tmp_path_factory.mktemp("sb") / "fitted.h5ad"
    adata.write_h5ad(path)
    return ad.read_h5ad(path)


def test_results_in_uns_survive_h5ad(fitted):
    res = fitted.uns["schrodinger_bridge"]
    assert res["family"] == "lotka_volterra" and res["n_rounds"] >= 1
    np.testing.assert_array_equal(res["times"], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    assert res["theta"]["alpha"].shape == (res["n_rounds"],)
    assert np.all(np.isfinite(res["loss_after"]))


def test_interpolate_matches_heldout_better_than_persistence(fitted):
    held_t = 3.0
    out = dynfer.tl.interpolate(fitted, [held_t], n=80, seed=0)
    assert out.n_obs == 80 and np.all(out.obs["time"] == held_t)
    x = np.asarray(fitted.X)
    t = fitted.obs["time"].to_numpy()
    w_bridge = float(wasserstein(np.asarray(out.X, dtype=np.float64), x[t == held_t].astype(np.float64)))
    w_persist = float(wasserstein(x[t == 2.0].astype(np.float64), x[t == held_t].astype(np.float64)))
    assert w_bridge < 0.5 * w_persist


def test_plots(fitted):
    ax = dynfer.pl.schrodinger_bridge(fitted, n_paths=5, n_times=10)
    assert len(ax.lines) == 5
    fig = dynfer.pl.bridge_parameters(fitted, truth={"alpha": 1.0})
    assert len(fig.axes) == 4


def test_failed_fit_leaves_adata_untouched():
    adata = lotka_volterra_snapshots(n_per_time=20, seed=2)
    before = set(adata.uns)
    with pytest.raises(ValueError, match="use_rep"):
        dynfer.tl.schrodinger_bridge(adata, use_rep="X_missing")
    with pytest.raises(ValueError):
        dynfer.tl.schrodinger_bridge(adata, reference="no_such_family")
    one = adata[adata.obs["time"] <= 1.0].copy()
    with pytest.raises(ValueError, match="at least 3"):
        dynfer.tl.schrodinger_bridge(one)
    assert set(adata.uns) == before
    with pytest.raises(ValueError, match="no fitted bridge"):
        dynfer.tl.interpolate(adata, [0.5])


def test_copy_returns_new_object():
    adata = lotka_volterra_snapshots(n_per_time=20, seed=3)
    out = dynfer.tl.schrodinger_bridge(adata, reference="brownian", sigma=0.2, copy=True)
    assert out is not adata and "schrodinger_bridge" in out.uns and "schrodinger_bridge" not in adata.uns


def _assert_same_tree(a, b, path="uns"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _assert_same_tree(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(np.asarray(b), a, err_msg=path)
    else:
        assert not isinstance(b, np.ndarray) and b == a and type(b) is type(a), f"{path}: {a!r} != {b!r}"


def test_whole_uns_entry_survives_h5ad_unchanged(tmp_path):
    adata = lotka_volterra_snapshots(n_per_time=15, seed=4)
    adata = adata[adata.obs["time"] <= 2.0].copy()
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="hooke", n_iter=2, seed=np.int64(2), steps_per_unit=10.0,
                                     reference_kwargs={"k": 0.5, "dtype": None})
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    res = adata.uns["schrodinger_bridge"]
    assert res["params"]["reference_kwargs"] == {"k": 0.5} and res["params"]["seed"] == 2
    _assert_same_tree(res, back.uns["schrodinger_bridge"])
    np.testing.assert_array_equal(dynfer.tl.interpolate(back, [0.5], seed=1).X,
                                  dynfer.tl.interpolate(adata, [0.5], seed=1).X)


def test_sigma_none_starts_from_a_tenth_of_the_spread_and_refits_it():
    adata = dynfer.datasets.ou_snapshots(n_per_time=60, times=[0.0, 0.5, 1.0, 1.5], seed=3)
    spread = float(np.mean(np.asarray(adata.X, dtype=np.float64).std(axis=0)))
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="linear", sigma=None, n_iter=2)
    res = adata.uns["schrodinger_bridge"]
    assert res["params"]["fit_sigma"] is True
    assert res["params"]["sigma_init"] == pytest.approx(0.1 * spread, rel=1e-6)
    # the θ-step re-estimates sigma from the residuals of the bridge paths: positive, finite and moved
    assert np.isfinite(res["sigma"]) and res["sigma"] > 0
    assert res["sigma"] != pytest.approx(res["params"]["sigma_init"], rel=1e-9)
