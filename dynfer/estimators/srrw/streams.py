r"""Counter-based random streams: token :math:`t`'s uniform at step :math:`n` is a fixed function of (seed, t, n).

Each token carries its own stream (its key and the step counter), so a token produces the same draws whichever
batch or process it is simulated in: many runs in one batch equal the same runs one at a time, and a token handed
from one process to another needs no generator state beyond its key. The mixing function is SplitMix64
(Steele, Lea, Flood 2014), evaluated in wrapping int64 arithmetic on any torch device; the top 53 bits give a
float64 uniform in :math:`[0, 1)`.

References
----------
- G. L. Steele, D. Lea, C. H. Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014.
"""

from __future__ import annotations

import torch

__all__ = ["stream_keys", "uniforms"]

_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64
_M1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_M2 = -7723592293110705685  # 0x94D049BB133111EB
_SEED_MULT = 0x2545F4914F6CDD1D


def _shift_right(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finaliser, in place on a fresh ``z`` (int64, wrapping): ``z ^= z >>> 30; z *= M1; ...``."""
    t = torch.empty_like(z)
    for shift, mult in ((30, _M1), (27, _M2), (31, None)):
        torch.bitwise_right_shift(z, shift, out=t).bitwise_and_((1 << (64 - shift)) - 1)  # logical shift
        z.bitwise_xor_(t)
        if mult is not None:
            z.mul_(mult)
    return z


def stream_keys(seed: int, runs: torch.Tensor) -> torch.Tensor:
    """Keys ``(R,)`` int64 of the streams of runs ``runs`` (indices ``0, 1, ...``) for an integer ``seed``."""
    base = (int(seed) * _SEED_MULT) % (1 << 64)
    base = base - (1 << 64) if base >= 1 << 63 else base
    return _mix(runs.to(torch.int64) * _GOLDEN + base)  # the product is a fresh tensor: safe to mix in place


def uniforms(keys: torch.Tensor, first: int, count: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Uniforms ``(count, R)`` in ``[0, 1)`` of the streams ``keys`` ``(R,)`` at counters ``first .. first+count-1``."""
    n = torch.arange(first + 1, first + count + 1, dtype=torch.int64, device=keys.device)
    z = _mix(keys[None, :] + (n * _GOLDEN)[:, None])
    return (_shift_right(z, 11).to(torch.float64) * 2.0**-53).to(dtype)
