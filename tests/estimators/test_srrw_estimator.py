"""SelfRepellentSGD on the karate club: convergence, the effect of alpha, baselines, the empirical measure.

Statistical tolerances come from the run-to-run spread: with R independent runs, the mean squared error has
standard error s/sqrt(R) (s the sample standard deviation of the per-run squared errors), so two independent
configurations differ significantly when the gap exceeds z * sqrt(se_1^2 + se_2^2); z = 4 (one-sided p < 3.2e-5).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from dynfer.estimators.srrw.estimator import SelfRepellentSGD
from dynfer.estimators.srrw.objectives import ShardedObjective
from dynfer.estimators.srrw.streams import stream_keys, uniforms
from dynfer.processes.walks import metropolis_hastings_matrix

Z = 4.0


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def karate_problem(seed: int = 0, p: int = 5, rows: int = 10):
    """Least squares with heterogeneous shards: the two clubs hold data from different regression vectors."""
    g = nx.karate_club_graph()
    rng = np.random.default_rng(seed)
    n = g.number_of_nodes()
    x = rng.normal(size=(n * rows, p))
    club = np.array([g.nodes[i]["club"] == "Mr. Hi" for i in g.nodes()], float)
    node_of = np.repeat(np.arange(n), rows)
    theta_node = rng.normal(size=p)[None] + 3 * (club[:, None] - 0.5)
    y = np.einsum("rp,rp->r", x, theta_node[node_of]) + 0.5 * rng.normal(size=n * rows)
    return g, x, y, node_of


def fit(alpha=10.0, base="mhrw", n_steps=3000, n_runs=80, **kw):
    g, x, y, node_of = karate_problem()
    est = SelfRepellentSGD(alpha, base=base, n_steps=n_steps, n_runs=n_runs, seed=0, dtype=torch.float64, **kw)
    return est.fit(g, x, y, node_of)


def sem(est, k=-1):
    return est.errors_[k].std(ddof=1) / np.sqrt(est.errors_.shape[1])


@pytest.fixture(scope="module")
def runs():
    return {name: fit(alpha, base) for name, (alpha, base) in
            {"mhrw0": (0.0, "mhrw"), "mhrw10": (10.0, "mhrw"), "iid": (0.0, "iid"), "srw10": (10.0, "srw")}.items()}


def test_theta_star_is_the_exact_minimiser(runs):
    g, x, y, node_of = karate_problem()
    want = np.linalg.lstsq(x, y, rcond=None)[0]  # equal shards, uniform target: the pooled least squares
    for est in runs.values():
        np.testing.assert_allclose(est.theta_star_, want, rtol=1e-10)


def test_iterates_converge(runs):
    for name, est in runs.items():
        # the MSE at the end is below a tenth of its value at step 1, beyond the run-to-run error of both (the
        # MHRW base chain alone mixes slowly between the two clubs and gets there only later: it is checked below)
        start, end = est.mse_[0], est.mse_[-1]
        if name != "mhrw0":
            assert end + Z * sem(est) < 0.1 * (start - Z * sem(est, 0))
        # and decreases over the second half of the record (log-spaced: steps 55 .. 3000), up to noise
        half = len(est.steps_) // 2
        assert est.mse_[-1] + Z * sem(est) < est.mse_[half] - Z * sem(est, half)
    assert runs["mhrw10"].regime_ == "gamma=o(beta)"


def test_alpha_beats_the_base_chain_and_iid_beats_mhrw(runs):
    a0, a10, iid = runs["mhrw0"], runs["mhrw10"], runs["iid"]
    assert a10.mse_[-1] + Z * np.hypot(sem(a10), sem(a0)) < a0.mse_[-1]
    assert iid.mse_[-1] + Z * np.hypot(sem(iid), sem(a0)) < a0.mse_[-1]
    # alpha helps at every recorded step from 1 % of the run on (same steps, same seeds)
    late = a0.steps_ >= 40
    gap = a0.mse_[late] - a10.mse_[late]
    se = np.hypot(a0.errors_[late].std(1, ddof=1), a10.errors_[late].std(1, ddof=1)) / np.sqrt(80)
    assert np.all(gap > Z * se)


def test_empirical_measure_tends_to_the_target():
    """x_n -> mu for a non-uniform target (b = 1: x_n is the visit frequency with the start-up mass x_0).

    Tolerance: Z standard errors of the run mean per node, plus the O(1/n) bias of a chain started in equilibrium
    with x_0 = 1/N: at most (1 + t_rel) / n, with t_rel = 1/(1 - lambda_2) the relaxation time of the base chain
    (the self-repellent kernel only speeds mixing up).
    """
    g, x, y, node_of = karate_problem()
    n = g.number_of_nodes()
    mu = np.linspace(1.0, 3.0, n)
    mu /= mu.sum()
    n_steps, n_runs = 3000, 80
    est = SelfRepellentSGD(5.0, target=mu, measure_exponent=1.0, theta_exponent=1.0, n_steps=n_steps,
                           n_runs=n_runs, seed=1, dtype=torch.float64).fit(g, x, y, node_of)
    np.testing.assert_allclose(est.stationary_, mu, rtol=1e-12)
    p = metropolis_hastings_matrix(g, mu, dtype=torch.float64).to_dense().numpy()
    sq = np.sqrt(mu)
    lam = np.sort(np.linalg.eigvalsh(sq[:, None] * p / sq[None, :]))
    t_rel = 1.0 / (1.0 - max(lam[-2], -lam[0]))
    dev = np.abs(est.x_.mean(0) - mu)
    se = est.x_.std(0, ddof=1) / np.sqrt(n_runs)
    assert np.all(dev <= Z * se + (1 + t_rel) / n_steps)
    assert est.tvd_[-1] < 0.5 * est.tvd_[len(est.tvd_) // 2]


def test_reweighted_simple_walk_targets_uniform(runs):
    est = runs["srw10"]
    g = nx.karate_club_graph()
    d = np.array([g.degree(i) for i in g.nodes()], float)
    np.testing.assert_allclose(est.stationary_, d / d.sum(), rtol=1e-12)
    np.testing.assert_allclose(est.importance_, (1 / 34) / (d / d.sum()), rtol=1e-12)  # w_i / pi_i ∝ 1/d_i
    reweighted = est.x_ * est.importance_
    reweighted /= reweighted.sum(1, keepdims=True)
    se = reweighted.std(0, ddof=1) / np.sqrt(80)
    assert np.all(np.abs(reweighted.mean(0) - 1 / 34) <= Z * se + 0.01 / 34)
    assert est.mse_[-1] < 0.01 * est.mse_[0]


def test_logistic_breast_cancer_reaches_the_newton_minimiser():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    x = np.c_[x[:, :8], np.ones(len(x))]  # eight standardised features and an intercept
    g = nx.karate_club_graph()
    est = SelfRepellentSGD(10.0, loss="logistic", l2=0.1, n_steps=2000, n_runs=20, theta_scale=2.0, seed=0,
                           dtype=torch.float64).fit(g, x, data.target)
    obj = ShardedObjective(x, data.target, graph_nodes=34, loss="logistic", l2=0.1)
    assert np.linalg.norm(obj.gradient(est.theta_star_)) < 1e-12
    assert est.mse_[-1] < 1e-3 * np.sum(est.theta_star_**2)
    assert est.mse_[-1] + Z * sem(est) < 0.01 * est.mse_[0]


def test_runs_are_independent_of_the_batch_and_reproducible():
    g, x, y, node_of = karate_problem()
    big = SelfRepellentSGD(10.0, n_steps=300, n_runs=6, seed=3, dtype=torch.float64).fit(g, x, y, node_of)
    small = SelfRepellentSGD(10.0, n_steps=300, n_runs=2, seed=3, dtype=torch.float64).fit(g, x, y, node_of)
    np.testing.assert_array_equal(big.theta_[:2], small.theta_)
    other = SelfRepellentSGD(10.0, n_steps=300, n_runs=2, seed=4, dtype=torch.float64).fit(g, x, y, node_of)
    assert not np.allclose(other.theta_, small.theta_)


def naive_sa_srrw(g, x, y, node_of, alpha, n_steps, seed, a, b, c):
    """One token, written from the algorithm with dense numpy: kernel by naive powers, x_n normalised every step."""
    n = g.number_of_nodes()
    mu = np.full(n, 1 / n)
    p = metropolis_hastings_matrix(g, dtype=torch.float64).to_dense().numpy()
    u = uniforms(stream_keys(seed, torch.arange(1)), 0, n_steps + 1)[:, 0].numpy()
    cur = min(int(np.searchsorted(np.cumsum(mu), u[0] * 1.0, side="right")), n - 1)
    xm = np.full(n, 1 / n)
    theta = np.zeros(x.shape[1])
    for k in range(n_steps):
        row = [cur] + [j for j in range(n) if j != cur and p[cur, j] > 0]  # the walk's order: self first
        wgt = np.array([p[cur, j] * (xm[j] / mu[j]) ** (-alpha) for j in row])
        cdf = np.cumsum(wgt)
        cur = row[min(int(np.searchsorted(cdf, u[k + 1] * cdf[-1], side="right")), len(row) - 1)]
        beta, gamma = (k + 2.0) ** -b, c * (k + 2.0) ** -a
        xm = xm + beta * (np.eye(n)[cur] - xm)
        xi, yi = x[node_of == cur], y[node_of == cur]
        theta = theta - gamma * (xi.T @ (xi @ theta - yi) / len(yi))
    return theta, xm


@pytest.mark.parametrize(("a", "b"), [(0.9, 0.8), (0.7, 0.7), (0.6, 0.9)])
def test_matches_the_algorithm_written_out(a, b):
    g, x, y, node_of = karate_problem()
    est = SelfRepellentSGD(3.0, n_steps=150, n_runs=1, seed=5, theta_exponent=a, measure_exponent=b,
                           theta_scale=0.5, dtype=torch.float64).fit(g, x, y, node_of)
    theta, xm = naive_sa_srrw(g, x, y, node_of, 3.0, 150, 5, a, b, 0.5)
    np.testing.assert_allclose(est.theta_[0], theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.x_[0], xm, rtol=1e-9, atol=1e-15)
    assert est.regime_ == {(0.9, 0.8): "gamma=o(beta)", (0.7, 0.7): "gamma~beta", (0.6, 0.9): "beta=o(gamma)"}[(a, b)]


def test_covariance_is_the_scaled_second_moment(runs):
    est = runs["mhrw10"]
    gamma = (3000 + 1.0) ** -0.9
    z = (est.theta_ - est.theta_star_) / np.sqrt(gamma)
    np.testing.assert_allclose(est.covariance_, z.T @ z / 80, rtol=1e-12)
    np.testing.assert_allclose(np.trace(est.covariance_), est.mse_[-1] / gamma, rtol=1e-9)
    res = est.results()
    assert res["settings"]["alpha"] == 10.0 and res["regime"] == "gamma=o(beta)"
    np.testing.assert_array_equal(res["theta"], est.theta_)


def test_nbrw_and_user_gradient_and_adjacency_input():
    g, x, y, node_of = karate_problem()
    nb = SelfRepellentSGD(0.0, base="nbrw", n_steps=2000, n_runs=20, seed=0, dtype=torch.float64)
    nb.fit(g, x, y, node_of)
    assert nb.mse_[-1] < 0.05 * nb.mse_[0]
    obj = ShardedObjective(x, y, graph_nodes=34, node_of=node_of)
    a, b = (torch.as_tensor(t) for t in obj.node_statistics())

    def grad(theta, node):
        return torch.bmm(a[node], theta[:, :, None])[:, :, 0] - b[node]

    user = SelfRepellentSGD(10.0, loss=grad, n_steps=300, n_runs=3, seed=0, dtype=torch.float64)
    ls = SelfRepellentSGD(10.0, n_steps=300, n_runs=3, seed=0, dtype=torch.float64)
    adjacency = nx.to_scipy_sparse_array(g)
    np.testing.assert_allclose(user.fit(g, x, y, node_of).theta_, ls.fit(adjacency, x, y, node_of).theta_,
                               rtol=1e-12)


def test_row_weighting_with_unequal_shards():
    """weighting='row' minimises the pooled least squares; MHRW then targets the shard sizes, SRW reweights by them."""
    g = nx.karate_club_graph()
    rng = np.random.default_rng(7)
    sizes = 1 + np.arange(34) % 5  # 1 .. 5 rows per node
    node_of = np.repeat(np.arange(34), sizes)
    x = rng.normal(size=(len(node_of), 3))
    y = x @ np.array([1.0, 0.0, -1.0]) + node_of / 10 + 0.2 * rng.normal(size=len(node_of))
    pooled = np.linalg.lstsq(x, y, rcond=None)[0]
    d = np.array([g.degree(i) for i in g.nodes()], float)
    for base in ("mhrw", "srw"):
        est = SelfRepellentSGD(5.0, base=base, weighting="row", n_steps=2000, n_runs=20, theta_scale=0.5, seed=0,
                               dtype=torch.float64).fit(g, x, y, node_of)
        np.testing.assert_allclose(est.theta_star_, pooled, rtol=1e-10)
        pi = sizes / sizes.sum() if base == "mhrw" else d / d.sum()
        np.testing.assert_allclose(est.stationary_, pi, rtol=1e-12)
        np.testing.assert_allclose(est.importance_, (sizes / sizes.sum()) / pi, rtol=1e-12)
        assert est.mse_[-1] + Z * sem(est) < 0.05 * est.mse_[0]
