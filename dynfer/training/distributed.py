"""torch.distributed data-parallel support of the fit loop.

The loop runs data-parallel when ``torch.distributed`` is already initialised or when the process was launched by
``torchrun`` (environment ``WORLD_SIZE > 1``); in the second case it initialises the default process group itself
(backend ``"nccl"`` on CUDA, ``"gloo"`` on CPU, rendezvous from the ``MASTER_ADDR``/``MASTER_PORT``/``RANK``
environment that ``torchrun`` sets) and leaves it initialised for later calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from dynfer._errors import BadInputError

__all__ = ["DistributedContext", "is_main_process", "setup_distributed"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a data-parallel run (``world_size == 1``: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that writes checkpoints and shows progress."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks in place (no-op when not distributed) and return it."""
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def broadcast(self, obj: Any, device: torch.device | None = None) -> Any:
        """Rank 0's ``obj`` on every rank (picklable objects; no-op when not distributed)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=device)
        return box[0]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise BadInputError(f"environment variable {name} must be an integer, got {raw!r}") from None


def launched_world_size() -> int:
    """World size of an initialised process group, else ``WORLD_SIZE`` from the environment (default 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a distributed run (use it to guard file writes and prints)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return _env_int("RANK", 0) == 0


def setup_distributed(enabled: bool | None, device: torch.device) -> DistributedContext:
    """Return the data-parallel context, initialising the default process group when launched by ``torchrun``.

    Parameters
    ----------
    enabled
        ``None``: distributed exactly when a group is initialised or ``WORLD_SIZE > 1``; ``False``: never (each
        process trains its own copy); ``True``: require a distributed launch.
    device
        The training device; picks the backend (``"nccl"`` for CUDA, ``"gloo"`` otherwise).

    Raises
    ------
    ValueError
        If ``enabled=True`` but the process is neither launched by ``torchrun`` nor in an initialised group.
    """
    if enabled is False:
        return DistributedContext()
    initialised = dist.is_available() and dist.is_initialized()
    if not initialised and launched_world_size() <= 1:
        if enabled:
            raise BadInputError(
                "distributed=True but torch.distributed is not initialised and WORLD_SIZE is not > 1; launch with "
                "`torchrun --nproc_per_node N script.py` or call torch.distributed.init_process_group first"
            )
        return DistributedContext()
    if not initialised:
        if not dist.is_available():
            raise BadInputError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistributedContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=_env_int("LOCAL_RANK", 0)
    )


def resolve_training_device(device: str | torch.device | None) -> torch.device:
    """The training device: ``device`` or ``settings.device``.

    A bare ``"cuda"`` becomes ``cuda:LOCAL_RANK`` in a multi-process launch, so each rank gets its own GPU.
    """
    from dynfer._settings import settings

    dev = settings.resolve_device(device)
    if dev.type == "cuda" and dev.index is None and launched_world_size() > 1:
        dev = torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return dev
