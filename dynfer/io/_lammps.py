"""Parser of LAMMPS text dumps (``dump custom`` / ``dump atom``) into per-frame numpy arrays.

The atoms block of each frame is converted in one vectorised call (``numpy.loadtxt``, whose parser is compiled, on
the block of ``NUMBER OF ATOMS`` lines), never atom by atom.
Everything here is array-level; :mod:`dynfer.io.activematter` builds the AnnData.
"""

from __future__ import annotations

import gzip
import io
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dynfer._errors import BadInputError

__all__ = ["DumpFrame", "box_matrix", "parse_dump_file"]


@dataclass
class DumpFrame:
    """One frame of a dump: timestep, box and the atoms block as a (n_atoms, n_columns) float array."""

    timestep: int
    n_atoms: int
    bounds: np.ndarray  # (3, 2) lo/hi of the orthogonal box (tilt removed for triclinic boxes)
    tilt: np.ndarray  # (3,) xy, xz, yz (zeros when orthogonal)
    periodic: list[str]
    columns: list[str]
    data: np.ndarray
    source: str
    time: float | None = None
    extra: dict = field(default_factory=dict)
    line: int = 0  # 1-based line of the first atom row


_MAX_INT = 2**63  # timesteps, atom counts: LAMMPS bigint
_PERIODIC = {"p", "f", "s", "m"}


def _read_text(path: Path) -> str:
    """The file's text; a damaged gzip stream or a byte that is not UTF-8 raises BadInputError naming the place."""
    source = str(path)
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
            raise BadInputError(source, f"the gzip stream is truncated or corrupt ({type(err).__name__}: {err})",
                                "a complete .gz file", hint="re-copy or re-compress the dump") from None
    else:
        raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise BadInputError(source, f"byte 0x{raw[err.start]:02x} is not text (not UTF-8)", "a LAMMPS text dump",
                            line=line, hint="the file is damaged, or is not a text dump") from None


