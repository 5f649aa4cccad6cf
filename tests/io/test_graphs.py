"""Graph readers on the staged SRRW graphs (counts from their PROVENANCE notes) and on small written files."""

from __future__ import annotations

import logging
import re

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from dynfer import BadInputError
from dynfer.io.graphs import largest_connected_component, read_edge_list, read_matrix_market

# (folder/file, nodes, edges, components, largest component nodes, edges) from ../shared/data/*/PROVENANCE.md and
# section 5 of the SRRW reference note
STAGED = [
    ("wikivote889/soc-wiki-Vote.mtx", 889, 2914, 1, 889, 2914),
    ("ego_facebook/facebook_combined.txt", 4039, 88234, 1, 4039, 88234),
    ("p2p_gnutella04/p2p-Gnutella04.txt", 10876, 39994, 1, 10876, 39994),
    ("p2p_gnutella08/p2p-Gnutella08.txt", 6301, 20777, 2, 6299, 20776),
]


@pytest.mark.parametrize(("name", "n", "m", "n_comp", "n_big", "m_big"), STAGED,
                         ids=[s[0].split("/")[0] for s in STAGED])
def test_staged_graphs(shared_data, name, n, m, n_comp, n_big, m_big, caplog):
    path = shared_data / name
    graph = read_matrix_market(path) if path.suffix == ".mtx" else read_edge_list(path)
    assert isinstance(graph, nx.Graph) and not graph.is_directed()
    assert graph.number_of_nodes() == n and graph.number_of_edges() == m
    assert nx.number_of_selfloops(graph) == 0
    assert nx.number_connected_components(graph) == n_comp
    nodes = list(graph.nodes())
    assert all(isinstance(v, int) for v in nodes[:10]) and nodes == sorted(nodes)
    with caplog.at_level(logging.WARNING, logger="dynfer.io.graphs"):
        big = largest_connected_component(graph)
    assert big.number_of_nodes() == n_big and big.number_of_edges() == m_big and nx.is_connected(big)
    if n_big < n:
        assert f"dropped {n - n_big} node(s) in {n_comp - 1} other component(s)" in caplog.text
    else:
        assert "dropped" not in caplog.text


def test_wikivote_labels_and_degrees(shared_data):
    graph = read_matrix_market(shared_data / "wikivote889" / "soc-wiki-Vote.mtx")  # headerless: edge-list fallback
    assert min(graph.nodes()) == 0 and max(graph.nodes()) == 888
    degrees = np.array([d for _, d in graph.degree()])
    assert degrees.min() == 1 and degrees.max() == 102 and round(degrees.mean(), 2) == 6.56  # PROVENANCE
    assert graph.has_edge(8, 1) and graph.has_edge(1, 8)  # first line of the file: "8 1"


def test_gnutella08_relabel(shared_data):
    graph = read_edge_list(shared_data / "p2p_gnutella08" / "p2p-Gnutella08.txt")
    assert min(graph.nodes()) == 1 and max(graph.nodes()) == 6301  # 1-based ids kept as in the file
    big = largest_connected_component(graph, relabel=True)
    assert list(big.nodes()) == list(range(6299))
    labels = [big.nodes[i]["label"] for i in range(6299)]
    assert labels == sorted(labels)
    assert all(graph.has_edge(big.nodes[u]["label"], big.nodes[v]["label"]) for u, v in list(big.edges())[:200])


