"""Statistical behaviour of the SRRW: x_n -> mu and the CLT variance reduction against alpha = 0.

Theory, written here independently of the package: for the MHRW P on karate club (uniform target, P symmetric)
with eigenpairs (lambda_i, phi_i) and left eigenvectors u_i = phi_i / sqrt(N) (Doshi, Hu, Eun, ICML 2023):

    V(alpha) = sum_{i>=2} [1 / (2 alpha (1 + lambda_i) + 1)] [(1 + lambda_i) / (1 - lambda_i)] u_i u_i^T,

and sqrt(n)(x_n - mu) -> N(0, V(alpha)). Tolerances: Monte Carlo standard errors estimated from the T
independent tokens (4 of them), plus, for alpha > 0, an allowance for the finite-n deficit of the CLT
(the reference note measured simulated ratios approaching V(alpha) from below, 3-5 % short at 1e6 steps on an
889-node graph with a 7x smaller spectral gap; we allow 5 % at n = 3000 on karate and 2 % at n = 20000).
For alpha = 0 the expectation at finite n is exact (start and x_0 both equal mu), so no allowance is needed.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from dynfer.processes.walks import SelfRepellentWalk


@pytest.fixture(autouse=True)
def _one_thread():
    """Small per-step tensors: one intra-op thread is as fast and immune to oversubscribed CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def karate_spectrum() -> tuple[np.ndarray, np.ndarray]:
    g = nx.karate_club_graph()
    a = nx.to_numpy_array(g, nodelist=list(g.nodes()), dtype=float, weight=None)
    d = a.sum(1)
    p = np.where(a > 0, np.minimum(1 / d[:, None], 1 / d[None, :]), 0.0)
    p += np.diag(1 - p.sum(1))
    lam, phi = np.linalg.eigh(p)
    return lam[:-1], phi[:, :-1] / np.sqrt(len(d))  # drop lambda_1 = 1; u_i = D^{1/2} phi_i with D = I/N


def theory_covariance(alpha: float) -> np.ndarray:
    lam, u = karate_spectrum()
    return (u * ((1 + lam) / (1 - lam) / (2 * alpha * (1 + lam) + 1))) @ u.T


def exact_base_msd(n: int) -> float:
    """E[(n+1) |x_n - mu|^2] for the stationary alpha = 0 chain with x_0 = mu, exactly at finite n.

    (n+1)(x_n - mu) = sum_{k=1}^n (delta_{X_k} - mu), and
    E<delta_{X_0} - mu, delta_{X_m} - mu> = sum_{i>=2} lambda_i^m |u_i|^2.
    """
    lam, u = karate_spectrum()
    w = (u**2).sum(0)
    m = np.arange(1, n)[:, None]
    c0 = w.sum()
    cross = ((n - m) * lam[None, :] ** m * w[None, :]).sum()
    return (n * c0 + 2 * cross) / (n + 1)


def scaled_msd(walk: SelfRepellentWalk, n_steps: int, n_tokens: int, seed: int) -> tuple[float, float]:
    """Mean over tokens of (n+1) |x_n - mu|^2 and its standard error."""
    res = walk.run(n_steps, n_tokens=n_tokens, seed=seed)
    err = ((res.x.double() - walk.target.double()) ** 2).sum(1).cpu().numpy() * (n_steps + 1)
    return float(err.mean()), float(err.std(ddof=1) / np.sqrt(n_tokens))


