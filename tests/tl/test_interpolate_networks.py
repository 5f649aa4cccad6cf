"""tl.interpolate rebuilds network references (non-default sizes) and parametric ones after an h5ad round trip."""

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
from dynfer.tl._schrodinger_bridge import _reference_from_uns

KEY = "schrodinger_bridge"


def _snapshots(n_per_time: int = 12):
    """Three Lotka–Volterra snapshots (t = 0, 1, 2): the smallest multi-marginal problem."""
    adata = lotka_volterra_snapshots(n_per_time=n_per_time, seed=1)
    return adata[adata.obs["time"] <= 2.0].copy()


def _fit(adata, reference, **kwargs):
    torch.manual_seed(0)  # network initialisation draws from the global generator
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

    saved = back.uns[KEY]["params"]["reference_kwargs"]
    np.testing.assert_array_equal(saved["hidden"], options["hidden"])
    assert saved.get("activation", "silu") == options.get("activation", "silu")

    times = [0.5, 1.25]
    out = _interpolate(back, times)
    assert out.n_obs == 16 and np.all(np.isfinite(out.X))
    np.testing.assert_array_equal(np.unique(out.obs["time"]), times)
    # same seed, in memory vs read back: identical particles
    np.testing.assert_array_equal(out.X, _interpolate(adata, times).X)

    # the reference rebuilt from the file is the fitted one: same drift as the estimator fitted directly
    torch.manual_seed(0)
    xs = [np.asarray(adata.X[adata.obs["time"].to_numpy() == t], dtype=np.float64) for t in (0.0, 1.0, 2.0)]
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        est = SchrodingerBridge(family, sigma=0.1, n_iter=1, seed=0, reference_kwargs=options).fit(xs, [0, 1, 2])
    rebuilt = _reference_from_uns(back.uns[KEY], 2)
    probe = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 2)), dtype=dynfer.settings.dtype)
    fitted_drift = est.reference_(probe).detach()
    assert fitted_drift.abs().max() > 0  # the refinement moved the network away from its zero start
    torch.testing.assert_close(rebuilt(probe).detach(), fitted_drift)


def test_parametric_reference_survives_h5ad(tmp_path):
    adata = _snapshots()
    _fit(adata, "linear", reference_kwargs={"A": [[0.0, -1.0], [1.0, 0.0]], "b": None})
    back = _roundtrip(adata, tmp_path)
    res = back.uns[KEY]
    assert res["family"] == "linear" and not res["params"]["fit_sigma"]
    np.testing.assert_array_equal(res["params"]["reference_kwargs"]["A"], [[0.0, -1.0], [1.0, 0.0]])
    assert "b" not in res["params"]["reference_kwargs"]  # None is not writable: dropped (it is the default)
    assert res["theta"]["A"].shape == (res["n_rounds"], 2, 2)
    rebuilt = _reference_from_uns(res, 2)
    np.testing.assert_allclose(rebuilt.theta()["A"], res["theta"]["A"][-1], rtol=1e-6)
    out = _interpolate(back, [1.5])
    np.testing.assert_array_equal(out.obs["time"], 1.5)
    np.testing.assert_array_equal(out.X, _interpolate(adata, [1.5]).X)


def test_unstorable_options_warn_and_interpolate_explains(tmp_path):
    adata = _snapshots()
    with pytest.warns(UserWarning, match="activation"):
        _fit(adata, "mlp", reference_kwargs={"hidden": (8,), "activation": lambda: torch.nn.Tanh()})
    back = _roundtrip(adata, tmp_path)
    with pytest.raises(ValueError, match="could not be stored"):
        dynfer.tl.interpolate(back, [0.5])
    # an activation class of dynfer.nn.ACTIVATIONS is saved under its name
    _fit(adata, "mlp", reference_kwargs={"hidden": (8,), "activation": torch.nn.Tanh}, key_added="named")
    assert _roundtrip(adata, tmp_path).uns["named"]["params"]["reference_kwargs"]["activation"] == "tanh"


def test_network_instance_reference_keeps_clear_error(tmp_path):
    adata = _snapshots()
    _fit(adata, MLPReference(2, hidden=(8,)))
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        dynfer.tl.interpolate(_roundtrip(adata, tmp_path), [0.5])
