r"""Cross-fitted plug-in rate: two scores fitted on disjoint halves, multiplied with each other.

The plug-in :math:`E|b^{irr}_g - D_g\hat s_g|^2_{D_g^{-1}}` squares the score's error, so it is biased upwards by
:math:`E|\hat s_g - s_g|^2_{D_g}`, which for a score with :math:`p` fitted parameters on :math:`n` samples is of
order :math:`p/n` times :math:`E|s_g|^2_{D_g}`. When :math:`\sigma` is a small part of :math:`E|b|^2_{D^{-1}}`
(a stiff bead-spring chain: :math:`\sigma = 1` against :math:`2N + 1`) that bias dominates. With two scores
:math:`\hat s^{(1)}, \hat s^{(2)}` fitted on disjoint halves, their errors :math:`\delta^{(1)}, \delta^{(2)}` are
independent, and

.. math:: \hat\sigma_{\times} = E\big[(b^{irr}_g - D_g\hat s^{(1)}_g)^\top D_g^{-1}(b^{irr}_g - D_g\hat s^{(2)}_g)\big]
          = \sigma - E[v_g^\top(\delta^{(1)} + \delta^{(2)})] + E[\delta^{(1)\top} D_g\,\delta^{(2)}],

whose last term has mean :math:`E[\bar\delta^{(1)\top} D_g\bar\delta^{(2)}]` (only the fits' systematic errors
:math:`\bar\delta`), and whose middle term vanishes for an unbiased score. For the Gaussian plug-in on an OU process
:math:`E[v^\top\delta]` is proportional to :math:`\mathrm{tr}(A - D\Sigma^{-1}) = 0` (trace of the Lyapunov
equation), so the cross-fitted rate is unbiased to first order. This is the cross-fitting (sample splitting) of
double machine learning, applied to the quadratic functional :math:`\sigma(s)`.

References
----------
Chernozhukov, V. et al. (2018). Double/debiased machine learning for treatment and structural parameters.
*The Econometrics Journal* 21, C1–C68.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dynfer.estimators.entropy.drift_parts import DriftParts

__all__ = ["MeanScore", "cross_terms"]


class MeanScore(nn.Module):
    r"""The mean :math:`\tfrac1K\sum_k \hat s^{(k)}` of scores fitted on disjoint folds (velocity, bounds, maps).

    Parameters
    ----------
    members
        The fold scores, each mapping states to :math:`\hat s_g`.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\tfrac1K\sum_k \hat s^{(k)}_g(x)`."""
        return sum(m(x) for m in self.members) / len(self.members)


def cross_terms(first: nn.Module, second: nn.Module, parts: DriftParts, x: torch.Tensor, index: torch.Tensor,
                block: torch.Tensor, inv_block: torch.Tensor, *, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Per sample, the cross-fitted local production and its per-coordinate split.

    With :math:`w^{(k)} = b^{irr}_g - D_g\hat s^{(k)}_g`: the local term :math:`w^{(1)\top}D_g^{-1}w^{(2)}` (its mean
    is :math:`\hat\sigma_\times`; a single sample's term can be negative) and the symmetric split
    :math:`\tfrac12[w^{(1)}_a(D_g^{-1}w^{(2)})_a + w^{(2)}_a(D_g^{-1}w^{(1)})_a]`, which sums to it.

    Parameters
    ----------
    first, second
        The scores of the two folds.
    parts
        The drift and its irreversible part.
    x
        States ``(n, d)``.
    index, block, inv_block
        Noisy coordinates, :math:`D_g` and :math:`D_g^{-1}`.
    chunk
        Samples per chunk.

    Returns
    -------
    tuple of numpy.ndarray
        ``(n,)`` local terms and ``(n, m)`` per-coordinate terms (float64).
    """
    local, coord = [], []
    first.eval()
    second.eval()
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            xc = x[start:start + chunk]
            b_g = parts.irreversible(xc, parts.full(xc)).index_select(-1, index)
            w1 = b_g - first(xc) @ block
            w2 = b_g - second(xc) @ block
            split = 0.5 * (w1 * (w2 @ inv_block) + w2 * (w1 @ inv_block))
            coord.append(split.cpu().numpy())
            local.append(split.sum(-1).cpu().numpy())
    return np.concatenate(local).astype(np.float64), np.concatenate(coord).astype(np.float64)
