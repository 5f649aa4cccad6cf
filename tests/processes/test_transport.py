"""Optimal transport, Wasserstein distances, energy distance and MMD against closed forms and scipy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from scipy.spatial.distance import pdist

from dynfer.processes.transport import (
    OTConvergenceWarning,
    cost_matrix,
    energy_distance,
    median_bandwidth,
    mmd,
    ot_cost,
    ot_plan,
    wasserstein,
)


def _cloud(rng, n, d, shift=0.0):
    return rng.normal(size=(n, d)) + shift


# ---------------------------------------------------------------------------------------------- Wasserstein
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_w1_1d_matches_scipy(seed, weighted):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=37), rng.standard_t(3, size=53) + 0.4
    a, b = (rng.random(37), rng.random(53)) if weighted else (None, None)
    expected = scipy.stats.wasserstein_distance(x, y, a, b)
    assert wasserstein(x, y, p=1, a=a, b=b) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert wasserstein(x[:, None], y[:, None], p=1, a=a, b=b) == pytest.approx(expected, rel=1e-10)


def test_w2_affine_spd_map_pairs_identity():
    # y_i = A x_i + m with A symmetric positive definite is the gradient of the convex x'Ax/2 + m'x, so by Brenier the
    # identity pairing is optimal and the discrete W2 is exactly sqrt(mean |x_i - y_i|^2).
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    A = q @ np.diag([0.5, 1.3, 2.0]) @ q.T
    x = rng.normal(size=(300, 3))
    y = x @ A + np.array([1.0, -2.0, 0.5])
    expected = math.sqrt(np.mean(np.sum((x - y) ** 2, axis=1)))
    assert wasserstein(x, y, p=2) == pytest.approx(expected, rel=1e-6)
    plan = ot_plan(x, y)
    np.testing.assert_allclose(plan, np.eye(300) / 300, atol=1e-12)


def _bures_w2(m1, s1, m2, s2):
    r2 = scipy.linalg.sqrtm(s2)
    cross = scipy.linalg.sqrtm(r2 @ s1 @ r2).real
    return math.sqrt(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * cross))


def test_w2_gaussian_samples_near_bures():
    rng = np.random.default_rng(4)
    n = 800
    m1, m2 = np.array([0.0, 0.0]), np.array([1.5, -0.5])
    s1 = np.array([[1.0, 0.3], [0.3, 0.5]])
    s2 = np.array([[2.0, -0.4], [-0.4, 1.0]])
    l1, l2 = np.linalg.cholesky(s1), np.linalg.cholesky(s2)
    draw = [m + rng.normal(size=(n, 2)) @ chol.T for m, chol in ((m1, l1), (m1, l1), (m2, l2), (m2, l2))]
    exact = _bures_w2(m1, s1, m2, s2)
    sample = wasserstein(draw[0], draw[2], p=2)
    # Tolerance: |W2(mu_n, nu_n) - W2(mu, nu)| <= W2(mu_n, mu) + W2(nu_n, nu) (triangle inequality). Each sampling error
    # W2(mu_n, mu) is estimated by the W2 between two independent n-samples of mu, which is about sqrt(2) times larger
    # (independent errors add in quadrature), so the sum below over-covers the bound by ~1.4x.
    tol = wasserstein(draw[0], draw[1], p=2) + wasserstein(draw[2], draw[3], p=2)
    assert tol < 0.3 * exact  # the check is informative: the noise floor is well below the distance itself
    assert abs(sample - exact) < tol


def test_w2_is_sqrt_of_exact_sqeuclidean_cost():
    rng = np.random.default_rng(5)
    x, y = _cloud(rng, 40, 3), _cloud(rng, 30, 3, 1.0)
    assert wasserstein(x, y, p=2) ** 2 == pytest.approx(ot_cost(x, y), rel=1e-12)
    assert wasserstein(x, y, p=1) == pytest.approx(ot_cost(x, y, metric="euclidean"), rel=1e-12)
    assert wasserstein(x, x, p=2) == pytest.approx(0.0, abs=1e-7)


def test_cost_matrix_matches_scipy_cdist():
    rng = np.random.default_rng(6)
    x, y = _cloud(rng, 20, 4, 100.0), _cloud(rng, 15, 4, 100.0)  # far from the origin: centring avoids cancellation
    np.testing.assert_allclose(cost_matrix(x, y), scipy.spatial.distance.cdist(x, y, "sqeuclidean"), rtol=1e-10)
    np.testing.assert_allclose(cost_matrix(x, y, "euclidean"), scipy.spatial.distance.cdist(x, y), rtol=1e-10)


# ---------------------------------------------------------------------------------------------- energy distance, MMD
@pytest.mark.parametrize("weighted", [False, True])
def test_energy_distance_1d_matches_scipy(weighted):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=45), rng.exponential(size=60)
    a, b = (rng.random(45), rng.random(60)) if weighted else (None, None)
    expected = scipy.stats.energy_distance(x, y, a, b)
    assert energy_distance(x, y, a=a, b=b) == pytest.approx(expected, rel=1e-10)
    assert energy_distance(x, y, a=a, b=b, squared=True) == pytest.approx(expected**2, rel=1e-10)


def _gauss_kernel_mean(mean_diff, cov_sum, h):
    # E exp(-|Z|^2 / (2h^2)) for Z ~ N(delta, S) = det(I + S/h^2)^(-1/2) exp(-delta' (S + h^2 I)^(-1) delta / 2)
    d = len(mean_diff)
    quad = mean_diff @ np.linalg.solve(cov_sum + h * h * np.eye(d), mean_diff)
    return np.linalg.det(np.eye(d) + cov_sum / h**2) ** -0.5 * math.exp(-0.5 * quad)


def test_mmd_gaussians_matches_closed_form():
    rng = np.random.default_rng(8)
    h, n, reps = 1.2, 300, 20
    m1, m2 = np.zeros(2), np.array([0.8, 0.3])
    s1, s2 = np.diag([1.0, 0.5]), np.array([[0.7, 0.2], [0.2, 1.1]])
    kxx = _gauss_kernel_mean(np.zeros(2), 2 * s1, h)
    kyy = _gauss_kernel_mean(np.zeros(2), 2 * s2, h)
    kxy = _gauss_kernel_mean(m1 - m2, s1 + s2, h)
    exact = kxx + kyy - 2 * kxy
    biased_mean = exact + (1 - kxx) / n + (1 - kyy) / n  # the V-statistic keeps the diagonal k(x, x) = 1
    l1, l2 = np.linalg.cholesky(s1), np.linalg.cholesky(s2)
    u, v = [], []
    for _ in range(reps):
        x, y = m1 + rng.normal(size=(n, 2)) @ l1.T, m2 + rng.normal(size=(n, 2)) @ l2.T
        u.append(mmd(x, y, bandwidth=h, unbiased=True, squared=True))
        v.append(mmd(x, y, bandwidth=h, squared=True))
    # Tolerance from the sample: 4 standard errors of the mean of `reps` independent replicates (the unbiased
    # estimator's expectation is exactly MMD^2, the biased one's is MMD^2 plus the known diagonal term).
    for values, target in ((u, exact), (v, biased_mean)):
        se = np.std(values, ddof=1) / math.sqrt(reps)
        assert abs(np.mean(values) - target) < 4 * se
        assert se < 0.1 * exact  # and the check is tight relative to the quantity
    assert mmd(x, y, bandwidth=h) == pytest.approx(math.sqrt(v[-1]), rel=1e-12)


def test_mmd_identical_and_same_law():
    rng = np.random.default_rng(9)
    x = _cloud(rng, 200, 3)
    assert mmd(x, x) == pytest.approx(0.0, abs=1e-6)
    assert mmd(x, x, squared=True) == pytest.approx(0.0, abs=1e-12)
    same, other = mmd(x, _cloud(rng, 200, 3), squared=True), mmd(x, _cloud(rng, 200, 3, 1.0), squared=True)
    assert same < 0.1 * other


def test_mmd_median_heuristic_and_bandwidth_mixture():
    rng = np.random.default_rng(10)
    x, y = _cloud(rng, 50, 2), _cloud(rng, 40, 2, 0.5)
    h = float(np.median(pdist(np.vstack([x, y]))))
    assert median_bandwidth(x, y) == pytest.approx(h, rel=1e-10)
    assert mmd(x, y) == pytest.approx(mmd(x, y, bandwidth=h), rel=1e-12)
    mix = mmd(x, y, bandwidth=[0.5, 2.0], squared=True)
    parts = [mmd(x, y, bandwidth=w, squared=True) for w in (0.5, 2.0)]
    assert mix == pytest.approx(np.mean(parts), rel=1e-12)  # MMD^2 is linear in the kernel


# ---------------------------------------------------------------------------------------------- entropic and unbalanced
def test_sinkhorn_approaches_exact_cost():
    rng = np.random.default_rng(11)
    x, y = _cloud(rng, 60, 2), _cloud(rng, 50, 2, 1.0)
    exact = ot_cost(x, y)
    gaps = []
    for reg in (0.3, 0.1, 0.03):
        with warnings.catch_warnings():
            warnings.simplefilter("error", OTConvergenceWarning)
            cost = ot_cost(x, y, method="sinkhorn", reg=reg, max_iter=20000)
        # 0 <= <P_eps, C> - OT <= eps * (H(a) + H(b)) = eps * log(nm) (entropy of any coupling is at most that)
        assert -1e-9 <= cost - exact <= reg * math.log(60 * 50)
        gaps.append(cost - exact)
    assert gaps[0] > gaps[1] > gaps[2]


@pytest.mark.parametrize("method", ["exact", "sinkhorn"])
def test_plan_marginals_equal_normalised_weights(method):
    rng = np.random.default_rng(12)
    x, y = _cloud(rng, 30, 2), _cloud(rng, 25, 2, 0.5)
    a, b = rng.random(30) * 3, rng.random(25)  # different totals: balanced methods renormalise each to 1
    plan = ot_plan(x, y, a=a, b=b, method=method)
    assert plan.shape == (30, 25)
    assert (plan >= 0).all()
    np.testing.assert_allclose(plan.sum(1), a / a.sum(), atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), b / b.sum(), atol=1e-9)


def test_unbalanced_one_point_closed_form():
    # n = m = 1: minimise p c + eps KL(p | ab) + rho KL(p | a) + rho KL(p | b) with KL(p | q) = p log(p/q) - p + q,
    # whose stationarity condition gives log p = (eps log(ab) + rho log a + rho log b - c) / (eps + 2 rho).
    c, a, b, eps, rho = 0.7, 1.0, 2.0, 0.5, 1.0
    plan = ot_plan(None, None, cost=np.array([[c]]), a=np.array([a]), b=np.array([b]), method="unbalanced", reg=eps,
                   reg_m=rho, tol=1e-12, max_iter=10000)
    expected = math.exp((eps * math.log(a * b) + rho * math.log(a) + rho * math.log(b) - c) / (eps + 2 * rho))
    assert plan[0, 0] == pytest.approx(expected, rel=1e-9)


def test_unbalanced_tends_to_balanced_and_loses_mass_when_relaxed():
    rng = np.random.default_rng(13)
    x, y = _cloud(rng, 20, 2), _cloud(rng, 20, 2, 1.0)
    balanced = ot_plan(x, y, method="sinkhorn", reg=1.0)
    gaps = [np.abs(ot_plan(x, y, method="unbalanced", reg=1.0, reg_m=rho, max_iter=20000, tol=1e-9) - balanced).max()
            for rho in (1e2, 1e3)]
    assert gaps[1] < 1e-3 and gaps[1] < 0.2 * gaps[0]  # the relaxation error shrinks like 1/reg_m
    far = y + 2.0
    loose = ot_plan(x, far, method="unbalanced", reg=0.5, reg_m=1.0)
    assert loose.sum() < 0.5  # transporting over distance ~3 costs more than destroying and creating mass


def test_default_reg_is_scale_free_and_precomputed_cost():
    rng = np.random.default_rng(14)
    x, y = _cloud(rng, 25, 2), _cloud(rng, 20, 2, 1.0)
    c = cost_matrix(x, y)
    for method in ("sinkhorn", "unbalanced"):
        plan = ot_plan(x, y, method=method)
        np.testing.assert_allclose(ot_plan(None, None, cost=100.0 * c, method=method), plan, atol=1e-10)
    assert ot_cost(x, y, cost=c) == pytest.approx(ot_cost(x, y), rel=1e-12)
    neg_log = -scipy.stats.norm.logpdf(y[None, :, 0], loc=x[:, None, 0])  # a non-metric cost such as -log p(y|x)
    assert ot_plan(None, None, cost=neg_log).shape == (25, 20)


# ---------------------------------------------------------------------------------------------- kinds, devices, dtypes
_CALLS = {
    "plan_exact": lambda x, y: ot_plan(x, y),
    "plan_sinkhorn": lambda x, y: ot_plan(x, y, method="sinkhorn", reg=1.0),
    "plan_unbalanced": lambda x, y: ot_plan(x, y, method="unbalanced", reg=1.0),
    "cost_sinkhorn": lambda x, y: ot_cost(x, y, method="sinkhorn", reg=1.0),
    "cost_matrix": lambda x, y: cost_matrix(x, y),
    "w1": lambda x, y: wasserstein(x, y, p=1),
    "w2": lambda x, y: wasserstein(x, y, p=2),
    "energy": lambda x, y: energy_distance(x, y),
    "mmd": lambda x, y: mmd(x, y),
}


@pytest.mark.parametrize("name", list(_CALLS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out_same_device_and_dtype(name, dtype, device):
    rng = np.random.default_rng(15)
    xn, yn = _cloud(rng, 12, 2), _cloud(rng, 9, 2, 0.5)
    x, y = torch.tensor(xn, dtype=dtype, device=device), torch.tensor(yn, dtype=dtype, device=device)
    out = _CALLS[name](x, y)
    assert isinstance(out, torch.Tensor)
    assert out.device.type == device.type and out.dtype == dtype
    ref = _CALLS[name](xn, yn)  # float64 numpy
    tol = 1e-4 if dtype == torch.float32 else 1e-9
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(_CALLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_in_numpy_out(name, dtype):
    rng = np.random.default_rng(16)
    x, y = _cloud(rng, 12, 2).astype(dtype), _cloud(rng, 9, 2, 0.5).astype(dtype)
    out = _CALLS[name](x, y)
    assert isinstance(out, np.ndarray | np.generic) and not isinstance(out, torch.Tensor)
    assert out.dtype == dtype
    assert np.all(np.isfinite(out))


def test_lists_and_ints_give_float64_numpy():
    out = wasserstein([0, 1, 2], [1, 2, 3], p=1)
    assert isinstance(out, np.float64) and out == pytest.approx(1.0)


def test_exact_cost_gradient_is_envelope_gradient():
    # d/dx_i sum_ij P_ij |x_i - y_j|^2 with P fixed = 2 (a_i x_i - sum_j P_ij y_j)
    rng = np.random.default_rng(17)
    x = torch.tensor(_cloud(rng, 10, 2), requires_grad=True)
    y = torch.tensor(_cloud(rng, 8, 2, 1.0))
    ot_cost(x, y).backward()
    plan = torch.as_tensor(ot_plan(x.detach().numpy(), y.numpy()))
    expected = 2 * (x.detach() / 10 - plan @ y)
    torch.testing.assert_close(x.grad, expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------- warnings and errors
def test_convergence_warnings():
    rng = np.random.default_rng(18)
    x, y = _cloud(rng, 40, 2), _cloud(rng, 40, 2, 1.0)
    with pytest.warns(OTConvergenceWarning, match="max_iter"):
        ot_plan(x, y, method="sinkhorn", reg=1e-3, max_iter=5)
    with pytest.warns(OTConvergenceWarning, match="max_iter"):
        ot_plan(x, y, method="exact", max_iter=3)
    with pytest.warns(OTConvergenceWarning, match="unbalanced"):
        ot_plan(x, y, method="unbalanced", reg=1e-3, max_iter=2)


def test_float32_precision_hint_in_warning():
    x = torch.tensor([[0.0], [1e3]])
    y = torch.tensor([[5e2], [2e3]])
    with pytest.warns(OTConvergenceWarning, match="float64"):
        ot_plan(x, y, method="sinkhorn", reg=1e-3)


def test_non_finite_plan_raises_with_advice():
    x = torch.tensor([[0.0], [1e3]])
    y = torch.tensor([[5e2], [2e3]])
    with pytest.raises(FloatingPointError, match="Increase reg"):
        ot_plan(x, y, method="sinkhorn", reg=1e-40)
    with pytest.raises(FloatingPointError, match="Increase reg"):
        ot_plan(x, y, method="unbalanced", reg=1e-10)


_X = np.zeros((4, 2))
_BAD = [
    (lambda: wasserstein(_X, np.zeros((3, 3))), "same dimension"),
    (lambda: wasserstein(np.array([[np.nan, 0.0]]), _X), "x contains"),
    (lambda: ot_plan(_X, np.array([[0.0, np.inf]])), "y contains"),
    (lambda: ot_plan(_X, _X, a=np.array([1.0, -1.0, 1.0, 1.0])), "a must be non-negative"),
    (lambda: ot_plan(_X, _X, b=np.ones(3)), "b must hold one weight per point"),
    (lambda: ot_plan(_X, _X, a=np.zeros(4)), "positive total"),
    (lambda: ot_plan(_X, _X, a=np.array([1.0, np.nan, 1.0, 1.0])), "a contains"),
    (lambda: wasserstein(_X, _X, p=3), "p must be 1 or 2"),
    (lambda: wasserstein(np.zeros((0, 2)), _X), "x is empty"),
    (lambda: energy_distance(_X, np.array([])), "y is empty"),
    (lambda: ot_plan(_X, _X, method="emd"), "method must be one of"),
    (lambda: cost_matrix(_X, _X, metric="cosine"), "metric must be one of"),
    (lambda: ot_plan(np.zeros((2, 2, 2)), _X), "x must be a point cloud"),
    (lambda: ot_plan(_X, _X, method="sinkhorn", reg=-1.0), "reg must be"),
    (lambda: ot_plan(_X, _X, method="unbalanced", reg_m=0.0), "reg_m must be"),
    (lambda: ot_plan(_X, _X, max_iter=0), "max_iter"),
    (lambda: ot_plan(None, None), "cost matrix"),
    (lambda: ot_plan(_X, None, cost=np.ones((3, 4))), "x holds 4 points"),
    (lambda: ot_plan(None, None, cost=np.array([[np.nan]])), "cost contains"),
    (lambda: mmd(_X, _X, kernel="polynomial"), "kernel must be one of"),
    (lambda: mmd(_X, _X, bandwidth=0.0), "bandwidth must be"),
    (lambda: mmd(_X, _X, unbiased=True), "squared=True"),
    (lambda: mmd(_X[:1], _X, unbiased=True, squared=True), "at least 2 points"),
    (lambda: wasserstein(["a", "b"], _X), "x must be a numeric array"),
]


@pytest.mark.parametrize(("call", "match"), _BAD, ids=[m for _, m in _BAD])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_solver_failures_are_bad_input_and_keep_their_old_types():
    import dynfer
    from dynfer.processes.transport import OTNumericalError, OTSolverError

    x = torch.tensor([[0.0], [1e3]])
    y = torch.tensor([[5e2], [2e3]])
    with pytest.raises(OTNumericalError, match="reg") as info:
        ot_plan(x, y, method="sinkhorn", reg=1e-40)
    assert isinstance(info.value, dynfer.BadInputError) and isinstance(info.value, FloatingPointError)
    assert issubclass(OTSolverError, dynfer.BadInputError) and issubclass(OTSolverError, RuntimeError)


def test_distances_that_overflow_are_refused():
    import dynfer

    x = np.full((3, 2), 1e200)  # squared distances of 1e200-points: centring rounds to 1e184, squares overflow
    with pytest.raises(dynfer.BadInputError, match="x and y: points whose squared distances overflow float64"):
        cost_matrix(x, x)  # was all NaN
    with pytest.raises(dynfer.BadInputError, match="x and y"):
        ot_plan(x, x)  # was a RuntimeError from the network simplex ("problem unbounded")
    with pytest.raises(dynfer.BadInputError, match="x and y"):
        mmd(x, x)  # was NaN
    assert float(wasserstein(x, x, p=1)) == 0.0  # plain distances still fit


def test_mmd_bandwidth_beyond_the_dtype_is_refused():
    import dynfer

    x = np.zeros((2, 1))
    for h in (1e-300, 1e-200):  # 1 / (2 h^2) overflows: the diagonal was 0 * inf = NaN, or 1 / 0
        with pytest.raises(dynfer.BadInputError, match="bandwidth"):
            mmd(x, x, bandwidth=h)
    assert float(mmd(x, x + 1.0, bandwidth=1e-100, kernel="laplacian")) > 0
