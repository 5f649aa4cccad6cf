"""subsample_per_time: counts, seeding, no replacement, copy semantics."""

import numpy as np
import pytest

from dynfer.io import make_snapshots
from dynfer.pp._subsample import subsample_per_time


def _snapshots(counts):
    t = np.repeat(np.arange(len(counts), dtype=float), counts)
    x = np.arange(len(t), dtype=float)[:, None]  # row id in X, to check no row is drawn twice
    return make_snapshots(x, t)


def test_counts_and_no_replacement():
    adata = _snapshots([50, 7, 20])
    out = subsample_per_time(adata, 10, copy=True)
    assert np.bincount(out.obs["time"].to_numpy().astype(int)).tolist() == [10, 7, 10]
    ids = out.X[:, 0]
    assert len(np.unique(ids)) == len(ids)
    assert (np.diff(ids) > 0).all()  # original order kept
    np.testing.assert_array_equal(out.uns["subsample_per_time"]["n_cells_after"], [10, 7, 10])
    assert adata.n_obs == 77  # copy=True: input unchanged


def test_seeded_and_in_place():
    adata = _snapshots([30, 30])
    a = subsample_per_time(adata, 5, seed=1, copy=True)
    b = subsample_per_time(adata, 5, seed=1, copy=True)
    c = subsample_per_time(adata, 5, seed=2, copy=True)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert subsample_per_time(adata, 5, seed=1) is None
    np.testing.assert_array_equal(adata.X, a.X)
    assert list(adata.obs_names) == list(a.obs_names)


def test_uniform_over_cells():
    # each of the 20 cells of a time point is kept with probability 5/20 = 1/4; over 400 seeds the count per cell
    # is Binomial(400, 1/4): mean 100, sd sqrt(75) ~ 8.7, so 100 +- 45 (> 5 sd) must hold for all 20 cells
    adata = _snapshots([20, 2])
    hits = np.zeros(20)
    for seed in range(400):
        out = subsample_per_time(adata, 5, seed=seed, copy=True)
        ids = out.X[:, 0][out.obs["time"].to_numpy() == 0].astype(int)
        hits[ids] += 1
    assert np.abs(hits - 100).max() < 45


def test_errors():
    adata = _snapshots([5, 5])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            subsample_per_time(adata, bad)
    with pytest.raises(ValueError, match="seed"):
        subsample_per_time(adata, 2, seed=-3)
    with pytest.raises(ValueError, match="time_key"):
        subsample_per_time(adata, 2, time_key="day")
    assert adata.n_obs == 10
