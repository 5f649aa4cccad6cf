"""Exact plain-data encodings of parameters (JSON) and states (numpy / torch leaves)."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynfer.estimators._codec import (
    UnstorableParameterError,
    decode_params,
    encode_params,
    state_to_numpy,
    state_to_torch,
)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8),
                    st.floats(allow_nan=False))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.dictionaries(st.text(min_size=1, max_size=5).filter(lambda k: k != "__dynfer__"), inner, max_size=3)),
    max_leaves=10)


@given(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=4))
@settings(max_examples=150, deadline=None)
def test_params_round_trip_exactly(params):
    back = decode_params(encode_params(params))
    assert back == params
    assert json.loads(encode_params(params)) is not None  # a JSON string: h5ad and weights_only hold it


def test_arrays_dtypes_infinities_and_activations_round_trip():
    params = {"A": np.arange(6, dtype=np.float32).reshape(2, 3), "t": torch.tensor([1, 2]), "dtype": torch.float64,
              "inf": float("inf"), "act": torch.nn.Tanh, "hidden": (64, 64), "none": None}
    back = decode_params(encode_params(params))
    np.testing.assert_array_equal(back["A"], params["A"])
    assert back["A"].dtype == np.float32 and back["A"].shape == (2, 3)
    assert torch.equal(back["t"], params["t"]) and back["dtype"] is torch.float64
    assert back["inf"] == float("inf") and back["act"] is torch.nn.Tanh
    assert back["hidden"] == (64, 64) and back["none"] is None


def test_unstorable_values_name_the_parameter():
    with pytest.raises(UnstorableParameterError, match="'reference'"):
        encode_params({"reference": torch.nn.Linear(2, 2)})
    with pytest.raises(UnstorableParameterError, match="fn"):
        encode_params({"opts": {"fn": lambda x: x}})
    with pytest.raises(ValueError, match="not valid JSON"):
        decode_params("{broken")


def test_state_conversions_keep_structure_and_values():
    state = {"w": torch.ones(2, 3), "meta": {"n": 3, "name": "x", "ok": True}, "v": np.arange(3.0)}
    as_np = state_to_numpy(state)
    assert isinstance(as_np["w"], np.ndarray) and as_np["meta"] == {"n": 3, "name": "x", "ok": True}
    as_t = state_to_torch(as_np)
    assert torch.equal(as_t["w"], state["w"]) and torch.equal(as_t["v"], torch.arange(3.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="state leaves"):
        state_to_numpy({"bad": object()})
    with pytest.raises(ValueError, match="without '/'"):
        state_to_numpy({"a/b": 1})
