r"""Step-size schedules of the stochastic-approximation methods.

* ``"constant"``: :math:`\alpha_j = \alpha`;
* ``"power"``: :math:`\alpha_j = \alpha\,j^{-0.51}` ([paper] Jia & Zhou, policy gradient, Sec. 5: mean-variance
  example, decay :math:`j^{-0.51}` over episodes);
* ``"log"``: :math:`\alpha_j = \alpha/\max\{1, \log j\}` ([paper] same, ergodic LQ example);

with :math:`j = 1, 2, \dots` the update count. A number ``p`` in ``(0.5, 1]`` gives :math:`\alpha j^{-p}` (the
Robbins-Monro range).
"""

from __future__ import annotations

import math
from typing import Any

from dynfer._errors import BadInputError

__all__ = ["SCHEDULES", "check_schedule", "step_size"]

SCHEDULES = ("constant", "power", "log")


def check_schedule(schedule: Any) -> str | float:
    """``schedule`` checked: one of :data:`SCHEDULES` or an exponent in ``(0.5, 1]``."""
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise BadInputError("schedule", repr(schedule), f"one of {list(SCHEDULES)} or an exponent in (0.5, 1]")
        return schedule
    if isinstance(schedule, bool) or not isinstance(schedule, (int, float)) or not 0.5 < float(schedule) <= 1.0:
        raise BadInputError("schedule", repr(schedule), f"one of {list(SCHEDULES)} or an exponent in (0.5, 1]")
    return float(schedule)


def step_size(base: float, j: int, schedule: str | float) -> float:
    r""":math:`\alpha_j` of update ``j >= 1`` (see the module docstring)."""
    if schedule == "constant":
        return base
    if schedule == "power":
        return base * j**-0.51
    if schedule == "log":
        return base / max(1.0, math.log(j))
    return base * j ** -float(schedule)
