"""ActiveParticles: drift against an independent numpy all-pairs drift, divergence against autograd, storage, checks."""

import math

import numpy as np
import pytest
import torch

from dynfer import BadInputError
from dynfer.processes import ActiveParticles, Drift
from dynfer.processes.drifts import get_drift_class


def _numpy_drift(model, state):
    """b of the module docstring, by explicit loops over pairs (float64 numpy, independent of the torch code)."""
    n_frames, n, _ = state.shape
    d = model.dim
    out = np.zeros_like(state)
    a, beta = model.force_params.get("radius", 1.0), model.force_params.get("beta", 7.5)
    box = None if model.box is None else np.array(model.box)
    for f in range(n_frames):
        x = state[f, :, :d]
        act = state[f, :, d:]
        e = act if model.kind == "aoup" else np.concatenate([np.cos(act), np.sin(act)], axis=-1)
        force = np.zeros((n, d))
        for i in range(n):
            for j in range(n):
                delta = x[i] - x[j]
                if box is not None:
                    delta -= box * np.round(delta / box)
                r = np.linalg.norm(delta)
                if i == j or r >= model.pair_force.cutoff:
                    continue
                if model.force == "softplus":
                    mag = np.log1p(np.exp(beta * (2 * a - r))) / beta
                elif model.force == "harmonic":
                    mag = max(2 * a - r, 0.0)
                else:
                    eps, sig = model.force_params["epsilon"], model.force_params["sigma"]
                    mag = 24 * eps / r * (2 * (sig / r) ** 12 - (sig / r) ** 6)
                force[i] += mag * delta / r
        wrapped = x if box is None else x - box * np.round(x / box)
        out[f, :, :d] = model.v0 * e + model.mobility * (model.interaction_strength * force - model.trap * wrapped)
        out[f, :, d:] = -model.gamma * act if model.kind == "aoup" else 0.0
    return out


def _state(model, n, frames, seed, spread=1.0):
    rng = np.random.default_rng(seed)
    d = model.dim
    half = np.array(model.box) / 2 if model.box is not None else np.full(d, 4.0)
    x = rng.uniform(-1, 1, size=(frames, n, d)) * half * spread
    act = rng.normal(size=(frames, n, model.n_active)) if model.kind == "aoup" else \
        rng.uniform(-math.pi, math.pi, size=(frames, n, 1))
    return np.concatenate([x, act], axis=-1)


MODELS = [
    {"kind": "aoup", "box": (12.0, 14.0), "v0": 0.7, "gamma": 0.3, "interaction_strength": 1.3,
     "force": "softplus", "trap": 0.2},
    {"kind": "aoup", "box": None, "v0": 0.3, "gamma": 0.1, "epsilon": 0.1, "interaction_strength": 2.5,
     "force": "harmonic", "trap": 0.05},
    {"kind": "abp", "box": (9.0, 9.0), "v0": 2.0, "rotational_diffusion": 1.0, "epsilon": 1.0, "force": "wca",
         "force_params": {"epsilon": 1.0, "sigma": 1.0}, "mobility": 0.5},
    {"kind": "aoup", "box": (10.0, 10.0, 11.0), "v0": 1.0, "force": "harmonic", "force_params": {"radius": 0.8}},
    {"kind": "aoup", "box": (30.0,), "v0": -0.5, "force": "softplus", "trap": 0.3},
]


