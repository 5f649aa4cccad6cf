"""Property-based fuzzing of ``stitch(..., batch_size=...)``: any valid batch size gives a coupling with the
documented marginals and paths through the snapshots; anything else is a :class:`dynfer.BadInputError` naming
``batch_size``."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynfer import BadInputError
from dynfer.estimators.bridges.minibatch import BlockPlan
from dynfer.estimators.bridges.stitching import stitch

TOL = 1e-9

valid = st.one_of(st.none(), st.integers(min_value=2, max_value=80))
invalid = st.one_of(st.integers(max_value=1), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(),
                    st.just([10]))


def _check(sizes, batch_size, seed):
    gen = torch.Generator().manual_seed(seed)
    snaps = [torch.randn(n, 2, generator=gen, dtype=torch.float64) + k for k, n in enumerate(sizes)]
    out = stitch(snaps, list(range(len(sizes))), None, 0.7, n_steps=1, batch_size=batch_size, seed=seed, tol=TOL)
    for k, (plan, s) in enumerate(zip(out.plans, snaps, strict=False)):
        n, m = sizes[k], sizes[k + 1]
        if batch_size is None:
            assert isinstance(plan, torch.Tensor)
            continue
        assert isinstance(plan, BlockPlan) and plan.shape == (n, m)
        assert plan.n_blocks == min(math.ceil(max(n, m) / batch_size), n, m)
        torch.testing.assert_close(plan.row_sums(), torch.full((n,), 1 / n, dtype=torch.float64), rtol=0, atol=TOL)
        expected = torch.empty(m, dtype=torch.float64)
        for r, c in zip(plan.rows, plan.cols, strict=True):
            expected[c] = r.numel() / n / c.numel()
        torch.testing.assert_close(plan.col_sums(), expected, rtol=0, atol=TOL)
        assert torch.equal(out.paths[out.knots[k]][out.anchors == k], s)
    assert bool(torch.isfinite(out.paths).all())


def _check_invalid(bad):
    snaps = [torch.zeros(4, 2), torch.ones(5, 2)]
    with pytest.raises(BadInputError, match="batch_size"):
        stitch(snaps, [0.0, 1.0], None, 0.5, batch_size=bad)


sizes = st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=4)


@given(sizes=sizes, batch_size=valid, seed=st.integers(0, 2**16))
@settings(max_examples=15, deadline=None, derandomize=True)
def test_valid_batch_sizes_give_the_documented_marginals(sizes, batch_size, seed):
    _check(sizes, batch_size, seed)


@pytest.mark.slow
@given(sizes=sizes, batch_size=valid, seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_valid_batch_sizes_give_the_documented_marginals_slow(sizes, batch_size, seed):
    _check(sizes, batch_size, seed)


@given(bad=invalid)
@settings(max_examples=20, deadline=None, derandomize=True)
def test_invalid_batch_sizes_name_the_argument(bad):
    _check_invalid(bad)


@pytest.mark.slow
@given(bad=invalid)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_invalid_batch_sizes_name_the_argument_slow(bad):
    _check_invalid(bad)
