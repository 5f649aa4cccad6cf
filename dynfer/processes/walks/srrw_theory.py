r"""Closed-form theory of the self-repellent random walk: the CLT covariance :math:`V(\alpha)`.

References
----------
- V. Doshi, J. Hu, D. Y. Eun, "Self-repellent random walks on general graphs — achieving minimal sampling
  variance via nonlinear Markov chains", ICML 2023, arXiv:2305.05097.
- J. Hu, Y. Ma, D. Y. Eun, "Beyond self-repellent kernels: history-driven target towards efficient
  nonlinear MCMC on general graphs", ICML 2025, eq. (5) (restatement of the SRRW CLT).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from dynfer._errors import BadInputError
from dynfer.processes.walks.chains import as_scipy_csr

__all__ = ["MAX_ALPHA", "check_alpha", "srrw_asymptotic_covariance"]

MAX_ALPHA = 1e6
r"""Largest self-repellence accepted: :math:`\alpha \log x` must stay finite in float32 for every frequency."""


def check_alpha(alpha: Any) -> float:
    """Return ``float(alpha)`` after checking it is finite, ``>= 0`` and at most :data:`MAX_ALPHA`."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise BadInputError(f"alpha must be a finite number >= 0, got {alpha!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BadInputError(f"alpha must be a finite number >= 0 (0 gives the base chain), got {alpha!r}")
    if value > MAX_ALPHA:
        raise BadInputError("alpha", f"{alpha!r}", f"at most {MAX_ALPHA:.0e}: beyond it the kernel is the greedy "
                            "least-visited-neighbour walk and its logits overflow float32")
    return value


def srrw_asymptotic_covariance(
    matrix: torch.Tensor | sp.spmatrix | np.ndarray, target: Any, alpha: float
) -> np.ndarray:
    r"""CLT covariance :math:`V(\alpha)` of the SRRW empirical measure (dense, small graphs).

    For :math:`b = 1`, :math:`\sqrt n\,(x_n - \mu) \to \mathcal N(0, V(\alpha))` with (Doshi, Hu, Eun, ICML 2023;
    restated in Hu, Ma, Eun, ICML 2025, eq. (5))

    .. math::

        V(\alpha) = \sum_{i=2}^{N} \frac{1}{2\alpha(1+\lambda_i) + 1}\,\frac{1+\lambda_i}{1-\lambda_i}\,
        u_i u_i^\top,

    where :math:`(\lambda_i, u_i)` are the eigenvalues and left eigenvectors of the reversible base chain
    :math:`P`, computed from the symmetric matrix :math:`S = D^{1/2} P D^{-1/2}`, :math:`D = \operatorname{diag}
    \mu`: if :math:`S\varphi_i = \lambda_i \varphi_i` then :math:`u_i = D^{1/2}\varphi_i`. At :math:`\alpha = 0`
    this is the base chain's asymptotic covariance; with all :math:`\lambda_i = 0` it is the i.i.d. covariance
    :math:`\operatorname{diag}\mu - \mu\mu^\top`.

    Parameters
    ----------
    matrix
        ``(N, N)`` transition matrix reversible with respect to ``target``.
    target : array-like of shape (N,)
        Stationary law :math:`\mu` (normalised here).
    alpha : float
        Self-repellence strength, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        ``(N, N)`` float64 covariance.
    """
    alpha = check_alpha(alpha)
    p = as_scipy_csr(matrix).toarray()
    mu = np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target, dtype=np.float64)
    mu = mu / mu.sum()
    sq = np.sqrt(mu)
    s = sq[:, None] * p / sq[None, :]
    lam, phi = np.linalg.eigh(0.5 * (s + s.T))
    lam, phi = lam[:-1], phi[:, :-1]  # drop lambda_1 = 1 (eigh sorts ascending)
    u = sq[:, None] * phi
    weight = (1 + lam) / ((1 - lam) * (2 * alpha * (1 + lam) + 1))
    return (u * weight) @ u.T
