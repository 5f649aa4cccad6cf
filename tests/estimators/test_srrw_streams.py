"""Counter-based streams: bit-exact SplitMix64 (checked against pure-Python integers), uniformity, independence."""

from __future__ import annotations

import numpy as np
import torch

from dynfer.estimators.srrw.streams import stream_keys, uniforms

MASK = (1 << 64) - 1


def splitmix64_mix(z: int) -> int:
    """The SplitMix64 finaliser on unsigned 64-bit Python integers (Steele, Lea, Flood 2014)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def test_bits_match_pure_python_splitmix64():
    seed, golden = 12345, 0x9E3779B97F4A7C15
    keys = stream_keys(seed, torch.arange(3))
    u = uniforms(keys, 4, 3)
    for r in range(3):
        key = splitmix64_mix((r * golden + seed * 0x2545F4914F6CDD1D) & MASK)
        assert (int(keys[r]) & MASK) == key
        for j in range(3):
            z = splitmix64_mix((key + (4 + j + 1) * golden) & MASK)
            assert float(u[j, r]) == (z >> 11) * 2.0**-53


def test_uniform_and_independent():
    """Mean, variance and lag-1 correlations within 4 standard errors (n = 400 x 500 draws)."""
    u = uniforms(stream_keys(0, torch.arange(500)), 0, 400).numpy()
    n = u.size
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 4 * np.sqrt(1 / 180 / n)  # var of (U - 1/2)^2 is 1/80 - 1/144 = 1/180
    c = u - 0.5
    for a, b in ((c[1:], c[:-1]), (c[:, 1:], c[:, :-1])):  # consecutive steps, neighbouring runs
        rho = (a * b).mean() * 12
        assert abs(rho) < 4 / np.sqrt(a.size)


def test_streams_do_not_depend_on_the_batch():
    keys = stream_keys(9, torch.arange(10))
    full = uniforms(keys, 0, 50)
    assert torch.equal(uniforms(keys[3:5], 20, 7), full[20:27, 3:5])
    assert torch.equal(stream_keys(9, torch.tensor([4, 7])), keys[[4, 7]])
    assert not torch.equal(stream_keys(10, torch.arange(10)), keys)