def _triclinic_bounds(raw: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """Orthogonal lo/hi from LAMMPS triclinic ``xlo_bound xhi_bound xy`` lines (LAMMPS howto triclinic)."""
    xy, xz, yz = tilt
    xlo = raw[0, 0] - min(0.0, xy, xz, xy + xz)
    xhi = raw[0, 1] - max(0.0, xy, xz, xy + xz)
    ylo = raw[1, 0] - min(0.0, yz)
    yhi = raw[1, 1] - max(0.0, yz)
    return np.array([[xlo, xhi], [ylo, yhi], [raw[2, 0], raw[2, 1]]])


def box_matrix(bounds: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """Edge-vector matrix ``h`` (columns a, b, c) so that r = lo + h @ s for scaled coordinates s in [0, 1)."""
    lx, ly, lz = bounds[:, 1] - bounds[:, 0]
    xy, xz, yz = tilt
    return np.array([[lx, xy, xz], [0.0, ly, yz], [0.0, 0.0, lz]])


def _error(source: str, line: int, message: str, expected: str | None = None) -> BadInputError:
    """BadInputError at the 0-based ``line`` of ``source``."""
    return BadInputError(source, message, expected, line=line + 1)


def _integer(lines: list[str], i: int, source: str, what: str, *, header: str) -> int:
    """The non-negative integer on line ``i`` (0-based), which follows the item ``header``."""
    if i >= len(lines):
        raise _error(source, i - 1, f"the file ends after {header!r}", f"{what} on the next line")
    words = lines[i].split()
    try:
        value = int(words[0])
    except (IndexError, ValueError):
        raise _error(source, i, f"{lines[i][:40]!r} after {header!r}", f"{what} (an integer)") from None
    if not 0 <= value < _MAX_INT:
        raise _error(source, i, f"{what} {value}", "an integer in 0 .. 2^63 - 1")
    return value


def _box(lines: list[str], i: int, source: str, timestep: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Orthogonal bounds (3, 2), tilt (3,) and periodicity flags of the ``ITEM: BOX BOUNDS`` item at line ``i``."""
    header = lines[i]
    words = header.split()[3:]
    triclinic = words[:3] == ["xy", "xz", "yz"]
    periodic = words[3:] if triclinic else words
    if periodic and (len(periodic) != 3 or any(not f or set(f) - _PERIODIC or len(f) > 2 for f in periodic)):
        raise _error(source, i, f"box header {header.strip()[:60]!r}",
                     "'ITEM: BOX BOUNDS' then, optionally, 'xy xz yz', then three boundary flags (pp, ff, fs, sm, ...)")
    if i + 3 >= len(lines):
        raise _error(source, i, f"the file ends inside the box bounds of timestep {timestep}", "three lines of numbers")
    n_numbers = 3 if triclinic else 2
    raw = np.empty((3, 3))
    for k in range(3):
        words = lines[i + 1 + k].split()
        try:
            values = [float(w) for w in words]
        except ValueError:
            values = []
        if len(values) != n_numbers:
            what = "lo_bound hi_bound tilt" if triclinic else "lo hi"
            raise _error(source, i + 1 + k, f"box line {lines[i + 1 + k][:60]!r} of timestep {timestep}",
                         f"{n_numbers} numbers: {what}")
        raw[k, :n_numbers] = values
        bad = [v for v in values if not np.isfinite(v)]
        if bad:
            raise _error(source, i + 1 + k, f"box bound {bad[0]!r} of timestep {timestep}", "finite numbers")
    tilt = raw[:, 2].copy() if triclinic else np.zeros(3)
    bounds = _triclinic_bounds(raw[:, :2], tilt) if triclinic else raw[:, :2].copy()
    with np.errstate(over="ignore", invalid="ignore"):
        lengths = bounds[:, 1] - bounds[:, 0]
        volume = np.prod(lengths)
    for k, axis in enumerate("xyz"):
        if not (np.isfinite(lengths[k]) and lengths[k] > 0):
            lo, hi = (float(v) for v in raw[k, :2])
            raise _error(source, i + 1 + k, f"box bounds {lo!r} {hi!r} of timestep {timestep} give the {axis} edge "
                         f"length {float(lengths[k])!r}" + (" once the tilt is removed" if triclinic else ""),
                         "lo < hi, with a finite edge length")
    if not np.isfinite(volume):
        raise _error(source, i + 1, f"box edge lengths {lengths.tolist()} of timestep {timestep} overflow (their "
                     "product, the box volume, is not a finite number)", "box bounds of physical size")
    return bounds, tilt, periodic


def _bad_atom_line(block_lines: list[str], n_columns: int) -> tuple[int, str]:
    """Index and description of the first atom line that is not ``n_columns`` numbers."""
    for k, line in enumerate(block_lines):
        words = line.split()
        if len(words) != n_columns:
            return k, f"{len(words)} value(s) where the ATOMS header names {n_columns} column(s)"
        for word in words:
            try:
                float(word)
            except ValueError:
                return k, f"the non-number {word[:30]!r}"
    return 0, "values numpy cannot read"


def parse_dump_file(path: str | Path) -> list[DumpFrame]:
    """All frames of one LAMMPS text dump file (optionally gzip-compressed), in file order.

    Raises :class:`~dynfer.BadInputError` naming the file and line for anything that is not a well-formed dump: a
    damaged gzip stream or a byte that is not UTF-8, a file that does not start with ``ITEM: TIMESTEP``, a header
    item without its value, a timestep or atom count that is not a non-negative integer, box bounds that are not
    finite or have lo >= hi (or overflow), a truncated atoms block (fewer lines than ``NUMBER OF ATOMS``), rows with
    the wrong number of values, or values that are not numbers.
    """
    path = Path(path)
    source = str(path)
    lines = _read_text(path).split("\n")  # LAMMPS ends lines with \n only (str.splitlines also splits on \f, \x1c ...)
    if lines[-1] == "":
        lines.pop()
    frames: list[DumpFrame] = []
    i, n_lines = 0, len(lines)
    while i < n_lines:
        if not lines[i].strip():
            i += 1
            continue
        if lines[i].rstrip() != "ITEM: TIMESTEP":
            what = "a LAMMPS text dump must start with 'ITEM: TIMESTEP'" if not frames else "expected 'ITEM: TIMESTEP'"
            raise _error(source, i, f"{what}, found {lines[i][:60]!r} (not a LAMMPS text dump?)")
        timestep = _integer(lines, i + 1, source, "the timestep", header="ITEM: TIMESTEP")
        i += 2
        n_atoms = bounds = tilt = periodic = None
        time = None
        extra: dict = {}
        while True:
            if i >= n_lines:
                raise _error(source, i - 1, f"frame at timestep {timestep} ends before its 'ITEM: ATOMS' block")
            header = lines[i].rstrip()
            item = header.split()[:4]
            if item == ["ITEM:", "NUMBER", "OF", "ATOMS"] and len(header.split()) == 4:
                n_atoms = _integer(lines, i + 1, source, "the number of atoms", header=header)
                i += 2
            elif item[:3] == ["ITEM:", "BOX", "BOUNDS"]:
                bounds, tilt, periodic = _box(lines, i, source, timestep)
                i += 4
            elif header in ("ITEM: TIME", "ITEM: UNITS"):
                if i + 1 >= n_lines or not lines[i + 1].strip():
                    raise _error(source, i, f"{header!r} without a value", "its value on the next line")
                value = lines[i + 1].strip()
                if header == "ITEM: UNITS":
                    extra["units"] = value
                else:
                    try:
                        time = float(value)
                    except ValueError:
                        time = np.nan
                    if not np.isfinite(time):
                        raise _error(source, i + 1, f"ITEM: TIME value {value[:40]!r}", "a finite number")
                i += 2
            elif item[:2] == ["ITEM:", "ATOMS"]:
                break
            else:
                raise _error(source, i, f"unexpected line {header[:60]!r} in the header of timestep {timestep}")
        if n_atoms is None or bounds is None:
            raise _error(source, i, f"frame at timestep {timestep} lacks 'NUMBER OF ATOMS' or 'BOX BOUNDS'")
        columns = header.split()[2:]
        if len(set(columns)) != len(columns):
            raise _error(source, i, f"duplicate column names in {header!r}")
        start, stop = i + 1, i + 1 + n_atoms
        block_lines = lines[start:stop]
        cut = next((k for k, line in enumerate(block_lines) if line.startswith("ITEM:")), -1)
        if stop > n_lines or cut >= 0:
            found = cut if cut >= 0 else n_lines - start
            raise _error(source, start, f"truncated frame at timestep {timestep}: NUMBER OF ATOMS is {n_atoms} "
                         f"but only {found} atom line(s) follow")
        if n_atoms == 0:
            data = np.empty((0, len(columns)))
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # loadtxt warns on empty input; the shape check below says more
                    data = np.loadtxt(io.StringIO("\n".join(block_lines)), dtype=np.float64, comments=None, ndmin=2)
            except ValueError:
                k, what = _bad_atom_line(block_lines, len(columns))
                raise _error(source, start + k, f"bad atoms block of timestep {timestep} (columns "
                             f"{' '.join(columns)}): {what}", "one number per column") from None
        if data.shape != (n_atoms, len(columns)):
            k, what = _bad_atom_line(block_lines, len(columns))
            raise _error(source, start + k, f"atoms block of timestep {timestep} has shape {data.shape} ({what})",
                         f"{n_atoms} rows x {len(columns)} columns ({' '.join(columns)})")
        frames.append(DumpFrame(timestep, n_atoms, bounds, tilt, periodic, columns, data, source, time, extra,
                                line=start + 1))
        i = stop
    if not frames:
        raise BadInputError(source, "no frames (empty file?)", "at least one 'ITEM: TIMESTEP' frame")
    return frames
