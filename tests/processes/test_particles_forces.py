"""Pair forces: closed-form magnitudes, derivatives against autograd, cutoffs, and the radial divergence."""

import math

import numpy as np
import pytest
import torch

from dynfer import BadInputError
from dynfer.processes.particles import make_force, radial_divergence

R = torch.linspace(0.05, 4.0, 400, dtype=torch.float64)


def test_softplus_matches_the_formula_and_its_cutoff_level():
    f = make_force("softplus")  # radius 1, beta 7.5
    r = R.numpy()
    want = np.log1p(np.exp(7.5 * (2 - r))) / 7.5
    inside = r < f.cutoff
    np.testing.assert_allclose(f.magnitude(R).numpy()[inside], want[inside], rtol=1e-12)
    assert np.all(f.magnitude(R).numpy()[~inside] == 0)
    f0 = math.log1p(math.exp(15.0)) / 7.5
    # truncated where it drops to tol * f(0): value just inside the cutoff is ~1e-6 relative
    at_cut = math.log1p(math.exp(7.5 * (2 - f.cutoff))) / 7.5
    assert at_cut == pytest.approx(1e-6 * f0, rel=1e-3)
    assert 3.4 < f.cutoff < 3.55


def test_harmonic_and_wca_closed_forms():
    h = make_force("harmonic", {"radius": 0.7})
    np.testing.assert_allclose(h.magnitude(R).numpy(), np.clip(1.4 - R.numpy(), 0, None))
    assert h.cutoff == pytest.approx(1.4)
    w = make_force("wca", {"epsilon": 10.0, "sigma": 1.0})
    r = R.numpy()
    u = lambda s: 4 * 10 * ((1 / s) ** 12 - (1 / s) ** 6) + 10  # noqa: E731
    # -dU/dr by central finite differences of the potential, inside the cutoff
    inside = (r < 2 ** (1 / 6) - 1e-3) & (r > 0.8)
    fd = -(u(r + 1e-6) - u(r - 1e-6)) / 2e-6
    np.testing.assert_allclose(w.magnitude(R).numpy()[inside], fd[inside], rtol=1e-6)
    assert u(2 ** (1 / 6)) == pytest.approx(0, abs=1e-12)
    # continuous at the cutoff: the force just inside vanishes
    assert float(w.magnitude(torch.tensor(2 ** (1 / 6) - 1e-9, dtype=torch.float64))) == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize("name,params", [("softplus", {}), ("softplus", {"beta": 2.0, "radius": 0.5}),
                                         ("harmonic", {}), ("wca", {"epsilon": 3.0, "sigma": 1.3})])
def test_derivative_matches_autograd(name, params):
    f = make_force(name, params)
    r = R.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f.magnitude(r).sum(), r)
    keep = (R - f.cutoff).abs() > 1e-6  # the (tiny) truncation jump
    np.testing.assert_allclose(f.derivative(R)[keep].numpy(), grad[keep].numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_radial_divergence_matches_autograd_of_the_field(dim):
    f = make_force("softplus")
    x = (torch.rand(50, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(dim)) - 0.5) * 5
    x = x[torch.linalg.vector_norm(x, dim=-1) > 0.1].requires_grad_(True)
    r = torch.linalg.vector_norm(x, dim=-1)
    field = f.magnitude(r)[:, None] * x / r[:, None]
    div = sum(torch.autograd.grad(field[:, a].sum(), x, retain_graph=True)[0][:, a] for a in range(dim))
    np.testing.assert_allclose(radial_divergence(f, r.detach(), dim).numpy(), div.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,params", [("laser", None), ("softplus", {"gamma": 1.0}), ("softplus", {"beta": -1}),
                                         ("wca", {"sigma": float("nan")}), ("softplus", {"tol": 2.0}),
                                         ("harmonic", "radius"), ("softplus", {"beta": 1e4})])
def test_bad_forces_are_refused(name, params):
    with pytest.raises(BadInputError):
        make_force(name, params)
