r"""The fit loop shared by every estimator that trains a network: :func:`fit` and its :class:`FitResult`.

Each step draws a global mini-batch with a seeded generator, evaluates ``loss_fn(model, batch)`` (a mean over the
batch), back-propagates, optionally clips the gradient norm, and takes one optimiser step and one schedule step
(:mod:`dynfer.training.optim`). Every ``eval_every`` steps the mean validation loss is computed; the best weights
are kept and restored at the end, and training stops early after ``patience`` evaluations without improvement.
Checkpoints (:mod:`dynfer.training.checkpoint`) make an interrupted run continue bit for bit, and under
``torchrun`` the same call trains data-parallel (:mod:`dynfer.training.distributed`).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import check_positive
from dynfer._validation import progress as progress_bar
from dynfer.training._data import IndexSampler, TensorData
from dynfer.training._state import check_config, restore_state, rng_state, seed_global_rng, try_load
from dynfer.training._step import LossFn, evaluate, global_mean, make_step_loss, nan_advice, sample_batch
from dynfer.training.checkpoint import CHECKPOINT_NAME, FORMAT_VERSION, save_checkpoint
from dynfer.training.distributed import resolve_training_device, setup_distributed
from dynfer.training.optim import OptimizerLike, check_schedule, make_optimizer, make_scheduler

__all__ = ["FitResult", "NonFiniteLossError", "fit"]


class NonFiniteLossError(FloatingPointError, ValueError):
    """The loss became NaN or infinite; raised before the offending step changes the weights."""


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes
    ----------
    history
        ``"train_loss"`` and ``"lr"``: one entry per step run (including steps before a resume);
        ``"val_step"`` and ``"val_loss"``: one entry per validation, the step count when it was made.
    best_step, best_val_loss
        Step count and value of the lowest validation loss (``None`` without validation data).
    stopped_early
        Whether training stopped because the validation loss stopped improving.
    steps_run
        Optimisation steps the model has received in total, counting those before a resume.
    resumed_from
        Step count of the checkpoint this run resumed from (``None``: started afresh).
    checkpoint_path
        The checkpoint file (``None`` without ``checkpoint_dir``).
    """

    history: dict[str, list] = field(default_factory=dict)
    best_step: int | None = None
    best_val_loss: float | None = None
    stopped_early: bool = False
    steps_run: int = 0
    resumed_from: int | None = None
    checkpoint_path: Path | None = None

    @property
    def train_loss(self) -> list[float]:
        """Training loss of every step."""
        return self.history["train_loss"]

    @property
    def val_loss(self) -> list[float]:
        """Validation loss of every evaluation."""
        return self.history["val_loss"]


