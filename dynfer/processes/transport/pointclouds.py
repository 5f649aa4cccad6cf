"""Point-cloud plumbing shared by :mod:`dynfer.processes.transport.plans` and :mod:`.discrepancy`.

Conversion of numpy/torch inputs to tensors of one dtype on one device (and back), validation of point clouds and
weights, and pairwise distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import check_finite

__all__ = [
    "Array",
    "OutputFormat",
    "check_point_pair",
    "check_points",
    "check_weights",
    "convert_inputs",
    "pairwise_cost",
]

Array = np.ndarray | torch.Tensor
_METRICS = ("sqeuclidean", "euclidean")


@dataclass(frozen=True)
class OutputFormat:
    """How to hand results back: as numpy (``numpy=True``) or as torch tensors on the inputs' device.

    Made by :func:`convert_inputs`; calling it on a result tensor converts that result.

    Attributes
    ----------
    numpy
        Whether every input was a numpy array (or list), so that results go back as numpy.
    dtype
        The common floating dtype of the converted inputs.
    device
        The device of the tensor inputs (CPU when there were none).
    """

    numpy: bool
    dtype: torch.dtype
    device: torch.device

    def __call__(self, t: torch.Tensor) -> Any:
        """``t`` as it is handed back: detached numpy (a numpy scalar when 0-d) or the tensor itself."""
        if not self.numpy:
            return t
        arr = t.detach().cpu().numpy()
        return arr[()] if arr.ndim == 0 else arr


def _raw_tensor(v: Any, name: str) -> tuple[torch.Tensor, bool]:
    """``v`` as a floating tensor (numpy float32 kept, other numpy/lists float64) and whether it was a tensor."""
    if isinstance(v, torch.Tensor):
        if v.is_complex() or v.dtype == torch.bool:
            raise BadInputError(f"{name} must be a real floating or integer array, got dtype {v.dtype}")
        return (v if v.is_floating_point() else v.to(settings.dtype)), True
    try:
        arr = np.asarray(v)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be a numeric array, got {type(v).__name__}") from None
    if arr.dtype.kind == "c":
        raise BadInputError(f"{name} must be real, got complex values")
    if arr.dtype != np.float32:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise BadInputError(f"{name} must be a numeric array, got {type(v).__name__} of {arr.dtype}") from None
    return torch.from_numpy(np.ascontiguousarray(arr)), False


def convert_inputs(values: dict[str, Any]) -> tuple[dict[str, torch.Tensor], OutputFormat]:
    """Convert named inputs to tensors of one floating dtype on one device.

    Numpy float32 stays float32, other numpy arrays and lists become float64; the common dtype is the promotion of
    all inputs (at least float32). Tensor inputs fix the device, and all of them must share it.

    Parameters
    ----------
    values
        Inputs by argument name (the names appear in error messages); ``None`` values are skipped.

    Returns
    -------
    tensors : dict of str to torch.Tensor
        The converted inputs, without the ``None`` ones.
    output : OutputFormat
        How results go back: as torch tensors if any input was a tensor, else as numpy.

    Raises
    ------
    ValueError
        If an input is not a real numeric array, or tensor inputs are on different devices.
    """
    raw = {k: _raw_tensor(v, k) for k, v in values.items() if v is not None}
    tensors = {k: t for k, (t, _) in raw.items()}
    torch_inputs = [t for t, is_torch in raw.values() if is_torch]
    devices = {t.device for t in torch_inputs}
    if len(devices) > 1:
        names = [k for k, (_, is_torch) in raw.items() if is_torch]
        raise BadInputError(f"tensor inputs {names} are on different devices {sorted(map(str, devices))}; move them "
                            "to one device first")
    device = torch_inputs[0].device if torch_inputs else torch.device("cpu")
    dtype = torch.float32
    for t in tensors.values():
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float64
    out = {k: t.to(device=device, dtype=dtype) for k, t in tensors.items()}
    return out, OutputFormat(numpy=not torch_inputs, dtype=dtype, device=device)


def check_points(t: torch.Tensor, name: str) -> torch.Tensor:
    """Check a point cloud of shape ``(n, d)``, reading ``(n,)`` as ``(n, 1)``.

    Parameters
    ----------
    t
        The points.
    name
        Argument name for error messages.

    Returns
    -------
    torch.Tensor
        ``t`` as ``(n, d)`` with ``n, d >= 1``.

    Raises
    ------
    ValueError
        If ``t`` has another shape, no points, no coordinates, or a non-finite entry.
    """
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise BadInputError(f"{name} must be a point cloud of shape (n, d) or (n,), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise BadInputError(f"{name} is empty: it must hold at least one point, got shape {tuple(t.shape)}")
    if t.shape[1] == 0:
        raise BadInputError(f"{name} has zero coordinates per point (shape {tuple(t.shape)})")
    check_finite(t, name)
    return t


def check_point_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two point clouds ``x`` and ``y`` (see :func:`check_points`) of the same dimension.

    Parameters
    ----------
    x, y
        The two clouds, of shapes ``(n, d)`` and ``(m, d)``, or one-dimensional (one coordinate per point).

    Returns
    -------
    x, y : torch.Tensor
        The checked clouds, both two-dimensional.

    Raises
    ------
    ValueError
        If either cloud is invalid or their dimensions differ.
    """
    x, y = check_points(x, "x"), check_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise BadInputError(f"x and y must have the same dimension d, got x with d={x.shape[1]} and y with "
                            f"d={y.shape[1]}")
    return x, y


