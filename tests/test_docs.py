"""The documentation builds offline, with every page and autodoc target resolving."""

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    sphinx_build = pytest.importorskip("sphinx.cmd.build")
    pytest.importorskip("myst_parser")
    status = sphinx_build.build_main(["-b", "html", "-q", "-W", "--keep-going", "-d", str(tmp_path / "doctrees"),
                                      str(DOCS), str(tmp_path / "html")])
    assert status == 0, "sphinx-build reported warnings or errors (run it by hand to see them)"
    assert (tmp_path / "html" / "index.html").exists()