def _check_int(value: Any, name: str, *, minimum: int = 1, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadInputError(f"{name} must be an int >= {minimum}{' or None' if optional else ''}, got {value!r}")
    return value


def _resolve_seed(seed: int | torch.Generator | None) -> int:
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, 2**62, (), generator=seed, device=seed.device))
    chosen = settings.seed if seed is None else seed
    if chosen is None:
        return secrets.randbits(62)
    if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 0:
        raise BadInputError(f"seed must be a non-negative int, a torch.Generator or None, got {seed!r}")
    return chosen


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: Any,
    *,
    val_data: Any = None,
    batch_size: int = 128,
    max_steps: int = 1000,
    optimizer: OptimizerLike = "adamw",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    warmup_steps: int = 0,
    min_lr: float = 0.0,
    grad_clip: float | None = None,
    eval_every: int | None = None,
    eval_batch_size: int | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
    distributed: bool | None = None,
    ddp_kwargs: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    desc: str = "fit",
) -> FitResult:
    r"""Train ``model`` by minimising ``loss_fn`` with mini-batch stochastic gradients.

    Parameters
    ----------
    model
        The network; moved to ``device`` and left in its original train/eval mode.
    loss_fn
        ``loss_fn(model, batch) -> scalar tensor``, the **mean** loss over the batch (data-parallel training relies
        on it being a mean). ``batch`` has the structure of ``train_data``.
    train_data
        A tensor, a tuple/list of tensors or a dict of tensors sharing their first (sample) dimension; batches are
        rows drawn without replacement, reshuffled every epoch. Or a sampler ``train_data(generator, batch_size)``
        returning a fresh batch (for estimators that simulate their data); its generator lives on ``device``.
    val_data
        Validation data as tensors (same structures), evaluated in chunks of ``eval_batch_size``; the validation
        loss is the row-weighted mean of ``loss_fn`` over all rows.
    batch_size
        Rows per step (the *global* batch: in data-parallel training each of the ``W`` ranks gets
        ``batch_size / W`` rows, so it must be divisible by ``W``).
    max_steps
        Number of optimisation steps :math:`T`.
    optimizer
        ``"adamw"`` (Loshchilov & Hutter 2019), ``"adam"``, ``"sgd"`` (momentum 0.9) or a factory called as
        ``optimizer(params, lr=lr, weight_decay=weight_decay)``.
    lr, weight_decay
        Base learning rate :math:`\eta > 0` and weight decay :math:`\ge 0`.
    schedule, warmup_steps, min_lr
        Learning-rate schedule ``"constant"``, ``"cosine"`` or ``"warmup_cosine"`` (Loshchilov & Hutter 2017) with
        a linear warm-up of ``warmup_steps`` steps and cosine floor ``min_lr``; see
        :func:`dynfer.training.lr_factor` for the formulas.
    grad_clip
        Clip the global gradient norm to this value (``None``: no clipping).
    eval_every
        Steps between validations (default ``max(1, max_steps // 20)``); the last step is always validated.
    eval_batch_size
        Rows per validation chunk (default ``batch_size``).
    patience
        Stop after this many validations in a row without an improvement larger than ``min_delta``
        (``None``: never stop early).
    restore_best
        With validation data, load the weights of the best validation at the end.
    checkpoint_dir
        Folder of the checkpoint ``last.pt``, written atomically every ``checkpoint_every`` steps (default
        ``max(1, max_steps // 10)``), at the end, and when stopping early.
    resume
        Continue from ``checkpoint_dir/last.pt`` when it exists; the result equals an uninterrupted run. A resumed
        run keeps the checkpoint's seed and generator state; ``max_steps`` may be raised to train longer.
    seed
        Seed of the batch order and of the global RNG inside the loop (dropout); an int, a generator (one number is
        drawn from it) or ``None`` (``settings.seed``, else fresh entropy). The caller's global RNG is untouched.
    device
        Training device (default ``settings.device``; ``"cuda"`` becomes ``cuda:LOCAL_RANK`` under ``torchrun``).
    distributed
        ``None``: data-parallel when ``torch.distributed`` is initialised or ``WORLD_SIZE > 1``; ``False``: never;
        ``True``: require it.
    ddp_kwargs
        Extra keyword arguments of :class:`~torch.nn.parallel.DistributedDataParallel`
        (e.g. ``find_unused_parameters=True``).
    progress
        Show a progress bar with the current loss (default ``settings.progress``; only rank 0 shows one).
    desc
        Label of the progress bar.

    Returns
    -------
    FitResult
        History, best validation step and loss, and how the run ended.

    Raises
    ------
    ValueError
        For invalid arguments (the message names the argument).
    NonFiniteLossError
        When the training or validation loss is NaN or infinite; the weights are those before that step.

    Notes
    -----
    **Data parallelism.** Every rank draws the same global batch indices from the same seeded generator and keeps
    rows ``rank::W``. As the loss is a mean and shards have equal size, the gradient averaged by
    :class:`~torch.nn.parallel.DistributedDataParallel` equals the single-process gradient of the global batch,
    so a run on ``W`` processes follows the single-process run up to rounding. Only rank 0 writes checkpoints.

    References
    ----------
    Loshchilov, I. & Hutter, F. (2017). SGDR: stochastic gradient descent with warm restarts. *ICLR*.
    Loshchilov, I. & Hutter, F. (2019). Decoupled weight decay regularization. *ICLR*.
    Prechelt, L. (1998). Early stopping — but when? In *Neural Networks: Tricks of the Trade*, 55-69.

    Examples
    --------
    >>> import torch
    >>> from dynfer.training import fit
    >>> x = torch.randn(256, 3)
    >>> y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    >>> net = torch.nn.Linear(3, 1)
    >>> res = fit(net, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), (x, y), batch_size=32, max_steps=300,
    ...           lr=0.05, seed=0, device="cpu", progress=False)
    >>> res.train_loss[-1] < 1e-3
    True
    """
    # ------------------------------------------------------------------ arguments
    if not isinstance(model, nn.Module):
        raise BadInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise BadInputError(f"loss_fn must be callable as loss_fn(model, batch), got {type(loss_fn).__name__}")
    _check_int(batch_size, "batch_size")
    _check_int(max_steps, "max_steps")
    lr = check_positive(lr, "lr")
    weight_decay = check_positive(weight_decay, "weight_decay", allow_zero=True)
    min_lr = check_positive(min_lr, "min_lr", allow_zero=True)
    if min_lr > lr:
        raise BadInputError(f"min_lr ({min_lr}) must not exceed lr ({lr})")
    schedule = check_schedule(schedule, max_steps, warmup_steps)
    if grad_clip is not None:
        grad_clip = check_positive(grad_clip, "grad_clip")
    _check_int(eval_every, "eval_every", optional=True)
    _check_int(eval_batch_size, "eval_batch_size", optional=True)
    _check_int(patience, "patience", optional=True)
    min_delta = check_positive(min_delta, "min_delta", allow_zero=True)
    _check_int(checkpoint_every, "checkpoint_every", optional=True)
    if checkpoint_every is not None and checkpoint_dir is None:
        raise BadInputError("checkpoint_every was given without checkpoint_dir; pass checkpoint_dir=<folder>")
    if patience is not None and val_data is None:
        raise BadInputError("patience (early stopping) needs val_data")
    if progress is not None and not isinstance(progress, bool):
        raise BadInputError(f"progress must be True, False or None, got {progress!r}")
    if distributed is not None and not isinstance(distributed, bool):
        raise BadInputError(f"distributed must be True, False or None, got {distributed!r}")

    # ------------------------------------------------------------------ data, device, processes
    is_sampler = callable(train_data) and not isinstance(train_data, (torch.Tensor, Mapping, tuple, list))
    train = None if is_sampler else TensorData(train_data, "train_data")
    if train is not None and batch_size > train.n:
        raise BadInputError(f"batch_size ({batch_size}) is larger than train_data ({train.n} rows)")
    val = None if val_data is None else TensorData(val_data, "val_data")
    dev = resolve_training_device(device)
    ctx = setup_distributed(distributed, dev)
    if batch_size % ctx.world_size:
        raise BadInputError(
            f"batch_size ({batch_size}) must be divisible by the number of processes ({ctx.world_size}) so every "
            "rank gets an equal share of the global batch"
        )
    eval_every = eval_every or max(1, max_steps // 20)
    eval_batch_size = eval_batch_size or batch_size
    if checkpoint_dir is not None:
        checkpoint_every = checkpoint_every or max(1, max_steps // 10)
    ckpt_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME

    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise BadInputError("model has no trainable parameters (none with requires_grad=True)")
    opt = make_optimizer(optimizer, params, lr, weight_decay)
    sched = make_scheduler(opt, schedule, max_steps, warmup_steps, min_lr / lr)
    base_seed = ctx.broadcast(_resolve_seed(seed), dev)
    batch_gen = torch.Generator(device="cpu" if train is not None else dev).manual_seed(base_seed)
    sampler = IndexSampler(train.n, batch_size, batch_gen) if train is not None else None
    config = {
        "n_train": None if train is None else train.n,
        "batch_size": batch_size,
        "max_steps": max_steps,
        "optimizer": optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", repr(optimizer)),
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "warmup_steps": warmup_steps,
        "min_lr": min_lr,
    }
    history: dict[str, list] = {"train_loss": [], "lr": [], "val_step": [], "val_loss": []}
    best: dict[str, Any] = {"val_loss": None, "step": None, "state": None, "bad_evals": 0}
    result = FitResult(history=history, checkpoint_path=ckpt_path)

    ckpt = None
    if ckpt_path is not None and resume:
        ckpt = ctx.broadcast(try_load(ckpt_path) if ctx.is_main else None, dev)
        if isinstance(ckpt, Exception):
            raise ckpt
        if ckpt is not None:
            check_config(ckpt["config"], config, ckpt_path, ctx)

    was_training = model.training
    model.train()
    fork = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork):
        start = 0
        if ckpt is None:
            seed_global_rng(base_seed + 1 + ctx.rank, dev)
        else:
            start = restore_state(ckpt, model, opt, sched, batch_gen, sampler, history, best, ctx, dev)
            result.resumed_from = start
            result.stopped_early = bool(ckpt["stopped_early"])
            base_seed = int(ckpt["seed"])

        step_loss = make_step_loss(model, loss_fn, ctx, dev, ddp_kwargs)

        def checkpoint(step_done: int) -> None:
            rng = [rng_state(dev)]
            if ctx.active:
                rng = [None] * ctx.world_size
                torch.distributed.all_gather_object(rng, rng_state(dev))
            if not ctx.is_main:
                return
            state = {
                "format": FORMAT_VERSION,
                "step": step_done,
                "seed": base_seed,
                "config": config,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": batch_gen.get_state(),
                "sampler": None if sampler is None else sampler.state_dict(),
                "rng": rng,
                "history": history,
                "best": best,
                "stopped_early": result.stopped_early,
            }
            save_checkpoint(state, ckpt_path)

        show = (settings.progress if progress is None else progress) and ctx.is_main
        with settings.override(progress=show):
            bar = progress_bar(range(start, max_steps), desc=desc, total=max_steps, initial=start)
        try:
            for step in [] if result.stopped_early else bar:
                if sampler is not None:
                    batch = train.take(sampler.next_indices()[ctx.rank :: ctx.world_size], dev)
                else:
                    batch = sample_batch(train_data, batch_gen, batch_size, ctx, dev)
                opt.zero_grad(set_to_none=True)
                loss = step_loss(batch)
                value = global_mean(loss, ctx)
                if not math.isfinite(value):
                    raise NonFiniteLossError(nan_advice("training", value, step, sched.get_last_lr()[0]))
                loss.backward()
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                history["lr"].append(sched.get_last_lr()[0])
                opt.step()
                sched.step()
                history["train_loss"].append(value)
                bar.set_postfix(loss=f"{value:.4g}", refresh=False)
                done = step + 1
                if val is not None and (done % eval_every == 0 or done == max_steps):
                    v = evaluate(model, loss_fn, val, eval_batch_size, ctx, dev)
                    if not math.isfinite(v):
                        raise NonFiniteLossError(nan_advice("validation", v, step, sched.get_last_lr()[0]))
                    history["val_step"].append(done)
                    history["val_loss"].append(v)
                    if best["val_loss"] is None or v < best["val_loss"] - min_delta:
                        state = {k: t.detach().clone() for k, t in model.state_dict().items()}
                        best.update(val_loss=v, step=done, state=state, bad_evals=0)
                    else:
                        best["bad_evals"] += 1
                    result.stopped_early = patience is not None and best["bad_evals"] >= patience
                if ckpt_path is not None and (
                    done % checkpoint_every == 0 or done == max_steps or result.stopped_early
                ):
                    checkpoint(done)
                if result.stopped_early:
                    break
        finally:
            bar.close()
            model.train(was_training)

    result.steps_run = len(history["train_loss"])
    result.best_step, result.best_val_loss = best["step"], best["val_loss"]
    if val is not None and restore_best and best["state"] is not None:
        model.load_state_dict(best["state"])
    return result
