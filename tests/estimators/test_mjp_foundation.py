"""The foundation MJP model: statistics, prior, network symmetries, shards, training script and zero-shot accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dynfer._errors import BadInputError
from dynfer.datasets import flashing_ratchet_paths
from dynfer.estimators.mjp.foundation import FoundationMJP, OutsidePriorWarning
from dynfer.estimators.mjp.foundation.network import FoundationNetwork
from dynfer.estimators.mjp.foundation.prior import PRIOR, sample_contexts
from dynfer.estimators.mjp.foundation.shards import ShardSampler, load_shards, write_shards
from dynfer.estimators.mjp.foundation.statistics import LAG_CENTRES, context_statistics, lag_bins
from dynfer.estimators.mjp.foundation.train import train
from dynfer.processes.jumps import flashing_ratchet


def _ratchet_arrays(n_paths: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a = flashing_ratchet_paths(n_paths=n_paths, n_times=100, t_max=2.5, seed=seed)
    return a.obs["state"].to_numpy().reshape(n_paths, 100), a.obs["time"].to_numpy().reshape(n_paths, 100)


def test_lag_bins_interpolate_in_log_lag():
    lo, hi, w = lag_bins(torch.tensor([1.0, 2.0**-4, 2.0**4, 1e-9, 1e9], dtype=torch.float64))
    # log2(1) = 0 lies halfway between centres 5 and 6 of 12 on [-4, 4]
    assert (lo[0], hi[0]) == (5, 6) and w[0] == pytest.approx(0.5)
    assert LAG_CENTRES[5] < 0 < LAG_CENTRES[6]
    assert (lo[1], w[1]) == (0, 0.0) and (lo[2], hi[2]) == (11, 11)
    assert lo[3] == 0 and hi[4] == 11  # clamped at the ends


def test_statistics_count_pairs_triples_and_first_states_by_hand():
    states = torch.tensor([[0, 1, 1, 0], [1, 0, 0, 0]])
    times = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 4.0, 4.0]], dtype=torch.float64)
    lengths = torch.tensor([4, 3])
    st = context_statistics(states, times, lengths, torch.zeros(2, dtype=torch.long), 1, torch.tensor([2]))
    # lags 1, 1, 1, 2, 2: median 1, so u = 1 (bins 5/6 halves) and u = 2 (log2 = 1: x = 6.875)
    assert st.time_unit[0] == 1.0
    pairs = st.pairs[0].sum(-1)
    assert pairs[0, 1] == 1 and pairs[1, 1] == 1 and pairs[1, 0] == 2 and pairs[0, 0] == 1
    assert st.pairs[0, 1, 0, 6] == pytest.approx(0.5 + 0.125)  # one u=1 half, one u=2 (1 - 0.875)
    assert st.pairs[0, 1, 0, 7] == pytest.approx(0.875)
    assert st.triples[0, 0, 1, 1] == 1 and st.triples[0, 1, 1, 0] == 1 and st.triples[0, 1, 0, 0] == 1
    assert st.triples[0].sum() == 3
    assert st.first[0, 0] == 1 and st.first[0, 1] == 1


def test_prior_is_seeded_and_every_state_keeps_an_exit():
    a = sample_contexts(12, torch.Generator().manual_seed(3))
    b = sample_contexts(12, torch.Generator().manual_seed(3))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    for c in range(12):
        n = a["n_states"][c]
        adj = a["adjacency"][c]
        assert adj[:n, :n].any(1).all() and not adj[n:].any() and not np.diag(adj).any()
        assert np.isclose(a["initial"][c].sum(), 1.0, atol=1e-5)
        assert a["first"][c].sum() == a["n_paths"][c]
        span = a["log_rates"][c][adj].max() - a["log_rates"][c][adj].min()
        assert span <= PRIOR["window_decades"][1] * np.log(10) + 1e-4  # the window of the prior


def test_network_is_equivariant_in_the_states_and_blind_to_path_order():
    net = FoundationNetwork(width=16, hidden=32, n_layers=2)
    d = sample_contexts(8, torch.Generator().manual_seed(0))
    x = {k: torch.as_tensor(d[k]) for k in ("pairs", "triples", "first", "n_states")}
    sel = x["n_states"] == 6
    assert sel.any()
    x = {k: v[sel] for k, v in x.items()}
    p = torch.tensor([3, 5, 0, 1, 4, 2])
    out = net(**x)
    permuted = net(x["pairs"][:, p][:, :, p], x["triples"][:, p][:, :, p][:, :, :, p], x["first"][:, p],
                   x["n_states"])
    for key in ("log_rate_mean", "log_rate_std", "link_logit"):
        assert torch.allclose(out[key][:, p][:, :, p], permuted[key], atol=1e-5)
    assert torch.allclose(out["initial_logit"][:, p], permuted["initial_logit"], atol=1e-5)
    s, t = _ratchet_arrays(40, seed=1)
    est = FoundationMJP.pretrained().fit(s, t)
    order = np.random.default_rng(0).permutation(40)
    again = FoundationMJP.pretrained().fit(s[order], t[order])
    np.testing.assert_allclose(est.rate_matrix_, again.rate_matrix_, rtol=1e-5, atol=1e-7)


def test_shards_are_rebuilt_identically_and_sampled(tmp_path):
    write_shards(tmp_path, 2, contexts_per_shard=4, seed=7)
    first = load_shards(tmp_path, range(2))
    (tmp_path / "shard_00001.npz").unlink()
    write_shards(tmp_path, 2, contexts_per_shard=4, seed=7)
    assert all(np.array_equal(first[k], v) for k, v in load_shards(tmp_path, range(2)).items())
    sampler = ShardSampler(tmp_path, range(2))
    batch = sampler(torch.Generator().manual_seed(0), 5)
    assert batch["pairs"].shape == (5, 6, 6, 12) and batch["adjacency"].dtype == torch.bool
    with pytest.raises(BadInputError, match="missing"):
        load_shards(tmp_path, range(3))


def test_training_script_writes_weights_config_and_log_and_resumes(tmp_path):
    cfg = {"train_shards": 2, "val_shards": 1, "contexts_per_shard": 8, "max_steps": 6, "batch_size": 4,
           "eval_every": 3, "warmup_steps": 1, "network": {"width": 8, "hidden": 16, "n_layers": 1}}
    log = train(tmp_path / "data", tmp_path / "ckpt", cfg, tmp_path / "w")
    assert log["steps"] == 6 and log["training_mjps"] == 16
    assert json.loads((tmp_path / "w" / "config.json").read_text())["train"]["max_steps"] == 6
    s, t = _ratchet_arrays(20, seed=2)
    est = FoundationMJP(weights=str(tmp_path / "w" / "foundation_mjp.pt")).fit(s, t)
    assert np.isfinite(est.rate_matrix_).all()
    with pytest.warns(UserWarning, match="max_steps: 6 -> 9"):  # a longer schedule than the one interrupted
        log2 = train(tmp_path / "data", tmp_path / "ckpt", {**cfg, "max_steps": 9}, tmp_path / "w")
    assert log2["resumed_from"] == 6 and log2["steps"] == 9


def test_pretrained_meets_the_ratchet_goals_on_fresh_contexts():
    """Ratchet V = 1, 300 paths x 100 points: RMSE <= 0.10 (FIM 0.162), zeros < 0.02, 95 % coverage 90-97 %.

    Ten seeded contexts: the mean RMSE may exceed the goal by two standard errors (sd ~ 0.025 per context, so
    0.016), coverage over 180 links by two binomial standard errors (0.016 at p = 0.95).
    """
    q = flashing_ratchet(1.0).Q.numpy()
    off = ~np.eye(6, dtype=bool)
    adj = (q > 0) & off
    rmse, zeros, cover = [], [], []
    for seed in range(10):
        s, t = _ratchet_arrays(300, seed=100 + seed)
        est = FoundationMJP.pretrained().fit(s, t)
        rmse.append(np.sqrt(np.mean((est.rate_matrix_ - q)[off] ** 2)))
        zeros.append(est.rate_matrix_[off & ~adj].mean())
        z = (np.log(q[adj]) - est.log_rate_mean_[adj]) / est.log_rate_std_[adj]
        cover.append(np.abs(z) < 1.96)
    assert np.mean(rmse) <= 0.10 + 0.016
    assert np.mean(zeros) < 0.02
    assert 0.90 - 0.032 <= np.mean(cover) <= 0.97 + 0.032
    np.testing.assert_allclose(est.initial_distribution_.sum(), 1.0)


def test_more_paths_shrink_the_error_like_the_mle():
    s, t = _ratchet_arrays(3000, seed=5)
    q = flashing_ratchet(1.0).Q.numpy()
    off = ~np.eye(6, dtype=bool)
    err = {k: np.sqrt(np.mean((FoundationMJP.pretrained().fit(s[:k], t[:k]).rate_matrix_ - q)[off] ** 2))
           for k in (30, 300, 3000)}
    # the MLE's error falls like 1 / sqrt(K): a factor sqrt(10) = 3.2 per decade; ask for at least 2
    assert err[300] < err[30] / 2 and err[3000] < err[300] / 2


def test_bad_inputs_and_outside_the_prior():
    s, t = _ratchet_arrays(20, seed=3)
    with pytest.raises(BadInputError, match="n_states|state"):
        FoundationMJP.pretrained(n_states=4).fit(s, t)
    with pytest.raises(BadInputError, match="weights"):
        FoundationMJP(weights="no/such/file.pt").fit(s, t)
    rng = np.random.default_rng(0)
    big = rng.integers(0, 8, size=(50, 30))
    big[0, :8] = np.arange(8)
    with pytest.warns(OutsidePriorWarning, match="8 states"):
        FoundationMJP.pretrained().fit(big, np.arange(30.0))


def test_weights_file_that_is_not_ours_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"something": torch.zeros(2)}, path)
    s, t = _ratchet_arrays(10, seed=4)
    with pytest.raises(BadInputError, match="not a dynfer foundation-MJP weights file"):
        FoundationMJP(weights=str(path)).fit(s, t)
