"""Property-based fuzzing of the closed-form entropy benchmarks and of the NEEP / TUR trajectory baselines.

Every call either gives a correct result (the closed form, finite data of the documented shape, a finite rate with
a non-negative standard error) or raises :class:`dynfer.BadInputError`; never another exception.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynfer import BadInputError
from dynfer.datasets.entropy_benchmarks import (
    ENTROPY_BENCHMARKS,
    LinearEntropyBenchmark,
    aoup_trap,
    bead_spring,
    brownian_gyrator,
    entropy_benchmark,
    random_ou,
    rotational_ou,
)
from dynfer.evaluation.entropy_baselines import neep_rate, tur_rate

SPECIAL = [0.0, -1.0, float("nan"), float("inf"), -float("inf"), "x", None, True, 1e-300]
NUMBER = st.one_of(st.floats(-50.0, 50.0, allow_nan=False), st.floats(1e-3, 1e3), st.sampled_from(SPECIAL))
INTEGER = st.one_of(st.integers(-2, 7), st.sampled_from([1.5, "3", None, True]))


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-12)


def _rotational(mu, omega, temperature):
    b = rotational_ou(mu, omega, temperature)
    assert _close(b.entropy_production, 2 * float(omega) ** 2 / float(mu))


def _gyrator(k1, k2, u, t1, t2):
    b = brownian_gyrator(k1, k2, u, t1, t2)
    want = float(u) ** 2 * (float(t1) - float(t2)) ** 2 / (float(t1) * float(t2) * (float(k1) + float(k2)))
    assert _close(b.entropy_production, want) or abs(b.entropy_production - want) < 1e-8 * (1 + abs(want)) * 1e3


def _aoup(dim, kappa, v0, gamma, eps):
    b = aoup_trap(dim, kappa, v0, gamma, eps)
    d, k, v, g, e = dim, float(kappa), float(v0), float(gamma), float(eps)
    g_sector = b.sector_rate(list(range(d, 2 * d)))
    assert _close(g_sector, d * v * v * g * k / (e * (k + g) ** 2 + v * v * g)) or abs(
        g_sector - d * v * v * g * k / (e * (k + g) ** 2 + v * v * g)) < 1e-7 * d * (1 + k)
    if e == 0.0:
        assert b.entropy_production == math.inf
    else:
        want = d * v * v * g / (e * (k + g))
        assert abs(b.entropy_production - want) <= 1e-6 * max(want, 1.0)


def _bead(n, t_hot, t_cold, k, e):
    b = bead_spring(n, t_hot, t_cold, k, e)
    assert math.isfinite(b.entropy_production) and b.entropy_production >= -1e-9
    if n == 2 and t_cold is not None:
        th, tc = float(t_hot), float(t_cold)
        want = float(k) * (th - tc) ** 2 / (4 * float(e) * th * tc)
        assert abs(b.entropy_production - want) <= 1e-6 * max(want, 1e-3)


def _run_case(case):
    check, *args = case
    try:
        check(*args)
    except BadInputError:
        pass


CASES = st.one_of(
    st.tuples(st.just(_rotational), NUMBER, NUMBER, NUMBER),
    st.tuples(st.just(_gyrator), NUMBER, NUMBER, NUMBER, NUMBER, NUMBER),
    st.tuples(st.just(_aoup), st.integers(-1, 3), NUMBER, NUMBER, NUMBER, st.one_of(NUMBER, st.just(0.0))),
    st.tuples(st.just(_bead), INTEGER, NUMBER, st.one_of(NUMBER, st.none()), NUMBER, NUMBER),
)


@given(case=CASES)
@settings(derandomize=True, max_examples=120, deadline=None)
def test_constructors_give_the_closed_form_or_refuse(case):
    _run_case(case)


@given(case=CASES)
@settings(derandomize=True, max_examples=1500, deadline=None)
@pytest.mark.slow
def test_constructors_give_the_closed_form_or_refuse_slow(case):
    _run_case(case)


def _random_system(dim, seed, asymmetry, diagonal):
    b = random_ou(dim, seed, asymmetry=asymmetry, diagonal_noise=diagonal)
    a, d, s = b.A, b.D, b.covariance
    assert np.allclose(a @ s + s @ a.T, 2 * d, atol=1e-8 * (1 + np.abs(d).max()))
    assert _close(b.entropy_production, float(np.trace(np.linalg.solve(d, a @ s @ a.T)) - np.trace(a))) or abs(
        b.entropy_production - (np.trace(np.linalg.solve(d, a @ s @ a.T)) - np.trace(a))) < 1e-7


@given(dim=INTEGER, seed=st.one_of(st.integers(0, 100), st.sampled_from([-1, "a", None])),
       asymmetry=st.one_of(st.floats(0, 5), st.sampled_from([-1.0, float("nan"), "x"])), diagonal=st.booleans())
@settings(derandomize=True, max_examples=40, deadline=None)
def test_random_ou_satisfies_the_identities_or_refuses(dim, seed, asymmetry, diagonal):
    try:
        _random_system(dim, seed, asymmetry, diagonal)
    except BadInputError:
        pass


@given(a=st.lists(st.floats(-3, 3), min_size=4, max_size=4), d=st.lists(st.floats(-1, 2), min_size=4, max_size=4))
@settings(derandomize=True, max_examples=80, deadline=None)
def test_general_matrices_give_consistent_rates_or_refuse(a, d):
    try:
        b = LinearEntropyBenchmark("fuzz", np.reshape(a, (2, 2)), np.reshape(d, (2, 2)))
    except BadInputError:
        return
    sigma = b.entropy_production
    assert sigma == math.inf or (math.isfinite(sigma) and sigma >= -1e-8 * (1 + np.abs(b.A).max()))
    assert np.isfinite(b.score(np.ones((2, 2)))).all()


@given(name=st.sampled_from([*ENTROPY_BENCHMARKS, "nope", ""]), n=INTEGER, steps=INTEGER,
       dt=st.one_of(st.floats(1e-4, 2.0), st.sampled_from([0.0, -0.1, float("nan"), float("inf"), "x", 1e6])),
       seed=st.one_of(st.integers(0, 10), st.sampled_from([-1, "s"])))
@settings(derandomize=True, max_examples=60, deadline=None)
def test_samples_and_paths_have_the_documented_shape_or_refuse(name, n, steps, dt, seed):
    try:
        b = entropy_benchmark(name, n_beads=3) if name == "bead_spring" else entropy_benchmark(name)
        x = b.sample(n, seed=seed)
        assert x.shape == (n, b.dim) and np.isfinite(x).all()
        p = b.trajectories(n, steps, dt, seed=seed)
        assert p.shape == (steps + 1, n, b.dim) and np.isfinite(p).all()
    except BadInputError:
        pass


PATH_VALUES = st.sampled_from(["normal", "constant", "huge", "tiny", "nan"])


def _paths(kind: str, t: int, n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(size=(t, n, d)), axis=0) * 0.1
    return {"normal": x, "constant": np.ones_like(x), "huge": 1e200 * x, "tiny": 1e-200 * x,
            "nan": np.where(rng.random(x.shape) < 0.5, np.nan, x)}[kind]


GOOD_ARGS = {
    "kind": st.sampled_from(["normal", "normal", "constant", "huge", "tiny"]), "t": st.integers(6, 40),
    "n": st.integers(1, 4), "d": st.integers(1, 3), "seed": st.integers(0, 5), "dt": st.floats(1e-3, 1.0),
    "val_fraction": st.floats(0.05, 0.9), "method": st.sampled_from(["neep", "tur-linear", "tur-mlp"]),
}
BAD_ARG = st.sampled_from([("kind", "nan"), ("t", 1), ("dt", 0.0), ("dt", -1.0), ("dt", float("nan")),
                           ("dt", float("inf")), ("val_fraction", 0.0), ("val_fraction", 1.0), ("val_fraction", "x"),
                           ("lr", 0.0), ("lr", -1.0), ("seed", -1), ("n_steps", 0), ("batch_size", 1.5),
                           ("dtype", "int8"), ("hidden", "wide")])


def _estimate(kind="normal", t=20, n=2, d=2, seed=0, dt=0.1, val_fraction=0.2, method="neep", **kwargs):
    paths = _paths(kind, t, n, d, seed if isinstance(seed, int) and seed >= 0 else 0)
    common = {"val_fraction": val_fraction, "n_steps": 3, "batch_size": 16, "seed": seed, "hidden": (4,), **kwargs}
    if method == "neep":
        return neep_rate(paths, dt, **common)
    return tur_rate(paths, dt, basis=method.removeprefix("tur-"), **common)


def _good(**args):
    try:
        est = _estimate(**args)
    except BadInputError as err:  # only too few pairs may be refused
        assert "pairs" in str(err)
        return
    assert math.isfinite(est.rate) and math.isfinite(est.stderr) and est.stderr >= 0
    assert est.n_pairs >= 2 and est.seconds >= 0
    if args["method"] != "neep":
        assert est.rate >= 0 and math.isfinite(est.details["simple"])


@given(**GOOD_ARGS)
@settings(derandomize=True, max_examples=30, deadline=None)
def test_estimators_give_a_finite_rate(**args):
    _good(**args)


@given(**GOOD_ARGS)
@settings(derandomize=True, max_examples=300, deadline=None)
@pytest.mark.slow
def test_estimators_give_a_finite_rate_slow(**args):
    _good(**args)


def _bad(method, bad):
    name, value = bad
    with pytest.raises(BadInputError, match="paths" if name in ("kind", "t") else name):
        _estimate(method=method, **{name: value})


@given(method=st.sampled_from(["neep", "tur-linear", "tur-mlp"]), bad=BAD_ARG)
@settings(derandomize=True, max_examples=30, deadline=None)
def test_estimators_refuse_bad_arguments(method, bad):
    _bad(method, bad)


@given(method=st.sampled_from(["neep", "tur-linear", "tur-mlp"]), bad=BAD_ARG)
@settings(derandomize=True, max_examples=150, deadline=None)
@pytest.mark.slow
def test_estimators_refuse_bad_arguments_slow(method, bad):
    _bad(method, bad)
