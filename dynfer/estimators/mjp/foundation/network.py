r"""The foundation network: an encoder of transition statistics pooled per from-state, equivariant in the states.

**Link features.** For a context with statistics :math:`C_{ijb}` (transitions :math:`i \to j` in lag bin
:math:`b`), :math:`M_{abc}` (triples) and first states :math:`f_i` (:mod:`.statistics`), with
:math:`N_{ib} = \sum_j C_{ijb}` and :math:`N_i = \sum_b N_{ib}`, every ordered pair of states :math:`(i, j)` gets

* the empirical transition probabilities per lag bin :math:`\hat P_{ijb} = C_{ijb} / N_{ib}` (pooled per
  from-state: a global pool over all transitions loses which state they leave, and fails),
* the lag distribution of state :math:`i`, :math:`N_{ib} / N_i`, and its uncertainty :math:`(N_{ib} + 1)^{-1/2}`,
* :math:`(N_i + 1)^{-1/2}` and :math:`(N_j + 1)^{-1/2}`, bounded however large the context (raw counts would
  leave the training range on large contexts),
* the triple fractions :math:`M_{iji}`, :math:`M_{ijj}` and the rest over :math:`\sum_c M_{ijc} + 1`, which see
  label noise,
* the log-ratio estimate :math:`\beta_{ij} = \log\big[(C_{ij} + \tfrac{1}{2n}) / (N_i + \tfrac12)\big] -
  \log \bar u_i` (:math:`\bar u_i` the mean lag out of :math:`i`), the naive rate :math:`\hat P_{ij}/\bar u_i`,
* indicators of :math:`i = j` and :math:`1/n`.

**Mixing.** An MLP embeds each link to :math:`h_{ij} \in \mathbb R^d`; then :math:`R` residual layers
:math:`h_{ij} \leftarrow \mathrm{LN}\big(h_{ij} + \mathrm{MLP}[h_{ij}, h_{ji}, \bar h_{i\cdot}, \bar h_{\cdot j},
\bar h_{j\cdot}, \bar h_{\cdot i}, h_{ii}, h_{jj}, \bar h_{\cdot\cdot}]\big)` (means over the context's states)
let every link see the rest of the graph, as the matrix exponential does. Permuting the states permutes the
output; the network never sees the path order or the path count beyond the bounded count features.

**Heads.** Per link: the log-rate mean :math:`\mu_{ij} = \beta_{ij} + \delta_{ij}` (the log-ratio skip),
the log-rate standard deviation :math:`\sigma_{ij}` and the link-presence logit; per state: the initial-law logit
(plus the skip :math:`\log(f_i + \tfrac12)`).

**Loss** (per context, averaged over the batch): the Gaussian negative log-likelihood of the true
:math:`\log(q_{ij}\tau)` under :math:`\mathcal N(\mu_{ij}, \sigma_{ij}^2)` averaged over the present links, the
binary cross-entropy of the link logits over all off-diagonal links, and the cross-entropy of the initial law.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dynfer.estimators.mjp.foundation.statistics import LAG_CENTRES, N_LAG_BINS

__all__ = ["FoundationNetwork", "foundation_loss"]

_N_FEATURES = 3 * N_LAG_BINS + 10


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.GELU()]
    return nn.Sequential(*layers[:-1])


def link_features(pairs: torch.Tensor, triples: torch.Tensor, n_states: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Link features ``(C, m, m, F)``, the log-ratio base ``(C, m, m)`` and the state mask ``(C, m)``."""
    c, m = pairs.shape[0], pairs.shape[1]
    mask = torch.arange(m, device=pairs.device) < n_states[:, None]
    n_ib = pairs.sum(2)  # (C, m, B)
    n_i = n_ib.sum(-1)  # (C, m)
    p_hat = pairs / n_ib[:, :, None, :].clamp_min(1e-6)
    lag_dist = n_ib / n_i[..., None].clamp_min(1e-6)
    lag_unc = (n_ib + 1.0).rsqrt()
    centres = torch.as_tensor(2.0**LAG_CENTRES, dtype=pairs.dtype, device=pairs.device)
    mean_lag = (lag_dist * centres).sum(-1).clamp_min(2.0**-4)
    mean_lag = torch.where(n_i > 0, mean_lag, torch.ones_like(mean_lag))
    c_ij = pairs.sum(-1)
    n_f = n_states.to(pairs.dtype)[:, None, None]
    base = torch.log((c_ij + 0.5 / n_f) / (n_i[..., None] + 0.5)) - torch.log(mean_lag)[..., None]
    t_sum = triples.sum(-1) + 1.0
    eye = torch.eye(m, dtype=pairs.dtype, device=pairs.device)
    ret = torch.diagonal(triples, dim1=1, dim2=3).permute(0, 2, 1)  # M[i, j, i] -> (C, i, j)
    stay = torch.diagonal(triples, dim1=2, dim2=3)  # M[i, j, j] -> (C, i, j)
    rest = triples.sum(-1) - ret - stay
    inv_n = (n_i + 1.0).rsqrt()
    feats = torch.cat(
        [
            p_hat,
            lag_dist[:, :, None, :].expand(c, m, m, N_LAG_BINS),
            lag_unc[:, :, None, :].expand(c, m, m, N_LAG_BINS),
            inv_n[:, :, None, None].expand(c, m, m, 1),
            inv_n[:, None, :, None].expand(c, m, m, 1),
            (ret / t_sum)[..., None],
            (stay / t_sum)[..., None],
            (rest / t_sum)[..., None],
            t_sum.rsqrt()[..., None],
            (base * (1 - eye) / 5.0)[..., None],
            eye.expand(c, m, m)[..., None],
            (1.0 / n_f).expand(c, m, m)[..., None],
            torch.log(mean_lag)[:, :, None, None].expand(c, m, m, 1),
        ],
        dim=-1,
    )
    return feats, base, mask


