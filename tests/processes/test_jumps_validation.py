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


def test_fast_rates_are_refused_before_simulating():
    import time

    import dynfer

    fast = torch.tensor([[-1e12, 1e12], [1e12, -1e12]], dtype=torch.float64)
    start = time.perf_counter()
    with pytest.raises(dynfer.BadInputError, match=r"gillespie: rates: about 1e\+12 jump events per path.*100 of "
                       r"100 paths.*exit rates up to 1e\+12.*max_work = 2e\+10.*slower rates"):
        gillespie(fast, torch.linspace(0, 1, 11), 0, n_paths=100, seed=0)
    with pytest.raises(dynfer.BadInputError, match="RateMatrix.simulate: rates"):
        RateMatrix(fast).simulate(100, torch.linspace(0, 1, 11), seed=0)
    trap = torch.tensor([[-1e9, 1e9, 0.0], [1e9, -1e9, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(dynfer.BadInputError, match="first_passage_times: rates: about 1e\\+09"):
        first_passage_times(trap, 0, 2, 100, max_time=1.0, seed=0)
    assert time.perf_counter() - start < 5
    # the estimate follows the paths: a fast state that is left at once for an absorbing one costs one event
    absorbed = torch.tensor([[-1e12, 1e12], [0.0, 0.0]], dtype=torch.float64)
    assert bool((gillespie(absorbed, torch.linspace(0, 1, 11), 0, n_paths=100, seed=0)[:, 1:] == 1).all())
    assert bool(torch.isfinite(first_passage_times(torch.tensor([[-1e9, 1e9, 0], [0, 0, 0], [0, 0, 0.0]],
                                                                dtype=torch.float64), 0, 2, 10, max_time=1.0,
                                                   seed=0)).logical_not().all())
    # a run that would take too long without max_time stops at the bound instead of running on
    rare = torch.tensor([[-1.0, 1.0, 0.0], [1.0, -1.0 - 1e-9, 1e-9], [0.0, 0.0, 0.0]], dtype=torch.float64)
    with dynfer.settings.override(max_work=1e6), pytest.raises(dynfer.BadInputError, match="still short of the "
                                                                                           "target after"):
        first_passage_times(rare, 0, 2, 10, seed=0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda q: jump_log_likelihood(q, np.array([[0, 1]], dtype=object), [0.0, 1.0]), "paths: a ndarray of dtype "
         "object"),
        (lambda q: jump_log_likelihood(q, [[0, 1]], [0.0, 1.0], lengths=np.array(["a"])), "lengths"),
        (lambda q: gillespie(q, [0.0, 1.0], np.array([0, "a"], dtype=object)), "initial"),
        (lambda q: gillespie(q, [0.0, 1.0], 0, n_paths=2.5), "n_paths: 2.5"),
        (lambda q: gillespie(q, [0.0, 1.0], 0, n_paths="2"), "n_paths: '2'"),
        (lambda q: first_passage_times(q, 0, np.array(["x"]), 3), "target"),
        (lambda q: RateMatrix(q).mfpt(np.array([None])), "target"),
        (lambda q: RateMatrix(q).simulate(2, [0.0, 1.0], initial=np.array([True, False])), "initial: a boolean"),
    ],
)
def test_bad_labels_and_counts_are_bad_input(call, match):
    import dynfer

    q = torch.tensor([[-1.0, 1.0], [2.0, -2.0]], dtype=torch.float64)
    with pytest.raises(dynfer.BadInputError, match=match):  # were TypeErrors from torch.as_tensor / torch.full
        call(q)
