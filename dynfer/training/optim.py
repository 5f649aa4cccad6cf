r"""Optimisers and learning-rate schedules of the fit loop.

The learning rate used at optimisation step :math:`s = 0, 1, \dots, T-1` (:math:`T` = ``max_steps``) is
:math:`\eta_s = \eta\,\lambda(s)` with the multiplier :math:`\lambda` of :func:`lr_factor`: a linear warm-up over the
first :math:`W` steps, :math:`\lambda(s) = (s+1)/W` for :math:`s < W`, followed by

* ``"constant"``: :math:`\lambda(s) = 1`;
* ``"cosine"`` (``"warmup_cosine"`` is the same with :math:`W > 0` required): cosine annealing without restarts,

  .. math::  \lambda(s) = \rho + (1 - \rho)\,\tfrac12\Big(1 + \cos\big(\pi\,\tfrac{s - W}{T - W}\big)\Big),
             \qquad \rho = \eta_{\min} / \eta .

References
----------
Loshchilov, I. & Hutter, F. (2017). SGDR: Stochastic gradient descent with warm restarts. *ICLR* (cosine schedule).
Loshchilov, I. & Hutter, F. (2019). Decoupled weight decay regularization. *ICLR* (AdamW).
Goyal, P. et al. (2017). Accurate, large minibatch SGD: training ImageNet in 1 hour. arXiv:1706.02677 (warm-up).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from dynfer._errors import BadInputError

__all__ = ["OPTIMIZERS", "SCHEDULES", "lr_factor", "make_optimizer", "make_scheduler"]

SCHEDULES = ("constant", "cosine", "warmup_cosine")
"""Names accepted by ``schedule``."""

OPTIMIZERS = ("adamw", "adam", "sgd")
"""Names accepted by ``optimizer``: AdamW (decoupled decay), Adam (L2 penalty), SGD with momentum 0.9."""

OptimizerLike = str | Callable[..., torch.optim.Optimizer]


def check_schedule(schedule: str, max_steps: int, warmup_steps: int) -> str:
    """Validate the schedule arguments and return the schedule name in lower case."""
    if not isinstance(schedule, str) or schedule.strip().lower() not in SCHEDULES:
        raise BadInputError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
    name = schedule.strip().lower()
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise BadInputError(f"warmup_steps must be a non-negative int, got {warmup_steps!r}")
    if warmup_steps >= max_steps:
        raise BadInputError(f"warmup_steps ({warmup_steps}) must be smaller than max_steps ({max_steps})")
    if name == "warmup_cosine" and warmup_steps == 0:
        raise BadInputError("schedule='warmup_cosine' needs warmup_steps > 0 (or use schedule='cosine')")
    return name


def lr_factor(step: int, schedule: str, max_steps: int, warmup_steps: int = 0, min_ratio: float = 0.0) -> float:
    r"""Multiplier :math:`\lambda(s)` of the base learning rate at optimisation step ``step`` (0-based).

    Parameters
    ----------
    step
        Step :math:`s \ge 0`; steps past ``max_steps`` keep the final value.
    schedule
        One of :data:`SCHEDULES` (see the module docstring for the formulas).
    max_steps
        Total number of steps :math:`T`.
    warmup_steps
        Length :math:`W` of the linear warm-up.
    min_ratio
        :math:`\rho = \eta_{\min}/\eta \in [0, 1]`, the floor of the cosine schedule.

    Returns
    -------
    float
        :math:`\lambda(s)`.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(
    optimizer: OptimizerLike, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """Build the optimiser named ``optimizer`` (see :data:`OPTIMIZERS`) or call a factory.

    A factory is called as ``optimizer(params, lr=lr, weight_decay=weight_decay)``, so optimiser classes such as
    ``torch.optim.RMSprop`` or a ``functools.partial`` of one work directly.
    """
    if isinstance(optimizer, str):
        name = optimizer.strip().lower()
        if name == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        if name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
        raise BadInputError(f"optimizer must be one of {list(OPTIMIZERS)} or a callable factory, got {optimizer!r}")
    if not callable(optimizer):
        raise BadInputError(f"optimizer must be one of {list(OPTIMIZERS)} or a callable factory, got {optimizer!r}")
    opt = optimizer(params, lr=lr, weight_decay=weight_decay)
    if not isinstance(opt, torch.optim.Optimizer):
        raise BadInputError(f"the optimizer factory must return a torch.optim.Optimizer, got {type(opt).__name__}")
    return opt


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    max_steps: int,
    warmup_steps: int = 0,
    min_ratio: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A :class:`~torch.optim.lr_scheduler.LambdaLR` applying :func:`lr_factor` (step it once per optimiser step)."""
    name = check_schedule(schedule, max_steps, warmup_steps)
    if not 0.0 <= min_ratio <= 1.0:
        raise BadInputError(f"min_ratio must lie in [0, 1], got {min_ratio!r}")
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, name, max_steps, warmup_steps, min_ratio)
    )
