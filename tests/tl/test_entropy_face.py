"""tl.entropy_production and pl.entropy_map: results in uns, per-sample outputs in obsm, particle data (AOUP from
obsm['active'], ABP from the directors), h5ad round trip, the fingerprint, copy=, the map, and the score-free
baseline of free active particles against its closed form.

Closed form used (independent of the code): free AOUP in a periodic box, no forces. The stationary law is uniform in
x and g ~ N(0, I), D = diag(eps I_d, gamma I_d), b = (v0 g, -gamma g), so the score-free identity
E[|b|^2_{D^-1} + div b] = N d v0^2 / eps; per frame it is a sum of N d independent terms (v0^2/eps + gamma) g^2 -
gamma, of variance 2 (v0^2/eps + gamma)^2 each.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import dynfer
from dynfer import BadInputError
from dynfer.datasets.entropy_benchmarks import rotational_ou
from dynfer.processes.particles import ActiveParticles
from dynfer.tl import InputsChangedError

KEY = "entropy_production"
N, FRAMES, DIM = 12, 40, 2
V0, GAMMA, EPS = 1.0, 1.0, 0.5
ENTRY_KEYS = ("rate", "rate_stderr", "rate_lower_bound", "rate_lower_bound_stderr", "baselines", "diagnostics",
              "per_coordinate", "per_particle", "use_rep")


def _free(kind: str) -> ActiveParticles:
    return ActiveParticles(kind, box=(10.0, 10.0), v0=V0, gamma=GAMMA, rotational_diffusion=1.0, epsilon=EPS,
                           force="none", interaction_strength=0.0)


@pytest.fixture(scope="module")
def aoup() -> tuple[ActiveParticles, ad.AnnData]:
    model = _free("aoup")
    # default burn-in 20 / min(gamma, eps) = 40 and thin 1 / 0.5 = 2 time units: frames nearly independent
    return model, model.sample_stationary(N, FRAMES, dt=0.01, seed=0)


@pytest.fixture(scope="module")
def aoup_fitted(aoup) -> ad.AnnData:
    model, adata = aoup
    out = adata.copy()
    with dynfer.settings.override(progress=False):
        dynfer.tl.entropy_production(out, drift=model, model="gaussian", seed=0)
    return out


@pytest.fixture(scope="module")
def samples_fitted() -> tuple[ad.AnnData, object]:
    bench = rotational_ou()
    x = bench.sample(2000, seed=0)
    adata = ad.AnnData(x)
    adata.obsm["X_pca"] = x @ np.array([[0.6, -0.8], [0.8, 0.6]])  # a rotated copy: an embedding
    with dynfer.settings.override(progress=False):
        dynfer.tl.entropy_production(adata, drift=bench.A, diffusion=bench.D, model="gaussian", seed=0)
    return adata, bench


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------ results in uns and obsm


def test_sample_data_writes_results_and_per_sample_outputs(samples_fitted):
    adata, bench = samples_fitted
    entry = adata.uns[KEY]
    for name in ENTRY_KEYS:
        assert name in entry, name
    assert set(entry["baselines"]) == {"score_free", "gaussian", "gaussian_cross_fit", "equilibrium"}
    assert {"fpe_residual", "gap", "n_samples"} <= set(entry["diagnostics"])
    assert entry["use_rep"] == "X"
    assert adata.obsm[f"{KEY}_velocity"].shape == (2000, 2)
    assert adata.obsm[f"{KEY}_local"].shape == (2000, 1)
    # the stored outputs are those of the stored estimator
    est = dynfer.tl.load_estimator(adata, KEY)
    assert est.rate_ == entry["rate"] and est.rate_stderr_ == entry["rate_stderr"]
    assert est.rate_lower_bound_ == entry["rate_lower_bound"]
    np.testing.assert_allclose(adata.obsm[f"{KEY}_velocity"], est.velocity(adata.X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(adata.obsm[f"{KEY}_local"][:, 0], est.local_production(adata.X), rtol=1e-5,
                               atol=1e-6)
    # closed form 2 w^2 / mu; the Gaussian plug-in is unbiased up to O(d / n): 4 batch-means standard errors
    sigma = bench.entropy_production
    assert abs(entry["rate"] - sigma) < 4 * entry["rate_stderr"] + 2e-3 * sigma
    assert abs(float(np.mean(adata.obsm[f"{KEY}_local"])) - entry["rate"]) < 1e-5 * sigma


def test_sample_data_from_an_obsm_representation(samples_fitted):
    adata, bench = samples_fitted
    A = np.array([[0.6, -0.8], [0.8, 0.6]])  # y = x R: the drift of y is -R^T A R y
    out = dynfer.tl.entropy_production(adata, drift=A.T @ bench.A @ A, diffusion=1.0, use_rep="X_pca",
                                       model="gaussian", key_added="pca", copy=True)
    assert out.uns["pca"]["use_rep"] == "X_pca"
    assert out.obsm["pca_velocity"].shape == (2000, 2) and out.obsm["pca_local"].shape == (2000, 1)
    # a rotation leaves the rate unchanged (D = I is rotation invariant); the Gaussian fit is equivariant
    assert out.uns["pca"]["rate"] == pytest.approx(adata.uns[KEY]["rate"], rel=1e-4)


def test_particle_data_writes_per_particle_outputs(aoup_fitted):
    adata = aoup_fitted
    entry = adata.uns[KEY]
    for name in ENTRY_KEYS:
        assert name in entry, name
    assert entry["use_rep"] == "positions+active"
    velocity, local = adata.obsm[f"{KEY}_velocity"], adata.obsm[f"{KEY}_local"]
    assert velocity.shape == (FRAMES, N * 2 * DIM) and local.shape == (FRAMES, N)
    assert np.isfinite(velocity).all() and (local >= 0).all()
    assert np.asarray(entry["per_particle"]).shape == (N,)
    # the rate is the mean over frames of the summed local production of the particles
    assert float(local.sum(1).mean()) == pytest.approx(entry["rate"], rel=1e-5)
    # v_x = v0 g - eps s_x with s_x = 0 (uniform positions): the positional velocity is v0 g exactly
    v = velocity.reshape(FRAMES, N, 2 * DIM)
    g = adata.obsm["active"].reshape(FRAMES, N, DIM)
    np.testing.assert_allclose(v[..., :DIM], V0 * g, rtol=1e-5, atol=1e-5)


def test_score_free_baseline_of_free_aoup_matches_closed_form(aoup_fitted):
    entry = aoup_fitted.uns[KEY]
    sigma = N * DIM * V0**2 / EPS  # 48
    # per-frame standard deviation sqrt(2 N d) (v0^2 / eps + gamma); frames 2 time units apart are independent
    # to a correlation of exp(-2 gamma * 2) = 0.02 for g^2
    se_closed = math.sqrt(2 * N * DIM) * (V0**2 / EPS + GAMMA) / math.sqrt(FRAMES)
    sf = entry["baselines"]["score_free"]
    assert abs(sf["rate"] - sigma) < 4 * sf["stderr"], (sf, sigma)
    assert abs(sf["rate"] - sigma) < 4 * se_closed
    # 20 batch means: the standard error itself is known to ~16 % (1 / sqrt(2 * 19)); a factor 2 is > 6 sigma
    assert 0.5 * se_closed < sf["stderr"] < 2 * se_closed
    # the Gaussian plug-in: s_g = -g (fitted), s_x = 0, so e = v0^2 |g|^2 / eps, the same expectation
    assert abs(entry["rate"] - sigma) < 4 * entry["rate_stderr"]


def test_tiny_transformer_fit_on_particles(aoup):
    model, adata = aoup
    out = dynfer.tl.entropy_production(adata, drift=model, n_steps=5, k_neighbors=4, embed_dim=16, n_heads=2,
                                       n_blocks=1, seed=0, copy=True)
    entry = out.uns[KEY]
    assert str(entry["model"]) == "transformer" and str(entry["objective"]) == "dsm"
    assert math.isfinite(entry["rate"]) and entry["rate"] >= 0 and entry["rate_stderr"] >= 0
    assert math.isfinite(entry["rate_lower_bound"])
    assert out.obsm[f"{KEY}_velocity"].shape == (FRAMES, N * 2 * DIM)
    assert out.obsm[f"{KEY}_local"].shape == (FRAMES, N)
    est = dynfer.tl.load_estimator(out, KEY)
    states = np.concatenate([out.obsm["positions"].reshape(FRAMES, N, DIM),
                             out.obsm["active"].reshape(FRAMES, N, DIM)], axis=-1)
    np.testing.assert_allclose(est.velocity(states).reshape(FRAMES, -1), out.obsm[f"{KEY}_velocity"], rtol=1e-4,
                               atol=1e-5)


def test_abp_angle_from_the_directors_gives_the_same_result():
    model = _free("abp")
    adata = model.sample_stationary(N, FRAMES, dt=0.01, seed=1)
    with_active = dynfer.tl.entropy_production(adata, drift=model, model="gaussian", seed=0, copy=True)
    directors = adata.copy()
    del directors.obsm["active"]
    theta = np.arctan2(directors.obsm["orientations"].reshape(FRAMES, N, 2)[..., 1],
                       directors.obsm["orientations"].reshape(FRAMES, N, 2)[..., 0])
    np.testing.assert_allclose(np.cos(theta), np.cos(adata.obsm["active"]), atol=1e-12)
    dynfer.tl.entropy_production(directors, drift=model, model="gaussian", seed=0)
    entry = directors.uns[KEY]
    assert entry["use_rep"] == "positions+orientations"
    assert entry["rate"] == pytest.approx(with_active.uns[KEY]["rate"], rel=1e-6)
    np.testing.assert_allclose(directors.obsm[f"{KEY}_velocity"], with_active.obsm[f"{KEY}_velocity"], rtol=1e-5,
                               atol=1e-6)
    # the angle coordinate of the velocity state layout is theta = atan2(mu_y, mu_x)
    est = dynfer.tl.load_estimator(directors, KEY)
    states = np.concatenate([adata.obsm["positions"].reshape(FRAMES, N, 2), theta[..., None]], axis=-1)
    np.testing.assert_allclose(est.velocity(states).reshape(FRAMES, -1), directors.obsm[f"{KEY}_velocity"],
                               rtol=1e-5, atol=1e-6)


def test_abp_with_active_angles_works():
    model = _free("abp")
    adata = model.sample_stationary(N, 20, dt=0.01, seed=1)
    dynfer.tl.entropy_production(adata, drift=model, model="gaussian", seed=0)
    assert adata.obsm[f"{KEY}_velocity"].shape == (20, N * 3) and adata.obsm[f"{KEY}_local"].shape == (20, N)
    # score-free: D = diag(eps, eps, D_r), b = (v0 e, 0): E[|b|^2_{D^-1} + div b] = N v0^2 / eps exactly per frame
    sf = adata.uns[KEY]["baselines"]["score_free"]
    assert sf["rate"] == pytest.approx(N * V0**2 / EPS, rel=1e-5)


# ------------------------------------------------------------------ storage


def test_h5ad_round_trip(aoup_fitted, tmp_path):
    path = tmp_path / "epr.h5ad"
    aoup_fitted.write_h5ad(path)
    back = ad.read_h5ad(path)
    for name in ("rate", "rate_stderr", "rate_lower_bound"):
        assert float(back.uns[KEY][name]) == float(aoup_fitted.uns[KEY][name])
    assert float(back.uns[KEY]["baselines"]["score_free"]["rate"]) == \
        float(aoup_fitted.uns[KEY]["baselines"]["score_free"]["rate"])
    np.testing.assert_array_equal(back.obsm[f"{KEY}_local"], aoup_fitted.obsm[f"{KEY}_local"])
    est, ref = dynfer.tl.load_estimator(back, KEY), dynfer.tl.load_estimator(aoup_fitted, KEY)
    assert est.rate_ == ref.rate_ and est.drift == ref.drift
    states = np.concatenate([back.obsm["positions"].reshape(FRAMES, N, DIM),
                             back.obsm["active"].reshape(FRAMES, N, DIM)], axis=-1)
    np.testing.assert_allclose(est.velocity(states), ref.velocity(states), rtol=1e-6)
    assert isinstance(dynfer.pl.entropy_map(back, show=False), list)


def test_editing_positions_or_active_invalidates_the_stored_fit(aoup_fitted):
    for key in ("positions", "active"):
        edited = aoup_fitted.copy()
        edited.obsm[key] = edited.obsm[key] * 1.01
        with pytest.raises(InputsChangedError):
            dynfer.tl.load_estimator(edited, KEY, verify=True)
        with pytest.raises(InputsChangedError):
            dynfer.pl.entropy_map(edited, show=False)
        assert dynfer.tl.load_estimator(edited, KEY, verify=False).rate_ == aoup_fitted.uns[KEY]["rate"]
    dynfer.tl.load_estimator(aoup_fitted, KEY, verify=True)  # unedited: fine


def test_copy_leaves_the_input_untouched(aoup):
    model, adata = aoup
    before = (sorted(adata.uns), sorted(adata.obsm.keys()), adata.obsm["positions"].copy())
    out = dynfer.tl.entropy_production(adata, drift=model, model="gaussian", copy=True, key_added="fit")
    assert out is not adata and "fit" in out.uns and "fit_velocity" in out.obsm
    assert (sorted(adata.uns), sorted(adata.obsm.keys())) == before[:2]
    np.testing.assert_array_equal(adata.obsm["positions"], before[2])


def test_bad_face_inputs_raise_and_write_nothing(aoup):
    model, adata = aoup
    data = adata.copy()
    del data.obsm["active"]
    with pytest.raises(BadInputError, match="orientations|active"):
        dynfer.tl.entropy_production(data, drift=model, model="gaussian")
    data = adata.copy()
    data.obsm["active"] = data.obsm["active"][:, :-1]
    with pytest.raises(BadInputError, match="active"):
        dynfer.tl.entropy_production(data, drift=model, model="gaussian")
    data = adata.copy()
    data.uns["n_particles"] = N + 1
    with pytest.raises(BadInputError, match="positions"):
        dynfer.tl.entropy_production(data, drift=model, model="gaussian")
    with pytest.raises(BadInputError, match="use_rep"):
        dynfer.tl.entropy_production(adata.copy(), drift=model, use_rep="positions")
    with pytest.raises(BadInputError, match="n_step"):
        dynfer.tl.entropy_production(adata.copy(), drift=model, n_step=3)
    assert KEY not in data.uns and f"{KEY}_local" not in data.obsm


# ------------------------------------------------------------------ the map


def _histogram(points: np.ndarray, weights: np.ndarray, bins: int, rng=None):
    count, xe, ye = np.histogram2d(points[:, 0], points[:, 1], bins=bins, range=rng)
    total, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[xe, ye], weights=weights)
    area = np.diff(xe)[:, None] * np.diff(ye)[None, :]
    return count / len(points) / area, total / len(points) / area


def test_map_of_sample_data_on_an_embedding(samples_fitted, tmp_path):
    adata, _ = samples_fitted
    path = tmp_path / "map.png"
    fig = dynfer.pl.entropy_map(adata, basis="X_pca", components=(2, 1), bins=16, return_fig=True, show=False,
                                save=path)
    assert isinstance(fig, Figure) and path.exists() and path.stat().st_size > 0
    density_ax, production_ax = fig.axes[0], fig.axes[1]  # the two colour bars come after the panels
    assert density_ax.get_xlabel() == "PC2" and density_ax.get_ylabel() == "PC1"  # scanpy's axis names
    pts = adata.obsm["X_pca"][:, [1, 0]]
    density, production = _histogram(pts, adata.obsm[f"{KEY}_local"][:, 0], 16)
    np.testing.assert_allclose(np.asarray(density_ax.images[0].get_array()), density.T, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(production_ax.images[0].get_array()), production.T, rtol=1e-10)
    # the production panel integrates to the rate (all points are inside the data range)
    area = (np.ptp(pts[:, 0]) / 16) * (np.ptp(pts[:, 1]) / 16)
    assert float(production.sum() * area) == pytest.approx(adata.uns[KEY]["rate"], rel=1e-5)


def test_map_of_particles_into_given_axes_for_some_frames(aoup_fitted):
    fig, axes = plt.subplots(1, 2)
    frames = np.arange(10)
    out = dynfer.pl.entropy_map(aoup_fitted, frames=frames, bins=8, ax=list(axes), show=False)
    assert out == list(axes) and all(isinstance(a, Axes) for a in out)
    pos = aoup_fitted.obsm["positions"].reshape(FRAMES, N, DIM)[frames].reshape(-1, DIM)
    local = aoup_fitted.obsm[f"{KEY}_local"][frames].reshape(-1)
    density, production = _histogram(pos, local, 8, rng=[(-5.0, 5.0), (-5.0, 5.0)])
    np.testing.assert_allclose(np.asarray(axes[0].images[0].get_array()), density.T, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(axes[1].images[0].get_array()), production.T, rtol=1e-10)
    # over the whole box the production density integrates to the mean local production per particle
    assert float(production.sum() * (10 / 8) ** 2) == pytest.approx(local.mean(), rel=1e-6)
    # a boolean mask selects the same frames
    fig2, axes2 = plt.subplots(1, 2)
    dynfer.pl.entropy_map(aoup_fitted, frames=np.arange(FRAMES) < 10, bins=8, ax=axes2, show=False)
    np.testing.assert_array_equal(axes2[1].images[0].get_array(), axes[1].images[0].get_array())


def test_map_bad_arguments_raise(aoup_fitted, samples_fitted):
    adata, _ = samples_fitted
    for data in (aoup_fitted, adata):
        for components in ((0, 1), (1,), (1, 2, 3), (1, 9), "ab", (1.5, 2)):
            with pytest.raises(BadInputError, match="components"):
                dynfer.pl.entropy_map(data, components=components, show=False)
        for frames in ([], [FRAMES * 100], "x", [0.5], np.zeros(3, dtype=bool)):
            with pytest.raises(BadInputError, match="frames"):
                dynfer.pl.entropy_map(data, frames=frames, show=False)
        _, grid = plt.subplots(1, 3)
        for ax in (grid[0], grid, ["a", "b"]):
            with pytest.raises(BadInputError, match="ax"):
                dynfer.pl.entropy_map(data, ax=ax, show=False)
    with pytest.raises(BadInputError, match="basis"):
        dynfer.pl.entropy_map(aoup_fitted, basis="X_pca", show=False)
    with pytest.raises(BadInputError, match="missing"):
        dynfer.pl.entropy_map(adata, key="missing", show=False)


def test_entropy_grid_and_save_refuse_bad_input(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from dynfer.pl._entropy_production import entropy_grid

    rng = np.random.default_rng(0)
    pts, loc = rng.normal(size=(50, 2)), rng.random(50)
    grid = entropy_grid(pts, loc, bins=5)
    area = np.diff(grid["x_edges"])[:, None] * np.diff(grid["y_edges"])[None, :]
    assert abs((grid["production_density"] * area).sum() - loc.mean()) < 1e-12
    for bad in ({"points": pts[:, :1]}, {"local": loc[:-1]}, {"points": np.full((50, 2), np.nan)},
                {"bins": 1}, {"edges": [[1, 0], [0, 1]]}):
        kwargs = {"points": pts, "local": loc, **bad}
        with pytest.raises(BadInputError):
            entropy_grid(kwargs.pop("points"), kwargs.pop("local"), **kwargs)
    adata = ad.AnnData(rng.normal(size=(60, 2)))
    dynfer.tl.entropy_production(adata, drift=np.eye(2), diffusion=1.0, model="gaussian")
    with pytest.raises(BadInputError, match="save.*does not exist"):
        dynfer.pl.entropy_map(adata, show=False, save=tmp_path / "missing" / "map.png")
    with pytest.raises(BadInputError, match="save"):
        dynfer.pl.entropy_map(adata, show=False, save=tmp_path / "map.xyz")
