"""The workflow registry and runner: discovery, metadata checks, missing data, atomic report folders."""

import inspect
import json
from pathlib import Path

import pytest

import dynfer
from dynfer.datasets.registry import register, unregister
from dynfer.workflows import (
    WORKFLOWS_DIR,
    MissingDatasetError,
    UnknownWorkflowError,
    WorkflowError,
    dataset_status,
    get_workflow,
    list_workflows,
    run_workflow,
)

TOY = '''
"""A toy workflow."""
from pathlib import Path

NAME = "{name}"
DESCRIPTION = "toy workflow"
DATASETS = {datasets!r}


def run(out_dir, *, seed, device, quick):
    from dynfer.report import Report

{body}
    report = Report(title="toy")
    report.add_text("hello")
    metrics = {{"seed": seed, "device": device, "quick": quick}}
    return report.write(out_dir, metrics=metrics, seed=seed, device=device), metrics
'''


def _toy(folder: Path, name: str = "toy", datasets: tuple = (), body: str = "    pass") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(TOY.format(name=name, datasets=datasets, body=body))
    return path


@pytest.fixture
def toy_dataset(tmp_path):
    """A registered real dataset ``toy_ds`` with one mirror-only file, absent unless the test writes it."""
    register("toy_ds", {"a.txt": "0" * 64}, kind="graph", licence="MIT", loader="load_ego_facebook")
    yield tmp_path / "mirror" / "toy_ds"
    unregister("toy_ds")


def test_the_shipped_workflows_follow_the_contract():
    names = [w.name for w in list_workflows()]
    assert {"quickstart", "backend_demo"} <= set(names) and names == sorted(names)
    for w in list_workflows():
        assert w.path.parent == WORKFLOWS_DIR and w.description
        for d in w.datasets:
            assert d in dynfer.datasets.list_datasets()
        module = w.load()
        assert module.__doc__ and module.NAME == w.name
        params = inspect.signature(module.run).parameters
        assert list(params) == ["out_dir", "seed", "device", "quick"]
        assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in ("seed", "device", "quick"))


def test_metadata_is_read_without_importing(tmp_path):
    _toy(tmp_path, body="    raise RuntimeError('imported')")
    (tmp_path / "_helper.py").write_text("raise RuntimeError('helpers are not workflows')")
    (w,) = list_workflows(tmp_path)
    assert (w.name, w.description, w.datasets) == ("toy", "toy workflow", ())
    assert get_workflow("toy", tmp_path) == w


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('NAME = "bad"\nDESCRIPTION = "x"\n', "does not define DATASETS"),
        ('NAME = "other"\nDESCRIPTION = "x"\nDATASETS = ()\n', "NAME must equal the file name 'bad'"),
        ('NAME = "bad"\nDESCRIPTION = "x"\nDATASETS = [1]\n', "DATASETS must be a tuple of dataset names"),
        ('NAME = "bad"\nDESCRIPTION = str(1)\nDATASETS = ()\n', "DESCRIPTION must be a literal"),
    ],
)
def test_malformed_metadata_is_refused_naming_the_file(tmp_path, source, message):
    (tmp_path / "bad.py").write_text(source)
    with pytest.raises(WorkflowError, match=message) as info:
        list_workflows(tmp_path)
    assert "bad.py" in str(info.value)


def test_script_without_run_is_refused(tmp_path):
    (tmp_path / "norun.py").write_text('NAME = "norun"\nDESCRIPTION = "x"\nDATASETS = ()\n')
    with pytest.raises(WorkflowError, match=r"no function run\(out_dir"):
        run_workflow("norun", tmp_path / "out", directory=tmp_path)
    assert not (tmp_path / "out").exists()


def test_unknown_workflow_lists_the_known_ones(tmp_path):
    _toy(tmp_path)
    with pytest.raises(UnknownWorkflowError, match=r"unknown workflow 'nope'; known workflows: toy"):
        get_workflow("nope", tmp_path)
    with pytest.raises(WorkflowError, match="workflow folder .* not found"):
        list_workflows(tmp_path / "absent")


def test_run_passes_the_options_and_records_the_workflow(tmp_path):
    script = _toy(tmp_path / "wf")
    path, metrics = run_workflow("toy", tmp_path / "deep" / "out", seed=4, device="cpu", quick=True,
                                 directory=tmp_path / "wf")
    assert path == tmp_path / "deep" / "out" / "report.html" and path.is_file()
    assert metrics == {"seed": 4, "device": "cpu", "quick": True}
    env = json.loads((path.parent / "environment.json").read_text())
    assert env["seed"] == 4 and env["device"] == "cpu"
    assert env["workflow"] == {"name": "toy", "quick": True, "datasets": []}
    assert env["inputs"]["workflow"]["sha256"] == dynfer.report.sha256_file(script)
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed_is_refused(tmp_path, seed):
    _toy(tmp_path)
    with pytest.raises(WorkflowError, match="seed must be a non-negative int"):
        run_workflow("toy", tmp_path / "out", seed=seed, directory=tmp_path)


