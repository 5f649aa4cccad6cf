"""The Markov-jump-process workflows, quick sizes, MLE (and the foundation model when installed).

Each workflow runs once per module through the command line (``dynfer run <name> --quick``); the tests read its
``metrics.json``. Bounds are derived from the reference numbers (markov_jump_processes.md) and from the sizes of the
quick runs; the real-data workflows skip when the ``../shared/data`` mirror is absent.
"""

import math

import numpy as np
import pytest

from dynfer.workflows import get_workflow

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")


def _mean(metrics, setting, method, key):
    return metrics["settings"][setting]["methods"][method][key]["mean"]


def test_the_mjp_workflows_are_discovered_with_their_datasets():
    expected = {"fim_dfr": {"fim_dfr"}, "fim_mjp_prior_samples": {"fim_mjp_prior_samples"},
                "adp_surrogate": {"alanine_dipeptide_surrogate"}, "protein_folding": {"protein_folding_sde"},
                "ion_channel": {"ion_channel"}}
    for name, datasets in expected.items():
        assert datasets <= set(get_workflow(name).datasets)


@pytest.fixture(scope="module")
def adp(run_quick_workflow):
    return run_quick_workflow("adp_surrogate", data_dir=None, dtype="float32")


def test_adp_surrogate_recovers_the_generator(adp):
    s = adp["settings"]["adp"]
    mle = s["methods"]["MLE"]
    assert mle["n_contexts"] == 2 and mle["n_failed"] == 0
    # 200 paths x 100 points: the stationary law within a few percent (measured 0.01-0.02 TV)
    assert mle["stationary_tv"]["mean"] < 0.05
    # rates span 0.01..53; an RMSE of the order of the largest rates would mean a failed fit
    assert mle["rate_rmse"]["mean"] < 0.1 * 53
    # model histograms no further from the observed ones than twice the true model's
    assert mle["hellinger"]["mean"] < 2 * s["hellinger_truth_floor"]["mean"]
    assert 0.8 <= s["pooled_calibration"]["MLE"]["coverage"] <= 1.0
    assert s["truth"]["stationary_distribution"][0] == pytest.approx(0.298, abs=1e-3)


@pytest.fixture(scope="module")
def folding(run_quick_workflow):
    return run_quick_workflow("protein_folding", data_dir=None, dtype="float32")


def test_protein_folding_stationary_law_matches_mardt_et_al(folding):
    frac, se = folding["label_fraction_folded"], folding["label_fraction_se"]
    # the simulated labels: 0.73 within 5 standard errors from independent paths (+ rounding of 0.73)
    assert abs(frac - 0.73) < 0.005 + 5 * se
    for setting in ("interval_1", "interval_10"):
        pi = _mean(folding, setting, "MLE", "stationary_distribution")
        assert abs(pi[0] - frac) < 0.005 + 5 * se, (setting, pi, frac)
        assert sum(pi) == pytest.approx(1.0)
    # fitted rates fall with the observation interval (labels of an SDE are not Markov at short lags)
    fast = _mean(folding, "interval_1", "MLE", "rate folded to unfolded")
    slow = _mean(folding, "interval_10", "MLE", "rate folded to unfolded")
    assert slow < fast


@pytest.fixture(scope="module")
def ion(run_quick_workflow):
    return run_quick_workflow("ion_channel", data_dir=None, dtype="float32")


def test_ion_channel_idealisation_and_inference(ion):
    assert ion["idealisation_accuracy"] > 0.98  # levels 1 pA apart, noise 0.3 pA
    ideal, true = ion["settings"]["idealised"], ion["settings"]["true_states"]
    pi_i = _mean(ion, "idealised", "MLE", "stationary_distribution")
    pi_t = _mean(ion, "true_states", "MLE", "stationary_distribution")
    # near-perfect idealisation: the fits from idealised and from true states agree
    assert max(abs(a - b) for a, b in zip(pi_i, pi_t, strict=True)) < 0.03
    # 2 s of recording: the stationary law of the generating scheme (0.181, 0.147, 0.672) within TV 0.25
    assert ideal["methods"]["MLE"]["stationary_tv"]["mean"] < 0.25
    tau = true["truth"]["mfpt"]
    assert tau[0][1] == pytest.approx(0.068, abs=0.002) and tau[2][0] == pytest.approx(0.181, abs=0.002)
    assert math.isfinite(ideal["methods"]["MLE"]["mfpt_rel_error"]["mean"])


