"""Property-based fuzzing of the active-matter readers (LAMMPS text dumps, plain and gzip, and HOOMD GSD).

A small clean file is written, then hypothesis damages it: truncation at any byte, byte flips, deleted or duplicated
lines (chunks, for binary files), NaN / inf / garbage tokens in place of a number (NaN / inf bit patterns, for binary
files), an empty file, a wrong encoding. The property: the reader raises :class:`dynfer.BadInputError` whose message
names the file, or returns data of the clean file's shape and structure (same frames, particles, keys) with every
value finite. Never another exception, never NaN, never a short read, never a hang.

The first half of this file is the mutation engine and the property check shared by ``test_fuzz_mocap.py`` and
``test_fuzz_ionchannel.py`` (they load this file by path; the test folder is not a package).
"""

from __future__ import annotations

import gzip
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynfer import BadInputError
from dynfer.io.activematter import read_gsd, read_lammps_dump

# ======================================================================================== shared mutation engine
TEXT_KINDS = ("truncate", "flip", "delete_line", "duplicate_line", "replace_number", "empty", "encoding")
BINARY_KINDS = ("truncate", "flip", "delete_chunk", "duplicate_chunk", "nan_float", "empty")
NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
TOKENS = (b"nan", b"NaN", b"-nan", b"inf", b"-inf", b"Infinity", b"1e308", b"-1e308", b"1e309", b"-1e309", b"abc",
          b"1.2.3", b"--1", b"0x1F", b"1e", b"", b"\xc3\xa9", b"9" * 30, b"1e-320", b"0")
NAN_BITS = tuple(np.array(v, dtype=t).tobytes() for t in (np.float32, np.float64)
                 for v in (np.nan, np.inf, -np.inf, 3e38 if t is np.float32 else 1e308))
Op = tuple[str, int, int]


def mutate(data: bytes, op: Op) -> bytes:
    """``data`` damaged by ``op = (kind, a, b)``: ``a`` picks the place, ``b`` the replacement."""
    kind, a, b = op
    n = len(data)
    if kind == "empty" or n == 0:
        return b""
    k = a % n
    if kind == "truncate":
        return data[:k]
    if kind == "flip":
        return data[:k] + bytes([data[k] ^ (1 + b % 255)]) + data[k + 1:]
    if kind in ("delete_line", "duplicate_line"):
        lines = data.splitlines(keepends=True)
        j = a % len(lines)
        return b"".join(lines[:j] + lines[j:j + 1] * (2 if kind == "duplicate_line" else 0) + lines[j + 1:])
    if kind == "replace_number":
        spans = [m.span() for m in NUMBER.finditer(data)] or [(k, k)]
        s, e = spans[a % len(spans)]
        return data[:s] + TOKENS[b % len(TOKENS)] + data[e:]
    if kind == "encoding":
        if b % 3 == 0:
            return data.decode("utf-8").encode("utf-16")
        return data[:k] + (b"\xff" if b % 3 == 1 else b"\xe9") + data[k:]
    if kind in ("delete_chunk", "duplicate_chunk"):
        chunk = data[k:k + 1 + b % 64]
        return data[:k] + (chunk if kind == "duplicate_chunk" else b"") + data[k + len(chunk):]
    if kind == "nan_float":
        bits = NAN_BITS[b % len(NAN_BITS)]
        k = k // 4 * 4
        return (data[:k] + bits + data[k + len(bits):])[:n]
    raise AssertionError(kind)


def ops(kinds: tuple[str, ...]) -> st.SearchStrategy[Op]:
    """Hypothesis strategy of mutations of the given kinds."""
    return st.tuples(st.sampled_from(kinds), st.integers(0, 2**32), st.integers(0, 2**16))


def random_op(rng: np.random.Generator, kinds: tuple[str, ...]) -> Op:
    """The same mutations drawn by a seeded numpy generator (for measuring readers outside hypothesis)."""
    return str(kinds[rng.integers(len(kinds))]), int(rng.integers(2**32)), int(rng.integers(2**16))


