"""MJP scores against hand-computed values: RMSE, structural zeros, calibration, Hellinger, ratchet parameters."""

import math
import warnings

import numpy as np
import pytest

from dynfer._errors import BadInputError
from dynfer.evaluation import (
    JumpContext,
    calibration,
    context_table,
    derived_quantities,
    hellinger_histograms,
    ratchet_parameters,
    rate_rmse,
    state_histograms,
    structural_zero_mass,
)
from dynfer.processes import flashing_ratchet

Q3 = np.array([[-3.0, 1.0, 2.0], [0.5, -0.5, 0.0], [4.0, 0.0, -4.0]])


def test_rate_rmse_hand_computed():
    q_hat = Q3.copy()
    q_hat[0, 1] += 0.3  # errors on two of the 6 off-diagonals: 0.3 and -0.4 (diagonals are ignored)
    q_hat[2, 0] -= 0.4
    q_hat[1, 1] = 99.0
    assert rate_rmse(q_hat, Q3) == pytest.approx(math.sqrt((0.09 + 0.16) / 6))
    assert rate_rmse(Q3, Q3) == 0.0
    with pytest.raises(BadInputError, match="must match"):
        rate_rmse(np.zeros((2, 2)), Q3)
    with pytest.raises(BadInputError, match="at least 2 states"):
        rate_rmse([[0.0]], [[0.0]])


def test_structural_zero_mass_is_the_mean_on_absent_links():
    q_hat = Q3.copy()
    q_hat[1, 2], q_hat[2, 1] = 0.1, 0.3  # the two absent links of Q3
    assert structural_zero_mass(q_hat, Q3 > 0) == pytest.approx(0.2)
    assert structural_zero_mass(q_hat, (Q3 > 0).astype(int)) == pytest.approx(0.2)
    assert math.isnan(structural_zero_mass(q_hat, np.ones((3, 3), bool)))
    # the ratchet: 12 absent links of 30
    q = flashing_ratchet(1.0).Q.numpy()
    adj = q > 0
    assert (~adj & ~np.eye(6, dtype=bool)).sum() == 12
    assert structural_zero_mass(q + 0.05 * ~adj, adj) == pytest.approx(0.05)
    with pytest.raises(BadInputError, match="boolean"):
        structural_zero_mass(q, np.full((6, 6), 0.5))


def test_calibration_z_scores_and_coverage_by_hand():
    q_true = np.array([[-2.0, 2.0], [1.0, -1.0]])
    sd = np.array([[0.0, 0.5], [0.1, 0.0]])
    # log q_hat - log q = +1.0 (z = 2: outside) on (0,1) and -0.1 (z = -1: inside) on (1,0)
    q_hat = np.array([[-2 * math.e, 2 * math.e], [math.exp(-0.1), -math.exp(-0.1)]])
    cal = calibration(q_hat, sd, q_true)
    assert cal["z_mean"] == pytest.approx(0.5)
    assert cal["z_sd"] == pytest.approx(1.5)  # population sd of (2, -1)
    assert cal["z_rms"] == pytest.approx(math.sqrt(2.5))
    assert cal["coverage"] == 0.5 and cal["n_links"] == 2
    # a log-rate mean given separately overrides log(q_hat); level changes the interval
    cal = calibration(q_hat, sd, q_true, log_rate_mean=np.log(np.abs(q_true)) + 0.9 * sd, level=0.5)
    assert cal["z_mean"] == pytest.approx(0.9) and cal["coverage"] == 0.0  # 0.9 > 0.674
    # an unidentified link (inf std) covers; a zero estimate never does
    cal = calibration(np.array([[-1.0, 0.0], [1.0, -1.0]]), np.array([[0.0, 1.0], [np.inf, 0.0]]), q_true)
    assert cal["n_unidentified"] == 1 and cal["n_zero_estimates"] == 1 and cal["coverage"] == 0.5
    with pytest.raises(BadInputError, match="negative"):
        calibration(q_true, -np.ones((2, 2)), q_true)