def test_fim_dfr_generated_settings_follow_their_definitions():
    module = get_workflow("fim_dfr").load()
    settings = {s.name: s for s in module.generator_settings(3, 0, noise_fitted=False)}
    assert set(settings) == {"sparse", "sparse_noisy", "irregular", "noisy"}
    for name in ("sparse", "sparse_noisy"):
        for ctx in settings[name].contexts:
            states, times, mask = ctx.padded()
            assert 20 <= len(states) <= 50 and 5 <= ctx.lengths.min() and ctx.lengths.max() <= 15
            assert (mask.sum(1) == ctx.lengths).all() and (times >= 0).all() and (times <= 2.5).all()
            assert (np.diff(times, axis=1) >= 0).all() and ctx.n_states == 6
    ctx = settings["irregular"].contexts[0]
    assert ctx.states.shape[0] == 300 and 10 <= ctx.lengths.min() and ctx.lengths.max() <= 100
    # 5 % of the labels flipped to another state: the observed fraction of flips over 3 x 300 x 100 labels
    noisy = settings["noisy"].contexts
    assert all(c.lengths is None and c.states.shape == (300, 100) for c in noisy)
    flipped = np.mean([(c.states != c.extra["clean_states"]).mean() for c in noisy])
    assert abs(flipped - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 90_000)
    sparse = settings["sparse"].contexts[0]
    assert (sparse.states == sparse.extra["clean_states"]).all()  # no noise in the clean sparse setting
    ratchet = get_workflow("fim_dfr").load()._ratchet_extra(noisy[0].Q_true)
    assert ratchet == pytest.approx({"V": 1.0, "r": 1.0, "b": 1.0})


def test_fim_prior_grids_follow_the_recorded_counts():
    module = get_workflow("fim_mjp_prior_samples").load()
    rng = np.random.default_rng(0)
    for L, stride, t_max in ((100, 1, 10.0), (50, 2, 10 * 98 / 99), (34, 3, 10.0), (25, 4, 10 * 96 / 99)):
        prior = {"grid": "regular", "seq_lengths": np.full((1, 300), L)}
        times, lengths = module._prior_grid(prior, 0, rng)
        assert times.shape == (300, L) and lengths is None
        assert times[0, -1] == pytest.approx(t_max) and times[0, 1] == pytest.approx(stride * 10 / 99)
    counts = rng.integers(8, 73, size=(1, 300))
    times, lengths = module._prior_grid({"grid": "random", "seq_lengths": counts}, 0, rng)
    assert (lengths == counts[0]).all() and times.shape == (300, counts.max())
    assert (np.diff(times, axis=1) >= 0).all() and times.max() <= 10.0
    q = np.zeros((6, 6))
    q[:4, :4] = [[0, 1, 0, 2], [1, 0, 1, 0], [0, 3, 0, 1], [1, 0, 1, 0]]
    q -= np.diag(q.sum(1))
    prior = {"adjacency": (q > 0)[None].astype(np.int8), "rate_matrices": q[None].astype(np.float32),
             "initial_distributions": np.array([[0.5, 0.5, 0, 0, 0, 0]], np.float32)}
    q4, adj, init = module._mjp(prior, 0)
    assert q4.shape == (4, 4) and np.allclose(q4.sum(1), 0) and adj.sum() == 8 and init.sum() == pytest.approx(1)


# the staged-data quick runs take longer than the default test budget (measured: fim_dfr ~35 s, fim_mjp_prior_samples
# ~2 min, mostly the MLE on per-path random grids, one matrix exponential per distinct lag): slow
@pytest.fixture(scope="module")
def dfr(run_quick_workflow, mirror_dir):
    return run_quick_workflow("fim_dfr", data_dir=mirror_dir, dtype="float32")


