"""RateMatrix linear algebra and the flashing ratchet against closed forms and the reference note.

Reference values: ../shared/references/markov_jump_processes.md, section 1-2 (discrete flashing ratchet,
Roldán & Parrondo 2010, r = b = 1). Independent computations here use numpy/scipy only.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from dynfer.processes.jumps import RateMatrix, flashing_ratchet

# V = 1 ratchet as printed in the note (rows = from), 4 decimals
NOTE_Q_V1 = np.array(
    [
        [-1.9744, 0.6065, 0.3679, 1, 0, 0],
        [1.6487, -3.2553, 0.6065, 0, 1, 0],
        [2.7183, 1.6487, -5.3670, 0, 0, 1],
        [1, 0, 0, -3, 1, 1],
        [0, 1, 0, 1, -3, 1],
        [0, 0, 1, 1, 1, -3],
    ]
)
NOTE_PI = {
    0: np.full(6, 1 / 6),
    1: np.array([0.30119, 0.13654, 0.06227, 0.20030, 0.15914, 0.14057]),
    2: np.array([0.3964, 0.0843, 0.0193, 0.2241, 0.1461, 0.1298]),
    3: np.array([0.4474, 0.0463, 0.0062, 0.2369, 0.1366, 0.1266]),
}
NOTE_EPR = {0: 0.0, 1: 0.1792, 2: 0.5656, 3: 0.9927}
NOTE_TIMESCALES_V1 = np.array([0.500, 0.350, 0.281, 0.205, 0.159])


def null_space_pi(q: np.ndarray) -> np.ndarray:
    """Stationary distribution as the (1-D) left null space of Q, by SVD."""
    ns = scipy.linalg.null_space(q.T)
    assert ns.shape[1] == 1
    v = ns[:, 0]
    return v / v.sum()


def schnakenberg(q: np.ndarray, p: np.ndarray) -> float:
    """Entropy production by an explicit double loop over pairs (Schnakenberg 1976)."""
    total = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i != j and q[i, j] > 0 and q[j, i] > 0:
                a, b = p[i] * q[i, j], p[j] * q[j, i]
                total += 0.5 * (a - b) * np.log(a / b)
    return total


def test_ratchet_matrix_matches_note():
    q = flashing_ratchet(1.0).Q
    assert q.dtype == torch.float64 and q.shape == (6, 6)
    np.testing.assert_allclose(q.numpy(), NOTE_Q_V1, atol=6e-5)  # printed to 4 decimals
    assert int(((q > 0) & ~torch.eye(6, dtype=torch.bool)).sum()) == 18


@pytest.mark.parametrize("V", [0, 1, 2, 3])
def test_ratchet_stationary_and_epr_match_note(V):
    rm = flashing_ratchet(float(V))
    pi = rm.stationary_distribution().numpy()
    q = rm.Q.numpy()
    np.testing.assert_allclose(pi, null_space_pi(q), atol=1e-12)
    atol = 6e-6 if V == 1 else 6e-5  # note prints 5 decimals for V = 1, 4 otherwise
    np.testing.assert_allclose(pi, NOTE_PI[V], atol=atol)
    epr = float(rm.entropy_production())
    assert epr == pytest.approx(NOTE_EPR[V], abs=6e-5)
    assert epr == pytest.approx(schnakenberg(q, null_space_pi(q)), rel=1e-10, abs=1e-14)


def test_ratchet_timescales_match_note():
    rm = flashing_ratchet(1.0)
    ts = rm.timescales().numpy()
    np.testing.assert_allclose(ts, NOTE_TIMESCALES_V1, atol=6e-4)  # note prints 3 decimals
    ev = np.linalg.eigvals(rm.Q.numpy())
    ev = ev[np.argsort(np.abs(ev))][1:]
    np.testing.assert_allclose(ts, np.sort(1 / np.abs(ev.real))[::-1], rtol=1e-10)
    assert rm.relaxation_time() == pytest.approx(ts[0])
    assert complex(rm.eigenvalues()[0]) == pytest.approx(0, abs=1e-12)


def test_two_state_closed_forms():
    a, b = 0.7, 2.3
    rm = RateMatrix(np.array([[-a, a], [b, -b]]))
    np.testing.assert_allclose(rm.stationary_distribution().numpy(), [b / (a + b), a / (a + b)], rtol=1e-12)
    assert rm.relaxation_time() == pytest.approx(1 / (a + b), rel=1e-12)
    np.testing.assert_allclose(rm.mfpt().numpy(), [[0, 1 / a], [1 / b, 0]], rtol=1e-12)
    t = 0.37
    p01 = a / (a + b) * (1 - np.exp(-(a + b) * t))
    assert float(rm.transition_matrix(t)[0, 1]) == pytest.approx(p01, rel=1e-12)
    assert float(rm.entropy_production()) == pytest.approx(0.0, abs=1e-15)  # two states: detailed balance


def test_transition_matrix_against_scipy():
    rm = flashing_ratchet(1.0)
    q = rm.Q.numpy()
    ts = np.array([0.0, 0.05, 0.3, 1.7])
    batch = rm.transition_matrix(ts)
    assert batch.shape == (4, 6, 6)
    for k, t in enumerate(ts):
        np.testing.assert_allclose(batch[k].numpy(), scipy.linalg.expm(q * t), atol=1e-12)
    single = rm.transition_matrix(0.3)
    assert single.shape == (6, 6)
    np.testing.assert_allclose(single.numpy(), scipy.linalg.expm(q * 0.3), atol=1e-12)


def test_mfpt_against_fundamental_matrix():
    rm = flashing_ratchet(1.0)
    q = rm.Q.numpy()
    pi = null_space_pi(q)
    # Z = (1 pi - Q)^{-1};  tau_ij = (Z_jj - Z_ij) / pi_j  (Kemeny & Snell; continuous-time form)
    z = np.linalg.inv(np.outer(np.ones(6), pi) - q)
    tau = (np.diag(z)[None, :] - z) / pi[None, :]
    np.testing.assert_allclose(rm.mfpt().numpy(), tau, rtol=1e-10, atol=1e-12)
    # to a set A = {0, 3}: solve on the complement directly
    comp = [1, 2, 4, 5]
    sol = np.linalg.solve(q[np.ix_(comp, comp)], -np.ones(4))
    got = rm.mfpt([0, 3]).numpy()
    np.testing.assert_allclose(got[comp], sol, rtol=1e-10)
    assert got[0] == 0 and got[3] == 0


def test_mfpt_unreachable_is_inf():
    # 0 -> 1 and 0 -> 2, 2 absorbing: from 0 the target 1 is missed with probability 1/2
    rm = RateMatrix([[-2.0, 1.0, 1.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    tau = rm.mfpt().numpy()
    assert np.isinf(tau[0, 1]) and np.isinf(tau[2, 0])
    assert tau[1, 0] == pytest.approx(1.0)


def test_entropy_production_one_way_and_batch():
    cyc = RateMatrix([[-1.0, 1.0, 0.0], [0.0, -1.0, 1.0], [1.0, 0.0, -1.0]])  # irreversible cycle
    with pytest.warns(RuntimeWarning, match="one-way"):
        assert float(cyc.entropy_production()) == float("inf")
    # driven 3-cycle: forward k, backward w; uniform pi, sigma = (k - w) ln(k / w)
    k, w = 2.0, 0.5
    drv = RateMatrix([[-(k + w), k, w], [w, -(k + w), k], [k, w, -(k + w)]])
    assert float(drv.entropy_production()) == pytest.approx((k - w) * np.log(k / w), rel=1e-12)
    p = np.array([[0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    got = drv.entropy_production(p).numpy()
    q = drv.Q.numpy()
    np.testing.assert_allclose(got, [schnakenberg(q, p[0]), schnakenberg(q, p[1])], rtol=1e-12)


def test_dtype_device_conventions_and_from_rates():
    rm = RateMatrix(np.array([[-1.0, 1.0], [2.0, -2.0]]))
    assert rm.dtype == torch.float64 and rm.device.type == "cpu"
    q32 = torch.tensor([[-1.0, 1.0], [2.0, -2.0]], dtype=torch.float32)
    rm32 = RateMatrix(q32)
    assert rm32.dtype == torch.float32
    assert rm32.stationary_distribution().dtype == torch.float32
    off = torch.tensor([[9.0, 1.0, 0.5], [2.0, 9.0, 0.0], [0.3, 0.4, 9.0]], requires_grad=True)
    built = RateMatrix.from_rates(off)
    np.testing.assert_allclose(built.Q.detach().sum(1).numpy(), 0, atol=1e-6)
    assert float(built.Q[0, 0].detach()) == pytest.approx(-1.5)
    built.stationary_distribution()[0].backward()
    assert off.grad is not None and torch.isfinite(off.grad).all()
    assert "n_states=3" in repr(built)
