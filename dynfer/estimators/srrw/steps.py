r"""Step sizes of SA-SRRW: the iterate's :math:`\gamma_n = c\,(n+1)^{-a}`, the measure's :math:`\beta_n = (n+1)^{-b}`.

The iterate moves by :math:`\theta_{n+1} = \theta_n + \gamma_{n+1} H(\theta_n, X_{n+1})` and the empirical measure by
:math:`x_{n+1} = x_n + \beta_{n+1}(\delta_{X_{n+1}} - x_n)`, with :math:`a, b \in (0.5, 1]` (Hu, Doshi, Eun, ICLR
2024). The three regimes of the CLT are named by how the two sequences compare:

* ``"gamma=o(beta)"`` (:math:`a > b`): the iterate is slower than the measure; covariance :math:`O(1/\alpha^2)`;
* ``"gamma~beta"`` (:math:`a = b`): same time scale; :math:`O(1/\alpha)`;
* ``"beta=o(gamma)"`` (:math:`a < b`): the measure is slower; :math:`O(1/\alpha)`.

References
----------
- J. Hu, V. Doshi, D. Y. Eun, "Accelerating distributed stochastic optimization via self-repellent random walks",
  ICLR 2024, arXiv:2401.09665.
- J. Hu, Y. Ma, D. Y. Eun, "Does worst-performing agent lead the pack? Analyzing agent dynamics in unified
  distributed SGD", NeurIPS 2024, App. G (the letters used here: :math:`\beta` for :math:`x`, :math:`\gamma` for
  :math:`\theta`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dynfer._errors import BadInputError

__all__ = ["REGIMES", "StepSchedule", "check_exponent", "regime_of"]

REGIMES = ("gamma=o(beta)", "gamma~beta", "beta=o(gamma)")
"""Names of the three step-size regimes, for :math:`a > b`, :math:`a = b` and :math:`a < b`."""


def check_exponent(value: Any, name: str) -> float:
    """Return ``float(value)`` after checking it is a real number in :math:`(0.5, 1]` (booleans refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise BadInputError(name, f"{value!r}", "a number in (0.5, 1]")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadInputError(name, f"{value!r}", "a number in (0.5, 1]") from None
    if not (0.5 < v <= 1.0):  # NaN fails too
        raise BadInputError(name, f"{value!r}", "a number in (0.5, 1] (the step-size exponent of SA-SRRW: "
                            "the steps must sum to infinity and their squares must not)")
    return v


def regime_of(theta_exponent: float, measure_exponent: float) -> str:
    """The regime name for :math:`a` (iterate) and :math:`b` (measure): see :data:`REGIMES`."""
    if math.isclose(theta_exponent, measure_exponent, rel_tol=0.0, abs_tol=1e-12):
        return REGIMES[1]
    return REGIMES[0] if theta_exponent > measure_exponent else REGIMES[2]


@dataclass(frozen=True)
class StepSchedule:
    r"""The step-size pair :math:`\gamma_n = c\,(n+1)^{-a}` (iterate) and :math:`\beta_n = (n+1)^{-b}` (measure).

    Step ``k = 0, 1, ...`` of a simulation computes :math:`\theta_{k+1}` and :math:`x_{k+1}` with
    :math:`\gamma_{k+1}` and :math:`\beta_{k+1}`.

    Attributes
    ----------
    theta_exponent : float
        :math:`a \in (0.5, 1]`.
    theta_scale : float
        :math:`c > 0`.
    measure_exponent : float
        :math:`b \in (0.5, 1]`.
    """

    theta_exponent: float
    theta_scale: float
    measure_exponent: float

    @classmethod
    def checked(cls, theta_exponent: Any, theta_scale: Any, measure_exponent: Any) -> StepSchedule:
        """Validate the three numbers (naming the bad one) and build the schedule."""
        a = check_exponent(theta_exponent, "theta_exponent")
        b = check_exponent(measure_exponent, "measure_exponent")
        if isinstance(theta_scale, (bool, np.bool_)):
            raise BadInputError("theta_scale", f"{theta_scale!r}", "a finite number > 0")
        try:
            c = float(theta_scale)
        except (TypeError, ValueError, OverflowError):
            raise BadInputError("theta_scale", f"{theta_scale!r}", "a finite number > 0") from None
        if not (math.isfinite(c) and c > 0):
            raise BadInputError("theta_scale", f"{theta_scale!r}", "a finite number > 0 (gamma_n = c (n+1)^-a)")
        return cls(a, c, b)

    def gamma(self, n: Any) -> np.ndarray:
        r""":math:`\gamma_n = c\,(n+1)^{-a}` for step indices ``n >= 1`` (array-like), float64."""
        return self.theta_scale * (np.asarray(n, dtype=np.float64) + 1.0) ** (-self.theta_exponent)

    def beta(self, n: Any) -> np.ndarray:
        r""":math:`\beta_n = (n+1)^{-b}` for step indices ``n >= 1`` (array-like), float64."""
        return (np.asarray(n, dtype=np.float64) + 1.0) ** (-self.measure_exponent)

    @property
    def regime(self) -> str:
        """``"gamma=o(beta)"``, ``"gamma~beta"`` or ``"beta=o(gamma)"`` (see :data:`REGIMES`)."""
        return regime_of(self.theta_exponent, self.measure_exponent)
