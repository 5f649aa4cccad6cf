"""The self-repellent kernel, its stationary law, the batched simulation and argument checks.

Every reference value is computed here independently: dense numpy formulas, exact decimal arithmetic for
alpha = 20, numpy eigen-solves for stationary laws.
"""

from __future__ import annotations

from decimal import Decimal, getcontext

import networkx as nx
import numpy as np
import pytest
import torch

from dynfer.processes.walks import SelfRepellentWalk, metropolis_hastings_matrix, simple_walk_matrix


@pytest.fixture(autouse=True)
def _one_thread():
    """Small per-step tensors: one intra-op thread is as fast and immune to oversubscribed CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def adjacency(graph: nx.Graph) -> np.ndarray:
    return nx.to_numpy_array(graph, nodelist=list(graph.nodes()), dtype=float, weight=None)


def mhrw_dense(a: np.ndarray, mu: np.ndarray) -> np.ndarray:
    d = a.sum(1)
    p = np.where(a > 0, np.minimum(1 / d[:, None], (mu[None, :] / d[None, :]) / mu[:, None]), 0.0)
    return p + np.diag(1 - p.sum(1))


def naive_kernel(p: np.ndarray, mu: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    """K_ij = P_ij (x_j/mu_j)^-alpha / sum_{k in N(i) u {i}} P_ik (x_k/mu_k)^-alpha, naive powers (float64)."""
    w = p * ((x / mu) ** (-alpha))[None, :]
    return w / w.sum(1, keepdims=True)


@pytest.fixture
def florentine() -> nx.Graph:
    return nx.florentine_families_graph()  # 15 nodes, 20 edges, a leaf and varied degrees


def random_measure(n: int, seed: int, spread: float = 2.0) -> np.ndarray:
    x = np.exp(np.random.default_rng(seed).normal(0, spread, n))
    return x / x.sum()


# ------------------------------------------------------------------------------------------------- kernel
@pytest.mark.parametrize("base", ["mhrw", "srw"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 2.0, 5.0])
def test_kernel_matches_naive_formula(florentine, base, alpha):
    a = adjacency(florentine)
    n = len(a)
    if base == "mhrw":
        mu = np.full(n, 1 / n)
        p = mhrw_dense(a, mu)
    else:
        mu = a.sum(1) / a.sum()
        p = a / a.sum(1, keepdims=True)
    walk = SelfRepellentWalk(florentine, alpha, base=base, dtype=torch.float64)
    x = random_measure(n, 1, spread=1.0)
    rows = walk.kernel_rows(x, torch.arange(n)).numpy()
    np.testing.assert_allclose(rows, naive_kernel(p, mu, x, alpha), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-14)
    # float32 default dtype agrees to single precision; scale invariance in x
    rows32 = SelfRepellentWalk(florentine, alpha, base=base).kernel_rows(x * 1e3, torch.arange(n))
    assert rows32.dtype == torch.float32
    np.testing.assert_allclose(rows32.double().numpy(), rows, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("base", ["mhrw", "srw"])
def test_alpha_zero_is_base_chain_exactly(florentine, base):
    walk = SelfRepellentWalk(florentine, 0.0, base=base)
    x = random_measure(15, 2, spread=5.0)
    rows = walk.kernel_rows(x, torch.arange(15))
    assert torch.equal(rows, walk.matrix.to_dense())
    reference = (metropolis_hastings_matrix if base == "mhrw" else simple_walk_matrix)(florentine)
    assert torch.equal(rows, reference.to_dense())


def test_kernel_finite_at_alpha_20_extreme_x(florentine):
    """alpha = 20 and x spanning 30 orders of magnitude: naive float powers overflow (1e-30^-20 = 1e600).

    Reference: the naive formula evaluated exactly with 80-digit decimals.
    """
    a = adjacency(florentine)
    n = len(a)
    mu = np.full(n, 1 / n)
    p = mhrw_dense(a, mu)
    x = np.logspace(-30, 0, n)
    np.random.default_rng(0).shuffle(x)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.all(np.isfinite(naive_kernel(p, mu, x, 20.0)))
    getcontext().prec = 80
    exact = np.zeros((n, n))
    for i in range(n):
        w = [Decimal(p[i, j]) * (Decimal(x[j]) / Decimal(mu[j])) ** -20 for j in range(n)]
        total = sum(w)
        exact[i] = [float(v / total) for v in w]
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        walk = SelfRepellentWalk(florentine, 20.0, dtype=dtype)
        rows = walk.kernel_rows(torch.as_tensor(x, dtype=dtype), torch.arange(n))
        assert torch.isfinite(rows).all()
        np.testing.assert_allclose(rows.sum(1).double().numpy(), 1.0, atol=tol)
        np.testing.assert_allclose(rows.double().numpy(), exact, atol=tol)
    # frequencies below the smallest float32 normal number stay finite too
    tiny = torch.full((n,), 1.0)
    tiny[3] = 1e-45
    assert torch.isfinite(SelfRepellentWalk(florentine, 20.0).kernel_rows(tiny, torch.arange(n))).all()


@pytest.mark.parametrize("alpha", [1.0, 4.0])
def test_stationary_law_of_frozen_kernel(alpha):
    """pi_i[x] ∝ mu_i (x_i/mu_i)^-alpha sum_{j in N(i) u {i}} P_ij (x_j/mu_j)^-alpha is stationary for K[x]."""
    g = nx.les_miserables_graph()
    n = g.number_of_nodes()
    a = adjacency(g)
    weights = np.random.default_rng(4).uniform(0.5, 2.0, n)
    mu = weights / weights.sum()
    p = mhrw_dense(a, mu)
    x = random_measure(n, 5, spread=0.7)
    walk = SelfRepellentWalk(g, alpha, target=weights, dtype=torch.float64)
    k = walk.kernel_rows(x, torch.arange(n)).numpy()
    # left null vector of I - K with sum one: least squares on [(I - K)^T; 1^T] pi = [0; 1]
    system = np.vstack([(np.eye(n) - k).T, np.ones((1, n))])
    null = np.linalg.lstsq(system, np.concatenate([np.zeros(n), [1.0]]), rcond=None)[0]
    r = (x / mu) ** (-alpha)
    closed = mu * r * (p @ r)
    closed /= closed.sum()
    # pi spans ~7 orders of magnitude at alpha = 4, so the solve is good to ~cond * eps ~ 1e-9 relative
    np.testing.assert_allclose(null, closed, rtol=1e-7, atol=1e-14)
    np.testing.assert_allclose(closed @ k, closed, rtol=1e-11, atol=1e-16)  # direct residual, no solve
    np.testing.assert_allclose(walk.stationary(x).numpy(), closed, rtol=1e-10, atol=1e-15)
    # and the kernel of x = mu is reversible w.r.t. mu (SRRW at its fixed point is the base chain)
    np.testing.assert_allclose(walk.kernel_rows(mu, torch.arange(n)).numpy(), p, atol=1e-14)


def test_asymptotic_covariance_theory_ratios():
    """tr V(alpha)/tr V(0) for the MHRW on karate: the reference note's table (0.217, 0.122, 0.0528, 0.0138)."""
    g = nx.karate_club_graph()
    walk = SelfRepellentWalk(g, 0.0)
    a = adjacency(g)
    n = len(a)
    p = mhrw_dense(a, np.full(n, 1 / n))
    lam, vec = np.linalg.eigh(p)  # symmetric for the uniform target: u_i = D^{1/2} phi_i = phi_i / sqrt(N)
    u = vec / np.sqrt(n)
    lam, u = lam[:-1], u[:, :-1]

    def v(alpha):
        return (u * ((1 + lam) / (1 - lam) / (2 * alpha * (1 + lam) + 1))) @ u.T

    for alpha, expected in ((1, 0.217), (2, 0.122), (5, 0.0528), (20, 0.0138)):
        ratio = np.trace(v(alpha)) / np.trace(v(0))
        assert round(ratio, 3 if alpha < 5 else 4) == pytest.approx(expected, abs=1e-12)
        np.testing.assert_allclose(walk.asymptotic_covariance(alpha), v(alpha), atol=1e-12)
    # i.i.d. check of the normalisation: all lambda = 0 gives diag(mu) - mu mu^T
    mu = np.full(n, 1 / n)
    np.testing.assert_allclose(u @ u.T, np.diag(mu) - np.outer(mu, mu), atol=1e-14)


