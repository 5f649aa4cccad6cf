r"""Asymptotic covariances of SRRW sampling and SA-SRRW optimisation, from the spectrum of the base chain.

Notation. :math:`P` is reversible with respect to :math:`\mu`, :math:`D = \operatorname{diag}\mu`; the symmetric
matrix :math:`S = D^{1/2} P D^{-1/2}` has eigenpairs :math:`(\lambda_i, \varphi_i)`, and :math:`u_i =
D^{1/2}\varphi_i` are the left eigenvectors of :math:`P`, orthonormal for :math:`\langle u, v\rangle =
u^\top D^{-1} v`; :math:`\lambda_1 = 1` is dropped. For SA-SRRW (Hu, Doshi, Eun, ICLR 2024), :math:`H = [H(\theta^*,
1), \dots, H(\theta^*, N)]^\top` is the ``(N, p)`` matrix of the negative node gradients at the optimum,
:math:`g_i = H^\top u_i`, :math:`s_i = (1+\lambda_i)/(1-\lambda_i)`, :math:`r_i = \alpha(1+\lambda_i) + 1`,
:math:`q_i = r_i - 1`, and :math:`A = \nabla^2 f(\theta^*) = -\nabla h(\theta^*)`.

* Sampling (Doshi, Hu, Eun, ICML 2023; HDT eq. 5): :math:`V(\alpha) = \sum_{i\ge2} s_i/(2\alpha(1+\lambda_i)+1)\,
  u_iu_i^\top`; computed by the walk backend's :func:`~dynfer.processes.walks.srrw_asymptotic_covariance`.
* Case (i), :math:`\gamma_n = o(\beta_n)`: :math:`U_\theta(\alpha) = \sum_{i\ge2} s_i r_i^{-2}\, g_ig_i^\top`
  (two-time-scale linearisation; consistent with the paper's :math:`O(1/\alpha^2)`, the paper's exact theorem is
  **not verified**), and :math:`V_\theta` solves
  :math:`(-A + \zeta I)V + V(-A + \zeta I)^\top + U_\theta = 0`, :math:`\zeta = \mathbf 1\{a = 1\}/(2c)` for
  :math:`\gamma_n = c\,(n+1)^{-a}` (:math:`\zeta = 1/2` for :math:`c = 1`, as in the paper).
* Case (ii), :math:`\gamma_n = \beta_n` **[derived]**: the joint Lyapunov equation of the linearised pair
  (x-modes :math:`z_i`, θ-error :math:`e`), solved by blocks (see :func:`case_ii_noise`); :math:`O(1/\alpha)`.
* Case (iii), :math:`\beta_n = o(\gamma_n)` **[derived]**: the θ-iterate sees the chain's noise unfiltered, so
  :math:`U_\theta = H^\top V(0) H` for every :math:`\alpha`; the self-repellence only enters through corrections of
  relative order :math:`\alpha\beta_n/\gamma_n \to 0` (a reviewer's "a large α may not help at all").

The derivation of (ii) and (iii) is given in ``docs/estimators/srrw_optimization.md`` and in
:mod:`dynfer.estimators.srrw.linearised`, whose finite-n recursion tends to these limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import torch

from dynfer._errors import BadInputError
from dynfer.estimators.srrw.steps import regime_of
from dynfer.processes.walks import srrw_asymptotic_covariance
from dynfer.processes.walks.chains import as_scipy_csr
from dynfer.processes.walks.srrw_theory import check_alpha

__all__ = [
    "ChainSpectrum",
    "case_i_noise",
    "case_ii_noise",
    "case_iii_noise",
    "chain_spectrum",
    "iid_sampling_covariance",
    "lyapunov_covariance",
    "sampling_ratio",
    "theta_asymptotic_covariance",
    "theta_ratio",
]


@dataclass(frozen=True)
class ChainSpectrum:
    r"""Spectrum of a reversible chain without its unit eigenvalue.

    Attributes
    ----------
    eigenvalues : numpy.ndarray
        :math:`\lambda_2, \dots, \lambda_N` (ascending), shape ``(N - 1,)``.
    left_vectors : numpy.ndarray
        ``(N, N - 1)``: column ``i`` is :math:`u_i = D^{1/2}\varphi_i` (left eigenvector, :math:`u_i^\top D^{-1}
        u_j = \delta_{ij}`).
    target : numpy.ndarray
        :math:`\mu`, shape ``(N,)``.
    """

    eigenvalues: np.ndarray
    left_vectors: np.ndarray
    target: np.ndarray

    @property
    def spectral_gap(self) -> float:
        r""":math:`1 - \lambda_2` (second largest eigenvalue)."""
        return float(1.0 - self.eigenvalues.max())

    @property
    def noise_weights(self) -> np.ndarray:
        r""":math:`s_i = (1 + \lambda_i)/(1 - \lambda_i)`: long-run variance of mode ``i`` of the chain's noise."""
        lam = self.eigenvalues
        return (1.0 + lam) / (1.0 - lam)


