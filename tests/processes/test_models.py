import numpy as np
import pytest
import scipy.integrate
import torch

from dynfer.processes import DoubleWell, LotkaVolterra, Repressilator


def test_lotka_volterra_drift_and_conserved_quantity():
    lv = LotkaVolterra(sigma=1e-9)
    x = torch.tensor([[3.0, 2.0]], dtype=torch.float64)
    np.testing.assert_allclose(lv.drift(0, x).numpy(), [[3 - 0.4 * 6, 0.1 * 6 - 0.4 * 2]])
    # deterministic orbit: V = delta x - gamma log x + beta y - alpha log y is conserved (up to the Euler error)
    paths = lv.simulate(x, torch.linspace(0, 10, 11, dtype=torch.float64), dt=1e-4, seed=0)
    v = lv.conserved_quantity(paths[:, 0])
    assert float((v - v[0]).abs().max()) < 1e-3


def test_lotka_volterra_multiplicative_noise_keeps_scale():
    lv = LotkaVolterra(sigma=0.02, noise="multiplicative")
    x = torch.tensor([[3.0, 2.0], [6.0, 1.0]])
    np.testing.assert_allclose(lv.diffusion(0, x).numpy(), 0.02 * x.numpy())
    with pytest.raises(ValueError, match="noise"):
        LotkaVolterra(noise="colored")


def test_repressilator_drift_matches_hill_formula():
    rep = Repressilator(beta=10, n=3, k=1, gamma=1, sigma=0.1)
    x = np.array([[0.5, 2.0, 1.5]])
    want = np.array([10 / (1 + 1.5**3) - 0.5, 10 / (1 + 0.5**3) - 2.0, 10 / (1 + 2.0**3) - 1.5])
    np.testing.assert_allclose(rep.drift(0, torch.tensor(x)).numpy()[0], want, rtol=1e-12)
    with pytest.raises(ValueError, match="columns"):
        rep.drift(0, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="n_genes"):
        Repressilator(n_genes=1)


def test_double_well_stationary_second_moment():
    dw = DoubleWell(barrier=1.0, kT=0.5)
    z, _ = scipy.integrate.quad(lambda x: np.exp(-((x * x - 1) ** 2) / 0.5), -4, 4)
    m2, _ = scipy.integrate.quad(lambda x: x * x * np.exp(-((x * x - 1) ** 2) / 0.5) / z, -4, 4)
    n = 8000
    x0 = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)[:, None]
    x = dw.simulate(x0, torch.tensor([0.0, 10.0]), dt=2e-3, seed=0)[-1, :, 0].double()
    sd = float(x.pow(2).std())
    # 5 standard errors, plus an O(dt) Euler bias allowance of 1 %
    assert abs(float(x.pow(2).mean()) - m2) < 5 * sd / np.sqrt(n) + 0.01 * m2
    assert abs(float((x > 0).double().mean()) - 0.5) < 5 * 0.5 / np.sqrt(n)


def test_double_well_force_is_minus_gradient():
    dw = DoubleWell(barrier=2.0, stiffness=3.0, dim=3)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(dw.potential(x).sum(), x)
    np.testing.assert_allclose(dw.drift(0, x).detach().numpy(), -grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="kT"):
        DoubleWell(kT=0.0)
