"""Mini-batch couplings in the stitching P-step: marginals, the dense limit, seeding, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from dynfer import BadInputError
from dynfer.estimators.bridges.coupling import couple
from dynfer.estimators.bridges.minibatch import BlockPlan, block_couple, default_batch_size
from dynfer.estimators.bridges.stitching import stitch

F64 = torch.float64
TOL = 1e-9  # Sinkhorn tolerance passed below: Euclidean norm of a block's marginal violation


def snapshots(sizes=(60, 45, 60), d=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=gen, dtype=F64) * (1 + 0.2 * k) + k for k, n in enumerate(sizes)]


def linear(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * z + 0.3


def _plans(snaps, batch_size, seed=0, **kw):
    return stitch(snaps, list(range(len(snaps))), linear, 0.5, n_steps=2, exact="linear", batch_size=batch_size,
                  seed=seed, tol=TOL, **kw).plans


def test_block_marginals_are_the_batch_shares():
    snaps = snapshots()
    for plan, (n, m) in zip(_plans(snaps, 16), [(60, 45), (45, 60)], strict=True):
        assert isinstance(plan, BlockPlan) and plan.shape == (n, m)
        B = math.ceil(max(n, m) / 16)
        assert plan.n_blocks == B and plan.nnz == sum(r.numel() * c.numel() for r, c in zip(plan.rows, plan.cols,
                                                                                             strict=True))
        # the blocks partition both sides, with near-equal sizes
        assert torch.equal(torch.sort(torch.cat(plan.rows)).values, torch.arange(n))
        assert torch.equal(torch.sort(torch.cat(plan.cols)).values, torch.arange(m))
        assert {r.numel() for r in plan.rows} <= {n // B, -(-n // B)}
        # rows sum to 1/n; the columns of block b to (n_b / n) / m_b (module docstring); each block's violation
        # is below TOL in Euclidean norm, scaled by the batch share n_b / n <= 1
        torch.testing.assert_close(plan.row_sums(), torch.full((n,), 1 / n, dtype=F64), rtol=0, atol=TOL)
        expected = torch.empty(m, dtype=F64)
        for r, c in zip(plan.rows, plan.cols, strict=True):
            expected[c] = r.numel() / n / c.numel()
        torch.testing.assert_close(plan.col_sums(), expected, rtol=0, atol=TOL)
        assert abs(float(plan.to_dense().sum()) - 1) < math.sqrt(B) * TOL * math.sqrt(max(n, m))
        # sparse and dense views agree; nothing outside the blocks
        dense = plan.to_dense()
        torch.testing.assert_close(plan.to_sparse().to_dense(), dense, rtol=0, atol=0)
        assert int((dense > 0).sum()) == plan.nnz


def test_equal_sizes_give_uniform_column_marginals():
    snaps = snapshots(sizes=(50, 50, 50))
    for plan in _plans(snaps, 12):
        torch.testing.assert_close(plan.col_sums(), torch.full((50,), 1 / 50, dtype=F64), rtol=0, atol=TOL)


def test_blocks_are_the_dense_couplings_of_the_batches():
    snaps = snapshots()
    plan = _plans(snaps, 20)[0]
    for r, c, blk in zip(plan.rows, plan.cols, plan.blocks, strict=True):
        ref = couple(snaps[0][r], snaps[1][c], 1.0, linear, 0.5, exact="linear", tol=TOL)
        torch.testing.assert_close(blk, ref * (r.numel() / 60), rtol=0, atol=0)


def test_batch_size_at_least_n_is_the_dense_plan_exactly():
    snaps = snapshots()
    dense = stitch(snaps, [0, 1, 2], linear, 0.5, n_steps=3, seed=3)
    for bs in (60, 61, 10_000):
        mb = stitch(snaps, [0, 1, 2], linear, 0.5, n_steps=3, seed=3, batch_size=bs)
        for p, q in zip(mb.plans, dense.plans, strict=True):
            assert p.n_blocks == 1 and torch.equal(p.to_dense(), q)
        assert torch.equal(mb.paths, dense.paths) and torch.equal(mb.anchors, dense.anchors)


def test_paths_stay_in_their_blocks_and_pass_through_the_snapshots():
    snaps = snapshots()
    out = stitch(snaps, [0, 1, 2], None, 0.5, n_steps=2, batch_size=10, n_paths=300, seed=1)
    for k, s in enumerate(snaps):
        assert torch.equal(out.paths[out.knots[k]][out.anchors == k][:s.shape[0]], s)
    # recover the particle indices at each knot and check each consecutive pair lies in one block
    for k, plan in enumerate(out.plans):
        i = torch.cdist(out.paths[out.knots[k]], snaps[k]).argmin(1)
        j = torch.cdist(out.paths[out.knots[k + 1]], snaps[k + 1]).argmin(1)
        dense = plan.to_dense()
        assert bool((dense[i, j] > 0).all())


def test_seeded_reproducibility():
    snaps = snapshots()
    a = stitch(snaps, [0, 1, 2], linear, 0.5, n_steps=2, batch_size=16, seed=5)
    b = stitch(snaps, [0, 1, 2], linear, 0.5, n_steps=2, batch_size=16, seed=5)
    c = stitch(snaps, [0, 1, 2], linear, 0.5, n_steps=2, batch_size=16, seed=6)
    assert torch.equal(a.paths, b.paths)
    assert all(torch.equal(p, q) for pa, pb in zip(a.plans, b.plans, strict=True)
               for p, q in zip(pa.rows, pb.rows, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.plans[0].rows, c.plans[0].rows, strict=True))


def test_knot_frequencies_are_uniform_with_equal_sizes():
    # forward chains from uniform starts land uniformly on the next snapshot when n_b / m_b = n / m
    snaps = snapshots(sizes=(40, 40))
    n_paths = 40 * 500
    out = stitch(snaps, [0.0, 1.0], None, 0.8, n_steps=1, anchor=0, n_paths=n_paths, batch_size=10, seed=2)
    j = torch.cdist(out.paths[-1], snaps[1]).argmin(1)
    counts = torch.bincount(j, minlength=40).double()
    # multinomial counts: mean n_paths / 40, sd sqrt(n_paths / 40 * (1 - 1/40)); chi-square with 39 dof
    chi2 = float(((counts - n_paths / 40) ** 2 / (n_paths / 40)).sum())
    assert chi2 < 39 + 6 * math.sqrt(2 * 39)


def test_one_batch_when_a_side_is_smaller_than_the_batch_count():
    x0 = torch.randn(3, 2, dtype=F64)
    x1 = torch.randn(50, 2, dtype=F64)
    plan = block_couple(x0, x1, lambda a, b: couple(a, b, 1.0, None, 1.0, tol=TOL), 10, torch.Generator())
    assert plan.n_blocks == 3 and all(r.numel() == 1 for r in plan.rows)


def test_default_batch_size_rule():
    assert default_batch_size(1) is None and default_batch_size(2000) is None
    assert default_batch_size(2001) == 1000 and default_batch_size(50_000) == 1000
    with pytest.raises(BadInputError, match="n_cells"):
        default_batch_size(0)


@pytest.mark.parametrize("bad", [0, 1, -5, 2.5, "100", True])
def test_bad_batch_size_names_it(bad):
    with pytest.raises(BadInputError, match="batch_size"):
        stitch(snapshots(), [0, 1, 2], None, 0.5, batch_size=bad)


def test_rtol_reaches_every_block():
    snaps = snapshots()
    for plan in stitch(snaps, [0, 1, 2], None, 0.5, n_steps=1, batch_size=16, tol=1e-300, rtol=1e-3).plans:
        # each block's marginal L1 error is below 1e-3 of its mass; scaled by n_b / n they add up to <= 1e-3
        n = plan.shape[0]
        assert float((plan.row_sums() - 1 / n).abs().sum()) <= 1e-3
