"""tl.policy_evaluation, tl.policy_value, tl.policy_dt_convergence and their plots on AnnData."""

from __future__ import annotations

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from dynfer import BadInputError
from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData
from dynfer.pl._policy_evaluation import dt_convergence, monte_carlo_returns
from dynfer.pl._policy_evaluation import policy_value as plot_value
from dynfer.tl._policy_evaluation import policy_dt_convergence, policy_evaluation, policy_value
from dynfer.tl._store import load_estimator


def bm_adata(n: int = 300, k: int = 40, seed: int = 0) -> ad.AnnData:
    """Finite horizon: BM paths, terminal x^2 on the last row of each path (NaN elsewhere)."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / k
    x = np.concatenate([np.zeros((n, 1)), np.cumsum(rng.normal(0, np.sqrt(dt), (n, k)), 1)], 1)
    adata = ad.AnnData(x.reshape(-1, 1))
    adata.var_names = ["position"]
    adata.obs_names = [f"s{i}" for i in range(adata.n_obs)]
    adata.obs["time"] = np.tile(np.arange(k + 1) * dt, n)
    adata.obs["trajectory"] = pd.Categorical(np.repeat([f"p{i}" for i in range(n)], k + 1))
    adata.obs["reward"] = 0.0
    h = np.full(adata.n_obs, np.nan)
    h[k :: k + 1] = x[:, -1] ** 2
    adata.obs["terminal"] = h
    return adata


def ou_adata(n: int = 40, k: int = 200, dt: float = 0.02, seed: int = 1) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    a, sd = np.exp(-dt), np.sqrt(0.5 * (1 - np.exp(-2 * dt)))
    x = np.empty((n, k + 1))
    x[:, 0] = rng.normal(0, np.sqrt(0.5), n)
    for j in range(k):
        x[:, j + 1] = a * x[:, j] + sd * rng.normal(size=n)
    adata = ad.AnnData(x.reshape(-1, 1))
    adata.obs_names = [f"o{i}" for i in range(adata.n_obs)]
    adata.obs["time"] = np.tile(np.arange(k + 1) * dt, n)
    adata.obs["trajectory"] = np.repeat(np.arange(n), k + 1).astype(str)
    adata.obs["reward"] = x.reshape(-1) ** 2
    return adata


def family(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x**2, (1.0 - t)[:, None]], dim=1)


def test_fit_store_and_match_the_array_class():
    adata = bm_adata()
    assert policy_evaluation(adata, terminal_key="terminal", method="lstd") is None
    entry = adata.uns["policy_evaluation"]
    assert entry["setting"] == "finite" and entry["method"] == "lstd" and len(entry["coef"]) == 6
    est = load_estimator(adata, "policy_evaluation")
    x = adata.X.reshape(300, 41)
    t = adata.obs["time"].to_numpy().reshape(300, 41)
    direct = MartingalePolicyEvaluation("lstd").fit(PolicyData(t, x, np.zeros_like(x), x[:, -1] ** 2))
    np.testing.assert_array_equal(est.coef_, direct.coef_)
    np.testing.assert_array_equal(policy_value(adata), direct.value(t.reshape(-1), x.reshape(-1)))
    np.testing.assert_array_equal(policy_value(adata, t=0.5, x=np.zeros(2)), direct.value(0.5, np.zeros(2)))


def test_rows_in_any_order_give_the_same_fit():
    adata = ou_adata()
    shuffled = adata[np.random.default_rng(0).permutation(adata.n_obs)].copy()
    policy_evaluation(adata, discount=1.0, method="lstd")
    policy_evaluation(shuffled, discount=1.0, method="lstd")
    np.testing.assert_allclose(adata.uns["policy_evaluation"]["coef"], shuffled.uns["policy_evaluation"]["coef"],
                               rtol=1e-10)


def test_callable_features_are_passed_again_to_load():
    adata = bm_adata()
    with pytest.warns(UserWarning, match="cannot be stored"):
        policy_evaluation(adata, terminal_key="terminal", method="td", features=family)
    with pytest.raises(BadInputError, match="features"):
        load_estimator(adata, "policy_evaluation")
    est = load_estimator(adata, "policy_evaluation", features=family)
    assert np.all(np.abs(est.coef_ - 1.0) < 0.3)
    assert policy_value(adata, features=family).shape == (adata.n_obs,)


def test_dt_convergence_curve_and_plot(tmp_path):
    adata = bm_adata(n=200, k=32)
    with pytest.warns(UserWarning, match="cannot be stored"):
        policy_evaluation(adata, terminal_key="terminal", method="lstd", features=family)
    curve = policy_dt_convergence(adata, factors=(1, 2, 4), truth=[1.0, 1.0], features=family)
    assert curve["reference"] == "truth" and curve["coef"].shape == (3, 2)
    np.testing.assert_allclose(curve["dt"], [1 / 32, 1 / 16, 1 / 8])
    assert adata.uns["policy_evaluation"]["dt_convergence"]["slope"] == curve["slope"]
    ax = dt_convergence(adata, show=False)
    assert ax.get_xscale() == "log" and len(ax.lines) >= 1
    assert dt_convergence(curve, return_fig=True) is not None
    plt.close("all")
    by_dt = policy_dt_convergence(adata, dts=[1 / 32, 1 / 8], features=family)
    np.testing.assert_array_equal(by_dt["factors"], [1, 4])
    with pytest.raises(BadInputError, match="dts"):
        policy_dt_convergence(adata, dts=[-1.0], features=family)
    with pytest.raises(BadInputError, match="factors"):
        policy_dt_convergence(adata, factors=(0,), features=family)
    with pytest.raises(BadInputError, match="truth"):
        policy_dt_convergence(adata, truth=[1.0], features=family)
    with pytest.raises(BadInputError, match="dts"):
        policy_dt_convergence(adata, factors=(64,), features=family)


def test_value_plot_against_sampled_returns():
    adata = bm_adata()
    policy_evaluation(adata, terminal_key="terminal", method="lstd")
    mc = monte_carlo_returns(adata, "policy_evaluation")
    first = mc["t"] == 0.0
    np.testing.assert_allclose(mc["returns"][first], adata.obs["terminal"].dropna().to_numpy())
    ax = plot_value(adata, time=0.5, show=False)
    assert ax.get_xlabel() == "position" and len(ax.collections) == 1 and len(ax.lines) == 1
    assert len(ax.collections[0].get_offsets()) == 300  # one sample per path at t = 0.5
    plt.close("all")
    ou = ou_adata()
    policy_evaluation(ou, discount=1.0, method="lstd")
    ax = plot_value(ou, max_points=100, show=False)
    assert len(ax.collections[0].get_offsets()) == 100
    plt.close("all")
    with pytest.raises(BadInputError, match="component"):
        plot_value(ou, component=2, show=False)


def test_h5ad_round_trip(tmp_path):
    adata = ou_adata()
    policy_evaluation(adata, discount=1.0, method="lstd")
    policy_dt_convergence(adata, factors=(1, 2))
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(policy_value(back), policy_value(adata))
    assert back.uns["policy_evaluation"]["dt_convergence"]["reference"] == "finest"


@pytest.mark.parametrize(("edit", "match"), [
    (lambda a: a.obs.drop(columns="reward", inplace=True), "reward"),
    (lambda a: a.obs.__setitem__("reward", np.nan), "reward"),
    (lambda a: a.obs.__setitem__("time", 0.0), "time"),
    (lambda a: a.obs.__setitem__("reward", "x"), "reward"),
])
def test_bad_obs_columns_are_named(edit, match):
    adata = ou_adata()
    edit(adata)
    with pytest.raises(BadInputError, match=match):
        policy_evaluation(adata, discount=1.0)


def test_terminal_rewards_must_be_finite_on_last_rows_and_discount_named():
    adata = bm_adata()
    adata.obs.loc[adata.obs_names[40], "terminal"] = np.nan
    with pytest.raises(BadInputError, match="terminal"):
        policy_evaluation(adata, terminal_key="terminal")
    with pytest.raises(BadInputError, match="discount"):
        policy_evaluation(ou_adata(), discount=-1.0)
    with pytest.raises(TypeError, match="policy_evaluation.*unexpected keyword"):
        policy_evaluation(ou_adata(), discount=1.0, sigmaa=1)
