"""Reproducible analysis reports: a folder with ``report.html``, ``metrics.json``, ``environment.json`` and figures.

``report.html`` is self-contained (figures embedded as base64 PNG). ``metrics.json`` holds only quantities that
are a deterministic function of the inputs and the seed, so re-running with the same seed on the CPU reproduces
it exactly; wall-clock timings go to ``timings.json`` instead.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from dynfer._files import sha256_file

__all__ = ["Report", "environment_info", "sha256_file"]

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


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy/torch scalars to Python, NaN/inf refused (a report never hides them)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"metric value {value!r} is not finite; reports refuse NaN/inf metrics")
    return value


@dataclass
class Report:
    """An analysis report built section by section, then written to a folder with :meth:`write`."""

    title: str
    summary: str = ""
    _blocks: list[str] = field(default_factory=list)
    _figures: dict[str, bytes] = field(default_factory=dict)

    def add_heading(self, text: str) -> None:
        """Start a new section."""
        self._blocks.append(f"<h2>{html.escape(text)}</h2>")

    def add_text(self, text: str) -> None:
        """A paragraph of plain text (escaped)."""
        self._blocks.append(f"<p>{html.escape(text)}</p>")

    def add_table(self, rows: list[dict[str, Any]], *, caption: str | None = None, digits: int = 4) -> None:
        """A table from a list of dicts with the same keys (numbers rounded to ``digits`` significant digits)."""
        if not rows:
            raise ValueError("rows must hold at least one row")
        cols = list(rows[0])

        def fmt(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.{digits}g}"
            return html.escape(str(v))

        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._blocks.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def add_figure(self, fig: Any, name: str, *, caption: str = "") -> None:
        """Embed a matplotlib figure (also written as ``<name>.png``)."""
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name must be alphanumeric with - or _, got {name!r}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        png = buf.getvalue()
        self._figures[name] = png
        b64 = base64.b64encode(png).decode("ascii")
        self._blocks.append(
            f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{b64}"/>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

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

        An existing non-empty folder is refused unless ``overwrite`` (nothing is silently replaced).
        """
        out = Path(out_dir)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise ValueError(f"out_dir {str(out)!r} exists and is not empty; choose another or pass overwrite=True")
        out.mkdir(parents=True, exist_ok=True)
        env = environment_info(seed=seed, device=device, inputs=inputs)
        (out / "metrics.json").write_text(json.dumps(_clean(metrics), indent=2, sort_keys=True) + "\n")
        (out / "environment.json").write_text(json.dumps(_clean(env), indent=2, sort_keys=True) + "\n")
        if timings:
            (out / "timings.json").write_text(json.dumps(_clean(timings), indent=2, sort_keys=True) + "\n")
        for name, png in self._figures.items():
            (out / f"{name}.png").write_bytes(png)
        env_rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in env["packages"].items()
        )
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.45}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:.25em .6em;text-align:right}}
th{{background:#eee}}caption{{font-weight:bold;text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(self.title)}</h1><p>{html.escape(self.summary)}</p>
{"".join(self._blocks)}
<h2>Environment</h2><p>seed {env["seed"]}, device {html.escape(device)}, git commit {env["git_commit"]},
created {env["created"]}</p><table><thead><tr><th>package</th><th>version</th></tr></thead><tbody>{env_rows}</tbody>
</table></body></html>
"""
        (out / "report.html").write_text(page)
        return out / "report.html"
