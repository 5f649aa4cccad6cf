r"""The sufficient statistics a context of discretely observed jump paths gives the foundation model.

Without label noise the likelihood of discretely observed Markov jump paths factorises over consecutive
observations (Kalbfleisch & Lawless 1985):

.. math:: L(Q) = \prod_m p_0(s^m_0) \prod_i \big[e^{Q \Delta t^m_i}\big]_{s^m_i s^m_{i+1}},

so the multiset of transitions :math:`(s_i, s_{i+1}, \Delta t_i)` and the first states carry everything the data
say. The encoder reads them as fixed-size, normalised tensors, whatever the number of paths:

* the time unit :math:`\tau` = the median positive lag, so lags are :math:`u = \Delta t / \tau` and the model infers
  the dimensionless rates :math:`\rho = q \tau` (a regular grid always has :math:`u = 1`);
* ``pairs[i, j, b]``: transitions :math:`i \to j` with lag in bin :math:`b`; the :math:`B` bins are centred at
  :math:`\log_2 u_b` equally spaced on :math:`[-4, 4]` and each transition is shared between its two nearest
  centres by linear interpolation in :math:`\log_2 u` (clamped at the ends);
* ``triples[a, b, c]``: consecutive observation triples :math:`(s_{i-1}, s_i, s_{i+1})` along a path, which see
  the isolated blips that label noise leaves (:math:`a \to b \to a` far more often than the rates allow);
* ``first[i]``: first states of the paths (the initial law).

Building them costs :math:`O(\text{observations})`; everything after that is :math:`O(n^2 B)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LAG_CENTRES", "MAX_STATES", "N_LAG_BINS", "ContextStatistics", "context_statistics", "lag_bins"]

#: States the statistics tensors are padded to (the prior's largest system).
MAX_STATES = 6
#: Number of lag bins and their centres in :math:`\log_2 u`.
N_LAG_BINS = 12
LAG_CENTRES = np.linspace(-4.0, 4.0, N_LAG_BINS)


@dataclass
class ContextStatistics:
    r"""Statistics of one or many contexts (leading batch axis ``C``), padded to ``n_max`` states.

    Attributes
    ----------
    pairs
        ``(C, n_max, n_max, B)`` soft-binned transition counts (rows = from).
    triples
        ``(C, n_max, n_max, n_max)`` counts of consecutive triples.
    first
        ``(C, n_max)`` first-state counts.
    n_states
        ``(C,)`` number of states of each context.
    time_unit
        ``(C,)`` the time unit :math:`\tau` (median positive lag) of each context.
    """

    pairs: torch.Tensor
    triples: torch.Tensor
    first: torch.Tensor
    n_states: torch.Tensor
    time_unit: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The tensors by name (the network's input)."""
        return {"pairs": self.pairs, "triples": self.triples, "first": self.first, "n_states": self.n_states}


def lag_bins(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Soft assignment of dimensionless lags ``u`` to the bins: lower bin index, upper index and upper weight.

    .. math:: x = \operatorname{clip}\big((\log_2 u + 4)\,(B - 1)/8,\ 0,\ B - 1\big), \quad
              b_- = \lfloor x \rfloor,\ b_+ = \min(b_- + 1, B - 1),\ w_+ = x - b_- .

    A zero lag goes to the first bin.
    """
    logu = torch.log2(u.clamp_min(2.0**-30))
    x = ((logu + 4.0) * (N_LAG_BINS - 1) / 8.0).clamp(0.0, N_LAG_BINS - 1)
    lo = x.floor().long()
    hi = (lo + 1).clamp_max(N_LAG_BINS - 1)
    return lo, hi, (x - lo).to(u.dtype)


def context_statistics(
    states: torch.Tensor,
    times: torch.Tensor,
    lengths: torch.Tensor,
    context: torch.Tensor,
    n_contexts: int,
    n_states: torch.Tensor,
    *,
    n_max: int = MAX_STATES,
) -> ContextStatistics:
    r"""Statistics of ``n_contexts`` contexts from padded paths, all at once.

    Parameters
    ----------
    states
        ``(P, L)`` long states, valid up to each path's length.
    times
        ``(P, L)`` float64 observation times, non-decreasing within each length.
    lengths
        ``(P,)`` observations per path (>= 1).
    context
        ``(P,)`` context index of each path in ``0 .. n_contexts - 1``.
    n_contexts
        Number of contexts.
    n_states
        ``(n_contexts,)`` number of states of each context (<= ``n_max``).
    n_max
        States the tensors are padded to.

    Returns
    -------
    ContextStatistics
        Float32 tensors on the device of ``states``.
    """
    dev = states.device
    n_obs = states.shape[1]
    col = torch.arange(n_obs, device=dev)
    valid = col < lengths[:, None]
    pair = valid[:, 1:]
    dt = (times[:, 1:] - times[:, :-1])
    ctx_pair = context[:, None].expand_as(pair)[pair]
    dt_pair = dt[pair]
    # time unit: the median positive lag of each context (1 when a context has none)
    unit = torch.ones(n_contexts, dtype=torch.float64, device=dev)
    pos = dt_pair > 0
    if bool(pos.any()):
        ctx_pos, dt_pos = ctx_pair[pos], dt_pair[pos]
        by_lag = torch.argsort(dt_pos)
        grouped = by_lag[torch.argsort(ctx_pos[by_lag], stable=True)]  # by context, lags sorted within each
        counts = torch.bincount(ctx_pos, minlength=n_contexts)
        starts = torch.cumsum(counts, 0) - counts
        has = counts > 0
        middle = starts[has] + (counts[has] - 1) // 2  # the lower median, as torch.median
        unit[has] = dt_pos[grouped[middle]]
    u = dt_pair / unit[ctx_pair]
    lo, hi, w_hi = lag_bins(u)
    src, dst = states[:, :-1][pair], states[:, 1:][pair]
    base = ((ctx_pair * n_max + src) * n_max + dst) * N_LAG_BINS
    size = n_contexts * n_max * n_max * N_LAG_BINS
    pairs = torch.zeros(size, dtype=torch.float64, device=dev)
    pairs.index_add_(0, base + lo, (1.0 - w_hi).to(torch.float64))
    pairs.index_add_(0, base + hi, w_hi.to(torch.float64))
    trip = valid[:, 2:]
    a, b, c = states[:, :-2][trip], states[:, 1:-1][trip], states[:, 2:][trip]
    ctx_trip = context[:, None].expand_as(trip)[trip]
    flat = ((ctx_trip * n_max + a) * n_max + b) * n_max + c
    triples = torch.bincount(flat, minlength=n_contexts * n_max**3).to(torch.float32)
    first = torch.bincount(context * n_max + states[:, 0], minlength=n_contexts * n_max).to(torch.float32)
    return ContextStatistics(
        pairs=pairs.view(n_contexts, n_max, n_max, N_LAG_BINS).to(torch.float32),
        triples=triples.view(n_contexts, n_max, n_max, n_max),
        first=first.view(n_contexts, n_max),
        n_states=n_states.to(dev).long(),
        time_unit=unit,
    )
