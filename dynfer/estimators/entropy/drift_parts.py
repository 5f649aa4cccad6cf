r"""The time-reversal parity of each variable, and the irreversible part of the drift it defines.

**Convention.** Each coordinate :math:`x_k` has a parity :math:`\epsilon_k = \pm 1` under time reversal
(:math:`+1`: even, like positions; :math:`-1`: odd, like momenta). With :math:`E = \mathrm{diag}(\epsilon)` and
:math:`D` even, the drift splits into a reversible part :math:`b^{rev}(x) = \tfrac12[b(x) - E b(Ex)]` and an
irreversible part :math:`b^{irr}(x) = \tfrac12[b(x) + E b(Ex)]`, and the entropy production rate is

.. math:: \sigma = E_\rho\big[(b^{irr} - D s)^\top D^{-1} (b^{irr} - D s)\big],

(Risken 1989, §6.3; Spinney & Ford, PRE 85, 051113, 2012). dynfer's default makes every variable **even**
(:math:`b^{irr} = b`), as the reference code of Boffi & Vanden-Eijnden does; active velocities and orientations are
then even too. Other conventions give other numbers (Caprini et al. 2019; Fodor et al. 2016): pass ``parity=``.

The divergence of the irreversible part needs no new derivative:
:math:`\nabla\cdot[E b(Ex)] = (\nabla\cdot b)(Ex)`, so
:math:`\nabla_g\cdot b^{irr}_g(x) = \tfrac12[(\nabla_g\cdot b_g)(x) + (\nabla_g\cdot b_g)(Ex)]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer.processes.drifts import Drift

__all__ = ["DriftParts", "resolve_parity"]


def resolve_parity(parity: Any, size: int, name: str = "parity") -> np.ndarray | None:
    """``None`` (all even) or a ``(size,)`` vector of +1/-1 (``None`` when every entry is +1)."""
    if parity is None:
        return None
    try:
        arr = np.asarray(parity, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BadInputError(name, f"a {type(parity).__name__}", f"None or {size} values of +1 (even) / -1 (odd)") \
            from None
    if arr.shape != (size,) or not np.isin(arr, (-1.0, 1.0)).all():
        raise BadInputError(name, f"{np.asarray(parity).tolist()!r}",
                            f"None or {size} values of +1 (even) / -1 (odd), one per coordinate")
    return None if (arr == 1).all() else arr


class DriftParts:
    """The drift, its irreversible part and their partial divergences for one parity convention.

    Parameters
    ----------
    drift
        The drift :math:`b`.
    parity
        ``None`` (all even) or the ``(c,)`` signs over the last axis of the states.
    """

    def __init__(self, drift: Drift, parity: np.ndarray | None) -> None:
        self.drift = drift
        self.parity = parity

    def _flip(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.as_tensor(self.parity, dtype=x.dtype, device=x.device)

    def full(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`b(x)`, checked for shape and finiteness."""
        try:
            b = self.drift(x)
        except BadInputError:
            raise
        except Exception as err:  # a user's drift may raise anything: name it, never let it through unexplained
            raise BadInputError("drift", f"an error on states of shape {tuple(x.shape)} ({type(err).__name__}: "
                                f"{err})", "a drift b(x) for states of this shape") from None
        if isinstance(b, torch.Tensor) and b.dtype != x.dtype:
            b = b.to(x.dtype)  # e.g. a float64 constant in a user's drift under float32 states
        if not isinstance(b, torch.Tensor) or b.shape != x.shape:
            shape = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
            raise BadInputError("drift", f"an output of shape {shape} for states of shape {tuple(x.shape)}",
                                "b(x) with the shape of x")
        if not bool(torch.isfinite(b).all()):
            raise BadInputError("drift", f"{int((~torch.isfinite(b)).sum())} NaN or infinite value(s) on the "
                                "samples", "a finite drift at every sample")
        return b

    def irreversible(self, x: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`b^{irr}(x) = \tfrac12[b(x) + E b(Ex)]` (``b`` itself when every variable is even)."""
        b = self.full(x) if b is None else b
        if self.parity is None:
            return b
        return 0.5 * (b + self._flip(self.full(self._flip(x))))

    def divergence(self, x: torch.Tensor, coords: Sequence[int] | None = None) -> torch.Tensor:
        r""":math:`\sum_{k \in coords} \partial_k b_k` per sample, checked."""
        try:
            div = self.drift.divergence(x, coords)
        except BadInputError:
            raise
        except Exception as err:
            raise BadInputError("drift.divergence", f"an error on states of shape {tuple(x.shape)} "
                                f"({type(err).__name__}: {err})", "a divergence for states of this shape") from None
        if isinstance(div, torch.Tensor) and div.dtype != x.dtype:
            div = div.to(x.dtype)
        if not isinstance(div, torch.Tensor) or div.shape != (x.shape[0],):
            shape = tuple(div.shape) if isinstance(div, torch.Tensor) else type(div).__name__
            raise BadInputError("drift.divergence", f"an output of shape {shape}", f"({x.shape[0]},), one per sample")
        if not bool(torch.isfinite(div).all()):
            raise BadInputError("drift.divergence", "NaN or infinite values on the samples", "a finite divergence")
        return div

    def irreversible_divergence(self, x: torch.Tensor, coords: Sequence[int]) -> torch.Tensor:
        r""":math:`\nabla_g\cdot b^{irr}_g(x) = \tfrac12[(\nabla_g\cdot b_g)(x) + (\nabla_g\cdot b_g)(Ex)]`."""
        div = self.divergence(x, coords)
        if self.parity is None:
            return div
        return 0.5 * (div + self.divergence(self._flip(x), coords))
