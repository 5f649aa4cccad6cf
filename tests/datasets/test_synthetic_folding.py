"""The 5-D VAMPnets folding toy: shape, seeds, the force, and the stationary split 0.73/0.27 of Mardt et al."""

import math

import numpy as np
import pytest
import torch

import dynfer
from dynfer._errors import BadInputError
from dynfer.datasets import protein_folding_sde
from dynfer.datasets.synthetic_folding import FOLDING_STATIONARY, folding_drift, folding_potential


def test_shape_keys_and_labels():
    adata = protein_folding_sde(n_paths=3, n_times=7, stride=2, burn_in=5, seed=0)
    assert adata.n_obs == 21 and adata.obsm["coordinates"].shape == (21, 5)
    assert set(adata.obs["state"].unique()) <= {0, 1} and adata.uns["n_states"] == 2
    np.testing.assert_allclose(adata.obs["time"].to_numpy()[:7], 0.2 * np.arange(7))
    radius = np.linalg.norm(adata.obsm["coordinates"], axis=1)
    np.testing.assert_allclose(adata.obs["radius"], radius)
    np.testing.assert_array_equal(adata.obs["state"].to_numpy(), (radius >= 3.0).astype(int))
    src = adata.uns["dynfer_source"]
    assert src["parameters"]["dt"] == 0.1 and src["parameters"]["seed"] == 0
    assert tuple(src["reference_stationary_distribution"]) == FOLDING_STATIONARY
    assert dynfer.datasets.load("protein_folding_sde", n_paths=2, n_times=2, seed=1).n_obs == 4


def test_seed_reproducibility():
    a = protein_folding_sde(n_paths=5, n_times=10, burn_in=20, seed=3)
    b = protein_folding_sde(n_paths=5, n_times=10, burn_in=20, seed=3)
    c = protein_folding_sde(n_paths=5, n_times=10, burn_in=20, seed=4)
    np.testing.assert_array_equal(a.obsm["coordinates"], b.obsm["coordinates"])
    assert not np.array_equal(a.obsm["coordinates"], c.obsm["coordinates"])
    with dynfer.settings.override(seed=3):
        d = protein_folding_sde(n_paths=5, n_times=10, burn_in=20)
    np.testing.assert_array_equal(a.obsm["coordinates"], d.obsm["coordinates"])


def test_force_is_minus_the_gradient_of_the_potential():
    x = torch.tensor([[0.3, -0.2, 0.1, 0.5, 0.0], [2.0, 1.5, -1.0, 0.3, 0.2], [4.0, 0.1, 0.2, 0.0, -0.3]],
                     dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(folding_potential(x).sum(), x)
    torch.testing.assert_close(folding_drift(x.detach()), -grad)
    # U on both branches, by hand: s = -1 -> -2.5; s = 1 -> 0.5 * (-1) * 1 = -0.5
    u = folding_potential(torch.tensor([[2.0, 0, 0, 0, 0], [4.0, 0, 0, 0, 0]], dtype=torch.float64))
    torch.testing.assert_close(u, torch.tensor([-2.5, -0.5], dtype=torch.float64))
    assert torch.equal(folding_drift(torch.zeros(1, 5, dtype=torch.float64)), torch.zeros(1, 5, dtype=torch.float64))


@pytest.mark.parametrize(("kwargs", "match"), [({"n_times": 1}, "n_times"), ({"dt": 0.0}, "dt"),
                                               ({"n_paths": 1.5}, "n_paths"), ({"burn_in": -1}, "burn_in")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(BadInputError, match=match):
        protein_folding_sde(**kwargs)


def test_stationary_split_matches_mardt_et_al():
    """Fraction folded in a long run against 0.73, within 4 standard errors from independent paths (+ rounding)."""
    n_paths, n_times = 1000, 500
    adata = protein_folding_sde(n_paths=n_paths, n_times=n_times, stride=10, seed=11)
    folded = (adata.obs["state"].to_numpy().reshape(n_paths, n_times) == 0).mean(axis=1)
    mean = folded.mean()
    se = folded.std(ddof=1) / math.sqrt(n_paths)  # paths are independent: their means give the standard error
    n_eff = mean * (1 - mean) / se**2  # effective number of independent labels behind the mean
    tol = 0.005 + 4 * se  # 0.73 is rounded to two digits
    assert abs(mean - FOLDING_STATIONARY[0]) < tol, (mean, se, n_eff)
    assert n_eff < n_paths * n_times / 5  # labels are strongly correlated in time: the tolerance must use n_eff
