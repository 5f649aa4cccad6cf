"""Tests of the minimum-image neighbour search and the local Transformer score network.

The references are computed here independently of the code under test: neighbour distances by enumerating the
periodic images ``x_j + n L`` (``n`` in ``{-1, 0, 1}^d``) of positions inside the box, free-space distances with
``torch.cdist``, and the fitting target by a dense all-pairs computation.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import dynfer
from dynfer import BadInputError
from dynfer.nn import LocalTransformerScore, knn_minimum_image, minimum_image

F64 = torch.float64
EXACT = "donot_use_mm_for_euclid_dist"  # cdist by differences: the matmul form loses digits for close pairs


def _image_distances(x: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """All-pairs distances to the nearest periodic image, by enumerating the 3**d image shifts (x inside the box)."""
    dim = x.shape[-1]
    best = torch.full(x.shape[:-1] + (x.shape[-2],), torch.inf, dtype=x.dtype)
    for shift in itertools.product((-1.0, 0.0, 1.0), repeat=dim):
        image = x + torch.tensor(shift, dtype=x.dtype) * box
        best = torch.minimum(best, torch.cdist(x, image, compute_mode=EXACT))  # best[b, i, j] = min_n |x_j + n L - x_i|
    return best


def _random_positions(gen: torch.Generator, n_batch: int, n: int, box: torch.Tensor) -> torch.Tensor:
    """Uniform positions in the box, with a few particles pressed against the faces (within 1e-9 of 0 and of L)."""
    x = torch.rand(n_batch, n, box.numel(), generator=gen, dtype=F64) * box
    x[:, 0] = 1e-9
    x[:, 1] = box - 1e-9
    x[:, 2, 0] = 0.0
    x[:, 3, -1] = box[-1] * (1 - 1e-12)
    return x


def _network(**kwargs) -> LocalTransformerScore:
    """A small float64 network whose read-out is randomised, so that its outputs are not identically zero."""
    args = {"dim": 2, "n_features": 2, "out_features": 3, "k": 5, "embed_dim": 16, "n_heads": 2, "n_blocks": 2,
            "dtype": F64, "device": "cpu"} | kwargs
    net = LocalTransformerScore(**args)
    with torch.no_grad():
        net.readout.weight.normal_(generator=torch.Generator().manual_seed(7))
        net.readout.bias.normal_(generator=torch.Generator().manual_seed(8))
    return net


def _state(gen: torch.Generator, n_batch: int, n: int, box: torch.Tensor, n_features: int = 2) -> torch.Tensor:
    return torch.cat([torch.rand(n_batch, n, box.numel(), generator=gen, dtype=F64) * box,
                      torch.randn(n_batch, n, n_features, generator=gen, dtype=F64)], dim=-1)


# ---------------------------------------------------------------- neighbours


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_knn_matches_brute_force_in_a_periodic_box(dim):
    gen = torch.Generator().manual_seed(dim)
    box = torch.tensor([1.0, 2.5, 0.7][:dim], dtype=F64)
    x = _random_positions(gen, 3, 60, box)
    k = 9
    index, displacement = knn_minimum_image(x, k, box, chunk_size=7)
    assert index.shape == (3, 60, k) and index.dtype == torch.long and displacement.shape == (3, 60, k, dim)
    reference = _image_distances(x, box)
    reference.diagonal(dim1=1, dim2=2).fill_(torch.inf)
    expected = reference.topk(k, dim=-1, largest=False, sorted=True)
    found = torch.linalg.vector_norm(displacement, dim=-1)
    torch.testing.assert_close(found, expected.values, rtol=0, atol=1e-12)
    # random positions in float64: no ties, so the neighbour lists themselves agree
    assert torch.equal(index, expected.indices)
    assert not (index == torch.arange(60)[None, :, None]).any()
    # the displacement is the minimum image of x_j - x_i: in [-L/2, L/2) and congruent to x_j - x_i modulo L
    assert bool((displacement >= -box / 2).all()) and bool((displacement < box / 2).all())
    raw = x.gather(1, index.reshape(3, -1, 1).expand(-1, -1, dim)).reshape(3, 60, k, dim) - x[:, :, None]
    turns = (raw - displacement) / box
    torch.testing.assert_close(turns, turns.round(), rtol=0, atol=1e-9)


def test_knn_free_space_matches_cdist_and_ignores_chunking():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 40, 3, generator=gen, dtype=F64) * 5
    reference = torch.cdist(x, x, compute_mode=EXACT)
    reference.diagonal(dim1=1, dim2=2).fill_(torch.inf)
    expected = reference.topk(6, dim=-1, largest=False, sorted=True)
    for chunk in (None, 1, 13, 100):
        index, displacement = knn_minimum_image(x, 6, None, chunk_size=chunk)
        assert torch.equal(index, expected.indices)
        neighbours = x.gather(1, index.reshape(2, -1, 1).expand(-1, -1, 3)).reshape(2, 40, 6, 3)
        torch.testing.assert_close(displacement, neighbours - x[:, :, None], rtol=0, atol=0)


def test_knn_does_not_need_positions_inside_the_box():
    gen = torch.Generator().manual_seed(3)
    box = torch.tensor([1.0, 2.0], dtype=F64)
    x = _random_positions(gen, 2, 30, box)
    turns = torch.randint(-3, 4, x.shape, generator=gen).to(F64)
    index, displacement = knn_minimum_image(x, 4, box)
    index_out, displacement_out = knn_minimum_image(x + turns * box, 4, box)
    assert torch.equal(index, index_out)
    torch.testing.assert_close(displacement_out, displacement, rtol=0, atol=1e-12)


def test_knn_small_example_and_cubic_box_number():
    x = torch.tensor([[[0.1, 0.0], [0.9, 0.0], [0.4, 0.0]]], dtype=F64)
    index, displacement = knn_minimum_image(x, 2, 1.0)
    # across the face 0.1 and 0.9 are 0.2 apart; 0.4 is 0.3 from 0.1 and L/2 from 0.9: both +-0.5 wrap to -0.5
    assert index[0].tolist() == [[1, 2], [0, 2], [0, 1]]
    torch.testing.assert_close(displacement[0, :, :, 0], torch.tensor([[-0.2, 0.3], [0.2, -0.5], [-0.3, -0.5]],
                                                                      dtype=F64), rtol=0, atol=1e-12)


def test_minimum_image_interval():
    box = torch.tensor([2.0], dtype=F64)
    r = torch.tensor([[-1.0], [1.0], [0.999], [-3.0], [5.5]], dtype=F64)
    assert minimum_image(r, box)[:, 0].tolist() == [-1.0, -1.0, 0.999, -1.0, -0.5]
    assert torch.equal(minimum_image(r, None), r)


def test_knn_displacement_is_differentiable():
    x = torch.tensor([[[0.0, 0.0], [0.3, 0.1], [0.8, 0.9]]], dtype=F64, requires_grad=True)
    index, displacement = knn_minimum_image(x, 1, torch.ones(2, dtype=F64))
    displacement.sum().backward()
    # nearest images: 0-2 at |(-0.2, -0.1)| = 0.22, 0-1 at 0.32, 1-2 at |(-0.5, -0.2)| = 0.54, so j(0) = 2,
    # j(1) = 0, j(2) = 0 and r_i = x_{j(i)} - x_i: d/dx_0 = -1 + 1 + 1, d/dx_1 = -1, d/dx_2 = 1 - 1
    assert index[0, :, 0].tolist() == [2, 0, 0]
    assert x.grad[0, :, 0].tolist() == [1.0, -1.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 10}, "k"),
        ({"k": 0}, "k"),
        ({"k": 2.0}, "k"),
        ({"box": torch.tensor([1.0, 1.0, 1.0])}, "box"),
        ({"box": torch.tensor([1.0, 0.0])}, "box"),
        ({"box": torch.tensor([1.0, float("inf")])}, "box"),
        ({"positions": torch.zeros(10, 2)}, "positions"),
        ({"positions": torch.full((1, 10, 2), float("nan"))}, "positions"),
        ({"positions": torch.zeros(0, 10, 2)}, "positions"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_knn_bad_arguments(kwargs, match):
    args = {"positions": torch.rand(1, 10, 2), "k": 3, "box": torch.ones(2)} | kwargs
    with pytest.raises(BadInputError, match=match):
        knn_minimum_image(**args)


def test_knn_with_k_equal_to_n_minus_one_lists_everyone_else():
    x = torch.rand(2, 5, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    index, _ = knn_minimum_image(x, 4, torch.ones(2, dtype=F64))
    for i in range(5):
        assert sorted(index[0, i].tolist()) == [j for j in range(5) if j != i]


# ---------------------------------------------------------------- network


def test_zero_output_at_initialisation_and_shapes():
    net = LocalTransformerScore(dim=2, n_features=1, out_features=3, angular=(0,), k=4, embed_dim=8, n_heads=2,
                                device="cpu")
    state = torch.rand(3, 12, 3)
    out = net(state, torch.ones(2))
    assert out.shape == (3, 12, 3) and out.dtype == torch.float32
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("kwargs", [{}, {"angular": (1,)}, {"absolute_positions": True}, {"n_features": 0}])
def test_permutation_equivariance(kwargs):
    net = _network(**kwargs)
    gen = torch.Generator().manual_seed(1)
    box = torch.tensor([3.0, 2.0], dtype=F64)
    state = _state(gen, 2, 40, box, net.n_features)
    perm = torch.randperm(40, generator=gen)
    out = net(state, box)
    assert out.abs().max() > 0.1
    torch.testing.assert_close(net(state[:, perm], box), out[:, perm], rtol=0, atol=1e-10)


def test_translation_invariance_under_periodic_and_free_shifts():
    net = _network(angular=(0,))
    gen = torch.Generator().manual_seed(2)
    box = torch.tensor([3.0, 2.0], dtype=F64)
    state = _state(gen, 2, 40, box)
    out = net(state, box)
    shifted = state.clone()
    shifted[..., :2] = torch.remainder(state[..., :2] + torch.tensor([1.7, -0.9], dtype=F64), box)
    torch.testing.assert_close(net(shifted, box), out, rtol=0, atol=1e-10)
    moved = state.clone()
    moved[..., :2] += torch.tensor([-40.0, 13.0], dtype=F64)
    torch.testing.assert_close(net(moved, None), net(state, None), rtol=0, atol=1e-10)


def test_absolute_positions_break_translation_invariance():
    net = _network(absolute_positions=True)
    gen = torch.Generator().manual_seed(2)
    state = _state(gen, 1, 30, torch.tensor([3.0, 2.0], dtype=F64))
    moved = state.clone()
    moved[..., :2] += 0.5
    assert (net(moved, None) - net(state, None)).abs().max() > 1e-3


def test_tiled_box_gives_the_same_outputs_at_four_times_n():
    net = _network(k=8)
    gen = torch.Generator().manual_seed(4)
    box = torch.tensor([1.0, 1.0], dtype=F64)
    state = _state(gen, 1, 100, box)
    _, displacement = knn_minimum_image(state[..., :2], net.k, box)
    # the copies of a particle in the 2x2 tiling see the same k neighbours when they all lie within L/2
    assert torch.linalg.vector_norm(displacement, dim=-1).max() < 0.5
    tiles = []
    for shift in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]:
        tile = state.clone()
        tile[..., :2] += torch.tensor(shift, dtype=F64)
        tiles.append(tile)
    big = torch.cat(tiles, dim=1)
    out = net(state, box)
    out_big = net(big, 2 * box)
    assert out_big.shape == (1, 400, 3)
    for t in range(4):
        torch.testing.assert_close(out_big[:, 100 * t:100 * (t + 1)], out, rtol=0, atol=1e-10)


def test_output_depends_only_on_the_neighbourhood():
    net = _network(k=4)
    gen = torch.Generator().manual_seed(5)
    box = torch.tensor([2.0, 2.0], dtype=F64)
    state = _state(gen, 1, 30, box).requires_grad_(True)
    index, _ = knn_minimum_image(state[..., :2].detach(), 4, box)
    i = 3
    (grad,) = torch.autograd.grad(net(state, box)[0, i].sum(), state)
    members = {i, *index[0, i].tolist()}
    outside = [j for j in range(30) if j not in members]
    assert torch.equal(grad[0, outside], torch.zeros_like(grad[0, outside]))
    assert all(grad[0, j].abs().sum() > 0 for j in members)


def test_chunking_does_not_change_the_outputs():
    net = _network()
    state = _state(torch.Generator().manual_seed(6), 2, 25, torch.ones(2, dtype=F64))
    out = net(state, torch.ones(2, dtype=F64))
    for chunk in (1, 4, 25, 1000):
        torch.testing.assert_close(net(state, torch.ones(2, dtype=F64), chunk_size=chunk), out, rtol=0, atol=1e-12)


def test_angles_enter_through_cos_and_sin():
    net = _network(angular=(0,))
    box = torch.ones(2, dtype=F64)
    state = _state(torch.Generator().manual_seed(9), 1, 20, box)
    turned = state.clone()
    turned[..., 2] += 2 * torch.pi * (torch.arange(20, dtype=F64) % 3 - 1)
    torch.testing.assert_close(net(turned, box), net(state, box), rtol=0, atol=1e-10)
    changed = state.clone()
    changed[..., 3] += 2 * torch.pi  # not angular
    assert (net(changed, box) - net(state, box)).abs().max() > 1e-3


def test_gradients_reach_every_parameter_and_the_input():
    net = LocalTransformerScore(dim=2, n_features=2, out_features=2, k=4, embed_dim=8, n_heads=2,
                                absolute_positions=True, device="cpu")
    state = torch.rand(2, 10, 4).requires_grad_(True)
    net(state, torch.ones(2)).sum().backward()
    # at initialisation only the read-out has a gradient (every other path is multiplied by its zero weight)
    assert net.readout.weight.grad.abs().sum() > 0 and net.readout.bias.grad.abs().sum() > 0
    assert net.embed_displacement.net[0].weight.grad.abs().sum() == 0
    assert state.grad.abs().sum() == 0
    with torch.no_grad():
        net.readout.weight.normal_()
    net.zero_grad()
    state.grad = None
    (net(state, torch.ones(2)) ** 2).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert state.grad.abs().sum() > 0


def test_input_derivatives_are_exact_to_second_order():
    """gradcheck / gradgradcheck compare autograd with finite differences (the divergence needs both orders)."""
    net = _network(k=3, embed_dim=8, n_blocks=1, angular=(0,), absolute_positions=True, out_features=2)
    box = torch.tensor([1.0, 1.3], dtype=F64)
    state = _state(torch.Generator().manual_seed(10), 1, 7, box).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: net(s, box), (state,))
    assert torch.autograd.gradgradcheck(lambda s: net(s, box), (state,))


def test_config_rebuilds_the_architecture_and_dtype_follows_settings():
    net = _network(angular=(1,), absolute_positions=True)
    config = net.config()
    assert all(isinstance(v, (int, bool, tuple)) for v in config.values())
    twin = LocalTransformerScore(**config, dtype=F64, device="cpu")
    twin.load_state_dict(net.state_dict())
    state = _state(torch.Generator().manual_seed(12), 1, 15, torch.ones(2, dtype=F64))
    torch.testing.assert_close(twin(state), net(state), rtol=0, atol=0)
    with dynfer.settings.override(dtype="float64"):
        assert LocalTransformerScore(dim=1, n_features=0, out_features=1, k=2, embed_dim=4, n_heads=1,
                                     device="cpu").dtype == F64
    # a float32 state is converted to the parameters' dtype
    assert net(state.float()).dtype == F64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0}, "dim"),
        ({"n_features": -1}, "n_features"),
        ({"out_features": 0}, "out_features"),
        ({"angular": (2,)}, "angular"),
        ({"angular": (0, 0)}, "angular"),
        ({"angular": 0}, "angular"),
        ({"angular": "0"}, "angular"),
        ({"k": 0}, "k"),
        ({"embed_dim": 10, "n_heads": 4}, "embed_dim"),
        ({"n_heads": 0}, "n_heads"),
        ({"n_blocks": 0}, "n_blocks"),
        ({"hidden_mult": 1.5}, "hidden_mult"),
        ({"absolute_positions": 1}, "absolute_positions"),
        ({"dtype": torch.int64}, "dtype"),
    ],
)
def test_network_bad_arguments(kwargs, match):
    args = {"dim": 2, "n_features": 2, "out_features": 2, "k": 3, "embed_dim": 8, "n_heads": 2, "device": "cpu"}
    with pytest.raises(BadInputError, match=match):
        LocalTransformerScore(**(args | kwargs))


@pytest.mark.parametrize(
    ("state", "box", "match"),
    [
        (torch.rand(10, 4), None, "state"),
        (torch.rand(1, 10, 3), None, "state"),
        (torch.rand(1, 3, 4), None, "state"),
        (torch.rand(0, 10, 4), None, "state"),
        (torch.full((1, 10, 4), float("nan")), None, "state"),
        (torch.rand(1, 10, 4), torch.ones(3), "box"),
        (torch.rand(1, 10, 4), -1.0, "box"),
        ("abc", None, "state"),
    ],
)
def test_network_bad_calls(state, box, match):
    net = LocalTransformerScore(dim=2, n_features=2, out_features=2, k=3, embed_dim=8, n_heads=2, device="cpu")
    with pytest.raises(BadInputError, match=match):
        net(state, box)
    with pytest.raises(BadInputError, match="chunk_size"):
        net(torch.rand(1, 10, 4), chunk_size=0)


def _local_target(state: torch.Tensor, k: int, length: float) -> torch.Tensor:
    """f_i = g_i * sum over the k nearest j of exp(-|r_ij|^2), with dense all-pairs distances."""
    x, g = state[..., :2], state[..., 2:]
    r = x[:, None] - x[:, :, None]
    r = r - length * torch.round(r / length)
    squared = r.square().sum(-1) + torch.diag(torch.full((x.shape[1],), torch.inf))
    return g * torch.exp(-squared.topk(k, dim=-1, largest=False).values).sum(-1, keepdim=True)


def test_fits_a_local_function():
    """Adam regression of a known k-neighbour function: train and held-out losses fall at least 10x below E|f|^2.

    At initialisation the network is 0, so the starting loss is the mean of |f|^2; 300 steps take about 3 s.
    """
    torch.manual_seed(0)
    k, n, length = 6, 32, 8.0  # density 0.5: the k-th neighbour sits at about distance 2
    box = torch.full((2,), length)
    gen = torch.Generator().manual_seed(1)

    def draw() -> torch.Tensor:
        return torch.cat([torch.rand(16, n, 2, generator=gen) * length, torch.randn(16, n, 2, generator=gen)], -1)

    train, test = draw(), draw()
    f_train, f_test = _local_target(train, k, length), _local_target(test, k, length)
    net = LocalTransformerScore(dim=2, n_features=2, out_features=2, k=k, embed_dim=32, n_heads=2, n_blocks=1,
                                device="cpu")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(300):
        loss = (net(train, box) - f_train).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        train_loss = (net(train, box) - f_train).square().mean()
        test_loss = (net(test, box) - f_test).square().mean()
    assert train_loss < f_train.square().mean() / 10
    assert test_loss < f_test.square().mean() / 10
