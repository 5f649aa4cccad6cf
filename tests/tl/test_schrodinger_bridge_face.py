"""tl.schrodinger_bridge / tl.interpolate / pl faces: the stored model in uns, h5ad round trips, input safety."""

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import dynfer
from dynfer.datasets import lotka_volterra_snapshots
from dynfer.processes import wasserstein

KEY = "schrodinger_bridge"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    adata = lotka_volterra_snapshots(n_per_time=80, seed=1)
    dynfer.pp.split_timepoints(adata, holdout="odd")
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="lotka_volterra", sigma=0.1, n_iter=6, train_key="split",
                                     seed=0)
    path = tmp_path_factory.mktemp("sb") / "fitted.h5ad"
    adata.write_h5ad(path)
    return ad.read_h5ad(path)


def test_results_in_uns_survive_h5ad(fitted):
    res = fitted.uns[KEY]["results"]
    assert res["family"] == "lotka_volterra" and res["n_rounds"] >= 1
    np.testing.assert_array_equal(res["times"], [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    assert res["theta"]["alpha"].shape == (res["n_rounds"],)
    assert np.all(np.isfinite(res["loss_after"]))
    assert fitted.uns[KEY]["estimator"] == "SchrodingerBridge"
    inputs = fitted.uns[KEY]["inputs"]
    assert inputs["use_rep"] == "X" and inputs["train_key"] == "split" and inputs["n_rows"] == 6 * 80


def test_interpolate_matches_heldout_better_than_persistence(fitted):
    held_t = 3.0
    out = dynfer.tl.interpolate(fitted, [held_t], n=80, seed=0)
    assert out.n_obs == 80 and np.all(out.obs["time"] == held_t)
    assert list(out.var_names) == list(fitted.var_names)
    x = np.asarray(fitted.X)
    t = fitted.obs["time"].to_numpy()
    w_bridge = float(wasserstein(np.asarray(out.X, dtype=np.float64), x[t == held_t].astype(np.float64)))
    w_persist = float(wasserstein(x[t == 2.0].astype(np.float64), x[t == held_t].astype(np.float64)))
    assert w_bridge < 0.5 * w_persist


def test_interpolate_times_are_checked(fitted):
    with pytest.raises(ValueError, match="empty"):
        dynfer.tl.interpolate(fitted, [])
    with pytest.raises(ValueError, match="span"):
        dynfer.tl.interpolate(fitted, [11.0])
    one = dynfer.tl.interpolate(fitted, 0.5, n=4, seed=1)  # a single time is a list of one
    np.testing.assert_array_equal(one.X, dynfer.tl.interpolate(fitted, [0.5], n=4, seed=1).X)


def test_plots_follow_the_scanpy_return_convention(fitted, tmp_path):
    ax = dynfer.pl.schrodinger_bridge(fitted, n_paths=5, n_times=10, show=False, seed=0)
    assert isinstance(ax, Axes) and len(ax.lines) == 5
    fig = dynfer.pl.schrodinger_bridge(fitted, n_paths=5, n_times=10, return_fig=True, color="split", seed=0)
    assert isinstance(fig, Figure) and fig.axes[0].get_legend() is not None  # categorical colour: a legend
    _, own = matplotlib.pyplot.subplots()
    assert dynfer.pl.schrodinger_bridge(fitted, ax=own, n_paths=2, n_times=4, show=False) is own
    fig = dynfer.pl.bridge_parameters(fitted, truth={"alpha": 1.0}, return_fig=True)
    assert len(fig.axes) == 4
    axes = dynfer.pl.bridge_parameters(fitted, show=False, save=tmp_path / "theta.png")
    assert len(axes) == 4 and (tmp_path / "theta.png").stat().st_size > 0
    assert dynfer.pl.schrodinger_bridge(fitted, n_paths=2, n_times=4, show=True) is None
    with pytest.raises(ValueError, match="color"):
        dynfer.pl.schrodinger_bridge(fitted, color="nope", show=False)
    matplotlib.pyplot.close("all")


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
    with pytest.raises(ValueError, match="no fitted estimator"):
        dynfer.tl.interpolate(adata, [0.5])


def test_copy_returns_new_object():
    adata = lotka_volterra_snapshots(n_per_time=20, seed=3)
    out = dynfer.tl.schrodinger_bridge(adata, reference="brownian", sigma=0.2, copy=True, seed=0)
    assert out is not adata and KEY in out.uns and KEY not in adata.uns


def _assert_same_tree(a, b, path="uns"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _assert_same_tree(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(np.asarray(b), a, err_msg=path)
    else:
        assert not isinstance(b, np.ndarray) and b == a and type(b) is type(a), f"{path}: {a!r} != {b!r}"


def test_whole_uns_entry_survives_h5ad_and_every_option_comes_back(tmp_path):
    adata = lotka_volterra_snapshots(n_per_time=15, seed=4)
    adata = adata[adata.obs["time"] <= 2.0].copy()
    options = {"k": 0.5, "dtype": None}
    coupling = {"ot_method": "sinkhorn", "max_iter": 5000}
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="hooke", n_iter=2, seed=np.int64(2), steps_per_unit=10.0,
                                     reference_kwargs=options, coupling_kwargs=coupling)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    _assert_same_tree(adata.uns[KEY], back.uns[KEY])
    est = dynfer.tl.load_estimator(back, KEY)
    # no hand-kept option list: every parameter comes back exactly, None and nested dicts included
    assert est.reference_kwargs == options and est.coupling_kwargs == coupling
    assert est.seed == 2 and est.steps_per_unit == 10.0 and est.n_iter == 2
    np.testing.assert_array_equal(dynfer.tl.interpolate(back, [0.5], seed=1).X,
                                  dynfer.tl.interpolate(adata, [0.5], seed=1).X)


def test_sigma_auto_starts_from_a_tenth_of_the_spread_and_is_refitted_only_on_request():
    adata = dynfer.datasets.ou_snapshots(n_per_time=60, times=[0.0, 0.5, 1.0, 1.5], seed=3)
    spread = float(np.mean(np.asarray(adata.X, dtype=np.float64).std(axis=0)))
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="linear", n_iter=2, seed=0)  # sigma="auto" by default
        refit = dynfer.tl.schrodinger_bridge(adata, reference="linear", n_iter=2, seed=0, fit_sigma=True,
                                             copy=True, transitions=False)
    res = adata.uns[KEY]["results"]
    assert res["sigma_init"] == pytest.approx(0.1 * spread, rel=1e-6)
    # fit_sigma="auto" keeps sigma fixed (a sigma refitted on bridge paths only grows, see the estimator)
    assert res["sigma"] == res["sigma_init"]
    est = dynfer.tl.load_estimator(adata, KEY)
    assert est.sigma == "auto" and est.fit_sigma == "auto" and est.sigma_init_ == res["sigma_init"]
    # fit_sigma=True re-estimates it from the bridge paths' residuals: positive, finite and moved
    moved = refit.uns[KEY]["results"]["sigma"]
    assert np.isfinite(moved) and moved > 0 and moved != pytest.approx(res["sigma_init"], rel=1e-9)


def test_obsm_representation_is_used_and_checked():
    adata = lotka_volterra_snapshots(n_per_time=20, seed=5)
    adata = adata[adata.obs["time"] <= 3.0].copy()
    adata.obsm["X_rep"] = np.asarray(adata.X) * 2.0
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="brownian", sigma=0.2, use_rep="X_rep", seed=0)
    out = dynfer.tl.interpolate(adata, [0.5], seed=0)
    assert out.n_vars == 2
    adata.X = np.asarray(adata.X) + 1.0  # X is not what the fit read: still fine
    dynfer.tl.interpolate(adata, [0.5], seed=0)
    adata.obsm["X_rep"] = adata.obsm["X_rep"] * 10
    with pytest.raises(dynfer.tl.InputsChangedError, match="X_rep"):
        dynfer.tl.interpolate(adata, [0.5], seed=0)
