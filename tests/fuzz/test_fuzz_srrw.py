"""Property-based fuzzing of ShardedObjective, SelfRepellentSGD.fit and tl.srrw_optimize.

Strategies draw small graphs (paths, cycles, stars, complete, disconnected, directed), data of every shape
(mismatched rows, NaN, infinities, too few rows for the nodes), shardings, losses (least squares, logistic with
0/1, -1/1 or bad labels), targets, weightings, step exponents inside and outside (0.5, 1], scales, alphas and bases.
The property, for every call: a finite result of the right shape, or a :class:`dynfer.BadInputError` — never
another exception, never NaN. The default run draws a few dozen examples; the ``slow`` twins draw hundreds
(``pytest -m slow tests/fuzz/test_fuzz_srrw.py``).
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.estimators.srrw.estimator import SelfRepellentSGD
from dynfer.estimators.srrw.objectives import ShardedObjective
from dynfer.tl._srrw_optimize import srrw_optimize

FAST = {"max_examples": 25, "derandomize": True, "database": None, "deadline": timedelta(seconds=20),
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
SLOW = {**FAST, "max_examples": 300}


@pytest.fixture(autouse=True)
def _bounded_work():
    with dynfer.settings.override(max_work=2e8), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


GRAPHS = {
    "path": lambda: nx.path_graph(5),
    "cycle": lambda: nx.cycle_graph(6),
    "star": lambda: nx.star_graph(4),
    "complete": lambda: nx.complete_graph(4),
    "karate": nx.karate_club_graph,
    "disconnected": lambda: nx.disjoint_union(nx.path_graph(3), nx.path_graph(2)),
    "directed": lambda: nx.DiGraph(nx.path_graph(4)),
    "single_edge": lambda: nx.path_graph(2),
}


def pick(draw, good, bad, valid):
    """A good value, or (when not ``valid``) sometimes a bad one."""
    return draw(st.sampled_from(good if valid else good + bad))


@st.composite
def problems(draw):
    valid = draw(st.booleans())  # half the examples are valid problems: the property is then about the result
    name = pick(draw, ["path", "cycle", "star", "complete", "karate", "single_edge"], ["disconnected", "directed"],
                valid)
    g = GRAPHS[name]()
    n = g.number_of_nodes()
    p = draw(st.integers(1, 4))
    rows = draw(st.integers(n + p + 1, 3 * n + 6)) if valid else draw(st.integers(0, 3 * n + 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.normal(size=(rows, p)) * draw(st.sampled_from([1.0, 1e-3, 10.0]))
    special = pick(draw, ["none"], ["nan", "inf", "y_short", "x_1d"], valid)
    loss = pick(draw, ["least_squares", "logistic"], ["hinge"], valid)
    if loss == "logistic":
        y = pick(draw, ["01", "pm1"], ["bad"], valid)
        y = {"01": (rng.random(rows) < 0.5).astype(float), "pm1": np.sign(rng.normal(size=rows)),
             "bad": rng.normal(size=rows)}[y]
    else:
        y = rng.normal(size=rows)
    if special == "nan" and rows:
        x[0, 0] = np.nan
    elif special == "inf" and rows:
        y[-1] = np.inf
    elif special == "y_short":
        y = y[:-1] if rows else np.zeros(1)
    elif special == "x_1d":
        x = x[:, 0]
    node_of = pick(draw, [None, "cycled"], ["random", "labels_bad"], valid)
    if node_of == "cycled":
        node_of = np.arange(rows) % n
    elif node_of == "random":
        node_of = rng.integers(0, n, size=rows)
    elif node_of == "labels_bad":
        node_of = np.full(rows, n + 5)
    target = pick(draw, [None, "positive"], ["zero", "short"], valid)
    target = {None: None, "positive": rng.random(n) + 0.1, "zero": np.zeros(n), "short": np.ones(max(n - 1, 1))}[
        target]
    return g, x, y, node_of, loss, target


@st.composite
def parameters(draw):
    valid = draw(st.booleans())
    base = pick(draw, ["mhrw", "srw", "nbrw", "iid"], ["bogus"], valid)
    alphas = [0.0] if base in ("nbrw", "iid") and valid else [0.0, 0.5, 5.0, 20.0]
    return {
        "alpha": pick(draw, alphas, [-1.0, float("nan")], valid),
        "base": base,
        "l2": pick(draw, [0.1, 1.0], [-1.0], valid),
        "weighting": pick(draw, ["node", "row"], ["both"], valid),
        "theta_exponent": pick(draw, [0.9, 1.0, 0.51], [0.5, 1.5], valid),
        "measure_exponent": pick(draw, [0.8, 1.0, 0.6], [0.2], valid),
        "theta_scale": pick(draw, [0.1, 0.02], [0.0, -1.0], valid),
        "n_steps": pick(draw, [1, 5, 40], [0, -3], valid),
        "n_runs": pick(draw, [1, 3], [0], valid),
        "record": pick(draw, [50, 3, 1, [1, 2]], [0], valid),
    }


def _check_objective(g, x, y, node_of, loss, target, weighting, l2):
    n = g.number_of_nodes()
    try:
        obj = ShardedObjective(x, y, graph_nodes=n, node_of=node_of, loss=loss, l2=l2, target=target,
                               weighting=weighting)
        star = obj.theta_star()
    except BadInputError:
        return
    assert star.shape == (obj.n_features,) and np.all(np.isfinite(star))
    h = obj.node_gradients(star)
    assert h.shape == (n, obj.n_features) and np.all(np.isfinite(h))
    assert np.all(np.isfinite(obj.hessian(star)))
    assert np.isclose(obj.weights.sum(), 1.0)


def _check_fit(g, x, y, node_of, loss, target, params):
    try:
        est = SelfRepellentSGD(loss=loss, target=target, seed=0, **params).fit(g, x, y, node_of=node_of)
    except BadInputError:
        return
    r, p = est.theta_.shape
    assert r == params["n_runs"] and est.theta_star_.shape == (p,)
    assert np.all(np.isfinite(est.theta_)) and np.all(np.isfinite(est.mse_)) and np.all(np.isfinite(est.tvd_))
    assert est.steps_[-1] == params["n_steps"] and est.mse_.shape == est.steps_.shape
    assert est.covariance_.shape == (p, p) and np.all(np.isfinite(est.covariance_))
    np.testing.assert_allclose(est.x_.sum(1), 1.0, rtol=1e-5)


@settings(**FAST)
@given(problems(), st.sampled_from(["node", "row", "both"]), st.sampled_from([0.0, 0.5, -1.0]))
def test_objective_fast(problem, weighting, l2):
    _check_objective(*problem, weighting, l2)


@pytest.mark.slow
@settings(**SLOW)
@given(problems(), st.sampled_from(["node", "row", "both"]), st.sampled_from([0.0, 0.5, -1.0]))
def test_objective_slow(problem, weighting, l2):
    _check_objective(*problem, weighting, l2)


@settings(**FAST)
@given(problems(), parameters())
def test_fit_fast(problem, params):
    _check_fit(*problem, params)


@pytest.mark.slow
@settings(**SLOW)
@given(problems(), parameters())
def test_fit_slow(problem, params):
    _check_fit(*problem, params)


def _check_face(g, x, y, node_of, loss, target, params):
    alpha = params.pop("alpha")
    base = params.pop("base")
    n_steps, n_runs = params.pop("n_steps"), params.pop("n_runs")
    try:
        out = srrw_optimize(g, x, y, node_of=node_of, loss=loss, alpha=alpha, base=base, n_steps=n_steps,
                            n_runs=n_runs, seed=1, target=target, **params)
    except BadInputError:
        return
    assert out["theta"].shape == (n_runs, out["theta_star"].shape[0])
    assert np.all(np.isfinite(out["theta"])) and np.all(np.isfinite(out["mse"]))
    assert out["steps"][-1] == n_steps


@settings(**FAST)
@given(problems(), parameters())
def test_face_fast(problem, params):
    _check_face(*problem, params)


@pytest.mark.slow
@settings(**SLOW)
@given(problems(), parameters())
def test_face_slow(problem, params):
    _check_face(*problem, params)
