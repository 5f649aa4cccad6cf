"""Network and custom references: stored exactly in uns, rebuilt after an h5ad round trip, never refitted."""

import warnings

import anndata as ad
import numpy as np
import pytest
import torch

import dynfer
from dynfer.datasets import lotka_volterra_snapshots
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.estimators.bridges.reference_nets import MLPReference
from dynfer.processes import OTConvergenceWarning

KEY = "schrodinger_bridge"


def _snapshots(n_per_time: int = 12):
    """Three Lotka–Volterra snapshots (t = 0, 1, 2): the smallest multi-marginal problem."""
    adata = lotka_volterra_snapshots(n_per_time=n_per_time, seed=1)
    return adata[adata.obs["time"] <= 2.0].copy()


def _fit(adata, reference, **kwargs):
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)  # tiny float32 problems; irrelevant here
        dynfer.tl.schrodinger_bridge(adata, reference=reference, sigma=0.1, n_iter=1, seed=0, **kwargs)


def _roundtrip(adata, tmp_path):
    path = tmp_path / "fitted.h5ad"
    adata.write_h5ad(path)
    return ad.read_h5ad(path)


def _interpolate(adata, times):
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        return dynfer.tl.interpolate(adata, times, n=8, seed=3)


@pytest.mark.parametrize(
    ("family", "options"),
    [("mlp", {"hidden": (8,)}), ("mlp_potential", {"hidden": (6, 4), "activation": "tanh"})],
)
def test_network_reference_survives_h5ad(tmp_path, family, options):
    adata = _snapshots()
    _fit(adata, family, reference_kwargs=options)
    back = _roundtrip(adata, tmp_path)
    assert dynfer.tl.load_estimator(back, KEY).reference_kwargs == options  # the tuple stays a tuple

    times = [0.5, 1.25]
    out = _interpolate(back, times)
    assert out.n_obs == 16 and np.all(np.isfinite(out.X))
    np.testing.assert_array_equal(np.unique(out.obs["time"]), times)
    np.testing.assert_array_equal(out.X, _interpolate(adata, times).X)

    # the stored network is the fitted one: same drift as the estimator fitted directly with the same seed
    xs = [np.asarray(adata.X[adata.obs["time"].to_numpy() == t], dtype=np.float64) for t in (0.0, 1.0, 2.0)]
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        est = SchrodingerBridge(family, sigma=0.1, n_iter=1, seed=0, reference_kwargs=options).fit(xs, [0, 1, 2])
    rebuilt = dynfer.tl.load_estimator(back, KEY).reference_
    probe = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 2)), dtype=dynfer.settings.dtype)
    fitted_drift = est.reference_(probe).detach()
    assert fitted_drift.abs().max() > 0  # the refinement moved the network away from its zero start
    torch.testing.assert_close(rebuilt(probe).detach(), fitted_drift)


def test_parametric_reference_options_are_stored_exactly(tmp_path):
    adata = _snapshots()
    a0 = np.array([[0.0, -1.0], [1.0, 0.0]])
    _fit(adata, "linear", reference_kwargs={"A": a0, "b": None})
    back = _roundtrip(adata, tmp_path)
    est = dynfer.tl.load_estimator(back, KEY)
    np.testing.assert_array_equal(est.reference_kwargs["A"], a0)
    assert est.reference_kwargs["b"] is None and est.reference_kwargs["A"].dtype == a0.dtype
    res = back.uns[KEY]["results"]
    assert res["theta"]["A"].shape == (res["n_rounds"], 2, 2)
    np.testing.assert_allclose(est.reference_.theta()["A"], res["theta"]["A"][-1], rtol=1e-6)
    np.testing.assert_array_equal(_interpolate(back, [1.5]).X, _interpolate(adata, [1.5]).X)


def test_unstorable_option_warns_and_loading_asks_for_it(tmp_path):
    adata = _snapshots()
    options = {"hidden": (8,), "activation": lambda: torch.nn.Tanh()}
    with pytest.warns(UserWarning, match="reference_kwargs"):
        _fit(adata, "mlp", reference_kwargs=options)
    back = _roundtrip(adata, tmp_path)
    with pytest.raises(ValueError, match="pass them again"):
        dynfer.tl.interpolate(back, [0.5])
    est = dynfer.tl.load_estimator(back, KEY, reference_kwargs=options)
    np.testing.assert_array_equal(np.concatenate(est.sample([0.5], n=8, seed=3)), _interpolate_direct(adata))
    # an activation class of dynfer.nn.ACTIVATIONS is stored by its name
    _fit(adata, "mlp", reference_kwargs={"hidden": (8,), "activation": torch.nn.Tanh}, key_added="named")
    assert dynfer.tl.load_estimator(_roundtrip(adata, tmp_path), "named").reference_kwargs["activation"] is (
        torch.nn.Tanh)


def _interpolate_direct(adata):
    est = dynfer.tl.load_estimator(adata, KEY, reference_kwargs={"hidden": (8,), "activation": torch.nn.Tanh})
    return np.concatenate(est.sample([0.5], n=8, seed=3))


def test_module_reference_is_passed_again_on_load(tmp_path):
    adata = _snapshots()
    module = MLPReference(2, hidden=(8,))
    with pytest.warns(UserWarning, match="reference"):
        _fit(adata, module)
    back = _roundtrip(adata, tmp_path)
    with pytest.raises(ValueError, match="reference=..."):
        dynfer.tl.interpolate(back, [0.5])
    est = dynfer.tl.load_estimator(back, KEY, reference=module)
    mem = dynfer.tl.load_estimator(adata, KEY, reference=module)
    np.testing.assert_array_equal(np.concatenate(est.sample([0.5], seed=1)), np.concatenate(mem.sample([0.5], seed=1)))
