r"""Finite-n linearised prediction of the SA-SRRW mean-square error :math:`\mathbb E\lVert\theta_n - \theta^*\rVert^2`.

**[derived]** (dynfer; not in the papers). Notation as in :mod:`dynfer.estimators.srrw.theory`: the reversible
base chain :math:`P` has eigenvalues :math:`\lambda_i` and :math:`\mu`-orthonormal left eigenvectors :math:`u_i`
(:math:`i \ge 2`), right eigenvectors :math:`f_i = D^{-1}u_i` (:math:`Pf_i = \lambda_if_i`,
:math:`\mathbb E_\mu f_if_j = \delta_{ij}`); :math:`g_i = H^\top u_i` with :math:`H` the ``(N, p)`` negative node
gradients at :math:`\theta^*`, and :math:`A = \nabla^2 f(\theta^*)`. Step sizes as in the simulation: step
:math:`k = 0, 1, \dots` uses :math:`\beta_{k+1} = (k+2)^{-b}` and :math:`\gamma_{k+1} = c\,(k+2)^{-a}`.

Three coordinates per mode :math:`i`:

* the chain's mode :math:`y_{i,k} = f_i(X_k)`, so that :math:`\delta_{X_k} - \mu = \sum_i y_{i,k}u_i`;
* the measure's mode :math:`z_{i,k} = u_i^\top D^{-1}(x_k - \mu)`, so that :math:`x_k - \mu = \sum_i z_{i,k}u_i`;
* and the θ-error :math:`e_k = \theta_k - \theta^*` (shared).

**Exact identities.** Projecting :math:`x_{k+1} = (1-\beta)x_k + \beta\delta_{X_{k+1}}` gives
:math:`z_{i,k+1} = (1-\beta)z_{i,k} + \beta y_{i,k+1}`; for a quadratic objective with constant Hessian,
:math:`H(\theta, j) = H(\theta^*, j) - A(\theta - \theta^*)` and :math:`H^\top\mu = 0`, so
:math:`e_{k+1} = (I - \gamma A)e_k + \gamma\sum_i g_i y_{i,k+1}`. For the base chain
(:math:`\alpha = 0`), :math:`\mathbb E[f_i(X_{k+1}) \mid X_k] = \lambda_i f_i(X_k)`: :math:`y_i` is an AR(1)
in the second-order sense, :math:`y_{i,k+1} = \lambda_iy_{i,k} + \eta_{i,k+1}` with martingale increments of
stationary variance :math:`1 - \lambda_i^2`, uncorrelated across modes (long-run variance
:math:`s_i = (1+\lambda_i)/(1-\lambda_i)`, the weight of :math:`V(0)`).

**Linearised kernel.** With :math:`\zeta = D^{-1}(x - \mu) = \sum_j z_jf_j`, :math:`K_{lm}[x] \approx
P_{lm}(1 - \alpha\zeta_m + \alpha(P\zeta)_l)`, so :math:`\mathbb E[f_i(X_{k+1}) \mid X_k] \approx \lambda_if_i(X_k)
- \alpha[P(\zeta f_i) - \lambda_if_iP\zeta](X_k)`. Keeping the :math:`\mu`-average of the bracket,
:math:`(1-\lambda_i^2)z_i` (it is the part linear in :math:`z` with no fluctuating factor), gives

.. math::

    y_{i,k+1} = \lambda_iy_{i,k} - \kappa_iz_{i,k} + \eta_{i,k+1}, \qquad \kappa_i = \alpha(1-\lambda_i^2),

whose frozen-:math:`z` mean :math:`-\alpha(1+\lambda_i)z_i` is the Jacobian :math:`\nabla\pi[\mu]` of the SRRW
stationary law (the mode relaxes at rate :math:`\beta(\alpha(1+\lambda_i)+1)`, the eigenvalue behind
:math:`V(\alpha)`). The feedback is taken semi-implicitly, :math:`-\kappa_iz_{i,k+1}`: the explicit form
amplifies early steps where :math:`\beta_k\kappa_i > 2` (for :math:`\alpha = 20`, :math:`b = 0.8`, the first ~17
steps) which the bounded nonlinear walk never does; the two agree to :math:`O(\beta^2\kappa^2)`. Solving the pair,
with :math:`d_i = 1/(1 + \beta\kappa_i)`:

.. math::

    z_{i,k+1} = d_i\bigl[\beta\lambda_iy_{i,k} + (1-\beta)z_{i,k} + \beta\eta_{i,k+1}\bigr], \qquad
    y_{i,k+1} = d_i\bigl[\lambda_iy_{i,k} - \kappa_i(1-\beta)z_{i,k} + \eta_{i,k+1}\bigr].

**Moment recursion.** The means and covariances of :math:`(y_i, z_i)` (one 2×2 block per mode, the modes stay
uncorrelated), their cross-covariances with :math:`e` (``(p, N-1)`` each) and :math:`\operatorname{Cov} e`
(``(p, p)``) are propagated exactly through this linear recursion: :math:`O(N p^2)` per step, :math:`O(nNp^2)` in
all. The start is the simulation's: :math:`X_0 \sim \mu` (:math:`\operatorname{Cov} y_0 = I`), deterministic
:math:`x_0` and :math:`\theta_0`. At :math:`\alpha = 0` the prediction is exact for quadratic objectives with a
constant Hessian (the θ-error is linear in the :math:`y`'s, whose autocovariances :math:`\lambda_i^{|k-l|}` the
AR(1) reproduces); the neglected terms are the fluctuating part of the linearised kernel (:math:`\alpha > 0`), the
kernel's higher orders, and for node-dependent Hessians the multiplicative noise :math:`(A_{X} - A)e`, of
relative order :math:`\gamma_n`.

In the limits it gives the asymptotic forms of :mod:`dynfer.estimators.srrw.theory`: for
:math:`\gamma_n = o(\beta_n)` the θ-noise of mode :math:`i` averages to :math:`s_i/r_i^2`,
:math:`r_i = \alpha(1+\lambda_i)+1`, but only once :math:`\gamma_n\lVert A\rVert \ll \beta_n r_i` and the x-mode
relaxes within the θ memory; with :math:`\gamma_n/\beta_n = n^{-(a-b)}` (:math:`n^{-0.1}` at 10⁵ steps is
0.32) that separation is not reached for large :math:`\alpha` at practical lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dynfer._errors import BadInputError
from dynfer.estimators.srrw.steps import check_exponent
from dynfer.estimators.srrw.theory import ChainSpectrum, _as_hessian, _mode_vectors
from dynfer.processes.walks.srrw_theory import check_alpha

__all__ = ["LinearisedPrediction", "linearised_mse", "measure_mse", "white_noise_sgd_mse"]


@dataclass(frozen=True)
class LinearisedPrediction:
    r"""Predicted error moments at the recorded step counts.

    Attributes
    ----------
    steps : numpy.ndarray
        Step counts :math:`n` (``int64``).
    mse : numpy.ndarray
        :math:`\mathbb E\lVert\theta_n - \theta^*\rVert^2`.
    covariance : numpy.ndarray
        ``(len(steps), p, p)`` :math:`\operatorname{Cov}\theta_n`.
    mean_error : numpy.ndarray
        ``(len(steps), p)`` :math:`\mathbb E\theta_n - \theta^*`.
    measure_mode_moment : numpy.ndarray
        ``(len(steps), N - 1)`` :math:`\mathbb E z_{i,n}^2` of the measure's modes (``None`` for the white-noise
        SGD); :math:`\mathbb E\lVert x_n - \mu\rVert^2 = \sum_i \mathbb E z_{i,n}^2 \lVert u_i\rVert^2` (the modes
        stay uncorrelated), see :func:`measure_mse`.
    """

    steps: np.ndarray
    mse: np.ndarray
    covariance: np.ndarray
    mean_error: np.ndarray
    measure_mode_moment: np.ndarray | None = None


def _check_steps(n_steps: Any, record_steps: Any) -> np.ndarray:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise BadInputError("n_steps", f"{n_steps!r}", "an integer >= 1")
    if record_steps is None:
        return np.array([int(n_steps)])
    rec = np.unique(np.asarray(record_steps, dtype=np.int64))
    if rec.size == 0 or rec.min() < 0 or rec.max() > n_steps:
        raise BadInputError("record_steps", f"values in [{rec.min() if rec.size else None}, "
                            f"{rec.max() if rec.size else None}]", f"step counts in [0, {n_steps}]")
    return rec


def linearised_mse(
    spec: ChainSpectrum,
    H: Any,
    hessian: Any,
    alpha: float,
    *,
    n_steps: int,
    theta0_error: Any,
    theta_exponent: float = 0.9,
    measure_exponent: float = 0.8,
    theta_scale: float = 1.0,
    x0: Any = None,
    record_steps: Any = None,
) -> LinearisedPrediction:
    r"""Propagate the linearised SA-SRRW second moments (module docstring) over ``n_steps`` steps.

    Parameters
    ----------
    spec : ChainSpectrum
        :func:`~dynfer.estimators.srrw.theory.chain_spectrum` of the base chain.
    H : array-like of shape (N, p)
        Negative node gradients :math:`H(\theta^*, i)` at the optimum.
    hessian : array-like of shape (p, p)
        :math:`A = \nabla^2 f(\theta^*)`.
    alpha : float
        Self-repellence :math:`\alpha \ge 0`.
    n_steps : int
        Number of steps.
    theta0_error : array-like of shape (p,)
        :math:`\theta_0 - \theta^*`.
    theta_exponent, measure_exponent, theta_scale : float
        :math:`a`, :math:`b`, :math:`c` of :math:`\gamma_n = c(n+1)^{-a}`, :math:`\beta_n = (n+1)^{-b}`.
    x0 : array-like of shape (N,) or None
        Initial measure (``None``: :math:`\mathbf 1/N`, as the walk).
    record_steps : array-like of int or None
        Step counts at which to record (``None``: only ``n_steps``); ``0`` is the start.

    Returns
    -------
    LinearisedPrediction
    """
    alpha = check_alpha(alpha)
    a_exp = check_exponent(theta_exponent, "theta_exponent")
    b_exp = check_exponent(measure_exponent, "measure_exponent")
    c = float(theta_scale)
    if not np.isfinite(c) or c <= 0:
        raise BadInputError("theta_scale", f"{theta_scale!r}", "a finite number > 0")
    rec = _check_steps(n_steps, record_steps)
    g = _mode_vectors(spec, H).T  # (p, M): column i is g_i
    p, m = g.shape
    A = _as_hessian(hessian, p)
    e0 = np.asarray(theta0_error, dtype=np.float64).reshape(-1)
    if e0.shape != (p,) or not np.all(np.isfinite(e0)):
        raise BadInputError("theta0_error", f"shape {e0.shape}", f"a finite vector of length {p}")
    n = spec.target.shape[0]
    if x0 is None:
        x0v = np.full(n, 1.0 / n)
    else:
        x0v = np.asarray(x0, dtype=np.float64).reshape(-1)
        if x0v.shape != (n,) or np.any(~np.isfinite(x0v)) or np.any(x0v <= 0):
            raise BadInputError("x0", f"shape {x0v.shape}", f"({n},) strictly positive weights")
        x0v = x0v / x0v.sum()
    lam = spec.eigenvalues
    kappa = alpha * (1.0 - lam**2)
    v_eta = 1.0 - lam**2
    # means and covariances of the state
    my, mz = np.zeros(m), spec.left_vectors.T @ ((x0v - spec.target) / spec.target)
    me = e0.copy()
    pyy, pyz, pzz = np.ones(m), np.zeros(m), np.zeros(m)
    cy, cz = np.zeros((p, m)), np.zeros((p, m))
    pe = np.zeros((p, p))
    eye = np.eye(p)
    out_mse, out_cov, out_mean, out_z = [], [], [], []

    def record() -> None:
        out_mse.append(float(np.trace(pe) + me @ me))
        out_cov.append(pe.copy())
        out_mean.append(me.copy())
        out_z.append(pzz + mz**2)

    k_rec = 0
    if rec[0] == 0:
        record()
        k_rec = 1
    for k in range(int(rec[-1])):
        beta = (k + 2.0) ** (-b_exp)
        gamma = c * (k + 2.0) ** (-a_exp)
        d = 1.0 / (1.0 + beta * kappa)
        a_zy, a_zz, b_z = d * beta * lam, d * (1.0 - beta), d * beta
        a_yy, a_yz, b_y = d * lam, -d * kappa * (1.0 - beta), d
        B = eye - gamma * A
        # cross-covariances with the new y (before e moves): Cov(e_k, y_{k+1}), Cov(e_k, z_{k+1})
        cyp = cy * a_yy + cz * a_yz
        czp = cy * a_zy + cz * a_zz
        pyy_n = a_yy**2 * pyy + 2 * a_yy * a_yz * pyz + a_yz**2 * pzz + b_y**2 * v_eta
        pzz_n = a_zy**2 * pyy + 2 * a_zy * a_zz * pyz + a_zz**2 * pzz + b_z**2 * v_eta
        pyz_n = a_yy * a_zy * pyy + (a_yy * a_zz + a_yz * a_zy) * pyz + a_yz * a_zz * pzz + b_y * b_z * v_eta
        bc = B @ cyp
        pe = B @ pe @ B.T + gamma * (bc @ g.T + g @ bc.T) + gamma**2 * (g * pyy_n) @ g.T
        cy = bc + gamma * g * pyy_n
        cz = B @ czp + gamma * g * pyz_n
        pyy, pyz, pzz = pyy_n, pyz_n, pzz_n
        my, mz = a_yy * my + a_yz * mz, a_zy * my + a_zz * mz
        me = B @ me + gamma * (g @ my)
        if k + 1 == rec[k_rec]:
            record()
            k_rec += 1
    return LinearisedPrediction(steps=rec, mse=np.asarray(out_mse), covariance=np.asarray(out_cov),
                                mean_error=np.asarray(out_mean), measure_mode_moment=np.asarray(out_z))


def measure_mse(spec: ChainSpectrum, alpha: float, *, n_steps: int, measure_exponent: float = 1.0,
                record_steps: Any = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Linearised finite-n :math:`\mathbb E\lVert x_n - \mu\rVert^2` of the SRRW measure (the walk alone).

    The measure part of :func:`linearised_mse` (no iterate: :math:`p = 1`, :math:`H = 0`), from
    :math:`x_0 = \mathbf 1/N` and :math:`X_0 \sim \mu`: :math:`\sum_i \mathbb E z_{i,n}^2\lVert u_i\rVert^2`.
    For :math:`b = 1`, :math:`n` times it tends to :math:`\operatorname{tr} V(\alpha)`.

    Returns
    -------
    tuple of numpy.ndarray
        The recorded steps and the predicted mean-square errors.
    """
    n = spec.target.shape[0]
    lp = linearised_mse(spec, np.zeros((n, 1)), np.eye(1), alpha, n_steps=n_steps, theta0_error=np.zeros(1),
                        theta_exponent=1.0, measure_exponent=measure_exponent, record_steps=record_steps)
    return lp.steps, lp.measure_mode_moment @ (spec.left_vectors**2).sum(0)


