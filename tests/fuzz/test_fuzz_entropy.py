"""Property-based fuzzing of the entropy-production estimator, its AnnData face and its map: a valid result or a
BadInputError.

Strategies feed :class:`~dynfer.estimators.entropy.ScoreEntropyProduction`, :func:`dynfer.tl.entropy_production`
and :func:`dynfer.pl.entropy_map`

* diffusions of every kind: numbers (zero, negative, NaN, infinite, huge, tiny), vectors of the right and the wrong
  length, symmetric positive-definite, non-symmetric, singular without the block structure, block-degenerate
  (accepted), wrong shapes, strings, ``None``, booleans, tensors;
* drifts: matrices of the right and the wrong shape, with NaN, drift objects, callables returning the wrong shape,
  NaN, numpy arrays, other dtypes, or raising exceptions of several types;
* samples: Gaussian clouds with NaN, infinity, the wrong number of axes or coordinates, too few rows, huge, tiny or
  constant values, integers, strings;
* parameters: model, objective, noise, hidden widths, ``n_steps`` (0 included), ``val_fraction`` out of range,
  parity of the wrong length or values, batch, chunk, lr, seeds;
* particle data (a free AOUP system in a periodic box) with missing ``obsm`` keys, blocks of the wrong width,
  broken ``uns['n_particles']`` / ``uns['dim']``, NaN positions, and the map's ``basis``, ``components``, ``frames``,
  ``ax``, ``bins`` and ``cmap``.

The property, for every call: either a valid result (finite rates; standard errors ``>= 0``, the lower bound's
``nan`` only when fewer than two samples were held out; an FPE residual that is ``nan`` only with degenerate noise
or the equilibrium model; velocities and local productions of the documented shapes, finite, the local production
``>= 0``; for the face, ``uns[key]`` with the results and ``obsm`` blocks of the right shapes; for the map, two Axes
or the figure) or a :class:`dynfer.BadInputError`; never another exception, never a silent NaN rate. Networks stay
tiny (``n_steps <= 5``, ``hidden=(4,)``) so the default run takes seconds; the ``slow`` twins draw many more
examples (``pytest -m slow tests/fuzz/test_fuzz_entropy.py``).
"""

from __future__ import annotations

import functools
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import dynfer
from dynfer import BadInputError
from dynfer.estimators.entropy import ScoreEntropyProduction
from dynfer.processes.drifts import CallableDrift, LinearDrift
from dynfer.processes.particles import ActiveParticles

