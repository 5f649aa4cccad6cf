"""``tl.schrodinger_bridge`` and ``tl.interpolate``: the AnnData face of the Schrödinger-bridge estimator."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from torch import nn

from dynfer import _keys as K
from dynfer.estimators.bridges.estimator import SchrodingerBridge
from dynfer.estimators.bridges.reference_nets import NET_FAMILIES
from dynfer.estimators.bridges.references import FAMILIES, ReferenceDrift, make_reference
from dynfer.io._model import validate_snapshots
from dynfer.nn import ACTIVATIONS

__all__ = ["interpolate", "schrodinger_bridge"]

DEFAULT_KEY = "schrodinger_bridge"

_PLACEMENT = ("dtype", "device")
"""Constructor options that only place parameters; not saved (the estimator casts to ``settings`` anyway)."""

_INT_SEQUENCES = ("hidden",)
"""Options that the constructors expect as a tuple of ints (saved as integer arrays)."""


class _Unsaved(Exception):
    """A value that an h5ad file cannot hold."""


def _encode(value: Any) -> Any:
    """``value`` in a form that ``write_h5ad`` accepts and ``read_h5ad`` returns unchanged (up to numpy types).

    Scalars and strings stay, sequences become numpy arrays, tensors numpy arrays, mappings nested dicts, an activation
    class of :data:`dynfer.nn.ACTIVATIONS` its name. Raises :class:`_Unsaved` for anything else (``None`` included).
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, torch.Tensor):
        try:
            value = value.detach().cpu().numpy()
        except TypeError:  # a dtype numpy lacks (bfloat16, ...)
            raise _Unsaved from None
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged
            raise _Unsaved from None
        if arr.dtype.kind in "biuf" or (arr.dtype.kind == "U" and arr.ndim > 0):
            return arr
        raise _Unsaved
    if isinstance(value, type) and issubclass(value, nn.Module):
        for name, cls in ACTIVATIONS.items():
            if value is cls:
                return name
    raise _Unsaved


def _encode_options(options: Mapping[str, Any], what: str, consequence: str) -> tuple[dict[str, Any], list[str]]:
    """Encode constructor ``options`` for ``uns``; returns the storable ones and the names of those left out.

    ``None`` values (the constructors' defaults) and ``dtype``/``device`` are skipped silently; any other option that
    cannot be stored is reported in a :class:`UserWarning` ending with ``consequence``.
    """
    saved, unsaved = {}, []
    for name, value in options.items():
        if name in _PLACEMENT or value is None:
            continue
        try:
            saved[str(name)] = _encode(value)
        except _Unsaved:
            unsaved.append(str(name))
    if unsaved:
        warnings.warn(f"{what} {unsaved} cannot be stored in AnnData (h5ad); {consequence}", UserWarning,
                      stacklevel=3)
    return saved, unsaved


def _decode_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Invert :func:`_encode_options` on an entry read from ``uns`` (numpy scalars to Python, ``hidden`` to ints)."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name in _INT_SEQUENCES:
            out[name] = tuple(int(h) for h in np.asarray(value).reshape(-1))
        elif isinstance(value, np.generic):
            out[name] = value.item()
        elif isinstance(value, np.ndarray) and value.dtype.kind in "OU":
            out[name] = [str(v) for v in value.reshape(-1)]
        else:
            out[name] = value
    return out


def _reference_from_uns(res: Mapping[str, Any], dim: int, key: str = DEFAULT_KEY) -> ReferenceDrift:
    """Rebuild the fitted reference drift saved by :func:`schrodinger_bridge` (family, options, state).

    Parameters
    ----------
    res
        The entry ``uns[key]``.
    dim
        State dimension.
    key
        Name of the entry, for error messages.

    Returns
    -------
    ReferenceDrift
        The reference with the fitted parameters loaded.
    """
    prm = res["params"]
    family = str(res["family"])
    custom_msg = (f"the bridge in uns[{key!r}] used a custom reference ({family!r}) that cannot be rebuilt from "
                  "AnnData; use dynfer.estimators.bridges.SchrodingerBridge directly")
    if family not in FAMILIES and family not in NET_FAMILIES:
        raise ValueError(custom_msg)
    by_name = str(prm.get("reference", family)).strip().lower() == family
    if family in NET_FAMILIES and not by_name:
        # a network passed as a module instance: its size and activation were not recorded
        raise ValueError(custom_msg + f" (or pass reference={family!r} with reference_kwargs to the fit)")
    unsaved = prm.get("reference_kwargs_unsaved", ())
    if len(unsaved):
        raise ValueError(f"the reference options {[str(u) for u in unsaved]} of the bridge in uns[{key!r}] could not "
                         "be stored in AnnData, so the fitted reference cannot be rebuilt; use "
                         "dynfer.estimators.bridges.SchrodingerBridge directly")
    options = _decode_options(prm.get("reference_kwargs", {})) if by_name else {}
    ref = make_reference(family, dim, **options)
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in res["reference_state"].items()}
    try:
        ref.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"the saved state of the {family!r} reference in uns[{key!r}] does not fit the reference "
                         f"rebuilt with options {options}: {err}") from None
    return ref