def test_small_edge_list(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("# FromNodeId\tToNodeId\n# comment\n\n1\t2\n2 1\n2 3 0.5\n1 2\n3 3\n10 3\n")
    with pytest.warns(UserWarning, match="dropped 1 self-loop"):
        graph = read_edge_list(path)
    assert sorted(graph.nodes()) == [1, 2, 3, 10] and list(graph.nodes()) == [1, 2, 3, 10]
    assert {frozenset(e) for e in graph.edges()} == {frozenset(e) for e in [(1, 2), (2, 3), (3, 10)]}
    with pytest.warns(UserWarning):
        directed = read_edge_list(path, directed_as_undirected=False)
    assert directed.is_directed() and directed.number_of_edges() == 4  # 1->2, 2->1, 2->3, 10->3
    other = tmp_path / "p.txt"
    other.write_text("% pct comment\n0 1\n")
    assert read_edge_list(other, comments=("#", "%")).number_of_edges() == 1


def test_broken_edge_lists(tmp_path):
    (tmp_path / "one.txt").write_text("1 2\n3\n")
    with pytest.raises(BadInputError, match=r"one.txt, line 2: the line '3' has one column"):
        read_edge_list(tmp_path / "one.txt")
    (tmp_path / "float.txt").write_text("1 2.5\n")
    with pytest.raises(BadInputError, match=r"float.txt, line 1: the node id '2.5' is not a whole number"):
        read_edge_list(tmp_path / "float.txt")
    (tmp_path / "words.txt").write_text("alice bob\n")
    with pytest.raises(BadInputError, match=r"words.txt, line 1: the node id 'alice' is not a whole number"):
        read_edge_list(tmp_path / "words.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no edges"):
        read_edge_list(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_edge_list(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError):
        read_matrix_market(tmp_path / "missing.mtx")


def test_real_matrix_market(tmp_path):
    # a symmetric pattern adjacency of the path 1-2-3 plus the edge 1-4 and a diagonal entry (self-loop)
    rows, cols = np.array([0, 1, 2, 3, 0]), np.array([1, 2, 0, 0, 0])
    a = sp.coo_matrix((np.ones(5), (rows, cols)), shape=(5, 5))
    scipy.io.mmwrite(str(tmp_path / "g.mtx"), a)
    assert (tmp_path / "g.mtx").read_text().startswith("%%MatrixMarket")
    with pytest.warns(UserWarning, match="self-loop"):
        graph = read_matrix_market(tmp_path / "g.mtx")
    assert list(graph.nodes()) == [1, 2, 3, 4, 5]  # 1-based as in the file; row 5 is isolated
    assert {frozenset(e) for e in graph.edges()} == {frozenset(e) for e in [(1, 2), (2, 3), (3, 1), (4, 1)]}
    sym = sp.coo_matrix(nx.to_scipy_sparse_array(nx.karate_club_graph()))
    scipy.io.mmwrite(str(tmp_path / "k.mtx"), sym, symmetry="symmetric")
    karate = read_matrix_market(tmp_path / "k.mtx")
    assert karate.number_of_nodes() == 34 and karate.number_of_edges() == 78
    scipy.io.mmwrite(str(tmp_path / "r.mtx"), sp.coo_matrix(np.ones((2, 3))))
    with pytest.raises(BadInputError, match=r"r.mtx, line 3: the size line gives a 2 x 3 matrix; expected a square"):
        read_matrix_market(tmp_path / "r.mtx")


def test_largest_component_checks():
    with pytest.raises(ValueError, match="directed"):
        largest_connected_component(nx.DiGraph([(0, 1)]))
    with pytest.raises(ValueError, match="no nodes"):
        largest_connected_component(nx.Graph())
    graph = nx.Graph([(5, 6), (6, 7), (1, 2)])
    big = largest_connected_component(graph)
    assert sorted(big.nodes()) == [5, 6, 7]
    big.add_edge(100, 101)
    assert 100 not in graph  # an independent copy


# ------------------------------------------------------------------------------------------------ bad files fail loudly
@pytest.mark.parametrize("token", ["1e308", "9.3e18", "9223372036854775808", "-3", "1e-400", "2.5", "nan", "inf"])
@pytest.mark.parametrize("reader", ["edge_list", "mtx_headerless"])
def test_node_ids_are_exact_int64(tmp_path, token, reader):
    # before: 1e308 and 9.3e18 became node -9223372036854775808 and 1e-400 became node 0 (float parse, then astype)
    path = tmp_path / ("g.txt" if reader == "edge_list" else "g.mtx")
    path.write_text(f"1 2\n3 {token}\n2 3\n")
    read = read_edge_list if reader == "edge_list" else read_matrix_market
    with pytest.raises(BadInputError, match=rf"{path.name}, line 2: the node id '{re.escape(token)}' is (not a whole "
                                            r"number|outside 0\.\.9223372036854775807)"):
        read(path)


def test_whole_numbers_in_float_notation_are_node_ids(tmp_path):
    path = tmp_path / "saved.txt"
    np.savetxt(path, np.array([[0, 1], [1, 2], [9223372036854775807, 0]], dtype=np.int64)[:2].astype(float))
    assert sorted(read_edge_list(path).nodes()) == [0, 1, 2]  # np.savetxt writes 0.000000000000000000e+00
    big = tmp_path / "big.txt"
    big.write_text("9223372036854775807 0\n")
    assert sorted(read_edge_list(big).nodes()) == [0, 9223372036854775807]


def test_empty_and_utf16_edge_lists(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(BadInputError, match=r"empty.txt: no edges"):
        read_edge_list(tmp_path / "empty.txt")
    (tmp_path / "u16.txt").write_bytes("1 2\n2 3\n".encode("utf-16"))
    with pytest.raises(BadInputError, match=r"u16.txt, line 1: .*UTF-16"):
        read_edge_list(tmp_path / "u16.txt")


H = "%%MatrixMarket matrix coordinate real general\n"


@pytest.mark.parametrize(("body", "message"), [
    ("3 3 2\n1 2 nan\n2 3 1\n", r"line 3: the value 'nan' is not finite"),
    ("3 3 2\n1 2 inf\n2 3 1\n", r"line 3: the value 'inf' is not finite"),
    ("3 3 2\n1 2 1\n2 3d 1\n", r"line 4: the index '3d' is not a whole number in 1..3"),  # scipy read (2, 3)
    ("3 3 2\n1 2 1\n2 3 1x", r"line 4: the value '1x' is not a number"),  # scipy crashed (segfault)
    ("3 3 2\n1 2 1\n2 9 1\n", r"line 4: the index '9' is not a whole number in 1..3"),
    ("3 3 3\n1 2 1\n2 3 1\n", r"line 2: the size line promises 3 entries but only 2 lines follow"),
    ("3 3 2\n1 2 1\n", r"line 2: the size line promises 2 entries but only 1 lines follow"),
    ("3 3 1\n1 2 1\n2 3 1\n", r"line 4: more entries than the 1 of the size line"),
    ("3 3 2\n1 2\n2 3 1\n", r"line 3: the entry '1 2' has 2 field\(s\)"),
    ("99999999999 99999999999 2\n1 2 1\n2 3 1\n", r"line 2: the size line claims 99999999999 nodes for 2 entries"),
    ("3 3\n1 2 1\n", r"line 2: the size line '3 3' is not 3 non-negative integers"),
])
def test_broken_matrix_market(tmp_path, body, message):
    path = tmp_path / "bad.mtx"
    path.write_text(H + body)
    with pytest.raises(BadInputError, match=rf"bad.mtx, {message}"):
        read_matrix_market(path)


def test_damaged_matrix_market_banner_is_not_read_as_an_edge_list(tmp_path):
    path = tmp_path / "g.mtx"
    path.write_text("%%MatrixMarkeT matrix coordinate real general\n3 3 2\n1 2 1\n2 3 1\n")
    with pytest.raises(BadInputError, match=r"g.mtx, line 1: the banner .* is not a MatrixMarket header"):
        read_matrix_market(path)
    path.write_text("%%MatrixMarket matrix coordinate reel general\n3 3 2\n1 2 1\n2 3 1\n")
    with pytest.raises(BadInputError, match=r"g.mtx, line 1: the banner .* is not valid"):
        read_matrix_market(path)


def test_matrix_market_array_and_symmetric_layouts(tmp_path):
    dense = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    scipy.io.mmwrite(str(tmp_path / "a.mtx"), dense)
    assert {frozenset(e) for e in read_matrix_market(tmp_path / "a.mtx").edges()} == {frozenset((1, 2)),
                                                                                       frozenset((1, 3))}
    sym = dense + dense.T
    scipy.io.mmwrite(str(tmp_path / "s.mtx"), sym, symmetry="symmetric")
    assert "symmetric" in (tmp_path / "s.mtx").read_text().splitlines()[0]
    assert {frozenset(e) for e in read_matrix_market(tmp_path / "s.mtx").edges()} == {frozenset((1, 2)),
                                                                                       frozenset((1, 3))}
    scipy.io.mmwrite(str(tmp_path / "z.mtx"), sp.coo_matrix((4, 4)))
    assert list(read_matrix_market(tmp_path / "z.mtx").nodes()) == [1, 2, 3, 4]
