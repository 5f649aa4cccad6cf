"""The ``dynfer`` command: list, run (quickstart reproducible), errors with exit status 2, the demo alias."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dynfer.cli import main
from dynfer.workflows import WORKFLOWS_DIR, list_workflows

ROOT = Path(__file__).resolve().parents[1]


def test_list_prints_workflows_and_datasets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    workflows, datasets = out.split("\nDatasets")
    for w in list_workflows():
        line = next(ln for ln in workflows.splitlines() if ln.split() and ln.split()[0] == w.name)
        assert w.description in line
        for d in w.datasets:
            assert d in line
    assert "quickstart" in workflows and "backend_demo" in workflows
    lv = next(ln for ln in datasets.splitlines() if ln.split() and ln.split()[0] == "lotka_volterra_snapshots")
    assert lv.split()[1:3] == ["synthetic", "built-in"]
    pbmc = next(ln for ln in datasets.splitlines() if ln.split() and ln.split()[0] == "pbmc_timecourse_nc")
    assert "snapshots" in pbmc and "CC-BY-NC-4.0" in pbmc
    assert "DYNFER_DATA_DIR" in datasets


def test_list_says_which_datasets_are_in_the_mirror(capsys, tmp_path):
    import dynfer
    from dynfer.datasets.registry import register, unregister

    (tmp_path / "toy_mirror_set").mkdir()
    (tmp_path / "toy_mirror_set" / "a.txt").write_text("a")
    register("toy_mirror_set", {"a.txt": "0" * 64}, kind="graph", licence="MIT", loader="load_ego_facebook")
    try:
        with dynfer.settings.override(data_dir=tmp_path):
            assert main(["list"]) == 0
    finally:
        unregister("toy_mirror_set")
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.split() and ln.split()[0] == "toy_mirror_set")
    assert line.split()[1:4] == ["graph", "yes", "(mirror)"] and line.rstrip().endswith("MIT")
    assert str(tmp_path) in out


def test_quickstart_reproduces_metrics_and_records_its_environment(tmp_path, capsys):
    args = ["run", "quickstart", "--quick", "--seed", "5", "--device", "cpu"]
    for name in ("a", "b"):
        assert main([*args, "--out", str(tmp_path / name)]) == 0
    out = capsys.readouterr().out
    assert f"report written to {tmp_path / 'b' / 'report.html'}" in out
    a, b = ((tmp_path / n / "metrics.json").read_bytes() for n in ("a", "b"))
    assert a == b
    for name in ("report.html", "metrics.json", "environment.json", "timings.json", "data_snapshots.png"):
        assert (tmp_path / "a" / name).is_file()
    metrics = json.loads(a)
    assert metrics["seed"] == 5 and metrics["quick"] is True and metrics["workflow"] == "quickstart"
    assert set(metrics) >= {"data", "ornstein_uhlenbeck", "flashing_ratchet", "self_repellent_walk", "transport"}
    assert metrics["data"]["heldout_times"] == [1.0, 3.0, 5.0, 7.0, 9.0]
    # the bridge section's numbers: the true family beats every other method and recovers the generating θ
    bridge = metrics["schrodinger_bridge"]
    assert metrics["estimators"] == ["schrodinger_bridge", "markov_jump_processes", "entropy_production",
                                     "srrw_optimization", "policy_evaluation"]
    # the SA-SRRW section (karate, 20 runs, 1,500 steps, gamma = o(beta)): alpha = 10 cuts the error to a few per cent
    # of alpha = 0 (measured 0.026 with a standard error of 0.006; the linearised prediction 0.021), so 0.1 is
    # more than 10 standard errors above it and far below the no-gain ratio 1
    srrw = metrics["srrw_optimization"]["optimisation"]["regimes"]["gamma=o(beta)"]["rows"]
    assert [r["alpha"] for r in srrw] == [0.0, 10.0] and srrw[1]["ratio_to_alpha0"] < 0.1
    # the policy section (Brownian motion, terminal x^2): the martingale methods land near theta_1 = 1, the
    # mean-square TD error near its wrong limit 0.6
    theta = metrics["policy_evaluation"]["theta"]
    for method in ("LSTD", "TD(0)", "martingale"):
        assert abs(theta[method][0] - 1.0) < 0.1
    assert abs(theta["MSTDE"][0] - 0.6) < 0.1
    # the entropy section: 3,000 exact samples of the rotational OU process (sigma = 2 w^2 / mu = 0.754); the
    # Gaussian plug-in has a standard error of about 0.014 (1.8 %), so it lands within 4 of them; the learned score
    # within 10 %; the equilibrium score is the trivial 0
    rot = metrics["entropy_production"]["rotational_ou"]
    assert rot["truth"] == pytest.approx(2 * 0.7**2 / 1.3)
    assert rot["methods"]["Gaussian plug-in"]["rel. error"] < 0.075
    assert rot["methods"]["score (plug-in) [mlp]"]["rel. error"] < 0.10
    assert rot["methods"]["equilibrium score"]["rate"] == 0.0
    # the MJP section: two 300-path ratchet contexts; both methods within the 300-path goal (0.10; FIM 0.162) and
    # nearly no mass on the 12 structurally absent links (goal < 0.02; FIM puts 0.07-0.25 there)
    mjp = metrics["markov_jump_processes"]["methods"]
    for method in ("MLE", "foundation"):
        assert mjp[method]["rate_rmse"]["mean"] < 0.10 and mjp[method]["zero_mass"]["mean"] < 0.02
    means = bridge["w2_mean"]
    true = means.pop("dynfer (Lotka-Volterra reference)")
    assert true < 0.5 * min(means.values())  # measured 0.08 against OT-midpoint 0.64 (split-half floor ~0.08)
    assert all(len(v) == 5 for v in bridge["w2"].values())
    truth = {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1}
    for name, value in truth.items():
        assert bridge["theta_lotka_volterra"][name] == pytest.approx(value, rel=0.15), name
    env = json.loads((tmp_path / "a" / "environment.json").read_text())
    assert env["seed"] == 5 and env["device"] == "cpu"
    assert "git_commit" in env  # None outside a git checkout
    assert env["workflow"] == {"name": "quickstart", "quick": True, "datasets": ["lotka_volterra_snapshots"]}
    script = env["inputs"]["workflow"]
    assert script["path"] == "quickstart.py" and len(script["sha256"]) == 64
    from dynfer._files import sha256_file

    assert script["sha256"] == sha256_file(WORKFLOWS_DIR / "quickstart.py")
    html = (tmp_path / "a" / "report.html").read_text()
    assert "Lotka" in html and "data:image/png;base64," in html
    # no half-written temporary folders left beside the report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_unknown_workflow_exits_2_and_lists_the_known_ones(tmp_path, capsys):
    assert main(["run", "no_such_workflow", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown workflow 'no_such_workflow'" in err
    assert "quickstart" in err and "backend_demo" in err
    assert not (tmp_path / "r").exists()


def test_non_empty_output_folder_is_refused_unless_overwrite(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("user data")
    assert main(["run", "backend_demo", "--quick", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert main(["run", "backend_demo", "--quick", "--device", "cpu", "--out", str(tmp_path), "--overwrite"]) == 0
    assert (tmp_path / "keep.txt").read_text() == "user data"
    assert (tmp_path / "metrics.json").is_file()


def test_unavailable_device_exits_2(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["run", "backend_demo", "--quick", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "device" in capsys.readouterr().err
    assert main(["run", "backend_demo", "--device", "tpu", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def test_demo_is_an_alias_of_run_backend_demo(tmp_path):
    args = ["--quick", "--seed", "2", "--device", "cpu"]
    assert main(["demo", *args, "--out", str(tmp_path / "demo")]) == 0
    assert main(["run", "backend_demo", *args, "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "demo" / "metrics.json").read_bytes() == (tmp_path / "run" / "metrics.json").read_bytes()
    env = json.loads((tmp_path / "demo" / "environment.json").read_text())
    assert env["workflow"]["name"] == "backend_demo"


@pytest.mark.parametrize("script", ["quickstart", "backend_demo"])
def test_workflow_scripts_run_as_the_command(script, tmp_path):
    cmd = [sys.executable, str(ROOT / "workflows" / f"{script}.py"), "--device", "tpu", "--out", str(tmp_path / "r")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.startswith(f"dynfer run {script}: error: device") and "tpu" in res.stderr
