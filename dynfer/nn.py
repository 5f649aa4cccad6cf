r"""Shared networks: a multilayer perceptron, a sinusoidal time embedding and a time-conditioned MLP.

Every estimator that learns a function (drifts, scores, value functions, encoders) builds it from these blocks and
trains it with :func:`dynfer.training.fit`. New parameters are created with ``settings.dtype`` on ``settings.device``
unless ``dtype``/``device`` are given.

References
----------
Vaswani, A. et al. (2017). Attention is all you need. *NeurIPS* 30 (sinusoidal position encoding).
Ho, J., Jain, A. & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS* 33 (its use for time).
Elfwing, S., Uchibe, E. & Doya, K. (2018). Sigmoid-weighted linear units for neural network function approximation
in reinforcement learning. *Neural Networks* 107, 3-11 (SiLU).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from dynfer._settings import settings

__all__ = ["ACTIVATIONS", "MLP", "SinusoidalTimeEmbedding", "TimeConditionedMLP"]

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


def _check_dim(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _activation_factory(activation: ActivationLike) -> Callable[[], nn.Module]:
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or an nn.Module class, got {activation!r}"
            )
        return ACTIVATIONS[key]
    if callable(activation):
        return activation
    raise ValueError(f"activation must be a name, an nn.Module class or a factory, got {activation!r}")


def _factory_kwargs(dtype: torch.dtype | None, device: str | torch.device | None) -> dict:
    return {"dtype": settings.dtype if dtype is None else dtype, "device": settings.resolve_device(device)}


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
        self.in_dim = _check_dim(in_dim, "in_dim")
        self.out_dim = _check_dim(out_dim, "out_dim")
        if isinstance(hidden, int) or not isinstance(hidden, Sequence):
            raise ValueError(f"hidden must be a sequence of positive ints such as (64, 64), got {hidden!r}")
        widths = [_check_dim(h, "hidden[i]") for h in hidden]
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        make_act = _activation_factory(activation)
        kw = _factory_kwargs(dtype, device)
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
            raise ValueError(f"x must have last dimension in_dim={self.in_dim}, got shape {tuple(x.shape)}")
        return self.net(x)


class SinusoidalTimeEmbedding(nn.Module):
    r"""Sinusoidal embedding of a (time) scalar, the Transformer position encoding applied to :math:`t`.

    With :math:`h = \lfloor \text{dim}/2 \rfloor` frequencies :math:`\omega_k = P^{-k/h}`, :math:`k = 0, \dots, h-1`
    (:math:`P` = ``max_period``, so periods range geometrically from :math:`2\pi` to almost :math:`2\pi P`),

    .. math::  e(t) = \big[\sin(s t\,\omega_0), \dots, \sin(s t\,\omega_{h-1}),\;
               \cos(s t\,\omega_0), \dots, \cos(s t\,\omega_{h-1})\big]

    where :math:`s` = ``scale``; an odd ``dim`` appends one zero. With the default ``max_period=10_000`` the
    embedding resolves times of order one to thousands; for :math:`t \in [0, 1]` pass e.g. ``scale=1000``
    (as in DDPM) or a smaller ``max_period``. The module has no parameters.

    Parameters
    ----------
    dim
        Embedding size.
    max_period
        :math:`P > 1`, the longest period over :math:`2\pi`.
    scale
        :math:`s > 0`, multiplies :math:`t` before embedding.

    References
    ----------
    Vaswani et al. (2017), section 3.5; Ho, Jain & Abbeel (2020), appendix B.
    """

    def __init__(self, dim: int, max_period: float = 10_000.0, *, scale: float = 1.0) -> None:
        super().__init__()
        self.dim = _check_dim(dim, "dim")
        if not (isinstance(max_period, (int, float)) and math.isfinite(max_period) and max_period > 1):
            raise ValueError(f"max_period must be a finite number > 1, got {max_period!r}")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        self.max_period = float(max_period)
        self.scale = float(scale)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Embed ``t`` of any shape ``(...)`` into ``(..., dim)``.

        A floating ``t`` keeps its dtype; integer times become ``settings.dtype``.
        """
        t = torch.as_tensor(t)
        if not t.is_floating_point():
            t = t.to(settings.dtype)
        half = self.dim // 2
        k = torch.arange(half, dtype=t.dtype, device=t.device)
        freqs = torch.exp(-math.log(self.max_period) * k / max(half, 1))
        angles = (self.scale * t)[..., None] * freqs
        emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
        if self.dim % 2:
            emb = torch.nn.functional.pad(emb, (0, 1))
        return emb

    def extra_repr(self) -> str:
        """Shown by ``repr``."""
        return f"dim={self.dim}, max_period={self.max_period:g}, scale={self.scale:g}"


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
        self.in_dim = _check_dim(in_dim, "in_dim")
        self.embedding = SinusoidalTimeEmbedding(time_dim, max_period, scale=time_scale)
        self.mlp = MLP(self.in_dim + self.embedding.dim, out_dim, hidden, activation, **mlp_kwargs)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """Evaluate at states ``x`` of shape ``(..., in_dim)`` and times ``t`` (see Notes)."""
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"x must have last dimension in_dim={self.in_dim}, got shape {tuple(x.shape)}")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        batch = x.shape[:-1]
        if t.ndim == len(batch) + 1 and t.shape[-1] == 1:
            t = t[..., 0]
        try:
            t = t.expand(batch)
        except RuntimeError:
            raise ValueError(
                f"t must be a scalar or have shape {tuple(batch)} (or {(*batch, 1)}), got {tuple(t.shape)}"
            ) from None
        return self.mlp(torch.cat([x, self.embedding(t)], dim=-1))
