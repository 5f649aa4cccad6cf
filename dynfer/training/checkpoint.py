"""Checkpoints of the fit loop: one file, ``last.pt``, written atomically and read back on resume.

A checkpoint is a plain dictionary of tensors, numbers, strings and lists (so it loads with
``torch.load(..., weights_only=True)``) holding everything the loop needs to continue bit for bit: the model,
optimiser and scheduler states, the step, the batch generator and the global RNG states, the sampler position, the
history and the best (validation) state.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import torch

from dynfer._errors import BadInputError

__all__ = ["CHECKPOINT_NAME", "clean_stale_temporaries", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_NAME = "last.pt"
"""File name of the checkpoint inside ``checkpoint_dir``."""

FORMAT_VERSION = 1

STALE_TMP_SECONDS = 3600.0
"""Age after which a temporary checkpoint file counts as abandoned even if its pid is alive (a reused pid)."""


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (POSIX; elsewhere every pid counts as alive)."""
    if pid <= 0:  # 0 and negative pids name process groups, never a writer
        return False
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OverflowError, OSError):  # not a pid this system can have
        return False
    return True


def clean_stale_temporaries(path: str | os.PathLike, *, max_age: float = STALE_TMP_SECONDS) -> list[Path]:
    """Remove the temporary files that killed writers of ``path`` left behind.

    :func:`save_checkpoint` writes ``.<name>.<pid>.tmp`` next to ``path`` and renames it; a process killed in between
    leaves it behind. Such a file is removed when its pid is not a live process (``os.kill(pid, 0)`` raising
    :class:`ProcessLookupError`) or when it was last written more than ``max_age`` seconds ago (a pid reused by another
    process). The calling process's own file and files of other names are left alone; a file that cannot be removed
    (read-only folder, removed meanwhile) is skipped.

    Parameters
    ----------
    path
        The checkpoint file whose folder is cleaned.
    max_age
        Seconds after which a temporary file counts as abandoned whatever its pid.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.tmp$")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            age = now - entry.stat().st_mtime
        except OSError:
            continue
        if pid == os.getpid() and age <= max_age:
            continue
        if _pid_alive(pid) and age <= max_age:
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: to a temporary file in the same folder, fsync, then rename.

    A crash while writing leaves the previous checkpoint intact; readers never see a partial file. Temporary files
    left in the folder by killed writers are removed first (:func:`clean_stale_temporaries`).

    Parameters
    ----------
    state
        The dictionary to save (``torch.save`` format).
    path
        Destination file; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU (and clean the folder's stale temporaries).

    Raises
    ------
    ValueError
        If the file is not a dynfer fit checkpoint of a known format version.
    """
    path = Path(path)
    clean_stale_temporaries(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file: re-raised with the path and advice
        raise BadInputError(
            f"could not read checkpoint {path}: {err}; delete it or pass resume=False to start afresh"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise BadInputError(
            f"{path} is not a dynfer.training checkpoint of format {FORMAT_VERSION}; "
            "delete it or pass resume=False to start afresh"
        )
    return state
