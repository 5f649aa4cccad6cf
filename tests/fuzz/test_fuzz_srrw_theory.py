"""Property-based fuzzing of the SRRW theory and the linearised SA-SRRW prediction.

Strategies draw small connected graphs (paths, cycles, stars, complete graphs, random trees), node gradients of
any width (finite or holding NaN / inf, of the wrong length), Hessians (positive definite, indefinite, wrong shape),
alphas (inside and outside [0, 1e6]), step exponents inside and outside (0.5, 1] and step counts. The property: a
finite result of the right shape, or a :class:`dynfer.BadInputError`, never another exception and never NaN. The
default run draws a few dozen examples; the ``slow`` twin draws hundreds.
"""

from __future__ import annotations

from datetime import timedelta

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynfer import BadInputError
from dynfer.estimators.srrw.linearised import linearised_mse
from dynfer.estimators.srrw.theory import chain_spectrum, theta_asymptotic_covariance, theta_ratio
from dynfer.processes.walks import metropolis_hastings_matrix

FAST = {"max_examples": 25, "derandomize": True, "database": None, "deadline": timedelta(seconds=20),
        "suppress_health_check": [HealthCheck.too_slow]}
SLOW = {**FAST, "max_examples": 300}

GRAPHS = {"path": nx.path_graph, "cycle": nx.cycle_graph, "star": lambda n: nx.star_graph(n - 1),
          "complete": nx.complete_graph, "tree": lambda n: nx.random_labeled_tree(n, seed=n)}


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(sorted(GRAPHS)))
    n = draw(st.integers(3, 12))
    p = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 10**6)))
    h_rows = draw(st.sampled_from([n, n, n, n - 1]))
    h = rng.normal(size=(h_rows, p))
    if draw(st.booleans()) and draw(st.booleans()):
        h[0, 0] = draw(st.sampled_from([np.nan, np.inf]))
    hess_kind = draw(st.sampled_from(["pd", "pd", "pd", "indefinite", "shape"]))
    m = rng.normal(size=(p, p))
    hess = {"pd": m @ m.T + np.eye(p), "indefinite": m @ m.T - 5 * np.eye(p),
            "shape": np.eye(p + 1)}[hess_kind]
    alpha = draw(st.one_of(st.floats(0, 50), st.sampled_from([-1.0, 2e6, float("nan")])))
    a = draw(st.one_of(st.sampled_from([0.9, 0.8, 0.7, 1.0]), st.floats(0.3, 1.2)))
    b = draw(st.one_of(st.sampled_from([0.8, 1.0]), st.floats(0.3, 1.2)))
    steps = draw(st.integers(-1, 200))
    return GRAPHS[kind](n), h, hess, alpha, a, b, steps


def _check(graph, h, hess, alpha, a, b, steps):
    n = graph.number_of_nodes()
    spec = chain_spectrum(metropolis_hastings_matrix(graph, device="cpu", dtype=torch.float64), np.full(n, 1 / n))
    try:
        ratio = theta_ratio(spec, h, alpha)
        assert np.isfinite(ratio) and 0 <= ratio <= 1 + 1e-9
        if abs(a - 1.0) > 1e-12 and 0.5 < a <= 1 and 0.5 < b <= 1:
            v = theta_asymptotic_covariance(spec, h, hess, alpha, theta_exponent=a, measure_exponent=b)
            assert v.shape == (h.shape[1],) * 2 and np.all(np.isfinite(v))
        lp = linearised_mse(spec, h, hess, alpha, n_steps=steps, theta0_error=np.ones(h.shape[1]),
                            theta_exponent=a, measure_exponent=b, record_steps=[0, max(steps, 0)])
        assert lp.mse.shape == (2,) and np.all(np.isfinite(lp.mse)) and np.all(lp.mse >= 0)
    except BadInputError:
        pass


@settings(**FAST)
@given(cases())
def test_fuzz_theory_and_linearised(case):
    _check(*case)


@pytest.mark.slow
@settings(**SLOW)
@given(cases())
def test_fuzz_theory_and_linearised_slow(case):
    _check(*case)
