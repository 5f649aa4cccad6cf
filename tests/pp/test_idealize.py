"""Idealisation of single-channel currents: accuracy against the generator's ground truth, dwell times, API."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from dynfer.datasets.synthetic_ionchannel import ion_channel
from dynfer.pp._idealize import _forward_backward, _viterbi_scan, dwell_times, idealize, idealize_trace


@pytest.fixture(scope="module")
def clean():
    """20 traces x 1 s at 5 kHz (1e5 samples), levels 0, 1, 2 pA, noise sd 0.3 of the level spacing."""
    return ion_channel(n_traces=20, duration=1.0, noise_sd=0.3, seed=11)


def _accuracy(a, b) -> float:
    return float((a.obs["state"].to_numpy() == b.obs["state"].to_numpy()).mean())


def test_recovers_true_states_at_snr_3(clean):
    # Sample-by-sample thresholding errs with probability 2 Phi(-0.5 / 0.3) = 9.6 % (middle level) and 4.8 % (outer
    # levels). The HMM's errors are confined to jumps: about 24 jumps/s at 5 kHz = 0.5 % of samples see a jump, and
    # at most ~1 sample is misplaced per jump, plus sojourns shorter than ~2 samples (< 3 % of state-1 dwells, which
    # cover 15 % of the time) that are missed, so > 99 % of samples must be right.
    out = idealize(clean, 3, copy=True)
    acc = _accuracy(out, clean)
    assert acc > 0.99, acc
    p = out.uns["state_params"]
    np.testing.assert_allclose(p["means"], [0.0, 1.0, 2.0], atol=0.01)
    np.testing.assert_allclose(p["sds"], 0.3, rtol=0.01)
    # the plain mixture classification reaches the Bayes error of sample-wise classification,
    # 1 - int max_k w_k N(x; k, 0.3^2) dx (weights = occupancy); noise-driven sd of the error rate ~ 0.001
    gmm = idealize(clean, 3, method="gmm", copy=True)
    occ = np.bincount(clean.obs["state"].to_numpy(), minlength=3) / clean.n_obs
    grid = np.linspace(-3, 5, 80001)
    dens = occ[:, None] * norm.pdf(grid[None, :], loc=np.arange(3)[:, None], scale=0.3)
    bayes_err = 1 - dens.max(axis=0).sum() * (grid[1] - grid[0])
    assert abs((1 - _accuracy(gmm, clean)) - bayes_err) < 0.005
    assert 1 - acc < bayes_err / 5


def test_hmm_beats_thresholding_when_noisy():
    # noise sd 0.6 of the spacing: thresholding errs on ~ 2 Phi(-0.83) = 40 % (middle) / 20 % (outer) of samples
    noisy = ion_channel(n_traces=20, duration=1.0, noise_sd=0.6, seed=12)
    acc_gmm = _accuracy(idealize(noisy, 3, method="gmm", copy=True), noisy)
    acc_hmm = _accuracy(idealize(noisy, 3, copy=True), noisy)
    assert acc_gmm < 0.85
    assert acc_hmm > 0.97
    assert acc_hmm > acc_gmm + 0.1


def test_mean_dwell_times_match_exit_rates():
    # Censored-exponential MLE of the mean dwell time of state i: total time in i / number of dwells in i that end in
    # an observed jump. Relative sd ~ 1/sqrt(n_i); plus 3 % for missed sojourns shorter than ~2 samples (for the
    # fastest state, exit rate 69.5/s: P(tau < 0.4 ms) = 2.7 %).
    adata = ion_channel(n_traces=50, duration=2.0, noise_sd=0.3, seed=5)
    idealize(adata, 3, key_added="ideal")
    q = adata.uns["dynfer_source"]["Q"]
    table = adata.uns["dwell_times"]
    for i in range(3):
        rows = table[table["state"] == i]
        events = int((~rows["censored_end"]).sum())
        tau = rows["duration"].sum() / events
        true_tau = 1 / -q[i, i]
        assert abs(tau / true_tau - 1) < 4 / np.sqrt(events) + 0.03, (i, tau, true_tau, events)


def test_dwell_table_layout(clean):
    out = idealize(clean, 3, copy=True)
    table = out.uns["dwell_times"]
    assert list(table.columns) == ["trajectory", "state", "start", "duration", "n_samples", "censored",
                                   "censored_start", "censored_end"]
    # durations of each trajectory add up to its length (1 s)
    totals = table.groupby("trajectory", observed=True)["duration"].sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0)
    first = table.groupby("trajectory", observed=True).head(1).index
    last = table.groupby("trajectory", observed=True).tail(1).index
    assert table.loc[first, "censored_start"].all() and table.loc[last, "censored_end"].all()
    inner = table.index.difference(first.union(last))
    assert not table.loc[inner, "censored"].any()
    # consecutive dwells of one trajectory differ in state and abut in time
    same = table["trajectory"].to_numpy()[1:] == table["trajectory"].to_numpy()[:-1]
    assert (table["state"].to_numpy()[1:] != table["state"].to_numpy()[:-1])[same].all()
    ends = (table["start"] + table["duration"]).to_numpy()[:-1]
    np.testing.assert_allclose(ends[same], table["start"].to_numpy()[1:][same], atol=1e-9)


def test_dwell_times_small_example():
    t = dwell_times(np.array([0, 0, 1, 1, 1, 0, 2, 2]), np.array(["a"] * 5 + ["b"] * 3), np.arange(8) * 0.5, 0.5)
    assert t["state"].tolist() == [0, 1, 0, 2]
    assert t["n_samples"].tolist() == [2, 3, 1, 2]
    assert t["duration"].tolist() == [1.0, 1.5, 0.5, 1.0]
    assert t["censored"].tolist() == [True, True, True, True]
    assert t["censored_end"].tolist() == [False, True, False, True]


def test_state_zero_is_the_lowest_level():
    adata = ion_channel(n_traces=4, duration=1.0, levels=(2.0, 1.0, 0.0), noise_sd=0.2, seed=4)
    out = idealize(adata, 3, copy=True)
    agree = (out.obs["state"].to_numpy() == 2 - adata.obs["state"].to_numpy()).mean()
    assert agree > 0.99
    assert np.all(np.diff(out.uns["state_params"]["means"]) > 0)


def test_scanpy_conventions(clean):
    before = clean.copy()
    assert idealize(clean.copy(), 3, key_added="ideal") is None
    out = idealize(clean, 3, key_added="ideal", copy=True)
    assert out is not clean
    assert "ideal" not in clean.obs and "ideal_params" not in clean.uns  # input untouched with copy=True
    np.testing.assert_array_equal(clean.obs["state"], before.obs["state"])
    assert out.obs["ideal"].dtype == np.int64
    p = out.uns["ideal_params"]
    for key in ("means", "sds", "weights", "transition_matrix", "initial", "log_likelihood"):
        assert key in p
    np.testing.assert_allclose(p["transition_matrix"].sum(axis=1), 1.0)
    # current in an obs column gives the same answer as X
    alt = clean.copy()
    alt.obs["I"] = alt.X[:, 0]
    out2 = idealize(alt, 3, current_key="I", key_added="ideal", copy=True)
    np.testing.assert_array_equal(out2.obs["ideal"], out.obs["ideal"])


def test_errors_leave_input_untouched(clean):
    bad = clean[:2000].copy()
    bad.X[5:8, 0] = np.nan
    snapshot = (list(bad.obs.columns), sorted(bad.uns.keys()))
    with pytest.raises(ValueError, match="3 NaN"):
        idealize(bad, 3)
    with pytest.raises(ValueError, match="n_states"):
        idealize(clean, 1)
    with pytest.raises(ValueError, match="current_key"):
        idealize(clean, 3, current_key="voltage")
    with pytest.raises(ValueError, match="method"):
        idealize(clean, 3, method="kmeans")
    assert (list(bad.obs.columns), sorted(bad.uns.keys())) == snapshot
    assert "state_params" not in clean.uns


def test_blocked_scans_equal_sequential_recursions():
    rng = np.random.default_rng(1)
    n, T = 3, 1237
    A = rng.random((n, n)) + 5 * np.eye(n)
    A /= A.sum(axis=1, keepdims=True)
    pi = rng.random(n)
    pi /= pi.sum()
    E = rng.random((T, n)) + 0.01
    starts = np.zeros(T, dtype=bool)
    starts[[0, 300, 301, 900]] = True
    ends = np.r_[starts[1:], True]
    alpha = np.zeros((T, n))
    for t in range(T):
        v = pi * E[t] if starts[t] else (alpha[t - 1] @ A) * E[t]
        alpha[t] = v / v.sum()
    beta = np.zeros((T, n))
    for t in range(T - 1, -1, -1):
        v = np.ones(n) if ends[t] else A @ (E[t + 1] * beta[t + 1])
        beta[t] = v / v.sum()
    a, b, _ = _forward_backward(E, A, pi, starts)
    np.testing.assert_allclose(a, alpha, atol=1e-12)
    np.testing.assert_allclose(b / b.sum(axis=1, keepdims=True), beta, atol=1e-12)
    lA, lp, lE = np.log(A), np.log(pi), np.log(E)
    delta, psi = np.zeros((T, n)), np.zeros((T, n), dtype=int)
    for t in range(T):
        if starts[t]:
            delta[t] = (delta[t - 1].max() if t else 0.0) + lp + lE[t]
            psi[t] = np.argmax(delta[t - 1]) if t else 0
        else:
            c = delta[t - 1][:, None] + lA
            psi[t], delta[t] = c.argmax(axis=0), c.max(axis=0) + lE[t]
    path = np.zeros(T, dtype=int)
    path[-1] = delta[-1].argmax()
    for t in range(T - 1, 0, -1):
        path[t - 1] = psi[t][path[t]]
    got = _viterbi_scan(lE, starts.astype(np.intp), np.stack([lA, np.broadcast_to(lp, (n, n))]))
    np.testing.assert_array_equal(got, path)


def test_array_core_single_trace():
    rng = np.random.default_rng(0)
    truth = np.repeat(rng.integers(0, 2, 200), 50)
    x = truth * 1.0 + 0.2 * rng.standard_normal(truth.size)
    states, params = idealize_trace(x, 2)
    assert (states == truth).mean() > 0.999
    assert params["converged"]


def test_too_many_states_are_refused_before_fitting():
    import time

    import anndata as ad

    import dynfer

    adata = ad.AnnData(np.random.default_rng(0).normal(size=(10_000, 1)))
    start = time.perf_counter()
    with pytest.raises(dynfer.BadInputError, match=r"idealize: n_states: n_states=500 on 10000 samples.*5\.75e\+10 "
                       r"element-steps.*max_work = 2e\+10.*fewer states"):
        idealize(adata, 500)  # would have taken hours, and ~100 GB for the Viterbi blocks
    assert time.perf_counter() - start < 1 and "state" not in adata.obs
    with dynfer.settings.override(max_work=float("inf")), pytest.raises(dynfer.BadInputError, match="needs .*GiB"):
        idealize(adata, 500)  # the memory bound still holds
    with pytest.raises(dynfer.BadInputError, match="n_iter: 0"):
        idealize_trace(np.r_[np.zeros(10), np.ones(10)], 2, n_iter=0)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-12, 1e12])
def test_currents_at_any_scale_give_the_same_states(scale):
    rng = np.random.default_rng(0)
    truth = np.repeat(rng.integers(0, 2, 40), 25)
    x = truth * 1.0 + 0.2 * rng.standard_normal(truth.size)
    ref_states, ref = idealize_trace(x, 2, seed=0)
    states, params = idealize_trace(x * scale, 2, seed=0)  # 1e300: the mixture's reg_covar overflowed to inf
    np.testing.assert_array_equal(states, ref_states)
    # the same fit up to the rounding EM's stopping rule lets through
    np.testing.assert_allclose(params["means"], ref["means"] * scale, rtol=1e-3, atol=1e-3 * scale)
    np.testing.assert_allclose(params["sds"], ref["sds"] * scale, rtol=1e-3)
    np.testing.assert_allclose(params["log_likelihood"], ref["log_likelihood"] - truth.size * np.log(scale),
                               rtol=1e-6)


def test_constant_current_is_refused():
    import dynfer

    with pytest.raises(dynfer.BadInputError, match="current: a constant current"):
        idealize_trace(np.full(50, 3.0), 2)
