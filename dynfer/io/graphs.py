"""Graph files to :class:`networkx.Graph`: SNAP-style edge lists and MatrixMarket files.

Graphs feed the random walks of :mod:`dynfer.processes.walks` (undirected, simple, connected). The readers keep
the integer node labels of the file and add nodes in ascending label order, so that node ``i`` of a walk
(``list(graph.nodes())[i]``) is the ``i``-th smallest label.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import networkx as nx
import numpy as np

from dynfer._errors import BadInputError

__all__ = ["largest_connected_component", "read_edge_list", "read_matrix_market"]

logger = logging.getLogger(__name__)


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    return path


def _graph_from_edges(edges: np.ndarray, nodes: np.ndarray, *, directed: bool, source: str) -> nx.Graph:
    loops = edges[:, 0] == edges[:, 1]
    if loops.any():
        warnings.warn(f"{source}: dropped {int(loops.sum())} self-loop edge(s) (u == v)", UserWarning, stacklevel=3)
        edges = edges[~loops]
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.add_nodes_from(nodes.tolist())
    graph.add_edges_from(edges.tolist())
    n_lines = len(edges)
    if graph.number_of_edges() != n_lines:
        logger.info("%s: %d edge line(s) collapsed to %d edges (duplicates%s)", source, n_lines,
                    graph.number_of_edges(), "" if directed else " and reversed pairs")
    return graph


def read_edge_list(
    path: str | Path,
    *,
    comments: str | tuple[str, ...] = "#",
    directed_as_undirected: bool = True,
) -> nx.Graph:
    """Read an edge list (SNAP style: ``u v`` per line) into a graph with the file's integer node labels.

    Parameters
    ----------
    path
        Text file, one edge per line: two integer node ids separated by spaces or tabs; further columns (weights,
        timestamps) are ignored. Blank lines and lines starting with ``comments`` are skipped.
    comments
        Comment prefix, or a tuple of them (``("#", "%")``).
    directed_as_undirected
        ``True`` (default): an undirected :class:`networkx.Graph`; ``u v`` and ``v u`` and repeated lines collapse to
        one edge. ``False``: a :class:`networkx.DiGraph` (repeated lines still collapse).

    Returns
    -------
    networkx.Graph or networkx.DiGraph
        Nodes are the integer ids of the file (those that appear in some edge), added in ascending order.
        Self-loops are dropped with a ``UserWarning``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A line with fewer than two columns, a non-integer node id, or no edge at all.

    References
    ----------
    J. Leskovec and A. Krevl, SNAP Datasets: Stanford large network dataset collection (2014),
    https://snap.stanford.edu/data (file layout).
    """
    path = _check_file(path)
    prefixes = (comments,) if isinstance(comments, str) else tuple(comments)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy warns "input contained no data" on empty files
            raw = np.loadtxt(path, comments=prefixes, usecols=(0, 1), dtype=np.float64, ndmin=2)
    except (ValueError, IndexError) as exc:
        raise BadInputError(f"{path}: not an edge list of 'u v' integer pairs ({exc})") from None
    if raw.size == 0:
        raise BadInputError(f"{path}: no edges (only comments or blank lines)")
    if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
        raise BadInputError(f"{path}: node ids must be integers")
    edges = raw.astype(np.int64)
    nodes = np.unique(edges)
    return _graph_from_edges(edges, nodes, directed=not directed_as_undirected, source=str(path))


def read_matrix_market(path: str | Path) -> nx.Graph:
    """Read a MatrixMarket adjacency matrix as an undirected simple graph.

    Parameters
    ----------
    path
        A ``.mtx`` file. With a ``%%MatrixMarket`` header it is read by :func:`scipy.io.mmread` (coordinate or
        array, pattern / real / integer, general or symmetric). Without the header the file is taken as a plain
        ``u v`` edge list (``#`` and ``%`` comment lines skipped) and read with :func:`read_edge_list`: some
        distributed ``.mtx`` files, such as the ``soc-wiki-Vote.mtx`` of the SRRW benchmarks, are edge lists with a
        MatrixMarket name.

    Returns
    -------
    networkx.Graph
        With a header: nodes ``1..n`` (the 1-based row/column indices of the file, isolated rows included); an
        entry (i, j) or (j, i) gives the edge {i, j}; values are ignored. Without a header: the labels of the edge
        list. Self-loops (diagonal entries) are dropped with a ``UserWarning``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A non-square matrix, or a file that is neither MatrixMarket nor an edge list.

    References
    ----------
    R. F. Boisvert, R. Pozo and K. Remington, The Matrix Market exchange formats: initial design, NISTIR 5935
    (1996).
    """
    path = _check_file(path)
    with open(path, "rb") as handle:
        head = handle.read(14)
    if not head.startswith(b"%%MatrixMarket"):
        logger.info("%s has no %%%%MatrixMarket header: reading it as a 'u v' edge list", path)
        return read_edge_list(path, comments=("#", "%"))
    from scipy.io import mmread
    from scipy.sparse import coo_matrix, issparse

    try:
        matrix = mmread(str(path))
    except Exception as exc:  # scipy raises ValueError / fast_matrix_market errors on malformed files
        raise BadInputError(f"{path}: malformed MatrixMarket file ({exc})") from exc
    coo = coo_matrix(matrix) if not issparse(matrix) else matrix.tocoo()
    if coo.shape[0] != coo.shape[1]:
        raise BadInputError(f"{path}: an adjacency matrix must be square, got shape {coo.shape}")
    keep = coo.data != 0 if coo.dtype != bool else np.ones(coo.nnz, dtype=bool)
    edges = np.stack([coo.row[keep], coo.col[keep]], axis=1).astype(np.int64) + 1
    nodes = np.arange(1, coo.shape[0] + 1, dtype=np.int64)
    return _graph_from_edges(edges, nodes, directed=False, source=str(path))


def largest_connected_component(graph: nx.Graph, *, relabel: bool = False) -> nx.Graph:
    """The largest connected component of an undirected graph, as an independent copy.

    Parameters
    ----------
    graph
        An undirected :class:`networkx.Graph` (for a directed graph pass ``graph.to_undirected()`` first).
    relabel
        If ``True``, relabel the nodes ``0..n-1`` in ascending order of the old labels, which are kept in the node
        attribute ``"label"``.

    Returns
    -------
    networkx.Graph
        ``graph.subgraph(largest component).copy()`` (ties: the component met first in node order). The number of
        dropped nodes and components is logged at WARNING level on the ``dynfer.io.graphs`` logger when any are
        dropped.

    Raises
    ------
    ValueError
        A directed or empty graph.
    """
    if not isinstance(graph, nx.Graph):
        raise BadInputError(f"graph must be a networkx.Graph, got {type(graph).__name__}")
    if graph.is_directed():
        raise BadInputError("graph is directed: pass graph.to_undirected() (or use weakly connected components)")
    if graph.number_of_nodes() == 0:
        raise BadInputError("graph has no nodes")
    components = list(nx.connected_components(graph))
    largest = max(components, key=len)  # ties: the component met first in node order
    dropped = graph.number_of_nodes() - len(largest)
    if dropped:
        logger.warning("largest_connected_component: kept %d of %d nodes; dropped %d node(s) in %d other "
                       "component(s)", len(largest), graph.number_of_nodes(), dropped, len(components) - 1)
    sub = graph.subgraph(largest).copy()
    if not relabel:
        return sub
    ordered = sorted(sub.nodes()) if _orderable(sub.nodes()) else list(sub.nodes())
    index = {old: new for new, old in enumerate(ordered)}
    out = graph.__class__()
    out.graph.update(sub.graph)
    out.add_nodes_from((index[old], {**sub.nodes[old], "label": old}) for old in ordered)
    out.add_edges_from((index[u], index[v], data) for u, v, data in sub.edges(data=True))
    return out


def _orderable(nodes) -> bool:
    try:
        sorted(nodes)
    except TypeError:
        return False
    return True
