r"""Embeddings of scalar inputs (times) for the shared networks.

References
----------
Vaswani, A. et al. (2017). Attention is all you need. *NeurIPS* 30 (sinusoidal position encoding).
Ho, J., Jain, A. & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS* 33 (its use for time).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer.nn.checks import check_size

__all__ = ["SinusoidalTimeEmbedding"]


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
        self.dim = check_size(dim, "dim")
        if not (isinstance(max_period, (int, float)) and math.isfinite(max_period) and max_period > 1):
            raise BadInputError(f"max_period must be a finite number > 1, got {max_period!r}")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise BadInputError(f"scale must be a finite number > 0, got {scale!r}")
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