@pytest.mark.slow
def test_fim_dfr_quick_meets_the_goals_of_the_issue(dfr):
    mle = dfr["settings"]["V1"]["methods"]["MLE"]
    # reference: plain MLE 0.092-0.098 +- 0.023 per 300-path context; 2 contexts: mean below 0.15
    assert mle["rate_rmse"]["mean"] < 0.15
    assert mle["zero_mass"]["mean"] < 0.02  # goal: mean rate on the 12 structural zeros < 0.02
    V, r, b = (mle[k]["mean"] for k in ("V", "r", "b"))
    assert abs(V - 1) < 0.2 and abs(r - 1) < 0.2 and abs(b - 1) < 0.2
    assert 0.8 <= dfr["settings"]["V1"]["pooled_calibration"]["MLE"]["coverage"] <= 1.0
    assert set(dfr["settings"]) == {"V1", "sparse", "sparse_noisy", "irregular", "noisy"}
    # more paths, smaller error
    size = dfr["context_size"]
    assert size["300"]["MLE"]["rate_rmse"][0] < size["30"]["MLE"]["rate_rmse"][0]


@pytest.fixture(scope="module")
def prior(run_quick_workflow, mirror_dir):
    return run_quick_workflow("fim_mjp_prior_samples", data_dir=mirror_dir, dtype="float32")


@pytest.mark.slow
def test_fim_prior_samples_every_setting_is_scored(prior):
    assert set(prior["settings"]) == {"prior_6st", "sparse_6st", "prior_4st", "sparse_4st"}
    for name, s in prior["settings"].items():
        mle = s["methods"]["MLE"]
        assert mle["n_contexts"] + mle["n_failed"] == 2, name
        assert s["n_contexts"] == 2
    # 300 paths of rates in [0, 1] on FIM's grids: the error is a fraction of the rate scale
    assert _mean(prior, "prior_6st", "MLE", "rate_rmse") < 0.3
    # the sparse regime is harder than the dense one
    assert _mean(prior, "sparse_6st", "MLE", "rate_rmse") > _mean(prior, "prior_6st", "MLE", "rate_rmse")


class _Truth:
    """A fake MJP estimator that returns the generating matrix (to test the shared body without any fit)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def fit(self, states, times, lengths=None):
        self.rate_matrix_ = self.ctx.Q_true
        self.log_rate_std_ = np.where(self.ctx.Q_true > 0, 0.1, 0.0) * ~np.eye(len(self.ctx.Q_true), dtype=bool)
        self.initial_distribution_ = self.ctx.extra["initial"]
        return self


def test_shared_body_scores_an_exact_estimator_and_writes_finite_metrics(tmp_path):
    from dynfer.report import Report
    from dynfer.workflows.mjp import MJPSetting, evaluate_setting, flip_labels, report_setting, simulate_contexts

    q = np.array([[-1.0, 1.0, 0.0], [0.5, -1.0, 0.5], [0.0, 2.0, -2.0]])
    times = np.broadcast_to(np.linspace(0, 3, 20), (200, 20))
    contexts = [simulate_contexts(q, times, seed=k, name=f"c{k}") for k in range(2)]
    setting = MJPSetting(name="toy", title="toy", description="toy chain.", contexts=contexts,
                         references={"stationary law": "(2/7, 4/7, 1/7)"})
    result = evaluate_setting(setting, {"exact": _Truth})
    m = result.metrics()
    exact = m["methods"]["exact"]
    assert exact["rate_rmse"]["mean"] == 0.0 and exact["zero_mass"]["mean"] == 0.0
    assert exact["stationary_distribution"]["mean"] == pytest.approx([2 / 7, 4 / 7, 1 / 7])  # pi Q = 0 by hand
    assert exact["mfpt_rel_error"]["mean"] == 0.0
    # model paths from the true law: the same distribution as the truth row's, at the same sampling level
    assert exact["hellinger"]["mean"] == pytest.approx(m["hellinger_truth_floor"]["mean"], rel=0.5)
    assert m["pooled_calibration"]["exact"]["coverage"] == 1.0  # sd 0.1 around the exact value
    report = Report(title="t")
    report_setting(report, result)
    kinds = [b["kind"] for sec in report.sections() for b in sec["blocks"]]
    assert kinds.count("table") == 2
    report.write(tmp_path / "r", metrics=m, seed=0, device="cpu")  # refuses non-finite metrics
    rng = np.random.default_rng(0)
    labels = np.zeros(100_000, dtype=np.int64)
    noisy = flip_labels(labels, 4, 0.05, rng)
    assert abs((noisy != 0).mean() - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 1e5)
    assert set(np.unique(noisy)) == {0, 1, 2, 3}
