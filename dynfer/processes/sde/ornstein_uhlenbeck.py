r"""The multivariate Ornstein–Uhlenbeck process :math:`dX = -A X\,dt + \sqrt{2D}\,dW`.

With drift matrix :math:`A` (eigenvalues with positive real part for a stationary law) and symmetric positive
semi-definite diffusion matrix :math:`D`:

* the transition over a time :math:`t` is Gaussian with mean :math:`e^{-At}x` and covariance
  :math:`\Sigma_t = \int_0^t e^{-As}\,2D\,e^{-A^\top s}\,ds`, computed exactly by Van Loan's block exponential
  (Van Loan 1978, *IEEE Trans. Autom. Control* 23, 395-404), which also covers :math:`A = 0`;
* the stationary covariance solves the Lyapunov equation :math:`A\Sigma + \Sigma A^\top = 2D`
  (Gardiner, *Stochastic Methods*, sec. 4.5.6).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_positive
from dynfer.processes.sde.sde import SDE

__all__ = ["OrnsteinUhlenbeck"]


def _as_matrix(value, name: str, d: int | None) -> torch.Tensor:
    m = as_tensor(value, name, ndim=(0, 1, 2))
    if m.ndim == 2:
        if m.shape[0] != m.shape[1]:
            raise BadInputError(f"{name} must be square, got shape {tuple(m.shape)}")
        return m
    if d is None:
        raise BadInputError(f"give the dimension: {name} is a scalar and the other matrix is a scalar too (pass dim=)")
    return torch.diag(torch.broadcast_to(m, (d,))) if m.ndim == 1 else m * torch.eye(d, dtype=m.dtype, device=m.device)


class OrnsteinUhlenbeck(SDE):
    r"""Ornstein–Uhlenbeck process :math:`dX = -A X\,dt + \sqrt{2D}\,dW`.

    Parameters
    ----------
    A
        Drift matrix ``(d, d)``; a number or ``(d,)`` vector means a diagonal matrix.
    D
        Diffusion matrix ``(d, d)``, symmetric positive semi-definite; a number or ``(d,)`` vector means diagonal.
    dim
        State dimension, needed only when both ``A`` and ``D`` are numbers.

    Examples
    --------
    >>> from dynfer.processes import OrnsteinUhlenbeck
    >>> ou = OrnsteinUhlenbeck(1.0, 0.125, dim=1)
    >>> round(float(ou.stationary_covariance()[0, 0]), 4)
    0.125
    """

    def __init__(self, A: float | torch.Tensor, D: float | torch.Tensor, *, dim: int | None = None) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1):
            raise BadInputError("dim", f"{dim!r}", "a positive integer (the state dimension) or None")
        a_in = as_tensor(A, "A", ndim=(0, 1, 2))
        d_in = as_tensor(D, "D", ndim=(0, 1, 2))
        dims = [m.shape[0] for m in (a_in, d_in) if m.ndim >= 1]
        d = dims[0] if dims else (None if dim is None else int(dim))
        if dims and any(x != d for x in dims) or (dim is not None and d != dim):
            raise BadInputError(f"A, D and dim disagree on the dimension: {dims} vs dim={dim}")
        if d == 0:
            raise BadInputError("A and D", "dimension 0", "a state of at least one coordinate")
        a_mat = _as_matrix(a_in, "A", d)
        d_mat = _as_matrix(d_in, "D", d).to(device=a_mat.device, dtype=a_mat.dtype)
        if not torch.allclose(d_mat, d_mat.T, atol=1e-10):
            raise BadInputError("D must be symmetric")
        evals, evecs = torch.linalg.eigh(d_mat.double())
        if bool((evals < -1e-10 * max(1.0, float(evals.abs().max()))).any()):
            raise BadInputError(f"D must be positive semi-definite; smallest eigenvalue {float(evals.min()):.3g}")
        is_diag = bool((d_mat == torch.diag(torch.diagonal(d_mat))).all())
        if is_diag:
            g = torch.sqrt(2 * torch.diagonal(d_mat))
        else:
            g = (evecs * torch.sqrt(2 * evals.clamp_min(0))) @ evecs.T
        g = g.to(a_mat.dtype)
        if not bool(torch.isfinite(g).all()):
            raise BadInputError("D", f"entries so large that sqrt(2 D) overflows {a_mat.dtype}", "a smaller D "
                                "(or float64)")
        super().__init__(diffusion=g)
        self.register_buffer("A", a_mat)
        self.register_buffer("D", d_mat)
        a_is_diag = bool((a_mat == torch.diag(torch.diagonal(a_mat))).all())
        self.register_buffer("_a_diag", torch.diagonal(a_mat).clone() if a_is_diag else None)

    @property
    def dim(self) -> int:
        """State dimension ``d``."""
        return self.A.shape[0]

    def _required_dim(self) -> int:
        return self.dim

    def drift(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Drift :math:`-A x` (an element-wise product when :math:`A` is diagonal)."""
        if self._a_diag is not None:
            return -x * self._a_diag.to(device=x.device, dtype=x.dtype)
        return -x @ self.A.to(device=x.device, dtype=x.dtype).T

    def stationary_covariance(self) -> torch.Tensor:
        r"""Solve :math:`A\Sigma + \Sigma A^\top = 2D` (needs every eigenvalue of :math:`A` to have positive real part).

        Solved as the linear system :math:`(I \otimes A + A \otimes I)\,\mathrm{vec}\,\Sigma = \mathrm{vec}\,2D`.
        """
        a = self.A.double()
        eig = torch.linalg.eigvals(a)
        if bool((eig.real <= 0).any()):
            raise BadInputError("A has eigenvalues with non-positive real part: the process has no stationary law")
        d = self.dim
        eye = torch.eye(d, dtype=a.dtype, device=a.device)
        lhs = torch.kron(eye, a) + torch.kron(a, eye)
        try:
            sol = torch.linalg.solve(lhs, (2 * self.D.double()).T.reshape(-1)).reshape(d, d).T
        except RuntimeError:
            sol = torch.full((d, d), math.nan, dtype=a.dtype, device=a.device)
        out = (0.5 * (sol + sol.T)).to(self.A.dtype)
        if not bool(torch.isfinite(out).all()):
            raise BadInputError("A", "a Lyapunov equation A S + S A^T = 2 D too ill-conditioned to solve in float64",
                                "a drift matrix A whose eigenvalues are not so close to 0 or so far apart")
        return out

    def transition(self, x: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Exact transition law after time ``t``: mean :math:`e^{-At}x` ``(n, d)`` and covariance ``(d, d)``.

        Both come back on the device and dtype of ``x``.

        Van Loan: with :math:`M = \begin{pmatrix} A & 2D \\ 0 & -A^\top\end{pmatrix} h`, :math:`e^{M} =
        \begin{pmatrix} F_1 & G \\ 0 & F_2 \end{pmatrix}` gives :math:`e^{-Ah} = F_2^\top` and
        :math:`\Sigma_h = e^{-Ah} G`, at a lag :math:`h = t / 2^k` with :math:`\lVert A h\rVert_1 \le 1`; then
        :math:`k` doublings :math:`\Sigma_{2s} = \Sigma_s + e^{-As}\Sigma_s e^{-A^\top s}`,
        :math:`e^{-2As} = (e^{-As})^2` reach :math:`t` with sums of positive semi-definite terms only, so long lags
        lose no precision (at the full lag, :math:`e^{At}` overflows or swamps the decaying modes).
        """
        xt = as_tensor(x, "x", ndim=(1, 2))
        d = self.dim
        if xt.shape[-1] != d:
            raise BadInputError("x", f"shape {tuple(xt.shape)}", f"states with d = {d} coordinates (the last axis)")
        tt = check_positive(t, "t", allow_zero=True)
        a, dd = self.A.double(), self.D.double()
        stable = bool((torch.linalg.eigvals(a).real > 0).all())
        # Van Loan at a lag h with |A h| <= 1, where it is accurate, then k doublings
        # Sigma_{2s} = Sigma_s + e^{-As} Sigma_s e^{-A^T s}, e^{-2As} = (e^{-As})^2: sums of PSD terms, no cancellation
        # between growing and decaying modes (Van Loan's e^{At} at the full lag loses every digit)
        norm = float(torch.linalg.matrix_norm(a, 1))
        k = max(0, math.ceil(math.log2(norm * tt))) if norm * tt > 1 else 0
        h = tt / 2.0**k
        block = torch.zeros((2 * d, 2 * d), dtype=torch.float64, device=a.device)
        block[:d, :d] = a
        block[:d, d:] = 2 * dd
        block[d:, d:] = -a.T
        e = torch.linalg.matrix_exp(block * h)
        phi = e[d:, d:].T
        cov = phi @ e[:d, d:]
        for _ in range(k):
            cov = cov + phi @ cov @ phi.T
            phi = phi @ phi
            if not bool(torch.isfinite(cov).all()):
                break
        cov = 0.5 * (cov + cov.T)
        if not (bool(torch.isfinite(cov).all()) and bool(torch.isfinite(phi).all())):
            raise BadInputError("t", f"a lag t = {tt:.3g} over which the transition law overflows float64",
                                "a shorter lag" + ("" if stable else " (A has eigenvalues with non-positive real "
                                                   "part: the process grows without bound)"))
        mean = xt @ phi.to(device=xt.device, dtype=xt.dtype).T
        cov = cov.to(device=xt.device, dtype=xt.dtype)
        if not (bool(torch.isfinite(cov).all()) and bool(torch.isfinite(mean).all())):
            dtype = str(xt.dtype).removeprefix("torch.")
            raise BadInputError("t", f"a lag t = {tt:.3g} whose transition law overflows {dtype}",
                                "a shorter lag, or float64 states x")
        return mean, cov
