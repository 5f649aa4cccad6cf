"""SchrodingerBridge end to end on data with known truth (independent of the code under test)."""

import numpy as np
import pytest

from dynfer.datasets import lotka_volterra_snapshots
from dynfer.estimators.bridges.estimator import SchrodingerBridge
from dynfer.processes import wasserstein


def _lv_split(n_per_time=120, seed=0):
    adata = lotka_volterra_snapshots(n_per_time=n_per_time, seed=seed)
    times = np.unique(adata.obs["time"].to_numpy())
    xs = [np.asarray(adata.X[adata.obs["time"].to_numpy() == t], dtype=np.float64) for t in times]
    return xs, times, adata.uns["dynfer_source"]


def test_true_family_recovers_lotka_volterra_and_beats_vanilla_sb():
    xs, times, source = _lv_split()
    train, held = list(range(0, len(times), 2)), list(range(1, len(times), 2))
    truth = source["parameters"]
    fitted = SchrodingerBridge("lotka_volterra", sigma=0.1, n_iter=8, seed=0).fit([xs[i] for i in train],
                                                                                  times[train])
    vanilla = SchrodingerBridge("brownian", sigma=0.1, seed=0).fit([xs[i] for i in train], times[train])
    theta = fitted.history_[-1]["theta"]
    # the goal: recovered parameters within 10 % of the generating ones (1, 0.4, 0.4, 0.1; Shen et al. 2025)
    for name, value in {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1}.items():
        assert float(truth[name]) == value
        assert abs(float(theta[name]) - value) < 0.1 * value, (name, float(theta[name]))
    w_fit = [float(wasserstein(s, xs[i])) for s, i in zip(fitted.sample(times[held], n=len(xs[0])), held,
                                                              strict=True)]
    w_van = [float(wasserstein(s, xs[i])) for s, i in zip(vanilla.sample(times[held], n=len(xs[0])), held,
                                                              strict=True)]
    assert np.mean(w_fit) < 0.5 * np.mean(w_van)
    assert len(vanilla.history_) == 1  # vanilla SB: one round, nothing to refit


def test_bridge_passes_through_training_marginals():
    xs, times, _ = _lv_split(n_per_time=60)
    sb = SchrodingerBridge("brownian", sigma=0.1, seed=1).fit(xs[:3], times[:3])
    grid, paths = sb.trajectories()
    for k in range(3):
        at = paths[np.argmin(np.abs(grid - times[k]))]
        # anchored chains: the knot law is the snapshot's empirical law; W2 is sampling-level small
        assert float(wasserstein(at, xs[k])) < 0.25 * float(wasserstein(xs[k], xs[k] + 1.0))


def test_bad_input_and_unfitted_use():
    x = [np.zeros((5, 2)), np.ones((5, 2)), np.ones((5, 2))]
    with pytest.raises(ValueError, match=">= 3 time points"):
        SchrodingerBridge().fit(x[:2], [0.0, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        SchrodingerBridge().fit(x, [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="same dimension"):
        SchrodingerBridge().fit([np.zeros((5, 2)), np.zeros((5, 3)), np.zeros((5, 2))], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        SchrodingerBridge().fit([np.full((5, 2), np.nan), *x[1:]], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="p_step"):
        SchrodingerBridge(p_step="sinkhorn").fit(x, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="unknown|family|Unknown"):
        SchrodingerBridge("quadratic").fit(x, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="not fitted"):
        SchrodingerBridge().sample([0.5])
    sb = SchrodingerBridge(sigma=0.5, seed=0).fit(x, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="span"):
        sb.sample([3.0])
