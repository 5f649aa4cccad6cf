"""Every real dataset loads from the ../shared/data mirror with the shapes stated in PROVENANCE.md and the notes."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dynfer import _keys as K
from dynfer.datasets import load, load_fim_dfr, load_fim_mjp_prior, load_mmtraj
from dynfer.io import validate_particles, validate_snapshots, validate_states, validate_trajectories
from dynfer.processes import flashing_ratchet


@pytest.mark.parametrize(
    ("system", "d", "t_last"),
    [("LV", 2, 10.0), ("repressilator_mrna", 3, 10.0), ("repressilator_mrna_protein", 3, 10.0), ("GoM", 2, 8.0)],
)
def test_mmtraj_snapshots(shared_data, system, d, t_last):
    adata = load("mmtraj_benchmarks", system=system)
    validate_snapshots(adata)
    assert adata.shape == (11 * 200, d)
    times = np.unique(adata.obs[K.TIME])
    np.testing.assert_allclose(times, np.linspace(0, t_last, 11))  # dts holds observation times, not increments
    assert (adata.obs[K.TIME].value_counts() == 200).all()
    src = adata.uns[K.SOURCE]
    assert src["licence"] == "MIT" and src["commit"].startswith("bff2efd")
    if system == "LV":  # X0 ~ U([5, 5.1] x [4, 4.1])
        x0 = adata.X[adata.obs[K.TIME].to_numpy() == 0]
        assert (x0 >= [5, 4]).all() and (x0 <= [5.1, 4.1]).all()


def test_mmtraj_rejects_unknown_system(shared_data):
    with pytest.raises(ValueError, match="system must be one of"):
        load_mmtraj("EB")


def test_pbmc_snapshots(shared_data):
    adata = load("pbmc_timecourse_nc")
    validate_snapshots(adata)
    assert adata.shape == (21 * 500, 30)
    np.testing.assert_allclose(np.unique(adata.obs[K.TIME]), np.linspace(0, 1, 21), atol=1e-12)
    np.testing.assert_allclose(np.unique(adata.obs["time_hours"]), np.arange(21), atol=1e-9)
    assert adata.uns["pbmc_y0"].shape == (4340, 30)
    assert adata.uns[K.SOURCE]["redistribute"] is False
    hours = load("pbmc_timecourse_nc", time="hours")
    np.testing.assert_allclose(np.unique(hours.obs[K.TIME]), np.arange(21), atol=1e-9)


def test_fim_dfr_paths_and_ground_truth(shared_data):
    adata = load("fim_dfr", V=1, n_paths=300)
    validate_trajectories(adata)
    validate_states(adata, n_states=6)
    assert adata.n_obs == 300 * 100 and adata.obs[K.TRAJECTORY].nunique() == 300
    t = np.unique(adata.obs[K.TIME])
    assert len(t) == 100 and t[0] == 0 and abs(t[-1] - 2.5) < 1e-6
    q = adata.uns["rate_matrix"]
    np.testing.assert_allclose(q, flashing_ratchet(1.0, device="cpu").Q.numpy(), rtol=1e-5, atol=1e-6)
    assert int(adata.uns["adjacency"].sum()) == 18
    np.testing.assert_allclose(
        adata.uns["initial_distribution"], [0.30119, 0.13654, 0.06227, 0.20030, 0.15914, 0.14057], atol=1e-4
    )
    assert (adata.uns["V"], adata.uns["r"], adata.uns["b"]) == (1.0, 1.0, 1.0)


def test_fim_dfr_arguments(shared_data):
    for bad in (4, -1):
        with pytest.raises(ValueError, match="V must be"):
            load_fim_dfr(bad)
    with pytest.raises(ValueError, match="n_paths"):
        load_fim_dfr(0, n_paths=10001)


@pytest.mark.slow
@pytest.mark.parametrize("V", [0, 1, 2, 3])
def test_fim_dfr_all_paths(shared_data, V):
    adata = load_fim_dfr(V)
    assert adata.n_obs == 10000 * 100


@pytest.mark.parametrize(
    ("n_states", "split", "n"), [(6, "train", 400), (6, "test", 400), (4, "train", 400), (4, "test", 200)]
)
def test_fim_prior_samples(shared_data, n_states, split, n):
    out = load_fim_mjp_prior(n_states, split)
    assert out["rate_matrices"].shape == (n, 6, 6) and out["adjacency"].shape == (n, 6, 6)
    assert out["initial_distributions"].shape == (n, 6) and out["seq_lengths"].shape == (n, 300)
    assert out["time_normalization_factors"].shape == (n,)
    np.testing.assert_allclose(out["rate_matrices"].sum(-1), 0, atol=1e-4)
    if n_states == 4:  # padded to 6x6 with zero rows/cols
        assert np.all(out["rate_matrices"][:, 4:, :] == 0) and np.all(out["rate_matrices"][:, :, 4:] == 0)
    assert out["grid"] == ("random" if n_states == 6 else "regular")
    with pytest.raises(ValueError, match="n_states, split"):
        load_fim_mjp_prior(5, "train")


def test_mocap35(shared_data):
    adata = load("mocap35")
    validate_trajectories(adata)
    assert adata.shape == (16 * 300, 50) and adata.obs[K.TRAJECTORY].nunique() == 16
    low = load("mocap35", low_dim=True)
    assert low.shape == (16 * 300, 3)
    assert load("mocap35", split="all").shape == (23 * 300, 50)


def test_abp_lammps(shared_data):
    adata = load("abp_lammps_amep", n_frames=3)
    validate_particles(adata)
    assert adata.n_obs == 3 and adata.uns[K.N_PARTICLES] == 4000 and adata.uns[K.DIM] == 2
    np.testing.assert_allclose(adata.uns[K.BOX], [79.266, 79.266], atol=1e-3)
    np.testing.assert_allclose(np.diff(adata.obs[K.TIME]), 0.1, rtol=1e-9)  # 1e4 steps of dt = 1e-5
    assert adata.uns[K.SOURCE]["licence"] == "GPL-3.0-or-later"


@pytest.mark.slow
def test_abp_lammps_all_frames(shared_data):
    adata = load("abp_lammps_amep")
    assert adata.n_obs == 26


@pytest.mark.filterwarnings("ignore:.*configuration/step.*")
def test_gsd_fixture(shared_data):
    adata = load("gsd_lj_freud_fixture")
    validate_particles(adata)
    assert adata.n_obs == 4 and adata.uns[K.N_PARTICLES] == 1000 and adata.uns[K.DIM] == 3
    np.testing.assert_allclose(adata.uns[K.BOX], 10.772174, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "nodes", "edges", "mean_degree"),
    [
        ("wikivote889", 889, 2914, 6.56),
        ("ego_facebook", 4039, 88234, 43.69),
        ("p2p_gnutella04", 10876, 39994, 7.35),
        ("p2p_gnutella08", 6299, 20776, None),
    ],
)
def test_graphs(shared_data, name, nodes, edges, mean_degree):
    g = load(name)
    assert isinstance(g, nx.Graph) and not g.is_directed()
    assert (g.number_of_nodes(), g.number_of_edges()) == (nodes, edges)
    assert nx.is_connected(g) and not nx.is_bipartite(g)
    if mean_degree is not None:
        assert abs(2 * edges / nodes - mean_degree) < 0.01
    assert g.graph[K.SOURCE]["name"] == name


def test_gnutella08_full_graph_has_two_components(shared_data):
    g = load("p2p_gnutella08", largest_component=False)
    assert (g.number_of_nodes(), g.number_of_edges()) == (6301, 20777)
    assert nx.number_connected_components(g) == 2