def _as_target(target: Any, n: int) -> np.ndarray:
    mu = np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target, dtype=np.float64)
    if mu.shape != (n,) or not np.all(np.isfinite(mu)) or np.any(mu <= 0):
        raise BadInputError("target", f"shape {mu.shape} with entries in [{mu.min():.3g}, {mu.max():.3g}]"
                            if mu.size else f"shape {mu.shape}", f"({n},) strictly positive finite weights")
    return mu / mu.sum()


def chain_spectrum(matrix: torch.Tensor | sp.spmatrix | np.ndarray, target: Any) -> ChainSpectrum:
    r"""Eigen-decomposition of a reversible chain via :math:`S = D^{1/2} P D^{-1/2}` (dense, float64).

    Parameters
    ----------
    matrix
        ``(N, N)`` transition matrix reversible with respect to ``target``.
    target : array-like of shape (N,)
        Its stationary law :math:`\mu` (normalised here).

    Returns
    -------
    ChainSpectrum
        The eigenvalues :math:`\lambda_{2..N}` and the :math:`\mu`-orthonormal left eigenvectors.

    Raises
    ------
    BadInputError
        If ``target`` is not positive of length ``N``, or the chain is not reversible with respect to it
        (:math:`S` not symmetric to 1e-8).
    """
    p = as_scipy_csr(matrix).toarray()
    mu = _as_target(target, p.shape[0])
    sq = np.sqrt(mu)
    s = sq[:, None] * p / sq[None, :]
    asym = float(np.abs(s - s.T).max())
    if asym > 1e-8:
        raise BadInputError("matrix", f"a chain with |S - S^T| = {asym:.2g} (S = D^1/2 P D^-1/2)",
                            "a chain reversible with respect to target (detailed balance)")
    lam, phi = np.linalg.eigh(0.5 * (s + s.T))
    return ChainSpectrum(eigenvalues=lam[:-1], left_vectors=sq[:, None] * phi[:, :-1], target=mu)


def iid_sampling_covariance(target: Any) -> np.ndarray:
    r"""The i.i.d. floor :math:`\operatorname{diag}\mu - \mu\mu^\top` (all :math:`\lambda_i = 0` in :math:`V`)."""
    mu = np.asarray(target, dtype=np.float64)
    mu = mu / mu.sum()
    return np.diag(mu) - np.outer(mu, mu)


def sampling_ratio(matrix: Any, target: Any, alpha: float | Any) -> float | np.ndarray:
    r"""Sampling-variance ratio :math:`\operatorname{tr} V(\alpha) / \operatorname{tr} V(0)` (Doshi et al. 2023).

    Uses the walk backend's :func:`~dynfer.processes.walks.srrw_asymptotic_covariance`; ``alpha`` may be a
    sequence (one ratio each, :math:`V(0)` computed once).
    """
    base = np.trace(srrw_asymptotic_covariance(matrix, target, 0.0))
    values = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    out = np.array([np.trace(srrw_asymptotic_covariance(matrix, target, a)) / base for a in values])
    return float(out[0]) if np.ndim(alpha) == 0 else out


def _mode_vectors(spec: ChainSpectrum, H: Any) -> np.ndarray:
    r"""``(N - 1, p)``: row ``i`` is :math:`g_i = H^\top u_i`."""
    h = np.asarray(H, dtype=np.float64)
    n = spec.target.shape[0]
    if h.ndim == 1:
        h = h[:, None]
    if h.ndim != 2 or h.shape[0] != n or not np.all(np.isfinite(h)):
        raise BadInputError("H", f"an array of shape {h.shape}", f"finite node gradients of shape ({n}, p)")
    return spec.left_vectors.T @ h


