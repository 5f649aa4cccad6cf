"""Graph readers on the staged SRRW graphs (counts from their PROVENANCE notes) and on small written files."""

from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

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
    with pytest.raises(ValueError, match="not an edge list"):
        read_edge_list(tmp_path / "one.txt")
    (tmp_path / "float.txt").write_text("1 2.5\n")
    with pytest.raises(ValueError, match="node ids must be integers"):
        read_edge_list(tmp_path / "float.txt")
    (tmp_path / "words.txt").write_text("alice bob\n")
    with pytest.raises(ValueError, match="not an edge list"):
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
    with pytest.raises(ValueError, match="must be square"):
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
