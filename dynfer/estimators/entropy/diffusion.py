r"""The diffusion matrix :math:`D` of :math:`dX = b\,dt + \sqrt{2D}\,dW`, checked, and its noisy block.

Entropy production needs :math:`D^{-1}`, which exists only where the noise acts. A positive semi-definite
:math:`D` is accepted when it is **block-degenerate**: after a permutation, :math:`D = \mathrm{diag}(D_g, 0)` with
:math:`D_g \succ 0` on the *noisy* coordinates :math:`g` (the active coordinates of the MIPS model at
:math:`\varepsilon = 0`, say). Every rate is then the rate of the noisy sector,
:math:`\sigma_g = E|v_g|^2_{D_g^{-1}}` (Boffi & Vanden-Eijnden 2024, hypoelliptic case).

For particle states ``(n, N, c)`` the diffusion acts on each particle's ``c`` coordinates alike: a number, a vector
``(c,)`` of per-coordinate diffusivities, or a ``(c, c)`` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dynfer._errors import BadInputError

__all__ = ["DiffusionSpec", "resolve_diffusion"]


@dataclass(frozen=True)
class DiffusionSpec:
    """A checked diffusion matrix over the last axis of the states.

    Attributes
    ----------
    matrix
        ``(c, c)`` float64, symmetric positive semi-definite (``c``: coordinates per sample, or per particle).
    noisy
        Indices of the coordinates the noise acts on (``D_kk > 0``).
    """

    matrix: np.ndarray
    noisy: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of coordinates ``c``."""
        return int(self.matrix.shape[0])

    @property
    def degenerate(self) -> bool:
        """Whether some coordinates carry no noise."""
        return len(self.noisy) < self.size

    @property
    def noisy_block(self) -> np.ndarray:
        """:math:`D_g`, the ``(m, m)`` positive-definite block on the noisy coordinates."""
        idx = np.asarray(self.noisy, dtype=np.int64)
        return self.matrix[np.ix_(idx, idx)]

    def tensors(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""``(index, D_g, D_g^{-1})`` as tensors."""
        block = self.noisy_block
        idx = torch.as_tensor(np.asarray(self.noisy, dtype=np.int64), device=device)
        return (idx, torch.as_tensor(block, dtype=dtype, device=device),
                torch.as_tensor(np.linalg.inv(block), dtype=dtype, device=device))

    def is_diagonal(self) -> bool:
        """Whether :math:`D_g` is diagonal (then products are elementwise)."""
        block = self.noisy_block
        return bool(np.all(block == np.diag(np.diag(block))))


def resolve_diffusion(diffusion: Any, size: int, *, name: str = "diffusion") -> DiffusionSpec:
    """Check ``diffusion`` for states whose last axis has ``size`` coordinates.

    Parameters
    ----------
    diffusion
        A number (``D = d I``), a vector ``(size,)`` (diagonal) or a symmetric ``(size, size)`` matrix.
    size
        Number of coordinates.
    name
        Argument name for errors.

    Returns
    -------
    DiffusionSpec
        The matrix and its noisy coordinates.

    Raises
    ------
    BadInputError
        Not finite, wrong shape, not symmetric, not positive semi-definite, no noise at all, or singular without the
        block-degenerate structure (a zero direction that is not a set of coordinates).
    """
    value = diffusion.detach().cpu().numpy() if isinstance(diffusion, torch.Tensor) else diffusion
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise BadInputError(name, repr(diffusion), "a number, a vector of per-coordinate diffusivities or a matrix")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(name, f"a {type(diffusion).__name__}",
                            "a number, a vector of per-coordinate diffusivities or a matrix") from None
    if not np.isfinite(arr).all():
        raise BadInputError(name, "NaN or infinite entries", "finite diffusivities")
    if arr.ndim == 0:
        arr = np.full(size, float(arr))
    if arr.ndim == 1:
        if arr.shape != (size,):
            raise BadInputError(name, f"a vector of length {arr.shape[0]}", f"{size} per-coordinate diffusivities")
        if (arr < 0).any():
            raise BadInputError(name, f"negative diffusivities {arr[arr < 0].tolist()}", "values >= 0")
        arr = np.diag(arr)
    if arr.shape != (size, size):
        raise BadInputError(name, f"an array of shape {arr.shape}", f"a number, ({size},) or ({size}, {size})")
    scale = float(np.abs(arr).max()) if arr.size else 0.0
    if scale == 0.0:
        raise BadInputError(name, "no noise (D = 0)", "a diffusion acting on at least one coordinate: the entropy "
                            "production of a deterministic system is not defined here")
    if not np.allclose(arr, arr.T, rtol=0, atol=1e-12 * scale):
        raise BadInputError(name, "a non-symmetric matrix", "a symmetric positive semi-definite D")
    arr = 0.5 * (arr + arr.T)
    tol = 1e-12 * scale
    noisy = np.flatnonzero(np.diag(arr) > tol)
    quiet = np.setdiff1d(np.arange(size), noisy)
    if quiet.size and np.abs(arr[np.ix_(quiet, np.arange(size))]).max() > tol:
        raise BadInputError(name, "a coordinate with zero diffusivity but non-zero cross terms",
                            "zero rows and columns on the coordinates without noise (D positive semi-definite)")
    block = arr[np.ix_(noisy, noisy)]
    eig = np.linalg.eigvalsh(block)
    if eig.min() <= 1e-10 * scale:
        what = "negative" if eig.min() < -1e-10 * scale else "zero"
        raise BadInputError(name, f"a {what} eigenvalue {eig.min():.3g} on the noisy coordinates",
                            "D positive definite on the coordinates it acts on (block-degenerate at most: zero "
                            "rows and columns elsewhere)")
    out = np.zeros_like(arr)
    out[np.ix_(noisy, noisy)] = block
    return DiffusionSpec(matrix=out, noisy=tuple(int(k) for k in noisy))
