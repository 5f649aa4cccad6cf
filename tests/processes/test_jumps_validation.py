"""Every public function rejects bad input with a ValueError that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynfer.processes.jumps import RateMatrix, first_passage_times, flashing_ratchet, gillespie, jump_log_likelihood

GOOD = np.array([[-1.0, 1.0, 0.0], [0.5, -1.0, 0.5], [0.0, 2.0, -2.0]])


@pytest.mark.parametrize(
    ("q", "match"),
    [
        (np.array([[-1.0, 1.0], [-0.5, 0.5]]), r"negative off-diagonal rate (Q|rates)\[1, 0\]"),
        (np.array([[-1.0, 1.0], [2.0, -1.0]]), r"row 1 of (Q|rates) sums to 1"),
        (np.array([[-1.0, np.nan], [2.0, -2.0]]), "NaN"),
        (np.array([[-1.0, 1.0, 0.0], [2.0, -2.0, 0.0]]), "square"),
        (np.array([1.0, -1.0]), "square"),
        ("abc", "numeric"),
    ],
)
def test_rate_matrix_rejects_invalid(q, match):
    with pytest.raises(ValueError, match=match):
        RateMatrix(q)
    with pytest.raises(ValueError, match=match):
        gillespie(q, [0.0, 1.0], 0, n_paths=2)
    if match not in {"square", "numeric"}:
        with pytest.raises(ValueError, match=match):
            jump_log_likelihood(q, [[0, 1]], [0.0, 1.0])


def test_per_path_rates_validated_by_matrix():
    rates = torch.tensor(GOOD).repeat(3, 1, 1)
    rates[2, 1, 1] = -3.0
    with pytest.raises(ValueError, match="row 1 of matrix 2"):
        gillespie(rates, [0.0, 1.0], 0)


def test_reducible_chain_has_no_unique_stationary_distribution():
    q = np.array([[-1.0, 1.0, 0, 0], [1.0, -1.0, 0, 0], [0, 0, -2.0, 2.0], [0, 0, 3.0, -3.0]])
    rm = RateMatrix(q)
    with pytest.raises(ValueError, match="reducible with 2 closed"):
        rm.stationary_distribution()
    with pytest.raises(ValueError, match="reducible"):
        rm.simulate(3, [0.0, 1.0])  # default stationary start
    assert rm.timescales().numel() == 2  # two zero eigenvalues dropped


def test_simulate_rejects_bad_times_and_initial():
    rm = RateMatrix(GOOD)
    with pytest.raises(ValueError, match="non-decreasing"):
        rm.simulate(4, [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        rm.simulate(2, [[0.0, 1.0], [1.0, 0.5]])
    with pytest.raises(ValueError, match=r"shape \(4, T\)"):
        rm.simulate(4, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="1 or 2-dimensional"):
        rm.simulate(4, np.zeros((4, 2, 1)))
    with pytest.raises(ValueError, match="NaN"):
        rm.simulate(4, [0.0, np.nan])
    with pytest.raises(ValueError, match="n_paths"):
        rm.simulate(0, [0.0, 1.0])
    with pytest.raises(ValueError, match="outside 0..2"):
        rm.simulate(2, [0.0, 1.0], initial=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="outside 0..2"):
        rm.simulate(2, [0.0, 1.0], initial=-1)
    with pytest.raises(ValueError, match="sum to 1"):
        rm.simulate(2, [0.0, 1.0], initial=[0.5, 0.2, 0.2])
    with pytest.raises(ValueError, match="negative"):
        rm.simulate(2, [0.0, 1.0], initial=[1.5, -0.5, 0.0])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        rm.simulate(2, [0.0, 1.0], initial=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        rm.simulate(2, [0.0, 1.0], initial=torch.tensor([0, 1, 2]))


def test_gillespie_and_first_passage_reject_bad_input():
    with pytest.raises(ValueError, match="disagrees"):
        gillespie(GOOD, np.zeros((3, 2)), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="n_paths"):
        gillespie(GOOD, [0.0, 1.0], 0)
    with pytest.raises(ValueError, match="outside 0..2"):
        first_passage_times(GOOD, 0, 7, 5)
    with pytest.raises(ValueError, match="max_time"):
        first_passage_times(GOOD, 0, 2, 5, max_time=-1.0)


def test_log_likelihood_rejects_bad_input():
    rm = RateMatrix(GOOD)
    paths = torch.tensor([[0, 1, 2], [2, 1, 1]])
    t = torch.tensor([0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="outside 0..2"):
        rm.log_likelihood(torch.tensor([[0, 1, 3], [2, 1, 1]]), t)
    with pytest.raises(ValueError, match="integer state labels"):
        rm.log_likelihood(paths.double(), t)
    with pytest.raises(ValueError, match="non-decreasing"):
        rm.log_likelihood(paths, torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        rm.log_likelihood(paths, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="shape of paths"):
        rm.log_likelihood(paths, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="NaN"):
        rm.log_likelihood(paths, torch.tensor([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="lengths must lie"):
        rm.log_likelihood(paths, t, lengths=[4, 1])
    with pytest.raises(ValueError, match="lengths must be integers"):
        rm.log_likelihood(paths, t, lengths=[2.0, 1.0])
    with pytest.raises(ValueError, match="sum to 1"):
        rm.log_likelihood(paths, t, initial=[0.2, 0.2, 0.2])


def test_other_methods_reject_bad_input():
    rm = RateMatrix(GOOD)
    with pytest.raises(ValueError, match="t must be >= 0"):
        rm.transition_matrix(-1.0)
    with pytest.raises(ValueError, match="1-dimensional"):
        rm.transition_matrix(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="sum to 1"):
        rm.entropy_production([0.5, 0.4, 0.0])
    with pytest.raises(ValueError, match="outside 0..2"):
        rm.mfpt(5)
    with pytest.raises(ValueError, match="r must be finite and > 0"):
        flashing_ratchet(1.0, r=0.0)
    with pytest.raises(ValueError, match="V must be finite"):
        flashing_ratchet(float("inf"))
    with pytest.raises(ValueError, match="relaxation_time"):
        RateMatrix([[0.0]]).relaxation_time()
