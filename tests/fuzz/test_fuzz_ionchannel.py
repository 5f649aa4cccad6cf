"""Property-based fuzzing of the ion-channel readers: Axon ABF (``read_abf``) and CSV / NPY traces.

Each reader gets a small clean file written here, damaged by hypothesis; it must raise
:class:`dynfer.BadInputError` naming the file or return data of the clean file's shape (channels, sweeps, samples)
with every value finite (see ``test_fuzz_activematter.py``, which holds the mutation engine). A CSV trace carries no
sample count: a deleted, duplicated or split line reads as a trace one sample shorter or longer.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from dynfer.io.ionchannel import read_abf, read_current_trace

_shared = runpy.run_path(str(Path(__file__).with_name("test_fuzz_activematter.py")))  # the mutation engine
Case = _shared["Case"]


def _abf(folder: Path) -> Path:
    pytest.importorskip("pyabf")
    from pyabf import abfWriter

    data = (np.random.default_rng(0).integers(-30000, 30000, size=(3, 1000)) / 32768).astype(np.float32)
    path = folder / "rec.abf"
    abfWriter.writeABF1(data, str(path), 5000.0, "pA")
    return path


def _csv(folder: Path) -> Path:
    values = np.random.default_rng(1).normal(size=40)
    path = folder / "trace.csv"
    path.write_text("# patch clamp, 5 kHz\ntime,current_pA\n"
                    + "".join(f"{k / 5000.0!r},{float(v)!r}\n" for k, v in enumerate(values)))
    return path


def _npy(folder: Path) -> Path:
    path = folder / "sweeps.npy"
    np.save(path, np.random.default_rng(2).normal(size=(3, 40)))
    return path


def _read_csv(path: Path):
    return read_current_trace(path, sampling_rate=5000.0, column="current_pA")


def _read_npy(path: Path):
    return read_current_trace(path, sampling_rate=5000.0)


CASES = [
    Case("abf", _abf, read_abf, ".abf", binary=True),
    Case("csv", _csv, _read_csv, ".csv", count_free=True, loose_count=True),
    Case("npy", _npy, _read_npy, ".npy", binary=True),
]

clean_files, test_fuzz_ionchannel_readers, test_fuzz_ionchannel_readers_slow = _shared["fuzz_tests"](CASES)
