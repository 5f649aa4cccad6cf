"""Reproducible analysis reports: a folder with ``report.html``, ``metrics.json``, ``environment.json`` and figures.

``report.html`` is self-contained (figures embedded as base64 PNG) and rendered from the Jinja2 template
``dynfer/templates/report.html.j2`` (autoescaped): the report keeps its content as structured blocks (dicts with a
``kind``), grouped into sections by :meth:`Report.sections`, and the template alone writes HTML.

``metrics.json`` holds only quantities that are a deterministic function of the inputs and the seed, so re-running
with the same seed on the CPU reproduces it exactly; wall-clock timings go to ``timings.json`` instead.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import numbers
import platform
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from dynfer._errors import BadInputError
from dynfer._files import check_out_dir, sha256_file

__all__ = ["Report", "environment_info", "sha256_file"]

_FIGURE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_PACKAGES = ("dynfer", "torch", "numpy", "scipy", "pot", "anndata", "scanpy", "pandas", "networkx", "matplotlib")


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment_info(*, seed: int | None, device: str, inputs: dict[str, str | Path] | None = None) -> dict[str, Any]:
    """Package versions, platform, device, seed, git commit and the sha256 of every input file."""
    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": device,
        "seed": seed,
        "git_commit": _git_commit(),
        "inputs": {name: {"path": Path(p).name, "sha256": sha256_file(p)} for name, p in (inputs or {}).items()},
    }


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dynfer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


def _json(value: Any) -> str:
    return json.dumps(_clean(value), indent=2, sort_keys=True) + "\n"


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy/torch scalars to Python, NaN/inf refused (a report never hides them)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInputError(f"metric value {value!r} is not finite; reports refuse NaN/inf metrics")
    return value


@dataclass
class Report:
    """An analysis report built section by section, then written to a folder with :meth:`write`.

    Each ``add_*`` call appends one block, a dict with a ``kind`` (``"heading"``, ``"text"``, ``"table"`` or
    ``"figure"``) and the data the template needs; all escaping is left to the template.
    """

    title: str
    summary: str = ""
    _blocks: list[dict[str, Any]] = field(default_factory=list)
    _figures: dict[str, bytes] = field(default_factory=dict)

    def add_heading(self, text: str) -> None:
        """Start a new section."""
        self._blocks.append({"kind": "heading", "text": str(text)})

    def add_text(self, text: str) -> None:
        """A paragraph of plain text (escaped)."""
        self._blocks.append({"kind": "text", "text": str(text)})

    def add_table(self, rows: list[dict[str, Any]], *, caption: str | None = None, digits: int = 4) -> None:
        """A table from a list of dicts with the same keys (numbers rounded to ``digits`` significant digits).

        The columns are the keys of the first row; a key missing from a later row gives an empty cell. Integers
        and text are shown as they are, other real numbers (Python, numpy) with ``digits`` significant digits.
        """
        if not rows:
            raise BadInputError("rows must hold at least one row")
        columns = [str(c) for c in rows[0]]

        def fmt(v: Any) -> str:
            if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral):
                return f"{float(v):.{digits}g}"
            return str(v)

        cells = [[fmt(r[c]) if c in r else "" for c in rows[0]] for r in rows]
        self._blocks.append({"kind": "table", "caption": caption or "", "columns": columns, "rows": cells})

    def add_figure(self, fig: Any, name: str, *, caption: str = "") -> None:
        """Embed a matplotlib figure (also written as ``<name>.png``)."""
        if not isinstance(name, str) or not _FIGURE_NAME.fullmatch(name):
            raise BadInputError(f"name must be alphanumeric with - or _, got {name!r}")
        if name in self._figures:
            raise BadInputError(f"a figure named {name!r} is already in the report")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        png = buf.getvalue()
        self._figures[name] = png
        self._blocks.append({"kind": "figure", "name": name, "caption": str(caption),
                             "png_base64": base64.b64encode(png).decode("ascii")})

    def sections(self) -> list[dict[str, Any]]:
        """The blocks grouped into sections: ``[{"title": str | None, "blocks": [...]}, ...]``.

        Every heading opens a section; blocks added before the first heading form a section with ``title`` None
        (left out when there are none). The blocks are copies: changing them does not change the report.
        """
        out: list[dict[str, Any]] = []
        for block in self._blocks:
            if block["kind"] == "heading":
                out.append({"title": block["text"], "blocks": []})
                continue
            if not out:
                out.append({"title": None, "blocks": []})
            out[-1]["blocks"].append(dict(block))
        return out

    def write(
        self,
        out_dir: str | Path,
        *,
        metrics: dict[str, Any],
        seed: int | None,
        device: str,
        inputs: dict[str, str | Path] | None = None,
        timings: dict[str, float] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the report folder and return the path of ``report.html``.

        An existing non-empty folder is refused unless ``overwrite`` (nothing is silently replaced), and so is a
        path that is not a folder; with ``overwrite``, files the report does not write are kept. Everything is
        checked (metrics finite, page rendered) before the first file is written.
        """
        out = Path(out_dir)
        check_out_dir(out, overwrite)
        env = environment_info(seed=seed, device=device, inputs=inputs)
        files = {"metrics.json": _json(metrics), "environment.json": _json(env)}
        if timings:
            files["timings.json"] = _json(timings)
        page = _template().render(title=self.title, summary=self.summary, sections=self.sections(), env=env)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
        for name, png in self._figures.items():
            (out / f"{name}.png").write_bytes(png)
        (out / "report.html").write_text(page, encoding="utf-8")
        return out / "report.html"