FAST = {"max_examples": 30, "derandomize": True, "database": None, "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
SLOW = {**FAST, "max_examples": 250}
TINY = {"n_steps": 3, "hidden": (4,), "k_neighbors": 2, "embed_dim": 4, "n_heads": 1, "n_blocks": 1, "seed": 0}
KEY = "entropy_production"


@pytest.fixture(autouse=True)
def _quiet():
    with dynfer.settings.override(progress=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    plt.close("all")


# ---------------------------------------------------------------------------------------------------- strategies
ROTATION = np.array([[1.3, -0.7], [0.7, 1.3]])


def _stable_matrix(d: int, seed: int) -> np.ndarray:
    """A random matrix with eigenvalues of positive real part (a stationary OU drift b = -Ax)."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(d, d))
    return m - m.T + (1.0 + abs(rng.normal())) * np.eye(d)


def _raiser(kind: type[BaseException]):
    def fn(x: torch.Tensor) -> torch.Tensor:
        raise kind("a user drift that fails")

    return fn


@st.composite
def drifts(draw, d: int, broken: bool):
    """A drift for states (n, d) (a matrix, a drift object, a callable), or a broken one."""
    A = _stable_matrix(d, draw(st.integers(0, 1000)))
    if not broken:
        kind = draw(st.sampled_from(["matrix", "object", "callable", "call_f64"]))
    else:
        kind = draw(st.sampled_from(["wrong_shape", "nan_matrix", "call_shape", "call_nan", "call_numpy", "call_int",
                                     "call_raise", "call_nograd", "garbage"]))
    if kind == "matrix":
        return A
    if kind == "object":
        return LinearDrift(A)
    if kind == "callable":
        At = torch.as_tensor(A)
        return lambda x: -x @ At.T.to(x.dtype)
    if kind == "call_f64":
        At = torch.as_tensor(A)  # a float64 constant with float32 states: the drift is cast to the states' dtype
        return lambda x: -x.double() @ At.T
    if kind == "wrong_shape":
        return draw(st.sampled_from([np.eye(d + 1), np.ones(d), np.ones((d, d + 1)), np.zeros((0, 0))]))
    if kind == "nan_matrix":
        out = A.copy()
        out[0, -1] = draw(st.sampled_from([math.nan, math.inf]))
        return out
    if kind == "call_shape":
        return CallableDrift(lambda x: x[:, :1] if x.shape[1] > 1 else torch.cat([x, x], 1))
    if kind == "call_nan":
        return lambda x: torch.where(x[:, :1] > 0.5, torch.nan, -x)
    if kind == "call_numpy":
        return lambda x: -x.detach().numpy()
    if kind == "call_int":
        return lambda x: (-x).long()  # cast like a float64 output: a valid (if crude) drift
    if kind == "call_raise":
        return _raiser(draw(st.sampled_from([KeyError, ZeroDivisionError, AttributeError, RuntimeError,
                                             NotImplementedError, ArithmeticError])))
    if kind == "call_nograd":
        return lambda x: -x.detach()  # no autograd divergence
    return draw(st.sampled_from(["abc", None, 3.0, object(), {"A": 1}]))


@st.composite
def diffusions(draw, d: int, broken: bool):
    """A diffusion for d coordinates: valid (number, vector, SPD, block-degenerate, tensor) or broken."""
    if not broken:
        kind = draw(st.sampled_from(["number", "number", "vector", "spd", "block", "tensor"]))
    else:
        kind = draw(st.sampled_from(["bad_number", "bad_vector", "non_symmetric", "singular", "wrong_shape",
                                     "garbage", "zero"]))
    if kind == "number":
        return draw(st.sampled_from([1.0, 0.5, 2, 1e-3, 1e3]))
    if kind == "vector":
        return draw(st.lists(st.sampled_from([0.3, 1.0, 2.0]), min_size=d, max_size=d))
    if kind == "spd":
        m = np.random.default_rng(draw(st.integers(0, 100))).normal(size=(d, d))
        return m @ m.T + 0.5 * np.eye(d)
    if kind == "block":  # zero rows and columns on some coordinates (at least one stays noisy): accepted
        diag = draw(st.lists(st.sampled_from([0.0, 1.0, 0.7]), min_size=d, max_size=d))
        diag[draw(st.integers(0, d - 1))] = 1.0
        return np.diag(diag)
    if kind == "tensor":
        return torch.eye(d) * 0.8
    if kind == "zero":
        return np.zeros((d, d))
    if kind == "bad_number":
        return draw(st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf, True]))
    if kind == "bad_vector":
        return draw(st.sampled_from([[-1.0] * d, [math.nan] * d, [1.0] * (d + 1), [1.0] * (d - 1) + [-0.5]]))
    if kind == "non_symmetric":
        m = np.eye(d) * 2.0
        m[0, -1] = 0.5 if d > 1 else -3.0  # d = 1: a negative diffusivity
        return m
    if kind == "singular":
        if d == 1:
            return np.array([[-1e-300]])
        m = np.ones((d, d))  # rank one: a zero eigenvalue that is not a set of coordinates
        if draw(st.booleans()):
            m = np.eye(d)
            m[0, 0], m[0, 1], m[1, 0] = 0.0, 0.5, 0.5  # zero diffusivity with cross terms
        return m
    if kind == "wrong_shape":
        return draw(st.sampled_from([np.ones((d, d, 1)), np.eye(d + 1), np.ones((1, d + 1))]))
    return draw(st.sampled_from(["x", None, [[1.0, "a"]], 1 + 1j, object()]))


@st.composite
def samples(draw, d: int, broken: bool):
    """Samples (n, d): a Gaussian cloud (also as ints, lists or tensors), or a broken one."""
    n = draw(st.sampled_from([20, 40, 60]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.normal(size=(n, d)) * draw(st.sampled_from([1.0, 0.3, 3.0]))
    if not broken:
        kind = draw(st.sampled_from(["plain", "plain", "plain", "int", "tensor", "list", "scaled"]))
    else:
        kind = draw(st.sampled_from(["nan", "inf", "ndim1", "ndim3", "wrong_d", "huge", "tiny", "constant",
                                     "strings", "few"]))
    if kind == "int":
        return np.round(3 * x).astype(np.int64)
    if kind == "tensor":
        return torch.as_tensor(x, dtype=draw(st.sampled_from([torch.float32, torch.float64])))
    if kind == "list":
        return x.tolist()
    if kind == "scaled":
        return x * draw(st.sampled_from([1e-3, 1e3]))
    if kind == "nan":
        x[draw(st.integers(0, n - 1)), 0] = math.nan
    elif kind == "inf":
        x[-1, -1] = -math.inf
    elif kind == "ndim1":
        return x[:, 0]
    elif kind == "ndim3":
        return x[None]
    elif kind == "wrong_d":
        return np.hstack([x, x])
    elif kind == "huge":
        return x * draw(st.sampled_from([1e6, 1e20, 1e36, 1e40]))
    elif kind == "tiny":
        return x * draw(st.sampled_from([1e-12, 1e-30, 1e-45]))
    elif kind == "constant":
        return np.ones_like(x)
    elif kind == "strings":
        return x.astype(str)
    elif kind == "few":
        return x[: draw(st.sampled_from([0, 1, 5, 19]))]
    return x


GOOD_PARAMS = {
    "model": ["auto", "mlp", "gaussian", "equilibrium"],
    "objective": ["auto", "dsm", "sliced"],
    "noise": [(0.3, 0.02), (0.1, 0.1)],
    "hidden": [(4,), (2, 3), ()],
    "n_steps": [1, 2, 5],
    "val_fraction": [0.2, 0.5, 0.05],
    "batch_size": [1, 8, 256],
    "chunk_size": [1, 7, 512],
    "lr": [2e-3, 0.1],
    "patience": [None, 1, 6],
    "shift": [True, False],
    "n_probes": [1, 4],
    "seed": [0, 7, None],
    "cross_fit": [False, True],
}
BAD_PARAMS = {
    "model": ["transformer", "MLP", None, 3],
    "objective": ["hyvarinen", None],
    "noise": [(0.02, 0.3), (0.0, 0.0), (-1.0, 0.1), (math.nan, 0.1), (0.3,), 0.3, "ab", None],
    "hidden": [4, (0,), (-1,), (2.5,), "ab", (True,), None],
    "n_steps": [0, -1, 2.5, "3", None],
    "val_fraction": [0.0, 0.6, 1.0, -0.1, math.nan, "x", None],
    "batch_size": [0, -3],
    "chunk_size": [0],
    "lr": [0.0, -1.0, math.nan, math.inf],
    "patience": [0, 1.5],
    "shift": ["yes", 1],
    "cross_fit": ["yes", 1, None],
    "n_probes": [0],
    "exact_max": [0, -1],
    "seed": [-1, "x"],
    "dtype": ["int8", "abc"],
    "device": ["tpu"],
}


@st.composite
def params(draw, broken: bool):
    """Estimator parameters: tiny valid ones, with one bad value when ``broken``."""
    chosen = {name: draw(st.sampled_from(values)) for name, values in GOOD_PARAMS.items() if draw(st.booleans())}
    if chosen.get("model") == "equilibrium":  # cross-fitting multiplies two fitted scores: none here
        chosen.pop("cross_fit", None)
    if broken:
        name = draw(st.sampled_from(sorted(BAD_PARAMS)))
        chosen[name] = draw(st.sampled_from(BAD_PARAMS[name]))
    return {**TINY, **chosen}


def parities(d: int, broken: bool):
    if not broken:
        return st.sampled_from([None, [1] * d, [1] * (d - 1) + [-1], [-1] * d, np.array([1.0] * d)])
    return st.sampled_from([[1] * (d + 1), [0] * d, "ab", [2] * d, [math.nan] * d, [1] * max(d - 1, 0)])


# ---------------------------------------------------------------------------------------------------- properties
def _noise_is_degenerate(est: ScoreEntropyProduction) -> bool:
    return est._spec.degenerate


def _check_fitted(est: ScoreEntropyProduction, x_shape: tuple[int, ...], particles: bool) -> None:
    """Everything a successful fit promises (see the module docstring)."""
    for name in ("rate_", "rate_lower_bound_"):
        assert math.isfinite(getattr(est, name)), (name, getattr(est, name))
    cross = bool(est.cross_fit)
    if not cross:  # a mean of quadratic forms in D_g^{-1} > 0 (a cross-fitted product can be negative)
        assert est.rate_ >= -1e-6 * (1 + abs(est.rate_)), est.rate_
    assert math.isfinite(est.rate_stderr_) and est.rate_stderr_ >= 0, est.rate_stderr_
    se_lb = est.rate_lower_bound_stderr_
    n_lb = est.diagnostics_["n_heldout"] or est.diagnostics_["n_samples"]
    assert (math.isfinite(se_lb) and se_lb >= 0) or (math.isnan(se_lb) and n_lb < 2), (se_lb, n_lb)
    assert set(est.baselines_) == {"score_free", "gaussian", "equilibrium"} | (set() if particles
                                                                              else {"gaussian_cross_fit"})
    for name, b in est.baselines_.items():
        assert math.isfinite(b["rate"]), (name, b)
        assert math.isfinite(b["stderr"]) and b["stderr"] >= 0, (name, b)
    fpe = est.diagnostics_["fpe_residual"]
    if _noise_is_degenerate(est) or est.model_kind_ == "equilibrium":
        assert math.isnan(fpe) or math.isfinite(fpe)
    else:
        assert math.isfinite(fpe) and fpe >= 0, fpe
    m = len(est._spec.noisy)
    assert est.per_coordinate_.shape == (m,) and np.isfinite(est.per_coordinate_).all()
    assert abs(est.per_coordinate_.sum() - est.rate_) <= 1e-4 * (abs(est.rate_) + 1e-6) + 1e-12
    n = x_shape[0]
    terms = est._last_terms
    assert terms.velocity.shape == x_shape and np.isfinite(terms.velocity).all()
    local_shape = (n, x_shape[1]) if particles else (n,)
    assert terms.local.shape == local_shape and np.isfinite(terms.local).all()
    if cross:
        assert abs(terms.local.mean() - est.rate_) <= 1e-9 * (1 + abs(est.rate_))
    else:
        assert (terms.local >= -1e-6 * (1 + np.abs(terms.local).max())).all()
    assert est.per_particle_.shape == ((x_shape[1],) if particles else (0,))


def _fit_property(drift, diffusion, x, params) -> None:
    try:
        est = ScoreEntropyProduction(drift, diffusion, **params).fit(x)
    except BadInputError as err:
        event(f"BadInputError: {str(err)[:30]}")
        return
    event("fitted")
    shape = tuple(np.shape(x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)))
    _check_fitted(est, shape, particles=False)
    # the fitted estimator answers on its own samples with the documented shapes
    v = est.velocity(x)
    assert v.shape == shape and np.isfinite(v).all()
    local = est.local_production(x)
    assert local.shape == (shape[0],) and np.isfinite(local).all()


AXES = ["none", "none", "drift", "diffusion", "samples", "params", "parity"]


@st.composite
def fit_cases(draw):
    """One input at a time is broken (or none), so that the checks deep in the fit are reached too."""
    d = draw(st.sampled_from([1, 2, 2, 3]))
    broken = draw(st.sampled_from(AXES))
    chosen = draw(params(broken == "params"))
    chosen["parity"] = draw(parities(d, broken == "parity"))
    return (draw(drifts(d, broken == "drift")), draw(diffusions(d, broken == "diffusion")),
            draw(samples(d, broken == "samples")), chosen)


@st.composite
def valid_fit_cases(draw):
    """Well-formed inputs (so that training and every estimate run): the fit must succeed."""
    d = draw(st.sampled_from([1, 2, 3]))
    A = _stable_matrix(d, draw(st.integers(0, 1000)))
    x = np.random.default_rng(draw(st.integers(0, 2**31))).normal(size=(draw(st.sampled_from([20, 40, 80])), d))
    chosen = draw(params(False))
    chosen["parity"] = draw(parities(d, False))
    return A, draw(diffusions(d, False)), x, chosen


@settings(**FAST)
@given(fit_cases())
def test_fit_fuzz(case):
    _fit_property(*case)


@settings(**FAST)
@given(valid_fit_cases())
def test_fit_valid_inputs_fuzz(case):
    A, D, x, params = case
    est = ScoreEntropyProduction(A, D, **params).fit(x)  # no error allowed on valid inputs
    _check_fitted(est, x.shape, particles=False)


@pytest.mark.slow
@settings(**SLOW)
@given(fit_cases())
def test_fit_fuzz_slow(case):
    _fit_property(*case)


@pytest.mark.slow
@settings(**SLOW)
@given(valid_fit_cases())
def test_fit_valid_inputs_fuzz_slow(case):
    A, D, x, params = case
    _check_fitted(ScoreEntropyProduction(A, D, **params).fit(x), x.shape, particles=False)


# ---------------------------------------------------------------------------------------------------- the face
N_PARTICLES, N_FRAMES = 6, 12


@functools.lru_cache(maxsize=1)
def _aoup() -> tuple[ActiveParticles, ad.AnnData]:
    """A free AOUP system in a periodic box (no pair forces), 12 stationary frames of 6 particles."""
    model = ActiveParticles("aoup", box=(10.0, 10.0), v0=1.0, gamma=1.0, epsilon=0.5, force="none",
                            interaction_strength=0.0)
    return model, model.sample_stationary(N_PARTICLES, N_FRAMES, dt=0.05, burn_in=2.0, thin=0.5, seed=0)


def _sample_adata(n: int, d: int, seed: int) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    adata = ad.AnnData(rng.normal(size=(n, d)))
    adata.obsm["X_pca"] = rng.normal(size=(n, 2))
    return adata


PARTICLE_CORRUPTIONS = ["no_active", "narrow_active", "narrow_positions", "n_wrong", "n_text", "n_zero",
                        "dim_wrong", "nan_positions", "huge_positions", "no_positions", "view"]


def _corrupt_particles(adata: ad.AnnData, kind: str, frames: int) -> ad.AnnData:
    if kind == "no_active":
        del adata.obsm["active"]
    elif kind == "narrow_active":
        adata.obsm["active"] = adata.obsm["active"][:, :-1]
    elif kind == "narrow_positions":
        adata.obsm["positions"] = adata.obsm["positions"][:, :-2]
    elif kind == "n_wrong":
        adata.uns["n_particles"] = N_PARTICLES + 1
    elif kind == "n_text":
        adata.uns["n_particles"] = "six"
    elif kind == "n_zero":
        adata.uns["n_particles"] = 0
    elif kind == "dim_wrong":
        adata.uns["dim"] = 3
    elif kind == "nan_positions":
        adata.obsm["positions"][0, 0] = math.nan
    elif kind == "huge_positions":
        adata.obsm["positions"] = adata.obsm["positions"] * 1e30
    elif kind == "no_positions":
        del adata.obsm["positions"]
    elif kind == "view":
        adata = adata[:frames]  # a view (made actual by the face); few frames may be too few samples
    return adata


@st.composite
def particle_cases(draw):
    """Particle AnnData and face arguments, one of them broken (or none)."""
    model, base = _aoup()
    broken = draw(st.sampled_from(["none", "none", "data", "drift", "kwargs"]))
    adata = base.copy()
    if broken == "data":
        adata = _corrupt_particles(adata, draw(st.sampled_from(PARTICLE_CORRUPTIONS)), draw(st.integers(1, 8)))
    drift = model
    if broken == "drift":
        drift = draw(st.sampled_from([np.eye(2), ActiveParticles("abp", box=(10.0, 10.0), force="none"),
                                      ActiveParticles("aoup", dim=1, box=(10.0,), force="none"), "x"]))
    kwargs = {**TINY, "model": draw(st.sampled_from(["gaussian", "gaussian", "auto", "equilibrium"]))}
    kwargs.update(draw(st.fixed_dictionaries({}, optional={
        "diffusion": st.sampled_from([None, 1.0, [0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]),
        "active_key": st.sampled_from([None, "active"]),
        "key_added": st.sampled_from(["ep", "entropy"]),
        "copy": st.booleans(),
        "parity": st.sampled_from([None, [1, 1, -1, -1]]),
    })))
    if broken == "kwargs":
        name, value = draw(st.sampled_from([
            ("diffusion", [1.0, 1.0]), ("diffusion", -1.0), ("active_key", "missing"), ("active_key", "orientations"),
            ("use_rep", "positions"), ("key_added", ""), ("key_added", "a/b"), ("key_added", 3), ("model", "mlp"),
            ("parity", [1, -1]), ("not_a_parameter", 1), ("k_neighbors", 0), ("n_steps", 0)]))
        kwargs[name] = value
    return adata, drift, kwargs


@st.composite
def sample_face_cases(draw):
    """Sample AnnData (X and an obsm embedding) and face arguments, one of them broken (or none)."""
    d = draw(st.sampled_from([1, 2, 3]))
    broken = draw(st.sampled_from(["none", "none", "data", "drift", "diffusion", "kwargs"]))
    adata = _sample_adata(40, d, draw(st.integers(0, 1000)))
    if broken == "data":
        kind = draw(st.sampled_from(["nan", "inf", "huge", "few", "no_X"]))
        if kind == "few":
            adata = adata[:19].copy()
        elif kind == "no_X":
            adata.X = None
        else:
            adata.X[0, 0] = {"nan": math.nan, "inf": math.inf, "huge": 1e40}[kind]
    kwargs = {**TINY, "model": draw(st.sampled_from(["gaussian", "mlp", "auto"]))}
    kwargs.update(draw(st.fixed_dictionaries({}, optional={
        "use_rep": st.sampled_from([None, "X"] + (["X_pca"] if d == 2 else [])),
        "copy": st.booleans(),
        "key_added": st.just("ep"),
    })))
    if broken == "kwargs":
        name, value = draw(st.sampled_from([("use_rep", "missing"), ("key_added", ""), ("model", "transformer"),
                                            ("active_key", "active"), ("frobnicate", 2)]))
        kwargs[name] = value
    drift = draw(drifts(d, broken == "drift"))
    diffusion = draw(diffusions(d, broken == "diffusion"))
    return adata, drift, diffusion, kwargs


def _face_property(adata, drift, kwargs, *, particles: bool) -> None:
    kwargs = dict(kwargs)
    copy = kwargs.get("copy", False)
    key = kwargs.get("key_added", KEY)
    try:
        out = dynfer.tl.entropy_production(adata, drift=drift, **kwargs)
    except BadInputError as err:
        event(f"BadInputError: {str(err)[:30]}")
        return
    event("fitted")
    target = out if copy else adata
    assert (out is None) != copy
    entry = target.uns[key]
    for name in ("rate", "rate_stderr", "rate_lower_bound", "baselines", "diagnostics", "per_coordinate"):
        assert name in entry, name
    assert math.isfinite(float(entry["rate"])) and float(entry["rate"]) >= 0
    assert math.isfinite(float(entry["rate_stderr"]))
    for b in entry["baselines"].values():
        assert math.isfinite(float(b["rate"]))
    velocity, local = target.obsm[f"{key}_velocity"], target.obsm[f"{key}_local"]
    if particles:
        n = int(target.uns["n_particles"])
        assert velocity.shape == (target.n_obs, n * 4) and local.shape == (target.n_obs, n)
    else:
        assert velocity.shape == target.X.shape if kwargs.get("use_rep") in (None, "X") else \
            velocity.shape == target.obsm[kwargs["use_rep"]].shape
        assert local.shape == (target.n_obs, 1)
    assert np.isfinite(velocity).all() and np.isfinite(local).all()
    # the fingerprint matches the data just fitted (a callable drift is not storable: it is passed again)
    again = {"drift": drift} if "unstorable_params" in entry else {}
    est = dynfer.tl.load_estimator(target, key, **again)
    assert est.rate_ == float(entry["rate"])


@settings(**FAST)
@given(particle_cases())
def test_face_particles_fuzz(case):
    adata, drift, kwargs = case
    _face_property(adata, drift, kwargs, particles=True)


@settings(**FAST)
@given(sample_face_cases())
def test_face_samples_fuzz(case):
    adata, drift, diffusion, kwargs = case
    _face_property(adata, drift, {**kwargs, "diffusion": diffusion}, particles=False)


@pytest.mark.slow
@settings(**SLOW)
@given(particle_cases())
def test_face_particles_fuzz_slow(case):
    adata, drift, kwargs = case
    _face_property(adata, drift, kwargs, particles=True)


@pytest.mark.slow
@settings(**SLOW)
@given(sample_face_cases())
def test_face_samples_fuzz_slow(case):
    adata, drift, diffusion, kwargs = case
    _face_property(adata, drift, {**kwargs, "diffusion": diffusion}, particles=False)


# ---------------------------------------------------------------------------------------------------- the map
@functools.lru_cache(maxsize=1)
def _fitted() -> dict[str, ad.AnnData]:
    """One fitted particle AnnData and one fitted sample AnnData (Gaussian scores: no training)."""
    model, base = _aoup()
    part = base.copy()
    with dynfer.settings.override(progress=False):
        dynfer.tl.entropy_production(part, drift=model, model="gaussian", seed=0)
        samp = _sample_adata(40, 3, 0)
        dynfer.tl.entropy_production(samp, drift=_stable_matrix(3, 0), diffusion=1.0, model="gaussian", seed=0)
    return {"particles": part, "samples": samp}


MAP_CORRUPTIONS = ["no_local", "nan_local", "narrow_local", "edit_data", "box_text", "no_box", "rate_text",
                   "view"]
GOOD_MAP = {"basis": [None], "components": [(1, 2), (2, 1)],
            "frames": [None, [0, 2], [-1], np.arange(N_FRAMES) % 2 == 0, np.int64(3)],
            "bins": [2, 8, 32], "cmap": ["magma", "viridis"], "return_fig": [True, False]}
BAD_MAP = {"key": ["missing", 3], "basis": ["missing", 3], "components": [(1, 3), (3, 3), (0, 1), (1,), (1, 2, 3),
                                                                          (1.5, 2), "ab", None, 2, (True, 2)],
           "frames": [[], [100], "x", np.arange(3) > 0, 1.5, [0.5], np.zeros(N_FRAMES, dtype=bool), [-100]],
           "bins": [1, 0, 2.5, "x", True, 10**6], "cmap": ["no_such_map", None]}


@st.composite
def map_cases(draw):
    """A fitted AnnData and entropy_map arguments, one of them broken (or none)."""
    which = draw(st.sampled_from(["particles", "samples"]))
    broken = draw(st.sampled_from(["none", "none", "data", "kwargs", "ax"]))
    adata = _fitted()[which].copy()
    local_key = f"{KEY}_local"
    corrupt = draw(st.sampled_from(MAP_CORRUPTIONS)) if broken == "data" else "none"
    if corrupt == "no_local":
        del adata.obsm[local_key]
    elif corrupt == "nan_local":
        adata.obsm[local_key][0, 0] = math.nan
    elif corrupt == "narrow_local":
        adata.obsm[local_key] = adata.obsm[local_key][:, :0]
    elif corrupt == "edit_data":
        if which == "particles":
            adata.obsm["positions"] = adata.obsm["positions"] + 0.1
        else:
            adata.X = adata.X * 2.0
    elif corrupt == "box_text":
        adata.uns["box"] = "ten"
    elif corrupt == "no_box":
        adata.uns.pop("box", None)
    elif corrupt == "rate_text":
        adata.uns[KEY]["rate"] = "fast"
    elif corrupt == "view":
        adata = adata[:3]
    kwargs = {name: draw(st.sampled_from(values)) for name, values in GOOD_MAP.items() if draw(st.booleans())}
    if which == "samples" and draw(st.booleans()):
        kwargs["basis"] = draw(st.sampled_from(["X_pca", "X"]))
    if broken == "kwargs":
        name = draw(st.sampled_from(sorted(BAD_MAP)))
        kwargs[name] = draw(st.sampled_from(BAD_MAP[name]))
    ax = draw(st.sampled_from(["one", "three", "text", "pair_text"])) if broken == "ax" else \
        draw(st.sampled_from(["none", "two"]))
    return adata, kwargs, ax


def _map_property(adata, kwargs, ax_kind) -> None:
    axes = None
    if ax_kind != "none":
        _, grid = plt.subplots(1, 3)
        axes = {"two": list(grid[:2]), "one": grid[0], "three": grid, "text": "ax",
                "pair_text": ["a", "b"]}[ax_kind]
    try:
        out = dynfer.pl.entropy_map(adata, ax=axes, show=False, **kwargs)
    except BadInputError as err:
        event(f"BadInputError: {str(err)[:30]}")
        return
    finally:
        plt.close("all")
    event("drawn")
    if kwargs.get("return_fig"):
        assert isinstance(out, Figure)
    else:
        assert isinstance(out, list) and len(out) == 2 and all(isinstance(a, Axes) for a in out)


@settings(**FAST)
@given(map_cases())
def test_entropy_map_fuzz(case):
    _map_property(*case)


@pytest.mark.slow
@settings(**SLOW)
@given(map_cases())
def test_entropy_map_fuzz_slow(case):
    _map_property(*case)
