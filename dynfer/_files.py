"""File helpers shared by the readers, the dataset registry, the reports and the workflow runner."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from dynfer._errors import BadInputError

__all__ = ["check_out_dir", "sha256_file"]

#: Digests of files whose identity and state could be proven unchanged: (resolved path, device, inode, size,
#: mtime_ns, ctime_ns) -> hex sha256. A user can set a file's mtime back (``os.utime``) but not its ctime, which the
#: kernel sets to "now" on every write, ``utime`` and rename; a replaced file also gets a new inode.
_CACHE: dict[tuple[str, int, int, int, int, int], str] = {}

#: A file changed less than this long before it was hashed is not remembered: a later change within the same tick of
#: a coarse filesystem clock could leave its ctime equal (the "racy clean" case of git's index). Two seconds covers
#: the coarsest timestamps in use (FAT).
RACY_WINDOW_NS = 2_000_000_000


def _state(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks.

    A digest is remembered within the session only while the file provably did not change: the memo is keyed on the
    resolved path, device, inode, size, modification time *and* status-change time (``st_ctime_ns``, which the
    kernel updates on every write, ``os.utime`` and rename, and which a user cannot set back). A file whose
    content changed with its mtime restored, or that was replaced by another file, is hashed again. Files changed
    within :data:`RACY_WINDOW_NS` of the hash, or that changed while being hashed, are not remembered at all. So a
    file checked by the dataset registry and recorded again by a reader is hashed once, and a verified file that is
    later altered is never served as verified.
    """
    p = Path(path)
    before = p.stat()
    key = (str(p.resolve()), *_state(before))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    started = time.time_ns()
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    hexdigest = digest.hexdigest()
    settled = min(started - before.st_ctime_ns, started - before.st_mtime_ns) > RACY_WINDOW_NS
    if settled and _state(p.stat()) == key[1:]:
        _CACHE[key] = hexdigest
    return hexdigest


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
