"""What tl.schrodinger_bridge hands to other tools: obsm drift, obsp transitions (CellRank), names, scalar times."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import dynfer
from dynfer.datasets import lotka_volterra_snapshots
from dynfer.tl._bridge_outputs import TRANSITION_MASS, sparsify_rows

KEY = "schrodinger_bridge"


@pytest.fixture(scope="module")
def lv():
    adata = lotka_volterra_snapshots(n_per_time=40, seed=1)
    dynfer.pp.split_timepoints(adata, holdout="odd")
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="lotka_volterra", sigma=0.1, n_iter=2, train_key="split",
                                     seed=0)
    return adata


def test_drift_in_obsm_is_the_refined_lotka_volterra_field(lv):
    theta = {k: float(v[-1]) for k, v in lv.uns[KEY]["results"]["theta"].items()}
    x, y = np.asarray(lv.X, dtype=np.float64).T
    # dx = (alpha x - beta x y) dt, dy = (delta x y - gamma y) dt, written from the model, not from the code
    expected = np.column_stack([theta["alpha"] * x - theta["beta"] * x * y,
                                theta["delta"] * x * y - theta["gamma"] * y])
    drift = lv.obsm[f"{KEY}_drift"]
    assert drift.shape == (lv.n_obs, 2)
    np.testing.assert_allclose(drift, expected, rtol=1e-5, atol=1e-5)  # float32 fit: ~1e-7 relative per operation


def test_transitions_are_row_stochastic_and_go_to_the_next_time(lv):
    tmat = lv.obsp[f"{KEY}_transitions"]
    assert sp.isspmatrix_csr(tmat) and tmat.dtype == np.float64 and tmat.shape == (lv.n_obs, lv.n_obs)
    np.testing.assert_allclose(np.asarray(tmat.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    assert tmat.data.min() > 0
    t = lv.obs["time"].to_numpy()
    times = np.unique(t)  # every time, the held-out ones too
    rows, cols = tmat.nonzero()
    last = t[rows] == times[-1]
    np.testing.assert_array_equal(rows[last], cols[last])  # the last time: self-loops only
    nxt = dict(zip(times[:-1], times[1:], strict=True))
    assert all(t[c] == nxt[t[r]] for r, c in zip(rows[~last], cols[~last], strict=True))
    params = lv.uns[f"{KEY}_transitions_params"]["params"]
    assert params["mass"] == TRANSITION_MASS and params["last_time"] == "self-loops"


def test_brownian_transitions_of_a_translation_find_the_translated_cell():
    # far-apart points shifted by a constant: the entropic plan at small sigma is the translation map itself
    rng = np.random.default_rng(3)
    base = rng.permutation(np.arange(12))[:, None] * np.array([[3.0, 0.0]]) + rng.normal(scale=0.01, size=(12, 2))
    shift = np.array([0.5, 0.2])
    order = [rng.permutation(12) for _ in range(3)]
    x = np.concatenate([base[o] + k * shift for k, o in enumerate(order)])
    adata = ad.AnnData(x)
    adata.obs["time"] = np.repeat([0.0, 1.0, 2.0], 12)
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="brownian", sigma=0.3, seed=0, dtype="float64")
    tmat = adata.obsp[f"{KEY}_transitions"]
    assert tmat.nnz == adata.n_obs  # each row keeps one entry: it holds more than 99 % of the row
    np.testing.assert_array_equal(np.asarray(adata.obsm[f"{KEY}_drift"]), 0.0)
    for k in range(2):
        src = np.arange(12) + 12 * k
        dst = np.asarray(tmat[src].argmax(axis=1)).ravel() - 12 * (k + 1)
        np.testing.assert_array_equal(order[k + 1][dst], order[k])  # the same base point, one step later


def test_sparsify_rows_keeps_the_smallest_set_with_the_mass():
    plan = torch.tensor([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05], [0.2, 0.2, 0.6]], dtype=torch.float64) / 3
    rows, cols, vals = sparsify_rows(plan, mass=0.8)
    dense = np.zeros((3, 3))
    dense[rows, cols] = vals
    np.testing.assert_allclose(dense, [[0.625, 0.375, 0.0], [1.0, 0.0, 0.0], [0.25, 0.0, 0.75]], atol=1e-15)
    # total-variation distance to the dense conditional row is 1 - kept mass
    full = (plan / plan.sum(1, keepdim=True)).numpy()
    np.testing.assert_allclose(0.5 * np.abs(dense - full).sum(1), [0.2, 0.1, 0.2], atol=1e-12)
    with pytest.raises(dynfer.BadInputError, match="mass"):
        sparsify_rows(plan, mass=0.0)


def test_outputs_survive_h5ad_and_can_be_skipped(lv, tmp_path):
    lv.write_h5ad(tmp_path / "lv.h5ad")
    back = ad.read_h5ad(tmp_path / "lv.h5ad")
    np.testing.assert_array_equal(back.obsm[f"{KEY}_drift"], lv.obsm[f"{KEY}_drift"])
    assert (back.obsp[f"{KEY}_transitions"] != lv.obsp[f"{KEY}_transitions"]).nnz == 0
    small = lotka_volterra_snapshots(n_per_time=10, seed=2)
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(small, reference="linear", sigma=0.3, n_iter=1, seed=0, transitions=False,
                                     key_added="sb")
    assert "sb_drift" in small.obsm and "sb_transitions" not in small.obsp
    with pytest.raises(dynfer.BadInputError, match="transitions"):
        dynfer.tl.schrodinger_bridge(small, reference="linear", sigma=0.3, n_iter=1, transitions="yes")


def test_pca_fit_names_its_drift_for_scvelo_and_interpolate_keeps_the_names():
    adata = lotka_volterra_snapshots(n_per_time=15, seed=4)
    adata = adata[adata.obs["time"] <= 3.0].copy()
    adata.obsm["X_pca"] = np.asarray(adata.X, dtype=np.float64) - 3.0
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="linear", sigma=0.3, n_iter=1, use_rep="X_pca", seed=0)
    np.testing.assert_array_equal(adata.obsm[f"{KEY}_drift_pca"], adata.obsm[f"{KEY}_drift"])
    out = dynfer.tl.interpolate(adata, 0.5, n=3, seed=0)  # a scalar time
    assert list(out.var_names) == ["PC1", "PC2"] and np.all(out.obs["time"] == 0.5) and out.n_obs == 3
    np.testing.assert_array_equal(dynfer.tl.interpolate(adata, np.float64(0.5), n=3, seed=0).X, out.X)
    np.testing.assert_array_equal(dynfer.tl.interpolate(adata, np.array(0.5), n=3, seed=0).X, out.X)
    adata.obsm["X_pca"] = pd.DataFrame(adata.obsm["X_pca"], index=adata.obs_names,
                                                         columns=["prog_a", "prog_b"])
    named = dynfer.tl.interpolate(adata, [0.5, 1.0], n=2, seed=0)
    assert list(named.var_names) == ["prog_a", "prog_b"]


def test_interpolate_on_x_keeps_var_names(lv):
    out = dynfer.tl.interpolate(lv, 3.0, n=4, seed=0)
    assert list(out.var_names) == list(lv.var_names) == ["prey", "predator"]


def test_cellrank_reads_the_transitions_as_a_precomputed_kernel(lv):
    cr = pytest.importorskip("cellrank", reason="cellrank is not installed (it pins Jinja2/scipy versions that "
                                                "dynfer's environment does not take; run this test from a "
                                                "separate virtual environment with cellrank)")
    kernel = cr.kernels.PrecomputedKernel(lv, obsp_key=f"{KEY}_transitions")
    ours = lv.obsp[f"{KEY}_transitions"]
    theirs = sp.csr_matrix(kernel.transition_matrix)
    assert theirs.shape == ours.shape and abs(theirs - ours).max() < 1e-12  # accepted as is: already stochastic
    # fate probabilities towards two groups of last-time cells: absorption in CellRank's linear solve must equal
    # the K-step powers of our (layered) chain, whose last-time rows are self-loops
    t = lv.obs["time"].to_numpy()
    last = np.flatnonzero(t == t.max())
    prey = np.asarray(lv.X)[last, 0]
    a, b = last[prey >= np.median(prey)], last[prey < np.median(prey)]
    g = cr.estimators.GPCCA(kernel)
    g.set_terminal_states({"A": list(lv.obs_names[a]), "B": list(lv.obs_names[b])})
    g.compute_fate_probabilities(solver="direct")
    fate = np.asarray(g.fate_probabilities[["A", "B"]].X)
    power = np.linalg.matrix_power(ours.toarray(), len(np.unique(t)) - 1)
    np.testing.assert_allclose(fate, np.column_stack([power[:, a].sum(1), power[:, b].sum(1)]), atol=1e-8)


def test_scvelo_streams_the_drift_on_the_fitted_basis():
    scv = pytest.importorskip("scvelo", reason="scvelo is not installed (it comes with cellrank; separate venv)")
    import matplotlib

    matplotlib.use("Agg")
    adata = lotka_volterra_snapshots(n_per_time=20, seed=5)
    adata.obsm["X_pca"] = np.asarray(adata.X, dtype=np.float64)
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="lotka_volterra", sigma=0.1, n_iter=1, use_rep="X_pca",
                                     seed=0)
    ax = scv.pl.velocity_embedding_stream(adata, basis="pca", vkey=f"{KEY}_drift", show=False)
    assert ax is not None and len(ax.collections) > 0


def test_mini_batch_fits_give_block_transitions():
    adata = lotka_volterra_snapshots(n_per_time=24, seed=6)
    adata = adata[adata.obs["time"] <= 3.0].copy()
    with dynfer.settings.override(progress=False):
        dynfer.tl.schrodinger_bridge(adata, reference="linear", sigma=0.5, n_iter=1, seed=0, batch_size=8)
    tmat = adata.obsp[f"{KEY}_transitions"]
    np.testing.assert_allclose(np.asarray(tmat.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    # 24 cells per time in 3 batches of 8: a row's successors stay in its batch
    assert np.diff(tmat.indptr).max() <= 8
    t = adata.obs["time"].to_numpy()
    block = tmat[np.flatnonzero(t == 0.0)][:, np.flatnonzero(t == 1.0)]
    # batches never mix: the bipartite graph of row -> successor splits into at least the 3 batches
    bipartite = sp.bmat([[None, block], [block.T, None]])
    n_parts, _ = sp.csgraph.connected_components(bipartite, directed=False)
    assert n_parts >= 3
