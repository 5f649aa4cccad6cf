r"""Multilayer perceptrons: a plain :class:`MLP` and a :class:`TimeConditionedMLP` of :math:`(x, t)`.

New parameters are created with ``settings.dtype`` on ``settings.device`` unless ``dtype``/``device`` are given.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer.nn.activations import ActivationLike, activation_factory
from dynfer.nn.checks import check_size, factory_kwargs
from dynfer.nn.embeddings import SinusoidalTimeEmbedding

__all__ = ["MLP", "TimeConditionedMLP"]


class MLP(nn.Module):
    r"""Multilayer perceptron :math:`x \mapsto W_L\,\sigma(\cdots\sigma(W_1 x + b_1)\cdots) + b_L`.

    Parameters
    ----------
    in_dim, out_dim
        Input and output feature sizes; inputs have shape ``(..., in_dim)``, outputs ``(..., out_dim)``.
    hidden
        Widths of the hidden layers (``()`` gives an affine map).
    activation
        Name in :data:`ACTIVATIONS` (default ``"silu"``, :math:`\sigma(z) = z / (1 + e^{-z})`), an ``nn.Module``
        class or a zero-argument factory returning a module.
    dropout
        Dropout probability after each hidden activation (``0`` disables it).
    layer_norm
        Apply :class:`torch.nn.LayerNorm` before each hidden activation.
    zero_last
        Initialise the last layer at zero, so the network starts as the zero function (useful for residual
        corrections of a reference drift).
    dtype, device
        Parameter dtype and device (default ``settings.dtype`` and ``settings.device``).

    Examples
    --------
    >>> import torch
    >>> from dynfer.nn import MLP
    >>> net = MLP(3, 2, hidden=(16, 16), device="cpu")
    >>> tuple(net(torch.zeros(5, 3, dtype=net.dtype)).shape)
    (5, 2)
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (64, 64),
        activation: ActivationLike = "silu",
        *,
        dropout: float = 0.0,
        layer_norm: bool = False,
        zero_last: bool = False,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        self.in_dim = check_size(in_dim, "in_dim")
        self.out_dim = check_size(out_dim, "out_dim")
        if isinstance(hidden, int) or not isinstance(hidden, Sequence):
            raise BadInputError(f"hidden must be a sequence of positive ints such as (64, 64), got {hidden!r}")
        widths = [check_size(h, "hidden[i]") for h in hidden]
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise BadInputError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        make_act = activation_factory(activation)
        kw = factory_kwargs(dtype, device)
        layers: list[nn.Module] = []
        sizes = [self.in_dim, *widths]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers.append(nn.Linear(a, b, **kw))
            if layer_norm:
                layers.append(nn.LayerNorm(b, **kw))
            layers.append(make_act())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        last = nn.Linear(sizes[-1], self.out_dim, **kw)
        if zero_last:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        layers.append(last)
        self.net = nn.Sequential(*layers)

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the parameters."""
        return self.net[-1].weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the network to ``x`` of shape ``(..., in_dim)``."""
        if x.shape[-1] != self.in_dim:
            raise BadInputError(f"x must have last dimension in_dim={self.in_dim}, got shape {tuple(x.shape)}")
        return self.net(x)


class TimeConditionedMLP(nn.Module):
    r"""A network :math:`(x, t) \mapsto \mathrm{MLP}([x, e(t)])` with :math:`e` a :class:`SinusoidalTimeEmbedding`.

    Used for time-dependent drifts, scores and value functions.

    Parameters
    ----------
    in_dim, out_dim
        Sizes of :math:`x` and of the output.
    hidden, activation
        As in :class:`MLP`.
    time_dim
        Size of the time embedding.
    max_period, time_scale
        ``max_period`` and ``scale`` of the embedding.
    **mlp_kwargs
        Further keyword arguments of :class:`MLP` (``dropout``, ``layer_norm``, ``zero_last``, ``dtype``, ``device``).

    Notes
    -----
    ``t`` may be a number, a 0-d tensor, or a tensor of shape ``x.shape[:-1]`` or ``x.shape[:-1] + (1,)``; it is
    broadcast over the batch dimensions of ``x``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (64, 64),
        activation: ActivationLike = "silu",
        *,
        time_dim: int = 32,
        max_period: float = 10_000.0,
        time_scale: float = 1.0,
        **mlp_kwargs,
    ) -> None:
        super().__init__()
        self.in_dim = check_size(in_dim, "in_dim")
        self.embedding = SinusoidalTimeEmbedding(time_dim, max_period, scale=time_scale)
        self.mlp = MLP(self.in_dim + self.embedding.dim, out_dim, hidden, activation, **mlp_kwargs)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """Evaluate at states ``x`` of shape ``(..., in_dim)`` and times ``t`` (see Notes)."""
        if x.shape[-1] != self.in_dim:
            raise BadInputError(f"x must have last dimension in_dim={self.in_dim}, got shape {tuple(x.shape)}")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        batch = x.shape[:-1]
        if t.ndim == len(batch) + 1 and t.shape[-1] == 1:
            t = t[..., 0]
        try:
            t = t.expand(batch)
        except RuntimeError:
            raise BadInputError(
                f"t must be a scalar or have shape {tuple(batch)} (or {(*batch, 1)}), got {tuple(t.shape)}"
            ) from None
        return self.mlp(torch.cat([x, self.embedding(t)], dim=-1))
