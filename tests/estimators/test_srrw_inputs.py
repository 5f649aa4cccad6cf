"""SelfRepellentSGD and tl.srrw_optimize: bad input is a BadInputError naming the argument; face equals class."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from dynfer._errors import BadInputError
from dynfer.estimators._base import NotFittedError, UnknownParameterError
from dynfer.estimators.srrw.estimator import SelfRepellentSGD, record_steps
from dynfer.tl._srrw_optimize import srrw_optimize


def problem(n_rows=68, p=3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_rows, p))
    return nx.karate_club_graph(), x, x @ np.ones(p) + 0.1 * rng.normal(size=n_rows)


SMALL = {"n_steps": 50, "n_runs": 2, "seed": 0}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"theta_exponent": 0.5}, "theta_exponent"),
        ({"theta_exponent": 1.2}, "theta_exponent"),
        ({"measure_exponent": 0.3}, "measure_exponent"),
        ({"theta_scale": 0.0}, "theta_scale"),
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": 2.5}, "n_steps"),
        ({"n_runs": 0}, "n_runs"),
        ({"base": "lazy"}, "base"),
        ({"base": "nbrw", "alpha": 1.0}, "alpha"),
        ({"base": "iid", "alpha": 1.0}, "alpha"),
        ({"loss": "hinge"}, "loss"),
        ({"l2": -0.1}, "l2"),
        ({"record": 0}, "record"),
        ({"record": [0, 5]}, "record"),
        ({"theta0": np.zeros(4)}, "theta0"),
        ({"theta0": np.full(3, np.nan)}, "theta0"),
        ({"seed": "a"}, "seed"),
        ({"dtype": "int64"}, "dtype"),
        ({"target": np.ones(5)}, "target"),
        ({"weighting": "rows"}, "weighting"),
        ({"base": np.eye(3)}, "base"),
    ],
)
def test_bad_parameters_are_refused_by_fit(params, match):
    est = SelfRepellentSGD(**{**SMALL, **params})
    with pytest.raises(BadInputError, match=match):
        est.fit(*problem())


def test_bad_data_and_graphs():
    g, x, y = problem()
    est = SelfRepellentSGD(**SMALL)
    with pytest.raises(BadInputError, match="disconnected"):
        est.fit(nx.disjoint_union(g, nx.path_graph(3)), x, y)
    with pytest.raises(BadInputError, match="y"):
        est.fit(g, x, y[:-1])
    with pytest.raises(BadInputError, match="NaN"):
        est.fit(g, np.where(np.arange(68)[:, None] == 3, np.nan, x), y)
    with pytest.raises(BadInputError, match="NaN"):
        est.fit(g, x, np.r_[np.nan, y[1:]])
    with pytest.raises(BadInputError, match="without data"):
        est.fit(g, x[:30], y[:30])
    with pytest.raises(BadInputError, match="without data"):
        est.fit(g, x, y, node_of=np.zeros(68, int))
    with pytest.raises(BadInputError, match="directed"):
        est.fit(nx.DiGraph(g), x, y)
    with pytest.raises(BadInputError, match="symmetric"):
        est.fit(np.triu(nx.to_numpy_array(g)), x, y)
    with pytest.raises(BadInputError, match="graph"):
        est.fit("karate", x, y)
    with pytest.raises(BadInputError, match="singular"):
        est.fit(g, np.c_[x, x[:, :1]], y)


def test_diverging_step_sizes_are_reported():
    g, x, y = problem()
    with pytest.raises(BadInputError, match="theta_scale"):
        SelfRepellentSGD(theta_scale=1e6, theta_exponent=1.0, n_steps=200, n_runs=2, seed=0).fit(g, 100 * x, y)


def test_record_steps():
    np.testing.assert_array_equal(record_steps([5, 3, 3], 10), [3, 5, 10])
    steps = record_steps(20, 1000)
    assert steps[0] == 1 and steps[-1] == 1000 and np.all(np.diff(steps) > 0)
    np.testing.assert_array_equal(record_steps(1, 7), [1, 7])


def test_not_fitted():
    with pytest.raises(NotFittedError, match="srrw_optimize"):
        SelfRepellentSGD().results()


def test_face_equals_the_class_and_names_itself():
    g, x, y = problem()
    out = srrw_optimize(g, x, y, alpha=5.0, n_steps=100, n_runs=3, seed=1, dtype=torch.float64)
    est = SelfRepellentSGD(5.0, n_steps=100, n_runs=3, seed=1, dtype=torch.float64).fit(g, x, y)
    np.testing.assert_array_equal(out["theta"], est.theta_)
    np.testing.assert_array_equal(out["mse"], est.mse_)
    np.testing.assert_array_equal(out["theta_star"], est.theta_star_)
    assert out["settings"]["alpha"] == 5.0 and out["settings"]["n_runs"] == 3
    assert set(out) >= {"theta", "steps", "mse", "theta_star", "settings"}
    with pytest.raises(UnknownParameterError, match=r"dynfer\.tl\.srrw_optimize.*'l22'"):
        srrw_optimize(g, x, y, l22=1.0)
    with pytest.raises(BadInputError, match="alpha"):
        srrw_optimize(g, x, y, alpha=-2.0, n_steps=10, n_runs=1)
