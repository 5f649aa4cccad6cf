r"""The base class :class:`ReferenceDrift` of the reference drift families :math:`f_\theta`.

Kept apart from the families themselves (the parametric ones in :mod:`.references`, the networks in
:mod:`.reference_nets`) and from their registry (:mod:`.families`), so that each of those imports the base from here
and none imports another in a circle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer.processes.sde import SDE

__all__ = ["ReferenceDrift", "check_dim"]


def check_dim(dim: Any) -> int:
    """Check a state dimension :math:`d`: a positive integer (``bool`` is refused).

    Parameters
    ----------
    dim
        The dimension (a Python or numpy integer).

    Returns
    -------
    int
        ``dim`` as a Python ``int``.

    Raises
    ------
    ValueError
        If ``dim`` is not a positive integer.
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or int(dim) < 1:
        raise BadInputError(f"dim must be a positive int, got {dim!r}")
    return int(dim)


class _TimeFree(nn.Module):
    """Adapter ``(t, x) -> f(x)`` so that an :class:`SDE` registers the reference as its drift sub-module."""

    def __init__(self, reference: ReferenceDrift) -> None:
        super().__init__()
        self.reference = reference

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.reference(x)


class ReferenceDrift(nn.Module):
    r"""Base class of the reference drift families, a time-independent drift :math:`f_\theta(x)`.

    :math:`f_\theta : \mathbb{R}^d \to \mathbb{R}^d`, evaluated row-wise on ``(n, d)`` batches.

    Subclasses implement :meth:`drift` (and, when ``linear_in_theta``, :meth:`features` and :meth:`set_theta_vector`).

    Attributes
    ----------
    family
        Registry name of the family (``"custom"`` for wrapped modules).
    dim
        State dimension :math:`d`.
    linear_in_theta
        Whether :math:`f_\theta(x) = \Phi(x)\,\theta` for the features of :meth:`features`.
    nonnegative
        With ``linear_in_theta``: whether every entry of :math:`\theta` is constrained to be :math:`\ge 0`
        (then the exact θ-step is a non-negative least-squares problem).
    """

    family: str = "reference"
    linear_in_theta: bool = False
    nonnegative: bool = False

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_dim(dim)

    # ------------------------------------------------------------------ protocol
    def drift(self, x: torch.Tensor) -> torch.Tensor:
        r"""Drift :math:`f_\theta(x)`, shape ``(n, d)``; overridden by each family."""
        raise NotImplementedError

    def drift_jacobian(self, x: torch.Tensor) -> torch.Tensor | None:
        r"""Per-row Jacobians :math:`\partial f_\theta / \partial x` ``(n, d, d)`` in closed form, or ``None``.

        ``None`` (the default) means "not known": the bridges then differentiate :meth:`drift` with autograd
        (``d`` backward passes); a family that knows its Jacobian saves those passes in every transition cost.
        """
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Drift :math:`f_\theta(x)` for states ``x`` of shape ``(n, d)``."""
        if x.shape[-1] != self.dim:
            raise BadInputError(f"x must have last dimension dim={self.dim} ({self.family}), got {tuple(x.shape)}")
        return self.drift(x)

    def theta(self) -> dict[str, np.ndarray]:
        r"""The interpretable parameters as numpy arrays (effective values, after :math:`|\cdot|`)."""
        return {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r"""Features :math:`\Phi(x)` of shape ``(n, d, p)`` with :math:`f_\theta(x) = \Phi(x)\,\theta`."""
        raise NotImplementedError(f"the {self.family!r} family is not linear in its parameters")

    def theta_vector(self) -> torch.Tensor:
        r"""The effective :math:`\theta \in \mathbb{R}^p` matching :meth:`features` (linear families only)."""
        raise NotImplementedError(f"the {self.family!r} family is not linear in its parameters")

    def set_theta_vector(self, theta: torch.Tensor) -> None:
        r"""Set the parameters from :math:`\theta \in \mathbb{R}^p` (linear families only)."""
        raise NotImplementedError(f"the {self.family!r} family is not linear in its parameters")

    def normal_equations(self, x: torch.Tensor, v: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Weighted normal equations :math:`G = \sum_s w_s \Phi_s^\top \Phi_s`, :math:`h = \sum_s w_s \Phi_s^\top v_s`.

        Accumulated in chunks so that the ``(n, d, p)`` features never exceed a few million entries.
        """
        p = self.n_theta
        g = x.new_zeros(p, p)
        h = x.new_zeros(p)
        chunk = max(1, 4_000_000 // max(1, self.dim * p))
        for i in range(0, x.shape[0], chunk):
            phi = self.features(x[i : i + chunk])
            wphi = phi * w[i : i + chunk, None, None]
            g = g + torch.einsum("ndp,ndq->pq", wphi, phi)
            h = h + torch.einsum("ndp,nd->p", wphi, v[i : i + chunk])
        return g, h

    @property
    def n_theta(self) -> int:
        """Number :math:`p` of linear parameters (linear families only)."""
        return int(self.theta_vector().numel())

    def to_sde(self, sigma: float) -> SDE:
        r"""The reference SDE :math:`dX = f_\theta(X)\,dt + \sigma\,dW` (scalar noise), sharing these parameters.

        Parameters
        ----------
        sigma
            Noise level :math:`\sigma > 0`.
        """
        try:
            s = float(sigma)
        except (TypeError, ValueError):
            raise BadInputError(f"sigma must be a positive number, got {sigma!r}") from None
        if not (math.isfinite(s) and s > 0):
            raise BadInputError(f"sigma must be finite and > 0, got {sigma!r}")
        return SDE(drift=_TimeFree(self), diffusion=s)

    def extra_repr(self) -> str:
        """Family and dimension."""
        return f"family={self.family!r}, dim={self.dim}"
