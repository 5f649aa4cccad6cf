"""Property-based fuzzing of the foundation MJP model's public entry point: a valid answer or a BadInputError.

The strategies of :mod:`test_fuzz_mjp` (loaded by path: garbage labels, times, shapes, lengths and ``n_states``, and
well-formed paths at any time scale) feed :meth:`FoundationMJP.fit`, and random weights arguments its constructor.
For every call the fit returns a finite generator (non-negative off-diagonal rates, zero row sums), finite positive
log-rate standard deviations, link probabilities in [0, 1] and an initial law, or raises
:class:`dynfer.BadInputError`; it may warn (:class:`OutsidePriorWarning`) but never returns NaN or another
exception. The ``slow`` twins draw ten times as many examples.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynfer import BadInputError
from dynfer.estimators.mjp import FoundationMJP

_SHARED = Path(__file__).with_name("test_fuzz_mjp.py")
_spec = importlib.util.spec_from_file_location("_dynfer_fuzz_mjp_shared", _SHARED)
shared = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
if not hasattr(shared, "path_data"):
    _spec.loader.exec_module(shared)

FAST = {**shared.FAST, "max_examples": 40}
SLOW = {**FAST, "max_examples": 400}


def _property(states, times, lengths, n_states, weights="default") -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = FoundationMJP(weights=weights, n_states=n_states).fit(states, times, lengths)
    except BadInputError:
        return
    q, n = est.rate_matrix_, est.n_states_
    off = ~np.eye(n, dtype=bool)
    assert q.shape == (n, n) and np.isfinite(q).all() and (q[off] >= 0).all()
    np.testing.assert_allclose(q.sum(1), 0.0, atol=1e-9 * max(1.0, np.abs(q).max()))
    assert np.isfinite(est.log_rate_std_).all() and (est.log_rate_std_[off] > 0).all()
    assert ((est.link_probability_ >= 0) & (est.link_probability_ <= 1)).all()
    assert np.isfinite(est.initial_distribution_).all()
    np.testing.assert_allclose(est.initial_distribution_.sum(), 1.0, rtol=1e-6)
    assert np.isfinite(est.time_scale_) and est.time_scale_ > 0


def _weights_property(weights) -> None:
    try:
        FoundationMJP(weights=weights).fit(np.array([[0, 1, 0, 1]]), np.arange(4.0))
    except BadInputError:
        return
    assert weights == "default"


@given(shared.path_data())
@settings(**FAST)
def test_foundation_fit_fuzz(data):
    _property(*data)


@given(shared.valid_paths())
@settings(**FAST)
def test_foundation_fit_valid_fuzz(data):
    _property(*data)


@given(st.one_of(st.just("default"), st.text(max_size=8), st.integers(), st.none(), st.just(b"x")))
@settings(**FAST)
def test_foundation_weights_argument_fuzz(weights):
    _weights_property(weights)


@pytest.mark.slow
@given(shared.path_data())
@settings(**SLOW)
def test_foundation_fit_fuzz_slow(data):
    _property(*data)


@pytest.mark.slow
@given(shared.valid_paths())
@settings(**SLOW)
def test_foundation_fit_valid_fuzz_slow(data):
    _property(*data)
