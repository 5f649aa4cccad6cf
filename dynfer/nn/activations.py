r"""Activation functions of the shared networks: the names :class:`~dynfer.nn.MLP` accepts and their resolution.

References
----------
Elfwing, S., Uchibe, E. & Doya, K. (2018). Sigmoid-weighted linear units for neural network function approximation
in reinforcement learning. *Neural Networks* 107, 3-11 (SiLU).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dynfer._errors import BadInputError

__all__ = ["ACTIVATIONS", "ActivationLike", "activation_factory"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}
"""Activation names accepted by :class:`MLP` (any ``nn.Module`` class or zero-argument factory works too)."""

ActivationLike = str | type[nn.Module] | Callable[[], nn.Module]
"""An activation specification: a name in :data:`ACTIVATIONS`, an ``nn.Module`` class or a zero-argument factory."""


def activation_factory(activation: ActivationLike) -> Callable[[], nn.Module]:
    """Resolve an activation specification to a zero-argument factory of activation modules.

    Parameters
    ----------
    activation
        A name in :data:`ACTIVATIONS` (case and surrounding spaces ignored), an ``nn.Module`` class or a zero-argument
        factory returning a module.

    Returns
    -------
    Callable[[], torch.nn.Module]
        Called once per layer, so every layer gets its own module.

    Raises
    ------
    ValueError
        If the name is unknown or ``activation`` is neither a name nor callable.
    """
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in ACTIVATIONS:
            raise BadInputError(
                f"activation must be one of {sorted(ACTIVATIONS)} or an nn.Module class, got {activation!r}"
            )
        return ACTIVATIONS[key]
    if callable(activation):
        return activation
    raise BadInputError(f"activation must be a name, an nn.Module class or a factory, got {activation!r}")
