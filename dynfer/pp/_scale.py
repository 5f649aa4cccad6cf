"""Feature scaling and linear representations of snapshot data: standardisation (scanpy's conventions) and PCA."""

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


def _dense_float(x, where: str = "adata.X") -> np.ndarray:
    """``x`` as a dense real array (a copy): floating dtypes kept, integers and booleans as float64."""
    arr = x.toarray() if sparse.issparse(x) else np.array(x, copy=True)
    if arr.dtype.kind not in "biuf":
        raise BadInputError(where, f"dtype {arr.dtype}", "real numbers (float, int or bool)")
    if arr.ndim != 2:
        raise BadInputError(where, f"shape {arr.shape}", "a (cells, features) matrix")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature ``(amax, xs, mean_s, std_s)`` of float64 ``x``: ``xs = x / amax`` and its mean and sd (ddof=1).

    Scaling each feature by its largest magnitude first keeps the sums finite for values near the float64 limit.
    """
    amax = np.abs(x).max(axis=0) if x.shape[0] else np.ones(x.shape[1])
    amax = np.where(amax > 0, amax, 1.0)
    xs = x / amax
    std_s = xs.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])
    if ((std_s > 0) & ~(std_s * amax > 0)).any():
        raise BadInputError("adata.X", f"features whose standard deviation underflows float64 (values as small as "
                            f"{float(amax.min()):.3g})", "features on a scale float64 resolves",
                            hint="multiply X by a large constant first")
    return amax, xs, xs.mean(axis=0), std_s


def _scale_block(x: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise float64 ``x`` per feature (ddof=1; a constant feature is centred, its sd recorded as 1)."""
    if x.shape[0] < 2:
        raise BadInputError(f"{where} has {x.shape[0]} cell(s); standardising needs at least two")
    amax, xs, mean_s, std_s = _moments(x)
    const = std_s == 0
    out = (xs - mean_s) * np.where(const, amax, 1.0) / np.where(const, 1.0, std_s)
    return out, mean_s * amax, np.where(const, 1.0, std_s * amax)


