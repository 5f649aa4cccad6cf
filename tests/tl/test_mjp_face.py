"""tl.mjp and the MJP plots: results in uns, load after h5ad, no refit on plotting, input safety, the two plots."""


import matplotlib

matplotlib.use("Agg")

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

import dynfer
from dynfer import BadInputError
from dynfer.datasets import flashing_ratchet_paths
from dynfer.processes.jumps import flashing_ratchet

KEY = "mjp"
RESULT_KEYS = ("rate_matrix", "rate_std", "log_rate_std", "initial_distribution", "stationary_distribution",
               "timescales", "relaxation_time", "mfpt", "entropy_production", "method")


METHODS = ["mle", "foundation"]


def _mle_class():
    from dynfer.estimators.mjp import MJPMaximumLikelihood

    return MJPMaximumLikelihood


def _ratchet(n_paths: int = 200, n_times: int = 50, seed: int = 0) -> ad.AnnData:
    return flashing_ratchet_paths(V=1.0, n_paths=n_paths, n_times=n_times, seed=seed)


@pytest.fixture(scope="module", params=METHODS)
def fitted(request) -> ad.AnnData:
    adata = _ratchet()
    dynfer.tl.mjp(adata, method=request.param)
    return adata


@pytest.fixture(scope="module")
def fitted_mle() -> ad.AnnData:
    adata = _ratchet()
    dynfer.tl.mjp(adata, method="mle")
    return adata


def _snapshot(adata: ad.AnnData) -> tuple:
    return adata.obs.copy(), sorted(adata.uns), sorted(adata.obsm.keys())


def _same(a: tuple, b: tuple) -> None:
    assert a[0].equals(b[0]) and a[1:] == b[1:]


# ------------------------------------------------------------------ results


def test_results_at_the_top_level_equal_the_estimators(fitted):
    entry = fitted.uns[KEY]
    est = dynfer.tl.load_estimator(fitted, KEY)
    res = est.results()
    for name in RESULT_KEYS:
        assert name in entry, name
        assert name in entry["results"], name
    for name, value in res.items():
        np.testing.assert_array_equal(np.asarray(entry[name]), np.asarray(value), err_msg=name)
        np.testing.assert_array_equal(np.asarray(entry["results"][name]), np.asarray(value), err_msg=name)
    np.testing.assert_array_equal(entry["rate_matrix"], est.rate_matrix_)
    np.testing.assert_array_equal(entry["rate_std"], est.rate_std_)
    np.testing.assert_array_equal(entry["initial_distribution"], est.initial_distribution_)
    assert entry["rate_matrix"].shape == (6, 6) and est.n_states_ == 6
    assert entry["method"] == ("mle" if type(est) is _mle_class() else "foundation")
    # a generator: rows sum to zero, off-diagonals >= 0; the summaries are those of its RateMatrix
    q = entry["rate_matrix"]
    np.testing.assert_allclose(q.sum(1), 0.0, atol=1e-8 * np.abs(q).sum())
    assert (q - np.diag(np.diag(q)) >= 0).all()
    rm = est.rate_model()
    np.testing.assert_allclose(entry["stationary_distribution"], rm.stationary_distribution().numpy(), atol=1e-10)
    np.testing.assert_allclose(entry["stationary_distribution"] @ q, 0.0, atol=1e-8)
    # the stored entry names what the fit read: the three obs columns, no representation of X
    keys = [str(k) for k in np.asarray(entry["inputs"]["obs_keys"]).reshape(-1)]
    assert keys == ["state", "time", "trajectory"] and str(entry["inputs"]["use_rep"]) == ""
    assert not fitted.obsm  # nothing but uns is written


def test_mle_recovers_the_ratchet(fitted_mle):
    """200 paths x 50 points on [0, 2.5]: the MLE's rate RMSE is ~0.1 (reference notes: 0.095 at 300 x 100)."""
    q_true = flashing_ratchet(1.0).Q.numpy()
    q = fitted_mle.uns[KEY]["rate_matrix"]
    off = ~np.eye(6, dtype=bool)
    rmse = float(np.sqrt(np.mean((q[off] - q_true[off]) ** 2)))
    assert rmse < 0.25, rmse
    zeros = off & (q_true == 0)
    assert zeros.sum() == 12 and float(q[zeros].mean()) < 0.1
    pi_true = np.array([0.30119, 0.13654, 0.06227, 0.20030, 0.15914, 0.14057])
    # 200 x 50 correlated observations: the stationary law to a few hundredths
    np.testing.assert_allclose(fitted_mle.uns[KEY]["stationary_distribution"], pi_true, atol=0.05)
    assert fitted_mle.uns[KEY]["method"] == "mle"


