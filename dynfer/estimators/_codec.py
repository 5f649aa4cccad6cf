r"""Plain-data encodings of estimator parameters and states, safe for h5ad and for ``torch.load(weights_only=True)``.

Two encodings, one per kind of content:

* **parameters** (:func:`encode_params` / :func:`decode_params`): the constructor arguments, encoded *exactly* as
  one JSON string. Python scalars, strings, ``None``, lists, tuples, dicts with string keys, numpy and torch arrays,
  torch dtypes, the activation classes of :data:`dynfer.nn.ACTIVATIONS` and drifts
  (:class:`dynfer.processes.drifts.Drift`, by their ``config()``) round-trip unchanged (tuples stay tuples,
  ``None`` stays ``None``, arrays keep dtype and shape); anything else raises :class:`UnstorableParameterError`,
  naming the parameter. A string is what both h5ad and ``weights_only`` loading hold without loss, so no
  hand-kept list of options is needed.
* **states** (:func:`state_to_numpy` / :func:`state_to_torch`): nested dicts whose leaves are arrays, numbers,
  booleans or strings (the learned attributes), converted between numpy leaves (for ``AnnData.uns``) and torch
  leaves (for ``torch.save``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError

__all__ = [
    "UnstorableParameterError",
    "decode_params",
    "encode_params",
    "encode_storable_params",
    "state_to_numpy",
    "state_to_torch",
]

_TAG = "__dynfer__"


class UnstorableParameterError(BadInputError):
    """A parameter value that has no exact plain-data encoding (e.g. a user ``nn.Module`` or a lambda)."""


def _activation_name(value: type) -> str | None:
    from dynfer.nn import ACTIVATIONS

    for name, cls in ACTIVATIONS.items():
        if value is cls:
            return name
    return None


def _encode_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else {_TAG: "float", "value": repr(v)}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [_encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k == _TAG:
                raise UnstorableParameterError(f"{where}: dictionary keys must be strings (not {_TAG!r}), got {k!r}")
            out[k] = _encode_value(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, torch.dtype):
        return {_TAG: "torch.dtype", "name": str(value).removeprefix("torch.")}
    if isinstance(value, (np.ndarray, torch.Tensor)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "ndarray"
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        if arr.dtype.kind not in "biuf":
            raise UnstorableParameterError(f"{where}: arrays must be numeric, got dtype {arr.dtype}")
        return {_TAG: kind, "dtype": arr.dtype.str, "shape": list(arr.shape),
                "data": [_encode_value(v, where) for v in arr.reshape(-1).tolist()]}
    drift = _encode_drift(value, where)
    if drift is not None:
        return drift
    if isinstance(value, type) and issubclass(value, nn.Module):
        name = _activation_name(value)
        if name is not None:
            return {_TAG: "activation", "name": name}
    raise UnstorableParameterError(
        f"{where} = {value!r} ({type(value).__name__}) has no plain-data encoding; use a family name, numbers, "
        "strings, arrays, tuples, lists or dicts of them"
    )


def _encode_drift(value: Any, where: str) -> dict[str, Any] | None:
    from dynfer.processes.drifts import Drift

    if not isinstance(value, Drift):
        return None
    try:
        config = value.config()
    except NotImplementedError:
        raise UnstorableParameterError(f"{where} = {value!r} is a drift without a plain-data configuration (a user "
                                       "function); pass it again when loading") from None
    return {_TAG: "drift", "class": type(value).__name__, "config": _encode_value(config, f"{where}.config()")}


def _decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: _decode_value(v) for k, v in value.items()}
    if tag == "tuple":
        return tuple(_decode_value(v) for v in value["items"])
    if tag == "float":
        return float(value["value"])
    if tag == "torch.dtype":
        return getattr(torch, value["name"])
    if tag in ("ndarray", "tensor"):
        data = [_decode_value(v) for v in value["data"]]
        arr = np.asarray(data, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        return torch.as_tensor(arr) if tag == "tensor" else arr
    if tag == "drift":
        from dynfer.processes.drifts import get_drift_class

        return get_drift_class(value["class"]).from_config(_decode_value(value["config"]))
    if tag == "activation":
        from dynfer.nn import ACTIVATIONS

        return ACTIVATIONS[value["name"]]
    raise BadInputError(f"unknown encoded value of kind {tag!r}; was it written by a newer dynfer?")


def encode_params(params: Mapping[str, Any]) -> str:
    """Encode constructor parameters exactly as one JSON string.

    Parameters
    ----------
    params
        ``{name: value}`` as returned by :meth:`~dynfer.estimators.Estimator.get_params`.

    Returns
    -------
    str
        JSON text; :func:`decode_params` returns an equal dictionary.

    Raises
    ------
    UnstorableParameterError
        If a value has no exact encoding; the message names the parameter.
    """
    return json.dumps({str(k): _encode_value(v, f"parameter {k!r}") for k, v in params.items()}, sort_keys=True)


def encode_storable_params(params: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Encode what can be encoded; name the rest.

    Parameters
    ----------
    params
        ``{name: value}``.

    Returns
    -------
    tuple
        The JSON text of the encodable parameters (as :func:`encode_params`) and the names of those left out.
    """
    encoded, unstorable = {}, []
    for name, value in params.items():
        try:
            encoded[str(name)] = _encode_value(value, f"parameter {name!r}")
        except UnstorableParameterError:
            unstorable.append(str(name))
    return json.dumps(encoded, sort_keys=True), unstorable