# ------------------------------------------------------------------------------------------------- simulation
def test_run_bookkeeping(device):
    g = nx.karate_club_graph()
    n = 34
    walk = SelfRepellentWalk(g, 2.0, device=device, dtype=torch.float64)
    res = walk.run(300, n_tokens=50, seed=0, record=["trajectory", "tvd"])
    traj = res.trajectory.cpu().numpy()
    assert traj.shape == (300, 50) and res.x.shape == (50, n) and res.tvd.shape == (300, 50)
    assert res.x.device.type == device.type
    allowed = adjacency(g) + np.eye(n)
    assert np.all(allowed[traj[:-1], traj[1:]] > 0)  # moves stay in N(i) u {i}
    counts = np.stack([np.bincount(traj[:, t], minlength=n) for t in range(50)])
    np.testing.assert_array_equal(res.visit_counts.cpu().numpy(), counts)
    np.testing.assert_array_equal(res.position.cpu().numpy(), traj[-1])
    # b = 1: (n+1) x_n = x_0 + counts
    np.testing.assert_allclose(res.x.cpu().numpy(), (1 / n + counts) / 301, rtol=1e-12)
    tvd_last = 0.5 * np.abs(res.x.cpu().numpy() - 1 / n).sum(1)
    np.testing.assert_allclose(res.tvd[-1].cpu().numpy(), tvd_last, rtol=1e-10)
    again = walk.run(300, n_tokens=50, seed=0, record="trajectory")
    assert torch.equal(again.trajectory, res.trajectory)
    assert res.nodes == list(g.nodes())


