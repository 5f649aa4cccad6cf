"""Jump-process generators: seeded, parameters recorded, stationary occupancy and label noise within binomial bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dynfer import _keys as K
from dynfer.datasets import alanine_dipeptide_surrogate, flashing_ratchet_paths, protein_folding
from dynfer.datasets.synthetic_jumps import ADP_RATES
from dynfer.io import validate_states, validate_trajectories

# stationary law of the flashing ratchet at V = r = b = 1 (markov_jump_processes.md, from the staged fim_dfr matrices)
PI_DFR_V1 = np.array([0.30119, 0.13654, 0.06227, 0.20030, 0.15914, 0.14057])


def _last_states(adata) -> np.ndarray:
    n_t = adata.uns[K.SOURCE]["parameters"]["n_times"]
    return adata.obs[K.STATE].to_numpy().reshape(-1, n_t)[:, -1]


@pytest.mark.parametrize("gen", [flashing_ratchet_paths, alanine_dipeptide_surrogate, protein_folding])
def test_seeded_reproducible_and_parameters_recorded(gen):
    kw = {"n_paths": 30, "n_times": 12, "label_noise": 0.1}
    a, b, c = gen(**kw, seed=7), gen(**kw, seed=7), gen(**kw, seed=8)
    validate_trajectories(a)
    validate_states(a, n_states=a.uns["n_states"])
    np.testing.assert_array_equal(a.obs[K.STATE], b.obs[K.STATE])
    assert not np.array_equal(a.obs[K.STATE], c.obs[K.STATE])
    p = a.uns[K.SOURCE]["parameters"]
    assert (p["n_paths"], p["n_times"], p["label_noise"], p["seed"], p["grid"]) == (30, 12, 0.1, 7, "regular")
    assert a.n_obs == 30 * 12 and a.obs[K.TRAJECTORY].nunique() == 30


def test_ratchet_parameters_and_rate_matrix():
    adata = flashing_ratchet_paths(V=2.0, r=0.5, b=1.5, n_paths=5, n_times=4)
    src = adata.uns[K.SOURCE]
    assert (src["parameters"]["V"], src["parameters"]["r"], src["parameters"]["b"]) == (2.0, 0.5, 1.5)
    q = src["rate_matrix"]
    assert q.shape == (6, 6)
    np.testing.assert_allclose(q[0, 1], math.exp(-1.0))  # exp(-(V_1 - V_0)/2)
    np.testing.assert_allclose([q[0, 3], q[3, 0], q[3, 4]], [0.5, 0.5, 1.5])
    np.testing.assert_allclose(q.sum(1), 0, atol=1e-12)


def test_ratchet_defaults_match_the_dfr_design():
    adata = flashing_ratchet_paths(n_paths=10)
    t = np.unique(adata.obs[K.TIME])
    assert len(t) == 100 and t[0] == 0 and t[-1] == 2.5
    np.testing.assert_allclose(adata.uns[K.SOURCE]["stationary_distribution"], PI_DFR_V1, atol=1e-5)


def test_ratchet_late_time_occupancy_is_stationary():
    """Start every path in state 0; after 10 relaxation times (0.5 each) the occupancy is Multinomial(n, pi)."""
    n = 4000
    adata = flashing_ratchet_paths(n_paths=n, n_times=3, t_max=5.0, initial=0, seed=11)
    assert (adata.obs[K.STATE].to_numpy().reshape(n, 3)[:, 0] == 0).all()
    freq = np.bincount(_last_states(adata), minlength=6) / n
    se = np.sqrt(PI_DFR_V1 * (1 - PI_DFR_V1) / n)
    assert np.all(np.abs(freq - PI_DFR_V1) < 4 * se), (freq, PI_DFR_V1)


@pytest.mark.parametrize("p", [0.01, 0.2])
def test_label_noise_rate_and_uniform_targets(p):
    adata = flashing_ratchet_paths(n_paths=1000, n_times=100, label_noise=p, seed=3)
    noisy, clean = adata.obs[K.STATE].to_numpy(), adata.obs["state_clean"].to_numpy()
    n = len(noisy)
    flipped = noisy != clean
    np.testing.assert_array_equal(flipped, adata.obs["label_flipped"].to_numpy())
    assert abs(flipped.mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    shift = (noisy[flipped] - clean[flipped]) % 6  # uniform over the 5 other states
    freq = np.bincount(shift, minlength=6)[1:] / flipped.sum()
    assert np.all(np.abs(freq - 0.2) < 4 * math.sqrt(0.2 * 0.8 / flipped.sum()))


def test_no_label_noise_keeps_clean_labels():
    adata = flashing_ratchet_paths(n_paths=50, n_times=20)
    np.testing.assert_array_equal(adata.obs[K.STATE], adata.obs["state_clean"])
    assert "label_flipped" not in adata.obs


def test_irregular_grids_differ_per_path():
    adata = flashing_ratchet_paths(n_paths=20, n_times=15, grid="irregular", t_max=3.0, seed=0)
    validate_trajectories(adata)
    t = adata.obs[K.TIME].to_numpy().reshape(20, 15)
    assert (np.diff(t, axis=1) > 0).all() and (t >= 0).all() and (t <= 3.0).all()
    assert len(np.unique(t[:, 0])) == 20
    assert adata.uns[K.SOURCE]["parameters"]["grid"] == "irregular"


def test_explicit_times():
    times = np.linspace(0, 1, 7)
    adata = flashing_ratchet_paths(n_paths=4, times=times)
    np.testing.assert_allclose(np.unique(adata.obs[K.TIME]), times)
    assert adata.uns[K.SOURCE]["parameters"]["grid"] == "explicit"


def test_adp_surrogate_rates_and_stationary_law():
    adata = alanine_dipeptide_surrogate(n_paths=5, n_times=5)
    src = adata.uns[K.SOURCE]
    q = src["rate_matrix"]
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(q[off], ADP_RATES[off])
    assert q[0, 1] == 53.0 and q[3, 2] == 41.0 and q[5, 4] == 19.0  # row = from (note, section 2)
    np.testing.assert_allclose(src["stationary_distribution"], [0.298, 0.312, 0.232, 0.097, 0.053, 0.008], atol=1.5e-3)


def test_protein_folding_late_time_occupancy():
    """Rates low->high 0.028, high->low 0.085: pi = (0.085, 0.028) / 0.113; t = 100 is 11 relaxation times."""
    n = 2000
    adata = protein_folding(n_paths=n, n_times=3, initial=1, seed=4)
    pi_low = 0.085 / 0.113
    np.testing.assert_allclose(adata.uns[K.SOURCE]["stationary_distribution"], [pi_low, 1 - pi_low], rtol=1e-10)
    freq_low = np.mean(_last_states(adata) == 0)
    assert abs(freq_low - pi_low) < 4 * math.sqrt(pi_low * (1 - pi_low) / n)


@pytest.mark.parametrize(
    "bad", [{"label_noise": 1.0}, {"label_noise": -0.1}, {"grid": "random"}, {"n_paths": 0}, {"n_times": 1}]
)
def test_invalid_arguments(bad):
    with pytest.raises(ValueError):
        flashing_ratchet_paths(**{"n_paths": 3, **bad})
