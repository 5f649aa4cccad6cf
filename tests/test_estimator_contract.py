"""The estimator contract, held for every estimator and every AnnData face.

Each estimator adds one ``EstimatorCase`` to ``ESTIMATORS`` and one ``FaceCase`` to ``FACES``; every test below then
runs on it. The cases are small and fast (seconds each).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.sparse as sp
import torch

import dynfer
from dynfer.estimators import Estimator, NotFittedError
from dynfer.estimators.bridges import SchrodingerBridge
from dynfer.estimators.entropy import ScoreEntropyProduction
from dynfer.estimators.mjp import FoundationMJP, MJPMaximumLikelihood
from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData
from dynfer.estimators.srrw import SelfRepellentSGD
from dynfer.processes import OTConvergenceWarning
from dynfer.tl import InputsChangedError


# ---------------------------------------------------------------------------------------------------------- cases
@dataclass
class EstimatorCase:
    """An estimator class with tiny data: how to build, fit and read its outputs."""

    name: str
    cls: type[Estimator]
    params: dict[str, Any]  # constructor arguments of a small, fast fit
    fit: Callable[[Estimator], Estimator]  # est -> est.fit(small data)
    outputs: Callable[[Estimator], list[np.ndarray]]  # deterministic given their own seeds
    bad_param: tuple[str, Any]  # a value the constructor stores but fit refuses
    seeded: bool = True  # False: a deterministic estimator, which has no seed parameter


@dataclass
class FaceCase:
    """An AnnData face: fit function, its defaults, every consumer, and the matching array-level computation."""

    name: str
    make_adata: Callable[[], ad.AnnData]
    fit: Callable[..., ad.AnnData | None]
    kwargs: dict[str, Any]
    key: str
    consumers: Callable[[ad.AnnData, str], list[np.ndarray]]  # tl/pl functions that read uns[key]
    direct: Callable[[ad.AnnData, dict[str, Any]], Estimator]  # the array class fitted on the same rows
    direct_outputs: Callable[[Estimator], list[np.ndarray]]  # what consumers()[0] computes, from an estimator
    bad_kwargs: dict[str, Any] = field(default_factory=dict)
    seeded: bool = True
    # an edit of the data the fit read, and the InputsChangedError it must raise (default: X rescaled)
    change: Callable[[ad.AnnData], ad.AnnData] | None = None
    change_match: str = "values of the representation"


def _bridge_snapshots() -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=(12, 2)) + k for k in range(3)], np.array([0.0, 1.0, 2.0])


def _bridge_adata() -> ad.AnnData:
    xs, t = _bridge_snapshots()
    adata = ad.AnnData(np.concatenate(xs).astype(np.float32))
    adata.obs["time"] = np.repeat(t, [len(x) for x in xs])
    adata.obs_names = [f"cell{i}" for i in range(adata.n_obs)]
    return adata


def _bridge_outputs(est: SchrodingerBridge) -> list[np.ndarray]:
    return [np.concatenate(est.sample([0.5, 1.5], n=8, seed=3))]


def _bridge_consumers(adata: ad.AnnData, key: str) -> list[np.ndarray]:
    out = [np.asarray(dynfer.tl.interpolate(adata, [0.5, 1.5], key=key, n=8, seed=3).X)]
    ax = dynfer.pl.schrodinger_bridge(adata, key=key, n_paths=4, n_times=5, seed=2, show=False)
    out += [np.asarray(line.get_xydata()) for line in ax.lines]
    plt.close(ax.figure)
    return out


def _bridge_direct(adata: ad.AnnData, kwargs: dict[str, Any]) -> SchrodingerBridge:
    t = adata.obs["time"].to_numpy()
    x = np.asarray(adata.X.toarray() if sp.issparse(adata.X) else adata.X, dtype=np.float64)
    times = np.unique(t)
    return SchrodingerBridge(**kwargs).fit([x[t == tt] for tt in times], times)


BRIDGE_PARAMS = {"reference": "linear", "sigma": 0.3, "n_iter": 2, "seed": 0}


def _mjp_adata() -> ad.AnnData:
    adata = dynfer.datasets.flashing_ratchet_paths(n_paths=20, n_times=12, seed=0)
    adata.obs_names = [f"obs{i}" for i in range(adata.n_obs)]
    return adata


def _mjp_arrays() -> tuple[np.ndarray, np.ndarray]:
    adata = _mjp_adata()
    return adata.obs["state"].to_numpy().reshape(20, 12), adata.obs["time"].to_numpy().reshape(20, 12)


def _mjp_outputs(est: Estimator) -> list[np.ndarray]:
    res = est.results()
    return [res["rate_matrix"], res["log_rate_std"], res["initial_distribution"]]


def _mjp_rates(est: Estimator) -> list[np.ndarray]:
    return [est.results()["rate_matrix"]]


def _mjp_consumers(adata: ad.AnnData, key: str) -> list[np.ndarray]:
    ax = dynfer.pl.mjp_histograms(adata, key=key, n_paths=40, seed=1, show=False)
    lines = [np.asarray(line.get_xydata()) for line in ax.lines]
    plt.close(ax.figure)
    ax = dynfer.pl.mjp_graph(adata, key=key, show=False)
    arrows = [np.asarray([p.get_linewidth() for p in ax.patches])]
    plt.close(ax.figure)
    return _mjp_rates(dynfer.tl.load_estimator(adata, key)) + lines + arrows


def _mjp_direct(cls: type[Estimator]) -> Callable[[ad.AnnData, dict[str, Any]], Estimator]:
    def direct(adata: ad.AnnData, kwargs: dict[str, Any]) -> Estimator:
        params = {k: v for k, v in kwargs.items() if k != "method"}
        return cls(**params).fit(*_mjp_arrays())
    return direct


def _edit_times(adata: ad.AnnData) -> ad.AnnData:
    adata.obs["time"] = adata.obs["time"] * 10
    return adata


ROTATION = np.array([[1.3, -0.7], [0.7, 1.3]])  # rotational OU: Sigma = I / 1.3


def _epr_samples() -> np.ndarray:
    return (np.random.default_rng(0).normal(size=(60, 2)) / np.sqrt(1.3)).astype(np.float32)


def _epr_adata() -> ad.AnnData:
    adata = ad.AnnData(_epr_samples())
    adata.obs_names = [f"s{i}" for i in range(adata.n_obs)]
    return adata


def _epr_outputs(est: Estimator) -> list[np.ndarray]:
    x = _epr_samples()[:7]
    return [est.velocity(x), est.score(x)]


def _epr_velocity(est: Estimator) -> list[np.ndarray]:
    return [est.velocity(_epr_samples())]


def _epr_consumers(adata: ad.AnnData, key: str) -> list[np.ndarray]:
    axes = dynfer.pl.entropy_map(adata, key=key, bins=6, show=False)
    images = [np.asarray(a.get_images()[0].get_array()) for a in axes]
    plt.close(axes[0].figure)
    est = dynfer.tl.load_estimator(adata, key)
    x = np.asarray(adata.X.toarray() if sp.issparse(adata.X) else adata.X)
    return [est.velocity(x)] + images


def _epr_direct(adata: ad.AnnData, kwargs: dict[str, Any]) -> Estimator:
    x = np.asarray(adata.X.toarray() if sp.issparse(adata.X) else adata.X)
    return ScoreEntropyProduction(**kwargs).fit(x)


EPR_PARAMS = {"drift": dynfer.processes.LinearDrift(ROTATION), "diffusion": 1.0, "n_steps": 20, "hidden": (8,),
              "seed": 0}
MLE_PARAMS = {"max_iter": 200}
FOUNDATION_PARAMS = {"weights": "default"}

def _policy_arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.zeros((6, 21))
    for j in range(20):
        x[:, j + 1] = 0.95 * x[:, j] + np.sqrt(0.05) * rng.normal(size=6)
    return np.tile(np.arange(21) * 0.05, (6, 1)), x


def _policy_data() -> PolicyData:
    t, x = _policy_arrays()
    return PolicyData(t, x, x**2)


def _policy_outputs(est: Estimator) -> list[np.ndarray]:
    return [est.value(np.linspace(0.0, 1.0, 5), np.linspace(-1.0, 1.0, 5))]


def _policy_adata() -> ad.AnnData:
    t, x = _policy_arrays()
    adata = ad.AnnData(x.reshape(-1, 1))
    adata.obs_names = [f"s{i}" for i in range(adata.n_obs)]
    adata.obs["time"] = t.reshape(-1)
    adata.obs["trajectory"] = np.repeat(np.arange(6), 21).astype(str)
    adata.obs["reward"] = x.reshape(-1) ** 2
    return adata


def _policy_rows(adata: ad.AnnData) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(adata.X.toarray() if sp.issparse(adata.X) else adata.X, dtype=np.float64)
    return adata.obs["time"].to_numpy(dtype=np.float64), x


def _policy_direct(adata: ad.AnnData, kwargs: dict[str, Any]) -> Estimator:
    t, x = _policy_rows(adata)
    r = adata.obs["reward"].to_numpy(dtype=np.float64)
    return MartingalePolicyEvaluation(**kwargs).fit(PolicyData(t.reshape(6, 21), x.reshape(6, 21), r.reshape(6, 21)))


def _policy_direct_outputs(est: Estimator) -> list[np.ndarray]:
    return [est.value(*_policy_rows(_policy_adata()))]


def _policy_consumers(adata: ad.AnnData, key: str) -> list[np.ndarray]:
    out = [dynfer.tl.policy_value(adata, key=key)]
    ax = dynfer.pl.policy_value(adata, key=key, show=False)
    out += [np.asarray(line.get_xydata()) for line in ax.lines]
    plt.close(ax.figure)
    return out


POLICY_PARAMS = {"method": "lstd", "discount": 0.5, "seed": 0}
POLICY_MLP_PARAMS = {"method": "td", "features": "mlp", "hidden": (8,), "n_epochs": 5, "discount": 0.5, "seed": 0}


def _srrw_problem():
    import networkx as nx

    rng = np.random.default_rng(0)
    x = rng.normal(size=(68, 3))
    return nx.karate_club_graph(), x, x @ np.array([1.0, -1.0, 0.5]) + 0.1 * rng.normal(size=68)


def _srrw_outputs(est: Estimator) -> list[np.ndarray]:
    res = est.results()
    return [res["theta"], res["mse"], res["covariance"]]


SRRW_PARAMS = {"alpha": 5.0, "n_steps": 200, "n_runs": 4, "seed": 0}

ESTIMATORS = [
    EstimatorCase("schrodinger_bridge", SchrodingerBridge, BRIDGE_PARAMS,
                  lambda est: est.fit(*_bridge_snapshots()), _bridge_outputs, ("p_step", "sinkhorn")),
    EstimatorCase("mjp_mle", MJPMaximumLikelihood, MLE_PARAMS, lambda est: est.fit(*_mjp_arrays()), _mjp_outputs,
                  ("label_noise", "nope"), seeded=False),
    EstimatorCase("mjp_foundation", FoundationMJP, FOUNDATION_PARAMS, lambda est: est.fit(*_mjp_arrays()),
                  _mjp_outputs, ("weights", 3), seeded=False),
    EstimatorCase("entropy_production", ScoreEntropyProduction, EPR_PARAMS, lambda est: est.fit(_epr_samples()),
                  _epr_outputs, ("objective", "nope")),
    EstimatorCase("entropy_production_cross_fit", ScoreEntropyProduction, {**EPR_PARAMS, "cross_fit": True},
                  lambda est: est.fit(_epr_samples()), _epr_outputs, ("cross_fit", "yes")),
    EstimatorCase("policy_evaluation", MartingalePolicyEvaluation, POLICY_PARAMS,
                  lambda est: est.fit(_policy_data()), _policy_outputs, ("method", "nope")),
    EstimatorCase("policy_evaluation_mlp", MartingalePolicyEvaluation, POLICY_MLP_PARAMS,
                  lambda est: est.fit(_policy_data()), _policy_outputs, ("lam", 2.0)),
    # SA-SRRW has no AnnData face (tl.srrw_optimize takes a graph and arrays), so no FaceCase
    EstimatorCase("srrw_sgd", SelfRepellentSGD, SRRW_PARAMS, lambda est: est.fit(*_srrw_problem()), _srrw_outputs,
                  ("theta_exponent", 0.3)),
]

FACES = [
    FaceCase("schrodinger_bridge", _bridge_adata, dynfer.tl.schrodinger_bridge, dict(BRIDGE_PARAMS),
             "schrodinger_bridge", _bridge_consumers, _bridge_direct, _bridge_outputs,
             bad_kwargs={"p_step": "nope"}),
    FaceCase("mjp", _mjp_adata, dynfer.tl.mjp, {"method": "mle", **MLE_PARAMS}, "mjp", _mjp_consumers,
             _mjp_direct(MJPMaximumLikelihood), _mjp_rates, bad_kwargs={"max_iter": 0}, seeded=False,
             change=_edit_times, change_match="values of the obs column"),
    FaceCase("mjp_foundation", _mjp_adata, dynfer.tl.mjp, {"method": "foundation", **FOUNDATION_PARAMS}, "mjp",
             _mjp_consumers, _mjp_direct(FoundationMJP), _mjp_rates, bad_kwargs={"dtype": "int64"},
             seeded=False, change=_edit_times, change_match="values of the obs column"),
    FaceCase("entropy_production", _epr_adata, dynfer.tl.entropy_production, dict(EPR_PARAMS), "entropy_production",
             _epr_consumers, _epr_direct, _epr_velocity, bad_kwargs={"objective": "nope"}),
    FaceCase("policy_evaluation", _policy_adata, dynfer.tl.policy_evaluation, dict(POLICY_PARAMS),
             "policy_evaluation", _policy_consumers, _policy_direct, _policy_direct_outputs,
             bad_kwargs={"method": "nope"}),
]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OTConvergenceWarning)  # tiny float32 problems
        yield


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def _uns_snapshot(adata: ad.AnnData) -> tuple:
    x = adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)
    return (x.copy(), adata.obs.copy(), sorted(adata.uns), adata.obs_names.tolist())


# ---------------------------------------------------------------------------------------------- array-level class
@pytest.mark.parametrize("case", ESTIMATORS, ids=lambda c: c.name)
class TestEstimatorContract:
    def test_constructor_stores_arguments_and_get_params_round_trips(self, case):
        est = case.cls(**case.params)
        params = est.get_params()
        for k, v in case.params.items():
            assert params[k] is v
        clone = case.cls(**params)
        assert clone.get_params() == params
        assert est.clone().get_params() == params
        name, value = case.bad_param
        assert est.set_params(**{name: value}) is est and getattr(est, name) == value
        with pytest.raises(TypeError, match="unexpected keyword"):
            est.set_params(no_such_parameter=1)

    def test_validation_happens_in_fit_and_names_the_parameter(self, case):
        name, value = case.bad_param
        est = case.cls(**{**case.params, name: value})  # stored as given
        assert getattr(est, name) == value
        with pytest.raises(ValueError, match=name):
            case.fit(est)

    def test_unfitted_use_raises_not_fitted(self, case, tmp_path):
        est = case.cls(**case.params)
        for call in (lambda: case.outputs(est), est.state_dict, lambda: est.save(tmp_path / "m.pt")):
            with pytest.raises(NotFittedError, match="not fitted"):
                call()
        assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)

    def test_fit_returns_self_and_sets_learned_attributes(self, case):
        est = case.cls(**case.params)
        assert case.fit(est) is est
        assert est.is_fitted
        assert all(a.endswith("_") and hasattr(est, a) for a in case.cls.fitted_attributes)

    def test_seed_none_means_settings_seed_and_is_recorded(self, case):
        if not case.seeded:  # deterministic: no seed parameter, and two fits agree exactly
            assert "seed" not in case.cls(**case.params).get_params()
            _same(case.outputs(case.fit(case.cls(**case.params))), case.outputs(case.fit(case.cls(**case.params))))
            return
        with dynfer.settings.override(seed=7):
            est = case.fit(case.cls(**{**case.params, "seed": None}))
        assert est.seed_ == 7
        _same(case.outputs(est), case.outputs(case.fit(case.cls(**{**case.params, "seed": 7}))))

    def test_generator_seed_is_accepted_and_resolved(self, case):
        if not case.seeded:
            with pytest.raises(TypeError, match="unexpected keyword"):
                case.cls(**case.params, seed=0)
            return
        gen = torch.Generator().manual_seed(11)
        est = case.fit(case.cls(**{**case.params, "seed": gen}))
        expected = int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(11)))
        assert est.seed_ == expected
        assert est.stored_params()["seed"] == expected

    def test_bad_seed_is_refused(self, case):
        if not case.seeded:
            return  # no seed parameter (checked above)
        with pytest.raises(ValueError, match="seed"):
            case.fit(case.cls(**{**case.params, "seed": "a"}))

    def test_dtype_is_stored_and_device_is_not(self, case):
        est = case.fit(case.cls(**{**case.params, "dtype": torch.float64, "device": "cpu"}))
        stored = est.stored_params()
        assert stored["dtype"] is torch.float64 and est.dtype_ is torch.float64
        assert "device" not in stored

    def test_state_is_plain_data_and_from_state_rebuilds_without_fitting(self, case, monkeypatch):
        est = case.fit(case.cls(**case.params))
        state = est.state_dict()

        def leaves(d):
            for v in d.values():
                yield from leaves(v) if isinstance(v, dict) else [v]

        assert all(isinstance(v, (np.ndarray, bool, int, float, str)) for v in leaves(state))
        monkeypatch.setattr(case.cls, "fit", lambda *a, **k: pytest.fail("from_state must not fit"))
        back = case.cls.from_state(est.stored_params(), state)
        _same(case.outputs(back), case.outputs(est))

    def test_save_load_round_trip(self, case, tmp_path, monkeypatch):
        est = case.fit(case.cls(**case.params))
        path = est.save(tmp_path / "sub" / "model.pt")
        assert path.is_file() and not list(path.parent.glob(".*tmp"))
        payload = torch.load(path, weights_only=True)  # safe to load: plain data only
        assert payload["estimator"] == case.cls.__name__
        monkeypatch.setattr(case.cls, "fit", lambda *a, **k: pytest.fail("load must not fit"))
        _same(case.outputs(case.cls.load(path)), case.outputs(est))
        _same(case.outputs(Estimator.load(path)), case.outputs(est))

    def test_load_refuses_other_files(self, case, tmp_path):
        junk = tmp_path / "junk.pt"
        torch.save({"format": "something else"}, junk)
        with pytest.raises(ValueError, match="not a dynfer estimator file"):
            case.cls.load(junk)
        (tmp_path / "text.pt").write_text("not a torch file")
        with pytest.raises(ValueError, match="could not read"):
            case.cls.load(tmp_path / "text.pt")

        class Other(Estimator):
            fitted_attributes = ("w_",)

            def __init__(self, seed=None):
                self.seed = seed

            def _get_state(self):
                return {"w": np.ones(2), "seed": self.seed_}

            def _set_state(self, state):
                self.w_ = np.asarray(state["w"])
                self.seed_ = int(state["seed"])

        other = Other()
        other.w_, other.seed_ = np.ones(2), 0
        other.save(tmp_path / "other.pt")
        with pytest.raises(ValueError, match=f"not a {case.cls.__name__}"):
            case.cls.load(tmp_path / "other.pt")


# ---------------------------------------------------------------------------------------------------- AnnData face
@pytest.mark.parametrize("case", FACES, ids=lambda c: c.name)
class TestFaceContract:
    def test_returns_none_unless_copy(self, case):
        adata = case.make_adata()
        before = _uns_snapshot(adata)
        assert case.fit(adata, **case.kwargs) is None
        assert case.key in adata.uns
        fresh = case.make_adata()
        out = case.fit(fresh, copy=True, **case.kwargs)
        assert isinstance(out, ad.AnnData) and case.key in out.uns
        assert case.key not in fresh.uns
        np.testing.assert_array_equal(_uns_snapshot(fresh)[0], before[0])

    def test_input_untouched_after_failure(self, case):
        adata = case.make_adata()
        before = _uns_snapshot(adata)
        with pytest.raises(ValueError):
            case.fit(adata, **{**case.kwargs, **case.bad_kwargs})
        after = _uns_snapshot(adata)
        np.testing.assert_array_equal(after[0], before[0])
        assert after[1].equals(before[1]) and after[2:] == before[2:]

    def test_misspelt_keyword_names_the_face(self, case):
        with pytest.raises(TypeError, match=r"dynfer\.tl\..*unexpected keyword.*'sigmaa'"):
            case.fit(case.make_adata(), **case.kwargs, sigmaa=1.0)

    def test_h5ad_round_trip_gives_identical_outputs(self, case, tmp_path):
        adata = case.make_adata()
        case.fit(adata, **case.kwargs)
        adata.write_h5ad(tmp_path / "fitted.h5ad")
        back = ad.read_h5ad(tmp_path / "fitted.h5ad")
        _same(case.consumers(back, case.key), case.consumers(adata, case.key))

    def test_consumers_load_and_never_refit(self, case, monkeypatch):
        adata = case.make_adata()
        case.fit(adata, **case.kwargs)
        est = dynfer.tl.load_estimator(adata, case.key)
        monkeypatch.setattr(type(est), "fit", lambda *a, **k: pytest.fail("a consumer refitted the estimator"))
        case.consumers(adata, case.key)

    def test_loaded_equals_direct_fit_with_same_params_and_seed(self, case):
        adata = case.make_adata()
        case.fit(adata, **case.kwargs)
        direct = case.direct(adata, case.kwargs)
        _same(case.consumers(adata, case.key)[:1], case.direct_outputs(direct))
        loaded = dynfer.tl.load_estimator(adata, case.key)
        assert loaded.stored_params() == direct.stored_params()

    def test_settings_seed_is_honoured(self, case):
        if not case.seeded:  # deterministic: the settings seed changes nothing, and a seed keyword is refused
            a, b = case.make_adata(), case.make_adata()
            with dynfer.settings.override(seed=5):
                case.fit(a, **case.kwargs)
            case.fit(b, **case.kwargs)
            _same(case.consumers(a, case.key), case.consumers(b, case.key))
            with pytest.raises(TypeError, match="unexpected keyword.*'seed'"):
                case.fit(case.make_adata(), **case.kwargs, seed=5)
            return
        kwargs = {k: v for k, v in case.kwargs.items() if k != "seed"}
        a, b = case.make_adata(), case.make_adata()
        with dynfer.settings.override(seed=5):
            case.fit(a, **kwargs)
        case.fit(b, **kwargs, seed=5)
        assert dynfer.tl.load_estimator(a, case.key).seed_ == 5
        _same(case.consumers(a, case.key), case.consumers(b, case.key))

    def test_sparse_x_and_views_work(self, case):
        dense = case.make_adata()
        case.fit(dense, **case.kwargs)
        sparse = case.make_adata()
        sparse.X = sp.csr_matrix(sparse.X)
        case.fit(sparse, **case.kwargs)
        _same(case.consumers(sparse, case.key), case.consumers(dense, case.key))
        parent = case.make_adata()
        parent.obs["keep"] = "yes"
        view = parent[parent.obs["keep"] == "yes"]
        assert view.is_view
        case.fit(view, **case.kwargs)
        assert case.key not in parent.uns  # the parent is never written through the view
        _same(case.consumers(view, case.key), case.consumers(dense, case.key))

    def test_changed_representation_is_caught(self, case):
        adata = case.make_adata()
        case.fit(adata, **case.kwargs)
        scaled = adata.copy()
        if case.change is None:
            scaled.X = scaled.X * 10
        else:
            scaled = case.change(scaled)
        with pytest.raises(InputsChangedError, match=case.change_match):
            case.consumers(scaled, case.key)
        subset = adata[: adata.n_obs - 3].copy()
        with pytest.raises(InputsChangedError, match="rows used"):
            case.consumers(subset, case.key)
        # the explicit override uses the stored model as it is
        est = dynfer.tl.load_estimator(scaled, case.key, verify=False)
        _same(case.direct_outputs(est), case.consumers(adata, case.key)[:1])

    def test_missing_or_foreign_entry_is_a_clear_error(self, case):
        adata = case.make_adata()
        with pytest.raises(ValueError, match="run dynfer.tl"):
            case.consumers(adata, case.key)
        adata.uns[case.key] = {"params": {}}
        with pytest.raises(ValueError, match="not a fitted dynfer estimator"):
            case.consumers(adata, case.key)


def test_every_fitting_face_and_estimator_has_a_contract_case():
    import inspect

    funcs = {n: getattr(dynfer.tl, n) for n in dynfer.tl.__all__ if inspect.isfunction(getattr(dynfer.tl, n))}
    fitting = {n for n, f in funcs.items() if "key_added" in inspect.signature(f).parameters and n != "store_estimator"}
    assert fitting <= {c.name for c in FACES}, "add a FaceCase for every tl function that fits"
    estimators = {c for c in Estimator._registry.values() if c.__module__.startswith("dynfer.")}
    assert estimators <= {c.cls for c in ESTIMATORS}, "add an EstimatorCase for every estimator class"