@pytest.mark.parametrize("b", [0.6, 0.8])
def test_step_exponent_recursion(device, b):
    """x_{n+1} = x_n + beta_{n+1}(delta - x_n), beta_n = (n+1)^-b, recomputed here step by step (float64).

    1500 steps at b = 0.6 make 1/c_n ~ e^60, so the walk's internal rescaling of its unnormalised measure runs.
    """
    g = nx.florentine_families_graph()
    n = 15
    walk = SelfRepellentWalk(g, 3.0, device=device, dtype=torch.float64)
    res = walk.run(1500, n_tokens=4, seed=1, step_exponent=b, record="trajectory")
    traj = res.trajectory.cpu().numpy()
    x = np.full((4, n), 1 / n)
    for step in range(1500):
        beta = (step + 2.0) ** (-b)
        x *= 1 - beta
        x[np.arange(4), traj[step]] += beta
    np.testing.assert_allclose(res.x.cpu().numpy(), x, rtol=1e-9, atol=1e-300)
    res32 = SelfRepellentWalk(g, 3.0, device=device).run(1500, n_tokens=4, seed=1, step_exponent=b)
    assert torch.isfinite(res32.x).all()
    np.testing.assert_allclose(res32.x.sum(1).cpu().numpy(), 1.0, rtol=1e-5)


def test_alpha_zero_run_is_base_chain(device):
    """Empirical one-step transition frequencies of an alpha = 0 run match P (5 binomial standard errors)."""
    g = nx.karate_club_graph()
    walk = SelfRepellentWalk(g, 0.0, device=device)
    res = walk.run(400, n_tokens=500, seed=2, record="trajectory")
    traj = res.trajectory.cpu().numpy()
    n = 34
    trans = np.zeros((n, n))
    np.add.at(trans, (traj[:-1].ravel(), traj[1:].ravel()), 1)
    visits = trans.sum(1, keepdims=True)
    p = mhrw_dense(adjacency(g), np.full(n, 1 / n))
    se = np.sqrt(p * (1 - p) / visits)
    assert np.all(np.abs(trans / visits - p) <= 5 * se + 1e-12)