def case_i_noise(spec: ChainSpectrum, H: Any, alpha: float) -> np.ndarray:
    r"""Case (i) noise covariance :math:`U_\theta(\alpha)`, shape ``(p, p)``.

    .. math::

        U_\theta(\alpha) = \sum_{i\ge2} \frac{1}{(\alpha(1+\lambda_i)+1)^2}\frac{1+\lambda_i}{1-\lambda_i}
        H^\top u_iu_i^\top H.

    Two-time-scale linearisation (θ slower than x): the x-mode :math:`z_i` filters the chain noise
    :math:`\varepsilon_i` of long-run variance :math:`s_i`, and the θ-drift :math:`-q_iz_i + \varepsilon_i`
    averages to :math:`\varepsilon_i/r_i` (module docstring). Form as in the reference notes; not verified against
    the paper's theorem.
    """
    alpha = check_alpha(alpha)
    g = _mode_vectors(spec, H)
    lam = spec.eigenvalues
    w = spec.noise_weights / (alpha * (1.0 + lam) + 1.0) ** 2
    return (g * w[:, None]).T @ g


def case_iii_noise(spec: ChainSpectrum, H: Any, alpha: float) -> np.ndarray:
    r"""Case (iii), :math:`\beta_n = o(\gamma_n)` **[derived]**: :math:`U_\theta = H^\top V(0) H`, any :math:`\alpha`.

    The x-modes move on the slower scale, so to leading order they act on θ as a frozen bias of variance
    :math:`O(\beta_n)`, negligible against the :math:`O(\gamma_n)` fluctuation; the chain noise reaches θ
    unfiltered, with the base chain's long-run covariance (the kernel tends to :math:`K[\mu] = P`).
    """
    check_alpha(alpha)
    g = _mode_vectors(spec, H)
    return (g * spec.noise_weights[:, None]).T @ g


def case_ii_noise(spec: ChainSpectrum, H: Any, alpha: float, hessian: Any, *, shift: float = 0.0) -> np.ndarray:
    r"""Case (ii), :math:`\gamma_n = \beta_n` **[derived]**: the effective noise :math:`U_2` of the θ-block.

    The linearised pair (x-modes :math:`z`, θ-error :math:`e`) on the common time scale is
    :math:`\dot z = -(R - \zeta) z + \varepsilon`, :math:`\dot e = -(A - \zeta) e - GQz + G\varepsilon`, with
    :math:`R = \operatorname{diag} r_i`, :math:`Q = \operatorname{diag} q_i`, :math:`G = [g_i]`,
    :math:`\operatorname{Cov}\varepsilon = S = \operatorname{diag} s_i`. Its stationary covariance, by blocks:
    :math:`P_{zz} = \operatorname{diag}(s_i / (2(r_i - \zeta)))`; the cross column
    :math:`c_i = \operatorname{Cov}(e, z_i) = (A + (r_i - 2\zeta) I)^{-1} g_i\, (s_i - q_i P_{zz,i})`; and the θ-block
    solves the Lyapunov equation with

    .. math::

        U_2 = G S G^\top - G Q C^\top - C Q G^\top = \sum_i \bigl(s_i g_ig_i^\top - q_i(g_ic_i^\top + c_ig_i^\top)
        \bigr),

    which is :math:`O(1/\alpha)` (for :math:`r_i \gg \lVert A\rVert`, :math:`c_i \approx g_is_i/(2r_i)` and the
    two terms cancel to leading order).

    Parameters
    ----------
    spec, H, alpha
        Spectrum, node gradients at the optimum ``(N, p)``, self-repellence.
    hessian : array-like of shape (p, p)
        :math:`A = \nabla^2 f(\theta^*)`.
    shift : float
        :math:`\zeta = \mathbf 1\{a = b = 1\}/2` (both iterates normalised by :math:`\sqrt{\gamma_n}`).
    """
    alpha = check_alpha(alpha)
    g = _mode_vectors(spec, H)
    a = _as_hessian(hessian, g.shape[1])
    lam = spec.eigenvalues
    s = spec.noise_weights
    r = alpha * (1.0 + lam) + 1.0
    q = r - 1.0
    pzz = s / (2.0 * (r - shift))
    eye = np.eye(a.shape[0])
    drive = s - q * pzz
    c = np.stack([np.linalg.solve(a + (ri - 2.0 * shift) * eye, gi * di)
                  for ri, gi, di in zip(r, g, drive, strict=True)])
    base = (g * s[:, None]).T @ g
    cross = (g * q[:, None]).T @ c
    return base - cross - cross.T