def test_calibration_pools_contexts_and_is_nominal_for_exact_gaussian_errors():
    rng = np.random.default_rng(0)
    q = flashing_ratchet(1.0).Q.numpy()
    links = (q > 0) & ~np.eye(6, dtype=bool)
    n_ctx = 400
    sd = np.where(links, 0.2, 0.0)[None].repeat(n_ctx, 0)
    logq = np.log(np.where(links, q, 1.0))[None] + sd * rng.standard_normal((n_ctx, 6, 6))
    q_hat = np.where(links, np.exp(logq), 0.0)
    q_hat -= np.eye(6) * q_hat.sum(-1, keepdims=True)
    cal = calibration(q_hat, sd, q)
    n = n_ctx * 18
    assert cal["n_links"] == n
    # binomial sd of the coverage sqrt(.95 * .05 / n) = 0.0026: 4 sd
    assert abs(cal["coverage"] - 0.95) < 4 * math.sqrt(0.95 * 0.05 / n)
    assert abs(cal["z_sd"] - 1.0) < 4 / math.sqrt(2 * n)


def test_hellinger_histograms_by_hand():
    # time 0: p = (1, 0), q = (1/2, 1/2): H = sqrt(1 - sqrt(1/2)); time 1: equal histograms, H = 0
    obs = np.array([[0, 0], [0, 1]])
    mod = np.array([[0, 1], [1, 0]])
    mean, per = hellinger_histograms(obs, mod, 2, per_time=True)
    assert per[0] == pytest.approx(math.sqrt(1 - math.sqrt(0.5)))
    assert per[1] == pytest.approx(0.0, abs=1e-12)
    assert mean == pytest.approx(per[0] / 2)
    # disjoint supports: distance 1; identical samples: 0
    assert hellinger_histograms([[0, 0]], [[1, 1]], 2) == pytest.approx(1.0)
    assert hellinger_histograms(obs, obs) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(BadInputError, match="time columns"):
        hellinger_histograms(obs, mod[:, :1])


def test_hellinger_with_binned_irregular_times_and_masks():
    states = np.array([[0, 1, 1], [1, 1, 0]])
    times = np.array([[0.1, 0.6, 0.9], [0.2, 0.4, 0.8]])
    hist = state_histograms(states, 2, times=times, bins=[0.0, 0.5, 1.0])
    # bin [0, .5): states 0, 1, 1 -> (1/3, 2/3); bin [.5, 1]: 1, 1, 0 -> (1/3, 2/3)
    np.testing.assert_allclose(hist, [[1 / 3, 2 / 3], [1 / 3, 2 / 3]])
    mask = np.array([[True, True, False], [True, False, False]])  # ragged paths
    hist = state_histograms(states, 2, times=times, bins=[0.0, 0.5, 1.0], mask=mask)
    np.testing.assert_allclose(hist, [[0.5, 0.5], [0.0, 1.0]])
    model = np.array([[1, 1, 1]])
    h = hellinger_histograms(states, model, 2, times=times, model_times=[0.3, 0.7, 0.75], bins=[0.0, 0.5, 1.0])
    assert h == pytest.approx(math.sqrt(1 - math.sqrt(2 / 3)))  # both bins: (1/3, 2/3) against (0, 1)


def test_ratchet_parameters_recover_the_generating_values():
    for V, r, b in [(0.0, 1.0, 1.0), (1.0, 1.0, 1.0), (3.0, 0.2, 2.5)]:
        got = ratchet_parameters(flashing_ratchet(V, r, b).Q.numpy())
        assert got == pytest.approx((V, r, b), abs=1e-12)
    # a common prefactor of the on-block rates does not change V
    q = flashing_ratchet(2.0).Q.numpy()
    q[:3, :3] *= 3.0
    q -= np.diag(q.sum(1))
    assert ratchet_parameters(q)[0] == pytest.approx(2.0)
    with pytest.raises(BadInputError, match=r"\(6, 6\)"):
        ratchet_parameters(Q3)


