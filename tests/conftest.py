"""Shared fixtures: the device fixture (CPU always, CUDA too when present) and quiet settings."""

from __future__ import annotations

from pathlib import Path

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
    """No progress bars and default settings in every test; restored afterwards."""
    with dynfer.settings.override(progress=False, device="cpu", dtype="float32", seed=None):
        yield


def pytest_configure(config):
    """One torch thread in tests: small tensor ops slow down badly when threads compete for 2 cores."""
    torch.set_num_threads(1)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real datasets beside the checkout (``../shared/data``), used as the registry's local mirror.

    Tests that need them skip with a clear reason when the folder is absent. Files there are read in place,
    never copied into the project.
    """
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not available: no folder {SHARED_DATA} (the ../shared/data mirror)")
    with dynfer.settings.override(data_dir=SHARED_DATA):
        yield SHARED_DATA
