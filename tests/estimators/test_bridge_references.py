"""Reference drift families of the Schrödinger-bridge estimator: formulas, θ keys, features, SDEs and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dynfer.estimators.bridges.reference_nets import CustomReference, MLPPotentialReference, MLPReference
from dynfer.estimators.bridges.references import (
    FAMILIES,
    ReferenceDrift,
    VortexReference,
    as_reference,
    make_reference,
)
from dynfer.processes import LotkaVolterra, Repressilator

F64 = torch.float64

THETA_KEYS = {
    "brownian": set(),
    "linear": {"A", "b"},
    "lotka_volterra": {"alpha", "beta", "gamma", "delta"},
    "repressilator": {"beta", "n", "k", "gamma"},
    "vortex": {"x0", "y0", "scale", "rate"},
    "hooke": {"k"},
    "mlp": set(),
    "mlp_potential": set(),
}
DIMS = {"lotka_volterra": 2, "vortex": 2, "repressilator": 3}


def _x(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64) * 3 + 0.1


@pytest.mark.parametrize("name", sorted(THETA_KEYS))
def test_every_family_builds_with_documented_theta_keys(name):
    d = DIMS.get(name, 3)
    ref = make_reference(name, d, dtype=F64)
    assert isinstance(ref, ReferenceDrift)
    assert ref.family == name and ref.dim == d
    out = ref(_x(7, d))
    assert out.shape == (7, d) and out.dtype == F64
    theta = ref.theta()
    assert set(theta) == THETA_KEYS[name]
    assert all(isinstance(v, np.ndarray) for v in theta.values())


@pytest.mark.parametrize("name", ["brownian", "linear", "lotka_volterra", "hooke"])
def test_linear_families_features_reproduce_the_drift(name):
    d = DIMS.get(name, 3)
    init = {
        "linear": {"A": np.arange(9.0).reshape(3, 3) / 7 - 0.5, "b": [0.3, -1.0, 2.0]},
        "lotka_volterra": {"alpha": 1.0, "beta": 0.4, "gamma": 0.4, "delta": 0.1},
        "hooke": {"k": 0.7},
    }.get(name, {})
    ref = make_reference(name, d, dtype=F64, **init)
    assert ref.linear_in_theta
    x = _x(11, d, seed=3)
    phi = ref.features(x)
    assert phi.shape == (11, d, ref.n_theta)
    torch.testing.assert_close(phi @ ref.theta_vector(), ref(x), rtol=1e-12, atol=1e-12)


def test_lotka_volterra_and_repressilator_match_the_process_models():
    x = _x(20, 2)
    lv = make_reference("lotka_volterra", 2, alpha=1.0, beta=0.4, gamma=0.4, delta=0.1, dtype=F64)
    torch.testing.assert_close(lv(x), LotkaVolterra().drift(torch.zeros(()), x))
    # positivity through |.|: a negative initial value acts as its absolute value
    lv_neg = make_reference("lotka_volterra", 2, alpha=-1.0, beta=0.4, gamma=-0.4, delta=0.1, dtype=F64)
    torch.testing.assert_close(lv_neg(x), lv(x))
    assert lv_neg.theta()["alpha"] == 1.0
    x3 = _x(20, 3)
    rep = make_reference("repressilator", 3, beta=10.0, n=3.0, k=1.0, gamma=1.0, dtype=F64)
    torch.testing.assert_close(rep(x3), Repressilator().drift(torch.zeros(()), x3))
    assert not rep.linear_in_theta
    # hand formula for one entry: gene 0 is repressed by gene 2 (cyclic)
    expected = 10.0 / (1 + x3[0, 2].item() ** 3) - x3[0, 0].item()
    assert rep(x3)[0, 0].item() == pytest.approx(expected, rel=1e-12)


def test_repressilator_default_init_is_the_paper_one():
    theta = make_reference("repressilator", 3).theta()
    np.testing.assert_allclose([theta[k] for k in ("beta", "n", "k", "gamma")], [1e-5, 1, 1, 1e-5], rtol=1e-6)
    np.testing.assert_allclose(list(make_reference("lotka_volterra", 2).theta().values()), 1e-5, rtol=1e-6)


def test_vortex_is_the_documented_elliptical_rotation():
    x0, y0, s, w = 1.0, -0.5, 1.5, 0.8
    ref = VortexReference(x0=x0, y0=y0, scale=s, rate=w, dtype=F64)
    pts = torch.tensor([[x0, y0], [x0 + 1, y0], [x0, y0 + 1]], dtype=F64)
    expected = torch.tensor([[0.0, 0.0], [0.0, w / s], [-w * s, 0.0]], dtype=F64)
    torch.testing.assert_close(ref(pts), expected)
    # tangent to the level sets of psi = ((x-x0)^2/s + s (y-y0)^2)/2, and divergence free (linear field, trace 0)
    x = _x(50, 2)
    grad_psi = torch.stack([(x[:, 0] - x0) / s, s * (x[:, 1] - y0)], -1)
    assert (ref(x) * grad_psi).sum(-1).abs().max() < 1e-12
    jac = torch.autograd.functional.jacobian(lambda z: ref(z[None])[0], x[0])
    assert abs(float(torch.trace(jac))) < 1e-12
    assert ref.theta()["rate"] == pytest.approx(w) and ref.theta()["scale"] == pytest.approx(s)


def test_brownian_has_zero_drift_and_no_parameters():
    ref = make_reference("brownian", 4, dtype=F64)
    assert list(ref.parameters()) == []
    assert torch.equal(ref(_x(5, 4)), torch.zeros(5, 4, dtype=F64))
    assert ref.theta() == {} and ref.n_theta == 0


def test_mlp_potential_drift_is_minus_the_gradient():
    torch.manual_seed(0)
    ref = MLPPotentialReference(3, hidden=(16, 16), zero_init=False, dtype=F64)
    x = _x(6, 3)
    expected = torch.stack(
        [-torch.autograd.functional.jacobian(lambda z: ref.potential(z[None]).sum(), xi) for xi in x]
    )
    torch.testing.assert_close(ref(x), expected)
    # central finite differences of the potential, independent of autograd
    h = 1e-6
    eye = torch.eye(3, dtype=F64)
    fd = torch.stack(
        [-(ref.potential(x + h * eye[j]) - ref.potential(x - h * eye[j]))[:, 0] / (2 * h) for j in range(3)], -1
    )
    torch.testing.assert_close(ref(x), fd, rtol=1e-6, atol=1e-8)
    # trainable: the drift keeps the graph to the potential's weights (all but the output bias, a constant in Phi)
    ref(x).pow(2).sum().backward()
    out_bias = ref.potential.net[-1].bias
    others = [p for p in ref.parameters() if p is not out_bias]
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in others)
    with torch.no_grad():  # and still works (without a graph) where gradients are off, as in simulation
        assert not ref(x).requires_grad


def test_mlp_zero_init_is_brownian():
    ref = MLPReference(2, hidden=(8,), dtype=F64)
    assert torch.equal(ref(_x(4, 2)), torch.zeros(4, 2, dtype=F64))
    assert ref.theta() == {}


def test_to_sde_simulates_the_reference_and_shares_parameters():
    k, sigma, t_end = 1.3, 0.2, 1.0
    ref = make_reference("hooke", 2, k=k, dtype=F64)
    sde = ref.to_sde(sigma)
    ids = {id(p) for p in sde.parameters()}
    assert {id(p) for p in ref.parameters()} <= ids
    n = 4000
    x0 = torch.ones(n, 2, dtype=F64)
    paths = sde.simulate(x0, torch.tensor([0.0, t_end], dtype=F64), dt=0.01, seed=0)
    assert paths.shape == (2, n, 2)
    # Euler-Maruyama on the OU process with step h: mean (1 - k h)^N, variance sigma^2 h sum (1 - k h)^{2j}
    h, steps = 0.01, 100
    mean = (1 - k * h) ** steps
    var = sigma**2 * h * sum((1 - k * h) ** (2 * j) for j in range(steps))
    emp = paths[-1].mean(0)
    se = math.sqrt(var / n)
    assert torch.all((emp - mean).abs() < 5 * se)
    with torch.no_grad():
        ref.raw_k.fill_(0.0)  # editing the reference edits the SDE
    torch.testing.assert_close(sde.drift(torch.zeros(()), x0[:3]), torch.zeros(3, 2, dtype=F64))


def test_as_reference_wraps_a_user_module():
    lin = torch.nn.Linear(2, 2).double()
    ref = as_reference(lin, 2)
    assert isinstance(ref, CustomReference) and ref.family == "custom"
    x = _x(5, 2)
    torch.testing.assert_close(ref(x), lin(x))
    assert set(ref.theta()) == {"weight", "bias"}
    assert as_reference(ref, 2) is ref
    with pytest.raises(ValueError, match=r"map \(n, 3\) to \(n, 3\)"):
        as_reference(torch.nn.Linear(3, 1), 3)
    with pytest.raises(ValueError, match="torch.nn.Module"):
        as_reference(lambda x: x, 2)


def test_factory_lists_every_family():
    assert set(FAMILIES) | {"mlp", "mlp_potential"} == set(THETA_KEYS)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_reference("lorenz", 3), r"unknown reference family 'lorenz'; known families: \[.*'vortex'"),
        (lambda: make_reference("lotka_volterra", 3), "lotka_volterra family needs dim=2"),
        (lambda: make_reference("vortex", 3), "vortex family needs dim=2"),
        (lambda: make_reference("repressilator", 1), "dim >= 2"),
        (lambda: make_reference("hooke", 0), "dim must be a positive int"),
        (lambda: make_reference("lotka_volterra", 2, alpha=float("nan")), "alpha must be finite"),
        (lambda: make_reference("linear", 2, A=np.eye(3)), r"A must have shape \(2, 2\)"),
        (lambda: make_reference("vortex", 2, scale=0.0), "scale must be non-zero"),
        (lambda: make_reference("hooke", 2, spring=1.0), "bad initial values for the 'hooke' family"),
        (lambda: make_reference("hooke", 2).to_sde(-1.0), "sigma must be finite and > 0"),
        (lambda: make_reference("hooke", 2)(torch.zeros(3, 4)), "last dimension dim=2"),
        (lambda: make_reference("repressilator", 3).features(torch.zeros(1, 3)), "not linear"),
    ],
)
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises((ValueError, NotImplementedError), match=match):
        call()
