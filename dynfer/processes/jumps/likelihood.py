r"""Exact log-likelihood of discretely observed Markov jump paths at arbitrary (irregular) times.

Without observation noise, the Markov property factorises the likelihood over consecutive observation pairs
(Kalbfleisch & Lawless 1985, eq. 2.2):

.. math::  \log L(Q) = \sum_{m} \Big[ \log p_0(s^{m}_0) + \sum_{i=0}^{L_m - 2}
           \log \big[e^{Q\,\Delta t^{m}_i}\big]_{s^{m}_i,\, s^{m}_{i+1}} \Big],
           \qquad \Delta t^{m}_i = t^{m}_{i+1} - t^{m}_i .

One matrix exponential is computed per *distinct* :math:`\Delta t` (``torch.unique``), so a regular grid costs a
single ``matrix_exp`` however many paths there are. The result is differentiable in :math:`Q` (and in :math:`p_0`).

References
----------
Kalbfleisch, J. D. & Lawless, J. F. (1985). The analysis of panel data under a Markov assumption.
*J. Am. Stat. Assoc.* 80, 863-871.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_finite
from dynfer.processes.jumps.checks import as_labels, as_rate_tensor, check_distribution, check_rate_matrix, check_states

__all__ = ["jump_log_likelihood", "transition_matrices"]


def transition_matrices(q: torch.Tensor, lags: torch.Tensor) -> torch.Tensor:
    r"""Transition matrices :math:`e^{Q\Delta}` ``(L, n, n)`` for the lags ``(L,)``, accurate for every finite lag.

    ``torch.linalg.matrix_exp`` breaks down for lags far beyond the chain's time scales (all zeros at
    :math:`\lVert Q\Delta\rVert_1 = 10^{20}`, infinities at :math:`10^{300}`). Lags with
    :math:`\lVert Q\Delta\rVert_1 > 2^{10}` are computed as :math:`e^{Q h}` at :math:`h = \Delta / 2^k`,
    :math:`\lVert Q h\rVert_1 \le 1`, squared :math:`k` times, each square renormalised to unit row sums (rounding
    would otherwise grow like :math:`(1 + \varepsilon)^{2^k}`); shorter lags go to ``matrix_exp`` directly.
    Differentiable in ``q``.
    """
    norm = float(torch.linalg.matrix_norm(q.detach(), 1))
    if not math.isfinite(norm):
        raise BadInputError("rates", "a generator with NaN or infinite entries", "finite rates")
    scaled = (norm * lags.detach()).tolist()
    ks = [math.ceil(math.log2(v)) if v > 2.0**10 else 0 for v in scaled]
    steps = torch.tensor([2.0**-k for k in ks], dtype=lags.dtype, device=lags.device)
    trans = torch.linalg.matrix_exp(q * (lags * steps)[:, None, None])
    k_t = torch.tensor(ks, device=lags.device)[:, None, None]
    for j in range(max(ks, default=0)):
        square = (trans @ trans).clamp_min(0.0)
        square = square / square.sum(-1, keepdim=True)  # rounding would otherwise grow like (1 + eps)^(2^k)
        trans = torch.where(k_t > j, square, trans)
    return trans


def _paths_and_times(
    paths: Any, times: Any, lengths: Any, n: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated ``paths`` (P, T) long, ``times`` (P, T) float64 and the observation mask (P, T)."""
    s = as_labels(paths, "paths")
    if s.dtype.is_floating_point or s.dtype == torch.bool or s.dtype.is_complex:
        raise BadInputError(f"paths must hold integer state labels, got dtype {s.dtype}")
    s = s.to(device)
    if s.ndim == 1:
        s = s.unsqueeze(0)
    if s.ndim != 2 or s.shape[1] == 0:
        raise BadInputError(f"paths must have shape (n_paths, T) with T >= 1, got {tuple(s.shape)}")
    n_paths, n_obs = s.shape
    tm = as_tensor(times, "times", dtype=torch.float64, device=device, ndim=(1, 2), finite=False)
    if tm.ndim == 1:
        if tm.shape[0] != n_obs:
            raise BadInputError(
                f"shared times must have shape ({n_obs},) to match paths {tuple(s.shape)}, got {tuple(tm.shape)}"
            )
        tm = tm.expand(n_paths, n_obs)
    elif tm.shape != s.shape:
        raise BadInputError(f"per-path times must have the shape of paths {tuple(s.shape)}, got {tuple(tm.shape)}")
    if lengths is None:
        valid = torch.ones_like(s, dtype=torch.bool)
    else:
        ln = as_labels(lengths, "lengths", device)
        if ln.dtype.is_floating_point or ln.shape != (n_paths,):
            raise BadInputError(f"lengths must be integers of shape ({n_paths},), got {ln.dtype} {tuple(ln.shape)}")
        if bool(((ln < 0) | (ln > n_obs)).any()):
            raise BadInputError(f"lengths must lie in 0..{n_obs}, got min {int(ln.min())}, max {int(ln.max())}")
        valid = torch.arange(n_obs, device=device) < ln.unsqueeze(-1)
    check_states(s, n, "paths", mask=valid)
    check_finite(tm[valid], "times")
    pair = valid[:, 1:]
    if bool((torch.diff(tm, dim=1)[pair] < 0).any()):
        raise BadInputError("times must be non-decreasing along each path (within its length)")
    return s.long(), tm, valid


