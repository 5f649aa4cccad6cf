"""Simulation of ActiveParticles: stationary moments of trapped AOUP, ABP angular diffusion and mean-square
displacement, periodic wrapping, the score-free entropy-production identity, AnnData layout and particle_states."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from dynfer import BadInputError
from dynfer.processes import ActiveParticles, particle_states


def _euler_ou_covariance(kappa, gamma, v0, eps, h):
    """Exact stationary covariance of one (x, g) component under the scheme itself (a discrete Lyapunov solve)."""
    a = math.exp(-gamma * h)
    m = np.array([[1 - kappa * h, v0 * h], [0.0, a]])
    q = np.diag([2 * eps * h, 1 - a * a])
    return scipy.linalg.solve_discrete_lyapunov(m, q)


def test_trapped_aoup_moments_match_the_closed_form():
    kappa, gamma, v0, eps, dt = 1.0, 1.0, 1.0, 0.5, 0.005
    model = ActiveParticles("aoup", trap=kappa, gamma=gamma, v0=v0, epsilon=eps, force="none")
    n, frames = 2000, 5
    adata = model.sample_stationary(n, frames, dt=dt, burn_in=10.0, thin=3.0, seed=1, dtype=torch.float64)
    s = particle_states(adata, model)
    x, g = s[..., :2].ravel(), s[..., 2:].ravel()
    closed = {"xx": (eps + v0**2 / (kappa + gamma)) / kappa, "xg": v0 / (kappa + gamma), "gg": 1.0}
    disc = _euler_ou_covariance(kappa, gamma, v0, eps, dt)
    scheme = {"xx": disc[0, 0], "xg": disc[0, 1], "gg": disc[1, 1]}
    got = {"xx": np.mean(x * x), "xg": np.mean(x * g), "gg": np.mean(g * g)}
    # frames 3 time units apart (correlation <= e^-3): about n * frames * 2 independent samples per moment;
    # SE of a second moment E[uv] is sqrt(E[u^2] E[v^2] + E[uv]^2) / sqrt(n_eff); allow 5 SE plus the O(dt) bias
    n_eff = n * frames * 2 / 1.2
    var = {"xx": 2 * closed["xx"] ** 2, "xg": closed["xx"] * closed["gg"] + closed["xg"] ** 2, "gg": 2.0}
    for key in closed:
        tol = 5 * math.sqrt(var[key] / n_eff) + abs(scheme[key] - closed[key])
        assert abs(got[key] - closed[key]) < tol, (key, got[key], closed[key], tol)


def test_score_free_identity_gives_d_kappa_per_particle():
    # hypoelliptic AOUP (epsilon = 0) in a trap: E[|b_g|^2 / gamma + div_g b_g - div_x b_x] = sigma_g = d * kappa
    kappa, gamma = 0.5, 0.3
    model = ActiveParticles("aoup", trap=kappa, gamma=gamma, v0=1.2, epsilon=0.0, force="none")
    n, frames = 1500, 4
    adata = model.sample_stationary(n, frames, dt=0.01, burn_in=30.0, thin=5.0, seed=2, dtype=torch.float64)
    state = torch.tensor(particle_states(adata, model))
    b = model(state)
    per_frame = (b[..., 2:] ** 2).sum(dim=(1, 2)) / gamma + model.divergence(state, model.active_coords) \
        - model.divergence(state, model.position_coords)
    got = float(per_frame.mean()) / n
    # the only random part is gamma (|g|^2 - d) per particle: variance 2 d gamma^2, n * frames particles
    se = math.sqrt(2 * 2 * gamma**2 / (n * frames))
    assert abs(got - 2 * kappa) < 5 * se + 0.01 * kappa  # 1 %: the O(dt) bias of the g variance is nil (exact OU)


def test_abp_angular_diffusion_and_mean_square_displacement():
    d_r, v0, eps, dt, steps = 1.5, 2.0, 0.3, 0.01, 80
    model = ActiveParticles("abp", box=(1000.0, 1000.0), v0=v0, rotational_diffusion=d_r, epsilon=eps, force="none")
    n = 4000
    path = model.simulate(None, steps, dt, n_particles=n, record_every=steps, seed=3, wrap=False,
                          dtype=torch.float64).numpy()
    t = steps * dt
    dtheta = path[-1, :, 2] - path[0, :, 2]
    want = 2 * d_r * t
    assert abs(dtheta.var() - want) < 5 * want * math.sqrt(2 / n)
    msd = ((path[-1, :, :2] - path[0, :, :2]) ** 2).sum(-1)
    closed = 4 * eps * t + 2 * v0**2 / d_r**2 * (d_r * t - 1 + math.exp(-d_r * t))
    k = np.arange(steps)
    scheme = 4 * eps * t + v0**2 * dt**2 * np.exp(-d_r * dt * np.abs(k[:, None] - k[None, :])).sum()
    assert abs(msd.mean() - closed) < 5 * msd.std() / math.sqrt(n) + abs(scheme - closed)


def test_positions_and_angles_are_wrapped_and_runs_are_reproducible(device):
    model = ActiveParticles("abp", box=(10.0, 12.0), v0=3.0, epsilon=1.0, force="harmonic",
                            force_params={"radius": 0.5})
    init = torch.zeros(2, 50, 3, device=device)
    init[..., 0] = torch.linspace(-20, 20, 50, device=device)
    a = model.simulate(init, 200, 0.01, record_every=50, seed=4)
    b = model.simulate(init, 200, 0.01, record_every=50, seed=4)
    free = model.simulate(init, 200, 0.01, record_every=50, seed=4, wrap=False)
    assert a.shape == (5, 2, 50, 3) and torch.equal(a, b) and a.device.type == device.type
    box = torch.tensor([10.0, 12.0], device=device)
    assert bool((a[..., :2] >= -box / 2).all()) and bool((a[..., :2] < box / 2).all())
    assert bool((a[..., 2].abs() <= math.pi).all())
    # the unwrapped run is the same run: equal modulo the box and 2 pi
    delta = free[..., :2] - a[..., :2]
    assert torch.allclose(delta - box * torch.round(delta / box), torch.zeros_like(delta), atol=1e-3)
    assert torch.allclose(torch.cos(free[..., 2]), torch.cos(a[..., 2]), atol=1e-4)
    single = model.simulate(init[0], 10, 0.01, seed=4)
    assert single.shape == (11, 50, 3)


def test_sample_stationary_layout_and_particle_states(tmp_path):
    model = ActiveParticles("abp", box=(20.0, 20.0), v0=1.0, rotational_diffusion=2.0, epsilon=1.0,
                            force="wca")
    adata = model.sample_stationary(30, 4, dt=1e-3, burn_in=0.1, thin=0.05, n_replicas=2, seed=5)
    assert adata.n_obs == 8 and adata.obsm["positions"].shape == (8, 60)
    assert adata.obsm["orientations"].shape == (8, 60) and adata.obsm["active"].shape == (8, 30)
    assert list(adata.obs["replica"]) == [0] * 4 + [1] * 4
    np.testing.assert_allclose(adata.obs["time"][:4], 0.1 + 0.05 * np.arange(4))
    src = adata.uns["dynfer_source"]
    assert src["name"] == "active_particles" and src["seed"] == 5 and src["thin"] == pytest.approx(0.05)
    assert ActiveParticles.from_config(src["model"]) == model
    assert adata.uns["n_particles"] == 30 and adata.uns["dim"] == 2
    np.testing.assert_array_equal(adata.uns["box"], [20.0, 20.0])
    states = particle_states(adata, model)
    assert states.shape == (8, 30, 3)
    # without obsm["active"], theta comes from the directors, as for the LAMMPS dumps
    del adata.obsm["active"]
    np.testing.assert_allclose(particle_states(adata, model), states, atol=1e-12)
    adata.write_h5ad(tmp_path / "abp.h5ad")
    # the same seed gives the same frames
    again = model.sample_stationary(30, 4, dt=1e-3, burn_in=0.1, thin=0.05, n_replicas=2, seed=5)
    np.testing.assert_array_equal(again.obsm["positions"], adata.obsm["positions"])


def test_particle_states_refuses_data_that_do_not_fit_the_model():
    aoup = ActiveParticles("aoup", box=(20.0, 20.0), force="none")
    adata = aoup.sample_stationary(10, 2, dt=0.01, burn_in=0.1, thin=0.1, seed=0)
    with pytest.raises(BadInputError, match="box"):
        particle_states(adata, ActiveParticles("aoup", box=(30.0, 30.0), force="none"))
    with pytest.raises(BadInputError, match="active"):
        abp = ActiveParticles("abp", box=(20.0, 20.0), force="none")
        particle_states(adata, abp)
    with pytest.raises(BadInputError, match="dim"):
        particle_states(adata, ActiveParticles("aoup", box=(20.0, 20.0, 20.0), force="none"))
    del adata.obsm["active"]
    with pytest.raises(BadInputError, match="g"):
        particle_states(adata, aoup)


def test_free_space_trap_start_and_bad_arguments():
    model = ActiveParticles("aoup", box=None, trap=0.05, v0=0.3, gamma=0.1, epsilon=0.1, force="harmonic",
                            interaction_strength=2.5)
    adata = model.sample_stationary(64, 2, dt=1e-2, burn_in=1.0, thin=0.5, seed=1)
    assert np.isinf(adata.uns["box"]).all() and particle_states(adata, model).shape == (2, 64, 4)
    for kwargs in ({"dt": -1.0}, {"dt": float("nan")}, {"dt": 0.1, "thin": 0.0}, {"dt": 0.1, "n_replicas": 0},
                   {"dt": 1e-12}):
        with pytest.raises(BadInputError):
            model.sample_stationary(4, 2, **kwargs)
    with pytest.raises(BadInputError, match="initial"):
        model.simulate(torch.zeros(3, 5), 2, 0.1)
    with pytest.raises(BadInputError, match="n_particles"):
        model.simulate(None, 2, 0.1)
    # a diverging run is reported, not returned as NaN
    stiff = ActiveParticles("aoup", box=(20.0, 20.0), force="wca", force_params={"epsilon": 1e6}, v0=0.0)
    init = torch.zeros(1, 2, 4)
    init[0, 1, 0] = 0.3
    with pytest.raises(BadInputError, match="dt"):
        stiff.simulate(init, 5, 1.0)


def test_abp_drift_matches_the_lammps_forces(shared_data):
    # AMEP's LAMMPS ABP dump: (fx, fy) = WCA (lj/cut, epsilon 10, sigma 1, cutoff 1.122) + v0 mu with v0 = 100,
    # so the drift b_x must reproduce them up to the 6 significant digits the dump keeps
    from dynfer.io.activematter import read_lammps_dump
    from dynfer.processes.particles import cell_list_pairs

    adata = read_lammps_dump(shared_data / "abp_lammps_amep" / "dump250000.txt", dt=1e-5)
    model = ActiveParticles("abp", box=tuple(adata.uns["box"]), v0=100.0, rotational_diffusion=1.0, epsilon=1.0,
                            force="wca", force_params={"epsilon": 10.0, "sigma": 1.0, "cutoff": 1.122})
    state = torch.tensor(particle_states(adata, model))
    assert state.shape == (1, 4000, 3)
    directors = adata.obsm["orientations"].reshape(-1, 2)
    np.testing.assert_allclose(np.cos(state[0, :, 2].numpy()), directors[:, 0], atol=2e-6)  # |mu| has 6 digits
    got = model(state)[0, :, :2].numpy()
    want = np.asarray(adata.obsm["forces"]).reshape(-1, 2)
    # rounding bound: positions below 100 printed with 6 digits move by <= 5e-5 per coordinate, a pair's
    # displacement by <= 1.42e-4, so each pair force by <= (|f'| + f/r) * 1.42e-4; plus the printed force's own
    # rounding (5e-6 relative) and that of mu (100 * 5e-7)
    pairs = cell_list_pairs(state[..., :2], torch.tensor(model.box, dtype=torch.float64), model.pair_force.cutoff)
    r = pairs.distance
    stiff = (model.pair_force.derivative(r).abs() + model.pair_force.magnitude(r) / r).numpy()
    bound = np.zeros(4000)
    np.add.at(bound, pairs.i.numpy(), stiff)
    np.add.at(bound, pairs.j.numpy(), stiff)
    bound = bound * 1.42e-4 + 5e-6 * np.abs(want).max(1) + 100 * 5e-7 + 1e-6
    assert np.all(np.abs(got - want).max(1) <= bound)