def check_weights(w: torch.Tensor | None, n: int, name: str, like: torch.Tensor, *, normalise: bool) -> torch.Tensor:
    """Check the weights of ``n`` points, or make uniform ones.

    Parameters
    ----------
    w
        Weights ``(n,)``: finite, non-negative, with a positive total; ``None`` gives uniform weights ``1/n``.
    n
        Number of points.
    name
        Argument name for error messages.
    like
        Tensor whose dtype and device the uniform weights take.
    normalise
        Scale the weights to sum 1 (unbalanced transport keeps the given masses).

    Returns
    -------
    torch.Tensor
        The weights ``(n,)``.

    Raises
    ------
    ValueError
        If ``w`` is not a finite non-negative vector of length ``n`` with a positive total.
    """
    if w is None:
        return torch.full((n,), 1.0 / n, dtype=like.dtype, device=like.device)
    if w.ndim != 1:
        raise BadInputError(f"{name} must be a 1-D weight vector, got shape {tuple(w.shape)}")
    if w.shape[0] != n:
        raise BadInputError(f"{name} must hold one weight per point ({n}), got {w.shape[0]}")
    check_finite(w, name)
    if bool((w < 0).any()):
        raise BadInputError(f"{name} must be non-negative; found {int((w < 0).sum())} negative weight(s)")
    total = w.sum()
    if not bool(total > 0):
        raise BadInputError(f"{name} must have a positive total mass, got sum {float(total)}")
    return w / total if normalise else w


def pairwise_cost(x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    r"""Matrix of squared Euclidean or Euclidean distances between the points of two checked clouds.

    Centring both clouds on their joint mean limits the cancellation in :math:`|x|^2 + |y|^2 - 2 x \cdot y`; in one
    dimension the differences are formed exactly.

    Parameters
    ----------
    x, y
        Checked point clouds ``(n, d)`` and ``(m, d)`` (see :func:`check_point_pair`).
    metric
        ``"sqeuclidean"`` (:math:`|x_i - y_j|^2`) or ``"euclidean"`` (:math:`|x_i - y_j|`).

    Returns
    -------
    torch.Tensor
        The ``(n, m)`` matrix, differentiable in the points.

    Raises
    ------
    BadInputError
        If ``metric`` is unknown, or the distances overflow the dtype (points near its largest values).
    """
    if metric not in _METRICS:
        raise BadInputError(f"metric must be one of {list(_METRICS)}, got {metric!r}")
    shift = torch.cat([x, y]).mean(0).detach()
    xc, yc = x - shift, y - shift
    if x.shape[1] == 1:  # exact, and as cheap as the result itself
        diff = xc - yc[:, 0][None, :]
        out = diff * diff if metric == "sqeuclidean" else diff.abs()
    elif metric == "euclidean":
        out = torch.cdist(xc, yc)  # zero gradient at coincident points, where sqrt would give NaN
    else:
        out = ((xc * xc).sum(1)[:, None] + (yc * yc).sum(1)[None, :] - 2.0 * (xc @ yc.T)).clamp_min(0.0)
    if not bool(torch.isfinite(out).all()):
        dtype = str(out.dtype).removeprefix("torch.")
        raise BadInputError("x and y", f"points whose {'squared ' if metric == 'sqeuclidean' else ''}distances "
                            f"overflow {dtype} (largest coordinate {float(torch.cat([x, y]).abs().max()):.3g})",
                            "point clouds on a scale whose distances the dtype holds",
                            hint="rescale the points" + ("" if out.dtype == torch.float64 else " or pass float64"))
    return out