def test_h5ad_round_trip_loads_and_keeps_every_result(fitted, tmp_path):
    path = tmp_path / "mjp.h5ad"
    fitted.write_h5ad(path)
    back = ad.read_h5ad(path)
    est = dynfer.tl.load_estimator(back, KEY)
    ref = dynfer.tl.load_estimator(fitted, KEY)
    assert type(est) is type(ref)
    np.testing.assert_array_equal(est.rate_matrix_, ref.rate_matrix_)
    np.testing.assert_array_equal(est.rate_std_, ref.rate_std_)
    for name in RESULT_KEYS:
        a, b = fitted.uns[KEY][name], back.uns[KEY][name]
        if isinstance(a, str):
            assert str(b) == a
        else:
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a), err_msg=name)
    # and the plots work on the read-back data
    assert isinstance(dynfer.pl.mjp_graph(back, show=False), Axes)
    assert isinstance(dynfer.pl.mjp_histograms(back, n_paths=50, seed=0, show=False), Axes)
    plt.close("all")


def test_plots_never_refit(fitted, monkeypatch):
    est = dynfer.tl.load_estimator(fitted, KEY)

    def refuse(*args, **kwargs):
        raise AssertionError("a plot refitted the estimator")

    monkeypatch.setattr(type(est), "fit", refuse)
    if hasattr(type(est), "pretrained"):
        monkeypatch.setattr(type(est), "pretrained", refuse)
    dynfer.pl.mjp_graph(fitted, show=False)
    dynfer.pl.mjp_histograms(fitted, n_paths=40, seed=0, show=False)
    dynfer.tl.load_estimator(fitted, KEY)
    plt.close("all")


# ------------------------------------------------------------------ inputs


def test_missing_column_unknown_method_and_parameter_raise_and_leave_adata_alone():
    adata = _ratchet(n_paths=20, n_times=10)
    before = _snapshot(adata)
    with pytest.raises(BadInputError, match="state_x"):
        dynfer.tl.mjp(adata, method="mle", state_key="state_x")
    with pytest.raises(BadInputError, match="when"):
        dynfer.tl.mjp(adata, method="mle", time_key="when")
    with pytest.raises(BadInputError, match="method"):
        dynfer.tl.mjp(adata, method="bayes")
    with pytest.raises(BadInputError, match="method"):
        dynfer.tl.mjp(adata, method=None)
    with pytest.raises(BadInputError, match="max_itr"):
        dynfer.tl.mjp(adata, method="mle", max_itr=3)
    with pytest.raises(BadInputError, match="key_added"):
        dynfer.tl.mjp(adata, method="mle", key_added="")
    with pytest.raises(BadInputError):
        dynfer.tl.mjp(adata.obs, method="mle")
    _same(before, _snapshot(adata))
    assert KEY not in adata.uns


def test_bad_states_are_named_and_nothing_is_written():
    adata = _ratchet(n_paths=20, n_times=10)
    adata.obs["state"] = adata.obs["state"].astype(float) + 0.5
    before = _snapshot(adata)
    with pytest.raises(BadInputError, match="state"):
        dynfer.tl.mjp(adata, method="mle")
    _same(before, _snapshot(adata))
    adata = _ratchet(n_paths=20, n_times=10)
    with pytest.raises(BadInputError, match="more than the model"):
        dynfer.tl.mjp(adata, method="mle", n_states=3)
    assert KEY not in adata.uns


def test_copy_leaves_the_input_untouched():
    adata = _ratchet(n_paths=30, n_times=20)
    before = _snapshot(adata)
    out = dynfer.tl.mjp(adata, method="mle", copy=True, key_added="fit")
    assert out is not adata and "fit" in out.uns and "fit" not in adata.uns
    _same(before, _snapshot(adata))
    assert dynfer.tl.mjp(adata, method="mle", key_added="fit") is None and "fit" in adata.uns


