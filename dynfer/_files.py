"""File helpers shared by the readers, the dataset registry, the reports and the workflow runner."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dynfer._errors import BadInputError

__all__ = ["check_out_dir", "sha256_file"]

_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks.

    Remembered per (resolved path, size, modification time) within the session, so a file checked by the dataset
    registry and recorded again by a reader is hashed once.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        digest = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                digest.update(block)
        _CACHE[key] = digest.hexdigest()
    return _CACHE[key]


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an output folder that would silently mix or replace files.

    Raises
    ------
    ValueError
        If ``out`` exists and is not a folder (whatever ``overwrite``), or is a non-empty folder and ``overwrite``
        is false. A missing path or an empty folder is accepted.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"out_dir {str(out)!r} exists and is not a folder")
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise BadInputError(
            f"out_dir {str(out)!r} exists and is not empty; choose another or pass overwrite=True (--overwrite)"
        )