def jump_log_likelihood(
    rates: Any,
    paths: Any,
    times: Any,
    *,
    initial: Any = None,
    lengths: Any = None,
    per_path: bool = False,
    validate: bool = True,
) -> torch.Tensor:
    r"""Log-likelihood of discretely observed jump paths under the generator ``rates``.

    Computes :math:`\sum_m [\log p_0(s^m_0) + \sum_i \log [e^{Q\Delta t^m_i}]_{s^m_i s^m_{i+1}}]`
    (Kalbfleisch & Lawless 1985), with one ``matrix_exp`` per distinct :math:`\Delta t`.

    Parameters
    ----------
    rates
        Generator ``(n, n)``; a tensor keeps its autograd graph, so the result can be differentiated in it.
    paths
        Integer states ``(n_paths, T)`` (or one path ``(T,)``).
    times
        Observation times, shared ``(T,)`` or per path ``(n_paths, T)``, non-decreasing along each path.
    initial
        Probability vector ``(n,)`` of the first state; ``None`` leaves the initial term out (likelihood conditional
        on the first observations).
    lengths
        Valid observations per path ``(n_paths,)``; entries past a path's length (states and times) are ignored.
    per_path
        Return the ``(n_paths,)`` per-path log-likelihoods instead of their sum.
    validate
        Check ``rates`` is a valid generator (turn off inside optimisers that guarantee it).

    Returns
    -------
    torch.Tensor
        0-d (or ``(n_paths,)``) log-likelihood in the dtype of ``rates``; ``-inf`` for impossible observations.
    """
    Q = as_rate_tensor(rates, "rates")
    if validate:
        check_rate_matrix(Q, "rates")
    n, dev = Q.shape[-1], Q.device
    s, tm, valid = _paths_and_times(paths, times, lengths, n, dev)
    n_paths = s.shape[0]
    pair = valid[:, 1:]
    rows = torch.nonzero(pair)[:, 0]
    dt = torch.diff(tm, dim=1)[pair]
    src, dst = s[:, :-1][pair], s[:, 1:][pair]
    q64 = Q.to(torch.float64)
    total = torch.zeros(n_paths, dtype=torch.float64, device=dev)
    if dt.numel() > 0:
        unique_dt, inverse = torch.unique(dt, return_inverse=True)
        trans = transition_matrices(q64, unique_dt)  # one exponential per distinct lag
        logp = torch.log(trans[inverse, src, dst].clamp_min(0.0))
        total = total.index_add(0, rows, logp)
    if initial is not None:
        p0 = check_distribution(initial, n, "initial", device=dev, dtype=torch.float64).to(torch.float64)
        if p0.ndim != 1:
            raise BadInputError(f"initial must be one probability vector ({n},), got shape {tuple(p0.shape)}")
        has_first = valid[:, 0]
        total = total + torch.where(has_first, torch.log(p0[s[:, 0].clamp(0, n - 1)]), 0.0)
    out = total if per_path else total.sum()
    return out.to(Q.dtype)
