"""Synthetic ion-channel recordings: the gating law, the levels and the noise are what was asked for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from dynfer.datasets.synthetic_ionchannel import DEFAULT_ION_CHANNEL_Q, ion_channel

# Köhs et al. (2021) KcvMT325, as quoted in shared/references/markov_jump_processes.md
KOEHS_PI = np.array([0.180, 0.150, 0.671])
KOEHS_MFPT = np.array([[0, 0.068, 0.054], [0.133, 0, 0.033], [0.181, 0.092, 0]])


def _stationary(q: np.ndarray) -> np.ndarray:
    """Left null vector of Q, by numpy (independent of dynfer)."""
    w, v = np.linalg.eig(q.T)
    p = np.real(v[:, np.argmin(np.abs(w))])
    return p / p.sum()


def _mfpt(q: np.ndarray) -> np.ndarray:
    n = len(q)
    tau = np.zeros((n, n))
    for j in range(n):
        keep = [i for i in range(n) if i != j]
        tau[keep, j] = np.linalg.solve(q[np.ix_(keep, keep)], -np.ones(n - 1))
    return tau


def _var_of_mean_indicator(q: np.ndarray, i: int, dt: float, n_samples: int) -> float:
    """Exact variance of the sample mean of 1{X_k = i} over n_samples grid points of one stationary trace.

    Var = (1/T^2) [T C_0 + 2 sum_{k>=1} (T - k) C_k] with C_k = pi_i (P^k_ii - pi_i), P = expm(Q dt).
    """
    pi = _stationary(q)
    p1 = expm(q * dt)
    pk = np.eye(len(q))
    total = n_samples * pi[i] * (1 - pi[i])
    for k in range(1, n_samples):
        pk = pk @ p1
        total += 2 * (n_samples - k) * pi[i] * (pk[i, i] - pi[i])
    return total / n_samples**2


def test_default_rates_reproduce_the_published_kcv_channel():
    q = DEFAULT_ION_CHANNEL_Q
    assert np.allclose(q.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(_stationary(q), KOEHS_PI, atol=0.004)
    np.testing.assert_allclose(_mfpt(q), KOEHS_MFPT, rtol=0.01, atol=1e-12)  # three significant digits


def test_occupancy_matches_the_stationary_law():
    # 300 short traces (0.2 s, 1000 samples each), each started from the stationary law: the per-trace occupancy
    # is autocorrelated (relaxation time ~ 30 ms = 150 samples), so the tolerance uses the exact variance of the
    # mean of a stationary chain on the grid (autocovariances from expm(Q dt)), divided by the number of traces.
    n_traces, duration, fs = 300, 0.2, 5000.0
    adata = ion_channel(n_traces=n_traces, duration=duration, sampling_rate=fs, noise_sd=0.3, seed=3)
    q = adata.uns["dynfer_source"]["Q"]
    pi = _stationary(q)
    np.testing.assert_allclose(adata.uns["dynfer_source"]["stationary"], pi, atol=1e-10)
    states = adata.obs["state"].to_numpy()
    n = int(round(duration * fs))
    occ = np.bincount(states, minlength=3) / len(states)
    for i in range(3):
        sd = np.sqrt(_var_of_mean_indicator(q, i, 1 / fs, n) / n_traces)
        assert abs(occ[i] - pi[i]) < 4 * sd, (i, occ[i], pi[i], sd)


def test_levels_and_noise_as_requested():
    levels, sigma = (-1.0, 0.5, 3.0), 0.25
    adata = ion_channel(n_traces=10, duration=2.0, levels=levels, noise_sd=sigma, seed=1)
    resid = adata.X[:, 0] - np.asarray(levels)[adata.obs["state"].to_numpy()]
    n = len(resid)
    assert abs(resid.mean()) < 5 * sigma / np.sqrt(n)
    # sample variance of n Gaussian draws: relative sd sqrt(2 / n)
    assert abs(resid.var() / sigma**2 - 1) < 5 * np.sqrt(2 / n)
    src = adata.uns["dynfer_source"]
    np.testing.assert_array_equal(src["levels"], levels)
    assert src["noise_sd"] == sigma and src["sampling_rate"] == 5000.0 and src["rate_unit"] == "1/s"


def test_layout_and_reproducibility():
    a = ion_channel(n_traces=3, duration=0.1, sampling_rate=2000.0, seed=7)
    b = ion_channel(n_traces=3, duration=0.1, sampling_rate=2000.0, seed=7)
    c = ion_channel(n_traces=3, duration=0.1, sampling_rate=2000.0, seed=8)
    assert a.shape == (600, 1) and list(a.var_names) == ["current"]
    assert a.obs["state"].dtype == np.int64
    assert list(a.obs["trajectory"].cat.categories) == ["0", "1", "2"]
    np.testing.assert_allclose(a.obs["time"].to_numpy()[:200], np.arange(200) / 2000.0)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)


def test_gaussian_filter_lowers_the_noise_to_the_recorded_value():
    # equal levels: the current is pure filtered white noise, whose sd is recorded as filtered_noise_sd
    adata = ion_channel(n_traces=20, duration=1.0, levels=(0.0, 0.0, 0.0), noise_sd=1.0, filter_cutoff=1000.0, seed=2)
    src = adata.uns["dynfer_source"]
    # sigma_filter = 0.1325 / f_c = 0.1325 ms = 0.6625 samples; sum of squared kernel ~ 1 / (2 sqrt(pi) sigma)
    assert 0.5 < src["filtered_noise_sd"] < 0.8
    sd = adata.X[:, 0].std()
    assert abs(sd / src["filtered_noise_sd"] - 1) < 0.02
    assert src["filter_cutoff"] == 1000.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_traces": 0}, "n_traces"),
        ({"duration": -1.0}, "duration"),
        ({"sampling_rate": 0.0}, "sampling_rate"),
        ({"levels": (0.0, 1.0)}, "levels"),
        ({"noise_sd": -0.1}, "noise_sd"),
        ({"filter_cutoff": 3000.0}, "Nyquist"),
        ({"Q": [[-1.0, 2.0], [1.0, -1.0]]}, "Q"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ion_channel(**{"n_traces": 2, "duration": 0.01, **kwargs})
