"""MartingalePolicyEvaluation on the estimator contract: parameters, state, files, seeds, user callables and modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dynfer
from dynfer.estimators import NotFittedError
from dynfer.estimators._codec import UnstorableParameterError
from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData
from dynfer.estimators.policy.estimator import PolicyConvergenceWarning


def small_data(finite: bool = False) -> PolicyData:
    rng = np.random.default_rng(0)
    n, k, dt = 6, 30, 0.05
    x = np.zeros((n, k + 1))
    for j in range(k):
        x[:, j + 1] = x[:, j] * (1 - dt) + np.sqrt(dt) * rng.normal(size=n)
    t = np.tile(np.arange(k + 1) * dt, (n, 1))
    return PolicyData(t, x, x**2, terminal_rewards=x[:, -1] ** 2 if finite else None)


GRID_T, GRID_X = np.array([0.0, 0.3, 1.0]), np.array([-1.0, 0.2, 0.7])


def outputs(est: MartingalePolicyEvaluation) -> np.ndarray:
    return est.value(GRID_T, GRID_X)


@pytest.mark.parametrize("params", [
    {"method": "lstd", "discount": 0.5},
    {"method": "lstd", "features": "rbf", "n_centers": 4, "discount": 0.5, "seed": 1},
    {"method": "gtd", "variant": "tdc", "discount": 0.5, "n_epochs": 50},
    {"method": "td", "features": "mlp", "hidden": (8,), "n_epochs": 5, "seed": 0},
    {"method": "martingale", "features": "mlp", "hidden": (8,), "n_epochs": 5, "seed": 0, "setting": "ergodic"},
])
def test_state_save_and_load_give_identical_outputs_without_fitting(params, tmp_path, monkeypatch):
    est = MartingalePolicyEvaluation(**params).fit(small_data())
    state = est.state_dict()
    path = est.save(tmp_path / "m.pt")
    monkeypatch.setattr(MartingalePolicyEvaluation, "fit", lambda *a, **k: pytest.fail("no refit"))
    back = MartingalePolicyEvaluation.from_state(est.stored_params(), state)
    np.testing.assert_array_equal(outputs(back), outputs(est))
    loaded = MartingalePolicyEvaluation.load(path)
    np.testing.assert_array_equal(outputs(loaded), outputs(est))
    assert loaded.results()["method"] == params["method"]
    assert (loaded.coef_ is None) == (params.get("features") == "mlp")
    assert loaded.average_reward_ == est.average_reward_


def test_get_params_round_trip_and_not_fitted():
    est = MartingalePolicyEvaluation("td", lam=0.3, discount=1.0)
    assert MartingalePolicyEvaluation(**est.get_params()).get_params() == est.get_params()
    for call in (lambda: est.value(0.0, np.zeros(2)), est.state_dict, est.results):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()


def test_seeds_fix_the_network_and_settings_seed_is_used():
    data = small_data()
    kw = {"method": "martingale", "features": "mlp", "hidden": (8,), "n_epochs": 3, "discount": 0.5}
    a = MartingalePolicyEvaluation(**kw, seed=3).fit(data)
    b = MartingalePolicyEvaluation(**kw, seed=3).fit(data)
    c = MartingalePolicyEvaluation(**kw, seed=4).fit(data)
    np.testing.assert_array_equal(outputs(a), outputs(b))
    assert not np.array_equal(outputs(a), outputs(c))
    with dynfer.settings.override(seed=3):
        d = MartingalePolicyEvaluation(**kw).fit(data)
    assert d.seed_ == 3
    np.testing.assert_array_equal(outputs(a), outputs(d))


def test_results_are_plain_data():
    with pytest.warns(PolicyConvergenceWarning):  # 20 epochs: short of tol
        est = MartingalePolicyEvaluation("td", discount=0.5, n_epochs=20).fit(small_data())
    res = est.results()
    # full batches, constant step: one loss per block of 1, 2, 4, 8 epochs and the last 5 (.doubling)
    assert res["setting"] == "discounted" and np.isnan(res["average_reward"]) and len(res["loss"]) == 5
    assert list(res["feature_names"]) == ["1", "x0", "x0^2"] and res["dt_min"] == pytest.approx(0.05)
    for v in res.values():
        assert isinstance(v, (str, float, np.ndarray))


def test_callable_features_cannot_be_saved_but_rebuild_with_the_callable(tmp_path):
    def phi(t, x):
        return torch.cat([x**2, torch.ones_like(x)], 1)

    est = MartingalePolicyEvaluation("lstd", features=phi, discount=0.5).fit(small_data())
    with pytest.raises(UnstorableParameterError, match="features"):
        est.save(tmp_path / "m.pt")
    params = {k: v for k, v in est.stored_params().items() if k != "features"}
    back = MartingalePolicyEvaluation.from_state(params, est.state_dict(), features=phi)
    np.testing.assert_array_equal(outputs(back), outputs(est))
    assert est.feature_names_ == ["phi0", "phi1"]


class Quadratic(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(()))
        self.b = torch.nn.Parameter(torch.zeros(()))

    def forward(self, t, x):
        return self.a * x[:, 0] ** 2 + self.b


def test_module_value_state_is_stored_and_the_module_is_passed_again():
    module = Quadratic()
    est = MartingalePolicyEvaluation("td", features=module, discount=0.5, n_epochs=30, learning_rate=0.1,
                                     optimizer="sgd").fit(small_data())
    assert float(module.a.detach()) == 0.0  # the user's module is copied, never trained in place
    params = {k: v for k, v in est.stored_params().items() if k != "features"}
    back = MartingalePolicyEvaluation.from_state(params, est.state_dict(), features=Quadratic())
    np.testing.assert_array_equal(outputs(back), outputs(est))
    with pytest.raises(ValueError, match="features"):
        MartingalePolicyEvaluation.from_state(params, est.state_dict(), features="polynomial")


def test_value_input_shapes():
    est = MartingalePolicyEvaluation("lstd", discount=0.5).fit(small_data())
    assert est.value(0.0, np.zeros((4, 1))).shape == (4,)
    assert est.value(np.zeros(4), np.zeros(4)).shape == (4,)
    with pytest.raises(ValueError, match="t"):
        est.value(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="x"):
        est.value(0.0, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="x"):
        est.value(0.0, np.array([np.nan]))


def test_mlp_value_on_a_finite_horizon_learns_something():
    est = MartingalePolicyEvaluation("martingale", features="mlp", hidden=(16,), n_epochs=200, seed=0).fit(
        small_data(finite=True))
    assert est.history_["loss"][-1] < est.history_["loss"][0]
    assert est.setting_ == "finite" and np.isfinite(outputs(est)).all()
