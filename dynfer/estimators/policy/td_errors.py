r"""Temporal-difference errors and the per-step terms every method is built from.

On each step :math:`k \to k+1` of a trajectory, with :math:`\Delta t_k = t_{k+1} - t_k`:

.. math:: \delta_k(\theta) = J^\theta_{k+1} - J^\theta_k + (r_k - \beta J^\theta_k)\,\Delta t_k
          \qquad\text{(finite horizon and discounted)},

.. math:: \delta_k(\theta, V) = J^\theta_{k+1} - J^\theta_k + (r_k - V)\,\Delta t_k \qquad\text{(ergodic)},

with :math:`J^\theta_{K} := h(X_K)` at the end of a finite-horizon trajectory ([derived] in Jia & Zhou 2022,
"TD error"; the per-step :math:`\Delta t_k` for irregular grids is [derived]). For a linear value
:math:`J^\theta = \theta^\top\phi` the error is affine in the parameters :math:`\tilde\theta` (:math:`\theta`, and
:math:`V` in the ergodic setting):

.. math:: \delta_k = c_k + a_k^\top\tilde\theta,\quad c_k = r_k\Delta t_k\,[+\,h(X_K)\ \text{on the last step}],
          \quad a_k = \phi_{k+1} - \phi_k - \beta\phi_k\Delta t_k \ \ \text{or}\ \ (\phi_{k+1} - \phi_k, -\Delta t_k),

with :math:`\phi_K := 0` at a finite-horizon end (the LSTD convention of the reference). :func:`linear_terms`
returns :math:`(\phi_k, \phi_{k+1}, a_k, c_k)`; :func:`td_errors` evaluates :math:`\delta_k` for any value model.
:func:`recursion` runs :math:`y_k = a_k y_{k-1} + u_k` along each trajectory (traces, discounted sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import lfilter

from dynfer.estimators.policy.data import StepTable

__all__ = ["LinearTerms", "StepTensors", "linear_terms", "recursion", "td_errors"]

SETTINGS = ("finite", "discounted", "ergodic")


@dataclass
class LinearTerms:
    """Per-step terms of a linear value: features at both ends, :math:`a_k`, :math:`c_k` (torch, ``(S, ...)``)."""

    phi: torch.Tensor        # (S, p)  phi_k
    phi_next: torch.Tensor   # (S, p)  phi_{k+1} (0 at a finite-horizon end)
    a: torch.Tensor          # (S, q)  d delta_k / d theta~ (q = p, or p + 1 with V)
    c: torch.Tensor          # (S,)    r_k dt_k (+ h at a finite-horizon end)
    dt: torch.Tensor         # (S,)


def linear_terms(table: StepTable, features: torch.Tensor, setting: str, discount: float) -> LinearTerms:
    r"""The terms :math:`\phi_k, \phi_{k+1}, a_k, c_k` of every step (see the module docstring).

    Parameters
    ----------
    table
        The steps.
    features
        ``(N, p)`` features :math:`\phi(t, X)` of every sample.
    setting
        ``"finite"``, ``"discounted"`` or ``"ergodic"``.
    discount
        :math:`\beta \ge 0`.
    """
    dev, dtype = features.device, features.dtype
    frm = torch.as_tensor(table.step_from, device=dev)
    dt = torch.as_tensor(table.dt, dtype=dtype, device=dev)
    r = torch.as_tensor(table.r[table.step_from], dtype=dtype, device=dev)
    phi = features[frm]
    phi_next = features[frm + 1]
    c = r * dt
    if setting == "finite":
        last = torch.as_tensor(table.step_last, device=dev)
        phi_next = torch.where(last[:, None], torch.zeros_like(phi_next), phi_next)
        h = torch.as_tensor(table.terminal, dtype=dtype, device=dev)[torch.as_tensor(table.step_traj, device=dev)]
        c = c + torch.where(last, h, torch.zeros_like(h))
    if setting == "ergodic":
        a = torch.cat([phi_next - phi, -dt[:, None]], dim=1)
    else:
        a = phi_next - phi - discount * phi * dt[:, None]
    return LinearTerms(phi=phi, phi_next=phi_next, a=a, c=c, dt=dt)


@dataclass
class StepTensors:
    """The per-step arrays of a :class:`~.data.StepTable` as tensors, built once per table."""

    frm: torch.Tensor        # (S,) sample index of each step's start
    dt: torch.Tensor         # (S,)
    r: torch.Tensor          # (S,) reward rate at the step's start
    last: torch.Tensor       # (S,) bool: the step ends a trajectory
    h: torch.Tensor | None   # (S,) terminal reward of the step's trajectory (finite horizon)

    @classmethod
    def of(cls, table: StepTable, dtype: torch.dtype, device: torch.device) -> StepTensors:
        """The tensors of ``table``."""
        h = None
        if table.terminal is not None:
            h = torch.as_tensor(table.terminal[table.step_traj], dtype=dtype, device=device)
        return cls(frm=torch.as_tensor(table.step_from, device=device),
                   dt=torch.as_tensor(table.dt, dtype=dtype, device=device),
                   r=torch.as_tensor(table.r[table.step_from], dtype=dtype, device=device),
                   last=torch.as_tensor(table.step_last, device=device), h=h)


def td_errors(values: torch.Tensor, steps: StepTensors, setting: str, discount: float,
              average_reward: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`\delta_k` of every step from the values ``(N,)`` of every sample (autograd flows through them).

    Parameters
    ----------
    values
        :math:`J^\theta(t, X)` at every sample.
    steps
        The steps (:class:`StepTensors`).
    setting, discount
        As :func:`linear_terms`.
    average_reward
        :math:`V` (ergodic setting).
    """
    j_now, j_next = values[steps.frm], values[steps.frm + 1]
    if setting == "finite":
        j_next = torch.where(steps.last, steps.h, j_next)
    if setting == "ergodic":
        return j_next - j_now + (steps.r - average_reward) * steps.dt
    return j_next - j_now + (steps.r - discount * j_now) * steps.dt


def recursion(u: np.ndarray, decay: np.ndarray, step_offsets: np.ndarray, *, reverse: bool = False) -> np.ndarray:
    r""":math:`y_k = a_k y_{k-1} + u_k` along each trajectory's steps (``reverse``: from its last step back).

    Parameters
    ----------
    u
        ``(S, ...)`` inputs.
    decay
        ``(S,)`` factors :math:`a_k` (the factor of the first step of each trajectory is ignored: :math:`y` starts
        at :math:`u`).
    step_offsets
        ``(n_traj + 1,)`` step offsets of the trajectories.
    reverse
        Run each trajectory backwards (:math:`y_k = a_k y_{k+1} + u_k`).

    Returns
    -------
    numpy.ndarray
        ``y``, shaped as ``u``.
    """
    out = np.empty_like(u)
    for i in range(len(step_offsets) - 1):
        lo, hi = int(step_offsets[i]), int(step_offsets[i + 1])
        uu, aa = u[lo:hi], decay[lo:hi]
        if reverse:
            uu, aa = uu[::-1], aa[::-1]
        if hi - lo > 1 and np.allclose(aa[1:], aa[1], rtol=1e-12, atol=0.0):
            y = lfilter([1.0], [1.0, -float(aa[1])], uu, axis=0)
        else:  # an irregular grid: the recursion step by step
            y = np.empty_like(uu)
            acc = np.zeros_like(uu[0])
            for k in range(hi - lo):
                acc = (aa[k] * acc if k else 0.0 * acc) + uu[k]
                y[k] = acc
        out[lo:hi] = y[::-1] if reverse else y
    return out
