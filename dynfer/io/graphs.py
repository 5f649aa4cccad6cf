"""Graph files to :class:`networkx.Graph`: SNAP-style edge lists and MatrixMarket files.

Graphs feed the random walks of :mod:`dynfer.processes.walks` (undirected, simple, connected). The readers keep
the integer node labels of the file and add nodes in ascending label order, so that node ``i`` of a walk
(``list(graph.nodes())[i]``) is the ``i``-th smallest label.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
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


_INT_TOKEN = re.compile(rb"[+-]?[0-9]+")
_DECIMAL_TOKEN = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64_MAX = np.iinfo(np.int64).max
#: A MatrixMarket size line may claim at most this many nodes per stored entry (beyond _MM_FREE_NODES): more would
#: be a graph of almost only isolated nodes, the sign of a corrupted size line (and too large for networkx).
_MM_NODES_PER_ENTRY = 10
_MM_FREE_NODES = 100_000


def _show(token: bytes) -> str:
    """A token or line of a text file as the user would read it (non-ASCII bytes escaped)."""
    text = token.decode("utf-8", errors="backslashreplace")
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _encoding_hint(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        return "the file looks UTF-16 encoded or binary: save it as plain ASCII/UTF-8 text"
    return None


def _node_id(token: bytes, path: Path, line: int, data: bytes) -> int:
    """One node id: an exact integer in 0..2**63-1 (decimal, or float notation of a whole number such as ``1.0e+00``).

    Float notation is parsed exactly (:class:`decimal.Decimal`), so ``1e-400`` is not taken for 0 nor ``9.3e18`` for
    a wrapped-around int64.
    """
    value: int | None = None
    if _INT_TOKEN.fullmatch(token):
        value = int(token)
    elif _DECIMAL_TOKEN.fullmatch(token):
        try:
            exact = Decimal(token.decode("ascii"))
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            exact = None
        if exact is not None and exact == exact.to_integral_value():
            # adjusted() is the decimal exponent: beyond 19 digits it is out of range, whatever the digits
            value = int(exact) if exact.adjusted() < 19 else _INT64_MAX + 1
    if value is None:
        raise BadInputError(str(path), f"the node id {_show(token)} is not a whole number",
                            "two integer node ids 'u v' per line", line=line, hint=_encoding_hint(data))
    if not 0 <= value <= _INT64_MAX:
        raise BadInputError(str(path), f"the node id {_show(token)} is outside 0..{_INT64_MAX}",
                            "non-negative node ids that fit in int64", line=line)
    return value


def _scan_edge_lines(path: Path, data: bytes, prefixes: tuple[bytes, ...]) -> np.ndarray:
    """Parse an edge list line by line; raise at the first bad line, naming it and its token."""
    edges: list[tuple[int, int]] = []
    for line_no, line in enumerate(data.splitlines(), start=1):
        for prefix in prefixes:
            cut = line.find(prefix)
            if cut >= 0:
                line = line[:cut]
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise BadInputError(str(path), f"the line {_show(line.strip())} has one column",
                                "two node ids 'u v' per line", line=line_no, hint=_encoding_hint(data))
        edges.append((_node_id(fields[0], path, line_no, data), _node_id(fields[1], path, line_no, data)))
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def _edge_ids(path: Path, comments: tuple[str, ...]) -> np.ndarray:
    """The ``(u, v)`` pairs of an edge-list file as int64, every id checked to be an exact non-negative int64."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(str(path), f"cannot be read ({exc.strerror or exc})", "a readable edge-list file") from None
    prefixes = tuple(c.encode("utf-8") for c in comments if c)
    try:  # fast path: numpy's strict int64 parser refuses '1.0', '1e308', '9.3e18', '1e-400' and overflow
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy warns "input contained no data" on empty files
            edges = np.loadtxt(io.BytesIO(data), comments=prefixes or None, usecols=(0, 1), dtype=np.int64,
                               ndmin=2)
    except (ValueError, IndexError, OverflowError):
        edges = None
    if edges is None or (edges < 0).any():
        # slow path: exact line-by-line parse; accepts whole numbers in float notation, raises at the first bad line
        edges = _scan_edge_lines(path, data, prefixes)
    if edges.size == 0:
        raise BadInputError(str(path), "no edges (only comments or blank lines)", "at least one line 'u v'",
                            hint=_encoding_hint(data))
    return edges


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
        Text file, one edge per line: two node ids separated by spaces or tabs; further columns (weights,
        timestamps) are ignored and not checked. A node id is an exact whole number in ``0 .. 2**63 - 1``, written
        as an integer (``17``) or in float notation of a whole number (``1.7e+01``, as ``numpy.savetxt`` writes);
        ``2.5``, ``1e-400``, ``1e308`` or ``-3`` are refused. Blank lines are skipped, and text from a ``comments``
        prefix to the end of its line is ignored.
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
    BadInputError
        (a ``ValueError``) naming the file, the line and the token: a line with one column, a node id that is not a
        whole number, negative or beyond int64, or a file without any edge (an empty file, only comments, a UTF-16
        file: the message says so).

    References
    ----------
    J. Leskovec and A. Krevl, SNAP Datasets: Stanford large network dataset collection (2014),
    https://snap.stanford.edu/data (file layout).
    """
    path = _check_file(path)
    edges = _edge_ids(path, (comments,) if isinstance(comments, str) else tuple(comments))
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
    BadInputError
        (a ``ValueError``) naming the file and, where it applies, the line: a damaged ``%%`` banner, a bad or
        missing size line, a non-square matrix, fewer entries than the size line promises, an index out of range,
        a NaN or infinite value, a size line claiming more than ``10 * entries + 100000`` nodes (a corrupted size
        line: the graph would be almost only isolated nodes), or, for a header-less file, anything
        :func:`read_edge_list` refuses.

    References
    ----------
    R. F. Boisvert, R. Pozo and K. Remington, The Matrix Market exchange formats: initial design, NISTIR 5935
    (1996).
    """
    path = _check_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(str(path), f"cannot be read ({exc.strerror or exc})", "a readable .mtx file") from None
    if not data.startswith(b"%%MatrixMarket"):
        if data.startswith(b"%%"):
            first = data.splitlines()[0]
            raise BadInputError(str(path), f"the banner {_show(first)} is not a MatrixMarket header",
                                "'%%MatrixMarket matrix <format> <field> <symmetry>'", line=1,
                                hint="the header is damaged; restore it, or delete the line to read the file as a "
                                     "'u v' edge list")
        logger.info("%s has no %%%%MatrixMarket header: reading it as a 'u v' edge list", path)
        return read_edge_list(path, comments=("#", "%"))
    edges, n_nodes = _read_mm_body(path, data)
    nodes = np.arange(1, n_nodes + 1, dtype=np.int64)
    return _graph_from_edges(edges, nodes, directed=False, source=str(path))


