"""Property-based fuzzing of the particle networks: :func:`knn_minimum_image` and :class:`LocalTransformerScore`.

Hypothesis draws positions (random or its own values, damaged by NaN, inf, huge or integer entries), neighbour
counts, boxes (free space, a number, edge lengths, wrong shapes, zero, negative, NaN) and network arguments, good and
bad. The property: a :class:`dynfer.BadInputError`, or a correct result, never another exception. A correct neighbour
list has no self-pairs and no repeats, and its distances equal those of a float64 NumPy all-pairs computation (each
difference wrapped by rounding to the nearest multiple of the edge); a correct network output has the right shape, is
finite, and is zero at initialisation.

The default run draws a hundred examples per function (about a second); the ``slow`` twins draw a thousand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dynfer import BadInputError
from dynfer.nn import LocalTransformerScore, knn_minimum_image

QUICK = settings(max_examples=100, derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = settings(QUICK, max_examples=1000)

POSITION_FAULTS = {
    "nan": lambda x: np.where(np.arange(x.size).reshape(x.shape) == 0, math.nan, x),
    "inf": lambda x: np.where(np.arange(x.size).reshape(x.shape) == 0, -math.inf, x),
    "huge": lambda x: x * 1e307,
    "float32_overflow": lambda x: x * 1e39,
    "tiny": lambda x: x * 1e-300,
    "integers": lambda x: np.round(x * 3).astype(np.int64),
    "repeated": lambda x: np.zeros_like(x) + (x[..., :1, :] if x.shape[-2] else 0.0),
}


def mostly(good: list, bad: list) -> st.SearchStrategy:
    """One of ``good`` three times in four, else one of ``bad``."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))


BOXES = mostly([None, "right", "right", 3.0],
               ["wrong_shape", "zero", "negative", "nan", "inf", "text", "matrix", 0, -1.0, 0.5, 20.0])
NEIGHBOURS = mostly([1, 2, 3, 5], [-1, 0, 15, 2.5, True, "3", None])
CHUNKS = mostly([None, 1, 3], [0, 2.0, "4"])


@st.composite
def configurations(draw, width: int | None = None):
    """Positions ``(B, N, d)`` (``d = width`` when given) as a NumPy array, rarely of another rank or damaged."""
    batch = draw(mostly([1, 2, 3], [0]))
    n = draw(mostly([4, 7, 10, 14], [0, 1, 2]))
    dim = width if width is not None else draw(mostly([1, 2, 3], [0]))
    shape = (batch, n, dim)
    x = draw(st.one_of(
        st.integers(0, 2**16).map(lambda seed: np.random.default_rng(seed).uniform(-3, 6, size=shape)),
        hnp.arrays(np.float64, shape, elements=st.floats(-5, 5))))
    fault = draw(mostly([None], list(POSITION_FAULTS)))
    if fault is not None:
        with np.errstate(all="ignore"):
            x = POSITION_FAULTS[fault](x)
    if draw(mostly([False, False, False], [True])):
        x = x.sum(axis=0)  # one configuration without its batch axis
    return x


def _box(spec, dim: int):
    """The box a drawn specification stands for (``"right"``: random edge lengths of the right shape)."""
    if not isinstance(spec, str):
        return spec
    return {"right": np.linspace(1.0, 4.0, max(dim, 1))[:dim], "wrong_shape": np.ones(dim + 1),
            "zero": np.zeros(dim), "negative": -np.ones(dim), "nan": np.full(dim, math.nan),
            "inf": np.full(dim, math.inf), "text": "1.0", "matrix": np.ones((dim, dim))}[spec]


