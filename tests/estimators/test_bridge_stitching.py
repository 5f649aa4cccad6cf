"""Multi-marginal stitching: chained interval couplings filled with bridges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from dynfer.estimators.bridges.coupling import couple
from dynfer.estimators.bridges.stitching import stitch
from dynfer.processes import wasserstein

F64 = torch.float64


def snapshots(sizes=(30, 40, 35, 30), d=2, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=gen, dtype=dtype) * (1 + 0.2 * k) + k for k, n in enumerate(sizes)]


def linear(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * z + 0.3


def test_shapes_grid_knots_and_anchor_all(device):
    snaps = [s.to(device) for s in snapshots()]
    times = [0.0, 0.5, 1.5, 2.0]
    out = stitch(snaps, times, None, 0.5, steps_per_unit=8)
    paths, grid = out[:2]
    steps = [4, 8, 4]
    assert paths.shape == (sum(steps) + 1, 135, 2) and grid.shape == (sum(steps) + 1,)
    assert paths.device.type == device.type and grid.device.type == device.type and paths.dtype == torch.float32
    assert out.knots.tolist() == [0, 4, 12, 16]
    torch.testing.assert_close(grid[out.knots].cpu(), torch.tensor(times), rtol=0, atol=0)
    assert bool((torch.diff(grid) > 0).all())
    assert [tuple(p.shape) for p in out.plans] == [(30, 40), (40, 35), (35, 30)]
    # anchor "all": each snapshot's particles start one path each, in order, and sit exactly at their knot
    for k, s in enumerate(snaps):
        sel = out.anchors == k
        assert int(sel.sum()) == s.shape[0]
        assert torch.equal(paths[out.knots[k]][sel], s)
    # every knot value of every path is a particle of that snapshot
    for k, s in enumerate(snaps):
        hit = (paths[out.knots[k]][:, None, :] == s[None, :, :]).all(-1).any(-1)
        assert bool(hit.all())


def test_single_anchor_paths_pass_through_the_snapshots():
    """anchor=k: exact snapshot at t_k; elsewhere a draw of N particles from the uniform snapshot law.

    The stitched particles at t_j are independent draws, path by path, from the conditionals of the plan, whose
    average over the distinct starting particles is the uniform law on snapshot j. The count of each particle is then
    a sum of independent Bernoullis with the multinomial's means, whose variance is at most the multinomial's, so the
    W2 to the snapshot is at most that of a bootstrap resample in distribution; we allow 1.5x the largest of 20
    bootstrap values.
    """
    snaps = snapshots(sizes=(60, 60, 60), seed=1, dtype=F64)
    out = stitch(snaps, [0.0, 1.0, 2.0], None, 0.7, n_steps=3, anchor=1, seed=3)
    assert out.paths.shape == (7, 60, 2)
    assert torch.equal(out.paths[3], snaps[1])
    gen = torch.Generator().manual_seed(0)
    for k in (0, 2):
        boot = [float(wasserstein(snaps[k], snaps[k][torch.randint(60, (60,), generator=gen)])) for _ in range(20)]
        w = float(wasserstein(out.paths[out.knots[k]], snaps[k]))
        assert w <= 1.5 * max(boot), (k, w, boot)


def test_knot_frequencies_are_uniform_with_many_paths():
    """Many paths from t_0: every particle at every later knot is visited with frequency 1/n_k (binomial SE)."""
    snaps = snapshots(sizes=(20, 25, 30), seed=2, dtype=F64)
    n_paths = 6000
    out = stitch(snaps, [0.0, 1.0, 2.0], linear, 0.6, n_steps=2, anchor=0, n_paths=n_paths, exact="linear", seed=1)
    for k in (1, 2):
        pts = out.paths[out.knots[k]]
        which = torch.cdist(pts, snaps[k]).argmin(1)
        freq = torch.bincount(which, minlength=snaps[k].shape[0]).double() / n_paths
        p = 1 / snaps[k].shape[0]
        z = (freq - p).abs() / math.sqrt(p * (1 - p) / n_paths)
        assert float(z.max()) < 4.5
    # n_paths = 300 * n_0: each start particle exactly 300 times
    counts = torch.bincount(torch.cdist(out.paths[0], snaps[0]).argmin(1))
    assert counts.tolist() == [300] * 20


def test_knot_pairs_have_the_gaussian_sb_cross_covariance():
    """Brownian reference, 1-D Gaussian snapshots: sampled (X_0, X_1) pairs carry the closed-form SB cross-covariance
    c = (sqrt(4 s0^2 s1^2 + (sigma^2 dt)^2) - sigma^2 dt) / 2 (see test_bridge_coupling)."""
    n, sigma = 300, 1.0
    u = (np.arange(n) + 0.5) / n
    x0 = torch.tensor(norm.ppf(u), dtype=F64)[:, None]
    x1 = torch.tensor(2 + 1.5 * norm.ppf(u), dtype=F64)[:, None]
    out = stitch([x0, x1], [0.0, 0.5], None, sigma, n_steps=2, anchor=0, n_paths=40 * n, seed=0)
    a, b = out.paths[0, :, 0], out.paths[-1, :, 0]
    s0, s1 = float(x0.var(unbiased=False)), float(x1.var(unbiased=False))
    s2 = sigma**2 * 0.5
    c = (math.sqrt(4 * s0 * s1 + s2**2) - s2) / 2
    emp = float(((a - a.mean()) * (b - b.mean())).mean())
    se = math.sqrt((s0 * s1 + c**2) / (40 * n))  # SE of a Gaussian sample cross-covariance
    assert abs(emp - c) < 4 * se
    # and the midpoints are Brownian-bridge points: E[X_mid | ends] = (X_0 + X_1)/2
    resid = out.paths[1, :, 0] - 0.5 * (a + b)
    assert abs(float(resid.mean())) < 4 * math.sqrt(sigma**2 * 0.25 * 0.25 / 0.5 / (40 * n))


def test_plans_are_the_interval_couplings():
    snaps = snapshots(seed=4, dtype=F64)
    times = [0.0, 1.0, 2.0, 3.5]
    out = stitch(snaps, times, linear, 0.5, n_steps=2, exact="linear")
    for k in range(3):
        ref = couple(snaps[k], snaps[k + 1], times[k + 1] - times[k], linear, 0.5, exact="linear")
        torch.testing.assert_close(out.plans[k], ref)


def test_nonlinear_reference_runs_and_pins():
    def lv(x):
        return torch.stack([x[:, 0] - 0.4 * x[:, 0] * x[:, 1], 0.1 * x[:, 0] * x[:, 1] - 0.4 * x[:, 1]], 1)

    gen = torch.Generator().manual_seed(5)
    snaps = [3 + torch.rand(25, 2, generator=gen) * 2 for _ in range(3)]
    out = stitch(snaps, [0.0, 0.5, 1.0], lv, 0.2, n_steps=5, seed=2)
    assert bool(torch.isfinite(out.paths).all())
    for k, s in enumerate(snaps):
        assert torch.equal(out.paths[out.knots[k]][out.anchors == k], s)


def test_seeded_reproducibility():
    snaps = snapshots(seed=6)
    a = stitch(snaps, [0, 1, 2, 3], linear, 0.5, n_steps=3, seed=11)
    b = stitch(snaps, [0, 1, 2, 3], linear, 0.5, n_steps=3, seed=11)
    c = stitch(snaps, [0, 1, 2, 3], linear, 0.5, n_steps=3, seed=12)
    assert torch.equal(a.paths, b.paths) and torch.equal(a.grid, b.grid)
    assert not torch.equal(a.paths, c.paths)


def test_array_input_and_per_interval_steps():
    arr = torch.stack(snapshots(sizes=(20, 20, 20)))
    out = stitch(arr, torch.tensor([0.0, 1.0, 3.0]), None, 0.3, n_steps=[2, 5])
    assert out.paths.shape == (8, 60, 2) and out.knots.tolist() == [0, 2, 7]
    out = stitch(arr.numpy(), np.array([0.0, 1.0, 3.0]), None, 0.3, n_steps=1, anchor=-1)
    assert out.paths.shape == (3, 20, 2) and bool((out.anchors == 2).all())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"snapshots": [torch.zeros(5, 2)], "times": [0.0]}, "at least two"),
        ({"times": [0.0, 2.0, 1.0, 3.0]}, "increasing"),
        ({"times": [0.0, 1.0, 2.0]}, "entries"),
        ({"snapshots": [torch.zeros(5, 2), torch.zeros(5, 3)], "times": [0.0, 1.0]}, "dimension"),
        ({"snapshots": [torch.zeros(5, 2), torch.full((5, 2), math.nan)], "times": [0.0, 1.0]}, "NaN"),
        ({"n_steps": 2, "steps_per_unit": 3.0}, "not both"),
        ({"n_steps": [1, 2]}, "n_steps"),
        ({"anchor": 7}, "anchor"),
        ({"n_paths": 0}, "n_paths"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"snapshots": snapshots(), "times": [0.0, 1.0, 2.0, 3.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        stitch(args.pop("snapshots"), args.pop("times"), None, 0.5, **args)
