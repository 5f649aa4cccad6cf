"""The documentation builds offline, with every page and autodoc target resolving, and its maths renders offline."""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    """Build the docs once for this module; returns (sphinx-build status, html folder)."""
    sphinx_build = pytest.importorskip("sphinx.cmd.build")
    pytest.importorskip("myst_parser")
    pytest.importorskip("sphinx-mathjax-offline", reason="the docs extra's sphinx-mathjax-offline is not installed")
    tmp = tmp_path_factory.mktemp("docs")
    status = sphinx_build.build_main(["-b", "html", "-q", "-W", "--keep-going", "-d", str(tmp / "doctrees"),
                                      str(DOCS), str(tmp / "html")])
    return status, tmp / "html"


def test_docs_build_without_warnings(built_docs):
    status, html = built_docs
    assert status == 0, "sphinx-build reported warnings or errors (run it by hand to see them)"
    assert (html / "index.html").exists()


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        src = dict(attrs).get("src")
        if tag == "script" and src:
            self.srcs.append(src)


def test_docs_mathjax_is_local(built_docs):
    status, html = built_docs
    assert status == 0
    pages = sorted(html.rglob("*.html"))
    with_math = 0
    for page in pages:
        parser = _Scripts()
        parser.feed(page.read_text(encoding="utf-8"))
        for src in parser.srcs:
            if "mathjax" not in src.lower():
                continue
            with_math += 1
            parts = urlsplit(src)
            assert not parts.scheme and not parts.netloc, f"{page.relative_to(html)} loads MathJax from {src!r}"
            script = (page.parent / parts.path).resolve()
            assert script.is_file(), f"{page.relative_to(html)} references {src!r}, missing from the build"
            assert script.is_relative_to(html.resolve())
            # tex-chtml fetches its fonts next to itself: they must be in the build too.
            assert any((script.parent / "output" / "chtml" / "fonts").rglob("*.woff"))
    # The backend pages hold maths ($...$ via myst dollarmath), so some page must load MathJax.
    assert with_math > 0, "no page loads MathJax"
