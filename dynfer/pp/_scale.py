"""Feature scaling and linear representations of snapshot data: standardisation and PCA, delegated to scanpy."""

from __future__ import annotations

from typing import Literal

import numpy as np
from anndata import AnnData
from scipy import sparse

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._validation import resolve_seed
from dynfer.io._model import validate_snapshots

__all__ = ["pca", "standardize"]

_PER = ("dataset", "time", "global")


def _dense_float(x) -> np.ndarray:
    arr = x.toarray() if sparse.issparse(x) else np.array(x, copy=True)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def _scale_block(x: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if x.shape[0] < 2:
        raise BadInputError(f"{where} has {x.shape[0]} cell(s); standardising needs at least two")
    import scanpy as sc  # imported on use: scanpy takes seconds to import

    out, mean, std = sc.pp.scale(x, zero_center=True, copy=True, return_mean_std=True)
    return np.asarray(out), np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def standardize(
    adata: AnnData,
    *,
    per: Literal["dataset", "time", "global"] = "dataset",
    time_key: str = K.TIME,
    copy: bool = False,
) -> AnnData | None:
    r"""Centre and scale the features of ``X``.

    With per-feature mean :math:`\mu_j` and standard deviation :math:`s_j` (``ddof=1``, as :func:`scanpy.pp.scale`)
    every entry becomes :math:`x_{ij} \leftarrow (x_{ij} - \mu_j) / s_j`:

    * ``per="dataset"``: :math:`\mu_j, s_j` over all cells (:func:`scanpy.pp.scale`); every feature then has zero
      mean and unit variance;
    * ``per="time"``: :math:`\mu_j, s_j` within each time point (:func:`scanpy.pp.scale` on each block); this
      removes the change of mean and spread over time, so use it only to remove batch effects between time points;
    * ``per="global"``: per-feature :math:`\mu_j` but one scale for all features,
      :math:`s = (\frac{1}{d}\sum_j s_j^2)^{1/2}`, which keeps the relative scale of the features and so the
      geometry of Euclidean (optimal-transport) distances up to one factor.

    Constant features (:math:`s_j = 0`) are centred and left unscaled (scanpy's rule). Sparse ``X`` is densified
    (centring makes it dense); integer ``X`` becomes float64; floating ``X`` keeps its dtype.

    Parameters
    ----------
    adata
        Snapshot data (``obs[time_key]`` is only needed for ``per="time"``).
    per
        ``"dataset"``, ``"time"`` or ``"global"``, as above.
    time_key
        Column of ``obs`` with the observation times (``per="time"``).
    copy
        Return a standardised copy instead of changing ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Replaces ``X`` and writes ``uns["standardize"]`` with ``per``,
        ``mean`` and ``std`` (shape ``(n_features,)``, or ``(n_times, n_features)`` with ``times`` for
        ``per="time"``), so that the original values are ``X * std + mean``.

    Raises
    ------
    ValueError
        If ``per`` is unknown, ``X`` is missing or holds NaN, a group has fewer than two cells, or (``per="time"``)
        ``obs[time_key]`` is missing or not numeric.
    """
    if per not in _PER:
        raise BadInputError(f"per must be one of {list(_PER)}, got {per!r}")
    if not isinstance(adata, AnnData):
        raise BadInputError(f"adata must be an AnnData, got {type(adata).__name__}")
    if adata.X is None:
        raise BadInputError("adata.X is None; standardize scales the state in X")
    x = _dense_float(adata.X)
    if not np.isfinite(x).all():
        raise BadInputError("adata.X contains NaN or infinite values")
    record: dict = {"per": per}
    if per == "time":
        validate_snapshots(adata, time_key, min_times=1)
        times = adata.obs[time_key].to_numpy(dtype=np.float64)
        distinct, inverse = np.unique(times, return_inverse=True)
        means = np.empty((len(distinct), x.shape[1]))
        stds = np.empty_like(means)
        for k, t in enumerate(distinct):
            rows = inverse == k
            x[rows], means[k], stds[k] = _scale_block(x[rows], f"time point {t:g}")
        record.update(mean=means, std=stds, times=distinct, time_key=time_key)
    else:
        scaled, mean, std = _scale_block(x, "adata")
        if per == "global":
            var = np.where(std == 1.0, x.var(axis=0, ddof=1), std**2)  # scanpy replaces zero std by 1
            scale = float(np.sqrt(var.mean()))
            if scale == 0.0:
                raise BadInputError("adata.X is constant; per='global' cannot scale it")
            x = ((x - mean) / scale).astype(x.dtype, copy=False)
            std = np.full_like(mean, scale)
        else:
            x = scaled
        record.update(mean=mean, std=std)
    out = adata.copy() if copy else adata
    out.X = x
    out.uns["standardize"] = record
    return out if copy else None


def pca(
    adata: AnnData,
    n_comps: int,
    *,
    seed: int | None = None,
    key_added: str = "X_pca",
    copy: bool = False,
) -> AnnData | None:
    r"""Principal components of ``X`` through :func:`scanpy.pp.pca`, a representation for snapshot estimators.

    ``X`` is centred and projected on its top ``n_comps`` principal axes, :math:`Z = (X - \bar{X}) V_{:, :k}`,
    with :math:`V` the right singular vectors. scanpy's default feature mask applies (``var["highly_variable"]``
    when present). The embedding keeps ``X``'s floating dtype (float64 for integer ``X``).

    Parameters
    ----------
    adata
        Data with features in ``X``.
    n_comps
        Number of components, ``1 <= n_comps <= min(n_obs, n_vars)``.
    seed
        ``random_state`` of the randomised / ARPACK solvers, so that the result is reproducible; ``None``:
        ``dynfer.settings.seed`` (fresh entropy when that is ``None``); the seed used is recorded in
        ``uns[...]["params"]["seed"]`` (``uns["pca"]`` or ``uns[key_added]``).
    key_added
        ``obsm`` key of the embedding. With the default ``"X_pca"`` the loadings go to ``varm["PCs"]`` and the
        variances to ``uns["pca"]`` (scanpy's default keys); otherwise to ``varm[key_added]`` and
        ``uns[key_added]``.
    copy
        Return a copy with the embedding instead of writing into ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes ``obsm[key_added]`` (n_obs, n_comps), the loadings
        (n_vars, n_comps), and in ``uns`` the ``variance``, ``variance_ratio`` and ``params`` (scanpy's, plus
        ``n_comps``, ``seed`` and ``svd_solver``).

    Raises
    ------
    ValueError
        If ``n_comps`` is out of range, ``seed`` is not a non-negative integer or ``None``, ``X`` is missing or holds
        NaN.
    """
    seed = resolve_seed(seed)
    if not isinstance(adata, AnnData):
        raise BadInputError(f"adata must be an AnnData, got {type(adata).__name__}")
    if adata.X is None:
        raise BadInputError("adata.X is None; pca needs features in X")
    limit = min(adata.n_obs, adata.n_vars)
    if isinstance(n_comps, bool) or not isinstance(n_comps, int | np.integer) or not 1 <= n_comps <= limit:
        raise BadInputError(f"n_comps must be an integer in [1, min(n_obs, n_vars) = {limit}], got {n_comps!r}")
    data = adata.X.data if sparse.issparse(adata.X) else np.asarray(adata.X)
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise BadInputError("adata.X contains NaN or infinite values")
    dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64
    solver = None
    if n_comps >= limit:  # ARPACK needs n_comps < min(n_obs, n_vars): use an exact SVD instead
        solver = "covariance_eigh" if sparse.issparse(adata.X) else "full"
    out = adata.copy() if copy else adata
    default = key_added == "X_pca"
    import scanpy as sc

    sc.pp.pca(
        out,
        int(n_comps),
        svd_solver=solver,
        random_state=seed,
        dtype=dtype,
        key_added=None if default else key_added,
    )
    uns_key = "pca" if default else key_added
    out.uns[uns_key]["params"].update(n_comps=int(n_comps), seed=seed, svd_solver=solver or "scanpy default")
    return out if copy else None