def test_failed_run_leaves_no_report_folder(tmp_path):
    _toy(tmp_path / "wf", body="    raise ZeroDivisionError('bug in the workflow')")
    with pytest.raises(ZeroDivisionError):
        run_workflow("toy", tmp_path / "out", directory=tmp_path / "wf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf"]


def test_overwrite_replaces_report_files_and_keeps_the_others(tmp_path):
    _toy(tmp_path / "wf")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "metrics.json").write_text("old")
    with pytest.raises(WorkflowError, match="out_dir .* is not empty; choose another or pass overwrite=True"):
        run_workflow("toy", out, directory=tmp_path / "wf")
    assert (out / "metrics.json").read_text() == "old"
    run_workflow("toy", out, seed=1, overwrite=True, directory=tmp_path / "wf")
    assert json.loads((out / "metrics.json").read_text())["seed"] == 1
    assert (out / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkflowError, match="is not a folder"):
        run_workflow("toy", tmp_path / "file", overwrite=True, directory=tmp_path / "wf")


def test_dataset_status(tmp_path, toy_dataset):
    assert dataset_status("lotka_volterra_snapshots") == "built-in"
    with dynfer.settings.override(data_dir=tmp_path / "mirror", cache_dir=tmp_path / "cache"):
        assert dataset_status("toy_ds") == "missing"
        (tmp_path / "cache" / "toy_ds").mkdir(parents=True)
        (tmp_path / "cache" / "toy_ds" / "a.txt").write_text("a")
        assert dataset_status("toy_ds") == "cache"
        toy_dataset.mkdir(parents=True)
        (toy_dataset / "a.txt").write_text("a")
        assert dataset_status("toy_ds") == "mirror"
    register("toy_dl", {"b.txt": {"sha256": "1" * 64, "url": "https://example.org/b.txt"}})
    try:
        with dynfer.settings.override(data_dir=None, cache_dir=tmp_path / "cache"):
            assert dataset_status("toy_dl") == "download"
    finally:
        unregister("toy_dl")
    with pytest.raises(ValueError, match="unknown dataset 'no_such_set'"):
        dataset_status("no_such_set")


def test_missing_dataset_names_it_and_how_to_set_the_mirror(tmp_path, toy_dataset):
    _toy(tmp_path / "wf", datasets=("lotka_volterra_snapshots", "toy_ds"), body="    raise AssertionError")
    with dynfer.settings.override(data_dir=None, cache_dir=tmp_path / "cache"):
        with pytest.raises(MissingDatasetError) as info:
            run_workflow("toy", tmp_path / "out", directory=tmp_path / "wf")
    msg = str(info.value)
    assert "workflow 'toy' needs dataset 'toy_ds'" in msg and "DYNFER_DATA_DIR" in msg
    assert "a.txt" in msg and "not set" in msg
    assert not (tmp_path / "out").exists()


def test_dataset_not_found_inside_the_run_becomes_a_missing_dataset_error(tmp_path, toy_dataset, monkeypatch):
    import dynfer.workflows.runner as workflows

    _toy(tmp_path / "wf", datasets=("toy_ds",), body="    import dynfer\n    dynfer.datasets.fetch('toy_ds')")
    monkeypatch.setattr(workflows, "dataset_status", lambda name: "download")  # the pre-check passes, fetch fails
    with dynfer.settings.override(data_dir=None, cache_dir=tmp_path / "cache"):
        with pytest.raises(MissingDatasetError, match="workflow 'toy' needs dataset 'toy_ds'") as info:
            run_workflow("toy", tmp_path / "out", directory=tmp_path / "wf")
    assert "DYNFER_DATA_DIR" in str(info.value)
    assert isinstance(info.value.__cause__, dynfer.datasets.DatasetNotFoundError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf"]


def test_registry_names_only_workflows_that_exist_and_read_the_dataset():
    from dynfer.datasets import SYNTHETIC
    from dynfer.datasets.registry import get_entry

    workflows = {w.name: w for w in list_workflows()}
    for name in dynfer.datasets.list_datasets():
        if name in SYNTHETIC:
            continue
        for wf in get_entry(name).workflows:
            assert wf in workflows, f"registry entry {name!r} names workflow {wf!r}, which does not exist"
            assert name in workflows[wf].datasets, f"workflow {wf!r} does not declare dataset {name!r}"
    for w in workflows.values():
        for d in w.datasets:
            if d not in SYNTHETIC:
                assert w.name in get_entry(d).workflows, f"registry entry {d!r} should list workflow {w.name!r}"
