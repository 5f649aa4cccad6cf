"""Parser of LAMMPS text dumps (``dump custom`` / ``dump atom``) into per-frame numpy arrays.

The atoms block of each frame is converted in one vectorised call (``numpy.loadtxt``, whose parser is compiled, on
the block of ``NUMBER OF ATOMS`` lines), never atom by atom.
Everything here is array-level; :mod:`dynfer.io.activematter` builds the AnnData.
"""

from __future__ import annotations

import gzip
import io
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


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as handle:
            return handle.read()
    return path.read_text()


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


def _error(source: str, line: int, message: str) -> ValueError:
    return ValueError(f"{source}, line {line + 1}: {message}")


def parse_dump_file(path: str | Path) -> list[DumpFrame]:
    """All frames of one LAMMPS text dump file (optionally gzip-compressed), in file order.

    Raises a ValueError naming the file and line for anything that is not a well-formed dump: a file that does not
    start with ``ITEM: TIMESTEP``, a truncated atoms block (fewer lines than ``NUMBER OF ATOMS``), rows with the
    wrong number of values, or values that are not numbers.
    """
    path = Path(path)
    source = str(path)
    lines = _read_text(path).splitlines()
    frames: list[DumpFrame] = []
    i, n_lines = 0, len(lines)
    while i < n_lines:
        if not lines[i].strip():
            i += 1
            continue
        if not lines[i].startswith("ITEM: TIMESTEP"):
            what = "a LAMMPS text dump must start with 'ITEM: TIMESTEP'" if not frames else "expected 'ITEM: TIMESTEP'"
            raise _error(source, i, f"{what}, found {lines[i][:60]!r} (not a LAMMPS text dump?)")
        try:
            timestep = int(lines[i + 1].split()[0])
        except (IndexError, ValueError):
            raise _error(source, i + 1, "ITEM: TIMESTEP must be followed by an integer timestep") from None
        i += 2
        n_atoms = bounds = tilt = periodic = None
        time = None
        extra: dict = {}
        while True:
            if i >= n_lines:
                raise _error(source, i - 1, f"frame at timestep {timestep} ends before its 'ITEM: ATOMS' block")
            header = lines[i]
            if header.startswith("ITEM: NUMBER OF ATOMS"):
                try:
                    n_atoms = int(lines[i + 1])
                except (IndexError, ValueError):
                    raise _error(source, i + 1, "ITEM: NUMBER OF ATOMS must be followed by an integer") from None
                i += 2
            elif header.startswith("ITEM: BOX BOUNDS"):
                words = header.split()[3:]
                triclinic = words[:3] == ["xy", "xz", "yz"]
                periodic = words[3:] if triclinic else words
                try:
                    raw = np.array([lines[i + k].split() for k in (1, 2, 3)], dtype=np.float64)
                except (IndexError, ValueError):
                    raise _error(source, i + 1, "ITEM: BOX BOUNDS must be followed by three lines of numbers") from None
                if triclinic:
                    if raw.shape != (3, 3):
                        raise _error(source, i + 1, "triclinic box lines need 3 numbers: lo_bound hi_bound tilt")
                    tilt = raw[:, 2].copy()
                    bounds = _triclinic_bounds(raw[:, :2], tilt)
                else:
                    if raw.shape[1] < 2:
                        raise _error(source, i + 1, "box lines need 2 numbers: lo hi")
                    tilt, bounds = np.zeros(3), raw[:, :2].copy()
                i += 4
            elif header.startswith("ITEM: TIME"):
                time = float(lines[i + 1])
                i += 2
            elif header.startswith("ITEM: UNITS"):
                extra["units"] = lines[i + 1].strip()
                i += 2
            elif header.startswith("ITEM: ATOMS"):
                break
            else:
                raise _error(source, i, f"unexpected line {header[:60]!r} in the header of timestep {timestep}")
        if n_atoms is None or bounds is None:
            raise _error(source, i, f"frame at timestep {timestep} lacks 'NUMBER OF ATOMS' or 'BOX BOUNDS'")
        columns = header.split()[2:]
        if len(set(columns)) != len(columns):
            raise _error(source, i, f"duplicate column names in {header!r}")
        start, stop = i + 1, i + 1 + n_atoms
        block = "\n".join(lines[start:stop])
        cut = block.find("ITEM:")
        if stop > n_lines or cut >= 0:
            found = block[:cut].count("\n") if cut >= 0 else n_lines - start
            raise _error(source, start, f"truncated frame at timestep {timestep}: NUMBER OF ATOMS is {n_atoms} "
                         f"but only {found} atom line(s) follow")
        if n_atoms == 0:
            data = np.empty((0, len(columns)))
        else:
            try:
                data = np.loadtxt(io.StringIO(block), dtype=np.float64, comments=None, ndmin=2)
            except ValueError as exc:
                raise _error(source, start, f"bad atoms block of timestep {timestep} (columns "
                             f"{' '.join(columns)}): {exc}") from None
        if data.shape != (n_atoms, len(columns)):
            raise _error(source, start, f"atoms block of timestep {timestep} has shape {data.shape}; expected "
                         f"{n_atoms} rows x {len(columns)} columns ({' '.join(columns)})")
        frames.append(DumpFrame(timestep, n_atoms, bounds, tilt, periodic, columns, data, source, time, extra))
        i = stop
    if not frames:
        raise BadInputError(f"{source}: no frames (empty file?)")
    return frames