@dataclass
class Case:
    """A reader under fuzzing: ``build(folder)`` writes the clean file and returns it; ``read(path)`` reads one.

    ``suffix`` is the mutant's file-name ending; ``binary`` selects the mutation kinds; ``count_free`` formats
    (no frame or sample count in the file) may legitimately read as a shorter file when cut at a record boundary,
    ``loose_count`` ones (CSV) one sample more or less after any damage; ``optional`` keys may be missing (a
    damaged name of an optional column reads as a file without it); ``check`` adds reader-specific checks;
    ``unguardable(clean_bytes, op)`` marks the damage no reader can tell from a valid file (its frame count may
    change; the values must still be finite).
    """

    name: str
    build: Callable[[Path], Path]
    read: Callable[[Path], ad.AnnData]
    suffix: str
    binary: bool = False
    count_free: bool = False
    loose_count: bool = False
    optional: tuple[str, ...] = ()
    check: Callable[[ad.AnnData], str | None] | None = None
    unguardable: Callable[[bytes, Op], bool] | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return BINARY_KINDS if self.binary else TEXT_KINDS


def _numeric(prefix: str, value) -> Iterator[tuple[str, np.ndarray]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numeric(f"{prefix}/{key}", item)
    elif isinstance(value, (np.ndarray, list, tuple, float, int, np.number)):
        arr = np.asarray(value)
        if arr.dtype.kind in "fiuc":
            yield prefix, arr


def arrays(adata: ad.AnnData) -> dict[str, np.ndarray]:
    """Every numeric array the reader returned: X, obs columns, obsm, and (nested) uns, by path."""
    out = {"X": np.asarray(adata.X)}
    out.update({f"obs/{c}": adata.obs[c].to_numpy() for c in adata.obs.columns
                if pd.api.types.is_numeric_dtype(adata.obs[c])})
    out.update({f"obsm/{k}": np.asarray(v) for k, v in adata.obsm.items()})
    out.update(dict(_numeric("uns", dict(adata.uns))))
    return out


def _rows_ok(case: Case, op: Op, n: int, n_clean: int, lenient: bool) -> bool:
    if n == n_clean or lenient:
        return True
    return (case.count_free and op[0] == "truncate" and 0 < n < n_clean) or (case.loose_count and abs(n - n_clean) <= 1)


def judge(case: Case, clean: dict[str, np.ndarray], read: Callable[[], ad.AnnData], name: str, op: Op,
          lenient: bool = False) -> str:
    """Outcome of one damaged read: ``"error"``, ``"data"``, or ``"wrong: ..."`` / ``"raw: ..."`` (failures)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adata = read()
    except BadInputError as err:
        return "error" if name in str(err) else f"raw: BadInputError without the file name: {err}"
    except Exception as err:  # anything else is a failure of the reader
        return f"raw: {type(err).__name__}: {err}"
    got = arrays(adata)
    if set(got) - set(clean) or set(clean) - set(got) - set(case.optional):
        return f"wrong: keys {sorted(set(got) ^ set(clean))} differ from the clean file's"
    n_clean, n = len(clean["X"]), len(got["X"])
    if not _rows_ok(case, op, n, n_clean, lenient):
        return f"wrong: {n} rows (frames or samples) instead of {n_clean}"
    for key, value in got.items():
        want = clean[key]
        per_row = not key.startswith("uns/")  # X, obs and obsm have one row per frame or sample
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return f"wrong: {key} holds NaN or infinite values"
        if value.shape[per_row:] != want.shape[per_row:]:
            return f"wrong: {key} has shape {value.shape}, the clean file {want.shape}"
        cut = per_row and op[0] == "truncate" and not lenient and n < n_clean
        if cut and not np.array_equal(value[:n - 1], want[:n - 1]):
            return f"wrong: a truncated read whose {key} is not the clean file's first rows"
    if case.check is not None:
        problem = case.check(adata)
        if problem:
            return f"wrong: {problem}"
    return "data"


def fuzz_once(case: Case, folder: Path, clean_path: Path, clean: dict[str, np.ndarray], op: Op) -> str:
    """Damage the clean file with ``op``, read it back and judge the outcome."""
    mutant = folder / f"mutant{case.suffix}"
    data = clean_path.read_bytes()
    mutant.write_bytes(mutate(data, op))
    lenient = case.unguardable is not None and case.unguardable(data, op)
    return judge(case, clean, lambda: case.read(mutant), mutant.name, op, lenient)


def fuzz_tests(cases: list[Case], examples: int = 150, slow_examples: int = 3000):
    """The default fuzz test over ``cases`` and its ``slow`` twin with many more examples."""

    @pytest.fixture(scope="module")
    def clean_files(tmp_path_factory):
        out = {}
        for case in cases:
            folder = tmp_path_factory.mktemp(case.name)
            path = case.build(folder)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[case.name] = (folder, path, arrays(case.read(path)))
        return out

    def make(n: int, slow: bool):
        @pytest.mark.parametrize("case", cases, ids=[c.name for c in cases])
        @settings(max_examples=n, derandomize=True, deadline=2000, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(data=st.data())
        def test(case, clean_files, data):
            folder, path, clean = clean_files[case.name]
            op = data.draw(ops(case.kinds), label="op")
            outcome = fuzz_once(case, folder, path, clean, op)
            assert outcome in ("error", "data"), outcome

        return pytest.mark.slow(test) if slow else test

    return clean_files, make(examples, False), make(slow_examples, True)


# ======================================================================================== active-matter readers
def _dump_text(frames, columns, boxes, *, header="pp pp pp", extra="") -> str:
    out = []
    for (step, data), box in zip(frames, boxes, strict=True):
        out += ["ITEM: TIMESTEP", str(step), *extra.format(step=step).splitlines(), "ITEM: NUMBER OF ATOMS",
                str(len(data)), f"ITEM: BOX BOUNDS {header}", *(" ".join(map(repr, row)) for row in box),
                "ITEM: ATOMS " + " ".join(columns)]
        out += [" ".join(str(int(v)) if float(v).is_integer() else repr(float(v)) for v in row) for row in data]
    return "\n".join(out) + "\n"


def _abp_2d(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    frames = []
    for step in (100, 200):
        theta = rng.uniform(-np.pi, np.pi, 4)
        data = np.column_stack([np.arange(1, 5), [1, 2, 1, 2], rng.uniform(0, 10, 4), rng.uniform(0, 8, 4),
                                rng.integers(-2, 3, (4, 2)), np.cos(theta), np.sin(theta), rng.normal(size=(4, 2))])
        frames.append((step, data))
    text = _dump_text(frames, ["id", "type", "x", "y", "ix", "iy", "mux", "muy", "vx", "vy"],
                      [[(0.0, 10.0), (0.0, 8.0), (-0.5, 0.5)], [(-0.125, 10.25), (0.0, 8.0), (-0.5, 0.5)]],
                      extra="ITEM: UNITS\nlj\nITEM: TIME\n{step}.5")
    path = folder / "abp.dump"
    path.write_text(text)
    return path


def _triclinic_3d(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    frames = [(step, np.column_stack([np.arange(1, 4), np.ones(3), rng.uniform(0.05, 0.95, (3, 3)),
                                      rng.normal(size=(3, 3))])) for step in (0, 10)]
    text = _dump_text(frames, ["id", "type", "xs", "ys", "zs", "vx", "vy", "vz"],
                      [[(-1.0, 11.5, 1.5), (0.0, 8.0, -0.5), (0.0, 6.0, 0.25)],
                       [(-1.0, 11.75, 1.5), (0.0, 8.0, -0.5), (0.0, 6.5, 0.25)]], header="xy xz yz pp pp ff")
    path = folder / "tri.dump"
    path.write_text(text)
    return path


def _gz(folder: Path) -> Path:
    path = folder / "abp.dump.gz"
    path.write_bytes(gzip.compress(_abp_2d(folder).read_bytes(), mtime=0))
    return path


def _gsd(folder: Path) -> Path:
    hoomd = pytest.importorskip("gsd.hoomd")
    rng = np.random.default_rng(4)
    n, box = 5, 6.0
    path = folder / "abp.gsd"
    with hoomd.open(str(path), mode="w") as traj:
        for step in (0, 50, 100):
            frame = hoomd.Frame()
            frame.configuration.step = step
            frame.configuration.dimensions = 2
            frame.configuration.box = [box + step / 100, box, 0, 0, 0, 0]  # a barostat: obsm["box"] is stored
            frame.particles.N = n
            frame.particles.types = ["A", "B"]
            frame.particles.typeid = (np.arange(n) % 2).astype(np.uint32)
            frame.particles.position = np.c_[rng.uniform(-box / 2, box / 2, (n, 2)), np.zeros(n)].astype(np.float32)
            theta = rng.uniform(-np.pi, np.pi, n)
            frame.particles.orientation = np.c_[np.cos(theta / 2), np.zeros((n, 2)), np.sin(theta / 2)].astype(
                np.float32)
            frame.particles.image = np.c_[rng.integers(-2, 3, (n, 2)), np.zeros(n)].astype(np.int32)
            frame.particles.velocity = np.c_[rng.normal(size=(n, 2)), np.zeros(n)].astype(np.float32)
            traj.append(frame)
    return path


def particles_ok(adata: ad.AnnData) -> str | None:
    """Reader-specific checks of particle data: a positive box, positions of the right shape."""
    box = np.asarray(adata.uns["box"])
    if not (box > 0).all():
        return f"box {box} has an edge that is not positive"
    if adata.obsm["positions"].shape[1] != adata.uns["n_particles"] * adata.uns["dim"]:
        return "positions do not match n_particles * dim"
    return None


def _read_3d(path: Path) -> ad.AnnData:
    return read_lammps_dump(path, dimension=3)


# a dump may have no type column (a damaged 'type' header reads as such a dump); a dump cut after its first frame
# has one box, so no obsm["box"]
OPTIONAL = ("uns/particle_types", "obsm/box")
def gsd_frame_numbers(data: bytes, op: Op) -> bool:
    """Damage to the frame number of a GSD index entry: GSD has no checksum, and a chunk moved to a neighbouring
    frame (the last chunk of the last frame to a new frame, say) reads like a file written that way."""
    location, allocated = (int(v) for v in np.frombuffer(data[:24], dtype="<u8")[1:3])
    k = op[1] % len(data) if data else 0
    if op[0] == "nan_float":
        k = k // 4 * 4
    inside = location <= k < location + 32 * allocated and (k - location) % 32 < 8
    return op[0] in ("flip", "nan_float") and inside


CASES = [
    Case("lammps_2d", _abp_2d, read_lammps_dump, ".dump", count_free=True, optional=OPTIONAL, check=particles_ok),
    Case("lammps_triclinic", _triclinic_3d, _read_3d, ".dump", count_free=True, optional=OPTIONAL,
         check=particles_ok),
    Case("lammps_gz", _gz, read_lammps_dump, ".dump.gz", binary=True, count_free=True, optional=OPTIONAL[1:],
         check=particles_ok),
    Case("gsd", _gsd, read_gsd, ".gsd", binary=True, check=particles_ok, unguardable=gsd_frame_numbers),
]

clean_files, test_fuzz_activematter_readers, test_fuzz_activematter_readers_slow = fuzz_tests(CASES)


def test_mutations_change_the_file():
    data = b"ITEM: TIMESTEP\n100\n1 2 3.5\n"
    assert mutate(data, ("truncate", 5, 0)) == data[:5]
    assert mutate(data, ("delete_line", 1, 0)) == b"ITEM: TIMESTEP\n1 2 3.5\n"
    assert mutate(data, ("duplicate_line", 1, 0)).count(b"100\n") == 2
    assert mutate(data, ("replace_number", 3, 0)) == b"ITEM: TIMESTEP\n100\n1 2 nan\n"
    assert mutate(data, ("empty", 0, 0)) == b""
    assert mutate(data, ("encoding", 0, 0)).startswith(b"\xff\xfe")
    assert all(mutate(data, ("flip", k, 7)) != data for k in range(len(data)))
    binary = bytes(range(64))
    assert len(mutate(binary, ("nan_float", 9, 0))) == 64 and mutate(binary, ("nan_float", 9, 0))[8:12] == NAN_BITS[0]
