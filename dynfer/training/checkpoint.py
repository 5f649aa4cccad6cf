"""Checkpoints of the fit loop: one file, ``last.pt``, written atomically and read back on resume.

A checkpoint is a plain dictionary of tensors, numbers, strings and lists (so it loads with
``torch.load(..., weights_only=True)``) holding everything the loop needs to continue bit for bit: the model,
optimiser and scheduler states, the step, the batch generator and the global RNG states, the sampler position, the
history and the best (validation) state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dynfer._errors import BadInputError

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_NAME = "last.pt"
"""File name of the checkpoint inside ``checkpoint_dir``."""

FORMAT_VERSION = 1


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: to a temporary file in the same folder, fsync, then rename.

    A crash while writing leaves the previous checkpoint intact; readers never see a partial file.

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
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Raises
    ------
    ValueError
        If the file is not a dynfer fit checkpoint of a known format version.
    """
    path = Path(path)
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