def _snapshots(
    adata: AnnData, time_key: str, use_rep: str | None, train_key: str | None, train_value: str
) -> tuple[list[np.ndarray], np.ndarray]:
    validate_snapshots(adata, time_key, min_times=1)
    if use_rep is None:
        x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    elif use_rep in adata.obsm:
        x = np.asarray(adata.obsm[use_rep])
    else:
        raise ValueError(f"use_rep={use_rep!r} is not in adata.obsm (keys: {list(adata.obsm.keys())})")
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"the representation ({use_rep or 'X'}) must be a non-empty 2-D array, got {x.shape}")
    keep = np.ones(adata.n_obs, dtype=bool)
    if train_key is not None:
        if train_key not in adata.obs:
            raise ValueError(f"train_key={train_key!r} is not a column of adata.obs")
        keep = adata.obs[train_key].astype(str).to_numpy() == train_value
    t = adata.obs[time_key].to_numpy(dtype=np.float64)
    times = np.unique(t[keep])
    return [np.asarray(x[keep & (t == tt)], dtype=np.float64) for tt in times], times


def schrodinger_bridge(
    adata: AnnData,
    *,
    time_key: str = K.TIME,
    reference: str | torch.nn.Module = "brownian",
    use_rep: str | None = None,
    sigma: float | None = None,
    n_iter: int = 10,
    train_key: str | None = None,
    train_value: str = "train",
    key_added: str = DEFAULT_KEY,
    copy: bool = False,
    **kwargs: Any,
) -> AnnData | None:
    r"""Population dynamics from snapshots: a multi-marginal Schrödinger bridge with a refined reference SDE.

    Fits :class:`~dynfer.estimators.bridges.SchrodingerBridge` (Shen, Berlinghieri & Broderick, AISTATS 2025) to the
    cells of each distinct time in ``obs[time_key]``: alternately the bridge under the reference
    :math:`dX = f_\theta(X)\,dt + \sigma\,dW` and the refit of :math:`\theta` by the Euler pseudo-likelihood of the
    bridge paths. ``reference="brownian"`` with one round is vanilla SB.

    Parameters
    ----------
    adata
        Snapshot data: states in ``X`` (or ``obsm[use_rep]``), times in ``obs[time_key]`` (>= 3 distinct).
    time_key
        Column of ``obs`` with the observation time.
    reference
        Reference family (see :data:`dynfer.estimators.bridges.references.FAMILIES`) or a ``torch.nn.Module``.
    use_rep
        Key of ``obsm`` to use instead of ``X`` (e.g. ``"X_pca"``).
    sigma
        Reference noise. ``None`` starts from 0.1 times the mean per-feature standard deviation and refits it
        by maximum likelihood at every round.
    n_iter
        Maximum number of refinement rounds.
    train_key, train_value
        Fit only rows with ``obs[train_key] == train_value`` (e.g. after :func:`dynfer.pp.split_timepoints`).
    key_added
        Results go to ``uns[key_added]``.
    copy
        Return a modified copy instead of writing into ``adata``.
    **kwargs
        Passed to :class:`~dynfer.estimators.bridges.SchrodingerBridge` (``p_step``, ``steps_per_unit``, ``seed``,
        ``reference_kwargs``, ...). With a family name as ``reference``, ``reference_kwargs`` (e.g.
        ``{"hidden": (64, 64), "activation": "tanh"}`` for ``"mlp"``) is saved, so that :func:`interpolate` rebuilds
        the same network; ``dtype``/``device`` in it are not saved.

    Returns
    -------
    AnnData or None
        A copy when ``copy=True``, else ``None``. Writes ``uns[key_added]`` with ``params`` (the settings),
        ``times`` (fitted times), ``theta`` (one array per parameter, stacked over rounds), ``loss_before`` and
        ``loss_after`` per round, ``sigma`` (final), ``family`` and ``reference_state`` (the fitted parameters,
        used by :func:`interpolate`). ``params["reference_kwargs"]`` and ``params["ipf_kwargs"]`` hold those
        options in h5ad-writable form (sequences as arrays, ``None`` dropped). Nothing is written if the fit fails.
    """
    xs, times = _snapshots(adata, time_key, use_rep, train_key, train_value)
    if len(times) < 3:
        raise ValueError(f"obs[{time_key!r}] has {len(times)} distinct (training) time(s); at least 3 are needed")
    fit_sigma = sigma is None
    if fit_sigma:
        sigma = 0.1 * float(np.mean(np.concatenate(xs).std(axis=0))) or 0.1
    est = SchrodingerBridge(reference, sigma=sigma, n_iter=n_iter, fit_sigma=fit_sigma, **kwargs).fit(xs, times)
    rounds = est.history_
    names = sorted(rounds[0]["theta"]) if rounds else []
    params: dict[str, Any] = {
        "time_key": time_key, "use_rep": use_rep or "X", "reference": reference if isinstance(reference, str)
        else type(reference).__name__, "sigma_init": float(sigma), "fit_sigma": fit_sigma, "n_iter": n_iter,
        "train_key": train_key or "", "train_value": train_value,
        **{k: _encode(v) for k, v in kwargs.items()
           if isinstance(v, (int, float, str, bool, np.integer, np.floating, np.bool_))},
    }
    if isinstance(reference, str):
        params["reference_kwargs"], unsaved = _encode_options(
            est.reference_kwargs, "reference_kwargs", "dynfer.tl.interpolate will not be able to rebuild the reference"
        )
        if unsaved:
            params["reference_kwargs_unsaved"] = np.array(unsaved, dtype=str)
    if est.ipf_kwargs:
        params["ipf_kwargs"], _ = _encode_options(
            est.ipf_kwargs, "ipf_kwargs", "dynfer.tl.interpolate will use their defaults"
        )
    result = {
        "params": params,
        "family": est.reference_.family,
        "times": np.asarray(times),
        "n_rounds": len(rounds),
        "theta": {n: np.stack([np.asarray(r["theta"][n], dtype=np.float64) for r in rounds]) for n in names},
        "loss_before": np.array([r["loss_before"] for r in rounds], dtype=np.float64),
        "loss_after": np.array([r["loss_after"] for r in rounds], dtype=np.float64),
        "sigma": float(est.sigma_),
        "reference_state": {k: v.detach().cpu().numpy() for k, v in est.reference_.state_dict().items()},
    }
    out = adata.copy() if copy else adata
    out.uns[key_added] = result
    return out if copy else None


