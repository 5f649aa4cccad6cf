r"""A permutation-equivariant local Transformer for per-particle outputs (scores) of particle systems.

The output for particle :math:`i` depends only on :math:`i` and its :math:`k` nearest neighbours
:math:`\mathcal{N}_k(i)` under the minimum image (:func:`~dynfer.nn.neighbours.knn_minimum_image`), so a network
trained at one particle number evaluates at any other (Boffi & Vanden-Eijnden 2024, who train at 4,096 particles and
apply at 32,768).

References
----------
Boffi, N. M. & Vanden-Eijnden, E. (2024). Deep learning probability flows and entropy production rates in active
matter. *PNAS* 121 (25), e2318106121.
Vaswani, A. et al. (2017). Attention is all you need. *NeurIPS* 30 (the encoder block).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_int
from dynfer.nn.checks import check_size, factory_kwargs
from dynfer.nn.mlp import MLP
from dynfer.nn.neighbours import as_box, knn_minimum_image

__all__ = ["LocalTransformerScore"]

TOKEN_FLOATS_PER_CHUNK = 2**21
"""Activation floats one chunk of query particles may hold in :meth:`LocalTransformerScore.forward` (8 MiB in
float32 per temporary)."""


class _PostLNEncoderBlock(nn.Module):
    r"""Post-LayerNorm Transformer encoder block without positional encoding (Vaswani et al. 2017, section 3.1).

    :math:`h \leftarrow \mathrm{LN}(h + \mathrm{MHA}(h))`, then :math:`h \leftarrow \mathrm{LN}(h + \mathrm{FF}(h))`
    with :math:`\mathrm{FF} = W_2\,\mathrm{GELU}(W_1 h)`. Attention is written out
    (:math:`\mathrm{softmax}(Q K^\top / \sqrt{d_h}) V` per head) so that it is twice differentiable on every device.
    """

    def __init__(self, embed_dim: int, n_heads: int, hidden: int, kw: dict) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, **kw)
        self.project = nn.Linear(embed_dim, embed_dim, **kw)
        self.norm_attention = nn.LayerNorm(embed_dim, **kw)
        self.feed_forward = nn.Sequential(nn.Linear(embed_dim, hidden, **kw), nn.GELU(),
                                          nn.Linear(hidden, embed_dim, **kw))
        self.norm_feed_forward = nn.LayerNorm(embed_dim, **kw)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Map tokens ``(M, T, E)`` (``M`` sets of ``T`` tokens) to tokens of the same shape."""
        sets, tokens, embed = h.shape
        head = embed // self.n_heads
        q, k, v = self.qkv(h).view(sets, tokens, 3, self.n_heads, head).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head), dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(sets, tokens, embed)
        h = self.norm_attention(h + self.project(attended))
        return self.norm_feed_forward(h + self.feed_forward(h))


