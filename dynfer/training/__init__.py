"""One fit loop for every estimator that trains a network.

:func:`fit` draws seeded mini-batches, steps an optimiser under a learning-rate schedule, validates, stops early,
checkpoints and resumes bit for bit, and trains data-parallel when launched with ``torchrun``. See
``docs/backend/training.md`` for a worked example.
"""

from dynfer.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from dynfer.training.distributed import DistributedContext, is_main_process, setup_distributed
from dynfer.training.loop import FitResult, NonFiniteLossError, fit
from dynfer.training.optim import OPTIMIZERS, SCHEDULES, lr_factor, make_optimizer, make_scheduler

__all__ = [
    "CHECKPOINT_NAME",
    "OPTIMIZERS",
    "SCHEDULES",
    "DistributedContext",
    "FitResult",
    "NonFiniteLossError",
    "fit",
    "is_main_process",
    "load_checkpoint",
    "lr_factor",
    "make_optimizer",
    "make_scheduler",
    "save_checkpoint",
    "setup_distributed",
]
