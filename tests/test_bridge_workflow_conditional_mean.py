"""The bridge workflows' conditional-mean row: the same fit read without the bridge's spread, labelled as such."""

import numpy as np
import pytest

import dynfer
from dynfer import BadInputError
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.workflows.bridges import MEAN_SUFFIX, heldout_with_baselines


def _snapshots():
    adata = dynfer.datasets.lotka_volterra_snapshots(n_per_time=40, seed=0)
    x = adata.X.astype(float)
    t = adata.obs["time"].to_numpy()
    times = sorted(set(t))
    return [x[t == tt] for tt in times], times


def test_conditional_mean_row_reuses_the_fit_and_drops_the_spread(monkeypatch):
    snaps, times = _snapshots()
    fits = []
    original = SchrodingerBridge.fit

    def counting(self, *args, **kwargs):
        fits.append(self.reference)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchrodingerBridge, "fit", counting)
    label = "dynfer (LV)"
    methods = {label: {"reference": "lotka_volterra", "sigma": 0.3, "n_iter": 1}}
    with dynfer.settings.override(progress=False):
        result = heldout_with_baselines(snaps, times, methods, seed=0, device="cpu", conditional_mean=label)
    assert fits == ["lotka_volterra"]  # one fit serves both rows
    w2 = result.values("W2")
    assert set(w2) >= {label, label + MEAN_SUFFIX}
    # the mean paths carry no bridge noise: at sigma = 0.3 their held-out clouds are tighter than the samples'
    model = result.models[label]
    held = list(result.heldout_times)
    spread = [np.var(s, axis=0).sum() for s in model.sample(held, seed=0)]
    mean_spread = [np.var(s, axis=0).sum() for s in model.sample(held, seed=0, noise=False)]
    assert all(m < s for m, s in zip(mean_spread, spread, strict=True))
    assert w2[label] != w2[label + MEAN_SUFFIX]


def test_conditional_mean_must_name_a_method():
    snaps, times = _snapshots()
    with pytest.raises(BadInputError, match="conditional_mean"):
        heldout_with_baselines(snaps, times, {"a": {"reference": "brownian"}}, seed=0, device="cpu",
                               conditional_mean="b")
