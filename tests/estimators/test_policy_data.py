"""PolicyData checks, the feature maps, the step-size schedules and the per-trajectory recursion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dynfer import BadInputError
from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData, as_policy_data
from dynfer.estimators.policy.features import PolynomialFeatures, RBFFeatures, monomial_exponents
from dynfer.estimators.policy.schedules import check_schedule, step_size
from dynfer.estimators.policy.td_errors import recursion


def _data(**over):
    t = np.linspace(0.0, 1.0, 6)
    base = {"times": [t, t[:4]], "states": [np.zeros((6, 2)), np.ones((4, 2))],
            "rewards": [np.ones(6), np.ones(4)]}
    return {**base, **over}


def test_lists_stacked_arrays_and_dicts_give_the_same_table():
    t = np.tile(np.linspace(0, 1, 5), (3, 1))
    x = np.arange(15.0).reshape(3, 5)
    r = x**2
    a = as_policy_data(PolicyData(t, x, r))
    b = as_policy_data({"times": list(t), "states": [xi[:, None] for xi in x], "rewards": list(r)})
    for name in ("t", "x", "r", "dt", "step_from", "step_traj", "step_last"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.n_traj == 3 and a.dim == 1 and a.x.shape == (15, 1)
    assert list(a.step_offsets) == [0, 4, 8, 12] and a.step_last.sum() == 3
    np.testing.assert_allclose(a.dt, 0.25)


def test_ragged_table_and_subset():
    table = as_policy_data(_data())
    assert list(table.lengths) == [6, 4] and len(table.dt) == 8
    sub = table.subset(np.array([1]))
    assert sub.n_traj == 1 and np.all(sub.x == 1.0) and len(sub.dt) == 3


@pytest.mark.parametrize(("over", "name"), [
    ({"rewards": [np.ones(6), np.ones(3)]}, "rewards"),            # misaligned with the times
    ({"times": [np.array([0.0]), np.linspace(0, 1, 4)], "states": [np.zeros((1, 2)), np.ones((4, 2))],
      "rewards": [np.ones(1), np.ones(4)]}, "times"),              # a trajectory with one sample
    ({"times": [np.array([0.0, 0.5, 0.5, 1, 2, 3]), np.linspace(0, 1, 4)]}, "times"),  # non-increasing
    ({"times": [np.array([0.0, 0.5, 0.4, 1, 2, 3]), np.linspace(0, 1, 4)]}, "times"),
    ({"states": [np.full((6, 2), np.nan), np.ones((4, 2))]}, "states"),
    ({"rewards": [np.array([1, 1, np.nan, 1, 1, 1.0]), np.ones(4)]}, "rewards"),
    ({"times": [np.array([0, 1, 2, 3, 4, np.inf]), np.linspace(0, 1, 4)]}, "times"),
    ({"states": [np.zeros((6, 2)), np.ones((4, 3))]}, "states"),
    ({"states": [np.zeros((5, 2)), np.ones((4, 2))]}, "states"),
    ({"terminal_rewards": np.ones(3)}, "terminal_rewards"),
    ({"terminal_rewards": np.array([1.0, np.nan])}, "terminal_rewards"),
    ({"states": [np.zeros((6, 2))]}, "states"),
    ({"times": "abc"}, "times"),
])
def test_bad_data_names_the_argument(over, name):
    with pytest.raises(BadInputError, match=name):
        as_policy_data(_data(**over))


def test_single_time_point_stacked_array_is_refused():
    with pytest.raises(BadInputError, match="times"):
        as_policy_data(PolicyData(np.zeros((3, 1)), np.zeros((3, 1)), np.zeros((3, 1))))


def test_bad_mapping_and_type():
    with pytest.raises(BadInputError, match="unknown"):
        as_policy_data({**_data(), "extra": 1})
    with pytest.raises(BadInputError, match="rewards"):
        as_policy_data({"times": [], "states": []})
    with pytest.raises(BadInputError, match="data"):
        as_policy_data([1, 2, 3])


@pytest.mark.parametrize(("param", "value"), [
    ("discount", -0.1), ("discount", math.nan), ("method", "q"), ("lam", 1.5), ("lam", -0.1), ("variant", "x"),
    ("degree", -1), ("setting", "x"), ("schedule", 0.3), ("n_epochs", 0), ("batch_size", 0), ("features", 3),
    ("features", "splines"), ("time_degree", "x"), ("weights", "x"), ("solver", "x"), ("learning_rate", 0.0),
])
def test_bad_parameters_are_refused_by_fit_naming_them(param, value):
    est = MartingalePolicyEvaluation(**{"method": "lstd", "discount": 0.5, param: value})
    with pytest.raises(BadInputError, match=param):
        est.fit(_data())


def test_incompatible_choices_are_refused():
    data = _data()
    with pytest.raises(BadInputError, match="features"):
        MartingalePolicyEvaluation("lstd", features="mlp", discount=0.5).fit(data)
    with pytest.raises(BadInputError, match="lam"):
        MartingalePolicyEvaluation("martingale", lam=0.5, discount=0.5).fit(data)
    with pytest.raises(BadInputError, match="time_degree"):
        MartingalePolicyEvaluation("lstd", time_degree=1, discount=0.5).fit(data)
    with pytest.raises(BadInputError, match="terminal_rewards"):
        MartingalePolicyEvaluation("lstd", setting="finite", discount=0.5).fit(data)
    with pytest.raises(BadInputError, match="discount"):
        MartingalePolicyEvaluation("lstd", setting="discounted").fit(data)


def test_polynomial_features_match_the_monomials():
    f = PolynomialFeatures(2, 2, time_degree=1, horizon=2.0)
    assert f.names[:6] == ["1", "x0", "x1", "x0^2", "x0*x1", "x1^2"] and f.names[6] == "(T-t)"
    x = torch.tensor([[2.0, 3.0], [-1.0, 0.5]], dtype=torch.float64)
    t = torch.tensor([0.5, 1.5], dtype=torch.float64)
    out = f(t, x).numpy()
    x0, x1, tau = x[:, 0].numpy(), x[:, 1].numpy(), 2.0 - t.numpy()
    base = np.stack([np.ones(2), x0, x1, x0**2, x0 * x1, x1**2], 1)
    np.testing.assert_allclose(out, np.concatenate([base, base * tau[:, None]], 1))
    assert len(monomial_exponents(3, 3, False)) == 19  # C(6, 3) - 1


def test_rbf_features():
    x = np.random.default_rng(0).normal(size=(200, 2))
    f = RBFFeatures.from_states(x, 5, seed=0)
    out = f(torch.zeros(3, dtype=torch.float64), torch.as_tensor(f.centres[:3])).numpy()
    assert out.shape == (3, 6) and np.allclose(out[:, 0], 1.0) and np.allclose(np.diag(out[:, 1:4]), 1.0)
    assert f.width > 0 and f.names[0] == "1"


def test_schedules():
    assert step_size(0.1, 1, "power") == pytest.approx(0.1)
    assert step_size(0.1, 100, "power") == pytest.approx(0.1 * 100**-0.51)
    assert step_size(0.1, 2, "log") == pytest.approx(0.1)  # log 2 < 1
    assert step_size(0.1, 1000, "log") == pytest.approx(0.1 / math.log(1000))
    assert step_size(0.1, 9, 1.0) == pytest.approx(0.1 / 9) and step_size(0.1, 9, "constant") == 0.1
    for bad in ("x", 0.5, 2, True):
        with pytest.raises(BadInputError, match="schedule"):
            check_schedule(bad)


def test_recursion_matches_a_loop_on_regular_and_irregular_steps():
    rng = np.random.default_rng(1)
    u = rng.normal(size=(9, 2))
    offsets = np.array([0, 4, 9])
    for decay in (np.full(9, 0.7), rng.uniform(0.2, 0.9, 9)):
        want = np.empty_like(u)
        for lo, hi in zip(offsets[:-1], offsets[1:], strict=True):
            acc = np.zeros(2)
            for k in range(lo, hi):
                acc = (decay[k] * acc if k > lo else 0) + u[k]
                want[k] = acc
        np.testing.assert_allclose(recursion(u, decay, offsets), want)
        back = np.empty_like(u)
        for lo, hi in zip(offsets[:-1], offsets[1:], strict=True):
            acc = np.zeros(2)
            for k in range(hi - 1, lo - 1, -1):
                acc = (decay[k] * acc if k < hi - 1 else 0) + u[k]
                back[k] = acc
        np.testing.assert_allclose(recursion(u, decay, offsets, reverse=True), back)
