"""The iterative linear methods stop at the MOC root (tol), whatever the mesh; the cap warns once.

TDC's theta step is O(dt) times TD's (see dynfer.estimators.policy.gtd), so on a fine mesh a fixed number of epochs
left it short (theta_2 = 0.923 against LSTD's 0.998 at dt = 0.002 with 10,000 epochs); the full-batch constant-step
iteration now runs in blocks of 2^m epochs until the relative residual ||sum_k xi_k delta_k|| / ||sum_k xi_k c_k||
is below tol. The LSTD root is computed by the closed form, independently of the iteration.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData
from dynfer.estimators.policy.doubling import doubled_iteration
from dynfer.estimators.policy.estimator import PolicyConvergenceWarning

N_PATHS, N_STEPS = 200, 500  # dt = 0.002, the mesh where the fixed 10,000 epochs stopped short


def bm_family(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x**2, (1.0 - t)[:, None]], dim=1)


@pytest.fixture(scope="module")
def fine_bm() -> PolicyData:
    dt = 1.0 / N_STEPS
    rng = np.random.default_rng(5)
    x = np.concatenate([np.zeros((N_PATHS, 1)), np.cumsum(rng.normal(0, np.sqrt(dt), (N_PATHS, N_STEPS)), 1)], 1)
    t = np.tile(np.arange(N_STEPS + 1) * dt, (N_PATHS, 1))
    return PolicyData(t, x, np.zeros_like(x), terminal_rewards=x[:, -1] ** 2)


@pytest.mark.parametrize("kwargs", [{"method": "gtd", "variant": "tdc"}, {"method": "gtd", "variant": "gtd2"},
                                    {"method": "gtd", "variant": "gtd"}, {"method": "td"}])
def test_iterative_methods_reach_the_lstd_root_on_a_fine_mesh(fine_bm, kwargs):
    lstd = MartingalePolicyEvaluation("lstd", features=bm_family).fit(fine_bm)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PolicyConvergenceWarning)  # converged: no warning
        est = MartingalePolicyEvaluation(features=bm_family, **kwargs).fit(fine_bm)
    # relative residual 1e-8 -> coefficient error <= cond(A) 1e-8 (cond ~ 10 here): 1e-6 has room
    np.testing.assert_allclose(est.coef_, lstd.coef_, rtol=1e-6)


@pytest.mark.parametrize("n_epochs", [1, 2, 3, 37, 100])
def test_blocks_of_epochs_equal_the_epoch_loop(n_epochs):
    gen = torch.Generator().manual_seed(0)
    G = 0.9 * torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))[0]  # contraction
    g = torch.randn(4, generator=gen, dtype=torch.float64)

    def epoch(z):
        return G @ z + g

    z = torch.zeros(4, dtype=torch.float64)
    for _ in range(n_epochs):
        z = epoch(z)
    blocks, history, converged = doubled_iteration(epoch, torch.zeros(4, dtype=torch.float64), n_epochs,
                                                   lambda v: 1.0, 0.0)
    torch.testing.assert_close(blocks, z, rtol=1e-12, atol=1e-12)
    assert not converged and len(history) == int(np.ceil(np.log2(n_epochs + 1)))  # blocks 1, 2, 4, ..., the rest


def test_the_cap_warns_once_and_tol_zero_is_silent(fine_bm):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MartingalePolicyEvaluation("gtd", variant="tdc", features=bm_family, n_epochs=10).fit(fine_bm)
        MartingalePolicyEvaluation("td", features=bm_family, n_epochs=5, tol=0.0).fit(fine_bm)
    assert [w.category for w in caught] == [PolicyConvergenceWarning]
    assert "n_epochs=10" in str(caught[0].message)


def test_tol_is_stored_as_given_and_validated_in_fit(fine_bm):
    est = MartingalePolicyEvaluation("td", tol=-1.0)
    assert est.get_params()["tol"] == -1.0
    from dynfer import BadInputError

    with pytest.raises(BadInputError, match="tol"):
        est.fit(fine_bm)