def decode_params(text: str) -> dict[str, Any]:
    """Invert :func:`encode_params`.

    Parameters
    ----------
    text
        JSON text written by :func:`encode_params`.

    Returns
    -------
    dict
        The parameters, with tuples, ``None``, arrays and dtypes restored.
    """
    try:
        raw = json.loads(str(text))
    except json.JSONDecodeError as err:
        raise BadInputError(f"stored parameters are not valid JSON ({err}); the entry is damaged") from None
    if not isinstance(raw, dict):
        raise BadInputError(f"stored parameters must be a JSON object, got {type(raw).__name__}")
    return {k: _decode_value(v) for k, v in raw.items()}


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key or "/" in key:
        raise BadInputError(f"{where}: state keys must be non-empty strings without '/', got {key!r}")
    return key


def _map_state(state: Mapping[str, Any], leaf: Any, where: str) -> dict[str, Any]:
    """Apply ``leaf(value, where)`` to every leaf of a nested state, checking keys on the way."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        key = _check_key(key, where)
        here = f"{where}[{key!r}]"
        out[key] = _map_state(value, leaf, here) if isinstance(value, Mapping) else leaf(value, here)
    return out


def _bad_leaf(value: Any, where: str) -> ValueError:
    return ValueError(f"{where} is a {type(value).__name__}; state leaves must be arrays, numbers, booleans or strings")


def _numpy_leaf(value: Any, where: str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (bool, int, float, str, np.generic)):
        return value.item() if isinstance(value, np.generic) else value
    raise _bad_leaf(value, where)


def _torch_leaf(value: Any, where: str) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OUS":
            raise BadInputError(f"{where} is an array of strings; state arrays must be numeric")
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    raise _bad_leaf(value, where)


def state_to_numpy(state: Mapping[str, Any], where: str = "state") -> dict[str, Any]:
    """A state with every tensor leaf as a numpy array (what ``AnnData.uns`` and h5ad hold).

    Parameters
    ----------
    state
        Nested dict with array, number, boolean or string leaves.
    where
        Name used in error messages.

    Returns
    -------
    dict
        The same structure; tensors became numpy arrays, numpy scalars Python scalars.
    """
    return _map_state(state, _numpy_leaf, where)


def state_to_torch(state: Mapping[str, Any], where: str = "state") -> dict[str, Any]:
    """A state with every array leaf as a CPU tensor (what ``torch.load(weights_only=True)`` reads back).

    Parameters
    ----------
    state
        Nested dict with array, number, boolean or string leaves.
    where
        Name used in error messages.

    Returns
    -------
    dict
        The same structure; numpy arrays (and numpy scalars read from h5ad) became tensors or Python scalars.
    """
    return _map_state(state, _torch_leaf, where)
