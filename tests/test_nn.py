import math

import pytest
import torch

import dynfer
from dynfer.nn import ACTIVATIONS, MLP, SinusoidalTimeEmbedding, TimeConditionedMLP


def test_mlp_shapes_and_gradients(device):
    torch.manual_seed(0)
    net = MLP(3, 2, hidden=(8, 5), device=device)
    x = torch.randn(4, 7, 3, device=device)
    out = net(x)
    assert out.shape == (4, 7, 2)
    assert out.device.type == device.type
    out.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_mlp_layout_and_options():
    net = MLP(3, 2, hidden=(8, 8), activation="tanh", dropout=0.1, layer_norm=True, device="cpu")
    kinds = [type(m).__name__ for m in net.net]
    assert kinds == ["Linear", "LayerNorm", "Tanh", "Dropout"] * 2 + ["Linear"]
    affine = MLP(3, 2, hidden=(), device="cpu")
    assert [type(m).__name__ for m in affine.net] == ["Linear"]
    custom = MLP(2, 1, hidden=(4,), activation=torch.nn.Softsign, device="cpu")
    assert isinstance(custom.net[1], torch.nn.Softsign)
    for name in ACTIVATIONS:
        assert MLP(2, 1, hidden=(3,), activation=name, device="cpu")(torch.zeros(1, 2)).shape == (1, 1)


def test_mlp_zero_last_starts_at_zero():
    net = MLP(3, 4, zero_last=True, device="cpu")
    assert torch.equal(net(torch.randn(10, 3)), torch.zeros(10, 4))


def test_mlp_dtype_follows_settings():
    with dynfer.settings.override(dtype="float64"):
        net = MLP(2, 1, device="cpu")
    assert net.dtype == torch.float64
    assert MLP(2, 1, dtype=torch.float32, device="cpu").dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_dim": 0}, "in_dim"),
        ({"out_dim": -1}, "out_dim"),
        ({"hidden": 64}, "hidden"),
        ({"hidden": (64, 0)}, "hidden"),
        ({"activation": "swishy"}, "activation"),
        ({"activation": 3}, "activation"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_mlp_bad_arguments(kwargs, match):
    args = {"in_dim": 2, "out_dim": 1, "device": "cpu"} | kwargs
    with pytest.raises(ValueError, match=match):
        MLP(**args)


def test_mlp_wrong_input_width():
    with pytest.raises(ValueError, match="in_dim=3"):
        MLP(3, 1, device="cpu")(torch.zeros(5, 2))


def test_time_embedding_closed_form():
    # dim 4, P = 100: frequencies 100^(-0/2) = 1 and 100^(-1/2) = 0.1
    emb = SinusoidalTimeEmbedding(4, max_period=100.0)
    t = torch.tensor([2.0, -0.5], dtype=torch.float64)
    want = torch.tensor(
        [
            [math.sin(2.0), math.sin(0.2), math.cos(2.0), math.cos(0.2)],
            [math.sin(-0.5), math.sin(-0.05), math.cos(-0.5), math.cos(-0.05)],
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(emb(t), want, rtol=0, atol=1e-12)
    # scale multiplies t; an odd dim appends one zero
    scaled = SinusoidalTimeEmbedding(5, max_period=100.0, scale=10.0)(torch.tensor([0.2], dtype=torch.float64))
    torch.testing.assert_close(scaled[0, :4], want[0], rtol=0, atol=1e-12)
    assert scaled[0, 4] == 0


def test_time_embedding_shapes(device):
    emb = SinusoidalTimeEmbedding(8)
    assert emb(torch.tensor(0.3, device=device)).shape == (8,)
    out = emb(torch.rand(3, 5, device=device))
    assert out.shape == (3, 5, 8) and out.device.type == device.type
    assert emb(torch.tensor([1, 2])).dtype == dynfer.settings.dtype
    assert len(list(emb.parameters())) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"dim": 0}, "dim"), ({"max_period": 1.0}, "max_period"), ({"scale": 0.0}, "scale")],
)
def test_time_embedding_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SinusoidalTimeEmbedding(**({"dim": 4} | kwargs))


def test_time_conditioned_mlp(device):
    torch.manual_seed(0)
    net = TimeConditionedMLP(3, 2, hidden=(16,), time_dim=6, device=device)
    x = torch.randn(5, 3, device=device, requires_grad=True)
    t = torch.full((5,), 0.7, device=device)
    out = net(x, t)
    assert out.shape == (5, 2)
    torch.testing.assert_close(net(x, 0.7), out)
    torch.testing.assert_close(net(x, t[:, None]), out)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not torch.allclose(net(x, 0.1), out)
    with pytest.raises(ValueError, match="t must be"):
        net(x, torch.zeros(4, device=device))
    with pytest.raises(ValueError, match="in_dim"):
        net(torch.zeros(5, 2, device=device), t)
