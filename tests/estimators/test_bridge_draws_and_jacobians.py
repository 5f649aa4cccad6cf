"""Inverse-CDF row draws, closed-form reference Jacobians, and the initial fit's subsample."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from dynfer import BadInputError
from dynfer.estimators.bridges.coupling import _drift_and_jacobian
from dynfer.estimators.bridges.draws import draw_rows
from dynfer.estimators.bridges.initialisation import initialise_reference
from dynfer.estimators.bridges.references import make_reference

F64 = torch.float64


def test_draw_rows_follows_each_row_and_never_draws_a_zero_weight():
    weights = torch.tensor([[0.0, 1.0, 3.0, 0.0, 6.0], [5.0, 0.0, 0.0, 5.0, 0.0]], dtype=F64)
    n = 20_000
    gen = torch.Generator().manual_seed(0)
    draws = draw_rows(weights.repeat(n, 1), gen).reshape(n, 2)
    for r in range(2):
        counts = np.bincount(draws[:, r].numpy(), minlength=5)
        support = weights[r].numpy() > 0
        assert counts[~support].sum() == 0
        expected = n * weights[r].numpy()[support] / weights[r].sum().item()
        # a chi-square goodness-of-fit test at level 1e-4 (fails with that probability under the right law)
        assert stats.chisquare(counts[support], expected).pvalue > 1e-4


def test_draw_rows_is_seeded_and_unnormalised_rows_are_fine():
    w = torch.rand(50, 7, generator=torch.Generator().manual_seed(1), dtype=F64) * 1e-200
    one = draw_rows(w, torch.Generator().manual_seed(3))
    two = draw_rows(w, torch.Generator().manual_seed(3))
    assert torch.equal(one, two) and int(one.min()) >= 0 and int(one.max()) <= 6


@pytest.mark.parametrize(("family", "kwargs"), [
    ("lotka_volterra", {"alpha": 1.1, "beta": 0.4, "gamma": 0.9, "delta": 0.3}),
    ("linear", {"A": [[-1.0, 0.5], [0.2, -0.3]], "b": [0.1, -0.2]}),
])
def test_closed_form_jacobians_equal_autograd(family, kwargs):
    ref = make_reference(family, 2, **kwargs).double()
    x = 3 * torch.rand(40, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    fx, jac = _drift_and_jacobian(ref, x)
    assert ref.drift_jacobian(x) is not None
    ref.drift_jacobian = lambda x: None  # force the autograd route on the same drift
    fx_auto, jac_auto = _drift_and_jacobian(ref, x)
    torch.testing.assert_close(jac, jac_auto, rtol=0, atol=1e-14)
    torch.testing.assert_close(fx, fx_auto, rtol=0, atol=0)


def _lv_snapshots(n: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 2, generator=gen, dtype=F64) + 1 + 0.5 * k for k in range(3)]


def test_initial_fit_uses_at_most_max_cells_per_snapshot(monkeypatch):
    import dynfer.estimators.bridges.initialisation as init

    seen = []
    original = init.displacement_init

    def spy(reference, snapshots, times):
        seen.append([int(torch.as_tensor(x).shape[0]) for x in snapshots])
        return original(reference, snapshots, times)

    monkeypatch.setattr(init, "displacement_init", spy)
    ref = make_reference("linear", 2).double()
    initialise_reference(ref, _lv_snapshots(300), [0.0, 1.0, 2.0], method="displacement", max_cells=120)
    initialise_reference(ref, _lv_snapshots(100), [0.0, 1.0, 2.0], method="displacement", max_cells=120)
    initialise_reference(ref, _lv_snapshots(300), [0.0, 1.0, 2.0], method="displacement", max_cells=None)
    assert seen == [[120] * 3, [100] * 3, [300] * 3]


def test_initial_fit_subsample_is_seeded_and_max_cells_is_checked():
    fits = []
    for _ in range(2):
        ref = make_reference("linear", 2).double()
        fits.append(initialise_reference(ref, _lv_snapshots(300), [0.0, 1.0, 2.0], method="displacement",
                                         max_cells=50, seed=4).theta)
    for k in fits[0]:
        np.testing.assert_array_equal(fits[0][k], fits[1][k])
    for bad in (1, 0, 2.5, True, "all"):
        with pytest.raises(BadInputError, match="max_cells"):
            initialise_reference(make_reference("linear", 2).double(), _lv_snapshots(10), [0.0, 1.0, 2.0],
                                 method="displacement", max_cells=bad)
