"""The held-out-time protocol on arrays: splits, scores of callables, floors, fit times, no mutation."""

import numpy as np
import pytest

from dynfer.evaluation import OTMidpoint, Persistence, evaluate_heldout, persistence, split_half_floor, split_times, w2


def _snapshots(n=40, k=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 2)) + t for t in range(k)], np.arange(k, dtype=float)


class _Oracle:
    """A 'method' that returns the held-out samples themselves: W2 must be exactly 0."""

    def __init__(self, table):
        self.table = table

    def sample(self, times, *, seed=None):
        return [self.table[float(t)] for t in times]


def test_split_times_holds_out_the_odd_indices_inside_the_span():
    train, held = split_times([0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(train, [0, 2, 4])
    np.testing.assert_array_equal(held, [1, 3])  # 5 lies after the last training time
    with pytest.raises(ValueError, match="no held-out time"):
        split_times([0, 1])
    with pytest.raises(ValueError, match="holdout"):
        split_times([0, 1, 2], holdout="all")


def test_scores_are_the_metric_of_each_methods_samples():
    xs, t = _snapshots()
    copies = [x.copy() for x in xs]
    table = dict(zip(t.tolist(), xs, strict=True))
    seen = {}

    def oracle(snaps, times):
        seen["times"] = times.tolist()
        return _Oracle(table)

    res = evaluate_heldout(xs, t, {"oracle": oracle, "persistence": lambda s, tt: Persistence().fit(s, tt),
                                   "OT-midpoint": lambda s, tt: OTMidpoint().fit(s, tt)}, seed=3)
    assert seen["times"] == [0.0, 2.0, 4.0] and res.heldout_times == [1.0, 3.0]
    assert res.values()["oracle"] == pytest.approx([0.0, 0.0], abs=1e-6)  # sqrt of a round-off-level cost
    expected = [w2(persistence([xs[0], xs[2], xs[4]], np.array([0.0, 2.0, 4.0]), h), xs[int(h)]) for h in (1, 3)]
    np.testing.assert_allclose(res.values()["persistence"], expected)
    assert res.mean()["OT-midpoint"] < res.mean()["persistence"]  # a translation: McCann recovers it closely
    assert res.floor["W2"] == split_half_floor([xs[1], xs[3]], 3)
    assert set(res.fit_seconds) == {"oracle", "persistence", "OT-midpoint"}
    assert isinstance(res.models["oracle"], _Oracle)
    for a, b in zip(xs, copies, strict=True):  # the caller's data are untouched
        np.testing.assert_array_equal(a, b)
    m = res.metrics()
    assert m["w2"]["oracle"] == res.values()["oracle"]
    assert m["split_half_floor_mean"] == pytest.approx(np.mean(res.floor["W2"]))


def test_given_floor_and_times_and_bad_input():
    xs, t = _snapshots()
    res = evaluate_heldout(xs, t, {"p": lambda s, tt: Persistence().fit(s, tt)}, train=[0.0, 4.0], heldout=[2.0],
                           floor={"W2": [0.5]})
    assert res.heldout_times == [2.0] and res.floor == {"W2": [0.5]}
    with pytest.raises(ValueError, match="no snapshot"):
        evaluate_heldout(xs, t, {}, train=[0.0, 9.0], heldout=[2.0])
    with pytest.raises(ValueError, match="snapshots but"):
        evaluate_heldout(xs[:2], t, {})