def test_custom_base_matrix():
    g = nx.karate_club_graph()
    weights = np.random.default_rng(0).uniform(1, 2, 34)
    p = metropolis_hastings_matrix(g, weights, dtype=torch.float64)
    walk = SelfRepellentWalk(g, 1.5, base=p, target=weights, dtype=torch.float64)
    ref = SelfRepellentWalk(g, 1.5, target=weights, dtype=torch.float64)
    x = random_measure(34, 3)
    assert torch.allclose(walk.kernel_rows(x, torch.arange(34)), ref.kernel_rows(x, torch.arange(34)), atol=1e-14)
    # without a target the stationary law of the given matrix is used
    no_target = SelfRepellentWalk(g, 1.5, base=p.to_dense().numpy(), dtype=torch.float64)
    np.testing.assert_allclose(no_target.target.numpy(), weights / weights.sum(), atol=1e-12)


# ------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": "big"}, "alpha"),
        ({"alpha": 1.0, "target": [np.nan] + [1.0] * 33}, "target"),
        ({"alpha": 1.0, "target": [-1.0] + [1.0] * 33}, "target"),
        ({"alpha": 1.0, "target": [1.0] * 33}, "target"),
        ({"alpha": 1.0, "base": "srw", "target": [1.0] * 34}, "target"),
        ({"alpha": 1.0, "base": "lazy"}, "base"),
        ({"alpha": 1.0, "base": np.eye(5)}, "base"),
        ({"alpha": 1.0, "base": np.full((34, 34), 1 / 34)}, "not graph neighbours"),
        ({"alpha": 1.0, "base": 0.5 * np.eye(34)}, "sum to 1"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SelfRepellentWalk(nx.karate_club_graph(), **kwargs)


def test_non_reversible_base_rejected():
    g = nx.cycle_graph(5)
    p = np.zeros((5, 5))
    for i in range(5):
        p[i, (i + 1) % 5] = 0.8
        p[i, (i - 1) % 5] = 0.2
    with pytest.raises(ValueError, match="reversible"):
        SelfRepellentWalk(g, 1.0, base=p)


def test_bad_graph_arguments():
    with pytest.raises(ValueError, match="directed"):
        SelfRepellentWalk(nx.DiGraph([(0, 1), (1, 2), (2, 0)]), 1.0)
    with pytest.raises(ValueError, match="2 connected components"):
        SelfRepellentWalk(nx.disjoint_union(nx.path_graph(3), nx.path_graph(3)), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step_exponent": 0.5}, "step_exponent"),
        ({"step_exponent": 1.2}, "step_exponent"),
        ({"step_exponent": 0.0}, "step_exponent"),
        ({"n_tokens": 0}, "n_tokens"),
        ({"start": 40}, "start"),
        ({"start": 1.5}, "start"),
        ({"record": "everything"}, "record"),
        ({"x0": [1.0] * 3}, "x0"),
        ({"x0": [0.0] + [1.0] * 33}, "x0"),
    ],
)
def test_bad_run_arguments(kwargs, match):
    walk = SelfRepellentWalk(nx.karate_club_graph(), 1.0)
    with pytest.raises(ValueError, match=match):
        walk.run(5, **kwargs)
    with pytest.raises(ValueError, match="n_steps"):
        walk.run(2.5)


def test_bad_kernel_arguments():
    walk = SelfRepellentWalk(nx.karate_club_graph(), 1.0)
    with pytest.raises(ValueError, match="x"):
        walk.kernel_rows(np.zeros(34), [0])
    with pytest.raises(ValueError, match="x"):
        walk.kernel_rows(np.full(34, np.nan), [0])
    with pytest.raises(ValueError, match="nodes"):
        walk.kernel_rows(np.ones(34), [34])
    with pytest.raises(ValueError, match="alpha"):
        walk.alpha = -2


def test_two_tier_step_equals_full_table():
    """On CPU, heavy-tailed graphs use a narrow table plus a redo of hub tokens; draws equal the full-table step."""
    g = nx.barabasi_albert_graph(400, 2, seed=1)
    for alpha in (0.0, 3.0):
        walk = SelfRepellentWalk(g, alpha)
        assert len(walk._tiers) == 2  # the narrow table is in use on this graph
        tiered = walk.run(200, n_tokens=64, seed=4, record="trajectory")
        walk._tiers = walk._tiers[-1:]  # full padded table only
        full = walk.run(200, n_tokens=64, seed=4, record="trajectory")
        assert torch.equal(tiered.trajectory, full.trajectory)
        assert torch.equal(tiered.x, full.x)