def check_variance_reduction(device, alphas, n_steps, n_tokens, allowance) -> None:
    g = nx.karate_club_graph()
    tr0 = np.trace(theory_covariance(0.0))
    base_exact = exact_base_msd(n_steps)
    m0, se0 = scaled_msd(SelfRepellentWalk(g, 0.0, device=device), n_steps, n_tokens, seed=10)
    assert abs(m0 - base_exact) <= 4 * se0, (m0, base_exact, se0)
    deficit0 = 1 - base_exact / tr0  # exact finite-n shortfall of the base chain
    for k, alpha in enumerate(alphas):
        tr = np.trace(theory_covariance(alpha))
        m, se = scaled_msd(SelfRepellentWalk(g, alpha, device=device), n_steps, n_tokens, seed=11 + k)
        assert tr * (1 - allowance) - 4 * se <= m <= tr + 4 * se, (alpha, m, tr, se)
        ratio, theory_ratio = m / m0, tr / tr0
        rel_se = np.hypot(se / m, se0 / m0)
        assert abs(ratio / theory_ratio - 1) <= 4 * rel_se + allowance + deficit0, (alpha, ratio, theory_ratio)


def test_theory_ratios_match_reference_table():
    tr0 = np.trace(theory_covariance(0.0))
    got = [np.trace(theory_covariance(a)) / tr0 for a in (1, 5, 20)]
    assert np.all(np.abs(np.array(got) - [0.217, 0.0528, 0.0138]) <= [5e-4, 5e-5, 5e-5]), got


def test_variance_reduction_fast(device):
    """2000 tokens x 3000 steps, alpha in {1, 5}: sampling ratios ~0.217 and ~0.0528 of alpha = 0."""
    check_variance_reduction(device, (1.0, 5.0), n_steps=3000, n_tokens=2000, allowance=0.05)


@pytest.mark.slow
def test_variance_reduction_long(device):
    check_variance_reduction(device, (1.0, 5.0, 20.0), n_steps=20000, n_tokens=4000, allowance=0.02)


@pytest.mark.parametrize("base", ["mhrw", "srw"])
def test_empirical_measure_converges_to_target(device, base):
    """Token average of x_n is within 5 CLT standard errors of mu (V(alpha) <= V(0) in Loewner order, so V(0)'s
    diagonal bounds the variance) plus the O(1/n) pull of x_0 = 1/N, and the per-token TVD shrinks ~ n^-1/2.
    """
    g = nx.karate_club_graph()
    a = nx.to_numpy_array(g, nodelist=list(g.nodes()), dtype=float, weight=None)
    n_nodes = len(a)
    d = a.sum(1)
    if base == "mhrw":
        mu = np.full(n_nodes, 1 / n_nodes)
        p = np.where(a > 0, np.minimum(1 / d[:, None], 1 / d[None, :]), 0.0)
        p += np.diag(1 - p.sum(1))
    else:
        mu = d / d.sum()
        p = a / d[:, None]
    sq = np.sqrt(mu)
    lam, phi = np.linalg.eigh(sq[:, None] * p / sq[None, :])
    lam, u = lam[:-1], sq[:, None] * phi[:, :-1]
    v0_diag = ((u**2) * ((1 + lam) / (1 - lam))).sum(1)
    walk = SelfRepellentWalk(g, 1.0, base=base, device=device)
    n_steps, n_tokens = 2000, 1000
    res = walk.run(n_steps, n_tokens=n_tokens, seed=3, record="tvd")
    mean_x = res.x.double().mean(0).cpu().numpy()
    tol = 5 * np.sqrt(v0_diag / ((n_steps + 1) * n_tokens)) + 2 * np.abs(1 / n_nodes - mu) / (n_steps + 1)
    assert np.all(np.abs(mean_x - mu) <= tol), np.max(np.abs(mean_x - mu) / tol)
    np.testing.assert_allclose(walk.target.double().cpu().numpy(), mu, rtol=1e-6)
    tvd = res.tvd.double().mean(1).cpu().numpy()
    # E tvd ~ c / sqrt(n): from n/4 to n it should roughly halve (generous band: 0.35..0.7)
    assert 0.35 <= tvd[-1] / tvd[n_steps // 4 - 1] <= 0.7
    assert torch.allclose(res.x.sum(1), torch.ones(n_tokens, device=device, dtype=res.x.dtype), atol=1e-5)