def _reference_distances(x: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    """All-pairs image distances in float64 NumPy, self-pairs at infinity."""
    diff = x[:, None, :, :] - x[:, :, None, :]
    if box is not None:
        diff = diff - box * np.round(diff / box)
    distance = np.sqrt((diff**2).sum(-1))
    distance[:, np.arange(x.shape[1]), np.arange(x.shape[1])] = np.inf
    return distance


def _check_knn(x, k, box_spec, dtype, chunk) -> None:
    box = _box(box_spec, x.shape[-1])
    positions = torch.as_tensor(x).to(dtype) if x.dtype.kind == "f" else torch.as_tensor(x)
    try:
        index, displacement = knn_minimum_image(positions, k, box, chunk_size=chunk)
    except BadInputError:
        event("knn: BadInputError")
        return
    event("knn: result")
    n_batch, n, dim = x.shape
    assert index.shape == (n_batch, n, k) and index.dtype == torch.long
    assert displacement.shape == (n_batch, n, k, dim) and bool(torch.isfinite(displacement).all())
    idx = index.numpy()
    assert ((idx >= 0) & (idx < n)).all() and not (idx == np.arange(n)[None, :, None]).any()
    assert all(len(set(row)) == k for row in idx.reshape(-1, k))
    edges = None if box is None else np.broadcast_to(np.asarray(box, dtype=np.float64), (dim,))
    reference = np.sort(_reference_distances(positions.double().numpy(), edges), axis=-1)[..., :k]
    found = torch.linalg.vector_norm(displacement.double(), dim=-1).numpy()
    scale = max(1.0, float(np.abs(positions.double().numpy()).max()), float(edges.max()) if box is not None else 1.0)
    tol = (1e-5 if positions.dtype == torch.float32 else 1e-11) * scale
    np.testing.assert_allclose(found, reference, rtol=0, atol=tol)


@given(x=configurations(), k=NEIGHBOURS, box=BOXES, dtype=st.sampled_from([torch.float32, torch.float64]),
       chunk=CHUNKS)
@QUICK
def test_knn_correct_or_bad_input(x, k, box, dtype, chunk):
    _check_knn(x, k, box, dtype, chunk)


@pytest.mark.slow
@given(x=configurations(), k=NEIGHBOURS, box=BOXES, dtype=st.sampled_from([torch.float32, torch.float64]),
       chunk=CHUNKS)
@LONG
def test_knn_correct_or_bad_input_long(x, k, box, dtype, chunk):
    _check_knn(x, k, box, dtype, chunk)


NETWORK_GOOD = {
    "dim": [1, 2, 3], "n_features": [0, 1, 2], "out_features": [1, 2], "angular": [(), ()], "k": [1, 3],
    "embed_dim": [4, 8], "n_heads": [1, 2], "n_blocks": [1, 2], "hidden_mult": [1, 2],
    "absolute_positions": [False, True],
}
NETWORK_BAD = {
    "dim": [0, -1, 2.0, True], "n_features": [-1, 1.5], "out_features": [0], "angular": [(5,), (0, 0), 0, "a", (0.5,)],
    "k": [0, 20], "embed_dim": [6, 0], "n_heads": [3, 0], "n_blocks": [0], "hidden_mult": [0, 1.5],
    "absolute_positions": [1, None],
}


@st.composite
def network_arguments(draw):
    """Good constructor arguments, one of them (one time in three) replaced by a bad value; angles when possible."""
    arguments = {name: draw(st.sampled_from(values)) for name, values in NETWORK_GOOD.items()}
    if arguments["n_features"] and draw(st.booleans()):
        arguments["angular"] = (arguments["n_features"] - 1,)
    bad = draw(mostly([None], list(NETWORK_BAD)))
    if bad is not None and draw(st.booleans()):
        arguments[bad] = draw(st.sampled_from(NETWORK_BAD[bad]))
    return arguments


def _check_network(arguments, x, box_spec, randomise) -> None:
    try:
        net = LocalTransformerScore(**arguments, dtype=torch.float64, device="cpu")
    except BadInputError:
        event("network: BadInputError when built")
        return
    if randomise:
        with torch.no_grad():
            net.readout.weight.normal_(generator=torch.Generator().manual_seed(0))
    box = _box(box_spec, net.dim)
    try:
        out = net(torch.as_tensor(x), box)
    except BadInputError:
        event("network: BadInputError when called")
        return
    event("network: result")
    assert out.shape == (*x.shape[:2], net.out_features) and out.dtype == torch.float64
    assert bool(torch.isfinite(out).all())
    if not randomise:
        assert torch.equal(out, torch.zeros_like(out))


@st.composite
def network_cases(draw):
    """Network arguments and a state whose width mostly fits them (``dim + n_features``)."""
    arguments = draw(network_arguments())
    dim, n_features = arguments["dim"], arguments["n_features"]
    fits = isinstance(dim, int) and isinstance(n_features, int) and dim + n_features >= 0
    width = dim + n_features if fits and draw(mostly([True], [False])) else draw(st.integers(0, 5))
    return arguments, draw(configurations(width))


@given(case=network_cases(), box=BOXES, randomise=st.booleans())
@QUICK
def test_network_correct_or_bad_input(case, box, randomise):
    _check_network(*case, box, randomise)


@pytest.mark.slow
@given(case=network_cases(), box=BOXES, randomise=st.booleans())
@LONG
def test_network_correct_or_bad_input_long(case, box, randomise):
    _check_network(*case, box, randomise)
