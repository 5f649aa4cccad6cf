r"""Brownian bridges: Brownian motion with diffusion :math:`\sigma` pinned at both ends.

For :math:`dX = \sigma\,dW` conditioned on :math:`X_{t_0} = a` and :math:`X_{t_1} = b`,

.. math::  X_t \sim \mathcal N\Big(a + \tfrac{t - t_0}{t_1 - t_0}(b - a),\;
           \sigma^2 \tfrac{(t - t_0)(t_1 - t)}{t_1 - t_0}\Big)

coordinate-wise, and the bridge is Markov: from :math:`(s, x_s)` the next point at :math:`t` is drawn from the bridge
of :math:`(s, x_s)` to :math:`(t_1, b)` (Karatzas & Shreve 1991, sec. 5.6.B).
"""

from __future__ import annotations

import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_times, make_generator

__all__ = ["brownian_bridge", "brownian_bridge_moments"]


def _prepare(x_start, x_end, times, sigma):
    a = as_tensor(x_start, "x_start", ndim=2)
    b = as_tensor(x_end, "x_end", ndim=2, device=a.device, dtype=a.dtype)
    if a.shape != b.shape:
        raise BadInputError(f"x_start and x_end must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    t = as_tensor(times, "times", ndim=1, device=a.device, dtype=a.dtype)
    if len(t) < 2:
        raise BadInputError("times must hold at least the two end times")
    check_times(t, "times")
    s = as_tensor(sigma, "sigma", ndim=(0, 1), device=a.device, dtype=a.dtype)
    if s.ndim == 1 and s.shape[0] != a.shape[1]:
        raise BadInputError(f"sigma must be a number or have length d={a.shape[1]}, got length {s.shape[0]}")
    if bool((s <= 0).any()):
        raise BadInputError("sigma must be positive")
    return a, b, t, s


def brownian_bridge_moments(
    x_start: torch.Tensor, x_end: torch.Tensor, times: torch.Tensor, *, sigma: float | torch.Tensor = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Marginal mean ``(T, n, d)`` and variance ``(T, 1, d)`` of the Brownian bridge at ``times``.

    Mean :math:`a + \frac{t - t_0}{t_1 - t_0}(b - a)`, variance :math:`\sigma^2 (t - t_0)(t_1 - t)/(t_1 - t_0)`, with
    :math:`t_0, t_1` the first and last entries of ``times``.
    """
    a, b, t, s = _prepare(x_start, x_end, times, sigma)
    t0, t1 = t[0], t[-1]
    frac = ((t - t0) / (t1 - t0))[:, None, None]
    mean = a + frac * (b - a)
    var = (s * s) * ((t - t0) * (t1 - t) / (t1 - t0))[:, None, None]
    return mean, torch.broadcast_to(var, (len(t), 1, a.shape[1]))


def brownian_bridge(
    x_start: torch.Tensor,
    x_end: torch.Tensor,
    times: torch.Tensor,
    *,
    sigma: float | torch.Tensor = 1.0,
    seed: int | torch.Generator | None = None,
) -> torch.Tensor:
    r"""Sample Brownian-bridge paths from ``x_start`` at ``times[0]`` to ``x_end`` at ``times[-1]``.

    Sequential exact sampling: from :math:`(s, x_s)`, the point at :math:`t` is
    :math:`x_s + \frac{t - s}{t_1 - s}(b - x_s) + \sigma\sqrt{\frac{(t - s)(t_1 - t)}{t_1 - s}}\,\xi`,
    :math:`\xi \sim \mathcal N(0, I)`.

    Parameters
    ----------
    x_start, x_end
        End points ``(n, d)``: path ``i`` goes from ``x_start[i]`` to ``x_end[i]``.
    times
        Increasing times ``(T,)``, ``T >= 2``; the first and last are the pinned times.
    sigma
        Diffusion coefficient, a number or a ``(d,)`` vector (for :math:`dX = \sigma\,dW`).
    seed
        Seed or generator.

    Returns
    -------
    torch.Tensor
        Paths ``(T, n, d)`` with ``paths[0] == x_start`` and ``paths[-1] == x_end``.
    """
    a, b, t, s = _prepare(x_start, x_end, times, sigma)
    gen = make_generator(seed, a.device)
    out = torch.empty((len(t), *a.shape), dtype=a.dtype, device=a.device)
    out[0] = a
    out[-1] = b
    x = a
    t1 = t[-1]
    for k in range(1, len(t) - 1):
        gap, rest = t[k] - t[k - 1], t1 - t[k - 1]
        std = s * torch.sqrt(gap * (t1 - t[k]) / rest)
        noise = torch.randn(a.shape, generator=gen, dtype=a.dtype, device=a.device)
        x = x + (gap / rest) * (b - x) + std * noise
        out[k] = x
    return out
