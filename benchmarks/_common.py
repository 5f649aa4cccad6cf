"""Shared helpers for the benchmark scripts: timing and JSON results with the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def sync(device: torch.device | str) -> None:
    """Wait for queued CUDA work so timings measure the computation, not the launch."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_time(fn: Callable[[], Any], *, repeats: int = 3, warmup: int = 1, device: str = "cpu") -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
        sync(device)
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def environment() -> dict[str, Any]:
    """Versions and hardware of this run."""
    info = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def write_results(name: str, results: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``results`` plus the environment to ``<out_dir>/<name>.json`` and print it.

    ``out_dir`` defaults to ``$DYNFER_BENCH_RESULTS`` when set (e.g. a GPU machine's output folder), else
    ``benchmarks/results``.
    """
    env_dir = os.environ.get("DYNFER_BENCH_RESULTS")
    out = Path(out_dir) if out_dir is not None else Path(env_dir) if env_dir else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "environment": environment(), "results": results}
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    print(json.dumps(payload, indent=2, sort_keys=True))
    return path
