"""Validated jump-path data (check_paths, paths_from_adata) and the MJP summary (mjp_summary)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from dynfer import BadInputError
from dynfer.estimators.mjp import JumpPaths, check_paths, mjp_summary, paths_from_adata
from dynfer.processes.jumps import RateMatrix, flashing_ratchet


# ------------------------------------------------------------------------------------------------ shapes and padding
def test_rectangular_paths_with_shared_times():
    p = check_paths([[0, 1, 1, 2], [2, 2, 0, 1]], [0.0, 1.0, 2.5, 3.0])
    assert isinstance(p, JumpPaths)
    assert p.states.dtype == np.int64 and p.times.dtype == np.float64 and p.lengths.dtype == np.int64
    assert (p.n_paths, p.n_transitions, p.n_states) == (2, 6, 3)
    src, dst, dt, path = p.transitions()
    np.testing.assert_array_equal(src, [0, 1, 1, 2, 2, 0])
    np.testing.assert_array_equal(dst, [1, 1, 2, 2, 0, 1])
    np.testing.assert_allclose(dt, [1.0, 1.5, 0.5, 1.0, 1.5, 0.5])
    np.testing.assert_array_equal(path, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(p.first_states(), [0, 2])


def test_one_path_and_whole_floats():
    p = check_paths(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.1, 0.3]))
    assert p.states.shape == (1, 3) and p.states.dtype == np.int64
    np.testing.assert_array_equal(p.states[0], [0, 1, 0])


def test_ragged_paths_are_padded():
    p = check_paths([np.array([0, 1]), np.array([1, 0, 2])], [np.array([0.0, 1.0]), np.array([0.0, 0.5, 2.0])])
    np.testing.assert_array_equal(p.lengths, [2, 3])
    np.testing.assert_array_equal(p.states, [[0, 1, 0], [1, 0, 2]])  # padded with 0
    np.testing.assert_array_equal(p.times, [[0.0, 1.0, 1.0], [0.0, 0.5, 2.0]])  # padded with the last time
    assert p.n_transitions == 3
    np.testing.assert_array_equal(p.mask, [[True, True, False], [True, True, True]])


def test_lengths_ignore_what_lies_past_them():
    states = np.array([[0, 1, -7], [1, 0, 1]], dtype=np.float64)
    times = np.array([[0.0, 1.0, np.nan], [0.0, 1.0, 2.0]])
    states[0, 2] = np.nan
    p = check_paths(states, times, lengths=[2, 3])
    np.testing.assert_array_equal(p.states, [[0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(p.times[0], [0.0, 1.0, 1.0])


def test_equal_times_are_allowed():
    p = check_paths([0, 0, 1], [0.0, 0.0, 1.0])
    assert p.n_transitions == 2


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("states", "times", "kwargs", "words"),
    [
        ([0, 0.5, 1], [0, 1, 2], {}, ["states", "non-integer"]),
        ([True, False, True], [0, 1, 2], {}, ["states", "booleans"]),
        (["a", "b"], [0, 1], {}, ["states", "dtype"]),
        ([0, np.nan, 1], [0, 1, 2], {}, ["states", "NaN"]),
        ([0, -1, 1], [0, 1, 2], {}, ["states", "negative"]),
        ([0, 3, 1], [0, 1, 2], {"n_states": 3}, ["states", "more than the model's 3 states"]),
        ([0, 2, 0], [0, 1, 2], {}, ["states", "never observed", "relabel", "n_states"]),
        ([0, 1, 1], [0, 2, 1], {}, ["times", "backwards", "sort"]),
        ([0, 1, 1], [0, np.inf, 2], {}, ["times", "infinite"]),
        ([0, 1, 1], [0, 1], {}, ["times", "shape"]),
        ([[0, 1], [1, 0]], [[0, 1, 2], [0, 1, 2]], {}, ["times", "one time per state"]),
        (np.array([[0, 1], [1, 0]]), np.zeros((2, 3)), {}, ["times", "shape"]),
        ([1], [0.0], {"n_states": 2}, ["states", "length 1", "no transition"]),
        ([1], [0.0], {}, ["states", "never observed"]),
        ([[1], [0]], [[0.0], [1.0]], {}, ["states", "length 1"]),
        ([0, 1], [0, 1], {"n_states": 1}, ["n_states", ">= 2"]),
        ([0, 0, 0], [0, 1, 2], {}, ["states", "single state"]),
        ([[0, 1], [1, 0]], [0, 1], {"lengths": [2, 3]}, ["lengths", "1..2"]),
        ([[0, 1], [1, 0]], [0, 1], {"lengths": [2]}, ["lengths", "shape"]),
        ([np.array([0, 1]), np.array([], dtype=int)], [np.array([0, 1]), np.array([])], {}, ["states", "empty"]),
        ([np.array([0, 1]), np.array([1, 0, 1])], [np.array([0, 1]), np.array([0, 1])], {}, ["times"]),
        (np.zeros((0, 3)), np.zeros(3), {}, ["states", "no observations"]),
    ],
)
@pytest.mark.filterwarnings("ignore:here. states")
def test_bad_input_names_the_argument(states, times, kwargs, words):
    with pytest.raises(BadInputError) as info:
        check_paths(states, times, where="here", **kwargs)
    message = str(info.value)
    assert message.startswith("here: ")
    for word in words:
        assert word in message, (word, message)


def test_unobserved_state_with_n_states_warns():
    with pytest.warns(UserWarning, match=r"states \[2, 3\] of the 4 states are never observed"):
        p = check_paths([0, 1, 0], [0, 1, 2], n_states=4)
    assert p.n_states == 4


def test_object_arrays():
    p = check_paths(np.array([0, 1, 1], dtype=object), [0, 1, 2])
    assert p.states.dtype == np.int64
    with pytest.raises(BadInputError, match="states"):
        check_paths(np.array([0, "x", 1], dtype=object), [0, 1, 2])


# ------------------------------------------------------------------------------------------------ AnnData
def _adata(states, times, traj=None):
    obs = pd.DataFrame({"state": states, "time": times})
    if traj is not None:
        obs["trajectory"] = pd.Categorical([str(t) for t in traj])
    obs.index = [str(i) for i in range(len(obs))]
    return ad.AnnData(np.zeros((len(obs), 0)), obs=obs)


def test_paths_from_adata_groups_and_sorts():
    a = _adata([1, 0, 2, 0, 1], [2.0, 0.0, 0.0, 1.0, 1.5], traj=["a", "a", "b", "a", "b"])
    p = paths_from_adata(a)
    np.testing.assert_array_equal(p.lengths, [3, 2])
    np.testing.assert_array_equal(p.states, [[0, 0, 1], [2, 1, 0]])
    np.testing.assert_array_equal(p.times, [[0.0, 1.0, 2.0], [0.0, 1.5, 1.5]])


def test_paths_from_adata_without_trajectory_is_one_path():
    p = paths_from_adata(_adata([0, 1, 0], [0.0, 1.0, 2.0]))
    assert p.n_paths == 1 and p.n_transitions == 2


def test_paths_from_adata_errors_name_the_column():
    with pytest.raises(BadInputError, match=r"adata.obs\['state'\].*no such column"):
        paths_from_adata(ad.AnnData(np.zeros((2, 0)), obs=pd.DataFrame({"time": [0.0, 1.0]}, index=["0", "1"])))
    with pytest.raises(BadInputError, match=r"adata.obs\['state'\].*non-integer"):
        paths_from_adata(_adata([0.0, 1.5], [0.0, 1.0]))
    with pytest.raises(BadInputError, match=r"adata.obs\['time'\].*NaN"):
        paths_from_adata(_adata([0, 1], [0.0, np.nan]))
    with pytest.raises(BadInputError, match=r"adata.obs\['clock'\].*no such column"):
        paths_from_adata(_adata([0, 1], [0.0, 1.0]), time_key="clock")
    with pytest.raises(BadInputError, match="adata"):
        paths_from_adata(np.zeros(3))


def test_paths_from_generated_data_match_the_arrays():
    from dynfer.datasets import flashing_ratchet_paths

    a = flashing_ratchet_paths(n_paths=7, n_times=12, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 7 short paths need not visit all 6 states
        p = paths_from_adata(a, n_states=6)
    assert p.states.shape == (7, 12) and p.n_states == 6
    first = a.obs[a.obs["trajectory"] == a.obs["trajectory"].iloc[0]]
    np.testing.assert_array_equal(p.states[0], first["state"].to_numpy())


# ------------------------------------------------------------------------------------------------ summary
def test_summary_of_the_ratchet_matches_the_reference_table():
    """Reference notes §2: V = 1 stationary law, stationary EPR 0.1792 and time scales."""
    q = flashing_ratchet(1.0).Q.numpy()
    s = mjp_summary(q, np.full(6, 1 / 6))
    np.testing.assert_allclose(s["stationary_distribution"],
                               [0.30119, 0.13654, 0.06227, 0.20030, 0.15914, 0.14057], atol=1e-5)
    assert s["entropy_production"] == pytest.approx(0.1792, abs=1e-4)
    np.testing.assert_allclose(s["timescales"], [0.500, 0.350, 0.281, 0.205, 0.159], atol=1e-3)
    assert s["relaxation_time"] == pytest.approx(0.5, abs=1e-9)
    # MFPT: 1 + sum_k q_ik tau_kj = 0 for i != j, tau_jj = 0
    tau = s["mfpt"]
    np.testing.assert_allclose(np.diag(tau), 0.0)
    for j in range(6):
        rows = [i for i in range(6) if i != j]
        np.testing.assert_allclose(1 + q[rows] @ tau[:, j], 0.0, atol=1e-10)
    for key in ("rate_matrix", "initial_distribution", "stationary_distribution", "timescales", "mfpt"):
        assert isinstance(s[key], np.ndarray)
    assert isinstance(s["entropy_production"], float) and isinstance(s["relaxation_time"], float)


def test_summary_of_a_reducible_chain_has_no_stationary_law():
    q = np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # two absorbing states
    s = mjp_summary(q, [1.0, 0.0, 0.0])
    assert np.isnan(s["stationary_distribution"]).all() and np.isnan(s["entropy_production"])
    assert np.isinf(s["mfpt"][1, 0])


def test_summary_rejects_bad_input():
    with pytest.raises(BadInputError):
        mjp_summary([[1.0, -1.0], [1.0, -1.0]], [0.5, 0.5])
    with pytest.raises(BadInputError, match="initial"):
        mjp_summary([[-1.0, 1.0], [1.0, -1.0]], [1.0, 0.0, 0.0])


def test_summary_agrees_with_rate_matrix():
    rng = np.random.default_rng(0)
    rates = rng.uniform(0.1, 2.0, size=(4, 4))
    rm = RateMatrix.from_rates(rates)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = mjp_summary(rm.Q.numpy(), np.full(4, 0.25))
    np.testing.assert_allclose(s["stationary_distribution"], rm.stationary_distribution().numpy())
    assert s["entropy_production"] == pytest.approx(float(rm.entropy_production()))
