"""Property-based fuzzing of the active-particle backend (:mod:`dynfer.processes.particles`).

Strategies feed :class:`ActiveParticles` parameters (NaN, infinities, negative and zero rates, boxes too small for
the cutoff, unknown kinds, forces and force parameters, wrong types), drift and divergence inputs (wrong shapes and
dtypes, NaN, coincident particles, positions far outside the box, bad ``coords``), ``simulate`` and
``sample_stationary`` arguments (tiny or huge ``dt``, bad counts, seeds), and ``particle_states`` with damaged
AnnData. The property, for every call: a finite result of the documented shape, or a
:class:`dynfer.BadInputError` naming one of the call's arguments; never another exception, never NaN.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.processes import ActiveParticles, particle_states

FAST = {"max_examples": 30, "derandomize": True, "database": None, "deadline": timedelta(seconds=10),
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
SLOW = {**FAST, "max_examples": 400}

BAD = st.sampled_from([0.0, -0.0, 1e-9, 1e9, float("nan"), float("inf"), -1.0, "1", None, True, [1.0], 3, 2.5,
                       (), "box", (-5.0, 10.0), (float("nan"), 10.0), (1.0, 1.0), {"k": 1.0}, "lj"])


def _spoilt(valid: st.SearchStrategy, keys: list[str]) -> st.SearchStrategy:
    """Valid argument dicts; about a third of them with one argument replaced by a bad value."""
    return st.tuples(valid, st.sampled_from([None, None] + keys), BAD).map(
        lambda t: t[0] if t[1] is None else {**t[0], t[1]: t[2]})


VALID = st.fixed_dictionaries({
    "kind": st.sampled_from(["aoup", "abp", "ABP"]),
    "box": st.one_of(st.tuples(st.floats(0.5, 60), st.floats(0.5, 60)), st.tuples(st.floats(8, 60), st.floats(8, 60)),
                     st.none(), st.tuples(st.floats(0.5, 60)),
                     st.tuples(st.floats(0.5, 30), st.floats(0.5, 30), st.floats(0.5, 30))),
    "dim": st.sampled_from([None, None, None, None, 2]), "v0": st.floats(-3, 5), "gamma": st.floats(0.01, 5),
    "rotational_diffusion": st.floats(0.01, 5), "epsilon": st.floats(0, 5), "interaction_strength": st.floats(0, 5),
    "force": st.sampled_from(["softplus", "harmonic", "wca", "none"]),
    "force_params": st.one_of(st.none(), st.dictionaries(st.sampled_from(["radius", "beta", "tol", "epsilon", "sigma",
                                                                          "cutoff"]), st.floats(0.01, 3), max_size=2)),
    "trap": st.one_of(st.just(0.0), st.floats(0, 2)), "mobility": st.floats(0.01, 3)})
PARAMS = _spoilt(VALID, ["kind", "box", "dim", "v0", "gamma", "rotational_diffusion", "epsilon", "interaction_strength",
                  "force", "force_params", "trap", "mobility"])
ARGUMENT_NAMES = ("kind", "box", "dim", "v0", "gamma", "rotational_diffusion", "epsilon", "interaction_strength",
                  "force", "force_params", "trap", "mobility")


def _names(error: BadInputError, names) -> None:
    event(f"refused: {str(error).split(':')[0][:40]}")
    assert any(name in str(error) for name in names), f"names none of {names}: {error}"


def _build(params):
    try:
        return ActiveParticles(**params)
    except BadInputError as error:
        _names(error, ARGUMENT_NAMES)
        return None


@settings(**FAST)
@given(PARAMS)
def test_fuzz_construction(params):
    model = _build(params)
    if model is not None:
        event("returned")
        assert ActiveParticles.from_config(model.config()) == model
        assert model.diffusion().shape == (model.n_coords,)
        assert model.box is None or min(model.box) > 2 * model.pair_force.cutoff or not model.interacting


test_fuzz_construction_slow = pytest.mark.slow(settings(**SLOW)(given(PARAMS)(test_fuzz_construction.hypothesis
                                                                           .inner_test)))

STATES = st.tuples(st.integers(0, 3), st.integers(0, 12), st.one_of(st.none(), st.none(), st.integers(1, 7)),
                   st.sampled_from(["normal", "normal", "nan", "coincident", "far", "int", "list"]),
                   st.one_of(st.none(), st.lists(st.integers(-1, 7), max_size=4)), st.integers(0, 2**16))
MODELS = [ActiveParticles("aoup", box=(12.0, 14.0), v0=0.5, gamma=0.3, trap=0.1),
          ActiveParticles("abp", box=(9.0, 9.0), force="wca", epsilon=1.0),
          ActiveParticles("aoup", box=None, trap=0.05, force="harmonic", interaction_strength=2.5, epsilon=0.1),
          ActiveParticles("aoup", box=(10.0, 10.0, 10.0), force="harmonic")]


def _drift_case(case):
    index, (n, n_particles, c, kind, coords, seed) = case
    model = MODELS[index]
    c = model.n_coords if c is None else c
    gen = np.random.default_rng(seed)
    state = gen.normal(size=(n, n_particles, c)) * 3
    if kind == "nan" and state.size:
        state.flat[gen.integers(state.size)] = np.nan
    elif kind == "coincident":
        state[..., :] = 0.0
    elif kind == "far":
        state *= 1e6
    value = state.astype(np.int64) if kind == "int" else state.tolist() if kind == "list" else torch.tensor(state)
    try:
        b = model(value)
        div = model.divergence(value, coords)
    except BadInputError as error:
        _names(error, ("state", "coords"))
        return
    event("returned")
    assert b.shape == (n, n_particles, model.n_coords) and bool(torch.isfinite(b).all())
    assert div.shape == (n,) and bool(torch.isfinite(div).all())


DRIFT_CASES = st.tuples(st.integers(0, len(MODELS) - 1), STATES)


@settings(**FAST)
@given(DRIFT_CASES)
def test_fuzz_drift_and_divergence(case):
    _drift_case(case)


@pytest.mark.slow
@settings(**SLOW)
@given(DRIFT_CASES)
def test_fuzz_drift_and_divergence_slow(case):
    _drift_case(case)


SAMPLING = _spoilt(st.fixed_dictionaries({
    "model": st.integers(0, len(MODELS) - 1), "n_particles": st.integers(1, 20), "n_samples": st.integers(1, 4),
    "dt": st.sampled_from([1e-3, 0.01, 0.1, 3.0, 1e3, 1e-9]), "burn_in": st.sampled_from([0.0, 0.05, 0.3, None]),
    "thin": st.sampled_from([0.01, 0.2, 0.5, None]), "n_replicas": st.integers(1, 3),
    "seed": st.sampled_from([None, 0, 7])}), ["n_particles", "n_samples", "dt", "burn_in", "thin", "n_replicas",
                                               "seed"])


def _sampling_case(case):
    model = MODELS[case.pop("model")]
    try:
        with dynfer.settings.override(max_work=2e6):
            adata = model.sample_stationary(case.pop("n_particles"), case.pop("n_samples"), **case)
    except BadInputError as error:
        _names(error, ("n_particles", "n_samples", "dt", "burn_in", "thin", "n_replicas", "seed"))
        return
    event("returned")
    states = particle_states(adata, model)
    assert states.shape[0] == adata.n_obs and np.isfinite(states).all()
    assert math.isfinite(adata.uns["dynfer_source"]["dt"])


@settings(**FAST)
@given(SAMPLING)
def test_fuzz_sample_stationary(case):
    _sampling_case(dict(case))


@pytest.mark.slow
@settings(**SLOW)
@given(SAMPLING)
def test_fuzz_sample_stationary_slow(case):
    _sampling_case(dict(case))


DAMAGE = st.sampled_from(["none", "no_active", "no_positions", "short_active", "nan", "no_dim", "abp_model",
                          "box"])


@settings(**FAST)
@given(DAMAGE)
def test_fuzz_particle_states(damage):
    model = MODELS[0]
    adata = model.sample_stationary(6, 2, dt=0.01, burn_in=0.05, thin=0.02, seed=0)
    target = model
    if damage == "no_active":
        del adata.obsm["active"]
    elif damage == "no_positions":
        del adata.obsm["positions"]
    elif damage == "short_active":
        adata.obsm["active"] = adata.obsm["active"][:, :5]
    elif damage == "nan":
        adata.obsm["positions"][0, 0] = np.nan
    elif damage == "no_dim":
        del adata.uns["dim"]
    elif damage == "abp_model":
        target = ActiveParticles("abp", box=(12.0, 14.0))
    elif damage == "box":
        adata.uns["box"] = np.array([1.0, 2.0, 3.0])
    try:
        states = particle_states(adata, target)
    except BadInputError as error:
        _names(error, ("adata", "model"))
        return
    assert damage == "none" and states.shape == (2, 6, 4) and np.isfinite(states).all()
