"""Shared fixtures: the device fixture (CPU always, CUDA too when present) and quiet settings."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import dynfer

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every device this machine has: tests using it run once per device."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _quiet_settings():
    """No progress bars, CPU, float32 and ``seed=0`` in every test; restored afterwards.

    ``settings.seed = 0`` makes the default test run deterministic: a function called with ``seed=None`` (the
    default everywhere) draws as with ``seed=0``. Tests of fresh entropy override it with ``seed=None``.
    """
    with dynfer.settings.override(progress=False, device="cpu", dtype="float32", seed=0):
        yield


def pytest_configure(config):
    """One torch thread in tests: small tensor ops slow down badly when threads compete for 2 cores."""
    torch.set_num_threads(1)


BESIDE_CHECKOUT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_mirror() -> Path | None:
    """The real-data mirror: ``DYNFER_DATA_DIR`` when set, else ``../shared/data`` beside the checkout."""
    configured = os.environ.get("DYNFER_DATA_DIR")
    for candidate in ([Path(configured)] if configured else []) + [BESIDE_CHECKOUT]:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The real-data mirror folder; skips (with the reason) when there is none."""
    mirror = data_mirror()
    if mirror is None:
        pytest.skip(f"real datasets not available: DYNFER_DATA_DIR is {os.environ.get('DYNFER_DATA_DIR')!r} and "
                    f"there is no folder {BESIDE_CHECKOUT} (the ../shared/data mirror)")
    return mirror


@pytest.fixture
def shared_data(mirror_dir) -> Path:
    """The real datasets (``DYNFER_DATA_DIR``, or ``../shared/data``), used as the registry's local mirror.

    Tests that need them skip with a clear reason when neither is there. Files there are read in place,
    never copied into the project.
    """
    with dynfer.settings.override(data_dir=mirror_dir):
        yield mirror_dir


# ------------------------------------------------------------------ torchrun: the distributed tests' worker launch
def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_worker(worker: Path) -> ModuleType:
    """Import the worker script as a module (its ``problem()`` builds the single-process reference)."""
    spec = importlib.util.spec_from_file_location(worker.stem, worker)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_torchrun(worker: Path, out_dir: Path, *, nproc: int = 2, timeout: float = 240) -> None:
    """Run ``worker out_dir`` on ``nproc`` local CPU processes; fail with the workers' output tails if it fails."""
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1", DYNFER_PROGRESS="0", DYNFER_DEVICE="cpu")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(free_port()), str(worker), str(out_dir)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture
def torchrun():
    """``(run_torchrun, load_worker)``: launch a worker script under torchrun; import it for its reference problem."""
    return run_torchrun, load_worker


# ------------------------------------------------------------------ workflows: one quick run, its metrics
@pytest.fixture(scope="session")
def run_quick_workflow(tmp_path_factory):
    """``run(name, **settings) -> metrics``: ``dynfer run <name> --quick --seed 0`` on the CPU into a fresh folder.

    ``settings`` override :data:`dynfer.settings` for the run (e.g. ``data_dir=`` a mirror, ``dtype=``); the run must
    exit 0 and write its report and an environment that names the workflow in quick mode.
    """
    from dynfer.cli import main

    def run(name: str, **settings) -> dict:
        out = tmp_path_factory.mktemp(name) / "report"
        with dynfer.settings.override(**{"progress": False, "device": "cpu", "seed": None, **settings}):
            code = main(["run", name, "--quick", "--seed", "0", "--device", "cpu", "--out", str(out)])
        assert code == 0
        assert (out / "report.html").is_file()
        env = json.loads((out / "environment.json").read_text())
        assert env["workflow"]["name"] == name and env["workflow"]["quick"] is True
        return json.loads((out / "metrics.json").read_text())

    return run