def _as_hessian(hessian: Any, p: int) -> np.ndarray:
    a = np.asarray(hessian, dtype=np.float64)
    if a.ndim == 0 and p == 1:
        a = a.reshape(1, 1)
    if a.shape != (p, p) or not np.all(np.isfinite(a)):
        raise BadInputError("hessian", f"an array of shape {a.shape}", f"a finite ({p}, {p}) matrix")
    return 0.5 * (a + a.T)


def lyapunov_covariance(noise: Any, hessian: Any, *, shift: float = 0.0) -> np.ndarray:
    r"""Solve :math:`(-A + \zeta I)V + V(-A + \zeta I)^\top + U = 0` for :math:`V` (``scipy.linalg``).

    Parameters
    ----------
    noise : array-like of shape (p, p)
        :math:`U`.
    hessian : array-like of shape (p, p)
        :math:`A = -\nabla h(\theta^*)`; :math:`A - \zeta I` must be positive definite.
    shift : float
        :math:`\zeta`.
    """
    u = np.asarray(noise, dtype=np.float64)
    a = _as_hessian(hessian, u.shape[0])
    m = -a + shift * np.eye(a.shape[0])
    if np.linalg.eigvalsh(0.5 * (m + m.T)).max() >= 0:
        raise BadInputError("hessian", f"A - zeta I with smallest eigenvalue {np.linalg.eigvalsh(a).min() - shift:.3g}",
                            "a positive definite A - zeta I (with gamma_n = c/n, c * lambda_min(A) > 1/2)")
    v = sla.solve_continuous_lyapunov(m, -u)
    return 0.5 * (v + v.T)


def theta_asymptotic_covariance(
    spec: ChainSpectrum,
    H: Any,
    hessian: Any,
    alpha: float,
    *,
    theta_exponent: float = 0.9,
    measure_exponent: float = 0.8,
    theta_scale: float = 1.0,
) -> np.ndarray:
    r"""CLT covariance :math:`V_\theta(\alpha)` of :math:`(\theta_n - \theta^*)/\sqrt{\gamma_n}`.

    Step sizes :math:`\gamma_n = c(n+1)^{-a}`, :math:`\beta_n = (n+1)^{-b}`.

    Case (i) (:math:`a > b`): :func:`case_i_noise`; case (ii) (:math:`a = b`, :math:`c = 1`) **[derived]**:
    :func:`case_ii_noise`; case (iii) (:math:`a < b`) **[derived]**: :func:`case_iii_noise`; then
    :func:`lyapunov_covariance` with :math:`\zeta = \mathbf 1\{a = 1\}/(2c)`.
    """
    regime = regime_of(theta_exponent, measure_exponent)
    shift = 1.0 / (2.0 * theta_scale) if abs(theta_exponent - 1.0) < 1e-12 else 0.0
    if regime == "gamma=o(beta)":
        u = case_i_noise(spec, H, alpha)
    elif regime == "gamma~beta":
        if abs(theta_scale - 1.0) > 1e-12:
            raise BadInputError("theta_scale", f"{theta_scale!r} with a = b", "1 (case (ii) is gamma_n = beta_n)")
        u = case_ii_noise(spec, H, alpha, hessian, shift=shift)
    else:
        u = case_iii_noise(spec, H, alpha)
    return lyapunov_covariance(u, hessian, shift=shift)


def theta_ratio(spec: ChainSpectrum, H: Any = None, alpha: float = 0.0) -> float:
    r"""Case (i) ratio :math:`\operatorname{tr} U_\theta(\alpha)/\operatorname{tr} U_\theta(0)`.

    It is :math:`\sum_i s_ir_i^{-2}\lVert g_i\rVert^2 / \sum_i s_i\lVert g_i\rVert^2`.

    ``H=None`` is :math:`H = I` (:math:`g_i = u_i`), the convention of the reference table.
    """
    alpha = check_alpha(alpha)
    norms = (spec.left_vectors**2).sum(0) if H is None else (_mode_vectors(spec, H) ** 2).sum(1)
    lam = spec.eigenvalues
    w = spec.noise_weights * norms
    return float(np.sum(w / (alpha * (1.0 + lam) + 1.0) ** 2) / np.sum(w))
