"""Training data of the fit loop: batch structures, seeded mini-batch sampling and data-parallel sharding.

A batch is a tensor, a tuple/list of tensors or a mapping of tensors, all with the same first (sample)
dimension; the loss function receives batches in the structure the data was given in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from dynfer._errors import BadInputError

Batch = Any
Sampler = Callable[[torch.Generator, int], Batch]


def tree_map(fn: Callable[[torch.Tensor], torch.Tensor], batch: Batch) -> Batch:
    """Apply ``fn`` to every tensor of a batch structure."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, Mapping):
        return {k: tree_map(fn, v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(tree_map(fn, v) for v in batch)
    raise BadInputError(f"a batch must be a tensor, a tuple/list or a mapping of tensors, got {type(batch).__name__}")


def leaves(batch: Batch) -> list[torch.Tensor]:
    """The tensors of a batch structure, in order."""
    out: list[torch.Tensor] = []
    tree_map(lambda t: out.append(t) or t, batch)
    return out


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise BadInputError(f"{name} must hold tensors (or arrays), got {type(x).__name__}") from None


def check_batch_rows(batch: Batch, name: str) -> int:
    """Common first dimension of the tensors of ``batch``; ``ValueError`` naming ``name`` if they disagree."""
    tensors = leaves(batch)
    if not tensors:
        raise BadInputError(f"{name} holds no tensors")
    for t in tensors:
        if t.ndim == 0:
            raise BadInputError(f"{name} holds a 0-d tensor; every tensor needs a first (sample) dimension")
    sizes = [t.shape[0] for t in tensors]
    if len(set(sizes)) > 1:
        raise BadInputError(f"tensors in {name} must share their first dimension, got first dimensions {sizes}")
    return sizes[0]


class TensorData:
    """In-memory data: a batch structure of tensors with ``n`` rows, indexed by row numbers."""

    def __init__(self, data: Any, name: str) -> None:
        if isinstance(data, (tuple, list)) and len(data) == 0:
            raise BadInputError(f"{name} is empty; pass a tensor or a tuple of tensors")
        self.data = _convert(data, name)
        self.n = check_batch_rows(self.data, name)
        if self.n == 0:
            raise BadInputError(f"{name} has no rows")

    def take(self, idx: torch.Tensor, device: torch.device) -> Batch:
        """Rows ``idx`` (a CPU index tensor) moved to ``device``."""
        return tree_map(lambda t: t[idx.to(t.device)].to(device, non_blocking=True), self.data)

    def chunks(self, size: int, rank: int, world_size: int, device: torch.device):
        """Rows ``rank::world_size`` in consecutive chunks of at most ``size`` rows: ``(batch, n_rows)`` pairs."""
        mine = torch.arange(rank, self.n, world_size)
        for start in range(0, len(mine), size):
            idx = mine[start : start + size]
            yield self.take(idx, device), len(idx)


def _convert(data: Any, name: str) -> Batch:
    if isinstance(data, Mapping):
        return {k: _as_tensor(v, f"{name}[{k!r}]") for k, v in data.items()}
    if isinstance(data, (tuple, list)):
        return tuple(_as_tensor(v, f"{name}[{i}]") for i, v in enumerate(data))
    return _as_tensor(data, name)


class IndexSampler:
    """Mini-batches without replacement: rows are visited in a random order, reshuffled every epoch.

    The order comes from a seeded CPU generator, so the sequence of batches is reproducible; its state (current
    permutation and position) is part of the checkpoint. An epoch's last ``n mod batch_size`` rows are dropped, so
    every batch has exactly ``batch_size`` rows.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.perm: torch.Tensor | None = None
        self.cursor = 0

    def next_indices(self) -> torch.Tensor:
        """Row numbers of the next global batch."""
        if self.perm is None or self.cursor + self.batch_size > self.n:
            self.perm = torch.randperm(self.n, generator=self.generator)
            self.cursor = 0
        idx = self.perm[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return idx

    def state_dict(self) -> dict[str, Any]:
        return {"perm": self.perm, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.perm, self.cursor = state["perm"], int(state["cursor"])


def shard(batch: Batch, rank: int, world_size: int) -> Batch:
    """Rows ``rank::world_size`` of every tensor (the identity when ``world_size == 1``)."""
    if world_size == 1:
        return batch
    return tree_map(lambda t: t[rank::world_size], batch)
