"""Markov chains on graphs: simple-walk and Metropolis–Hastings transition matrices, and their stationary laws.

Also the padded neighbour tables and the result type shared by the walk simulators.

A graph enters as an undirected :class:`networkx.Graph`; its nodes are indexed in the order of
``list(graph.nodes())`` (see :func:`node_order`). Transition matrices are returned as torch sparse CSR tensors
of shape ``(N, N)`` on ``device`` (``None``: :data:`dynfer.settings.device`). Edge weights are ignored: every
walk here is on the unweighted graph. The non-backtracking walk lives in :mod:`dynfer.processes.walks.nonbacktracking`
and the self-repellent walk in :mod:`dynfer.processes.walks.self_repellent`.

References
----------
- N. Metropolis, A. Rosenbluth, M. Rosenbluth, A. Teller, E. Teller, "Equation of state calculations
  by fast computing machines", J. Chem. Phys. 21 (1953).
- W. K. Hastings, "Monte Carlo sampling methods using Markov chains and their applications",
  Biometrika 57 (1970).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import STEP_COST, check_memory, check_work
from dynfer.processes.walks.graphs import graph_adjacency, target_array

__all__ = [
    "WalkResult",
    "metropolis_hastings_matrix",
    "padded_neighbour_table",
    "simple_walk_matrix",
    "simple_walk_stationary",
    "stationary_distribution",
]


def csr_tensor(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    n: int,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Build an ``(n, n)`` torch sparse CSR tensor from host CSR arrays (silencing torch's beta-state warnings)."""
    dev = settings.resolve_device(device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
        return torch.sparse_csr_tensor(
            torch.as_tensor(indptr, dtype=torch.int64),
            torch.as_tensor(indices, dtype=torch.int64),
            torch.as_tensor(values, dtype=torch.float64).to(dtype or settings.dtype),
            size=(n, n),
            check_invariants=True,
        ).to(dev)


# ---------------------------------------------------------------------------------------------------- matrices
def simple_walk_matrix(
    graph: Any, *, device: str | torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    r"""Transition matrix of the simple random walk (SRW), :math:`P_{ij} = 1/d_i` for :math:`j \sim i`.

    Its stationary law is :math:`\mu_i = d_i / 2|E|` (:func:`simple_walk_stationary`); it is reversible
    with respect to :math:`\mu` (:math:`\mu_i P_{ij} = 1/2|E| = \mu_j P_{ji}`).

    Parameters
    ----------
    graph : networkx.Graph
        Undirected, connected, simple graph (see :func:`graph_adjacency`); node order ``list(graph.nodes())``.
    device, dtype
        Device (``None``: ``settings.device``) and floating dtype (``None``: ``settings.dtype``).

    Returns
    -------
    torch.Tensor
        Sparse CSR tensor of shape ``(N, N)``, no diagonal entries.
    """
    adj = graph_adjacency(graph)
    values = 1.0 / adj.degree[adj.rows()].astype(np.float64)
    return csr_tensor(adj.indptr, adj.indices, values, adj.n_nodes, device, dtype)


def simple_walk_stationary(
    graph: Any, *, device: str | torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    r"""Stationary law of the simple random walk, :math:`\mu_i = d_i / \sum_k d_k = d_i / 2|E|`.

    Returns
    -------
    torch.Tensor
        Shape ``(N,)`` in node order ``list(graph.nodes())``.
    """
    adj = graph_adjacency(graph)
    mu = adj.degree / adj.degree.sum()
    return torch.as_tensor(mu, dtype=dtype or settings.dtype, device=settings.resolve_device(device))


def metropolis_hastings_matrix(
    graph: Any,
    target: Any = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Metropolis–Hastings random walk (MHRW) to a target law :math:`\mu` with SRW proposals.

    A move from :math:`i` proposes a uniform neighbour :math:`j` (probability :math:`1/d_i`) and accepts it with
    probability :math:`\min\bigl(1, \mu_j d_i / (\mu_i d_j)\bigr)` (Metropolis et al. 1953; Hastings 1970):

    .. math::

        P_{ij} = \frac{1}{d_i}\min\Bigl(1, \frac{\mu_j d_i}{\mu_i d_j}\Bigr) \quad (j \sim i), \qquad
        P_{ii} = 1 - \sum_{j \sim i} P_{ij}.

    For the uniform target this is :math:`P_{ij} = \min(1/d_i, 1/d_j)`. The chain satisfies detailed balance
    :math:`\mu_i P_{ij} = \min(\mu_i/d_i, \mu_j/d_j) = \mu_j P_{ji}`, so :math:`\mu` is stationary.

    Parameters
    ----------
    graph : networkx.Graph
        Undirected, connected, simple graph (see :func:`graph_adjacency`); node order ``list(graph.nodes())``.
    target : array-like of shape (N,), mapping node -> weight, or None
        Strictly positive, finite target weights (normalised here); ``None`` is uniform.
    device, dtype
        Device (``None``: ``settings.device``) and floating dtype (``None``: ``settings.dtype``).

    Returns
    -------
    torch.Tensor
        Sparse CSR tensor of shape ``(N, N)``; the diagonal is stored where :math:`P_{ii} > 0`.
    """
    adj = graph_adjacency(graph)
    n = adj.n_nodes
    mu = np.full(n, 1.0 / n) if target is None else target_array(target, adj)
    rows, cols = adj.rows(), adj.indices
    d = adj.degree.astype(np.float64)
    off = np.minimum(1.0 / d[rows], (mu[cols] / d[cols]) / mu[rows])
    diag = 1.0 - np.bincount(rows, weights=off, minlength=n)
    diag[diag < 64 * np.finfo(np.float64).eps] = 0.0
    all_rows = np.concatenate([rows, np.arange(n)])
    all_cols = np.concatenate([cols, np.arange(n)])
    all_vals = np.concatenate([off, diag])
    keep = (all_vals > 0) | (all_rows != all_cols)
    mat = sp.csr_matrix((all_vals[keep], (all_rows[keep], all_cols[keep])), shape=(n, n))
    mat.sort_indices()
    return csr_tensor(mat.indptr, mat.indices, mat.data, n, device, dtype)


def _source_dtype(matrix: Any) -> np.dtype:
    """The floating precision ``matrix`` was given in (float64 for integers, booleans and lists)."""
    if isinstance(matrix, torch.Tensor):
        dtype = matrix.dtype
        if dtype.is_floating_point:
            return np.dtype(str(dtype).removeprefix("torch.")) if dtype != torch.bfloat16 else np.dtype(np.float32)
        return np.dtype(np.float64)
    dtype = getattr(matrix, "dtype", None)
    if dtype is not None and np.issubdtype(np.dtype(dtype), np.floating):
        return np.dtype(dtype)
    return np.dtype(np.float64)


def as_scipy_csr(matrix: torch.Tensor | sp.spmatrix | np.ndarray, name: str = "matrix") -> sp.csr_matrix:
    """Convert a square transition matrix (torch sparse/dense, scipy, numpy) to a float64 scipy CSR matrix."""
    try:
        if isinstance(matrix, torch.Tensor):
            m = matrix.detach()
            if m.is_complex():
                raise BadInputError(name, f"complex dtype {m.dtype}", "a real matrix")
            if m.ndim != 2:
                raise BadInputError(name, f"shape {tuple(m.shape)}", "a square (N, N) matrix")
            if m.layout == torch.sparse_csr:
                out = sp.csr_matrix(
                    (m.values().cpu().double().numpy(), m.col_indices().cpu().numpy(),
                     m.crow_indices().cpu().numpy()),
                    shape=tuple(m.shape),
                )
            elif m.layout == torch.sparse_coo:
                m = m.coalesce()
                idx = m.indices().cpu().numpy()
                out = sp.csr_matrix((m.values().cpu().double().numpy(), (idx[0], idx[1])), shape=tuple(m.shape))
            else:
                out = sp.csr_matrix(m.cpu().double().numpy())
        elif sp.issparse(matrix):
            if np.issubdtype(matrix.dtype, np.complexfloating):
                raise BadInputError(name, f"complex dtype {matrix.dtype}", "a real matrix")
            out = sp.csr_matrix(matrix, dtype=np.float64)
        else:
            arr = np.asarray(matrix)
            if arr.dtype.kind not in "biuf":
                raise BadInputError(name, f"an array of dtype {arr.dtype}", "a real numeric (N, N) matrix")
            if arr.ndim != 2:
                raise BadInputError(name, f"shape {arr.shape}", "a square (N, N) matrix")
            out = sp.csr_matrix(arr.astype(np.float64))
    except (TypeError, ValueError, RuntimeError) as err:
        if isinstance(err, BadInputError):
            raise
        raise BadInputError(name, f"a {type(matrix).__name__} that is not a numeric matrix ({err})",
                            "a square (N, N) torch tensor, scipy sparse matrix or numpy array") from None
    if out.ndim != 2 or out.shape[0] != out.shape[1]:
        raise BadInputError(f"{name} must be a square matrix, got shape {out.shape}")
    out.sum_duplicates()
    out.sort_indices()
    return out


def check_stochastic(mat: sp.csr_matrix, name: str, dtype: np.dtype | None = None, *, tol: float | None = None) -> None:
    r"""Raise unless ``mat`` is a row-stochastic matrix: finite, :math:`P_{ij} \ge 0`, :math:`\sum_j P_{ij} = 1`.

    Parameters
    ----------
    mat
        Square float64 CSR matrix (from :func:`as_scipy_csr`).
    name
        Argument name for messages.
    dtype
        The precision the matrix was given in: the row-sum tolerance is :math:`\sqrt{\varepsilon}` of it
        (1.5e-8 for float64, 3.5e-4 for float32), as for rate matrices.
    tol
        Explicit row-sum tolerance instead.
    """
    n = mat.shape[0]
    if n == 0:
        raise BadInputError(name, "an empty (0, 0) matrix", "a transition matrix on at least one state")
    data = mat.data
    bad = ~np.isfinite(data)
    if bad.any():
        raise BadInputError(name, f"{int(bad.sum())} NaN or infinite entr{'y' if bad.sum() == 1 else 'ies'}",
                            "finite transition probabilities")
    rows = np.repeat(np.arange(n), np.diff(mat.indptr))
    neg = data < 0
    if neg.any():
        k = int(np.argmin(data))
        raise BadInputError(name, f"{int(neg.sum())} negative entr{'y' if neg.sum() == 1 else 'ies'}, the most "
                            f"negative {name}[{rows[k]}, {mat.indices[k]}] = {data[k]:.6g}",
                            "probabilities >= 0 (a row-stochastic matrix)")
    if tol is None:
        tol = float(np.sqrt(np.finfo(dtype if dtype is not None else np.float64).eps))
    dev = np.abs(np.asarray(mat.sum(axis=1)).ravel() - 1.0)
    if (dev > tol).any():
        worst = int(np.argmax(dev))
        total = float(np.asarray(mat[worst].sum()))
        raise BadInputError(name, f"row {worst} sums to {total:.6g} (the worst of {int((dev > tol).sum())} row(s) "
                            f"off by more than {tol:.2g})", "every row to sum to 1 (a row-stochastic matrix, rows = "
                            "from state)", hint="normalise the rows, P / P.sum(1, keepdims=True)")


def solve_stationary(mat: sp.csr_matrix, name: str = "matrix") -> np.ndarray:
    r"""Stationary law (float64) of a checked row-stochastic CSR matrix, by one sparse LU solve.

    Fixing :math:`\pi_0 = 1`, the remaining entries solve :math:`(I - P)^\top_{[1:,1:]}\,\pi_{1:} =
    -(I - P)^\top_{[1:,0]}`; then :math:`\pi` is normalised.
    """
    n = mat.shape[0]
    if n == 1:
        return np.ones(1)
    a = (sp.identity(n, format="csr") - mat).T.tocsc()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spla.MatrixRankWarning)  # a singular system is reported below
        sol = spla.spsolve(a[1:, 1:], -a[1:, 0].toarray().ravel())
    pi = np.concatenate([[1.0], np.atleast_1d(sol)])
    if not np.all(np.isfinite(pi)) or np.any(pi < -1e-10 * np.abs(pi).max()) or not pi.sum() > 0:
        raise BadInputError(name, "a chain without a unique positive stationary law",
                            "an irreducible row-stochastic matrix (every state reachable from every other)")
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def stationary_distribution(
    matrix: torch.Tensor | sp.spmatrix | np.ndarray,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""Stationary law :math:`\pi P = \pi`, :math:`\sum_i \pi_i = 1`, of an irreducible transition matrix.

    Solved exactly (sparse LU in float64): fixing :math:`\pi_0 = 1`, the remaining entries solve
    :math:`(I - P)^\top_{[1:,1:]}\,\pi_{1:} = -(I - P)^\top_{[1:,0]}`, then :math:`\pi` is normalised.
    This works for periodic chains too (e.g. the SRW on a bipartite graph).

    Parameters
    ----------
    matrix : torch.Tensor (sparse CSR/COO or dense), scipy sparse matrix or numpy array
        Row-stochastic, irreducible ``(N, N)`` matrix: finite, non-negative entries, every row summing to 1
        within :math:`\sqrt{\varepsilon}` of its dtype (1.5e-8 in float64, 3.5e-4 in float32).
    device, dtype
        Device and dtype of the result (``None``: the matrix's device if a tensor, else ``settings.device``;
        ``settings.dtype``).

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``.

    Raises
    ------
    BadInputError
        Naming ``matrix`` and the worst row when it is not square, holds NaN or negative entries, has a row not
        summing to 1, or is reducible (no unique stationary law).
    """
    mat = as_scipy_csr(matrix)
    check_stochastic(mat, "matrix", _source_dtype(matrix))
    if device is None and isinstance(matrix, torch.Tensor):
        device = matrix.device
    pi = solve_stationary(mat)
    return torch.as_tensor(pi, dtype=dtype or settings.dtype, device=settings.resolve_device(device))


def padded_neighbour_table(
    matrix: torch.Tensor | sp.spmatrix | np.ndarray,
    *,
    include_self: bool = True,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Rows of a sparse transition matrix as a padded neighbour table (self included).

    Row ``i`` lists :math:`\bar N(i) = \operatorname{supp} P_{i\cdot} \cup \{i\}`, node ``i`` first.

    Used to gather the neighbourhood of many walkers at once: one step of ``T`` tokens costs
    :math:`O(T \cdot \max_i |\bar N(i)|)`.

    Parameters
    ----------
    matrix
        ``(N, N)`` transition matrix (torch sparse/dense, scipy sparse, numpy).
    include_self : bool
        Put node ``i`` itself in row ``i`` (first column) even where :math:`P_{ii} = 0`.
    device, dtype
        Device (``None``: the matrix's device if a tensor, else ``settings.device``) and dtype of ``values``.

    Returns
    -------
    index : torch.Tensor
        ``(N, D)`` ``int64`` node indices; padding repeats node ``i``.
    values : torch.Tensor
        ``(N, D)`` transition probabilities :math:`P_{i, \mathrm{index}[i, k]}`; ``0`` on padding.
    n_valid : torch.Tensor
        ``(N,)`` number of genuine entries :math:`|\bar N(i)|` per row (padding starts there).
    """
    mat = as_scipy_csr(matrix)
    if device is None and isinstance(matrix, torch.Tensor):
        device = matrix.device
    n = mat.shape[0]
    counts = np.diff(mat.indptr)
    rows = np.repeat(np.arange(n, dtype=np.int64), counts)
    cols = mat.indices.astype(np.int64)
    vals = mat.data
    if include_self:
        has_diag = np.zeros(n, dtype=bool)
        has_diag[rows[rows == cols]] = True
        missing = np.flatnonzero(~has_diag)
        rows = np.concatenate([rows, missing])
        cols = np.concatenate([cols, missing])
        vals = np.concatenate([vals, np.zeros(missing.size)])
    # self first, then the other neighbours in increasing index order
    order = np.lexsort((cols, rows != cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    counts = np.bincount(rows, minlength=n)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    width = int(counts.max()) if n else 0
    index = np.repeat(np.arange(n, dtype=np.int64)[:, None], width, axis=1)
    values = np.zeros((n, width), dtype=np.float64)
    pos = np.arange(rows.size) - starts[rows]
    index[rows, pos] = cols
    values[rows, pos] = vals
    dev = settings.resolve_device(device)
    return (
        torch.as_tensor(index, device=dev),
        torch.as_tensor(values, dtype=dtype or settings.dtype, device=dev),
        torch.as_tensor(counts, dtype=torch.int64, device=dev),
    )


# ---------------------------------------------------------------------------------------------------- results
@dataclass
class WalkResult:
    r"""Outcome of simulating ``n_tokens`` independent walkers for ``n_steps`` steps.

    Attributes
    ----------
    nodes : list
        Node labels; column ``i`` of ``visit_counts`` and ``x`` refers to ``nodes[i]``.
    position : torch.Tensor
        ``(n_tokens,)`` node index of each token after the last step.
    visit_counts : torch.Tensor
        ``(n_tokens, N)`` ``int64`` number of visits of :math:`X_1, \dots, X_n` (the start is not counted).
    n_steps : int
        Number of steps taken.
    trajectory : torch.Tensor or None
        ``(n_steps, n_tokens)`` node indices :math:`X_1, \dots, X_n` when ``record`` asked for ``"trajectory"``.
    x : torch.Tensor or None
        ``(n_tokens, N)`` final empirical measure :math:`x_n` of the self-repellent walk (``None`` otherwise).
    tvd : torch.Tensor or None
        ``(n_steps, n_tokens)`` total variation :math:`\tfrac12 \lVert x_n - \mu \rVert_1` after each step, when
        asked for with ``record="tvd"`` (self-repellent walk only).
    """

    nodes: list
    position: torch.Tensor
    visit_counts: torch.Tensor
    n_steps: int
    trajectory: torch.Tensor | None = None
    x: torch.Tensor | None = None
    tvd: torch.Tensor | None = None

    def frequencies(self) -> torch.Tensor:
        """Visit frequencies ``visit_counts / n_steps`` per token, shape ``(n_tokens, N)`` (``settings.dtype``)."""
        return self.visit_counts.to(settings.dtype) / max(self.n_steps, 1)


def check_run_args(n_steps: Any, n_tokens: Any) -> tuple[int, int]:
    for value, name, low in ((n_steps, "n_steps", 0), (n_tokens, "n_tokens", 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise BadInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(n_steps), int(n_tokens)


def check_walk_size(
    walk: Any, where: str, n_steps: int, n_tokens: int, width: int, record: set[str], item_bytes: int
) -> None:
    """Refuse a walk whose work (steps x tokens x entries per step) or recorded output is too large, up front.

    ``width`` is the number of table entries one token touches per step; the memory counted is the visit counts
    (int64 ``(n_tokens, N)``), the recorded trajectory (int64 ``(n_steps, n_tokens)``) and the recorded total
    variation (``item_bytes`` each), and a measure per token (``item_bytes`` each) for the self-repellent walk.
    """
    n = walk.n_nodes
    check_work(float(n_steps) * (n_tokens * width + STEP_COST) + float(n_tokens) * n, f"{where}: n_steps",
               f"{n_steps} steps x {n_tokens} tokens x {width} entries (and {n_tokens} x {n} counts)",
               change="use fewer steps or tokens")
    nbytes = n_tokens * n * (8 + item_bytes) + n_steps * n_tokens * (
        8 * ("trajectory" in record) + item_bytes * ("tvd" in record))
    check_memory(nbytes, f"{where}: n_steps", f"{n_tokens} tokens on {n} nodes recording {sorted(record) or 'nothing'}"
                 f" for {n_steps} steps", device=walk.device, change="use fewer tokens or steps, or record less")


def parse_record(record: Any, allowed: set[str]) -> set[str]:
    if record is None:
        return set()
    try:
        items = {record} if isinstance(record, str) else set(record)
    except TypeError:
        raise BadInputError("record", f"{record!r}", f"None, one of {sorted(allowed)} or a list of them") from None
    if not all(isinstance(item, str) for item in items):
        raise BadInputError("record", f"{record!r}", f"None, one of {sorted(allowed)} or a list of them")
    bad = items - allowed
    if bad:
        raise BadInputError(f"record must be None or a subset of {sorted(allowed)}, got {sorted(map(str, bad))}")
    return items


def start_nodes(
    start: Any, n_tokens: int, n: int, gen: torch.Generator, device: torch.device, law: torch.Tensor | None
) -> torch.Tensor:
    """Start indices: ``None`` draws from ``law`` (uniform if ``None``), an int or ``(n_tokens,)`` tensor is used."""
    if start is None:
        if law is None:
            return torch.randint(0, n, (n_tokens,), generator=gen, device=device)
        return torch.multinomial(law.to(device=device, dtype=torch.float64), n_tokens, replacement=True, generator=gen)
    try:
        out = torch.as_tensor(start, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise BadInputError("start", f"a {type(start).__name__} that is not an array of node indices",
                            "None, an int or integer node indices (positions in node_order(graph))") from None
    if out.is_floating_point() or out.is_complex() or out.dtype == torch.bool:
        raise BadInputError("start must hold integer node indices (positions in node_order(graph))")
    out = out.to(torch.int64)
    if out.ndim == 0:
        out = out.expand(n_tokens)
    if out.shape != (n_tokens,):
        raise BadInputError(f"start must be an int or have shape ({n_tokens},), got shape {tuple(out.shape)}")
    if bool(((out < 0) | (out >= n)).any()):
        raise BadInputError(f"start indices must lie in [0, {n - 1}]")
    return out.clone()
