"""The built-in demo writes a complete report and reproduces its metrics exactly with the same seed."""

import json

import pytest

from dynfer.cli import main


def test_demo_report_is_complete_and_reproducible(tmp_path):
    for name in ("a", "b"):
        assert main(["demo", "--quick", "--seed", "3", "--device", "cpu", "--out", str(tmp_path / name)]) == 0
    for name in ("report.html", "metrics.json", "environment.json", "timings.json", "ou_variance.png"):
        assert (tmp_path / "a" / name).is_file()
    a = (tmp_path / "a" / "metrics.json").read_text()
    assert a == (tmp_path / "b" / "metrics.json").read_text()
    metrics = json.loads(a)
    env = json.loads((tmp_path / "a" / "environment.json").read_text())
    assert env["seed"] == 3 and env["device"] == "cpu" and env["packages"]["torch"]
    html = (tmp_path / "a" / "report.html").read_text()
    assert "data:image/png;base64," in html and "flashing ratchet" in html.lower()
    # the demo's own checks: its simulated numbers agree with the closed forms it reports
    ou = metrics["ornstein_uhlenbeck"]
    assert abs(ou["variance_t1_simulated"] - ou["variance_t1_exact"]) < 5 * 0.125 * (2 / (10 * ou["n_paths"])) ** 0.5
    assert metrics["flashing_ratchet"]["entropy_production"] == pytest.approx(0.1792, abs=1e-4)


def test_demo_refuses_non_empty_output_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("user data")
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "user data"
