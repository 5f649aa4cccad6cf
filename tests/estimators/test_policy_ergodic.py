r"""Benchmark 4 of the reference: the ergodic LQ problem under a fixed Gaussian policy (JZ-PG Sec. 5.2 setup).

dX = (A X + B a) dt + (C X + D a) dW with A = -1, B = C = 0, D = 1; a ~ N(phi_1 x + phi_2, s^2); reward
r = -(M/2 x^2 + R x a + N/2 a^2 + P x + Q a) with M = N = Q = 2, R = P = 1, plus the entropy bonus
gamma * 0.5 ln(2 pi e s^2). Averaged over the action (the relaxed dynamics of the reference), the state follows
dX = -X dt + sqrt((phi_1 X + phi_2)^2 + s^2) dW with reward rbar(x) = r2 x^2 + r1 x + r0, and

    J(x) = k2/2 x^2 + k1 x,  k2 = -(M/2 + R phi_1 + N phi_1^2/2) / (1 - phi_1^2/2),
    k1 = -R phi_2 - N phi_1 phi_2 - P - Q phi_1 + phi_1 phi_2 k2,
    V = -N/2 (phi_2^2 + s^2) - Q phi_2 + (phi_2^2 + s^2) k2 / 2 + gamma ln(2 pi e s^2) / 2.

The data are the Euler chain x' = (1 - dt) x + sqrt(((phi_1 x + phi_2)^2 + s^2) dt) z, simulated here. For that
chain E[delta_k | x] is a quadratic in x, and the root of its three coefficients is the exact discrete fixed point
k2 = 2 r2 / (2 - dt - phi_1^2), k1 = k2 phi_1 phi_2 + r1, V = k2 (phi_2^2 + s^2) / 2 + r0 (for every test
function), which tends to the closed form above as dt -> 0. Tolerance: 4 sandwich standard errors, from batch means
over blocks of 25 time units (25 relaxation times, so the blocks are close to independent).
"""

from __future__ import annotations

import numpy as np
import pytest

from dynfer.estimators.policy import MartingalePolicyEvaluation, PolicyData

M, N, Q, R, P = 2.0, 2.0, 2.0, 1.0, 1.0
GAMMA, PHI1, PHI2, S2 = 0.1, -0.5, 0.3, 0.25
ENTROPY = GAMMA * 0.5 * np.log(2 * np.pi * np.e * S2)
R2 = -(M / 2 + R * PHI1 + N * PHI1**2 / 2)
R1 = -(R * PHI2 + N * PHI1 * PHI2 + P + Q * PHI1)
R0 = -(N / 2 * (PHI2**2 + S2) + Q * PHI2) + ENTROPY
DT, N_TRAJ, DURATION, BLOCK = 0.01, 20, 500.0, 25.0


def closed_form() -> tuple[float, float, float]:
    k2 = -(M / 2 + R * PHI1 + N * PHI1**2 / 2) / (1 - PHI1**2 / 2)
    k1 = -R * PHI2 - N * PHI1 * PHI2 - P - Q * PHI1 + PHI1 * PHI2 * k2
    v = -N / 2 * (PHI2**2 + S2) - Q * PHI2 + 0.5 * (PHI2**2 + S2) * k2 + ENTROPY
    return k2, k1, v


def discrete_fixed_point(dt: float) -> tuple[float, float, float]:
    k2 = 2 * R2 / (2 - dt - PHI1**2)
    return k2, k2 * PHI1 * PHI2 + R1, 0.5 * k2 * (PHI2**2 + S2) + R0


@pytest.fixture(scope="module")
def lq():
    rng = np.random.default_rng(2)
    n = int(DURATION / DT)
    x = np.zeros((N_TRAJ, n + 1))
    z = rng.normal(size=(N_TRAJ, n))
    for k in range(n):
        xk = x[:, k]
        x[:, k + 1] = (1 - DT) * xk + np.sqrt(((PHI1 * xk + PHI2) ** 2 + S2) * DT) * z[:, k]
    x = x[:, 1000:]  # drop 10 time units of burn-in from x0 = 0
    t = np.arange(x.shape[1]) * DT
    return x, PolicyData(np.tile(t, (N_TRAJ, 1)), x, R2 * x**2 + R1 * x + R0)


def test_closed_form_numbers():
    k2, k1, v = closed_form()
    assert abs((v - ENTROPY) - (-1.0857)) < 1e-4  # the reference: V minus the entropy term = -1.0857
    for a, b in zip(discrete_fixed_point(1e-7), (k2, k1, v), strict=True):
        assert abs(a - b) < 1e-6
    for a, b in zip(discrete_fixed_point(DT), (k2, k1, v), strict=True):
        assert abs(a - b) < 0.01 * abs(b)  # the O(dt) bias at dt = 0.01


def _block_se(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Sandwich standard errors of the ergodic LSTD root (test functions x, x^2, 1), from block sums."""
    f = np.stack([x, x**2], -1)
    a = np.concatenate([f[:, 1:] - f[:, :-1], np.full(f[:, :-1, :1].shape, -DT)], -1)
    xi = np.concatenate([f[:, :-1], np.ones_like(f[:, :-1, :1])], -1)
    c = (R2 * x[:, :-1] ** 2 + R1 * x[:, :-1] + R0) * DT
    A = np.einsum("nki,nkj->ij", xi, a)
    per_step = xi * (c + a @ theta)[..., None]
    per_block = int(BLOCK / DT)
    n_blocks = per_step.shape[1] // per_block
    g = per_step[:, : n_blocks * per_block].reshape(N_TRAJ * n_blocks, per_block, 3).sum(1)
    inv = np.linalg.inv(A)
    return np.sqrt(np.diag(inv @ g.T @ g @ inv.T))


@pytest.mark.parametrize("method", ["lstd", "td"])
def test_k2_k1_and_average_reward(lq, method):
    x, data = lq
    est = MartingalePolicyEvaluation(method, degree=2).fit(data)
    assert est.setting_ == "ergodic" and est.feature_names_ == ["x0", "x0^2"]
    theta = np.array([*est.coef_, est.average_reward_])
    se = _block_se(x, theta)
    k2, k1, v = discrete_fixed_point(DT)
    target = np.array([k1, k2 / 2, v])
    assert np.all(np.abs(theta - target) < 4 * se), (theta, target, se)
    assert np.all(se < 0.02)  # the design: 1e6 steps pin k1, k2/2 to about 0.015 and V to 0.003
    assert est.results()["average_reward"] == est.average_reward_


def test_ergodic_martingale_loss_estimates_v(lq):
    # the bootstrapped martingale loss on the same data: V within the O(dt) bias of the fixed point plus noise
    x, data = lq
    est = MartingalePolicyEvaluation("martingale", degree=2, weights="relative").fit(data)
    lstd = MartingalePolicyEvaluation("lstd", degree=2).fit(data)
    se = _block_se(x, np.array([*lstd.coef_, lstd.average_reward_]))
    assert abs(est.average_reward_ - lstd.average_reward_) < 4 * se[2] + 0.01


def test_ergodic_refuses_a_discount_and_a_constant():
    t = np.linspace(0, 1, 11)
    data = PolicyData([t], [np.sin(t)], [np.cos(t)])
    with pytest.raises(ValueError, match="discount"):
        MartingalePolicyEvaluation("lstd", setting="ergodic", discount=0.5).fit(data)
    with pytest.raises(ValueError, match="features"):  # a constant feature is not identified with V
        MartingalePolicyEvaluation("lstd", features=lambda t, x: np.ones((len(t), 1))).fit(data)