def test_huge_alpha_runs_and_work_are_refused():
    import dynfer

    g = nx.karate_club_graph()
    with pytest.raises(dynfer.BadInputError, match="alpha: 1e\\+300; expected at most 1e\\+06"):
        SelfRepellentWalk(g, 1e300)  # its logits overflowed into an index error inside run
    res = SelfRepellentWalk(g, 1e6).run(50, n_tokens=3, seed=0)
    assert bool(torch.isfinite(res.x).all())
    walk = SelfRepellentWalk(g, 1.0)
    with pytest.raises(dynfer.BadInputError, match=r"SelfRepellentWalk.run: n_steps: 1000000000000 steps x 1 tokens"):
        walk.run(10**12)
    with pytest.raises(dynfer.BadInputError, match="record"):
        walk.run(5, record=[3])
    with pytest.raises(dynfer.BadInputError, match="start"):
        walk.run(5, start=np.array(1.0, dtype=object))


def test_base_rows_within_its_own_tolerance_still_work():
    # the base check allows 1e-5 on row sums; the stationary law behind it must not apply float64's 1.5e-8
    g = nx.cycle_graph(4)
    p = metropolis_hastings_matrix(g, device="cpu", dtype=torch.float64).to_dense().numpy()
    p[0, 0] += 5e-6
    walk = SelfRepellentWalk(g, 1.0, base=p)
    assert abs(float(walk.target.sum()) - 1) < 1e-6


# ------------------------------------------------------------------------------------------------- step-wise API
@pytest.mark.parametrize("alpha", [0.0, 3.0])
def test_next_nodes_is_the_inverse_cdf_of_the_kernel(florentine, alpha):
    """Stratified uniforms u = (k + 1/2)/M through next_nodes reproduce K[x] to within 1/M per entry."""
    walk = SelfRepellentWalk(florentine, alpha, dtype=torch.float64)
    n, m = 15, 4000
    x = torch.as_tensor(random_measure(n, 3, spread=1.0))
    rows = walk.kernel_rows(x, torch.arange(n)).numpy()
    u = ((torch.arange(m, dtype=torch.float64) + 0.5) / m)[:, None]
    for i in range(n):
        nxt = walk.next_nodes(torch.full((m,), i), x.expand(m, n).contiguous(), u)
        freq = np.bincount(nxt.numpy(), minlength=n) / m
        assert np.all(np.abs(freq - rows[i]) <= 1.0 / m + 1e-12)


def test_run_is_next_nodes_step_by_step(florentine):
    """run() draws one uniform per token and step from its generator and moves with next_nodes."""
    walk = SelfRepellentWalk(florentine, 2.0, dtype=torch.float64)
    res = walk.run(30, n_tokens=5, start=0, seed=4, record="trajectory")
    gen = torch.Generator().manual_seed(4)
    cur = torch.zeros(5, dtype=torch.int64)
    w = torch.full((5, 15), 1 / 15, dtype=torch.float64)
    for step in range(30):
        nxt = walk.next_nodes(cur, w, torch.rand(5, 1, generator=gen, dtype=torch.float64))
        assert torch.equal(nxt, res.trajectory[step])
        w = w.clone()
        w[torch.arange(5), nxt] += 1.0  # b = 1: unnormalised measure x_0 + counts
        cur = nxt


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sampling_floor_never_picks_a_forbidden_move(dtype):
    """On a regular graph the MHRW has P_ii = 0: even with alpha = 20, x spanning 60 orders of magnitude and uniforms
    at both ends, next_nodes moves to a neighbour (the floored weights keep forbidden entries at exactly 0)."""
    g = nx.cycle_graph(6)
    walk = SelfRepellentWalk(g, 20.0, dtype=dtype)
    m = 2000
    x = torch.logspace(-30, 30, 6, dtype=torch.float64).to(dtype)
    cur = torch.arange(m) % 6
    u = torch.cat([torch.zeros(m // 2), torch.full((m - m // 2,), 1 - 1e-7)]).to(dtype)[:, None]
    nxt = walk.next_nodes(cur, x.expand(m, 6).contiguous(), u)
    assert torch.all(((nxt - cur) % 6 == 1) | ((nxt - cur) % 6 == 5))