def test_a_view_becomes_actual_and_params_are_stored():
    adata = _ratchet(n_paths=40, n_times=20)
    view = adata[adata.obs["trajectory"].astype(int) < 30]
    assert view.is_view
    dynfer.tl.mjp(view, method="mle", max_iter=200)
    assert not view.is_view and KEY in view.uns and KEY not in adata.uns
    est = dynfer.tl.load_estimator(view, KEY)
    assert est.max_iter == 200


def test_without_a_trajectory_column_all_rows_are_one_path():
    adata = _ratchet(n_paths=1, n_times=400)
    del adata.obs["trajectory"]
    dynfer.tl.mjp(adata, method="mle")
    keys = [str(k) for k in np.asarray(adata.uns[KEY]["inputs"]["obs_keys"]).reshape(-1)]
    assert keys == ["state", "time"]
    assert isinstance(dynfer.pl.mjp_histograms(adata, n_paths=20, seed=0, show=False), Axes)
    plt.close("all")


def test_changed_states_are_refused_by_load_and_plots(fitted_mle):
    adata = fitted_mle.copy()
    adata.obs["state"] = (adata.obs["state"].to_numpy() + 1) % 6
    with pytest.raises(dynfer.tl.InputsChangedError):
        dynfer.tl.load_estimator(adata, KEY)
    with pytest.raises(dynfer.tl.InputsChangedError):
        dynfer.pl.mjp_histograms(adata, show=False)
    dynfer.tl.load_estimator(adata, KEY, verify=False)  # the override still works


def test_ion_channel_through_idealize():
    """Idealised currents give the states data model; the MLE's stationary law matches the generator's."""
    adata = dynfer.datasets.ion_channel(n_traces=4, duration=0.5, seed=0)
    dynfer.pp.idealize(adata, 3, seed=0)
    dynfer.tl.mjp(adata, method="mle")
    src = adata.uns["dynfer_source"]
    pi_true = np.asarray(src["stationary"], dtype=np.float64)
    pi = adata.uns[KEY]["stationary_distribution"]
    # 4 x 0.5 s at rates ~10-70/s: some hundred dwells per state; the stationary law to within ~0.1
    np.testing.assert_allclose(pi, pi_true, atol=0.1)
    q_true = np.asarray(src["Q"], dtype=np.float64)
    q = adata.uns[KEY]["rate_matrix"]
    off = ~np.eye(3, dtype=bool)
    rel = np.abs(q[off] - q_true[off]) / q_true[off]
    assert np.median(rel) < 0.5, rel


# ------------------------------------------------------------------ plots


def _arrows(ax: Axes) -> list[FancyArrowPatch]:
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


def test_graph_draws_one_arrow_per_link_with_width_proportional_to_rate():
    adjacency = flashing_ratchet(1.0).Q.numpy() > 0
    adata = _ratchet(n_paths=60, n_times=30)
    dynfer.tl.mjp(adata, method="mle", adjacency=adjacency)
    q = adata.uns[KEY]["rate_matrix"]
    off = q - np.diag(np.diag(q))
    assert (off[~adjacency & ~np.eye(6, dtype=bool)] == 0).all()  # structural zeros are exact
    ax = dynfer.pl.mjp_graph(adata, show=False, threshold=0.0)
    arrows = _arrows(ax)
    assert len(arrows) == int((off > 0).sum()) == 18  # zero links absent
    widths = {a.get_gid(): a.get_linewidth() for a in arrows}
    i, j = np.unravel_index(np.argmax(off), off.shape)
    assert widths[f"link {i}->{j}"] == pytest.approx(6.0)
    for (a, b) in zip(*np.nonzero(off > off.max() / 20), strict=True):  # above the 0.3-point floor: proportional
        assert widths[f"link {a}->{b}"] == pytest.approx(6.0 * off[a, b] / off.max())
    # a threshold removes the slow links, labels write the rates, names label the nodes
    cut = float(np.median(off[off > 0]))
    ax = dynfer.pl.mjp_graph(adata, threshold=cut, rate_labels=True, state_names=list("abcdef"), show=False)
    assert len(_arrows(ax)) == int((off > cut).sum())
    texts = [t.get_text() for t in ax.texts]
    assert set("abcdef") <= set(texts) and f"{off[i, j]:.3g}" in texts
    # min_probability filters on the stored link probabilities (the foundation model's), when there are any
    assert len(_arrows(dynfer.pl.mjp_graph(adata, threshold=0.0, min_probability=0.9, show=False))) == 18
    entry = adata.uns[KEY]
    entry["results"] = {**entry["results"], "link_probability": np.where(off > cut, 0.95, 0.05)}
    ax = dynfer.pl.mjp_graph(adata, threshold=0.0, min_probability=0.5, show=False)
    assert len(_arrows(ax)) == int((off > cut).sum())
    with pytest.raises(BadInputError, match="min_probability"):
        dynfer.pl.mjp_graph(adata, min_probability=2.0, show=False)
    plt.close("all")


