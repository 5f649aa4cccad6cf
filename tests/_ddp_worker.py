"""Worker of the data-parallel test: run under ``torchrun --nproc_per_node 2 tests/_ddp_worker.py OUT_DIR``.

Each rank trains the same problem with :func:`dynfer.training.fit` (which initialises the gloo process group from
the torchrun environment) and saves its final parameters and history to ``OUT_DIR/rank{r}.pt``. The test imports
:func:`problem` from this file to run the single-process reference on the same global batches.
"""

from __future__ import annotations

import os
import sys

import torch

from dynfer.nn import MLP
from dynfer.training import fit


def problem():
    """Model, loss, data and fit keyword arguments shared by the workers and the single-process reference."""
    gen = torch.Generator().manual_seed(1234)
    x = torch.randn(240, 3, generator=gen, dtype=torch.float64)
    y = (
        torch.sin(x[:, :1])
        + 0.5 * x[:, 1:2] * x[:, 2:3]
        + 0.1 * torch.randn(240, 1, generator=gen, dtype=torch.float64)
    )
    torch.manual_seed(7)
    model = MLP(3, 1, hidden=(16, 16), dtype=torch.float64, device="cpu")

    def loss_fn(m, batch):
        return ((m(batch[0]) - batch[1]) ** 2).mean()

    kwargs = {
        "val_data": (x[200:], y[200:]),
        "batch_size": 16,
        "max_steps": 40,
        "lr": 1e-2,
        "schedule": "warmup_cosine",
        "warmup_steps": 5,
        "grad_clip": 1.0,
        "eval_every": 10,
        "seed": 3,
        "device": "cpu",
        "progress": False,
    }
    return model, loss_fn, (x[:200], y[:200]), kwargs


def main(out_dir: str) -> None:
    model, loss_fn, data, kwargs = problem()
    result = fit(model, loss_fn, data, checkpoint_dir=os.path.join(out_dir, "ckpt"), checkpoint_every=20, **kwargs)
    rank = torch.distributed.get_rank()
    world = torch.distributed.get_world_size()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(
        {"world_size": world, "state": state, "history": result.history}, os.path.join(out_dir, f"rank{rank}.pt")
    )
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