def interpolate(
    adata: AnnData, times: Sequence[float], *, key: str = DEFAULT_KEY, n: int | None = None, seed: int = 0
) -> AnnData:
    """Sample particles of a fitted bridge at any ``times`` in the fitted span.

    Rebuilds the reference saved by :func:`schrodinger_bridge` in ``uns[key]`` (family, constructor options such as
    the network's ``hidden`` widths, fitted state), recomputes the bridge through the training snapshots under it
    (no refinement) and samples it at ``times``. Works the same on an AnnData read back from h5ad.

    Parameters
    ----------
    adata
        The AnnData that :func:`schrodinger_bridge` wrote to.
    times
        Times at which to sample.
    key
        The ``key_added`` used for the fit.
    n
        Particles per time (default: as many bridge paths as there are).
    seed
        Seed of the bridge and of the sampling.

    Returns
    -------
    AnnData
        Sampled particles in ``X`` with ``obs["time"]`` (and the representation's dimension).
    """
    if key not in adata.uns or "reference_state" not in adata.uns[key]:
        raise ValueError(f"adata.uns has no fitted bridge under {key!r}; run dynfer.tl.schrodinger_bridge first")
    res = adata.uns[key]
    prm = res["params"]
    use_rep = None if prm["use_rep"] == "X" else prm["use_rep"]
    xs, t = _snapshots(adata, prm["time_key"], use_rep, prm["train_key"] or None, prm["train_value"])
    ref = _reference_from_uns(res, xs[0].shape[1], key)
    extra: dict[str, Any] = {k: prm[k] for k in ("p_step", "steps_per_unit", "min_steps", "reg") if k in prm}
    if "ipf_kwargs" in prm:
        extra["ipf_kwargs"] = _decode_options(prm["ipf_kwargs"])
    est = SchrodingerBridge(ref, sigma=float(res["sigma"]), seed=seed, **extra).fit(xs, t, refine=False)
    samples = est.sample(list(times), n=n, seed=seed)
    x = np.concatenate(samples)
    obs = pd.DataFrame({K.TIME: np.repeat(np.asarray(times, dtype=np.float64), [len(s) for s in samples])})
    obs.index = obs.index.astype(str)
    return AnnData(X=x, obs=obs)
