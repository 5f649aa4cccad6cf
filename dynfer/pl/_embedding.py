r"""Where the plots draw: cells, bridge paths and drift vectors of a fitted representation on an embedding.

A fit lives in its representation (``X`` or ``obsm[use_rep]``, :math:`d` coordinates); a plot draws in ``basis``
(an ``obsm`` key such as ``X_pca`` or ``X_umap``; ``None``: the representation itself). :func:`embedding` finds
how the two relate:

* **identity** — ``basis`` is the representation;
* **linear** — the basis is an affine image :math:`e = x B + c` of the representation (``X_pca`` computed from
  ``X`` by scanpy, whose loadings ``varm["PCs"]`` give :math:`B`; otherwise a least-squares fit of :math:`[x, 1]`
  to the basis over the cells, accepted when its relative residual is below :math:`10^{-6}`). Points map exactly
  and vectors map by :math:`v B`;
* **non-linear** (UMAP, t-SNE, ...) — a point :math:`y` of the representation maps to the Gaussian-weighted mean of
  the basis coordinates of its ``k`` nearest cells, and a drift vector :math:`v_i` at cell :math:`i` maps as
  scvelo's ``velocity_embedding`` does (Bergen et al. 2020): with :math:`\cos_{ij}` the cosine between
  :math:`v_i` and :math:`x_j - x_i` over the ``k`` nearest neighbours :math:`j` of :math:`i`,
  :math:`p_{ij} \propto \exp(\cos_{ij}/\tau)` (:math:`\tau = 0.1`), and unit displacements
  :math:`u_{ij} = (e_j - e_i)/|e_j - e_i|`,

  .. math::  V_i = \sum_j p_{ij}\, u_{ij} - \frac1k \sum_j u_{ij},

  the expected direction of the step the drift points to, minus the direction a uniform step would take. Its
  length is not in the units of the representation (only directions and relative speeds are meaningful).

References
----------
- V. Bergen, M. Lange, S. Peidli, F. A. Wolf, F. J. Theis (2020), Generalizing RNA velocity to transient cell
  states through dynamical modeling, *Nat. Biotechnol.* 38, 1408-1414.
- G. La Manno et al. (2018), RNA velocity of single cells, *Nature* 560, 494-498.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from anndata import AnnData

from dynfer._errors import BadInputError
from dynfer.tl._inputs import representation
from dynfer.tl._names import representation_names

__all__ = ["Embedding", "embedding", "parse_components"]

KNN = 30
TAU = 0.1
_LSTSQ_MAX_DIM = 200


def parse_components(components: Any, n: int, where: str) -> tuple[int, int]:
    """Two distinct coordinates counted from 1 (``"1,2"`` or ``(1, 2)``), returned counted from 0.

    Parameters
    ----------
    components
        The user's value.
    n
        Number of coordinates available.
    where
        What they index (named in the error).
    """
    expected = f"two distinct components of {where} counted from 1 (it has {n}), e.g. '1,2' or (1, 2)"
    if isinstance(components, str):
        parts: Sequence[Any] = [p.strip() for p in components.split(",")]
    elif isinstance(components, Sequence) or isinstance(components, np.ndarray):
        parts = list(components)
    else:
        raise BadInputError("components", repr(components), expected)
    values = []
    for p in parts:
        if isinstance(p, (bool, np.bool_)):
            raise BadInputError("components", repr(components), expected)
        try:
            v = float(p)
        except (TypeError, ValueError):
            raise BadInputError("components", repr(components), expected) from None
        if not math.isfinite(v) or v != int(v):
            raise BadInputError("components", repr(components), expected)
        values.append(int(v))
    if len(values) != 2 or values[0] == values[1] or min(values) < 1 or max(values) > n:
        raise BadInputError("components", repr(components), expected)
    return values[0] - 1, values[1] - 1


@dataclass
class Embedding:
    """The basis of a plot and how the fitted representation maps into it (module docstring).

    Attributes
    ----------
    cells
        ``(n_obs, k)`` basis coordinates of every cell.
    names
        The ``k`` coordinate names (axis labels).
    rep
        ``(n_obs, d)`` cells in the fitted representation.
    linear
        ``(B, c)`` when the map is affine, else ``None``.
    """

    cells: np.ndarray
    names: list[str]
    rep: np.ndarray
    linear: tuple[np.ndarray, np.ndarray] | None

    def _neighbours(self, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.neighbors import NearestNeighbors

        ok = np.flatnonzero(np.isfinite(self.rep).all(axis=1) & np.isfinite(self.cells).all(axis=1))
        k = min(k, len(ok))
        nn = NearestNeighbors(n_neighbors=k).fit(self.rep[ok])
        dist, idx = nn.kneighbors(y)
        return dist, ok[idx]

    def points(self, y: np.ndarray) -> np.ndarray:
        """Basis coordinates of representation points ``y`` ``(m, d)``."""
        if self.linear is not None:
            b, c = self.linear
            return y @ b + c
        dist, idx = self._neighbours(y, KNN)
        h = np.maximum(np.median(dist, axis=1, keepdims=True), 1e-12)
        w = np.exp(-0.5 * (dist / h) ** 2)
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("mk,mkj->mj", w, self.cells[idx])

    def vectors(self, v: np.ndarray) -> np.ndarray:
        """Basis vectors of drift vectors ``v`` ``(n_obs, d)`` given at every cell (module docstring)."""
        if self.linear is not None:
            return v @ self.linear[0]
        out = np.full(self.cells.shape, np.nan)
        ok = np.flatnonzero(np.isfinite(self.rep).all(axis=1) & np.isfinite(v).all(axis=1))
        dist, idx = self._neighbours(self.rep[ok], KNN + 1)
        idx = idx[:, 1:]  # the cell itself is its own nearest neighbour
        dx = self.rep[idx] - self.rep[ok, None, :]
        vi = v[ok, None, :]
        cos = np.einsum("nkd,nkd->nk", dx, vi) / np.maximum(
            np.linalg.norm(dx, axis=2) * np.linalg.norm(vi, axis=2), 1e-300)
        p = np.exp((cos - cos.max(axis=1, keepdims=True)) / TAU)
        p /= p.sum(axis=1, keepdims=True)
        de = self.cells[idx] - self.cells[ok, None, :]
        u = de / np.maximum(np.linalg.norm(de, axis=2, keepdims=True), 1e-300)
        out[ok] = np.einsum("nk,nkj->nj", p, u) - u.mean(axis=1)
        still = np.linalg.norm(v[ok], axis=1) == 0
        out[ok[still]] = 0.0  # no drift: no direction
        return out


def _affine(x: np.ndarray, e: np.ndarray, adata: AnnData, use_rep: str, basis: str) -> tuple | None:
    """``(B, c)`` with ``e = x B + c`` on every finite cell, or ``None`` when the basis is not affine in ``x``."""
    ok = np.isfinite(x).all(axis=1) & np.isfinite(e).all(axis=1)
    if ok.sum() < 2:
        return None
    xo, eo = x[ok], e[ok]
    candidates = []
    if basis == "X_pca" and use_rep == "X" and "PCs" in adata.varm:
        pcs = np.asarray(adata.varm["PCs"], dtype=np.float64)
        if pcs.shape[0] == x.shape[1] and pcs.shape[1] >= e.shape[1]:
            b = pcs[:, : e.shape[1]]
            candidates.append((b, (eo - xo @ b).mean(axis=0)))
    if x.shape[1] <= _LSTSQ_MAX_DIM and ok.sum() > x.shape[1]:
        design = np.hstack([xo, np.ones((len(xo), 1))])
        coef, *_ = np.linalg.lstsq(design, eo, rcond=None)
        candidates.append((coef[:-1], coef[-1]))
    scale = max(float(np.linalg.norm(eo - eo.mean(axis=0))), 1e-300)
    for b, c in candidates:
        if float(np.linalg.norm(xo @ b + c - eo)) <= 1e-6 * scale:
            return b, c
    return None


def embedding(adata: AnnData, use_rep: str, basis: str | None) -> Embedding:
    """The plot's basis for a fit on ``use_rep`` (``basis=None``: the representation itself).

    Raises
    ------
    BadInputError
        ``basis`` is not a string naming an ``obsm`` key with one row per cell and at least two columns.
    """
    x = representation(adata, use_rep)
    if basis is None or basis == use_rep:
        names = representation_names(adata, use_rep, x.shape[1])
        return Embedding(x, names, x, (np.eye(x.shape[1]), np.zeros(x.shape[1])))
    if not isinstance(basis, str):
        raise BadInputError("basis", repr(basis), "None or an obsm key such as 'X_pca' or 'X_umap'")
    if basis not in adata.obsm:
        alt = f"X_{basis}"
        if alt in adata.obsm:  # scanpy accepts basis="umap" for obsm["X_umap"]
            basis = alt
        else:
            raise BadInputError("basis", repr(basis), f"an obsm key (adata.obsm has {list(adata.obsm.keys())})")
    e = representation(adata, basis)
    if e.shape[1] < 2:
        raise BadInputError("basis", f"{basis!r} with {e.shape[1]} column(s)", "an embedding with >= 2 columns")
    return Embedding(e, representation_names(adata, basis, e.shape[1]), x, _affine(x, e, adata, use_rep, basis))
