"""Loop state that a checkpoint carries: global RNG streams, reading a checkpoint, restoring a run."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from dynfer._errors import BadInputError
from dynfer.training.checkpoint import load_checkpoint
from dynfer.training.distributed import DistributedContext


def rng_state(device: torch.device) -> dict[str, Any]:
    """Global CPU (and CUDA) RNG states, which drive dropout inside the loop."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def restore_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Set the global RNG states saved by :func:`rng_state`."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def seed_global_rng(seed: int, device: torch.device) -> None:
    """Seed the global CPU RNG (and the RNG of ``device`` when it is a GPU)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


def try_load(path: Path) -> dict | Exception | None:
    """The checkpoint at ``path``, ``None`` if there is none, or the error reading it (to broadcast)."""
    if not path.exists():
        return None
    try:
        return load_checkpoint(path)
    except ValueError as err:
        return err


def check_config(old: dict, new: dict, path: Path, ctx: DistributedContext) -> None:
    """Refuse a checkpoint of other data; warn when other settings changed since it was written."""
    if old.get("n_train") != new["n_train"]:
        raise BadInputError(
            f"checkpoint {path} was written for train_data with {old.get('n_train')} rows, now {new['n_train']}; "
            "pass resume=False or another checkpoint_dir"
        )
    changed = [k for k in new if k != "n_train" and old.get(k) != new[k]]
    if "max_steps" in changed and new["schedule"] == "constant":  # training longer: same schedule, no warning
        changed.remove("max_steps")
    if changed and ctx.is_main:
        diff = ", ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed)
        warnings.warn(
            f"resuming from {path} with changed settings ({diff}); the run will differ from an uninterrupted one",
            stacklevel=3,
        )


def restore_state(ckpt, model, opt, sched, batch_gen, sampler, history, best, ctx, dev) -> int:
    """Load a checkpoint into the loop's objects (in place) and return its step count."""
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise BadInputError(
            f"the checkpoint does not fit this model/optimizer ({err}); pass resume=False or another checkpoint_dir"
        ) from err
    sched.load_state_dict(ckpt["scheduler"])
    batch_gen.set_state(ckpt["generator"])
    if sampler is not None:
        sampler.load_state_dict(ckpt["sampler"])
    rng = ckpt["rng"]
    if len(rng) == ctx.world_size:
        restore_rng_state(rng[ctx.rank], dev)
    else:  # resumed on a different number of processes: dropout streams cannot continue exactly
        seed_global_rng(int(ckpt["seed"]) + 1 + ctx.rank + int(ckpt["step"]), dev)
    for key in history:
        history[key].extend(ckpt["history"][key])
    best.update(ckpt["best"])
    if best["state"] is not None:
        best["state"] = {k: t.to(dev) for k, t in best["state"].items()}
    return int(ckpt["step"])
