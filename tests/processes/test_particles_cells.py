"""Cell-list neighbour search against the all-pairs reference: same pair sets, same forces (float64, 1e-10)."""

import numpy as np
import pytest
import torch

from dynfer.processes.particles import (
    all_pairs,
    cell_grid,
    cell_list_pairs,
    interaction_divergence,
    interaction_forces,
    make_force,
    naive_pair_forces,
)


def _key(pairs):
    return sorted(zip(pairs.batch.tolist(), pairs.i.tolist(), pairs.j.tolist(), strict=True))


def _positions(box, n, frames, d, seed, device, spread=1.0):
    gen = torch.Generator().manual_seed(seed)
    if box is None:
        x = torch.randn(frames, n, d, generator=gen, dtype=torch.float64) * 4 * spread
        return x.to(device), None
    b = torch.tensor(box, dtype=torch.float64)
    # positions on several periodic images, to check the wrap inside the search
    x = (torch.rand(frames, n, d, generator=gen, dtype=torch.float64) - 0.5) * b * 3 * spread
    return x.to(device), b.to(device)


CASES = [((20.0, 15.0), 2), ((9.0, 9.0, 12.0), 3), ((40.0,), 1), (None, 2), (None, 3), ((7.0, 8.0), 2)]


@pytest.mark.parametrize("box,d", CASES)
def test_same_pairs_and_distances_as_all_pairs(box, d, device):
    x, b = _positions(box, 250, 3, d, seed=len(CASES) + d, device=device)
    cut = 2.5
    got, want = cell_list_pairs(x, b, cut), all_pairs(x, b, cut)
    assert _key(got) == _key(want) and len(want.i) > 0
    assert bool((got.i < got.j).all()) and bool((got.distance < cut).all())
    order_g = np.lexsort((got.j.cpu(), got.i.cpu(), got.batch.cpu()))
    order_w = np.lexsort((want.j.cpu(), want.i.cpu(), want.batch.cpu()))
    np.testing.assert_allclose(got.displacement.cpu()[order_g], want.displacement.cpu()[order_w], atol=1e-12)
    # the minimum image: no displacement component beyond half the box
    if b is not None:
        assert bool((got.displacement.abs() <= b / 2 + 1e-12).all())


def test_pairs_against_a_plain_python_double_loop():
    # independent of the tensor code: explicit loops over i < j with the nearest image
    rng = np.random.default_rng(3)
    box = np.array([10.0, 12.0])
    x = rng.uniform(-5, 5, size=(60, 2)) * [1, 1.2]
    want = set()
    for i in range(60):
        for j in range(i + 1, 60):
            delta = x[i] - x[j]
            delta -= box * np.round(delta / box)
            if np.hypot(*delta) < 3.0:
                want.add((0, i, j))
    got = cell_list_pairs(torch.tensor(x[None]), torch.tensor(box), 3.0)
    assert set(_key(got)) == want


@pytest.mark.parametrize("name", ["softplus", "harmonic", "wca"])
@pytest.mark.parametrize("box,d", [((30.0, 30.0), 2), (None, 2), ((12.0, 12.0, 12.0), 3), ((7.5, 7.5), 2)])
def test_forces_match_the_dense_all_pairs_sum(name, box, d, device):
    force = make_force(name, {"sigma": 1.5} if name == "wca" else {})
    x, b = _positions(box, 300, 2, d, seed=11, device=device, spread=0.6)
    got = interaction_forces(x, b, force)
    want = naive_pair_forces(x, b, force)
    np.testing.assert_allclose(got.cpu().numpy(), want.cpu().numpy(), rtol=1e-10, atol=1e-10)
    # Newton's third law: the interaction forces of a frame sum to zero
    assert float(got.sum(dim=1).abs().max()) < 1e-8 * max(1.0, float(got.abs().max()))


def test_divergence_matches_a_numpy_pair_loop():
    force = make_force("softplus")
    x, b = _positions((14.0, 16.0), 80, 2, 2, seed=5, device="cpu", spread=0.4)
    xn, bn = x.numpy(), b.numpy()
    for axes in ([0, 1], [0], [1]):
        want = np.zeros(2)
        for f in range(2):
            for i in range(80):
                for j in range(80):
                    delta = xn[f, i] - xn[f, j]
                    delta -= bn * np.round(delta / bn)
                    r = np.hypot(*delta)
                    if i == j or r >= force.cutoff:
                        continue
                    mag = np.log1p(np.exp(7.5 * (2 - r))) / 7.5
                    dmag = -1 / (1 + np.exp(-7.5 * (2 - r)))
                    u2 = delta[axes] ** 2 / r**2
                    want[f] += np.sum(dmag * u2 + mag * (1 - u2) / r)
        got = interaction_divergence(x, b, force, axes).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_grid_falls_back_below_three_cells_and_edge_cases():
    assert cell_grid(torch.tensor([10.0, 20.0]), 3.0) == [3, 6]
    assert cell_grid(torch.tensor([8.0, 20.0]), 3.0) is None  # 2 cells along x: all pairs
    one = cell_list_pairs(torch.zeros(4, 1, 2, dtype=torch.float64), torch.tensor([10.0, 10.0]), 2.0)
    assert one.i.numel() == 0 and one.displacement.shape == (0, 2)
    # all particles in one cell (free space): every pair found
    x = torch.rand(1, 30, 2, dtype=torch.float64) * 0.1
    assert len(cell_list_pairs(x, None, 1.0).i) == 30 * 29 // 2


def test_displacements_are_differentiable():
    x, b = _positions((20.0, 20.0), 100, 1, 2, seed=2, device="cpu", spread=0.3)
    x.requires_grad_(True)
    pairs = cell_list_pairs(x, b, 2.5)
    pairs.distance.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0
