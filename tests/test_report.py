"""Report: escaping, number formatting, figures, the JSON files, the output-folder rules and well-formed HTML."""

import base64
import hashlib
import json
import math
from html.parser import HTMLParser
from importlib import metadata

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from dynfer._files import check_out_dir
from dynfer.report import _PACKAGES, Report

BALANCED = ("section", "table", "caption", "thead", "tbody", "tr", "th", "td", "figure", "figcaption", "p", "h1", "h2")


class _Page(HTMLParser):
    """Tables (caption, header cells, body rows), images, text and a check that the tags in BALANCED nest."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.starts = [], [], {}
        self.tables, self.imgs, self.h2, self.paragraphs = [], [], [], []
        self._text = None

    def handle_starttag(self, tag, attrs):
        self.starts[tag] = self.starts.get(tag, 0) + 1
        if tag in BALANCED:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append({"caption": None, "header": [], "rows": []})
        elif tag == "tr" and "tbody" in self.stack:
            self.tables[-1]["rows"].append([])
        elif tag == "img":
            self.imgs.append(dict(attrs))
        if tag in ("th", "td", "caption", "h2", "p"):
            self._text = ""

    def handle_endtag(self, tag):
        if tag in BALANCED:
            if not self.stack or self.stack[-1] != tag:
                self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            else:
                self.stack.pop()
        text, self._text = self._text, None
        if tag == "th":
            self.tables[-1]["header"].append(text)
        elif tag == "td":
            self.tables[-1]["rows"][-1].append(text)
        elif tag == "caption":
            self.tables[-1]["caption"] = text
        elif tag == "h2":
            self.h2.append(text)
        elif tag == "p":
            self.paragraphs.append(text)

    def handle_data(self, data):
        if self._text is not None:
            self._text += data


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _figure(values=(1.0, 2.0, 4.0)):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(values)
    return fig


def _write(report, out, **kw):
    kw.setdefault("metrics", {"a": 1})
    kw.setdefault("seed", 0)
    kw.setdefault("device", "cpu")
    return report.write(out, **kw)


def test_text_captions_and_cells_are_escaped(tmp_path):
    evil = "<script>alert('x')</script>"
    report = Report(title=f"title {evil}", summary=f"summary {evil}")
    report.add_heading(f"heading {evil}")
    report.add_text(f"text {evil} & more")
    report.add_table([{f"col {evil}": f"cell {evil}"}], caption=f"caption {evil}")
    fig = _figure()
    report.add_figure(fig, "fig", caption=f"figcaption {evil}")
    plt.close(fig)
    path = _write(report, tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text
    for where in ("title", "summary", "heading", "text", "col", "cell", "caption", "figcaption"):
        assert f"{where} &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text, where
    assert "&amp; more" in text
    page = _parse(path)  # escaped, the text still reads back as written
    assert page.tables[0] == {"caption": f"caption {evil}", "header": [f"col {evil}"], "rows": [[f"cell {evil}"]]}
    assert f"text {evil} & more" in page.paragraphs
    assert f"heading {evil}" in page.h2


def test_numbers_are_shown_to_digits_significant_digits(tmp_path):
    report = Report("numbers")
    row = {"pi": math.pi, "big": 12345.678, "small": 0.000123456, "int": 7, "np64": np.float64(2 / 3),
           "np32": np.float32(0.1234567), "npint": np.int64(12345678), "text": "1.23456789", "bool": True}
    report.add_table([row, {"pi": 1.0}], digits=3)
    report.add_table([{"x": math.pi}])  # default: 4 significant digits
    page = _parse(_write(report, tmp_path / "out"))
    first, second = page.tables[0], page.tables[1]
    assert first["header"] == list(row)
    assert first["rows"][0] == ["3.14", "1.23e+04", "0.000123", "7", "0.667", "0.123", "12345678", "1.23456789",
                                "True"]
    # the columns come from the first row; a key missing from a later row gives an empty cell
    assert first["rows"][1] == ["1"] + [""] * (len(row) - 1)
    assert second["rows"] == [["3.142"]]


def test_empty_table_refused():
    with pytest.raises(ValueError, match="at least one row"):
        Report("t").add_table([])


@pytest.mark.parametrize("name", ["", "a b", "../up", "dir/name", "fig.png", "naïve", "a\nb"])
def test_bad_figure_name_refused(name):
    fig = _figure()
    report = Report("t")
    with pytest.raises(ValueError, match="alphanumeric"):
        report.add_figure(fig, name)
    plt.close(fig)
    assert report.sections() == []


def test_duplicate_figure_name_refused():
    fig = _figure()
    report = Report("t")
    report.add_figure(fig, "same")
    with pytest.raises(ValueError, match="already"):
        report.add_figure(fig, "same")
    plt.close(fig)


def test_figures_written_as_png_and_embedded(tmp_path):
    report = Report("figures")
    names = ["first_fig", "second-fig"]
    for i, name in enumerate(names):
        fig = _figure((1.0, float(i + 2)))
        report.add_figure(fig, name, caption=f"caption {i}")
        plt.close(fig)
    page = _parse(_write(report, tmp_path / "out"))
    assert [img["alt"] for img in page.imgs] == names
    written = []
    for img, name in zip(page.imgs, names, strict=True):
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        embedded = base64.b64decode(img["src"][len(prefix):], validate=True)
        on_disk = (tmp_path / "out" / f"{name}.png").read_bytes()
        assert embedded == on_disk
        assert on_disk.startswith(b"\x89PNG\r\n\x1a\n")
        written.append(on_disk)
    assert written[0] != written[1]


def test_metrics_json_is_deterministic_and_sorted(tmp_path):
    metrics = {"zeta": 1, "alpha": {"z": np.float64(0.5), "b": [np.int64(2), 3.25]}, "mid": "text"}
    shuffled = {"mid": "text", "alpha": {"b": [2, 3.25], "z": 0.5}, "zeta": 1}
    _write(Report("a"), tmp_path / "a", metrics=metrics, seed=3)
    _write(Report("b"), tmp_path / "b", metrics=shuffled, seed=3)
    first = (tmp_path / "a" / "metrics.json").read_bytes()
    assert first == (tmp_path / "b" / "metrics.json").read_bytes()
    assert first.endswith(b"\n")

    def sorted_pairs(pairs):
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    loaded = json.loads(first, object_pairs_hook=sorted_pairs)
    assert loaded == {"alpha": {"b": [2, 3.25], "z": 0.5}, "mid": "text", "zeta": 1}


@pytest.mark.parametrize(("value", "shown"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_non_finite_metric_refused(tmp_path, value, shown):
    report = Report("t")
    with pytest.raises(ValueError, match=rf"metric value {shown} is not finite"):
        _write(report, tmp_path / "out", metrics={"ok": 1.0, "nested": {"bad": [0.0, value]}})
    assert not (tmp_path / "out").exists()  # checked before anything is written
    with pytest.raises(ValueError, match="metric value nan"):
        _write(report, tmp_path / "out", metrics={"x": np.float64("nan")})
    with pytest.raises(ValueError, match="not finite"):
        _write(report, tmp_path / "out", timings={"fit": math.nan})


def test_environment_json_records_seed_device_and_inputs(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 1000)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    _write(Report("env"), tmp_path / "out", seed=1234, device="cuda:1", inputs={"counts": data, "table": str(other)},
           timings={"fit": 0.5})
    env = json.loads((tmp_path / "out" / "environment.json").read_text())
    assert env["seed"] == 1234
    assert env["device"] == "cuda:1"
    assert env["inputs"] == {
        "counts": {"path": "data.bin", "sha256": hashlib.sha256(data.read_bytes()).hexdigest()},
        "table": {"path": "other.csv", "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest()},
    }
    assert set(env["packages"]) == set(_PACKAGES)
    assert json.loads((tmp_path / "out" / "timings.json").read_text()) == {"fit": 0.5}
    html = _parse(tmp_path / "out" / "report.html")
    inputs = next(t for t in html.tables if t["caption"] == "Inputs")
    assert ["counts", "data.bin", env["inputs"]["counts"]["sha256"]] in inputs["rows"]


def test_no_timings_file_without_timings(tmp_path):
    _write(Report("t"), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["environment.json", "metrics.json", "report.html"]


def test_non_empty_out_dir_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "metrics.json").write_text("old")
    message = (f"out_dir {str(out)!r} exists and is not empty; choose another or pass overwrite=True "
               "(--overwrite)")
    with pytest.raises(ValueError) as err:
        _write(Report("t"), out, metrics={"a": 2})
    assert str(err.value) == message
    assert (out / "metrics.json").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "notes.txt"]

    path = _write(Report("t"), out, metrics={"a": 2}, overwrite=True)
    assert path == out / "report.html" and path.is_file()
    assert json.loads((out / "metrics.json").read_text()) == {"a": 2}
    assert (out / "notes.txt").read_text() == "mine"


def test_empty_or_missing_out_dir_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    assert _write(Report("t"), tmp_path / "empty").is_file()
    assert _write(Report("t"), tmp_path / "deep" / "er").is_file()


def test_out_dir_that_is_a_file_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="exists and is not a folder"):
            _write(Report("t"), target, overwrite=overwrite)
    assert target.read_text() == "x"


def test_check_out_dir(tmp_path):
    check_out_dir(tmp_path / "missing", False)
    check_out_dir(tmp_path, False)  # empty
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=r"exists and is not empty; choose another or pass overwrite=True"):
        check_out_dir(tmp_path, False)
    check_out_dir(tmp_path, True)
    with pytest.raises(ValueError, match="is not a folder"):
        check_out_dir(tmp_path / "f", True)


def test_sections_group_blocks_by_heading():
    report = Report("t")
    assert report.sections() == []
    report.add_text("intro")
    report.add_heading("one")
    report.add_table([{"a": 1}], caption="c")
    report.add_heading("two")
    report.add_heading("three")
    report.add_text("last")
    sections = report.sections()
    assert [s["title"] for s in sections] == [None, "one", "two", "three"]
    assert [[b["kind"] for b in s["blocks"]] for s in sections] == [["text"], ["table"], [], ["text"]]
    assert sections[1]["blocks"][0] == {"kind": "table", "caption": "c", "columns": ["a"], "rows": [["1"]]}
    sections[0]["blocks"][0]["text"] = "changed"
    assert report.sections()[0]["blocks"][0]["text"] == "intro"


def test_html_is_well_formed(tmp_path):
    report = Report("well formed", summary="s")
    report.add_text("before any heading")
    for i in range(3):
        report.add_heading(f"section {i}")
        report.add_text(f"text {i}")
        report.add_table([{"a": i, "b": 0.5}, {"a": i + 1, "b": 1.5}], caption=f"table {i}")
        fig = _figure((0.0, float(i)))
        report.add_figure(fig, f"fig{i}", caption=f"figure {i}")
        plt.close(fig)
    page = _parse(_write(report, tmp_path / "out"))
    assert page.errors == []
    assert page.stack == []
    # 1 untitled section + 3 headed ones + the environment; 3 tables + packages; 3 figures
    assert page.starts["section"] == 5
    assert page.starts["table"] == 4
    assert page.starts["figure"] == page.starts["figcaption"] == page.starts["img"] == 3
    assert page.starts["h1"] == 1
    assert page.h2 == ["section 0", "section 1", "section 2", "Environment"]
    assert [t["caption"] for t in page.tables] == ["table 0", "table 1", "table 2", "Packages"]
    assert page.tables[1]["rows"] == [["1", "0.5"], ["2", "1.5"]]


def test_environment_table_lists_the_packages(tmp_path):
    page = _parse(_write(Report("t"), tmp_path / "out", seed=77, device="cpu"))
    packages = next(t for t in page.tables if t["caption"] == "Packages")
    assert packages["header"] == ["package", "version"]
    listed = dict(packages["rows"])
    assert list(listed) == list(_PACKAGES)
    for name in ("dynfer", "numpy", "matplotlib"):
        assert listed[name] == metadata.version(name)
    assert any(p.startswith("seed 77, device cpu") for p in page.paragraphs)


def test_composed_report_says_quick_mode_at_the_top(tmp_path):
    from dynfer.workflows.bridges import QUICK_NOTE
    from dynfer.workflows.report import compose

    quick_path, quick_metrics = compose(tmp_path / "q", kinds=(), title="t", summary="S.", seed=0, device="cpu",
                                        quick=True)
    full_path, _ = compose(tmp_path / "f", kinds=(), title="t", summary="S.", seed=0, device="cpu", quick=False)
    quick_page, full_page = _Page(), _Page()
    quick_page.feed(quick_path.read_text(encoding="utf-8"))
    full_page.feed(full_path.read_text(encoding="utf-8"))
    assert quick_page.paragraphs[0].startswith(QUICK_NOTE) and quick_metrics["quick"] is True
    assert not any(QUICK_NOTE in p for p in full_page.paragraphs)
