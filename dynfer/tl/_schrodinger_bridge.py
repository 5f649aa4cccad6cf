"""``tl.schrodinger_bridge`` and ``tl.interpolate``: the AnnData face of the Schrödinger-bridge estimator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.estimators._base import check_param_names
from dynfer.estimators.bridges.estimator import SchrodingerBridge
from dynfer.tl._bridge_outputs import TRANSITION_MASS, reference_drift, transition_matrix, warn_non_finite
from dynfer.tl._inputs import InputSpec, as_actual, representation, snapshots
from dynfer.tl._names import representation_names
from dynfer.tl._store import load_estimator, store_estimator, stored_entry

__all__ = ["interpolate", "schrodinger_bridge"]

DEFAULT_KEY = "schrodinger_bridge"
FACE = "dynfer.tl.schrodinger_bridge"


def schrodinger_bridge(
    adata: AnnData,
    *,
    time_key: str = K.TIME,
    reference: str | torch.nn.Module = "brownian",
    use_rep: str | None = None,
    sigma: float | str = "auto",
    n_iter: int = 10,
    train_key: str | None = None,
    train_value: str = "train",
    seed: int | torch.Generator | None = None,
    key_added: str = DEFAULT_KEY,
    transitions: bool = True,
    copy: bool = False,
    **kwargs: Any,
) -> AnnData | None:
    r"""Population dynamics from snapshots: a multi-marginal Schrödinger bridge with a refined reference SDE.

    Fits :class:`~dynfer.estimators.bridges.SchrodingerBridge` (Shen, Berlinghieri & Broderick, AISTATS 2025) to the
    cells of each distinct time in ``obs[time_key]``: alternately the bridge under the reference
    :math:`dX = f_\theta(X)\,dt + \sigma\,dW` and the refit of :math:`\theta` by the Euler pseudo-likelihood of the
    bridge paths. ``reference="brownian"`` with one round is vanilla SB. The fitted estimator is stored in
    ``uns[key_added]``; :func:`interpolate`, the plots and :func:`dynfer.tl.load_estimator` load it back without
    refitting.

    Parameters
    ----------
    adata
        Snapshot data: states in ``X`` (dense or sparse) or ``obsm[use_rep]``, times in ``obs[time_key]`` (>= 3
        distinct).
    time_key
        Column of ``obs`` with the observation time.
    reference
        Reference family (see :func:`dynfer.estimators.bridges.references.make_reference`) or a
        ``torch.nn.Module`` (which AnnData cannot hold: rebuilding then needs it again, see
        :func:`~dynfer.tl.load_estimator`).
    use_rep
        Key of ``obsm`` to use instead of ``X`` (e.g. ``"X_pca"``).
    sigma
        Reference noise; ``"auto"`` (default) starts from a tenth of the mean per-feature standard deviation and
        refits it by maximum likelihood at every round (the estimator's own default, see
        :class:`~dynfer.estimators.bridges.SchrodingerBridge`).
    n_iter
        Maximum number of refinement rounds.
    train_key, train_value
        Fit only rows with ``obs[train_key] == train_value`` (e.g. after :func:`dynfer.pp.split_timepoints`).
    seed
        Seed of the fit (``None``: ``settings.seed``); the resolved seed is stored.
    key_added
        The fitted estimator goes to ``uns[key_added]``; the drift and transitions to ``obsm`` / ``obsp`` under
        names that start with it.
    transitions
        Also write the cell-cell transition matrix ``obsp[f"{key_added}_transitions"]`` (one more coupling per
        pair of consecutive times, the cost of one P-step; ``False`` skips it).
    copy
        Return a modified copy instead of writing into ``adata``.
    **kwargs
        Any other parameter of :class:`~dynfer.estimators.bridges.SchrodingerBridge` (``p_step``,
        ``steps_per_unit``, ``reference_kwargs``, ``coupling_kwargs``, ``device``, ...); all of them are stored.

    Returns
    -------
    AnnData or None
        A copy when ``copy=True``, else ``None``. Writes ``uns[key_added]`` (see :mod:`dynfer.tl._store`):
        ``params`` (every parameter), ``state`` (reference weights, bridge paths, σ), ``results`` (``theta`` per
        round, ``loss_before``/``loss_after``, ``sigma``, ``times``, ``family``) and ``inputs`` (the fingerprint).
        Also, for other tools (see :mod:`dynfer.tl._bridge_outputs`):

        * ``obsm[f"{key_added}_drift"]`` ``(n_obs, d)``: the refined reference drift :math:`f_\theta(x_i)` at every
          cell in the fitted representation's coordinates (a velocity field for scvelo / CellRank plots; with
          ``use_rep="X_<b>"`` also as ``obsm[f"{key_added}_drift_<b>"]``, where scvelo's
          ``velocity_embedding_stream(adata, basis="<b>", vkey=f"{key_added}_drift")`` reads it);
        * ``obsp[f"{key_added}_transitions"]`` (``transitions=True``): a row-stochastic CSR matrix, each cell's
          successor law at the next time under the bridge coupling, sparsified to 99 % of each row's mass, with
          self-loops at the last time, for ``cellrank.kernels.PrecomputedKernel(adata,
          obsp_key=f"{key_added}_transitions")``; its rule in ``uns[f"{key_added}_transitions_params"]``.

        Nothing is written if the fit fails.
    """
    check_param_names(SchrodingerBridge, kwargs, "dynfer.tl.schrodinger_bridge")
    spec = InputSpec(use_rep="X" if use_rep is None else use_rep, obs_keys=(time_key,), train_key=train_key,
                     train_value=train_value)
    xs, times = snapshots(adata, spec)
    if len(times) < 3:
        raise BadInputError(f"obs[{time_key!r}] has {len(times)} distinct (training) time(s); at least 3 are needed")
    if not isinstance(transitions, (bool, np.bool_)):
        raise BadInputError("transitions", repr(transitions), "True or False")
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise BadInputError("key_added", repr(key_added), "a non-empty string without '/'")
    est = SchrodingerBridge(reference, sigma=sigma, n_iter=n_iter, seed=seed, **kwargs).fit(xs, times)
    outputs = _outputs(adata, est, spec, key_added, bool(transitions))  # computed before anything is written
    out = adata.copy() if copy else adata
    as_actual(out)
    store_estimator(out, est, key_added=key_added, use_rep=use_rep, obs_keys=(time_key,), train_key=train_key,
                    train_value=train_value)
    for slot, values in outputs.items():
        for name, value in values.items():
            getattr(out, slot)[name] = value
    return out if copy else None


def _outputs(adata: AnnData, est: SchrodingerBridge, spec: InputSpec, key: str, transitions: bool
             ) -> dict[str, dict[str, Any]]:
    """``{"obsm": ..., "obsp": ..., "uns": ...}``: the drift at every cell and the transition matrix."""
    x = representation(adata, spec.use_rep)
    where = "X" if spec.use_rep == "X" else f"obsm[{spec.use_rep!r}]"
    warn_non_finite(x, where)
    drift = reference_drift(est, x)
    obsm = {f"{key}_drift": drift}
    if spec.use_rep.startswith("X_") and "+" not in spec.use_rep:
        obsm[f"{key}_drift_{spec.use_rep[2:]}"] = drift.copy()
    out: dict[str, dict[str, Any]] = {"obsm": obsm, "obsp": {}, "uns": {}}
    if transitions:
        t = adata.obs[spec.obs_keys[0]].to_numpy(dtype=np.float64)
        out["obsp"][f"{key}_transitions"] = transition_matrix(est, x, t, mass=TRANSITION_MASS)
        out["uns"][f"{key}_transitions_params"] = {
            "params": {"rule": "sparsified bridge coupling to the next time", "mass": TRANSITION_MASS,
                       "last_time": "self-loops", "time_key": spec.obs_keys[0], "use_rep": spec.use_rep,
                       "reference": est.reference_.family, "sigma": float(est.sigma_)}}
    return out


def interpolate(
    adata: AnnData,
    times: Sequence[float] | float,
    *,
    key: str = DEFAULT_KEY,
    n: int | None = None,
    seed: int | torch.Generator | None = None,
    verify: bool = True,
) -> AnnData:
    r"""Sample particles of a fitted bridge at any ``times`` in the fitted span.

    Loads the estimator stored by :func:`schrodinger_bridge` in ``uns[key]`` (no refit: the cost is one sampling,
    :math:`O(n\,d)` per time) and draws from it with
    :meth:`~dynfer.estimators.bridges.SchrodingerBridge.sample`. Works the same on an AnnData read back from h5ad.

    Parameters
    ----------
    adata
        The AnnData that :func:`schrodinger_bridge` wrote to.
    times
        Times (or one time) at which to sample, inside the fitted span.
    key
        The ``key_added`` used for the fit.
    n
        Particles per time (default: as many bridge paths as there are).
    seed
        Seed of the sampling (``None``: ``settings.seed``).
    verify
        Raise :class:`~dynfer.tl.InputsChangedError` if the data the fit read changed since (see
        :func:`~dynfer.tl.load_estimator`).

    Returns
    -------
    AnnData
        Sampled particles in ``X`` (the fitted representation's features, named as in the fit: ``var_names`` for
        ``X``, the columns of an ``obsm`` data frame, ``PC1, PC2, ...`` for ``X_pca``) with ``obs["time"]``.
    """
    try:
        tq = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError("times", f"{times!r}", "a number or a 1-D sequence of numbers") from None
    if tq.ndim > 1:
        raise BadInputError("times", f"an array of shape {tq.shape}", "a number or a 1-D sequence of numbers")
    tq = tq.reshape(-1)
    if tq.size == 0:
        raise BadInputError("times is empty; pass at least one time inside the fitted span")
    stored_entry(adata, key, face=FACE)
    est = load_estimator(adata, key, verify=verify)
    if not isinstance(est, SchrodingerBridge):
        raise BadInputError(f"adata.uns[{key!r}] holds a {type(est).__name__}, not a Schrödinger bridge")
    samples = est.sample(tq, n=n, seed=seed)
    x = np.concatenate(samples)
    obs = pd.DataFrame({K.TIME: np.repeat(tq, [len(s) for s in samples])})
    obs.index = obs.index.astype(str)
    out = AnnData(X=x, obs=obs)
    use_rep = str(adata.uns[key]["inputs"]["use_rep"])
    out.var_names = representation_names(adata, use_rep, x.shape[1])
    return out
