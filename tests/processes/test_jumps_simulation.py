"""Batched Gillespie simulation: empirical laws against pi, exp(Q t) and the linear-algebra MFPT.

Tolerances: an empirical frequency from N independent draws has standard error sqrt(p (1 - p) / N); every check
allows 5 standard errors (two-sided false-alarm rate ~6e-7 per comparison), and seeds are fixed.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from dynfer.processes.jumps import RateMatrix, first_passage_times, flashing_ratchet, gillespie

Z = 5.0  # standard errors allowed


def assert_frequencies(counts: np.ndarray, probs: np.ndarray, n: int) -> None:
    freq = counts / n
    se = np.sqrt(np.clip(probs * (1 - probs), 1e-12, None) / n)
    assert np.all(np.abs(freq - probs) <= Z * se + 1e-12), (freq, probs, Z * se)


def test_late_occupation_matches_stationary(device):
    rm = flashing_ratchet(1.0).to(device)
    pi = rm.stationary_distribution().cpu().numpy()
    n = 20_000
    times = torch.linspace(0, 6, 25)  # relaxation time 0.5: exp(-12) of the start is left at t = 6
    paths = rm.simulate(n, times, initial=0, seed=1)
    assert paths.shape == (n, 25) and paths.dtype == torch.long and paths.device.type == device.type
    assert bool((paths[:, 0] == 0).all())
    counts = np.bincount(paths[:, -1].cpu().numpy(), minlength=6)
    assert_frequencies(counts, pi, n)


def test_transient_occupation_matches_expm(device):
    rm = flashing_ratchet(1.0).to(device)
    q = rm.Q.cpu().numpy()
    n = 20_000
    times = torch.tensor([0.0, 0.15, 0.4, 1.0])
    paths = rm.simulate(n, times, initial=2, seed=2).cpu().numpy()
    for k, t in enumerate(times.tolist()):
        assert_frequencies(np.bincount(paths[:, k], minlength=6), scipy.linalg.expm(q * t)[2], n)


def test_lag_transition_frequencies_match_expm(device):
    rm = flashing_ratchet(1.0).to(device)
    q = rm.Q.cpu().numpy()
    lag = 0.3
    n = 30_000
    paths = rm.simulate(n, torch.tensor([0.0, lag]), seed=3).cpu().numpy()  # stationary start
    pi = null_pi = scipy.linalg.null_space(q.T)[:, 0]
    pi = null_pi / null_pi.sum()
    assert_frequencies(np.bincount(paths[:, 0], minlength=6), pi, n)
    p_lag = scipy.linalg.expm(q * lag)
    for i in range(6):
        rows = paths[paths[:, 0] == i, 1]
        assert_frequencies(np.bincount(rows, minlength=6), p_lag[i], len(rows))


def test_uneven_shared_grid_and_per_path_irregular_times(device):
    rm = flashing_ratchet(1.0).to(device)
    q = rm.Q.cpu().numpy()
    n = 20_000
    # uneven shared grid (no even-grid fast path)
    grid = torch.tensor([0.0, 0.01, 0.2, 0.21, 0.9, 3.0])
    shared = rm.simulate(n, grid, initial=0, seed=4).cpu().numpy()
    for k, t in enumerate(grid.tolist()):
        assert_frequencies(np.bincount(shared[:, k], minlength=6), scipy.linalg.expm(q * t)[0], n)
    # per-path irregular grids: even paths observed at (0, 0.2), odd ones at (1, 1.6); start state 3
    per = torch.tensor([[0.0, 0.2], [1.0, 1.6]]).repeat(n // 2, 1)
    paths = rm.simulate(n, per, initial=3, seed=5).cpu().numpy()
    p02 = scipy.linalg.expm(q * 0.2)[3]
    p06 = scipy.linalg.expm(q * 0.6)[3]
    assert_frequencies(np.bincount(paths[0::2, 1], minlength=6), p02, n // 2)
    assert_frequencies(np.bincount(paths[1::2, 1], minlength=6), p06, n // 2)
    # identical per-path rows reproduce the shared-grid simulation draw for draw
    same = rm.simulate(n, grid.expand(n, -1), initial=0, seed=4).cpu().numpy()
    np.testing.assert_array_equal(same, shared)


def test_random_irregular_grids_match_expm(device):
    rm = flashing_ratchet(1.0).to(device)
    q = rm.Q.cpu().numpy()
    n, T = 6_000, 8
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 3, size=(n, T)), axis=1)
    times[:, 0] = 0.0
    paths = rm.simulate(n, torch.tensor(times), initial=1, seed=6).cpu().numpy()
    # pooled check: the average over paths of P(X_t = j) equals the mean of expm(Q t_p)[1, j]
    # exp(Q t)[1] for thousands of t at once by eigendecomposition, checked against scipy's expm on a few
    lam, vec = np.linalg.eig(q)
    row = vec[1][:, None] * np.linalg.inv(vec)  # row[a, j] = V[1, a] V^-1[a, j]

    def expm_row(ts):
        return np.real(np.exp(np.outer(ts, lam)) @ row)

    np.testing.assert_allclose(expm_row(times[:3, 4]), [scipy.linalg.expm(q * t)[1] for t in times[:3, 4]], atol=1e-10)
    for k in (2, T - 1):
        expect = expm_row(times[:, k]).mean(axis=0)
        assert_frequencies(np.bincount(paths[:, k], minlength=6), expect, n)


def test_per_path_rate_matrices(device):
    qa = torch.tensor([[-1.0, 1.0], [3.0, -3.0]], dtype=torch.float64)  # pi = (3/4, 1/4)
    qb = torch.tensor([[-3.0, 3.0], [1.0, -1.0]], dtype=torch.float64)  # pi = (1/4, 3/4)
    n = 10_000
    rates = torch.stack([qa, qb]).repeat(n // 2, 1, 1).to(device)
    paths = gillespie(rates, torch.tensor([0.0, 4.0]), 0, seed=7).cpu().numpy()
    assert paths.shape == (n, 2)
    assert_frequencies(np.bincount(paths[0::2, 1], minlength=2), np.array([0.75, 0.25]), n // 2)
    assert_frequencies(np.bincount(paths[1::2, 1], minlength=2), np.array([0.25, 0.75]), n // 2)


def test_first_passage_times_match_mfpt(device):
    rm = flashing_ratchet(1.0).to(device)
    tau = rm.mfpt().cpu().numpy()
    n = 20_000
    for start, target in [(0, 2), (5, 0), (2, 4)]:
        hits = rm.first_passage_times(start, target, n, seed=8).cpu().numpy()
        assert np.isfinite(hits).all() and (hits > 0).all()
        # sample mean within 5 standard errors (std / sqrt(n)) of the linear-algebra MFPT
        assert abs(hits.mean() - tau[start, target]) <= Z * hits.std(ddof=1) / np.sqrt(n)
    assert bool((rm.first_passage_times(1, 1, 10, seed=0) == 0).all())
    to_set = first_passage_times(rm.Q, 1, [0, 3], 20_000, seed=9).cpu().numpy()
    expect = float(rm.mfpt([0, 3])[1])
    assert abs(to_set.mean() - expect) <= Z * to_set.std(ddof=1) / np.sqrt(len(to_set))


def test_absorbing_states_and_max_time(device):
    # 0 -> 1 (rate 1) or 0 -> 2 (rate 1); 2 is absorbing, 1 returns to 0
    rm = RateMatrix(torch.tensor([[-2.0, 1.0, 1.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], device=device))
    paths = rm.simulate(2_000, torch.linspace(0, 30, 7), initial=0, seed=10)
    assert bool((paths[:, -1] == 2).all())  # absorbed long before t = 30 (P(not) ~ e^-15)
    # absorbed paths stop with an infinite hitting time; hitting 1 before absorption has probability 1/2
    hits = rm.first_passage_times(0, 1, 20_000, seed=11).cpu().numpy()
    assert abs(np.isfinite(hits).mean() - 0.5) <= Z * np.sqrt(0.25 / len(hits))
    # a closed non-absorbing class {2, 3} that misses the target needs max_time
    trap = RateMatrix(
        torch.tensor(
            [[-2.0, 1.0, 1.0, 0.0], [1.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.0], [0.0, 0.0, 1.0, -1.0]], device=device
        )
    )
    with pytest.raises(ValueError, match="max_time"):
        trap.first_passage_times(0, 1, 100, seed=0)
    hits = trap.first_passage_times(0, 1, 20_000, max_time=40.0, seed=12).cpu().numpy()
    assert abs(np.isfinite(hits).mean() - 0.5) <= Z * np.sqrt(0.25 / len(hits))
    assert hits[np.isfinite(hits)].max() <= 40.0


def test_seed_reproducible_and_initial_forms(device):
    rm = flashing_ratchet(1.0).to(device)
    t = torch.linspace(0, 2, 5)
    a = rm.simulate(500, t, seed=123)
    b = rm.simulate(500, t, seed=123)
    assert torch.equal(a, b)
    gen = torch.Generator(device=device).manual_seed(5)
    c = rm.simulate(500, t, seed=gen)
    assert c.shape == (500, 5)
    starts = torch.arange(500) % 6
    d = rm.simulate(500, t, initial=starts, seed=1)
    assert torch.equal(d[:, 0].cpu(), starts)
    e = rm.simulate(20_000, torch.tensor([0.0]), initial=[0.5, 0, 0, 0, 0, 0.5], seed=2).cpu().numpy()
    assert_frequencies(np.bincount(e[:, 0], minlength=6), np.array([0.5, 0, 0, 0, 0, 0.5]), 20_000)


def test_large_batch_changes_state_as_often_as_exp_qt_predicts():
    # 10k stationary ratchet paths on a 100-point grid: the fraction of grid steps whose state differs must match
    # 1 - sum_i pi_i exp(Q dt)_ii (speed of this batch is measured in benchmarks/bench_gillespie.py, not here)
    rm = flashing_ratchet(1.0)
    n, grid = 10_000, torch.linspace(0, 10, 100, dtype=torch.float64)
    pi = rm.stationary_distribution().double().cpu().numpy()
    paths = rm.simulate(n, grid, initial=torch.as_tensor(pi), seed=0).cpu().numpy()
    assert paths.shape == (n, 100)
    dt = float(grid[1] - grid[0])
    stay = np.diag(scipy.linalg.expm(rm.Q.double().cpu().numpy() * dt))
    expected = 1.0 - float(pi @ stay)
    per_path = (paths[:, 1:] != paths[:, :-1]).mean(axis=1)  # paths are independent; steps within one are not
    se = per_path.std(ddof=1) / np.sqrt(n)
    assert abs(per_path.mean() - expected) <= Z * se, (per_path.mean(), expected, se)
