"""The stored bridge stays bounded: ``stored_paths`` caps the final paths per anchor snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from dynfer import BadInputError
from dynfer.estimators.bridges import SchrodingerBridge

TIMES = [0.0, 1.0, 2.0, 3.0]


def _snapshots(n: int) -> list[np.ndarray]:
    g = np.random.default_rng(0)
    return [g.normal(size=(n, 2)) + k for k in range(4)]


@pytest.mark.parametrize("reference", ["brownian", "linear"])
def test_stored_paths_caps_the_final_bridge_and_keeps_its_law(reference):
    xs = _snapshots(300)
    full = SchrodingerBridge(reference, n_iter=2, seed=0, stored_paths=None).fit(xs, TIMES)
    capped = SchrodingerBridge(reference, n_iter=2, seed=0, stored_paths=100).fit(xs, TIMES)
    assert full.paths_.shape[1] == 4 * 300 and capped.paths_.shape[1] == 4 * 100
    # the kept paths still pass through the observed clouds: at every knot, the capped bridge's particles are a
    # subset of that snapshot's cells
    knots = capped._knots()
    for k, x in enumerate(xs):
        at = capped.paths_[int(knots[k])].cpu().numpy()
        dist = np.min(((at[:, None, :] - x[None]) ** 2).sum(-1), axis=1)
        assert float(dist.max()) < 1e-10
    # and the same state size whatever the cells beyond the cap
    assert SchrodingerBridge(reference, n_iter=1, seed=0, stored_paths=100).fit(_snapshots(500), TIMES) \
        .paths_.shape[1] == 400


def test_auto_keeps_every_path_below_the_cap():
    est = SchrodingerBridge("brownian", seed=0).fit(_snapshots(50), TIMES)
    assert est.get_params()["stored_paths"] == "auto" and est.paths_.shape[1] == 200


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "all"])
def test_bad_stored_paths_is_named(bad):
    with pytest.raises(BadInputError, match="stored_paths"):
        SchrodingerBridge("brownian", stored_paths=bad).fit(_snapshots(10), TIMES)
