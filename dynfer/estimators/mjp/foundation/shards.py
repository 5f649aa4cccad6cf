"""Prior data on disk: seeded shards, one file each, read back memory-mapped.

The data can grow past memory, and a run that stops part-way continues where it stopped.

Shard ``k`` of a folder is drawn with the generator seeded by ``seed + k``: the same seed always gives the same
data, whichever shards already exist, and any missing shard can be rebuilt alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._validation import progress
from dynfer.estimators.mjp.foundation.prior import sample_contexts

__all__ = ["INPUT_KEYS", "TARGET_KEYS", "ShardSampler", "load_shards", "write_shards"]

INPUT_KEYS = ("pairs", "triples", "first", "n_states")
TARGET_KEYS = ("log_rates", "adjacency", "initial")


def _shard_path(folder: Path, k: int) -> Path:
    return folder / f"shard_{k:05d}.npz"


def write_shards(folder: str | Path, n_shards: int, *, contexts_per_shard: int = 512, seed: int = 0) -> list[Path]:
    """Write shards ``0 .. n_shards - 1`` of the prior into ``folder``, skipping those already there.

    Each file is written to a temporary name and renamed, so an interrupted run never leaves half a shard.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in progress(range(n_shards), desc="prior shards"):
        path = _shard_path(folder, k)
        if not path.exists():
            gen = torch.Generator().manual_seed(seed + k)
            data = sample_contexts(contexts_per_shard, gen)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **data)
            os.replace(tmp, path)
        paths.append(path)
    return paths


def load_shards(folder: str | Path, shards: range | list[int]) -> dict[str, np.ndarray]:
    """The given shards of ``folder`` concatenated (inputs and targets only)."""
    folder = Path(folder)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in INPUT_KEYS + TARGET_KEYS}
    for k in shards:
        path = _shard_path(folder, k)
        if not path.exists():
            raise BadInputError(f"prior shard {path} is missing; write it with write_shards({str(folder)!r}, ...)")
        with np.load(path) as z:
            for key in parts:
                parts[key].append(np.asarray(z[key]))
    return {k: np.concatenate(v) for k, v in parts.items()}


class ShardSampler:
    """Mini-batches drawn uniformly from shards kept as memory-mapped ``.npy`` arrays.

    ``ShardSampler(folder, shards)(generator, batch_size)`` is a sampler for :func:`dynfer.training.fit`: rows are
    drawn with the loop's generator, so a resumed run draws the same batches. On first use each shard is unpacked
    once into a folder of ``.npy`` files beside it, which are then opened with ``mmap_mode="r"``.
    """

    def __init__(self, folder: str | Path, shards: range | list[int]) -> None:
        self.folder = Path(folder)
        self.arrays: list[dict[str, np.ndarray]] = []
        for k in shards:
            unpacked = self.folder / f"shard_{k:05d}"
            if not (unpacked / "done").exists():
                unpacked.mkdir(exist_ok=True)
                with np.load(_shard_path(self.folder, k)) as z:
                    for key in INPUT_KEYS + TARGET_KEYS:
                        np.save(unpacked / f"{key}.npy", np.asarray(z[key]))
                (unpacked / "done").touch()
            self.arrays.append({key: np.load(unpacked / f"{key}.npy", mmap_mode="r")
                                for key in INPUT_KEYS + TARGET_KEYS})
        sizes = np.array([len(a["n_states"]) for a in self.arrays])
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.n_rows = int(self.offsets[-1])

    def __call__(self, gen: torch.Generator, batch_size: int) -> dict[str, torch.Tensor]:
        """A batch of ``batch_size`` rows drawn uniformly (with replacement) with ``gen``."""
        rows = torch.randint(0, self.n_rows, (batch_size,), generator=gen, device=gen.device).cpu().numpy()
        shard = np.searchsorted(self.offsets, rows, side="right") - 1
        out: dict[str, list[np.ndarray]] = {k: [] for k in INPUT_KEYS + TARGET_KEYS}
        for s in np.unique(shard):
            local = np.sort(rows[shard == s] - self.offsets[s])
            for key in out:
                out[key].append(np.asarray(self.arrays[s][key][local]))
        return {k: torch.as_tensor(np.concatenate(v)) for k, v in out.items()}