class _Mixing(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.mlp = _mlp([9 * width, hidden, width])
        self.norm = nn.LayerNorm(width)

    def forward(self, h: torch.Tensor, pair_mask: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        cnt = mask.sum(-1).clamp_min(1).to(h.dtype)[:, None, None]
        hm = h * pair_mask[..., None]
        row = hm.sum(2) / cnt  # mean_k h_ik  (C, m, d)
        col = hm.sum(1) / cnt  # mean_k h_kj
        tot = hm.sum((1, 2)) / cnt[:, 0] ** 2
        m = h.shape[1]
        diag = torch.diagonal(h, dim1=1, dim2=2).permute(0, 2, 1)  # (C, m, d)
        x = torch.cat(
            [
                h,
                h.transpose(1, 2),
                row[:, :, None].expand_as(h),
                col[:, None, :].expand_as(h),
                row[:, None, :].expand_as(h),
                col[:, :, None].expand_as(h),
                diag[:, :, None].expand_as(h),
                diag[:, None, :].expand_as(h),
                tot[:, None, None].expand(-1, m, m, -1),
            ],
            dim=-1,
        )
        return self.norm(h + self.mlp(x)) * pair_mask[..., None]


class FoundationNetwork(nn.Module):
    """The per-from-state pooled, state-equivariant encoder with rate, uncertainty, link and initial heads.

    Parameters
    ----------
    width
        Link embedding size :math:`d`.
    hidden
        Hidden size of the mixing MLPs.
    n_layers
        Number of mixing layers :math:`R`.
    """

    def __init__(self, width: int = 64, hidden: int = 128, n_layers: int = 3) -> None:
        super().__init__()
        self.config = {"width": width, "hidden": hidden, "n_layers": n_layers}
        self.embed = _mlp([_N_FEATURES, hidden, width])
        self.layers = nn.ModuleList(_Mixing(width, hidden) for _ in range(n_layers))
        self.link_head = _mlp([width, hidden, 3])
        self.init_head = _mlp([width + 2, hidden, 1])

    def forward(self, pairs: torch.Tensor, triples: torch.Tensor, first: torch.Tensor,
                n_states: torch.Tensor) -> dict[str, torch.Tensor]:
        """Log-rate mean and std, link logits ``(C, m, m)`` and initial logits ``(C, m)`` (padding masked)."""
        feats, base, mask = link_features(pairs, triples, n_states)
        pair_mask = (mask[:, :, None] & mask[:, None, :]).to(feats.dtype)
        h = self.embed(feats) * pair_mask[..., None]
        for layer in self.layers:
            h = layer(h, pair_mask, mask)
        out = self.link_head(h)
        mean = base + out[..., 0]
        std = nn.functional.softplus(out[..., 1] + 0.5) + 0.02
        link = out[..., 2]
        k = first.sum(-1, keepdim=True)
        freq = first / k.clamp_min(1.0)
        skip = torch.log(first + 0.5)
        diag = torch.diagonal(h, dim1=1, dim2=2).permute(0, 2, 1)
        size = (k + 1.0).rsqrt()[..., None].expand_as(freq[..., None])
        init = self.init_head(torch.cat([diag, freq[..., None], size], -1))[..., 0] + skip
        init = init.masked_fill(~mask, -math.inf)
        return {"log_rate_mean": mean, "log_rate_std": std, "link_logit": link, "initial_logit": init}


def foundation_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The training loss (module docstring), a mean over the batch."""
    out = model(batch["pairs"], batch["triples"], batch["first"], batch["n_states"])
    n = batch["n_states"]
    m = batch["pairs"].shape[1]
    mask = torch.arange(m, device=n.device) < n[:, None]
    off = (mask[:, :, None] & mask[:, None, :]) & ~torch.eye(m, dtype=torch.bool, device=n.device)
    adj = batch["adjacency"].bool() & off
    z = (batch["log_rates"] - out["log_rate_mean"]) / out["log_rate_std"]
    nll = 0.5 * z**2 + torch.log(out["log_rate_std"])
    rate_term = (nll * adj).sum((1, 2)) / adj.sum((1, 2)).clamp_min(1)
    bce = nn.functional.binary_cross_entropy_with_logits(out["link_logit"], adj.to(z.dtype), reduction="none")
    link_term = (bce * off).sum((1, 2)) / off.sum((1, 2)).clamp_min(1)
    logp = torch.log_softmax(out["initial_logit"], -1).masked_fill(~mask, 0.0)
    init_term = -(batch["initial"] * logp).sum(-1)
    return (rate_term + link_term + init_term).mean()
