"""Property-based fuzzing of the process backend: a finite result of the documented shape, or a clean BadInputError.

Strategies feed the public entry points of :mod:`dynfer.processes` arrays with NaN and infinities, wrong shapes,
wrong dtypes (int, float16, bool, object), empty arrays, negative and zero rates, non-monotone times and huge values,
drifts that return NaN, diverge or have the wrong shape, and out-of-range scalars. The property, for every call:

* it returns finite values (``-inf`` only where a log-likelihood documents it) of the documented shape, or
* it raises :class:`dynfer.BadInputError` whose message names one of the call's arguments;

never another exception, never NaN in a result, never a hang (every example runs under a deadline, and
``settings.max_work`` is lowered so that a refused workload is refused at once).

The default run draws a few hundred examples in total (seconds); the ``slow`` twins draw thousands
(``pytest -m slow tests/fuzz/test_fuzz_backend.py``).
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta

import hypothesis.extra.numpy as hnp
import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.processes import (
    SDE,
    OrnsteinUhlenbeck,
    OTConvergenceWarning,
    RateMatrix,
    SelfRepellentWalk,
    brownian_bridge,
    energy_distance,
    gillespie,
    jump_log_likelihood,
    mmd,
    ot_plan,
    stationary_distribution,
    wasserstein,
)

FAST = {"max_examples": 25, "derandomize": True, "database": None, "deadline": timedelta(seconds=10),
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
SLOW = {**FAST, "max_examples": 400}
MAX_WORK = 2e8  # a refused workload must be refused in milliseconds, not run: keep the bound low while fuzzing


@pytest.fixture(autouse=True)
def _bounded_work():
    with dynfer.settings.override(max_work=MAX_WORK), warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)
        yield


# ---------------------------------------------------------------------------------------------------- strategies
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, -1e-300, 1e300, -1e300, 1e12, -1e12, math.nan, math.inf, -math.inf]
FLOATS = st.one_of(st.floats(-10, 10, allow_nan=False, width=32), st.sampled_from(SPECIAL))
FINITE = st.floats(-3, 3, allow_nan=False, width=32)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def arrays(draw, shape=None, elements=FLOATS, dtypes=(np.float64, np.float32, np.float16, np.int64, np.bool_)):
    """A numpy array, torch tensor or list of any (or the given) shape and dtype; sometimes an object array."""
    shape = draw(SHAPES) if shape is None else shape
    if draw(st.integers(0, 15)) == 0:  # object arrays: numbers mixed with strings and None
        flat = draw(st.lists(st.sampled_from([1.0, "a", None, 2, [1]]), min_size=int(np.prod(shape)),
                             max_size=int(np.prod(shape))))
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    dtype = draw(st.sampled_from(dtypes))
    with np.errstate(all="ignore"):
        arr = np.asarray(draw(hnp.arrays(np.float64, shape, elements=elements))).astype(dtype)
    kind = draw(st.sampled_from(["numpy", "torch", "list"]))
    if kind == "torch":
        return torch.from_numpy(np.ascontiguousarray(arr))
    return arr.tolist() if kind == "list" else arr


def corrupt(draw, valid, bad):
    """The ``valid`` arguments with at most one of them (none a third of the time) drawn from its ``bad`` strategy.

    One fault at a time: with every argument possibly bad, nearly every call would be refused at the first check and
    the code behind it never reached.
    """
    target = draw(st.sampled_from([None] * max(1, len(bad) // 2) + sorted(bad)))
    out = dict(valid)
    if target is not None:
        out[target] = draw(bad[target])
    return out


def good_times(n, increasing=True):
    """Sorted finite times of length ``n`` (strictly increasing if ``increasing``)."""
    steps = st.lists(st.floats(0.01, 1.0) if increasing else st.floats(0.0, 1.0), min_size=n, max_size=n)
    return steps.map(lambda s: np.cumsum([0.0, *s[1:]]) if s else np.zeros(0))


BAD_TIMES = st.one_of(arrays(), st.just([0.0, 1.0, 0.5]), st.just([0.0, 1e300]), st.just([]),
                      st.just([[0.0, 1.0]]), st.just([0.0, math.nan]))
BAD_SEEDS = st.sampled_from([-1, 1.5, "a", True, [1]])


# ---------------------------------------------------------------------------------------------------- the property
def _finite(value, where="result", allow_neg_inf=False):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.is_floating_point():
            ok = torch.isfinite(value) | ((value == -math.inf) if allow_neg_inf else False)
            assert bool(ok.all()), f"{where} holds NaN or infinite values: {value}"
    elif isinstance(value, np.ndarray | np.floating | float):
        arr = np.asarray(value, dtype=np.float64)
        ok = np.isfinite(arr) | ((arr == -np.inf) if allow_neg_inf else False)
        assert ok.all(), f"{where} holds NaN or infinite values: {arr}"
    elif isinstance(value, tuple | list):
        for k, v in enumerate(value):
            _finite(v, f"{where}[{k}]", allow_neg_inf)


def outcome(call, names, allow_neg_inf=False):
    """Run ``call``: a finite result (returned) or a BadInputError naming one of ``names`` (``None`` returned)."""
    try:
        result = call()
    except BadInputError as err:
        event("refused")
        message = str(err)
        assert any(name in message for name in names), f"the message names none of {sorted(names)}: {message}"
        return None
    event("returned")
    _finite(result, allow_neg_inf=allow_neg_inf)
    return result


def _twins(strategy, prop):
    """A quick fuzz test of ``prop`` over ``strategy`` (the default run) and its ``slow`` twin with many examples."""

    def run(case):
        prop(case)

    return settings(**FAST)(given(strategy)(run)), pytest.mark.slow(settings(**SLOW)(given(strategy)(run)))


def _shape(result, expected):
    if result is not None:
        assert tuple(result.shape) == tuple(expected), f"shape {tuple(result.shape)}, documented {expected}"


def _len0(x):
    try:
        return len(x)
    except TypeError:
        return None


# ---------------------------------------------------------------------------------------------------- SDEs
GOOD_DRIFTS = {
    "linear": lambda t, x: -x,
    "time": lambda t, x: torch.sin(t) - x,
    "none": None,
}
BAD_DRIFTS = {
    "cubic": lambda t, x: x**3,  # diverges under explicit Euler from large states
    "exploding": lambda t, x: 1e3 * x,
    "nan_late": lambda t, x: x * torch.where(t > 0.4, torch.nan, 1.0),
    "inf": lambda t, x: x + torch.inf,
    "column": lambda t, x: -x[:, :1],  # (n, 1): would broadcast silently
    "vector": lambda t, x: -x.mean(0),  # (d,)
    "numpy": lambda t, x: (-x).numpy(),
    "integer": lambda t, x: torch.zeros(x.shape, dtype=torch.long),
    "wrong_dim": lambda t, x: x @ torch.ones(x.shape[1] + 1, x.shape[1] + 1, dtype=x.dtype),
}
GOOD_DIFFUSIONS = {
    "number": 0.5,
    "vector": lambda d: torch.full((d,), 0.7),
    "matrix": lambda d: torch.ones(d, d + 1) * 0.3 + torch.eye(d, d + 1),
    "callable": lambda t, x: 0.2 + x.abs(),
    "callable_scalar": lambda t, x: torch.full((x.shape[0], 1), 0.4),
    "callable_number": lambda t, x: 0.3,
    "constant_callable": lambda t, x: torch.tensor(0.3),
}
BAD_DIFFUSIONS = {
    "zero": 0.0,
    "nan": math.nan,
    "huge": 1e300,
    "vector_wrong": torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0]),
    "tensor3": torch.ones(2, 2, 2),
    "string": "0.5",
    "callable_bad_shape": lambda t, x: torch.ones(x.shape[1] + 1),
    "callable_nan": lambda t, x: torch.full_like(x, math.nan),
    "callable_sqrt": lambda t, x: torch.sqrt(x),  # NaN once a path goes negative
    "callable_complex": lambda t, x: torch.ones(x.shape, dtype=torch.complex64),
}


def _pick(table):
    return st.sampled_from(sorted(table)).map(table.__getitem__)


@st.composite
def sde_calls(draw):
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    diffusion = draw(_pick(GOOD_DIFFUSIONS))
    if callable(diffusion) and diffusion.__code__.co_argcount == 1:
        diffusion = diffusion(d)
    noise_type = "scalar" if diffusion is GOOD_DIFFUSIONS["callable_scalar"] else None
    valid = {
        "drift": draw(_pick(GOOD_DRIFTS)),
        "diffusion": diffusion,
        "noise_type": noise_type,
        "x0": draw(hnp.arrays(st.sampled_from([np.float32, np.float64]), (n, d), elements=FINITE)),
        "times": draw(st.integers(1, 5).flatmap(good_times)),
        "dt": draw(st.sampled_from([None, 0.1, 0.05])),
        "method": draw(st.sampled_from(["euler", "milstein"])),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "n_paths": None,
    }
    if draw(st.booleans()):  # one state, copied n_paths times
        valid["x0"], valid["n_paths"] = valid["x0"][0], n
    bad = {
        "drift": _pick(BAD_DRIFTS),
        "diffusion": _pick(BAD_DIFFUSIONS),
        "noise_type": st.sampled_from(["scalar", "diagonal", "full", "weird", 3]),
        "x0": st.one_of(arrays(), st.just(np.full((2, d), 1e30)), st.just(np.zeros((0, d))), st.just(np.zeros((n, 0)))),
        "times": BAD_TIMES,
        "dt": st.sampled_from([1e-9, 1e-300, 0.0, -0.1, math.nan, math.inf, "x", True]),
        "method": st.sampled_from(["rk4", "", None]),
        "seed": BAD_SEEDS,
        "n_paths": st.sampled_from([0, -1, 2.5, "3", True, 10**9, n + 1]),
    }
    return corrupt(draw, valid, bad)


SDE_NAMES = {"drift", "diffusion", "noise_type", "x0", "times", "dt", "method", "seed", "n_paths"}


def _sde_property(kw):
    sde = outcome(lambda: SDE(drift=kw["drift"], diffusion=kw["diffusion"], noise_type=kw["noise_type"]), SDE_NAMES)
    if sde is None:
        return
    args = {k: kw[k] for k in ("dt", "method", "seed", "n_paths")}
    paths = outcome(lambda: sde.simulate(kw["x0"], kw["times"], **args), SDE_NAMES)
    if paths is not None:
        x0 = np.asarray(kw["x0"])
        n = x0.shape[0] if x0.ndim == 2 else kw["n_paths"] or 1
        _shape(paths, (len(np.asarray(kw["times"]).reshape(-1)), n, x0.shape[-1]))
        if paths.shape[0] > 1:
            ll = outcome(lambda: sde.log_likelihood(paths, kw["times"]), SDE_NAMES | {"paths"})
            _shape(ll, (n,))


test_fuzz_sde_simulate, test_fuzz_sde_simulate_slow = _twins(
    sde_calls(), _sde_property)


SQUARE = st.integers(1, 3).flatmap(lambda d: st.tuples(
    hnp.arrays(np.float64, (d, d), elements=st.floats(-1, 1)).map(lambda m, d=d: m + (abs(m).sum() + 0.5) * np.eye(d)),
    hnp.arrays(np.float64, (d, d), elements=st.floats(-1, 1)).map(lambda m: m @ m.T),
    st.just(d)))
BAD_MATRICES = st.one_of(arrays(), st.just([[1.0, 2.0], [2.0, 1.0]]), st.just([[1.0, 0.5], [0.4, 1.0]]),
                         st.just(np.eye(0)), st.just(np.full((2, 2), 1e300)), st.just(-np.eye(2)))


@st.composite
def ou_calls(draw):
    A, D, d = draw(st.one_of(SQUARE, st.tuples(st.floats(0.1, 3), st.floats(0.01, 2), st.just(None))))
    if d is None:  # scalars: the dimension comes from dim
        d = draw(st.integers(1, 3))
        dim = d
    else:
        dim = draw(st.sampled_from([None, d]))
    valid = {"A": A, "D": D, "dim": dim, "x": draw(hnp.arrays(np.float64, (3, d), elements=FINITE)),
             "t": draw(st.sampled_from([0.0, 0.5, 1.0, 30.0, 1e3, 1e300])), "times": draw(st.integers(1, 4).flatmap(
                 good_times))}
    bad = {"A": BAD_MATRICES, "D": BAD_MATRICES, "dim": st.sampled_from([0, -1, 1.5, "2", d + 1]),
           "x": st.one_of(arrays(), st.just(np.zeros((3, d + 1)))),
           "t": st.sampled_from([-1.0, math.nan, math.inf, "t"]), "times": BAD_TIMES}
    return corrupt(draw, valid, bad)


OU_NAMES = {"A", "D", "dim", "x", "t", "x0", "times", "dt", "drift", "diffusion"}


def _ou_property(kw):
    ou = outcome(lambda: OrnsteinUhlenbeck(kw["A"], kw["D"], dim=kw["dim"]), OU_NAMES)
    if ou is None:
        return
    d = ou.dim
    cov = outcome(ou.stationary_covariance, OU_NAMES)
    _shape(cov, (d, d))
    moments = outcome(lambda: ou.transition(kw["x"], kw["t"]), OU_NAMES)
    if moments is not None:
        _shape(moments[0], np.shape(kw["x"]))
        _shape(moments[1], (d, d))
        assert float(torch.linalg.eigvalsh(moments[1].double()).min()) > -1e-6 * max(1.0, float(moments[1].abs().max()))
    paths = outcome(lambda: ou.simulate(kw["x"], kw["times"], dt=0.1, seed=0), OU_NAMES)
    if paths is not None:
        x = np.asarray(kw["x"])
        _shape(paths, (len(np.asarray(kw["times"]).reshape(-1)), x.shape[0] if x.ndim == 2 else 1, d))


test_fuzz_ornstein_uhlenbeck, test_fuzz_ornstein_uhlenbeck_slow = _twins(
    ou_calls(), _ou_property)


@st.composite
def bridge_calls(draw):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    ends = hnp.arrays(st.sampled_from([np.float32, np.float64]), (n, d), elements=FINITE)
    valid = {"x_start": draw(ends), "x_end": draw(ends), "times": draw(st.integers(2, 5).flatmap(good_times)),
             "sigma": draw(st.one_of(st.floats(0.01, 3), st.just(np.full(d, 0.5)))), "seed": draw(st.integers(0, 99))}
    bad_ends = st.one_of(arrays(), st.just(np.zeros((n + 1, d))), st.just(np.full((n, d), 1e300)))
    bad = {"x_start": bad_ends, "x_end": bad_ends, "times": st.one_of(BAD_TIMES, st.just([0.0])),
           "sigma": st.one_of(st.sampled_from([0.0, -1.0, math.nan, 1e300, "s", [1.0] * (d + 1)]), arrays()),
           "seed": BAD_SEEDS}
    return corrupt(draw, valid, bad)


def _bridge_property(kw):
    paths = outcome(lambda: brownian_bridge(kw["x_start"], kw["x_end"], kw["times"], sigma=kw["sigma"],
                                            seed=kw["seed"]), {"x_start", "x_end", "times", "sigma", "seed"})
    if paths is not None:
        _shape(paths, (len(np.asarray(kw["times"]).reshape(-1)), *np.shape(kw["x_start"])))


test_fuzz_brownian_bridge, test_fuzz_brownian_bridge_slow = _twins(
    bridge_calls(), _bridge_property)


# ---------------------------------------------------------------------------------------------------- jumps
def _generator(n, rates):
    q = np.asarray(rates, dtype=np.float64).reshape(n, n)
    np.fill_diagonal(q, 0.0)
    np.fill_diagonal(q, -q.sum(1))
    return q


RATES = st.sampled_from([0.0, 0.5, 1.0, 3.0, 1e-12])
BAD_RATES = st.sampled_from([1e12, 1e300, -1.0, math.nan])


@st.composite
def jump_calls(draw):
    n = draw(st.integers(1, 4))
    T = draw(st.integers(1, 5))
    valid = {
        "Q": _generator(n, draw(st.lists(RATES, min_size=n * n, max_size=n * n))),
        "n_paths": draw(st.integers(1, 4)),
        "times": draw(good_times(T, increasing=False)),
        "initial": draw(st.one_of(st.none(), st.integers(0, n - 1), st.just(np.full(n, 1.0 / n)))),
        "seed": draw(st.integers(0, 99)),
    }
    valid["paths"] = draw(hnp.arrays(np.int64, (valid["n_paths"], T), elements=st.integers(0, n - 1)))
    valid["lengths"] = draw(st.one_of(st.none(), hnp.arrays(np.int64, valid["n_paths"], elements=st.integers(0, T))))
    bad = {
        "Q": st.one_of(arrays(), st.lists(BAD_RATES, min_size=n * n, max_size=n * n).map(lambda r: _generator(n, r)),
                       st.just([[-1.0, 2.0], [1.0, -1.0]]), st.just([[1.0, -1.0], [1.0, -1.0]]),
                       st.just(np.zeros((0, 0))), st.just(np.zeros((2, 2, 2)))),
        "n_paths": st.sampled_from([0, -2, 2.5, True, "2"]),
        "times": BAD_TIMES,
        "initial": st.one_of(st.integers(-1, n + 1), st.just([0.5, 0.6]), st.just(np.full(n, 2.0)), arrays()),
        "seed": BAD_SEEDS,
        "paths": st.one_of(arrays(), hnp.arrays(np.int64, (2, T), elements=st.integers(-2, n + 1)),
                           st.just(np.zeros((2, 0), dtype=np.int64))),
        "lengths": st.one_of(st.just([1, 9]), arrays()),
    }
    return corrupt(draw, valid, bad)


JUMP_NAMES = {"Q", "rates", "rtol", "n_paths", "times", "initial", "seed", "paths", "lengths", "target"}


def _jump_property(kw):
    Q, times, initial, seed = kw["Q"], kw["times"], kw["initial"], kw["seed"]
    rm = outcome(lambda: RateMatrix(Q), JUMP_NAMES)
    if rm is not None:
        pi = outcome(rm.stationary_distribution, JUMP_NAMES)
        if pi is not None:
            _shape(pi, (rm.n_states,))
            assert abs(float(pi.sum()) - 1) < 1e-6 and bool((pi >= 0).all())
        states = outcome(lambda: rm.simulate(kw["n_paths"], times, initial=initial, seed=seed), JUMP_NAMES)
        if states is not None:
            _shape(states, (kw["n_paths"], len(np.asarray(times).reshape(-1))))
            assert bool(((states >= 0) & (states < rm.n_states)).all())
        for extra in ({}, {"condition_on_first": True, "per_path": True}):
            ll = outcome(lambda e=extra: rm.log_likelihood(kw["paths"], times, lengths=kw["lengths"], **e), JUMP_NAMES,
                         allow_neg_inf=True)
            if ll is not None and not extra:
                assert ll.ndim == 0 and float(ll) <= 1e-6 * max(1.0, abs(float(ll)))  # a log-probability
    states = outcome(lambda: gillespie(Q, times, initial if initial is not None else 0, n_paths=kw["n_paths"],
                                       seed=seed), JUMP_NAMES)
    if states is not None:
        _shape(states, (kw["n_paths"], len(np.asarray(times).reshape(-1))))
    ll = outcome(lambda: jump_log_likelihood(Q, kw["paths"], times, initial=initial if not isinstance(
        initial, int) else None, lengths=kw["lengths"], per_path=True), JUMP_NAMES, allow_neg_inf=True)
    if ll is not None:
        assert bool((ll <= 1e-9).all())


test_fuzz_jump_processes, test_fuzz_jump_processes_slow = _twins(
    jump_calls(), _jump_property)


# ---------------------------------------------------------------------------------------------------- walks
def _stochastic(rows):
    p = np.abs(np.asarray(rows, dtype=np.float64)) + 1e-3  # irreducible
    return p / p.sum(1, keepdims=True)


TRANSITIONS = st.one_of(
    st.integers(1, 4).flatmap(lambda n: hnp.arrays(np.float64, (n, n), elements=st.floats(0, 5)).map(_stochastic)),
    st.integers(1, 4).flatmap(lambda n: hnp.arrays(np.float64, (n, n), elements=st.floats(0, 5)).map(
        lambda m: _stochastic(m).astype(np.float32))),
    arrays(), st.just([[0.5, 0.9], [0.3, 0.1]]), st.just(np.eye(3)), st.just([[1.5, -0.5], [0.5, 0.5]]),
    st.just([[0.0, 1.0], [1.0, 0.0]]),  # periodic: still a unique stationary law
)


def _transition_property(matrix):
    forms = [matrix]
    if isinstance(matrix, np.ndarray) and matrix.dtype.kind == "f" and matrix.ndim == 2 and matrix.size:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's "sparse CSR is in beta"
            forms.append(torch.as_tensor(matrix).to_sparse_csr())
    for m in forms:
        pi = outcome(lambda m=m: stationary_distribution(m), {"matrix"})
        if pi is not None:
            _shape(pi, (np.shape(matrix)[0],))
            assert abs(float(pi.sum()) - 1) < 1e-5 and bool((pi >= 0).all())
            p64 = torch.as_tensor(np.asarray(matrix, dtype=np.float64))
            assert float((pi.double() @ p64 - pi.double()).abs().max()) < 1e-4  # stationary indeed


test_fuzz_walk_stationary_distribution, test_fuzz_walk_stationary_distribution_slow = _twins(
    TRANSITIONS, _transition_property)


GOOD_GRAPHS = {"path": nx.path_graph(4), "cycle": nx.cycle_graph(5), "star": nx.star_graph(4),
               "complete": nx.complete_graph(3), "karate": nx.karate_club_graph()}
BAD_GRAPHS = {"directed": nx.DiGraph([(0, 1), (1, 2)]), "disconnected": nx.disjoint_union(nx.path_graph(2),
              nx.path_graph(2)), "loop": nx.Graph([(0, 0), (0, 1)]), "empty": nx.Graph(), "matrix": np.eye(3)}


@st.composite
def walk_calls(draw):
    graph = draw(_pick(GOOD_GRAPHS))
    n = graph.number_of_nodes()
    valid = {
        "graph": graph, "alpha": draw(st.sampled_from([0.0, 1.0, 20.0, 1e3])),
        "base": draw(st.sampled_from(["mhrw", "srw"])), "target": None,
        "n_steps": draw(st.integers(0, 20)), "n_tokens": draw(st.integers(1, 4)),
        "start": draw(st.one_of(st.none(), st.integers(0, n - 1))), "step_exponent": draw(st.sampled_from([1.0, 0.75])),
        "seed": draw(st.integers(0, 99)), "record": draw(st.sampled_from([None, "trajectory", "tvd",
                                                                         ["trajectory", "tvd"]])),
        "x0": draw(st.one_of(st.none(), hnp.arrays(np.float64, n, elements=st.floats(0.01, 10)))),
    }
    if valid["base"] == "mhrw" and draw(st.booleans()):
        valid["target"] = draw(hnp.arrays(np.float64, n, elements=st.floats(0.01, 10)))
    bad = {
        "graph": _pick(BAD_GRAPHS), "alpha": st.sampled_from([1e300, -1.0, math.nan, math.inf, "a"]),
        "base": st.sampled_from(["lazy", None, np.eye(n), np.full((n, n), 1.0 / n)]),
        "target": st.one_of(arrays(), st.just(np.r_[0.0, np.ones(n - 1)]), st.just(np.full(n, math.nan))),
        "n_steps": st.sampled_from([-1, 2.5, 10**12, "5"]), "n_tokens": st.sampled_from([0, -1, 10**9, 1.5]),
        "start": st.one_of(st.sampled_from([-1, n, 1.5]), arrays()),
        "step_exponent": st.sampled_from([0.5, 2.0, math.nan, "b"]), "seed": BAD_SEEDS,
        "record": st.sampled_from(["all", ["x"], 3]),
        "x0": st.one_of(arrays(), st.just(np.r_[0.0, np.ones(n - 1)]), st.just(np.ones(n + 1))),
    }
    return corrupt(draw, valid, bad)


WALK_NAMES = {"graph", "alpha", "base", "target", "n_steps", "n_tokens", "start", "step_exponent", "seed", "record",
              "x0", "x"}


def _walk_property(kw):
    walk = outcome(lambda: SelfRepellentWalk(kw["graph"], kw["alpha"], base=kw["base"], target=kw["target"]),
                   WALK_NAMES)
    if walk is None:
        return
    run = {k: kw[k] for k in ("n_tokens", "start", "step_exponent", "seed", "record", "x0")}
    res = outcome(lambda: walk.run(kw["n_steps"], **run), WALK_NAMES)
    if res is not None:
        n, tokens = walk.n_nodes, kw["n_tokens"]
        _finite([res.x, res.tvd])
        _shape(res.x, (tokens, n))
        _shape(res.visit_counts, (tokens, n))
        assert bool((res.visit_counts.sum(1) == kw["n_steps"]).all())
        assert torch.allclose(res.x.sum(1).double(), torch.ones(tokens, dtype=torch.float64), atol=1e-4)


test_fuzz_self_repellent_walk, test_fuzz_self_repellent_walk_slow = _twins(
    walk_calls(), _walk_property)


# ---------------------------------------------------------------------------------------------------- transport
@st.composite
def transport_calls(draw):
    n, m, d = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    kind = draw(st.sampled_from(["numpy", "torch"]))
    cloud = lambda k: hnp.arrays(dtype, (k, d), elements=FINITE).map(  # noqa: E731
        lambda a: torch.from_numpy(a) if kind == "torch" else a)
    valid = {
        "x": draw(cloud(n)), "y": draw(cloud(m)), "a": None, "b": None,
        "method": draw(st.sampled_from(["exact", "sinkhorn", "sinkhorn_scaling", "unbalanced"])),
        "reg": draw(st.sampled_from([None, 1.0, 0.1])), "reg_m": draw(st.sampled_from([None, 1.0, math.inf])),
        "metric": draw(st.sampled_from(["sqeuclidean", "euclidean"])), "max_iter": draw(st.sampled_from([None, 50])),
        "tol": None, "p": draw(st.sampled_from([1, 2])), "kernel": draw(st.sampled_from(["gaussian", "laplacian"])),
        "bandwidth": draw(st.sampled_from([None, 1.0, [0.5, 2.0]])), "unbiased": False,
        "squared": draw(st.booleans()),
    }
    valid["scaling_options"] = None
    if valid["method"] == "sinkhorn_scaling":
        valid["scaling_options"] = draw(st.sampled_from([None, {"scaling": 0.25, "stage_iter": 10, "relaxation": 1.9},
                                                         {"relaxation": 1.0}, {"check_every": 3}]))
    if draw(st.booleans()):
        valid["a"] = draw(hnp.arrays(np.float64, n, elements=st.floats(0.1, 2)))
        valid["b"] = draw(hnp.arrays(np.float64, m, elements=st.floats(0.1, 2)))
    if n > 1 and m > 1 and valid["squared"]:
        valid["unbiased"] = draw(st.booleans())
    bad_cloud = st.one_of(arrays(), st.just(np.full((3, d), 1e200)), st.just(np.full((3, d), 1e-200)),
                          st.just(np.zeros((0, d))), st.just(np.zeros((3, d + 1))))
    bad = {
        "x": bad_cloud, "y": bad_cloud, "a": st.one_of(arrays(), st.just(np.zeros(n)), st.just(-np.ones(n))),
        "b": st.one_of(arrays(), st.just(np.ones(m + 1))), "method": st.sampled_from(["emd", "", None]),
        "reg": st.sampled_from([1e-300, 1e300, 0.0, -1.0, math.nan, "r"]), "reg_m": st.sampled_from([0.0, -1.0, "m"]),
        "metric": st.sampled_from(["cosine", None]), "max_iter": st.sampled_from([0, -1, 2.5, True]),
        "tol": st.sampled_from([0.0, -1.0, math.nan]), "p": st.sampled_from([3, 1.5, True, "2"]),
        "kernel": st.sampled_from(["cauchy", None]),
        "bandwidth": st.one_of(st.sampled_from([0.0, -1.0, [], math.nan, 1e-300, "h"]), arrays()),
        "unbiased": st.just(True), "squared": st.just(False),
        "scaling_options": st.sampled_from([{"relaxation": 2.0}, {"relaxation": 0.5}, {"stage_iter": -1},
                                            {"scaling": 1.5}, {"omega": 1.9}, "fast", [1.9]]),
        "cost": st.one_of(hnp.arrays(np.float64, (n, m), elements=st.floats(0, 10)), arrays(),
                          st.just(np.full((n, m), 1e300)), st.just(np.zeros((n + 1, m)))),
    }
    return corrupt(draw, {**valid, "cost": None}, bad)


OT_NAMES = {"x", "y", "a", "b", "method", "reg", "reg_m", "cost", "metric", "max_iter", "tol", "p", "kernel",
            "bandwidth", "unbiased", "squared", "scaling_options", "relaxation", "stage_iter", "scaling"}


def _transport_property(kw):
    x, y, a, b = kw["x"], kw["y"], kw["a"], kw["b"]
    plan_kw = {k: kw[k] for k in ("a", "b", "method", "reg", "reg_m", "cost", "metric", "max_iter", "tol",
                                  "scaling_options")}
    plan = outcome(lambda: ot_plan(x, y, **plan_kw), OT_NAMES)
    if plan is not None:
        assert np.ndim(plan) == 2 and bool((torch.as_tensor(plan) >= 0).all())
        if kw["cost"] is None:
            assert tuple(np.shape(plan)) == (_len0(x), _len0(y))
    for call in (
        lambda: wasserstein(x, y, kw["p"], a=a, b=b),
        lambda: energy_distance(x, y, a=a, b=b, squared=kw["squared"]),
        lambda: mmd(x, y, kernel=kw["kernel"], bandwidth=kw["bandwidth"], unbiased=kw["unbiased"],
                    squared=kw["squared"]),
    ):
        value = outcome(call, OT_NAMES)
        if value is not None:
            assert np.ndim(value) == 0


test_fuzz_transport, test_fuzz_transport_slow = _twins(
    transport_calls(), _transport_property)

