"""One optimisation step's pieces: the loss call (through DDP when distributed), batch sampling, validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer.training._data import TensorData, check_batch_rows, shard, tree_map
from dynfer.training.distributed import DistributedContext

LossFn = Callable[[nn.Module, Any], torch.Tensor]


class LossModule(nn.Module):
    """``loss_fn(model, batch)`` as a module, so DDP synchronises whatever methods of the model the loss calls."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self._loss_fn = (loss_fn,)  # a tuple, so a Module loss is not registered as a sub-module

    def forward(self, batch: Any) -> torch.Tensor:
        return self._loss_fn[0](self.model, batch)


def make_step_loss(model, loss_fn, ctx, dev, ddp_kwargs) -> Callable[[Any], torch.Tensor]:
    """A function ``batch -> scalar loss`` checking what ``loss_fn`` returns; through DDP when distributed."""
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        ids = [dev] if dev.type == "cuda" else None
        ddp = DistributedDataParallel(LossModule(model, loss_fn), device_ids=ids, **dict(ddp_kwargs or {}))
        call = ddp
    else:

        def call(batch):
            return loss_fn(model, batch)

    def step_loss(batch: Any) -> torch.Tensor:
        loss = call(batch)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise BadInputError(f"loss_fn must return a scalar tensor (the mean loss over the batch), got {shape}")
        if not loss.requires_grad:
            raise BadInputError("loss_fn returned a tensor that does not require grad; it must depend on the model")
        return loss.reshape(())

    return step_loss


def sample_batch(sampler: Callable, gen: torch.Generator, batch_size: int, ctx: DistributedContext, dev) -> Any:
    """Draw a global batch from a sampler, check its size, keep this rank's shard on ``dev``."""
    batch = sampler(gen, batch_size)
    rows = check_batch_rows(batch, "the batch returned by train_data")
    if rows != batch_size:
        raise BadInputError(f"train_data(generator, {batch_size}) returned {rows} rows instead of {batch_size}")
    return tree_map(lambda t: t.to(dev, non_blocking=True), shard(batch, ctx.rank, ctx.world_size))


def global_mean(loss: torch.Tensor, ctx: DistributedContext) -> float:
    """The loss as a float, averaged over ranks (the global-batch mean, as shards are equal)."""
    value = loss.detach().to(torch.float64)
    if ctx.active:
        value = ctx.all_reduce_sum(value.clone()) / ctx.world_size
    return float(value)


def evaluate(model, loss_fn, val: TensorData, size: int, ctx: DistributedContext, dev) -> float:
    """Row-weighted mean of ``loss_fn`` over the validation rows, summed over ranks' shards."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=dev)
    try:
        with torch.no_grad():
            for batch, n in val.chunks(size, ctx.rank, ctx.world_size, dev):
                total[0] += loss_fn(model, batch).detach().to(torch.float64).reshape(()) * n
                total[1] += n
    finally:
        model.train()
    ctx.all_reduce_sum(total)
    return float(total[0] / total[1])


def nan_advice(kind: str, value: float, step: int, lr: float) -> str:
    """The message of :class:`NonFiniteLossError`."""
    when = "before" if kind == "training" else "after"
    return (
        f"the {kind} loss is {value} at step {step} (0-based); training stopped with the model weights {when} "
        f"that step. Try a smaller lr (now {lr:.3g}), grad_clip=1.0, a warm-up (warmup_steps), float64 "
        "(settings.dtype), or check the data and loss_fn for NaN/inf values"
    )
