"""standardize and pca: moments after scaling, parameters recorded, copy semantics."""

import numpy as np
import pytest
from scipy import sparse

from dynfer.io import make_snapshots
from dynfer.pp._scale import pca, standardize


def _snapshots(n_per=40, seed=0):
    rng = np.random.default_rng(seed)
    t = np.repeat(np.arange(3, dtype=float), n_per)
    x = rng.normal(size=(len(t), 4)) * [1.0, 5.0, 0.1, 2.0] + [3.0, -1.0, 0.0, 10.0] + t[:, None]
    return make_snapshots(x, t)


def test_dataset_zero_mean_unit_variance_and_inverse():
    adata = _snapshots()
    raw = adata.X.copy()
    out = standardize(adata, copy=True)
    np.testing.assert_allclose(out.X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.X.std(axis=0, ddof=1), 1.0, rtol=1e-12)
    rec = out.uns["standardize"]
    np.testing.assert_allclose(out.X * rec["std"] + rec["mean"], raw, rtol=1e-12)
    np.testing.assert_array_equal(adata.X, raw)  # copy=True: input unchanged


def test_per_time_and_global():
    adata = _snapshots()
    out = standardize(adata, per="time", copy=True)
    for t in range(3):
        block = out.X[out.obs["time"].to_numpy() == t]
        np.testing.assert_allclose(block.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(block.std(axis=0, ddof=1), 1.0, rtol=1e-12)
    assert out.uns["standardize"]["mean"].shape == (3, 4)

    raw_var = adata.X.var(axis=0, ddof=1)
    standardize(adata, per="global")
    np.testing.assert_allclose(adata.X.mean(axis=0), 0.0, atol=1e-12)
    var = adata.X.var(axis=0, ddof=1)
    np.testing.assert_allclose(var.mean(), 1.0, rtol=1e-12)  # mean variance 1 ...
    np.testing.assert_allclose(var / raw_var, 1.0 / raw_var.mean(), rtol=1e-12)  # ... one factor for all features


def test_standardize_sparse_and_errors():
    adata = _snapshots()
    adata.X = sparse.csr_matrix(adata.X)
    out = standardize(adata, copy=True)
    assert isinstance(out.X, np.ndarray)
    with pytest.raises(ValueError, match="per must be one of"):
        standardize(adata, per="cell")
    adata = _snapshots(n_per=1)
    with pytest.raises(ValueError, match="time point 0 has 1 cell"):
        standardize(adata, per="time")
    assert "standardize" not in adata.uns


def test_pca_matches_eigendecomposition():
    adata = _snapshots()
    out = pca(adata, 2, copy=True)
    z = out.obsm["X_pca"]
    assert z.shape == (adata.n_obs, 2)
    # variances of the components are the top eigenvalues of the sample covariance
    evals = np.sort(np.linalg.eigvalsh(np.cov(adata.X, rowvar=False)))[::-1]
    np.testing.assert_allclose(z.var(axis=0, ddof=1), evals[:2], rtol=1e-8)
    assert out.uns["pca"]["params"]["n_comps"] == 2
    assert "X_pca" not in adata.obsm


def test_pca_all_components_custom_key_in_place():
    adata = _snapshots()
    assert pca(adata, 4, key_added="X_full") is None
    assert adata.obsm["X_full"].shape == (adata.n_obs, 4)
    assert adata.varm["X_full"].shape == (4, 4)
    np.testing.assert_allclose(adata.uns["X_full"]["variance_ratio"].sum(), 1.0, rtol=1e-8)
    with pytest.raises(ValueError, match="n_comps must be an integer in"):
        pca(adata, 5)


def test_pbmc_standardize_pca(shared_data):
    from dynfer.io.singlecell import read_snapshot_arrays

    path = shared_data / "pbmc_timecourse_nc" / "processed_pbmc_data_sub500_every_2_until20.npz"
    adata = read_snapshot_arrays(path, key="Xs")
    standardize(adata)
    np.testing.assert_allclose(adata.X.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(adata.X.std(axis=0, ddof=1), 1.0, rtol=1e-10)
    pca(adata, 5)
    assert adata.obsm["X_pca"].shape == (10500, 5)


@pytest.mark.parametrize("per", ["dataset", "time", "global"])
def test_float16_is_standardised_in_float64_without_nan(per):
    adata = _snapshots()
    adata.X = (adata.X * 1000).astype(np.float16)  # float16 sums overflow: per="time" wrote NaN into X and std
    standardize(adata, per=per)
    rec = adata.uns["standardize"]
    assert adata.X.dtype == np.float16 and np.isfinite(adata.X).all()
    assert rec["std"].dtype == np.float64 and np.isfinite(rec["std"]).all() and (rec["std"] > 0).all()
    np.testing.assert_allclose(adata.X.astype(np.float64).mean(axis=0) if per != "time" else 0.0, 0.0, atol=2e-2)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_extreme_scales_standardise_exactly(scale):
    adata = _snapshots()
    ref = standardize(adata, copy=True)
    adata.X = adata.X * scale  # variances of 1e600 or 1e-600 leave float64
    out = standardize(adata, copy=True)
    np.testing.assert_allclose(out.X, ref.X, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.uns["standardize"]["std"], ref.uns["standardize"]["std"] * scale, rtol=1e-10)


def test_pca_refuses_zero_and_unresolvable_variance():
    import dynfer

    adata = _snapshots()
    adata.X = np.zeros_like(adata.X)
    with pytest.raises(dynfer.BadInputError, match="adata.X: zero variance: every feature is constant"):
        pca(adata, 2)  # was ARPACK's "starting vector is zero"
    adata.X = _snapshots().X * 1e200
    with pytest.raises(dynfer.BadInputError, match="adata.X: a total variance of about 1e40"):
        pca(adata, 2)  # was an ARPACK factorisation error
    adata.X = (_snapshots().X * 1e-30).astype(np.float32)
    with pytest.raises(dynfer.BadInputError, match="outside what float32 resolves.*convert it to float64"):
        pca(adata, 2)
    assert "X_pca" not in adata.obsm


def test_pca_follows_scanpy_defaults_and_random_state():
    """n_comps optional (scanpy's rule: min(n_obs, n_vars) - 1 up to 50) and scanpy's random_state keyword."""
    import scanpy as sc

    adata = _snapshots()
    out = pca(adata, copy=True, random_state=3)
    ref = adata.copy()
    sc.pp.pca(ref, random_state=3, dtype=adata.X.dtype)
    assert out.obsm["X_pca"].shape == ref.obsm["X_pca"].shape == (adata.n_obs, min(adata.shape) - 1)
    np.testing.assert_allclose(np.abs(out.obsm["X_pca"]), np.abs(ref.obsm["X_pca"]), rtol=1e-6, atol=1e-10)
    assert out.uns["pca"]["params"]["seed"] == 3
    np.testing.assert_array_equal(pca(adata, 2, copy=True, seed=3).obsm["X_pca"],
                                  pca(adata, 2, copy=True, random_state=3).obsm["X_pca"])
    with pytest.raises(ValueError, match="random_state"):
        pca(adata, 2, random_state=1, seed=2)
