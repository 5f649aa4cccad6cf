"""trajectories_to_snapshots: shuffling drops identities, linear interpolation matches hand-computed values."""

import numpy as np
import pytest

from dynfer.io import make_snapshots
from dynfer.pp._trajectories import trajectories_to_snapshots


def _paths():
    # three lines x(t) = offset + slope * t observed at different times
    t = np.array([0.0, 1.0, 2.0, 0.0, 2.0, 0.5, 1.5])
    traj = ["a", "a", "a", "b", "b", "c", "c"]
    offset = np.array([0.0, 0.0, 0.0, 100.0, 100.0, 200.0, 200.0])
    slope = np.array([10.0, 10.0, 10.0, -4.0, -4.0, 2.0, 2.0])
    x = np.c_[offset + slope * t, t]
    return make_snapshots(x, t, trajectory=traj)


def test_shuffle_keeps_rows_and_drops_identity():
    adata = _paths()
    out = trajectories_to_snapshots(adata, copy=True)
    assert "trajectory" not in out.obs
    assert "trajectory" in adata.obs  # copy=True: input unchanged
    assert (np.diff(out.obs["time"].to_numpy()) >= 0).all()
    # the same multiset of (state, time) rows
    rows = lambda a: sorted(map(tuple, np.c_[a.X, a.obs["time"]]))  # noqa: E731
    assert rows(out) == rows(adata)
    assert list(out.obs_names) == [str(i) for i in range(7)]
    assert out.uns["trajectories_to_snapshots"]["method"] == "shuffle"


def test_shuffle_is_seeded_and_mixes_within_time():
    t = np.tile(np.arange(3.0), 50)
    traj = np.repeat(np.arange(50), 3)
    adata = make_snapshots(np.c_[traj.astype(float)], t, trajectory=traj)
    a = trajectories_to_snapshots(adata, seed=3, copy=True)
    b = trajectories_to_snapshots(adata, seed=3, copy=True)
    c = trajectories_to_snapshots(adata, seed=4, copy=True)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    # the path ids at time 0 and time 1 are no longer aligned row by row
    ids0 = a.X[a.obs["time"].to_numpy() == 0, 0]
    ids1 = a.X[a.obs["time"].to_numpy() == 1, 0]
    assert not np.array_equal(ids0, ids1)


def test_linear_interpolation_on_a_grid():
    adata = _paths()
    grid = [0.0, 0.5, 1.0, 1.5, 2.0]
    out = trajectories_to_snapshots(adata, times=grid, copy=True)
    x, t = out.X[:, 0], out.obs["time"].to_numpy()
    # the interpolated second column equals the time; the first lies on one of the three lines
    np.testing.assert_allclose(out.X[:, 1], t)
    expected = {
        0.0: [0.0, 100.0],  # c starts at 0.5
        0.5: [5.0, 98.0, 201.0],
        1.0: [10.0, 96.0, 202.0],
        1.5: [15.0, 94.0, 203.0],
        2.0: [20.0, 92.0],  # c ends at 1.5
    }
    for tau, values in expected.items():
        np.testing.assert_allclose(np.sort(x[t == tau]), values)
    rec = out.uns["trajectories_to_snapshots"]
    assert rec["method"] == "linear_interpolation"
    np.testing.assert_array_equal(rec["n_per_time"], [2, 3, 3, 3, 2])


def test_in_place_and_errors():
    adata = _paths()
    before = adata.copy()
    with pytest.raises(ValueError, match="outside the observed span"):
        trajectories_to_snapshots(adata, times=[1.0, 3.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        trajectories_to_snapshots(adata, times=[1.0, 0.5])
    np.testing.assert_array_equal(adata.X, before.X)
    assert "trajectory" in adata.obs
    no_traj = make_snapshots(np.zeros((3, 1)), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="trajectory"):
        trajectories_to_snapshots(no_traj)
    assert trajectories_to_snapshots(adata, times=[0.5, 1.0]) is None
    assert adata.n_obs == 6 and "trajectory" not in adata.obs


def test_missing_trajectory_labels_are_refused():
    import dynfer

    adata = _paths()
    adata.obs["trajectory"] = adata.obs["trajectory"].astype(object)
    adata.obs.loc[adata.obs_names[0], "trajectory"] = None
    with pytest.raises(dynfer.BadInputError, match=r"adata.obs\['trajectory'\]: 1 missing trajectory label"):
        trajectories_to_snapshots(adata, copy=True)  # was pandas' "Categorical categories cannot be null"