def test_graph_and_histograms_follow_the_scanpy_return_convention(fitted_mle, tmp_path):
    fig = dynfer.pl.mjp_graph(fitted_mle, return_fig=True)
    assert isinstance(fig, Figure)
    _, own = plt.subplots()
    assert dynfer.pl.mjp_graph(fitted_mle, ax=own, show=False) is own
    assert dynfer.pl.mjp_graph(fitted_mle, show=True) is None
    dynfer.pl.mjp_graph(fitted_mle, show=False, save=tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0
    fig = dynfer.pl.mjp_histograms(fitted_mle, n_paths=30, seed=0, return_fig=True)
    assert isinstance(fig, Figure)
    _, own = plt.subplots()
    assert dynfer.pl.mjp_histograms(fitted_mle, n_paths=30, seed=0, ax=own, show=False) is own
    with pytest.raises(BadInputError, match="state_names"):
        dynfer.pl.mjp_graph(fitted_mle, state_names=["a"], show=False)
    with pytest.raises(BadInputError, match="threshold"):
        dynfer.pl.mjp_graph(fitted_mle, threshold=-1.0, show=False)
    with pytest.raises(BadInputError, match="n_paths"):
        dynfer.pl.mjp_histograms(fitted_mle, n_paths=0, show=False)
    with pytest.raises(BadInputError, match="no fitted estimator"):
        dynfer.pl.mjp_graph(_ratchet(n_paths=2, n_times=3), show=False)
    plt.close("all")


def test_histograms_observed_lines_are_the_state_fractions_and_the_model_matches(fitted_mle):
    ax = dynfer.pl.mjp_histograms(fitted_mle, n_paths=2000, seed=0, show=False)
    solid = [ln for ln in ax.lines if ln.get_linestyle() == "-"]
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(solid) == len(dashed) == 6
    obs = fitted_mle.obs
    times = np.unique(obs["time"])  # 50 shared regular times: one bin each
    np.testing.assert_allclose(solid[0].get_xdata(), times, atol=1e-12)
    for k, line in enumerate(solid):
        want = [np.mean(obs["state"].to_numpy()[obs["time"].to_numpy() == t] == k) for t in times]
        np.testing.assert_allclose(line.get_ydata(), want, atol=1e-12)
    # model paths (2,000) against 200 observed paths: the fractions agree to a few binomial sds (sd <= 0.035)
    for o, m in zip(solid, dashed, strict=True):
        assert np.max(np.abs(o.get_ydata() - m.get_ydata())) < 0.15
        assert abs(np.mean(o.get_ydata() - m.get_ydata())) < 0.05
    assert "Hellinger" in ax.get_title()
    plt.close("all")


def test_histograms_are_reproducible_with_a_seed(fitted_mle):
    a = dynfer.pl.mjp_histograms(fitted_mle, n_paths=50, seed=3, show=False)
    b = dynfer.pl.mjp_histograms(fitted_mle, n_paths=50, seed=3, show=False)
    for la, lb in zip(a.lines, b.lines, strict=True):
        np.testing.assert_array_equal(la.get_ydata(), lb.get_ydata())
    plt.close("all")


def test_histogram_title_is_the_mean_hellinger_of_the_drawn_histograms(fitted_mle):
    ax = dynfer.pl.mjp_histograms(fitted_mle, n_paths=300, seed=1, show=False)
    solid = np.column_stack([ln.get_ydata() for ln in ax.lines if ln.get_linestyle() == "-"])
    dashed = np.column_stack([ln.get_ydata() for ln in ax.lines if ln.get_linestyle() == "--"])
    per_time = np.sqrt(np.clip(1 - np.sum(np.sqrt(solid * dashed), axis=1), 0, None))
    assert f"mean Hellinger {np.mean(per_time):.3f}" in ax.get_title()
    plt.close("all")