_MM_VALUES = {b"pattern": 0, b"real": 1, b"double": 1, b"integer": 1, b"complex": 2}
_MM_SYMMETRY = (b"general", b"symmetric", b"skew-symmetric", b"hermitian")
_FLOAT_TOKEN = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class _MMLayout:
    """What the banner and the size line of a MatrixMarket file say, and where the entries start."""

    coordinate: bool
    n_values: int  # values per entry: 0 (pattern), 1 (real, integer), 2 (complex)
    symmetry: bytes
    n: int
    entries: int  # lines of entries the file must hold
    body: int  # byte offset of the first line after the size line
    size_line: int  # its line number

    @property
    def n_fields(self) -> int:
        return (2 if self.coordinate else 0) + self.n_values


def _mm_layout(path: Path, data: bytes) -> _MMLayout:
    """Check the banner and the size line; refuse what a corrupted size line would make the reader allocate."""
    where = str(path)
    first = data.split(b"\n", 1)[0]
    banner = first.split()
    words = [w.lower() for w in banner[1:5]]
    if len(banner) != 5 or words[0] != b"matrix" or words[1] not in (b"coordinate", b"array") \
            or words[2] not in _MM_VALUES or words[3] not in _MM_SYMMETRY:
        raise BadInputError(where, f"the banner {_show(first.strip())} is not valid",
                            "'%%MatrixMarket matrix coordinate|array real|integer|pattern|complex "
                            "general|symmetric|skew-symmetric|hermitian'", line=1)
    coordinate, n_values, symmetry = words[1] == b"coordinate", _MM_VALUES[words[2]], words[3]
    if not coordinate and n_values == 0:
        raise BadInputError(where, "the banner declares a pattern matrix in array format", "coordinate format "
                            "for a pattern matrix", line=1)
    stream = io.BytesIO(data)
    stream.readline()
    line_no, size = 1, b""
    for raw in stream:
        line_no += 1
        if raw.strip() and not raw.startswith(b"%"):
            size = raw
            break
    fields = size.split()
    want = 3 if coordinate else 2
    if not fields:
        raise BadInputError(where, "there is no size line after the banner", "'rows cols entries'", line=line_no)
    if len(fields) != want or not all(_INT_TOKEN.fullmatch(f) and not f.startswith(b"-") for f in fields):
        raise BadInputError(where, f"the size line {_show(size.strip())} is not {want} non-negative integers",
                            "'rows cols entries'" if coordinate else "'rows cols'", line=line_no)
    rows, cols = int(fields[0]), int(fields[1])
    if rows != cols:
        raise BadInputError(where, f"the size line gives a {rows} x {cols} matrix", "a square adjacency matrix",
                            line=line_no)
    if coordinate:
        entries = int(fields[2])
    else:  # column-major values: all of them, or the lower triangle of a (skew-)symmetric or hermitian matrix
        entries = {b"general": rows * rows, b"skew-symmetric": rows * (rows - 1) // 2}.get(symmetry,
                                                                                         rows * (rows + 1) // 2)
    lines_left = data.count(b"\n", stream.tell()) + (0 if data.endswith(b"\n") else 1)
    if entries > lines_left:
        raise BadInputError(where, f"the size line promises {entries} entries but only {lines_left} lines follow",
                            "one entry per line", line=line_no, hint="the file is truncated or the size line damaged")
    if coordinate and rows > _MM_NODES_PER_ENTRY * entries + _MM_FREE_NODES:
        raise BadInputError(where, f"the size line claims {rows} nodes for {entries} entries",
                            f"at most {_MM_NODES_PER_ENTRY} nodes per entry (plus {_MM_FREE_NODES})", line=line_no,
                            hint="a graph of almost only isolated nodes: the size line is probably damaged")
    return _MMLayout(coordinate, n_values, symmetry, rows, entries, stream.tell(), line_no)


def _scan_mm_body(path: Path, data: bytes, layout: _MMLayout) -> None:
    """Check the entries line by line and raise at the first bad one, naming the line and the token."""
    where = str(path)
    count = 0
    lines = data[layout.body:].splitlines()
    for line_no, line in enumerate(lines, start=layout.size_line + 1):
        cut = line.find(b"%")
        fields = (line if cut < 0 else line[:cut]).split()
        if not fields:
            continue
        count += 1
        if count > layout.entries:
            raise BadInputError(where, f"more entries than the {layout.entries} of the size line", "no more lines",
                                line=line_no)
        if len(fields) != layout.n_fields:
            raise BadInputError(where, f"the entry {_show(line.strip())} has {len(fields)} field(s)",
                                f"{layout.n_fields} ('row col' and {layout.n_values} value(s))" if layout.coordinate
                                else f"{layout.n_fields} value(s) per line", line=line_no, hint=_encoding_hint(data))
        indices = fields[:2] if layout.coordinate else []
        for token in indices:
            if not _INT_TOKEN.fullmatch(token) or not 1 <= int(token) <= layout.n:
                raise BadInputError(where, f"the index {_show(token)} is not a whole number in 1..{layout.n}",
                                    "1-based row and column indices within the size line's", line=line_no)
        for token in fields[len(indices):]:
            special = token.lower().lstrip(b"+-") in (b"nan", b"inf", b"infinity")
            if not (special or _FLOAT_TOKEN.fullmatch(token)):
                raise BadInputError(where, f"the value {_show(token)} is not a number", "finite numbers",
                                    line=line_no, hint=_encoding_hint(data))
            if not np.isfinite(float(token)):
                raise BadInputError(where, f"the value {_show(token)} is not finite", "finite numbers", line=line_no)
    if count < layout.entries:
        raise BadInputError(where, f"{count} entries where the size line promises {layout.entries}",
                            "one line per entry", line=layout.size_line, hint="the file is truncated")


def _read_mm_body(path: Path, data: bytes) -> tuple[np.ndarray, int]:
    """The 1-based edges ``(i, j)`` with a nonzero value (every entry of a pattern matrix) and the number of nodes.

    Parsed here, strictly, rather than by :func:`scipy.io.mmread`: scipy's fast_matrix_market parser crashes the
    process (segmentation fault) on some damaged files, such as one whose last line lost its newline to a stray
    byte, and reads ``2 3d`` as the entry (2, 3). The entries go through numpy's parser (whole numbers for the
    indices); whenever anything is off, a line-by-line scan names the first bad line and token.
    """
    layout = _mm_layout(path, data)
    body = io.BytesIO(data[layout.body:])
    table = indices = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data" for an empty matrix
            table = np.loadtxt(body, dtype=np.float64, comments="%", ndmin=2)
            if layout.coordinate and len(table):
                body.seek(0)
                indices = np.loadtxt(body, dtype=np.int64, comments="%", usecols=(0, 1), ndmin=2)
    except (ValueError, IndexError, OverflowError):
        table = None
    n = layout.n
    ok = table is not None and len(table) == layout.entries and (not len(table) or table.shape[1] == layout.n_fields)
    if ok and len(table):
        ok = bool(np.isfinite(table).all())
        if ok and layout.coordinate:
            ok = indices is not None and bool(((indices >= 1) & (indices <= n)).all())
    if not ok:
        _scan_mm_body(path, data, layout)  # raises at the first bad line
        raise BadInputError(str(path), "entries numpy cannot parse", "a valid MatrixMarket file")  # pragma: no cover
    if layout.coordinate:
        rows, cols = (indices[:, 0], indices[:, 1]) if len(table) else (np.zeros(0, np.int64),) * 2
        values = table[:, 2:]
    else:
        if layout.symmetry == b"general":
            k = np.arange(layout.entries)
            rows, cols = k % n + 1, k // n + 1
        else:  # column-major lower triangle, without the diagonal when skew-symmetric
            c, r = np.triu_indices(n, k=1 if layout.symmetry == b"skew-symmetric" else 0)
            rows, cols = r + 1, c + 1
        values = table
    keep = (values != 0).any(axis=1) if layout.n_values else np.ones(len(rows), dtype=bool)
    return np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64), n


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