def _cast_back(z: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    """``z`` in ``dtype``, refusing values that do not fit it."""
    out = z.astype(dtype, copy=False)
    if not np.isfinite(out).all():
        raise BadInputError(where, f"standardised values beyond the range of {dtype}",
                            "values that fit the dtype of X", hint="convert X to float32 or float64 first")
    return out


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

    * ``per="dataset"``: :math:`\mu_j, s_j` over all cells (as :func:`scanpy.pp.scale`); every feature then has zero
      mean and unit variance;
    * ``per="time"``: :math:`\mu_j, s_j` within each time point (as :func:`scanpy.pp.scale` on each block); this
      removes the change of mean and spread over time, so use it only to remove batch effects between time points;
    * ``per="global"``: per-feature :math:`\mu_j` but one scale for all features,
      :math:`s = (\frac{1}{d}\sum_j s_j^2)^{1/2}`, which keeps the relative scale of the features and so the
      geometry of Euclidean (optimal-transport) distances up to one factor.

    Constant features (:math:`s_j = 0`) are centred and left unscaled (scanpy's rule). Sparse ``X`` is densified
    (centring makes it dense); integer ``X`` becomes float64; floating ``X`` keeps its dtype. Everything is computed in
    float64 (each feature divided by its largest magnitude first, so that values near the float64 limit do not
    overflow) and the result cast back; ``mean`` and ``std`` are recorded in float64.

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
    dtype = x.dtype
    x = x.astype(np.float64)  # float16 sums overflow and lose every digit: compute in float64, cast back at the end
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
        if x.shape[0] < 2:
            raise BadInputError(f"adata has {x.shape[0]} cell(s); standardising needs at least two")
        if per == "global":
            amax, xs, mean_s, std_s = _moments(x)
            sd = std_s * amax  # true per-feature sd (0 for a constant feature)
            top = float(sd.max()) if sd.size else 0.0
            if top == 0.0:
                raise BadInputError("adata.X is constant; per='global' cannot scale it")
            scale = top * float(np.sqrt(np.mean((sd / top) ** 2)))
            x = (xs - mean_s) * (amax / scale)
            mean, std = mean_s * amax, np.full(x.shape[1], scale)
        else:
            x, mean, std = _scale_block(x, "adata")
        record.update(mean=mean, std=std)
    x = _cast_back(x, dtype, "adata.X")
    out = adata.copy() if copy else adata
    out.X = x
    out.uns["standardize"] = record
    return out if copy else None


def _check_spread(adata: AnnData, dtype: np.dtype) -> None:
    """Refuse ``X`` whose (masked) features have zero variance, or a variance or components out of ``dtype``'s range.

    ARPACK fails on a zero or denormal variance ("starting vector is zero") and the SVD on one that overflows; the
    embedding of float16 ``X`` overflows where a centred row is longer than float16's largest value.
    """
    x = adata.X
    if "highly_variable" in adata.var and adata.var["highly_variable"].dtype == bool:  # scanpy's default mask
        x = x[:, np.flatnonzero(adata.var["highly_variable"].to_numpy())]
    x = _dense_float(x)
    if x.shape[1] == 0:
        raise BadInputError("adata.X", "no features (after the highly_variable mask)", "at least one feature")
    x = x.astype(np.float64)
    amax, xs, mean_s, std_s = _moments(x)
    top = float(amax.max())
    spread = (std_s * (amax / top)) ** 2  # variances in units of top**2, all finite
    if not spread.sum() > 0:
        raise BadInputError("adata.X", "zero variance: every feature is constant", "features that vary across cells "
                            "(principal components need some spread)")
    compute = np.dtype(np.float32) if dtype == np.float16 else dtype  # float16 is decomposed in float32
    info = np.finfo(compute)
    log_var = 2 * np.log(top) + np.log(spread.sum())  # log of the total variance, without overflow
    low, high = np.log(info.tiny) - np.log(info.eps), np.log(info.max) + np.log(info.eps)
    if not low < log_var < high:
        raise BadInputError("adata.X", f"a total variance of about 1e{log_var / np.log(10):.0f}, outside what "
                            f"{compute} resolves (1e{low / np.log(10):.0f} to 1e{high / np.log(10):.0f})",
                            "values on a scale the decomposition can handle", hint="rescale X (e.g. pp.standardize)"
                            + ("" if compute == np.float64 else " or convert it to float64"))
    norm = top * float(np.sqrt(((xs - mean_s) ** 2 * (amax / top) ** 2).sum(axis=1).max()))
    if dtype == np.float16 and not norm < np.finfo(np.float16).max:
        raise BadInputError("adata.X", f"float16 values whose principal components reach {norm:.3g}",
                            f"components within float16's range ({np.finfo(np.float16).max:.0f})",
                            hint="convert X to float32 or rescale it")


def pca(
    adata: AnnData,
    n_comps: int | None = None,
    *,
    random_state: int | None = None,
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
        Number of components, ``1 <= n_comps <= min(n_obs, n_vars)``. ``None`` (scanpy's default): 50, or
        ``min(n_obs, n_vars) - 1`` when that is smaller (at least 1).
    random_state
        Seed of the randomised / ARPACK solvers (scanpy's name), so that the result is reproducible; ``None``:
        ``dynfer.settings.seed`` (fresh entropy when that is ``None``); the seed used is recorded in
        ``uns[...]["params"]["seed"]`` (``uns["pca"]`` or ``uns[key_added]``).
    seed
        The same as ``random_state`` (dynfer's name elsewhere); give one of the two.
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
    if random_state is not None and seed is not None and random_state != seed:
        raise BadInputError("random_state", f"{random_state!r} beside seed={seed!r}",
                            "one of random_state (scanpy's name) or seed, not two different values")
    seed = resolve_seed(seed if random_state is None else random_state)
    if not isinstance(adata, AnnData):
        raise BadInputError(f"adata must be an AnnData, got {type(adata).__name__}")
    if adata.X is None:
        raise BadInputError("adata.X is None; pca needs features in X")
    limit = min(adata.n_obs, adata.n_vars)
    if n_comps is None:  # scanpy's rule (settings.N_PCS = 50)
        n_comps = max(1, limit - 1 if limit <= 50 else 50)
    if isinstance(n_comps, bool) or not isinstance(n_comps, int | np.integer) or not 1 <= n_comps <= limit:
        raise BadInputError(f"n_comps must be an integer in [1, min(n_obs, n_vars) = {limit}], got {n_comps!r}")
    data = adata.X.data if sparse.issparse(adata.X) else np.asarray(adata.X)
    if data.dtype.kind not in "biuf":
        raise BadInputError("adata.X", f"dtype {data.dtype}", "real numbers (float, int or bool)")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise BadInputError("adata.X contains NaN or infinite values")
    dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float64
    _check_spread(adata, np.dtype(dtype))
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
