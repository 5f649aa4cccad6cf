"""What a face reads from AnnData: the representation, the rows it trains on, and snapshots by time.

Shared by every ``tl`` and ``pl`` function and by the store's fingerprint, so that sparse matrices, views and
``obsm`` data frames are handled in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from anndata import AnnData

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.io._model import validate_snapshots

__all__ = ["InputSpec", "as_actual", "representation", "snapshots", "training_mask"]


@dataclass(frozen=True)
class InputSpec:
    """Which parts of an AnnData a fit reads.

    Attributes
    ----------
    use_rep
        ``"X"`` or a key of ``obsm``.
    obs_keys
        Columns of ``obs`` the fit reads (e.g. the time).
    train_key, train_value
        Rows with ``obs[train_key] == train_value`` are used (``train_key=None``: all rows).
    """

    use_rep: str = "X"
    obs_keys: tuple[str, ...] = (K.TIME,)
    train_key: str | None = None
    train_value: str = "train"

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``uns`` (``train_key=None`` is stored as ``""``)."""
        return {"use_rep": self.use_rep, "obs_keys": np.array(self.obs_keys, dtype=str),
                "train_key": self.train_key or "", "train_value": self.train_value}

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        """Invert :meth:`as_dict` (also on an entry read back from h5ad)."""
        keys = np.asarray(data["obs_keys"]).reshape(-1)
        return cls(use_rep=str(data["use_rep"]), obs_keys=tuple(str(k) for k in keys),
                   train_key=str(data["train_key"]) or None, train_value=str(data["train_value"]))


def as_actual(adata: AnnData) -> None:
    """Turn a view into an actual AnnData in place (as scanpy does before writing results into it)."""
    if adata.is_view:
        adata._init_as_actual(adata.copy())


def representation(adata: AnnData, use_rep: str | None) -> np.ndarray:
    """The state matrix ``(n_obs, d)`` as float64: ``X`` (dense or sparse) or ``obsm[use_rep]``.

    Parameters
    ----------
    adata
        The data.
    use_rep
        ``None`` or ``"X"`` for ``X``, else a key of ``obsm`` (an array or a data frame of numbers), or several
        ``obsm`` keys joined by ``+`` (``"positions+active"``), read side by side.

    Returns
    -------
    numpy.ndarray
        A dense float64 array.
    """
    if isinstance(use_rep, str) and use_rep not in adata.obsm and "+" in use_rep:
        # "positions+active": several obsm blocks side by side (particle states read from two keys)
        return np.hstack([representation(adata, part) for part in use_rep.split("+")])
    if use_rep is None or use_rep == "X":
        x, name = adata.X, "X"
        if x is None:
            raise BadInputError("adata.X is empty (None); pass use_rep= the obsm key that holds the states")
    elif use_rep in adata.obsm:
        x, name = adata.obsm[use_rep], f"obsm[{use_rep!r}]"
    else:
        raise BadInputError(f"use_rep={use_rep!r} is not in adata.obsm (keys: {list(adata.obsm.keys())})")
    if hasattr(x, "toarray"):
        x = x.toarray()
    elif hasattr(x, "to_numpy"):
        x = x.to_numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must hold numbers, got dtype {getattr(x, 'dtype', type(x).__name__)}") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise BadInputError(f"the representation {name} must be a non-empty 2-D array, got shape {arr.shape}")
    return arr


def training_mask(adata: AnnData, train_key: str | None, train_value: str) -> np.ndarray:
    """Rows used by a fit: ``obs[train_key] == train_value`` (all rows when ``train_key`` is None)."""
    if train_key is None:
        return np.ones(adata.n_obs, dtype=bool)
    if train_key not in adata.obs:
        raise BadInputError(f"train_key={train_key!r} is not a column of adata.obs (run dynfer.pp.split_timepoints?)")
    keep = adata.obs[train_key].astype(str).to_numpy() == str(train_value)
    if not keep.any():
        raise BadInputError(f"no row has obs[{train_key!r}] == {train_value!r}")
    return keep


def snapshots(adata: AnnData, spec: InputSpec) -> tuple[list[np.ndarray], np.ndarray]:
    """One ``(n_k, d)`` array per distinct time of the training rows, and the sorted times.

    Parameters
    ----------
    adata
        Snapshot data with the time in ``obs[spec.obs_keys[0]]``.
    spec
        What to read.

    Returns
    -------
    tuple
        ``(snapshots, times)``.
    """
    time_key = spec.obs_keys[0]
    validate_snapshots(adata, time_key, min_times=1)
    x = representation(adata, spec.use_rep)
    keep = training_mask(adata, spec.train_key, spec.train_value)
    bad = keep & ~np.isfinite(x).all(axis=1)
    if bad.any():
        name = "X" if spec.use_rep in (None, "X") else f"obsm[{spec.use_rep!r}]"
        first = str(adata.obs_names[np.flatnonzero(bad)[0]])
        raise BadInputError(f"the representation {name}", f"{int(bad.sum())} row(s) hold NaN or infinite values "
                            f"(first: {first!r})", "finite values in every row the fit reads",
                            hint="drop or impute those cells first")
    t = adata.obs[time_key].to_numpy(dtype=np.float64)
    times = np.unique(t[keep])
    return [x[keep & (t == tt)] for tt in times], times