def test_derived_quantities_of_the_ratchet_match_the_reference_table():
    d = derived_quantities(flashing_ratchet(1.0).Q.numpy())
    np.testing.assert_allclose(d["stationary_distribution"],
                               [0.30119, 0.13654, 0.06227, 0.20030, 0.15914, 0.14057], atol=1e-5)
    assert d["entropy_production"] == pytest.approx(0.1792, abs=1e-4)
    np.testing.assert_allclose(d["timescales"], [0.500, 0.350, 0.281, 0.205, 0.159], atol=1e-3)
    two = derived_quantities([[-1.0, 1.0], [2.0, -2.0]])
    np.testing.assert_allclose(two["mfpt"], [[0.0, 1.0], [0.5, 0.0]])
    assert two["relaxation_time"] == pytest.approx(1 / 3) and two["entropy_production"] == pytest.approx(0.0)


class _Oracle:
    """A fake estimator: the true matrix with a fixed bias on one link and unit log-rate std."""

    def __init__(self, bias: float) -> None:
        self.bias = bias

    def fit(self, states, times, lengths=None):
        if self.bias:
            warnings.warn("biased on purpose", UserWarning, stacklevel=2)
        q = self.ctx_q.copy()
        q[0, 1] += self.bias
        q[0, 0] -= self.bias
        self.rate_matrix_ = q
        self.log_rate_std_ = np.where(q > 0, 1.0, 0.0) * ~np.eye(len(q), dtype=bool)
        return self


def test_context_table_runs_factories_and_summarises():
    q = np.array([[-1.0, 1.0], [2.0, -2.0]])
    contexts = [JumpContext(np.zeros((2, 3), int), np.arange(3.0), Q_true=q, name=f"c{i}") for i in range(3)]

    def factory(bias):
        def make(ctx):
            est = _Oracle(bias)
            est.ctx_q = ctx.Q_true
            return est
        return make

    def failing():
        class Bad:
            def fit(self, *a):
                raise BadInputError("nope")
        return Bad()

    table = context_table({"exact": factory(0.0), "biased": factory(0.5), "bad": failing}, contexts)
    assert table.methods == ["exact", "biased", "bad"] and table.contexts == ["c0", "c1", "c2"]
    s = table.summary()
    assert s["exact"]["rate_rmse"] == {"mean": 0.0, "sd": 0.0, "n_infinite": 0}
    assert s["biased"]["rate_rmse"]["mean"] == pytest.approx(math.sqrt(0.25 / 2))
    assert s["exact"]["coverage"]["mean"] == 1.0 and s["exact"]["n_contexts"] == 3
    assert s["bad"]["n_contexts"] == 0 and s["bad"]["n_failed"] == 3 and "nope" in table.errors["bad"][0][1]
    np.testing.assert_allclose(s["exact"]["stationary_distribution"]["mean"], [2 / 3, 1 / 3])
    assert math.isnan(s["exact"]["zero_mass"]["mean"])  # no structural zero
    pooled = table.pooled_calibration("biased", [c.Q_true for c in contexts])
    assert pooled["n_links"] == 6 and pooled["z_mean"] == pytest.approx(math.log(1.5) / 2)
    assert table.pooled_calibration("bad", [c.Q_true for c in contexts]) is None
    assert table.warnings["biased"] == {"UserWarning: biased on purpose": 3} and table.warnings["exact"] == {}
    with pytest.raises(BadInputError, match="nope"):
        context_table({"bad": failing}, contexts, raise_errors=True)
    # infinite values (e.g. the entropy production of a one-way link) are counted, and left out of mean and sd
    values = iter([1.0, math.inf, 3.0])
    table = context_table({"exact": factory(0.0)}, contexts, scorer=lambda est, ctx: {"epr": next(values)})
    assert table.mean_sd("exact", "epr") == (2.0, 1.0) and table.n_infinite("exact", "epr") == 1
