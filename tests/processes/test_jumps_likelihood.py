"""Exact discrete-observation likelihood against a slow scipy reference (Kalbfleisch & Lawless 1985)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from dynfer import BadInputError
from dynfer.processes.jumps import RateMatrix, flashing_ratchet, jump_log_likelihood
from dynfer.processes.jumps.likelihood import transition_matrices


def slow_loglik(q, paths, times, lengths=None, p0=None):
    """Python loop over paths and pairs, one scipy expm per pair."""
    total = 0.0
    for m in range(len(paths)):
        length = len(paths[m]) if lengths is None else int(lengths[m])
        t = times if np.ndim(times) == 1 else times[m]
        if length >= 1 and p0 is not None:
            total += np.log(p0[paths[m][0]])
        for i in range(length - 1):
            total += np.log(scipy.linalg.expm(q * (t[i + 1] - t[i]))[paths[m][i], paths[m][i + 1]])
    return total


def small_data(device, n_paths=12, T=6, irregular=False, seed=0):
    rm = flashing_ratchet(1.0).to(device)
    rng = np.random.default_rng(seed)
    if irregular:
        times = np.sort(rng.uniform(0, 2, size=(n_paths, T)), axis=1)
    else:
        times = np.linspace(0, 1.5, T)
    paths = rm.simulate(n_paths, torch.tensor(times), seed=seed)
    return rm, paths, times


def test_shared_grid_matches_slow_reference(device):
    rm, paths, times = small_data(device)
    q, pi = rm.Q.cpu().numpy(), rm.stationary_distribution().cpu().numpy()
    got = rm.log_likelihood(paths, torch.tensor(times))
    assert got.shape == () and got.device.type == device.type
    assert float(got) == pytest.approx(slow_loglik(q, paths.cpu().numpy(), times, p0=pi), rel=1e-10)
    cond = rm.log_likelihood(paths, torch.tensor(times), condition_on_first=True)
    assert float(cond) == pytest.approx(slow_loglik(q, paths.cpu().numpy(), times), rel=1e-10)


def test_irregular_times_and_lengths_match_slow_reference(device):
    rm, paths, times = small_data(device, irregular=True, seed=1)
    q = rm.Q.cpu().numpy()
    lengths = np.array([6, 1, 3, 0, 5, 2, 6, 4, 6, 3, 2, 6])
    # garbage past each length must be ignored: out-of-range states and NaN / decreasing times
    p = paths.clone()
    t = torch.tensor(times)
    for m, length in enumerate(lengths):
        p[m, length:] = -1
        t[m, length:] = float("nan") if m % 2 else -5.0
    p0 = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.1])
    got = rm.log_likelihood(p, t, lengths=torch.tensor(lengths), initial=p0, per_path=True)
    assert got.shape == (12,)
    expect = [slow_loglik(q, p.cpu().numpy()[m : m + 1], times[m : m + 1], [lengths[m]], p0) for m in range(12)]
    np.testing.assert_allclose(got.cpu().numpy(), expect, rtol=1e-10, atol=1e-12)
    assert float(got[3]) == 0.0  # empty path
    total = jump_log_likelihood(rm.Q, p, t, lengths=lengths, initial=p0)
    assert float(total) == pytest.approx(sum(expect), rel=1e-10)


def test_one_matrix_exponential_per_unique_lag(device, monkeypatch):
    rm, paths, times = small_data(device, n_paths=50, T=11)
    calls = []
    real = torch.linalg.matrix_exp

    def counting(a):
        calls.append(tuple(a.shape))
        return real(a)

    monkeypatch.setattr(torch.linalg, "matrix_exp", counting)
    rm.log_likelihood(paths, torch.tensor(times))
    n_unique = len(np.unique(np.diff(times)))
    assert calls == [(n_unique, 6, 6)]


def test_impossible_transition_gives_minus_inf():
    rm = RateMatrix([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, -1.0]])  # 1 absorbing
    ll = jump_log_likelihood(rm.Q, torch.tensor([[1, 0]]), torch.tensor([0.0, 1.0]))
    assert float(ll) == float("-inf")


def test_gradient_matches_finite_differences(device):
    rm, paths, times = small_data(device, n_paths=20, T=5, irregular=True, seed=3)
    off = (rm.Q.detach() * (1 - torch.eye(6, device=device, dtype=torch.float64))).clone()
    mask = off > 0
    theta = torch.log(off[mask]).clone().requires_grad_(True)

    def f(th):
        rates = torch.zeros(6, 6, dtype=torch.float64, device=device).masked_scatter(mask, th.exp())
        return RateMatrix.from_rates(rates).log_likelihood(paths, torch.tensor(times, device=device))

    value = f(theta)
    (grad,) = torch.autograd.grad(value, theta)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    h = 1e-6
    for k in range(0, theta.numel(), 3):
        e = torch.zeros_like(theta)
        e[k] = h
        fd = (float(f(theta.detach() + e)) - float(f(theta.detach() - e))) / (2 * h)
        assert float(grad[k]) == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_likelihood_peaks_near_truth():
    rm = flashing_ratchet(1.0)
    times = torch.linspace(0, 2.5, 50)
    paths = rm.simulate(300, times, seed=0)
    truth = float(rm.log_likelihood(paths, times))
    for scale in (0.8, 1.25):
        assert float(RateMatrix(rm.Q * scale).log_likelihood(paths, times)) < truth


@pytest.mark.parametrize("lag", [2e3, 1e20, 1e300])
def test_transition_matrices_far_beyond_the_time_scales(lag):
    # torch.linalg.matrix_exp returns zeros at |Q t| = 1e20 and infinities at 1e300 (found by fuzzing: the
    # log-likelihood came back +inf); squaring a short-lag exponential, renormalised, gives the stationary rows
    q = torch.tensor([[-0.5, 0.0, 0.5], [0.5, -0.5, 0.0], [0.0, 0.5, -0.5]], dtype=torch.float64, requires_grad=True)
    rm = RateMatrix(q)
    torch.testing.assert_close(rm.transition_matrix(lag).detach(), torch.full((3, 3), 1 / 3, dtype=torch.float64))
    ll = jump_log_likelihood(q, [[0, 0, 1]], [0.0, 1.0, 1.0 + lag])
    expected = math.log(float(torch.linalg.matrix_exp(q.detach())[0, 0])) + math.log(1 / 3)
    assert float(ll.detach()) == pytest.approx(expected, rel=1e-9)
    ll.backward()
    assert bool(torch.isfinite(q.grad).all())
    absorbing = RateMatrix(torch.tensor([[-1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)).transition_matrix(lag)
    torch.testing.assert_close(absorbing, torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64))


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_transition_matrices_refuse_non_finite_rates(bad):
    q = torch.tensor([[-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    q[0, 1], q[0, 0] = bad, -bad
    with pytest.raises(BadInputError, match="finite rates"):
        transition_matrices(q, torch.tensor([1.0], dtype=torch.float64))
