"""The workflow runner: scripts under ``workflows/``, discovered, listed and run by ``dynfer list`` / ``dynfer run``.

A workflow script ``workflows/<name>.py`` defines, at module level,

* ``NAME`` -- its name (a string literal equal to the file name without ``.py``);
* ``DESCRIPTION`` -- one line (a string literal);
* ``DATASETS`` -- the dataset registry names it reads (a tuple or list of string literals, possibly empty);
* ``run(out_dir, *, seed, device, quick) -> (report_path, metrics)`` -- writes one report folder (see
  :class:`dynfer.report.Report`) into ``out_dir`` and returns the path of its ``report.html`` and its metrics.

``NAME``, ``DESCRIPTION`` and ``DATASETS`` are read without importing the script (so ``dynfer list`` stays fast);
the script is imported only to run it. Files whose name starts with ``_`` are helpers, not workflows.

Scripts are found in ``<repo>/workflows/`` in a source tree (editable install), else in the copy that the wheel
build places at ``dynfer/_workflows/``.

:func:`run_workflow` checks everything it can before the (possibly long) run: the workflow name, the output
folder, the seed, the device and that each real dataset the workflow reads is in the local mirror
(``DYNFER_DATA_DIR``) or the cache, or can be downloaded. It runs the workflow into a fresh temporary folder beside
``out_dir`` and moves the finished report into place, so a failed run leaves no half-written report, and it adds
the workflow itself to ``environment.json``: its name, ``quick`` flag, datasets and the sha256 of its script (under
``inputs["workflow"]``).

Examples
--------
>>> from dynfer.workflows.runner import list_workflows
>>> "quickstart" in [w.name for w in list_workflows()]
True
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dynfer._errors import BadInputError
from dynfer._files import check_out_dir, sha256_file
from dynfer._settings import settings

__all__ = [
    "WORKFLOWS_DIR",
    "MissingDatasetError",
    "UnknownWorkflowError",
    "Workflow",
    "WorkflowError",
    "dataset_status",
    "get_workflow",
    "list_workflows",
    "run_workflow",
]

_SOURCE_WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
_PACKAGED_WORKFLOWS = Path(__file__).resolve().parents[1] / "_workflows"
#: Folder of the workflow scripts: ``<repo>/workflows`` in a source tree, else ``dynfer/_workflows`` (wheel copy).
WORKFLOWS_DIR = _SOURCE_WORKFLOWS if _SOURCE_WORKFLOWS.is_dir() else _PACKAGED_WORKFLOWS

_METADATA = ("NAME", "DESCRIPTION", "DATASETS")


class WorkflowError(BadInputError):
    """A workflow cannot be run as asked (unknown name, bad argument, non-empty output folder, missing data)."""


class UnknownWorkflowError(WorkflowError):
    """No workflow of that name; the message lists the known ones."""


class MissingDatasetError(WorkflowError):
    """A dataset that the workflow reads is not available; the message says which and how to set DYNFER_DATA_DIR."""


@dataclass(frozen=True)
class Workflow:
    """One workflow script and the metadata it declares.

    Attributes
    ----------
    name
        ``NAME`` (equal to the script's file name without ``.py``).
    description
        ``DESCRIPTION``, one line.
    datasets
        ``DATASETS``: the registry names of the datasets it reads.
    path
        The script.
    """

    name: str
    description: str
    datasets: tuple[str, ...]
    path: Path

    def load(self) -> ModuleType:
        """Import the script (once per process) and check that it has a ``run`` function.

        Returns
        -------
        ModuleType
            The imported script.
        """
        module_name = f"dynfer._workflow_{self.name}"
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, "__file__", None) == str(self.path):
            return module
        spec = importlib.util.spec_from_file_location(module_name, self.path)
        if spec is None or spec.loader is None:  # pragma: no cover - only for unreadable files
            raise WorkflowError(f"workflow script {self.path} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        if not callable(getattr(module, "run", None)):
            raise WorkflowError(f"workflow script {self.path} has no function run(out_dir, *, seed, device, quick)")
        return module


def _literal(node: ast.AST, path: Path, key: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise WorkflowError(f"workflow script {path}: {key} must be a literal (read without importing)") from None


def _read_metadata(path: Path) -> Workflow:
    """``NAME``, ``DESCRIPTION``, ``DATASETS`` of a script, parsed (not imported) and checked."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _METADATA and node.value is not None:
                found[target.id] = _literal(node.value, path, target.id)
    missing = [k for k in _METADATA if k not in found]
    if missing:
        raise WorkflowError(f"workflow script {path} does not define {', '.join(missing)} at module level")
    name, description, datasets = found["NAME"], found["DESCRIPTION"], found["DATASETS"]
    if name != path.stem:
        raise WorkflowError(f"workflow script {path}: NAME must equal the file name {path.stem!r}, got {name!r}")
    if not isinstance(description, str):
        raise WorkflowError(f"workflow script {path}: DESCRIPTION must be a string, got {description!r}")
    if not isinstance(datasets, (tuple, list)) or not all(isinstance(d, str) for d in datasets):
        raise WorkflowError(f"workflow script {path}: DATASETS must be a tuple of dataset names, got {datasets!r}")
    return Workflow(name=name, description=description, datasets=tuple(datasets), path=path)


def list_workflows(directory: str | os.PathLike | None = None) -> list[Workflow]:
    """The workflows, sorted by name.

    Parameters
    ----------
    directory
        Folder of workflow scripts (default :data:`WORKFLOWS_DIR`).

    Returns
    -------
    list of Workflow
        One per ``*.py`` file not starting with ``_``.
    """
    folder = Path(WORKFLOWS_DIR if directory is None else directory)
    if not folder.is_dir():
        raise WorkflowError(
            f"workflow folder {folder} not found; dynfer reads workflows from the source tree (workflows/) or from "
            "the copy packaged at dynfer/_workflows/"
        )
    return [_read_metadata(p) for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")]


def get_workflow(name: str, directory: str | os.PathLike | None = None) -> Workflow:
    """The workflow called ``name``.

    Parameters
    ----------
    name
        Workflow name (see :func:`list_workflows`).
    directory
        Folder of workflow scripts (default :data:`WORKFLOWS_DIR`).

    Returns
    -------
    Workflow
        Its metadata; :meth:`Workflow.load` imports it.

    Raises
    ------
    UnknownWorkflowError
        For an unknown name, listing the known ones.
    """
    workflows = {w.name: w for w in list_workflows(directory)}
    if not isinstance(name, str) or name not in workflows:
        raise UnknownWorkflowError(
            f"unknown workflow {name!r}; known workflows: {', '.join(workflows) or '(none)'} (see `dynfer list`)"
        )
    return workflows[name]


def dataset_status(name: str) -> str:
    """Where a dataset would come from, without reading or downloading anything.

    Parameters
    ----------
    name
        A name accepted by :func:`dynfer.datasets.load`.

    Returns
    -------
    str
        ``"built-in"`` for a synthetic generator; for a real dataset ``"mirror"`` or ``"cache"`` when every file is
        present there (with the registered size; the sha256 is checked when it is loaded), ``"download"`` when the
        missing files can be downloaded, else ``"missing"``.

    Raises
    ------
    ValueError
        For an unknown dataset name.
    """
    from dynfer.datasets import SYNTHETIC
    from dynfer.datasets.registry import get_entry

    if name in SYNTHETIC:
        return "built-in"
    entry = get_entry(name)

    def present(folder: Path | None) -> set[str]:
        if folder is None:
            return set()
        out = set()
        for fname, spec in entry.files.items():
            p = folder / fname
            if p.is_file() and (spec.size is None or p.stat().st_size == spec.size):
                out.add(fname)
        return out

    mirror = None if settings.data_dir is None else Path(settings.data_dir) / entry.folder
    in_mirror = present(mirror)
    if len(in_mirror) == len(entry.files):
        return "mirror"
    found = in_mirror | present(Path(settings.cache_dir) / entry.folder)
    if len(found) == len(entry.files):
        return "cache"
    if all(entry.files[f].url for f in entry.files if f not in found):
        return "download"
    return "missing"


def _missing_message(workflow: str, dataset: str, detail: str = "") -> str:
    from dynfer.datasets.registry import get_entry

    entry = get_entry(dataset)
    where = "not set" if settings.data_dir is None else f"{settings.data_dir}"
    return (
        f"workflow {workflow!r} needs dataset {dataset!r}, which is not available: not in the local mirror "
        f"(DYNFER_DATA_DIR: {where}) nor in the cache ({Path(settings.cache_dir) / entry.folder})"
        + (f" ({detail})" if detail else "")
        + f". Set DYNFER_DATA_DIR=/path/to/mirror, a folder holding the sub-folder {entry.folder!r} with the files "
        f"{', '.join(sorted(entry.files))} (see datasets/registry.toml and datasets/{dataset}.md)."
    )


def _move_into(src: Path, dst: Path) -> None:
    """Move the finished report from ``src`` into ``dst`` (replacing files of the same name only)."""
    dst.mkdir(parents=True, exist_ok=True)  # created here, with the usual permissions, only once the run succeeded
    for item in sorted(src.iterdir()):
        target = dst / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            if target.is_dir():
                raise WorkflowError(f"out_dir {str(dst)!r} holds a folder {item.name!r} where the report writes a file")
            os.replace(item, target)
    shutil.rmtree(src)


def _record_workflow(out: Path, workflow: Workflow, quick: bool) -> None:
    """Add the workflow (name, options, datasets, script sha256) to ``environment.json``."""
    env_path = out / "environment.json"
    if not env_path.is_file():
        return
    env = json.loads(env_path.read_text())
    digest = sha256_file(workflow.path)
    env["workflow"] = {"name": workflow.name, "quick": quick, "datasets": list(workflow.datasets)}
    env.setdefault("inputs", {})["workflow"] = {"path": workflow.path.name, "sha256": digest}
    env_path.write_text(json.dumps(env, indent=2, sort_keys=True) + "\n")


def run_workflow(
    name: str,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    device: str | None = None,
    quick: bool = False,
    overwrite: bool = False,
    directory: str | os.PathLike | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run a workflow and write its report folder.

    Parameters
    ----------
    name
        Workflow name (see :func:`list_workflows`).
    out_dir
        Report folder (created; refused if it exists and is not empty, unless ``overwrite``).
    seed
        Seed of every random draw: the same seed on the CPU reproduces ``metrics.json`` exactly.
    device
        Torch device, e.g. ``"cpu"`` or ``"cuda"`` (default ``settings.device``).
    quick
        Smaller sizes: seconds instead of minutes.
    overwrite
        Allow writing into a non-empty ``out_dir`` (files of the same name are replaced, others kept).
    directory
        Folder of workflow scripts (default :data:`WORKFLOWS_DIR`).

    Returns
    -------
    tuple
        Path of ``report.html`` inside ``out_dir`` and the metrics dictionary.

    Raises
    ------
    UnknownWorkflowError
        For an unknown ``name``, listing the known ones.
    MissingDatasetError
        When a dataset the workflow reads is not available, naming it and how to set ``DYNFER_DATA_DIR``.
    WorkflowError
        For a non-empty ``out_dir`` without ``overwrite``, a negative or non-integer ``seed``, or an unavailable
        ``device``.
    """
    from dynfer.datasets.registry import DatasetNotFoundError

    workflow = get_workflow(name, directory)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise WorkflowError(f"seed must be a non-negative int, got {seed!r}")
    try:
        dev = settings.resolve_device(device)
    except ValueError as err:  # a CUDA device without CUDA; the message names the device
        raise WorkflowError(str(err)) from None
    except RuntimeError:  # torch does not know the name
        raise WorkflowError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:i', got {device!r}") from None
    out = Path(out_dir)
    try:
        check_out_dir(out, overwrite)
    except ValueError as err:
        raise WorkflowError(str(err)) from None
    for dataset in workflow.datasets:
        if dataset_status(dataset) == "missing":
            raise MissingDatasetError(_missing_message(workflow.name, dataset))
    import matplotlib.pyplot as plt

    previous = plt.get_backend()
    plt.switch_backend("Agg")  # reports render off screen; only the runner chooses the backend, never library code
    module = workflow.load()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        try:
            report_path, metrics = module.run(tmp, seed=seed, device=str(dev), quick=quick)
        except DatasetNotFoundError as err:
            missing = next((d for d in workflow.datasets if f"dataset {d!r}" in str(err)), None)
            if missing is None:
                raise
            raise MissingDatasetError(_missing_message(workflow.name, missing, str(err))) from err
        _record_workflow(tmp, workflow, quick)
        relative = Path(report_path).resolve().relative_to(tmp.resolve())
        _move_into(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if previous.lower() != "agg":
            try:  # give a notebook its backend back
                plt.switch_backend(previous)
            except Exception:  # pragma: no cover - a backend that cannot be restored here
                pass
    return out / relative, metrics

