"""Property-based fuzzing of the graph readers: SNAP edge lists and MatrixMarket files (with and without a header).

Each public reader of ``dynfer.io.graphs`` that reads a file (``read_edge_list``, ``read_matrix_market`` on its two
paths) gets a small clean file written here, damaged by hypothesis with the text mutations of
``test_fuzz_activematter.py`` (truncation, byte flips, deleted or duplicated lines, NaN / inf / garbage / huge tokens
in place of a number, an empty file, a wrong encoding). The property: the reader raises
:class:`dynfer.BadInputError` naming the file, or returns a simple graph of the clean one's kind whose nodes are
Python ints in ``0 .. 2**63 - 1`` in ascending order, each written as a whole number in the damaged file (no id
invented by an overflow or a rounding: ``1e308`` is not node -9223372036854775808, ``1e-400`` not node 0), with no
self-loop and no more edges than the file has lines; a MatrixMarket graph with a header has the nodes ``1..n`` of
its size line. Never another exception, never a hang (2 s per example).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings

from dynfer import BadInputError
from dynfer.io.graphs import read_edge_list, read_matrix_market

_SHARED = Path(__file__).with_name("test_fuzz_activematter.py")
_spec = importlib.util.spec_from_file_location("_dynfer_fuzz_shared", _SHARED)
shared = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
if not hasattr(shared, "Case"):
    _spec.loader.exec_module(shared)

INT64_MAX = 2**63 - 1
NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
EDGES = [(1, 2), (2, 3), (3, 1), (3, 4), (4, 5), (5, 6), (6, 4), (7, 8), (8, 1), (2, 7)]


def _whole_numbers(data: bytes) -> set[int]:
    """Every whole number written in ``data`` (any notation), as the ids a graph read from it may have."""
    out = set()
    for match in NUMBER.finditer(data):
        value = Decimal(match.group().decode())
        if value.adjusted() < 20 and value == value.to_integral_value():
            out.add(int(value))
    return out


# ------------------------------------------------------------------------------------------------ clean files
def _snap(folder: Path) -> Path:
    path = folder / "graph.txt"
    path.write_text("# Directed graph (each unordered pair of nodes is saved once): graph.txt\n# Nodes: 8 Edges: 10\n"
                    "# FromNodeId\tToNodeId\n" + "".join(f"{u}\t{v}\n" for u, v in EDGES))
    return path


def _weighted(folder: Path) -> Path:
    path = folder / "weighted.edges"
    path.write_text("% weighted, 0-based\n" + "".join(f"{u - 1} {v - 1} {0.25 * (u + v)!r}\n" for u, v in EDGES))
    return path


def _headerless_mtx(folder: Path) -> Path:
    path = folder / "soc-tiny.mtx"
    path.write_text("".join(f"{u} {v}\n" for u, v in EDGES))
    return path


def _adjacency() -> sp.coo_matrix:
    rows, cols = zip(*((u - 1, v - 1) for u, v in EDGES), strict=True)
    a = sp.coo_matrix((np.ones(len(EDGES)), (rows, cols)), shape=(9, 9))  # node 9 isolated
    return sp.coo_matrix(a + a.T)


def _mtx_pattern(folder: Path) -> Path:
    path = folder / "pattern.mtx"
    scipy.io.mmwrite(str(path), sp.tril(_adjacency()).tocoo(), field="pattern", symmetry="symmetric")
    return path


def _mtx_real(folder: Path) -> Path:
    path = folder / "real.mtx"
    a = _adjacency()
    scipy.io.mmwrite(str(path), sp.coo_matrix((a.data * 0.5 + a.row, (a.row, a.col)), shape=a.shape))
    return path


def _mtx_array(folder: Path) -> Path:
    path = folder / "dense.mtx"
    scipy.io.mmwrite(str(path), _adjacency().toarray()[:5, :5])
    return path


CASES: dict[str, tuple[Callable[[Path], Path], Callable[[Path], nx.Graph], bool]] = {
    # name: (write the clean file, read a file, whether it has a MatrixMarket header)
    "edge_list": (_snap, read_edge_list, False),
    "edge_list_weighted": (_weighted, lambda p: read_edge_list(p, comments=("#", "%")), False),
    "mtx_headerless": (_headerless_mtx, read_matrix_market, False),
    "mtx_pattern_symmetric": (_mtx_pattern, read_matrix_market, True),
    "mtx_real_general": (_mtx_real, read_matrix_market, True),
    "mtx_array": (_mtx_array, read_matrix_market, True),
}


# ------------------------------------------------------------------------------------------------ the property
def judge(read: Callable[[Path], nx.Graph], mutant: Path, header: bool) -> str:
    """Outcome of one damaged read: ``"error"``, ``"data"``, or ``"wrong: ..."`` / ``"raw: ..."`` (failures)."""
    data = mutant.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = read(mutant)
    except BadInputError as err:
        return "error" if mutant.name in str(err) else f"raw: BadInputError without the file name: {err}"
    except Exception as err:  # anything else is a failure of the reader
        return f"raw: {type(err).__name__}: {err}"
    if not isinstance(graph, nx.Graph) or graph.is_directed():
        return f"wrong: a {type(graph).__name__}, not an undirected networkx.Graph"
    nodes = list(graph.nodes())
    if not all(type(v) is int and 0 <= v <= INT64_MAX for v in nodes):
        return f"wrong: node ids {[v for v in nodes if not (type(v) is int and 0 <= v <= INT64_MAX)][:3]}"
    if nodes != sorted(nodes):
        return "wrong: nodes not in ascending order"
    if nx.number_of_selfloops(graph):
        return "wrong: self-loops kept"
    written = _whole_numbers(data)
    if header:
        if nodes != list(range(1, len(nodes) + 1)) or len(nodes) not in written:
            return f"wrong: nodes {nodes[:3]}...{nodes[-3:]} are not 1..n of the size line"
    elif set(nodes) - written:
        return f"wrong: nodes {sorted(set(nodes) - written)[:3]} are not written in the file"
    if graph.number_of_edges() > len(data.splitlines()):
        return f"wrong: {graph.number_of_edges()} edges from {len(data.splitlines())} lines"
    return "data"


@pytest.fixture(scope="module")
def clean_graphs(tmp_path_factory):
    out = {}
    for name, (build, read, _) in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        path = build(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert read(path).number_of_edges() > 0
        out[name] = (folder, path)
    return out


def _fuzz(name: str, clean_graphs, op) -> str:
    build, read, header = CASES[name]
    folder, path = clean_graphs[name]
    mutant = folder / f"mutant{path.suffix}"
    mutant.write_bytes(shared.mutate(path.read_bytes(), op))
    return judge(read, mutant, header)


def _make(n: int, slow: bool):
    @pytest.mark.parametrize("name", list(CASES))
    @settings(max_examples=n, derandomize=True, deadline=2000, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(op=shared.ops(shared.TEXT_KINDS))
    def test(name, clean_graphs, op):
        outcome = _fuzz(name, clean_graphs, op)
        assert outcome in ("error", "data"), outcome

    return pytest.mark.slow(test) if slow else test


test_fuzz_graph_readers = _make(150, slow=False)
test_fuzz_graph_readers_slow = _make(3000, slow=True)
