"""The names of a representation's coordinates, as scanpy names them: variables, ``PC1``, ``UMAP2``, ...

Shared by :func:`dynfer.tl.interpolate` (the ``var_names`` of the particles it returns) and the ``pl`` functions
(axis labels), so that a fit on ``X`` keeps the genes' names and a fit on ``obsm["X_pca"]`` says ``PC1``.
"""

from __future__ import annotations

import numpy as np
from anndata import AnnData

__all__ = ["basis_names", "representation_names"]

#: scanpy's axis prefixes of the usual embeddings (``scanpy.plotting._tools.scatterplots._basis2name``)
_PREFIX = {"X_pca": "PC", "X_umap": "UMAP", "X_tsne": "tSNE", "X_diffmap": "DC", "X_draw_graph_fr": "FR",
           "X_phate": "PHATE", "X_spatial": "spatial"}


def basis_names(key: str, n: int) -> list[str]:
    """``n`` coordinate names of an ``obsm`` key without column names: ``X_pca`` gives ``PC1``, ``PC2``, ...

    Keys scanpy knows keep its prefix; another ``X_name`` gives ``name1``, ``name2``, ...; any other key
    ``key1``, ``key2``, ....
    """
    prefix = _PREFIX.get(key, key[2:] if key.startswith("X_") and len(key) > 2 else key)
    return [f"{prefix}{k + 1}" for k in range(n)]


def representation_names(adata: AnnData, use_rep: str | None, n: int) -> list[str]:
    """The names of the ``n`` coordinates of ``X`` (``var_names``) or of ``obsm[use_rep]``.

    Parameters
    ----------
    adata
        The data.
    use_rep
        ``None`` or ``"X"``, an ``obsm`` key, or several joined by ``+`` (read side by side).
    n
        Number of coordinates of the representation (checked against the names found).

    Returns
    -------
    list of str
        ``var_names`` for ``X``; the columns of an ``obsm`` data frame; else :func:`basis_names`.
    """
    if use_rep is None or use_rep == "X":
        names = [str(v) for v in adata.var_names]
    elif use_rep in adata.obsm:
        value = adata.obsm[use_rep]
        columns = getattr(value, "columns", None)
        names = [str(c) for c in columns] if columns is not None else basis_names(use_rep, int(np.shape(value)[1]))
    elif "+" in use_rep:
        names = []
        for part in use_rep.split("+"):
            width = int(np.shape(adata.obsm[part])[1]) if part in adata.obsm else 0
            names += representation_names(adata, part, width)
    else:
        names = basis_names(use_rep, n)
    if len(names) != n or len(set(names)) != n:
        return basis_names(use_rep or "X", n) if use_rep not in (None, "X") else [f"x{k + 1}" for k in range(n)]
    return names