def white_noise_sgd_mse(
    noise: Any,
    hessian: Any,
    *,
    n_steps: int,
    theta0_error: Any,
    theta_exponent: float = 0.9,
    theta_scale: float = 1.0,
    record_steps: Any = None,
) -> LinearisedPrediction:
    r"""Plain linearised SGD with white noise (the textbook Markov-chain SGD linearisation).

    :math:`e_{k+1} = (I - \gamma_{k+1}A)e_k + \gamma_{k+1}\xi_{k+1}`, :math:`\operatorname{Cov}\xi = U` (e.g. the
    chain's long-run covariance :math:`H^\top V(0) H`).

    :math:`\operatorname{Cov} e_{k+1} = B\operatorname{Cov}e_kB^\top + \gamma^2U` with :math:`B = I - \gamma A`;
    the textbook Markov-chain SGD linearisation (the chain's correlations folded into :math:`U`).
    """
    u = np.asarray(noise, dtype=np.float64)
    A = _as_hessian(hessian, u.shape[0])
    a_exp = check_exponent(theta_exponent, "theta_exponent")
    rec = _check_steps(n_steps, record_steps)
    me = np.asarray(theta0_error, dtype=np.float64).reshape(-1).copy()
    pe = np.zeros_like(A)
    eye = np.eye(A.shape[0])
    out_mse, out_cov, out_mean = [], [], []
    k_rec = 0
    if rec[0] == 0:
        out_mse.append(float(me @ me))
        out_cov.append(pe.copy())
        out_mean.append(me.copy())
        k_rec = 1
    for k in range(int(rec[-1])):
        gamma = theta_scale * (k + 2.0) ** (-a_exp)
        B = eye - gamma * A
        pe = B @ pe @ B.T + gamma**2 * u
        me = B @ me
        if k + 1 == rec[k_rec]:
            out_mse.append(float(np.trace(pe) + me @ me))
            out_cov.append(pe.copy())
            out_mean.append(me.copy())
            k_rec += 1
    return LinearisedPrediction(steps=rec, mse=np.asarray(out_mse), covariance=np.asarray(out_cov),
                                mean_error=np.asarray(out_mean))