class LocalTransformerScore(nn.Module):
    r"""Per-particle outputs (e.g. scores) from each particle's ``k`` nearest neighbours: a local Transformer.

    Each particle carries ``dim + n_features`` numbers: its position :math:`x_i` (the first ``dim``) and features
    :math:`g_i` (e.g. an active velocity, or an angle). For particle :math:`i` the network builds ``k + 1`` tokens,
    one for :math:`i` itself and one for each neighbour :math:`j \in \mathcal{N}_k(i)`,

    .. math::  t_j = \mathrm{MLP}_g(\phi(g_j)) + \mathrm{MLP}_x(r_{ij})
               \;\big[ + \mathrm{MLP}_a(x_i) \text{ for } j = i \text{ when } \texttt{absolute\_positions} \big],

    with :math:`r_{ij}` the minimum-image displacement (:math:`r_{ii} = 0`) and :math:`\phi` replacing each angular
    feature :math:`\theta` by :math:`(\cos\theta, \sin\theta)`. The sum is used where Boffi & Vanden-Eijnden
    concatenate :math:`[\mathrm{MLP}_g, \mathrm{MLP}_x]`; concatenation is the special case of two MLPs writing
    disjoint halves of the token. ``n_blocks`` post-LayerNorm encoder blocks (self-attention over the ``k + 1``
    tokens, ``n_heads`` heads, no positional encoding) follow, and the output is a linear read-out of the token of
    :math:`i`:

    .. math::  s_i = W\, h_i^{(n_\text{blocks})} + b, \qquad W = 0,\ b = 0 \text{ at initialisation},

    so the network is the zero function when built (the "shift parametrisation" :math:`s = s_\text{eq} + \text{NN}`).

    Properties: the outputs are permutation-equivariant (relabelling the particles relabels the outputs); with
    ``absolute_positions=False`` they are invariant under translations (periodic ones included); the network is
    local, so it applies at any particle number ``N > k``. It is differentiable with respect to every input
    coordinate (the neighbour lists are piecewise constant in the positions), twice so, as score matching needs.

    Parameters
    ----------
    dim
        Spatial dimensions :math:`d`: the first ``dim`` coordinates of a particle are its position.
    n_features
        Non-position coordinates per particle (``0`` allowed: then tokens are :math:`\mathrm{MLP}_x(r_{ij})` only).
    out_features
        Outputs per particle.
    angular
        Indices (among the ``n_features`` features, 0-based) of features that are angles.
    k
        Neighbours per particle.
    embed_dim
        Token size; a multiple of ``n_heads``.
    n_heads
        Attention heads.
    n_blocks
        Encoder blocks.
    hidden_mult
        Width of the feed-forward layer of a block, in units of ``embed_dim``.
    absolute_positions
        Add :math:`\mathrm{MLP}_a(x_i)` to the token of :math:`i` (needed in an external potential such as a harmonic
        trap; breaks translation invariance). The positions are used as given, not wrapped into a box.
    dtype, device
        Parameter dtype and device (default ``settings.dtype`` and ``settings.device``).

    Notes
    -----
    The embedding MLPs have one hidden layer of width ``embed_dim`` and SiLU activations. Cost per configuration:
    :math:`O(N^2 d)` for the neighbour search, :math:`O(N (k+1)\, \text{embed}^2\, \text{hidden\_mult})` and
    :math:`O(N (k+1)^2\, \text{embed})` for the blocks; the activations of a chunk of query particles are held at once
    (see :meth:`forward`).

    References
    ----------
    Boffi & Vanden-Eijnden (2024), Materials and Methods (network architecture); Vaswani et al. (2017).

    Examples
    --------
    >>> import torch
    >>> from dynfer.nn import LocalTransformerScore
    >>> net = LocalTransformerScore(dim=2, n_features=2, out_features=2, k=4, embed_dim=16, device="cpu")
    >>> state = torch.rand(3, 20, 4, dtype=net.dtype)
    >>> tuple(net(state, box=torch.ones(2, dtype=net.dtype)).shape)
    (3, 20, 2)
    """

    def __init__(
        self,
        *,
        dim: int,
        n_features: int,
        out_features: int,
        angular: Sequence[int] = (),
        k: int = 32,
        embed_dim: int = 64,
        n_heads: int = 4,
        n_blocks: int = 2,
        hidden_mult: int = 2,
        absolute_positions: bool = False,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_size(dim, "dim")
        self.n_features = check_int(n_features, "n_features", minimum=0)
        self.out_features = check_size(out_features, "out_features")
        self.angular = _check_angular(angular, self.n_features)
        self.k = check_size(k, "k")
        self.embed_dim = check_size(embed_dim, "embed_dim")
        self.n_heads = check_size(n_heads, "n_heads")
        if self.embed_dim % self.n_heads:
            raise BadInputError("embed_dim", f"embed_dim = {embed_dim} with n_heads = {n_heads}",
                                "a multiple of n_heads")
        self.n_blocks = check_size(n_blocks, "n_blocks")
        self.hidden_mult = check_size(hidden_mult, "hidden_mult")
        if not isinstance(absolute_positions, bool):
            raise BadInputError("absolute_positions", repr(absolute_positions), "True or False")
        self.absolute_positions = absolute_positions
        kw = factory_kwargs(dtype, device)
        if not kw["dtype"].is_floating_point:
            raise BadInputError("dtype", str(kw["dtype"]), "a floating dtype such as torch.float32")
        width = (self.embed_dim,)
        self.embed_features = (MLP(self.n_features + len(self.angular), self.embed_dim, width, **kw)
                               if self.n_features else None)
        self.embed_displacement = MLP(self.dim, self.embed_dim, width, **kw)
        self.embed_position = MLP(self.dim, self.embed_dim, width, **kw) if absolute_positions else None
        self.blocks = nn.ModuleList(
            _PostLNEncoderBlock(self.embed_dim, self.n_heads, self.hidden_mult * self.embed_dim, kw)
            for _ in range(self.n_blocks))
        self.readout = nn.Linear(self.embed_dim, self.out_features, **kw)
        nn.init.zeros_(self.readout.weight)
        nn.init.zeros_(self.readout.bias)

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the parameters."""
        return self.readout.weight.dtype

    @property
    def in_features(self) -> int:
        """Coordinates per particle in the input state, ``dim + n_features``."""
        return self.dim + self.n_features

    def config(self) -> dict[str, Any]:
        """The constructor arguments except ``dtype`` and ``device``, as plain numbers (for storing the network).

        Returns
        -------
        dict
            ``LocalTransformerScore(**net.config())`` builds a network of the same architecture.
        """
        return {"dim": self.dim, "n_features": self.n_features, "out_features": self.out_features,
                "angular": self.angular, "k": self.k, "embed_dim": self.embed_dim, "n_heads": self.n_heads,
                "n_blocks": self.n_blocks, "hidden_mult": self.hidden_mult,
                "absolute_positions": self.absolute_positions}

    def _features(self, state: torch.Tensor) -> torch.Tensor:
        r"""The embedded features :math:`\mathrm{MLP}_g(\phi(g_j))` of every particle, shape ``(B, N, embed_dim)``."""
        features = state[..., self.dim:]
        if self.angular:
            angles = features[..., list(self.angular)]
            features = torch.cat([features, torch.cos(angles), torch.sin(angles)], dim=-1)
            keep = [a for a in range(self.n_features) if a not in self.angular]
            keep += list(range(self.n_features, self.n_features + 2 * len(self.angular)))
            features = features[..., keep]
        return self.embed_features(features)

    def forward(
        self,
        state: torch.Tensor,
        box: torch.Tensor | None = None,
        *,
        chunk_size: int | None = None,
    ) -> torch.Tensor:
        r"""Evaluate the per-particle outputs.

        Parameters
        ----------
        state
            Shape ``(B, N, dim + n_features)``: positions then features of ``N > k`` particles in ``B``
            configurations. Converted to the parameters' dtype and device (differentiably).
        box
            Periodic box edge lengths, shape ``(dim,)`` (a number gives a cubic box), or ``None`` for free space.
        chunk_size
            Query particles whose token sets go through the blocks at once (default: as many as keep about
            :data:`TOKEN_FLOATS_PER_CHUNK` activation floats per temporary). Chunking bounds the memory of inference;
            with gradients enabled every chunk's activations are kept for the backward pass anyway.

        Returns
        -------
        torch.Tensor
            Shape ``(B, N, out_features)``.

        Raises
        ------
        BadInputError
            If ``state`` is not a finite ``(B, N, dim + n_features)`` array with ``N > k``, ``box`` or
            ``chunk_size`` is bad, or the outputs are not finite (coordinates far too large, or diverged
            parameters).
        """
        param = self.readout.weight
        state = as_tensor(state, "state", dtype=param.dtype, device=param.device, ndim=3)
        n_batch, n_particles, width = state.shape
        if width != self.in_features:
            raise BadInputError("state", f"shape {tuple(state.shape)}",
                                f"(B, N, dim + n_features) = (B, N, {self.in_features})")
        if n_batch == 0 or n_particles <= self.k:
            raise BadInputError("state", f"shape {tuple(state.shape)}: {n_particles} particles with k = {self.k}",
                                f"at least one configuration of more than k = {self.k} particles")
        edges = as_box(box, self.dim, state)
        positions = state[..., :self.dim]
        neighbours, displacement = knn_minimum_image(positions, self.k, edges)
        tokens = self.k + 1
        if chunk_size is None:
            per_particle = n_batch * tokens * max(self.hidden_mult * self.embed_dim, self.n_heads * tokens)
            chunk = max(1, TOKEN_FLOATS_PER_CHUNK // per_particle)
        else:
            chunk = check_int(chunk_size, "chunk_size")
        features = self._features(state) if self.embed_features is not None else None
        own = self.embed_position(positions) if self.embed_position is not None else None
        zero = displacement.new_zeros(n_batch, 1, 1, self.dim).expand(n_batch, n_particles, 1, self.dim)
        displacement = torch.cat([zero, displacement], dim=2)  # the particle itself first, r_ii = 0
        members = torch.cat([torch.arange(n_particles, device=state.device).expand(n_batch, n_particles)[..., None],
                             neighbours], dim=2)
        outputs = []
        for start in range(0, n_particles, chunk):
            stop = min(start + chunk, n_particles)
            h = self.embed_displacement(displacement[:, start:stop])  # (B, c, k + 1, E)
            if features is not None:
                picked = members[:, start:stop].reshape(n_batch, -1, 1).expand(-1, -1, self.embed_dim)
                h = h + features.gather(1, picked).reshape(h.shape)
            if own is not None:
                h = torch.cat([h[:, :, :1] + own[:, start:stop, None], h[:, :, 1:]], dim=2)
            h = h.reshape(-1, tokens, self.embed_dim)
            for block in self.blocks:
                h = block(h)
            outputs.append(self.readout(h[:, 0]).reshape(n_batch, stop - start, self.out_features))
        out = torch.cat(outputs, dim=1)
        if not bool(torch.isfinite(out.detach()).all()):
            raise BadInputError("state", f"coordinates up to {float(state.detach().abs().max()):.3g} give non-finite "
                                "outputs", "coordinates of order one (the scale the network was built for)",
                                hint="rescale the coordinates or use float64; if they are of order one, the "
                                "parameters have diverged")
        return out


def _check_angular(angular: Sequence[int], n_features: int) -> tuple[int, ...]:
    """Check the indices of the angular features: distinct integers in ``0 .. n_features - 1``."""
    if isinstance(angular, (str, bytes)) or not isinstance(angular, Sequence):
        raise BadInputError("angular", repr(angular), "a sequence of feature indices such as (0,)")
    indices = tuple(check_int(a, "angular[i]", minimum=0) for a in angular)
    if any(a >= n_features for a in indices) or len(set(indices)) != len(indices):
        raise BadInputError("angular", repr(tuple(angular)),
                            f"distinct indices among the n_features = {n_features} features (0 .. {n_features - 1})")
    return indices
