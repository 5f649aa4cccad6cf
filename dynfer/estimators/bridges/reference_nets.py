r"""Network reference drift families: a free MLP drift, a gradient (potential) drift and user modules.

* ``"mlp"``: :math:`f_\theta(x) = \mathrm{MLP}_\theta(x)`, a free drift :math:`\mathbb{R}^d \to \mathbb{R}^d`;
* ``"mlp_potential"``: :math:`f_\theta(x) = -\nabla_x \Phi_\theta(x)` with a scalar MLP potential :math:`\Phi_\theta`
  (the EB/hESC reference of Shen et al. 2025 uses :math:`\nabla\Phi` with a 5→128→64→64→1 ReLU network; the sign is
  absorbed by :math:`\Phi`). The gradient is taken with autograd, keeping the graph (``create_graph``) whenever
  gradients are being recorded, so the drift can be trained;
* :class:`CustomReference`: any ``torch.nn.Module`` mapping ``(n, d)`` to ``(n, d)``, built by
  :func:`~dynfer.estimators.bridges.families.as_reference`.

None of them is linear in its parameters; their ``theta()`` is empty (their weights live in ``state_dict()``).

References
----------
Shen, Y., Berlinghieri, R. & Broderick, T. (2025). Multi-marginal Schrödinger bridges with iterative reference
refinement. *AISTATS*, PMLR 258, 3817-3825.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer.estimators.bridges.reference_base import ReferenceDrift
from dynfer.nn import MLP, ActivationLike

__all__ = ["NET_FAMILIES", "CustomReference", "MLPPotentialReference", "MLPReference"]


class MLPReference(ReferenceDrift):
    r"""Free network drift :math:`f_\theta(x) = \mathrm{MLP}_\theta(x)`.

    Parameters
    ----------
    dim
        State dimension :math:`d`.
    hidden, activation
        Hidden widths and activation of the :class:`~dynfer.nn.MLP`.
    zero_init
        Start as the zero drift (Brownian reference), the natural start of the refinement.
    dtype, device
        Parameter dtype and device (default ``settings``).
    """

    family = "mlp"

    def __init__(
        self,
        dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: ActivationLike = "silu",
        zero_init: bool = True,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ) -> None:
        super().__init__(dim)
        self.net = MLP(self.dim, self.dim, hidden, activation, zero_last=zero_init, dtype=dtype, device=device)

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        r"""The network output :math:`\mathrm{MLP}_\theta(x)`."""
        return self.net(x.to(self.net.dtype)).to(x.dtype)


class MLPPotentialReference(ReferenceDrift):
    r"""Gradient drift :math:`f_\theta(x) = -\nabla_x \Phi_\theta(x)` of a scalar MLP potential.

    :math:`\Phi_\theta = \mathrm{MLP}_\theta : \mathbb{R}^d \to \mathbb{R}`.

    Parameters
    ----------
    dim
        State dimension :math:`d`.
    hidden, activation
        Hidden widths and activation of the potential network (default ``(128, 64, 64)`` as in the paper, with the
        smooth SiLU instead of the paper's ReLU, whose gradient is piecewise constant; pass ``activation="relu"``
        for the paper's choice).
    zero_init
        Start with :math:`\Phi \equiv 0` (zero drift).
    dtype, device
        Parameter dtype and device (default ``settings``).
    """

    family = "mlp_potential"

    def __init__(
        self,
        dim: int,
        *,
        hidden: Sequence[int] = (128, 64, 64),
        activation: ActivationLike = "silu",
        zero_init: bool = True,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ) -> None:
        super().__init__(dim)
        self.potential = MLP(self.dim, 1, hidden, activation, zero_last=zero_init, dtype=dtype, device=device)

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`-\nabla\Phi_\theta(x)` by autograd (graph kept when gradients are recorded)."""
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            xr = x.to(self.potential.dtype)
            if not xr.requires_grad:
                xr = xr.detach().requires_grad_(True)
            phi = self.potential(xr).sum()
            (grad,) = torch.autograd.grad(phi, xr, create_graph=keep_graph)
        return (-grad).to(x.dtype)


class CustomReference(ReferenceDrift):
    """A user module ``f(x) -> (n, d)`` as a reference drift (family ``"custom"``).

    Its output shape is checked once on a probe batch; ``theta()`` returns its named parameters as numpy arrays.
    """

    family = "custom"

    def __init__(self, module: nn.Module, dim: int) -> None:
        if not isinstance(module, nn.Module):
            raise BadInputError(f"module must be a torch.nn.Module mapping (n, d) -> (n, d), got "
                                f"{type(module).__name__}")
        super().__init__(dim)
        self.module = module
        param = next(module.parameters(), None)
        probe = torch.zeros(
            2,
            self.dim,
            dtype=param.dtype if param is not None else torch.get_default_dtype(),
            device=param.device if param is not None else None,
        )
        with torch.no_grad():
            try:
                out = module(probe)
            except Exception as err:  # report any failure of the module clearly
                raise BadInputError(f"module failed on a probe batch of shape (2, {self.dim}): {err}") from err
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, self.dim):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise BadInputError(f"module must map (n, {self.dim}) to (n, {self.dim}); on (2, {self.dim}) it "
                                f"gave {shape}")

    def drift(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped module's output."""
        return self.module(x)

    def theta(self) -> dict:
        """The wrapped module's named parameters as numpy arrays."""
        return {name: p.detach().cpu().double().numpy() for name, p in self.module.named_parameters()}


NET_FAMILIES: dict[str, type[ReferenceDrift]] = {"mlp": MLPReference, "mlp_potential": MLPPotentialReference}
"""Network families by name (registered in :mod:`.families`, so that :func:`make_reference` builds them by name)."""