@pytest.mark.parametrize("params", MODELS)
def test_drift_matches_numpy_all_pairs(params):
    model = ActiveParticles(**params)
    state = _state(model, 40, 2, seed=1, spread=0.8)
    if model.force == "wca":  # keep WCA pairs apart (its force is singular at contact)
        state[..., :2] = np.stack(np.meshgrid(np.arange(7), np.arange(7)), -1).reshape(-1, 2)[:40] * 1.05 - 3.5
        state[..., :2] += np.random.default_rng(0).uniform(-0.04, 0.04, size=(2, 40, 2))
    want = _numpy_drift(model, state)
    got = model(torch.tensor(state)).numpy()  # small N: the dense sum ("auto")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    cells = model.position_drift(torch.tensor(state), method="cells").numpy()
    np.testing.assert_allclose(cells, want[..., : model.dim], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("params", MODELS)
def test_divergence_matches_autograd_per_coordinate(params):
    model = ActiveParticles(**params)
    state = torch.tensor(_state(model, 12, 2, seed=2, spread=0.4))
    if model.force == "wca":
        state[..., :2] = torch.tensor(np.stack(np.meshgrid(np.arange(4), np.arange(3)), -1).reshape(-1, 2) * 1.05
                                      - 1.5)[None]
    c = model.n_coords
    x = state.clone().requires_grad_(True)
    b = model(x)
    diag = torch.zeros(2, 12, c, dtype=torch.float64)  # exact diagonal: one backward pass per (particle, coord)
    for i in range(12):
        for k in range(c):
            (g,) = torch.autograd.grad(b[:, i, k].sum(), x, retain_graph=True)
            diag[:, i, k] = g[:, i, k]
    for coords in (None, list(model.position_coords), list(model.active_coords), [0], [c - 1, 0]):
        ks = list(range(c)) if coords is None else coords
        want = diag[..., ks].sum(dim=(1, 2))
        np.testing.assert_allclose(model.divergence(state, coords).numpy(), want.numpy(), rtol=1e-9, atol=1e-9)


def test_layout_diffusion_and_config_round_trip():
    aoup = ActiveParticles("aoup", box=(20.0, 20.0), gamma=0.1, epsilon=0.2)
    assert aoup.n_coords == 4 and aoup.position_coords == (0, 1) and aoup.active_coords == (2, 3)
    np.testing.assert_allclose(aoup.diffusion(dtype=torch.float64).numpy(), [0.2, 0.2, 0.1, 0.1])
    abp = ActiveParticles("abp", box=(20.0, 20.0), rotational_diffusion=3.0, epsilon=1.0)
    assert abp.n_coords == 3 and abp.active_coords == (2,)
    np.testing.assert_allclose(abp.diffusion(dtype=torch.float64).numpy(), [1.0, 1.0, 3.0])
    for model in (aoup, abp, ActiveParticles(**MODELS[1])):
        config = model.config()
        assert ActiveParticles.from_config(config) == model
        assert get_drift_class("ActiveParticles") is ActiveParticles and isinstance(model, Drift)
        assert model.event_dims == 2
        assert all(isinstance(v, (str, float, int, tuple, dict, type(None))) for v in config.values())
    assert ActiveParticles.from_config({**aoup.config(), "box": [20.0, 20.0]}) == aoup


def test_drift_follows_device_and_dtype(device):
    model = ActiveParticles(**MODELS[0])
    state = torch.tensor(_state(model, 30, 2, seed=3), dtype=torch.float32, device=device)
    b = model(state)
    assert b.shape == state.shape and b.device.type == device.type and b.dtype == torch.float32
    assert model.divergence(state).shape == (2,)


@pytest.mark.parametrize("kwargs,where", [
    ({"kind": "rtp"}, "kind"), ({"v0": float("nan")}, "v0"), ({"gamma": 0.0}, "gamma"),
    ({"gamma": -1.0}, "gamma"), ({"epsilon": -0.1}, "epsilon"), ({"trap": -1.0}, "trap"),
    ({"box": (5.0, 5.0)}, "box"), ({"box": (20.0, -1.0)}, "box"), ({"box": None}, "box"),
    ({"box": (20.0, 20.0), "dim": 3}, "box"), ({"kind": "abp", "box": (20.0, 20.0, 20.0)}, "dim"),
    ({"force": "lj"}, "force"), ({"force_params": {"sigma": 1.0}}, "force_params"),
    ({"mobility": 0.0}, "mobility"), ({"interaction_strength": float("inf")}, "interaction_strength"),
    ({"box": "20"}, "box"), ({"rotational_diffusion": -2.0}, "rotational_diffusion"),
])
def test_bad_parameters_name_the_argument(kwargs, where):
    params = {"box": (20.0, 20.0), **kwargs}
    with pytest.raises(BadInputError) as info:
        ActiveParticles(**params)
    assert where in str(info.value)


def test_small_box_is_fine_without_interactions_and_bad_states_are_refused():
    assert ActiveParticles(box=(1.0, 1.0), force="none").box == (1.0, 1.0)
    model = ActiveParticles(box=(20.0, 20.0))
    for bad in (torch.zeros(3, 5, 3), torch.zeros(5, 4), torch.zeros(2, 0, 4)):
        with pytest.raises(BadInputError, match=r"\(n, N, 4\)"):
            model(bad)
    with pytest.raises(BadInputError, match="NaN"):
        model(torch.full((1, 3, 4), float("nan")))
    with pytest.raises(BadInputError, match="coords"):
        model.divergence(torch.zeros(1, 3, 4), [4])
    # coincident particles exert no force: finite drift and divergence
    b = model(torch.zeros(1, 3, 4, dtype=torch.float64))
    assert bool(torch.isfinite(b).all()) and bool(torch.isfinite(model.divergence(torch.zeros(1, 3, 4))).all())
