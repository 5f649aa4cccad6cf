import anndata as ad
import numpy as np
import pandas as pd
import pytest

from dynfer.io import (
    make_particles,
    make_snapshots,
    make_states,
    validate_snapshots,
    validate_trajectories,
)


def test_make_snapshots_sorts_trajectories_by_time():
    x = np.arange(12.0).reshape(6, 2)
    a = make_snapshots(x, [1, 0, 1, 0, 2, 2], trajectory=["p", "p", "q", "q", "p", "q"])
    assert list(a.obs["trajectory"]) == ["p", "p", "p", "q", "q", "q"]
    assert list(a.obs["time"]) == [0, 1, 2, 0, 1, 2]
    np.testing.assert_array_equal(a.X[:, 0], [2, 0, 8, 6, 4, 10])


def test_make_states_keeps_states_with_their_rows():
    s = make_states(np.array([1, 2, 0, 1]), np.array([0.1, 0.0, 0.0, 0.1]), np.array(["a", "a", "b", "b"]))
    assert list(s.obs["state"]) == [2, 1, 0, 1]
    with pytest.raises(ValueError, match="integers"):
        make_states(np.array([0.5, 1.0]), np.array([0.0, 1.0]), np.array([0, 0]))


def test_snapshot_validation_errors():
    good = ad.AnnData(np.zeros((4, 2)), obs=pd.DataFrame({"day": [0, 0, 1, 1]}, index=list("abcd")))
    with pytest.raises(ValueError, match="no column 'time'"):
        validate_snapshots(good)
    validate_snapshots(good, "day")
    one = ad.AnnData(np.zeros((2, 1)), obs=pd.DataFrame({"time": [1.0, 1.0]}, index=["a", "b"]))
    with pytest.raises(ValueError, match="1 distinct time"):
        validate_snapshots(one)
    nan = ad.AnnData(np.zeros((2, 1)), obs=pd.DataFrame({"time": [1.0, np.nan]}, index=["a", "b"]))
    with pytest.raises(ValueError, match="NaN"):
        validate_snapshots(nan)
    text = ad.AnnData(np.zeros((2, 1)), obs=pd.DataFrame({"time": ["x", "y"]}, index=["a", "b"]))
    with pytest.raises(ValueError, match="numeric"):
        validate_snapshots(text)
    with pytest.raises(ValueError, match="NaN or infinite values"):
        validate_snapshots(ad.AnnData(np.array([[np.nan], [0.0]]),
                                      obs=pd.DataFrame({"time": [0.0, 1.0]}, index=["a", "b"])))


def test_trajectory_validation_errors():
    obs = pd.DataFrame({"time": [0.0, 1.0, 0.0, 2.0], "trajectory": ["a", "b", "a", "b"]}, index=list("wxyz"))
    with pytest.raises(ValueError, match="grouped"):
        validate_trajectories(ad.AnnData(np.zeros((4, 1)), obs=obs))
    obs = pd.DataFrame({"time": [1.0, 0.0], "trajectory": ["a", "a"]}, index=list("wx"))
    with pytest.raises(ValueError, match="strictly increasing"):
        validate_trajectories(ad.AnnData(np.zeros((2, 1)), obs=obs))


def test_make_particles_layout_and_errors():
    pos = np.random.default_rng(0).random((3, 5, 2))
    a = make_particles(pos, [0.0, 1.0, 2.0], np.array([[0.0, 1.0], [0.0, 1.0]]), orientations=np.ones((3, 5, 2)))
    assert a.obsm["positions"].shape == (3, 10) and a.uns["n_particles"] == 5 and a.uns["dim"] == 2
    np.testing.assert_array_equal(a.obsm["positions"].reshape(3, 5, 2), pos)
    with pytest.raises(ValueError, match="n_frames, n_particles, dim"):
        make_particles(np.zeros((3, 5)), [0, 1, 2], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="orientations"):
        make_particles(pos, [0, 1, 2], np.zeros((2, 2)), orientations=np.ones((3, 4, 2)))
    bad = pos.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make_particles(bad, [0, 1, 2], np.zeros((2, 2)))
