"""Sphinx configuration for the dynfer documentation (builds offline: no intersphinx, no remote assets fetched).

The maths renders offline too: ``sphinx-mathjax-offline`` (in the ``docs`` and ``test`` extras) copies MathJax 3
into ``_static/mathjax/`` of the build, and ``mathjax_path`` points at that copy instead of a CDN.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

project = "dynfer"
author = "dynfer developers"
copyright = "2026, dynfer developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
]
# Relative to ``_static`` of the build: the copy made by sphinx-mathjax-offline, never a CDN URL.
mathjax_path = "mathjax/tex-chtml.js"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["myst.header"]
