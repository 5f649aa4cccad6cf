"""Graph input, SRW / MHRW transition matrices, stationary laws and the non-backtracking walk.

Closed forms are written here independently of the code under test (dense numpy from networkx adjacency).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from dynfer.processes.walks import (
    NonBacktrackingWalk,
    graph_adjacency,
    metropolis_hastings_matrix,
    node_order,
    padded_neighbour_table,
    simple_walk_matrix,
    simple_walk_stationary,
    stationary_distribution,
)


def dense(t: torch.Tensor) -> np.ndarray:
    return t.to_dense().cpu().double().numpy()


def adjacency(graph: nx.Graph) -> np.ndarray:
    return nx.to_numpy_array(graph, nodelist=list(graph.nodes()), dtype=float, weight=None)


def left_null_vector(p: np.ndarray) -> np.ndarray:
    """Stationary law via numpy: eigenvector of P^T for the eigenvalue closest to 1."""
    vals, vecs = np.linalg.eig(p.T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    return v / v.sum()


@pytest.fixture
def labelled_graph() -> nx.Graph:
    """Karate club relabelled with strings, nodes inserted in a shuffled order (node order != sorted order)."""
    base = nx.karate_club_graph()
    rng = np.random.default_rng(3)
    order = rng.permutation(base.number_of_nodes())
    g = nx.Graph()
    g.add_nodes_from(f"n{i}" for i in order)
    g.add_edges_from((f"n{u}", f"n{v}") for u, v in base.edges())
    return g


# ------------------------------------------------------------------------------------------------- graph input
def test_node_order_is_graph_order(labelled_graph):
    assert node_order(labelled_graph) == list(labelled_graph.nodes())
    adj = graph_adjacency(labelled_graph)
    a = adjacency(labelled_graph)
    np.testing.assert_array_equal(adj.degree, a.sum(1))
    np.testing.assert_array_equal(adj.scipy().toarray(), a)


@pytest.mark.parametrize(
    ("graph", "match"),
    [
        (nx.DiGraph([(0, 1), (1, 0)]), "directed.*to_undirected"),
        (nx.MultiGraph([(0, 1), (0, 1)]), "multigraph"),
        (nx.Graph(), "empty"),
        (nx.empty_graph(1), "no edges"),
        (nx.Graph([(0, 0), (0, 1)]), "self-loop"),
        ([(0, 1)], "networkx.Graph"),
    ],
)
def test_bad_graphs(graph, match):
    with pytest.raises(ValueError, match=match):
        simple_walk_matrix(graph)


def test_disconnected_graph_message():
    g = nx.disjoint_union(nx.path_graph(5), nx.path_graph(3))
    g.add_node(99)
    with pytest.raises(ValueError, match=r"graph is disconnected \(3 connected components.*largest has 5 of 9"):
        metropolis_hastings_matrix(g)
    with pytest.raises(ValueError, match="largest component"):
        NonBacktrackingWalk(g)


# ------------------------------------------------------------------------------------------------- SRW
def test_simple_walk_matrix(labelled_graph, device):
    p = simple_walk_matrix(labelled_graph, device=device, dtype=torch.float64)
    assert p.layout == torch.sparse_csr and p.device.type == device.type and p.dtype == torch.float64
    a = adjacency(labelled_graph)
    np.testing.assert_allclose(dense(p), a / a.sum(1, keepdims=True), rtol=0, atol=1e-15)
    mu = simple_walk_stationary(labelled_graph, dtype=torch.float64).numpy()
    np.testing.assert_allclose(mu, a.sum(1) / a.sum(), rtol=1e-14)
    np.testing.assert_allclose(mu @ dense(p), mu, atol=1e-14)
    np.testing.assert_allclose(left_null_vector(dense(p)), mu, atol=1e-12)
    np.testing.assert_allclose(stationary_distribution(p, dtype=torch.float64).cpu().numpy(), mu, atol=1e-12)


def test_stationary_distribution_periodic_chain():
    # SRW on an even cycle is periodic (eigenvalue -1); the linear solve still gives the uniform law
    p = simple_walk_matrix(nx.cycle_graph(6), dtype=torch.float64)
    np.testing.assert_allclose(stationary_distribution(p, dtype=torch.float64).numpy(), np.full(6, 1 / 6), atol=1e-14)


# ------------------------------------------------------------------------------------------------- MHRW
def mh_dense(a: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """P_ij = (1/d_i) min(1, mu_j d_i / (mu_i d_j)) on edges, P_ii = 1 - sum_j P_ij (written independently)."""
    d = a.sum(1)
    n = len(d)
    p = np.zeros_like(a)
    for i in range(n):
        for j in range(n):
            if a[i, j]:
                p[i, j] = min(1.0, mu[j] * d[i] / (mu[i] * d[j])) / d[i]
        p[i, i] = 1.0 - p[i].sum()
    return p


@pytest.mark.parametrize("kind", ["uniform", "random", "mapping"])
def test_metropolis_hastings(labelled_graph, device, kind):
    a = adjacency(labelled_graph)
    n = len(a)
    nodes = list(labelled_graph.nodes())
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.2, 3.0, n)
    target = {"uniform": None, "random": weights, "mapping": dict(zip(nodes, weights, strict=True))}[kind]
    mu = np.full(n, 1 / n) if kind == "uniform" else weights / weights.sum()
    p_t = metropolis_hastings_matrix(labelled_graph, target, device=device, dtype=torch.float64)
    assert p_t.layout == torch.sparse_csr and p_t.device.type == device.type
    p = dense(p_t)
    np.testing.assert_allclose(p, mh_dense(a, mu), atol=1e-14)
    assert p.min() >= 0
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-14)
    flow = mu[:, None] * p
    np.testing.assert_allclose(flow, flow.T, atol=1e-15)  # detailed balance
    np.testing.assert_allclose(mu @ p, mu, atol=1e-14)
    np.testing.assert_allclose(left_null_vector(p), mu, atol=1e-12)
    if kind == "uniform":  # the textbook form min(1/d_i, 1/d_j)
        d = a.sum(1)
        off = np.where(a > 0, np.minimum(1 / d[:, None], 1 / d[None, :]), 0.0)
        np.testing.assert_allclose(p - np.diag(np.diag(p)), off, atol=1e-15)


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ([np.nan] + [1.0] * 33, "NaN"),
        ([-1.0] + [1.0] * 33, "strictly positive"),
        ([0.0] + [1.0] * 33, "strictly positive"),
        ([1.0] * 5, r"shape \(34,\)"),
        ({0: 1.0}, "lacks 33 node"),
        ("abc", "numeric"),
    ],
)
def test_bad_target(target, match):
    with pytest.raises(ValueError, match=f"target.*{match}|{match}.*target"):
        metropolis_hastings_matrix(nx.karate_club_graph(), target)


def test_default_dtype_and_device():
    p = metropolis_hastings_matrix(nx.karate_club_graph())
    assert p.dtype == torch.float32 and p.device.type == "cpu"


# ------------------------------------------------------------------------------------------------- neighbour table
def test_padded_neighbour_table(labelled_graph):
    for p in (simple_walk_matrix(labelled_graph, dtype=torch.float64), metropolis_hastings_matrix(labelled_graph)):
        pd = dense(p)
        index, values, n_valid = padded_neighbour_table(p, dtype=torch.float64)
        n = pd.shape[0]
        assert index.shape == values.shape == (n, int((pd > 0).sum(1).max()) + (1 if np.diag(pd).min() == 0 else 0))
        np.testing.assert_array_equal(index[:, 0].numpy(), np.arange(n))  # self first
        for i in range(n):
            k = int(n_valid[i])
            assert k == len(set(np.flatnonzero(pd[i])) | {i})
            np.testing.assert_allclose(values[i, :k].numpy(), pd[i, index[i, :k].numpy()], rtol=1e-7)
            assert (values[i, k:] == 0).all() and (index[i, k:] == i).all()


# ------------------------------------------------------------------------------------------------- NBRW
def test_nbrw_never_backtracks(device):
    g = nx.karate_club_graph()  # node 11 has degree 1: the only place a backtrack is allowed (and forced)
    walk = NonBacktrackingWalk(g, device=device)
    res = walk.run(400, n_tokens=64, seed=0, record="trajectory")
    traj = res.trajectory.cpu().numpy()
    assert traj.shape == (400, 64)
    deg = np.array([d for _, d in g.degree()])
    a = adjacency(g)
    assert np.all(a[traj[:-1], traj[1:]] == 1)  # every move follows an edge
    prev, cur, nxt = traj[:-2], traj[1:-1], traj[2:]
    back = nxt == prev
    assert not np.any(back & (deg[cur] > 1))
    at_leaf = deg[cur] == 1
    assert at_leaf.any() and np.all(back[at_leaf])
    np.testing.assert_array_equal(res.position.cpu().numpy(), traj[-1])
    counts = np.stack([np.bincount(traj[:, t], minlength=34) for t in range(64)])
    np.testing.assert_array_equal(res.visit_counts.cpu().numpy(), counts)


def test_nbrw_seeded_and_start(device):
    walk = NonBacktrackingWalk(nx.les_miserables_graph(), device=device)
    r1 = walk.run(50, n_tokens=8, seed=5, record="trajectory", start=3)
    r2 = walk.run(50, n_tokens=8, seed=5, record="trajectory", start=3)
    assert torch.equal(r1.trajectory, r2.trajectory)
    nodes = list(nx.les_miserables_graph().nodes())
    first = r1.trajectory[0].cpu().numpy()
    assert all(nx.les_miserables_graph().has_edge(nodes[3], nodes[j]) for j in first)
    with pytest.raises(ValueError, match="start"):
        walk.run(5, n_tokens=2, start=[0, 500])
    with pytest.raises(ValueError, match="n_steps"):
        walk.run(-1)
    with pytest.raises(ValueError, match="record"):
        walk.run(3, record="x")


def test_nbrw_visits_degree_law(device):
    """Visit frequencies -> mu_i = d_i / 2|E|.

    Tolerance: the NBRW's asymptotic covariance is below the SRW's (Lee, Xu, Eun 2012, Thm. 2), so the
    per-node standard error of the mean frequency over T tokens of n steps is at most sqrt(V_SRW[i,i] / (n T));
    we allow 5 of them. No start-up bias: the start node is drawn from mu ∝ d and the first move is a uniform
    neighbour, i.e. the directed-edge chain starts in its (uniform) stationary law.
    """
    g = nx.karate_club_graph()
    a = adjacency(g)
    mu = a.sum(1) / a.sum()
    n_steps, n_tokens = 2000, 256
    res = NonBacktrackingWalk(g, device=device).run(n_steps, n_tokens=n_tokens, seed=1)
    freq = res.frequencies().cpu().double().numpy().mean(0)
    p = a / a.sum(1, keepdims=True)
    sq = np.sqrt(mu)
    lam, phi = np.linalg.eigh(sq[:, None] * p / sq[None, :])
    lam, phi = lam[:-1], phi[:, :-1]
    keep = lam > -1 + 1e-9
    u = sq[:, None] * phi[:, keep]
    v_srw = (u * ((1 + lam[keep]) / (1 - lam[keep]))) @ u.T
    tol = 5 * np.sqrt(np.diag(v_srw) / (n_steps * n_tokens))
    assert np.all(np.abs(freq - mu) <= tol), np.max(np.abs(freq - mu) / tol)


# ------------------------------------------------------------------------------------------------- stochastic matrices
@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        ([[0.5, 0.9], [0.3, 0.1]], r"matrix: row 1 sums to 0\.4 \(the worst of 2 row\(s\) off by more than 1\.5e-08\)"),
        ([[1.5, -0.5], [0.3, 0.7]], r"negative entry.*matrix\[0, 1\] = -0\.5"),
        ([[np.nan, 1.0], [0.0, 1.0]], "NaN or infinite"),
        ([[0.5, 0.5]], "square"),
        (np.zeros((0, 0)), "empty"),
        (np.ones((2, 2, 2)), r"shape \(2, 2, 2\)"),
        (np.array([["a"]]), "dtype <U1"),
        (np.array([[1.0, None]], dtype=object), "dtype object"),
        (np.eye(3), "without a unique positive stationary law"),
        (torch.tensor([[1.0 + 0j]]), "complex"),
        (np.array([[0.5, 0.5 + 1e-4], [0.5, 0.5]], dtype=np.float64), "row 0 sums to 1.0001"),
    ],
)
def test_stationary_distribution_refuses_non_stochastic_matrices(matrix, match):
    import dynfer

    with pytest.raises(dynfer.BadInputError, match=match):  # [[0.5, 0.9], [0.3, 0.1]] used to give [0.5, 0.5]
        stationary_distribution(matrix)


def test_row_sum_tolerance_follows_the_dtype():
    p = np.array([[0.5, 0.5 + 1e-4], [0.5, 0.5]])
    # float32 rounding (3.5e-4 tolerance) accepts what float64 (1.5e-8) refuses
    pi = stationary_distribution(torch.tensor(p, dtype=torch.float32))
    assert abs(float(pi.sum()) - 1) < 1e-6
    periodic = stationary_distribution(np.array([[0.0, 1.0], [1.0, 0.0]]))
    torch.testing.assert_close(periodic, torch.tensor([0.5, 0.5]))


def test_walks_refuse_unbounded_runs_and_bad_records():
    import dynfer

    walk = NonBacktrackingWalk(nx.cycle_graph(5))
    with pytest.raises(dynfer.BadInputError, match=r"NonBacktrackingWalk.run: n_steps: 1000000000000 steps.*"
                       r"max_work"):
        walk.run(10**12)
    with pytest.raises(dynfer.BadInputError, match="record: 3"):  # was a TypeError from set(3)
        walk.run(5, record=3)
    with pytest.raises(dynfer.BadInputError, match="start"):
        walk.run(5, start=np.array(1.0, dtype=object))


def test_nbrw_next_nodes_with_given_uniforms():
    """First move: neighbour floor(u d) in sorted order; later moves skip the previous node; a leaf goes back."""
    from dynfer.processes.walks import NonBacktrackingWalk

    g = nx.star_graph(3)  # centre 0, leaves 1, 2, 3
    walk = NonBacktrackingWalk(g)
    cur = torch.tensor([0, 0, 0, 1])
    nxt, edge = walk.next_nodes(cur, torch.full((4,), -1), torch.tensor([0.1, 0.4, 0.9, 0.5], dtype=torch.float64))
    assert nxt.tolist() == [1, 2, 3, 0]
    back, _ = walk.next_nodes(nxt, edge, torch.tensor([0.7, 0.7, 0.7, 0.1], dtype=torch.float64))
    assert back.tolist() == [0, 0, 0, 2]  # leaves go back; from the centre (came from 1) u=0.1 picks 2, not 1
    run = walk.run(25, n_tokens=3, start=0, seed=2, record="trajectory")
    gen = torch.Generator().manual_seed(2)
    cur, edge = torch.zeros(3, dtype=torch.int64), torch.full((3,), -1)
    for step in range(25):
        cur, edge = walk.next_nodes(cur, edge, torch.rand(3, generator=gen, dtype=torch.float64))
        assert torch.equal(cur, run.trajectory[step])
