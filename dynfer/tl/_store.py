"""One AnnData store for every face: a fitted estimator in ``uns[key]``, loaded back without refitting.

:func:`store_estimator` writes, as plain data that h5ad holds::

    uns[key] = {
        "format": "dynfer.estimator", "format_version": 1,
        "estimator": "SchrodingerBridge",          # the class, found again through dynfer.estimators
        "dynfer_version": ..., "torch_version": ...,
        "params": "<JSON>",                          # every constructor parameter, exactly (no hand-kept list)
        "unstorable_params": [...],                  # only if some could not be encoded (e.g. a user nn.Module)
        "state": {...},                              # Estimator.state_dict(): arrays, numbers, strings
        "results": {...},                            # Estimator.results(): what users read (θ per round, ...)
        "inputs": {...},                             # fingerprint of what the fit read (below)
    }

The **fingerprint** names the representation (``"X"`` or an ``obsm`` key), the ``obs`` columns read, the training
mask rule (``train_key``/``train_value``) and holds the shape, the number of rows used and sha256 digests of the rows
used (values as float64), of the ``obs`` columns read and of the names of those rows. :func:`load_estimator`
recomputes it on the AnnData it is given and raises :class:`InputsChangedError` if anything differs (values
rescaled, cells added, removed or reordered, times edited), unless ``verify=False``.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from anndata import AnnData

from dynfer._errors import BadInputError
from dynfer.estimators._base import (
    FILE_FORMAT,
    FORMAT_VERSION,
    Estimator,
    get_estimator_class,
    package_version,
    warn_version,
)
from dynfer.estimators._codec import decode_params, encode_storable_params
from dynfer.tl._inputs import InputSpec, representation, training_mask

__all__ = ["InputsChangedError", "fingerprint", "load_estimator", "results_to_top_level", "store_estimator",
           "stored_entry"]

#: keys of a stored entry that results copied to its top level must never overwrite
ENTRY_KEYS = frozenset({"format", "format_version", "estimator", "dynfer_version", "torch_version", "params",
                        "state", "results", "inputs", "unstorable_params"})


class InputsChangedError(BadInputError):
    """The AnnData no longer holds the data a stored estimator was fitted on."""


def _sha256(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def fingerprint(adata: AnnData, spec: InputSpec) -> dict[str, Any]:
    """The fingerprint of what a fit reads from ``adata`` under ``spec`` (see the module docstring).

    Parameters
    ----------
    adata
        The data.
    spec
        Representation, ``obs`` columns and training-row rule.

    Returns
    -------
    dict
        Plain data: the spec plus ``n_obs``, ``n_rows``, ``n_features`` and three sha256 digests.
    """
    # use_rep "" marks a fit that reads only obs columns (e.g. discrete states): no representation to hash
    x = np.zeros((adata.n_obs, 0)) if spec.use_rep == "" else representation(adata, spec.use_rep)
    keep = training_mask(adata, spec.train_key, spec.train_value)
    missing = [k for k in spec.obs_keys if k not in adata.obs]
    if missing:
        raise BadInputError(f"adata.obs has no column(s) {missing}")
    obs = [adata.obs[k].astype(str).to_numpy()[keep].astype("U") for k in spec.obs_keys]
    names = np.asarray(adata.obs_names)[keep].astype("U")
    return {
        **spec.as_dict(),
        "n_obs": int(adata.n_obs),
        "n_rows": int(keep.sum()),
        "n_features": int(x.shape[1]),
        "rows_sha256": _sha256(x[keep]),
        "obs_sha256": _sha256(*obs),
        "obs_names_sha256": _sha256(names),
    }


def _encode_stored_params(estimator: Estimator, key: str) -> tuple[str, list[str]]:
    text, unstorable = encode_storable_params(estimator.stored_params())
    if unstorable:
        warnings.warn(
            f"the parameter(s) {unstorable} of this {type(estimator).__name__} cannot be stored in AnnData (h5ad); "
            f"the fitted state in uns[{key!r}] is complete, but rebuilding it needs them again: "
            f"dynfer.tl.load_estimator(adata, {key!r}, {unstorable[0]}=...)", UserWarning, stacklevel=3)
    return text, unstorable


def store_estimator(
    adata: AnnData,
    estimator: Estimator,
    *,
    key_added: str,
    use_rep: str | None = None,
    obs_keys: tuple[str, ...] = ("time",),
    train_key: str | None = None,
    train_value: str = "train",
    copy: bool = False,
) -> AnnData | None:
    """Write a fitted estimator to ``adata.uns[key_added]``, with a fingerprint of the data it was fitted on.

    The ``tl`` faces call this after their fit; call it yourself to put an estimator fitted on arrays into AnnData
    (then ``use_rep``, ``obs_keys`` and ``train_key`` must describe the rows you fitted on).

    Parameters
    ----------
    adata
        The data the estimator was fitted on.
    estimator
        A fitted dynfer estimator.
    key_added
        Key in ``uns``.
    use_rep
        Representation the fit read (``None``: ``X``; ``""``: none, the fit reads only the ``obs_keys`` columns).
    obs_keys
        ``obs`` columns the fit read.
    train_key, train_value
        Rows the fit read (``train_key=None``: all).
    copy
        Write into a copy and return it.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``.
    """
    if not isinstance(estimator, Estimator):
        raise BadInputError(f"estimator must be a dynfer estimator, got {type(estimator).__name__}")
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise BadInputError(f"key_added must be a non-empty string without '/', got {key_added!r}")
    spec = InputSpec(use_rep="X" if use_rep is None else use_rep, obs_keys=tuple(obs_keys), train_key=train_key,
                     train_value=train_value)
    params, unstorable = _encode_stored_params(estimator, key_added)
    entry: dict[str, Any] = {
        "format": FILE_FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "dynfer_version": package_version("dynfer"),
        "torch_version": str(torch.__version__),
        "params": params,
        "state": estimator.state_dict(),
        "results": estimator.results(),
        "inputs": fingerprint(adata, spec),
    }
    if unstorable:
        entry["unstorable_params"] = np.array(unstorable, dtype=str)
    out = adata.copy() if copy else adata
    out.uns[key_added] = entry
    return out if copy else None


def results_to_top_level(entry: dict[str, Any]) -> None:
    """Copy ``entry["results"]`` next to the stored estimator, for direct reading (the store's keys are kept)."""
    results = entry.get("results")
    if isinstance(results, Mapping):
        for name, value in results.items():
            if name not in ENTRY_KEYS:
                entry[name] = value


def stored_entry(adata: AnnData, key: str, *, face: str = "a dynfer tl function") -> Mapping[str, Any]:
    """The entry ``adata.uns[key]`` after checking it was written by :func:`store_estimator`.

    Parameters
    ----------
    adata
        The data.
    key
        The ``key_added`` of the fit.
    face
        The ``tl`` function that writes such entries, named in the error.

    Returns
    -------
    Mapping
        The entry.
    """
    if not isinstance(adata, AnnData):
        raise BadInputError(f"adata must be an AnnData, got {type(adata).__name__}")
    if key not in adata.uns:
        fitted = [k for k, v in adata.uns.items() if isinstance(v, Mapping) and v.get("format") == FILE_FORMAT]
        raise BadInputError(f"adata.uns has no fitted estimator under {key!r}; run {face} first"
                            + (f" (fitted estimators here: {fitted})" if fitted else ""))
    entry = adata.uns[key]
    needed = ("format", "estimator", "params", "state", "inputs")
    if not isinstance(entry, Mapping) or entry.get("format") != FILE_FORMAT or any(n not in entry for n in needed):
        have = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
        raise BadInputError(f"adata.uns[{key!r}] is not a fitted dynfer estimator (it needs {list(needed)}, "
                            f"has {have}); "
                            f"it may come from an older dynfer: refit with {face}")
    if int(entry.get("format_version", 0)) > FORMAT_VERSION:
        raise BadInputError(f"adata.uns[{key!r}] was written in store format {entry['format_version']}, "
                            f"newer than this "
                            "dynfer reads; upgrade dynfer")
    return entry


def _compare(stored: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    what = {
        "n_features": "number of features",
        "n_rows": "number of rows used by the fit",
        "obs_names_sha256": "names or order of the rows used (cells added, removed or reordered)",
        "rows_sha256": "values of the representation in the rows used (rescaled, recomputed or edited)",
        "obs_sha256": "values of the obs column(s) read",
    }
    diffs = []
    for field, label in what.items():
        a, b = stored.get(field), now.get(field)
        if a is not None and str(a) != str(b):
            diffs.append(f"{label}: {a} at the fit, {b} now" if field.startswith("n_") else label)
    return diffs


def check_inputs(adata: AnnData, entry: Mapping[str, Any], key: str) -> None:
    """Raise :class:`InputsChangedError` if ``adata`` no longer holds the data the stored fit read."""
    spec = InputSpec.from_dict(dict(entry["inputs"]))
    where = {"X": "X", "": f"obs{list(spec.obs_keys)}"}.get(spec.use_rep, f"obsm[{spec.use_rep!r}]")
    try:
        now = fingerprint(adata, spec)
    except ValueError as err:
        raise InputsChangedError(f"the data of the fit in uns[{key!r}] ({where}) cannot be read any more: {err}; "
                                 "pass verify=False to use the stored model anyway") from None
    diffs = _compare(entry["inputs"], now)
    if diffs:
        raise InputsChangedError(
            f"the data changed since the fit stored in uns[{key!r}] (read from {where}): " + "; ".join(diffs)
            + ". Refit, or pass verify=False to use the stored model with the data as it is now")


def load_estimator(adata: AnnData, key: str, *, verify: bool = True, **params: Any) -> Estimator:
    """The fitted estimator stored in ``adata.uns[key]`` by a ``tl`` face, rebuilt without refitting.

    Parameters
    ----------
    adata
        The AnnData the estimator was fitted on (also after an h5ad round trip).
    key
        The ``key_added`` of the fit.
    verify
        Check the fingerprint: raise :class:`InputsChangedError` if the representation, the rows used or the
        ``obs`` columns read changed since the fit.
    **params
        Parameters to set on the rebuilt estimator: ``device=``, or those that could not be stored (a user
        ``torch.nn.Module`` reference, say).

    Returns
    -------
    Estimator
        The fitted estimator (e.g. a :class:`~dynfer.estimators.bridges.SchrodingerBridge`).
    """
    entry = stored_entry(adata, key)
    if verify:
        check_inputs(adata, entry, key)
    cls = get_estimator_class(str(entry["estimator"]))
    stored = decode_params(entry["params"])
    missing = [str(n) for n in np.asarray(entry.get("unstorable_params", []), dtype=str).reshape(-1)
               if str(n) not in params]
    if missing:
        raise BadInputError(f"the {cls.__name__} in uns[{key!r}] was fitted with parameter(s) {missing} that AnnData "
                            f"cannot hold; pass them again: dynfer.tl.load_estimator(adata, {key!r}, "
                            f"{missing[0]}=...), then call the estimator's methods")
    warn_version(str(entry.get("dynfer_version")), f"uns[{key!r}]")
    return cls.from_state(stored, entry["state"], **params)
