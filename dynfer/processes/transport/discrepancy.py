r"""Sample discrepancies without transport: the energy distance and the maximum mean discrepancy (MMD).

Both compare two point clouds through averages of a function of pairwise distances, in :math:`O(nm)` time and memory
(all three distance matrices are formed at once). Like :mod:`dynfer.processes.transport.plans`, they take numpy
arrays or torch tensors and return a 0-d value of the same kind (torch results are differentiable in the points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from dynfer._errors import BadInputError
from dynfer._validation import check_positive
from dynfer.processes.transport.pointclouds import Array, check_point_pair, check_weights, convert_inputs, pairwise_cost

__all__ = ["energy_distance", "median_bandwidth", "mmd"]

_KERNELS = ("gaussian", "laplacian")
_MEDIAN_SUBSAMPLE = 2000


def energy_distance(
    x: Array, y: Array, *, a: Array | None = None, b: Array | None = None, squared: bool = False
) -> Array:
    r"""Energy distance between two weighted point clouds (Székely & Rizzo 2013).

    With :math:`X, X' \sim \mu` and :math:`Y, Y' \sim \nu` independent (:math:`\mu, \nu` the weighted empirical
    measures, so the expectations are V-statistics over all pairs, :math:`i = j` included),

    .. math::  \mathcal E(\mu, \nu) = 2\,\mathbb E|X - Y| - \mathbb E|X - X'| - \mathbb E|Y - Y'|
               = 2\sum_{ij} a_i b_j |x_i - y_j| - \sum_{ij} a_i a_j |x_i - x_j| - \sum_{ij} b_i b_j |y_i - y_j|.

    :math:`\mathcal E \ge 0`, with equality only if :math:`\mu = \nu`. By default the **square root**
    :math:`\mathcal E^{1/2}` is returned, the convention of :func:`scipy.stats.energy_distance` (which it matches in
    1-D, weights included); ``squared=True`` returns :math:`\mathcal E` itself.

    Parameters
    ----------
    x, y
        Point clouds ``(n, d)`` and ``(m, d)``; ``(n,)`` is read as ``(n, 1)``.
    a, b
        Non-negative weights, uniform when ``None``, each renormalised to sum 1.
    squared
        Return :math:`\mathcal E` instead of :math:`\mathcal E^{1/2}`.

    Returns
    -------
    numpy scalar or torch.Tensor
        A 0-d value of the inputs' kind.

    References
    ----------
    - G. J. Székely, M. L. Rizzo (2013), Energy statistics: a class of statistics based on distances, *J. Stat. Plan.
      Inference* 143(8), 1249-1272.

    Examples
    --------
    >>> import numpy as np
    >>> from dynfer.processes.transport import energy_distance
    >>> round(float(energy_distance(np.array([0.0]), np.array([1.0]))), 6)  # sqrt(2 * 1 - 0 - 0)
    1.414214
    """
    t, out = convert_inputs({"x": x, "y": y, "a": a, "b": b})
    xs, ys = check_point_pair(t["x"], t["y"])
    wa = check_weights(t.get("a"), xs.shape[0], "a", xs, normalise=True)
    wb = check_weights(t.get("b"), ys.shape[0], "b", ys, normalise=True)
    exy = wa @ pairwise_cost(xs, ys, "euclidean") @ wb
    exx = wa @ pairwise_cost(xs, xs, "euclidean") @ wa
    eyy = wb @ pairwise_cost(ys, ys, "euclidean") @ wb
    value = (2.0 * exy - exx - eyy).clamp_min(0.0)
    return out(value if squared else value.sqrt())


def median_bandwidth(x: Array, y: Array) -> float:
    r"""Median heuristic: the median Euclidean distance between distinct points of the pooled sample.

    :math:`h = \mathrm{median}\{|z_i - z_j| : i < j\}` for :math:`z = (x_1, \dots, x_n, y_1, \dots, y_m)`
    (Gretton et al. 2012, sec. 8). Above 2,000 pooled points the median is taken over a fixed random subset of 2,000
    (seed 0, so the result is deterministic). Falls back to the mean distance if the median is 0, and to 1 if all
    points coincide.

    Parameters
    ----------
    x, y
        Point clouds ``(n, d)`` and ``(m, d)``; ``(n,)`` is read as ``(n, 1)``.

    Returns
    -------
    float
        The bandwidth :math:`h > 0`.
    """
    t, _ = convert_inputs({"x": x, "y": y})
    xs, ys = check_point_pair(t["x"], t["y"])
    return _median_bandwidth(xs, ys)


def _median_bandwidth(xs: torch.Tensor, ys: torch.Tensor) -> float:
    z = torch.cat([xs, ys]).detach()
    if z.shape[0] > _MEDIAN_SUBSAMPLE:
        gen = torch.Generator().manual_seed(0)
        z = z[torch.randperm(z.shape[0], generator=gen)[:_MEDIAN_SUBSAMPLE].to(z.device)]
    if z.shape[0] < 2:
        return 1.0
    dist = pairwise_cost(z, z, "euclidean")
    iu = torch.triu_indices(z.shape[0], z.shape[0], offset=1, device=z.device)
    pairs = dist[iu[0], iu[1]]
    h = float(pairs.median())
    if h <= 0:
        h = float(pairs.mean())
    return h if h > 0 else 1.0


def mmd(
    x: Array,
    y: Array,
    *,
    kernel: Literal["gaussian", "laplacian"] = "gaussian",
    bandwidth: float | Sequence[float] | None = None,
    unbiased: bool = False,
    squared: bool = False,
) -> Array:
    r"""Maximum mean discrepancy between two point clouds (Gretton et al. 2012).

    Kernels: ``"gaussian"`` :math:`k(x, y) = \exp(-|x - y|^2 / (2h^2))`, ``"laplacian"``
    :math:`k(x, y) = \exp(-|x - y| / h)`. With several bandwidths the kernel is their average
    :math:`k = \frac1L \sum_l k_{h_l}` (still characteristic). The default bandwidth is the median heuristic
    :func:`median_bandwidth`, computed on the pooled sample.

    The **biased** (V-statistic) estimator, the default, is the squared RKHS distance between the empirical mean
    embeddings, so it is never negative:

    .. math::  \widehat{\mathrm{MMD}}{}^2_b = \frac1{n^2}\sum_{i,j} k(x_i, x_j) + \frac1{m^2}\sum_{i,j} k(y_i, y_j)
               - \frac2{nm}\sum_{i,j} k(x_i, y_j),

    and :math:`\mathbb E\,\widehat{\mathrm{MMD}}{}^2_b = \mathrm{MMD}^2 + (k_0 - \mathbb E k(X, X'))/n +
    (k_0 - \mathbb E k(Y, Y'))/m` with :math:`k_0 = k(x, x) = 1`. The **unbiased** (U-statistic) estimator drops the
    diagonal terms, :math:`\frac1{n(n-1)}\sum_{i \ne j} k(x_i, x_j) + \frac1{m(m-1)}\sum_{i \ne j} k(y_i, y_j) -
    \frac2{nm}\sum_{i,j} k(x_i, y_j)`, has expectation exactly :math:`\mathrm{MMD}^2`, and can be negative.

    Parameters
    ----------
    x, y
        Point clouds ``(n, d)`` and ``(m, d)``; ``(n,)`` is read as ``(n, 1)``.
    kernel
        ``"gaussian"`` or ``"laplacian"``.
    bandwidth
        :math:`h > 0`, or a sequence of them (kernel averaged over them); ``None``: median heuristic.
    unbiased
        Use the U-statistic (needs at least 2 points in each cloud and ``squared=True``, as it can be negative).
    squared
        Return :math:`\widehat{\mathrm{MMD}}{}^2` instead of :math:`\widehat{\mathrm{MMD}} = (\widehat{\mathrm{MMD}}
        {}^2_b)^{1/2}`.

    Returns
    -------
    numpy scalar or torch.Tensor
        A 0-d value of the inputs' kind; the square root of the biased estimate unless ``squared`` is set.

    References
    ----------
    - A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf, A. Smola (2012), A kernel two-sample test, *JMLR* 13,
      723-773 (eqs. 3 and 5).

    Examples
    --------
    >>> import numpy as np
    >>> from dynfer.processes.transport import mmd
    >>> x = np.array([[0.0], [1.0]])
    >>> float(mmd(x, x, bandwidth=1.0))
    0.0
    """
    if kernel not in _KERNELS:
        raise BadInputError(f"kernel must be one of {list(_KERNELS)}, got {kernel!r}")
    if unbiased and not squared:
        raise BadInputError("the unbiased MMD^2 estimate can be negative and has no square root; pass squared=True "
                            "with unbiased=True")
    t, out = convert_inputs({"x": x, "y": y})
    xs, ys = check_point_pair(t["x"], t["y"])
    n, m = xs.shape[0], ys.shape[0]
    if unbiased and min(n, m) < 2:
        raise BadInputError(f"the unbiased estimator needs at least 2 points in x and in y, got {n} and {m}")
    if bandwidth is None:
        widths = [_median_bandwidth(xs, ys)]
    else:
        try:
            raw = torch.as_tensor(bandwidth, dtype=torch.float64).reshape(-1).tolist()
        except (TypeError, ValueError, RuntimeError):
            raise BadInputError(f"bandwidth must be a positive number or a sequence of them, got "
                                f"{bandwidth!r}") from None
        if not raw:
            raise BadInputError("bandwidth must be a positive number or a non-empty sequence of them")
        widths = [check_positive(h, "bandwidth") for h in raw]

    metric = "sqeuclidean" if kernel == "gaussian" else "euclidean"
    # the kernel is exp(-dist * rate): a rate beyond the dtype (h tiny) would turn 0 * inf into NaN on the diagonal
    scales = [2.0 * h * h if kernel == "gaussian" else h for h in widths]
    rates = [1.0 / c if c > 0 else math.inf for c in scales]
    top = torch.finfo(xs.dtype).max
    if not all(0.0 < r < top for r in rates):
        raise BadInputError("bandwidth", f"{bandwidth!r}, beyond what {str(xs.dtype).removeprefix('torch.')} "
                            f"resolves for the {kernel} kernel", "a bandwidth on the scale of the distances (or None "
                            "for the median heuristic)")

    def gram(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        dist = pairwise_cost(u, v, metric)
        return sum(torch.exp(-dist * r) for r in rates) / len(rates)

    kxx, kyy, kxy = gram(xs, xs), gram(ys, ys), gram(xs, ys)
    if unbiased:
        # k(x, x) = 1 for both kernels, so the diagonal sums are exactly n and m
        exx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        eyy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    else:
        exx, eyy = kxx.mean(), kyy.mean()
    value = exx + eyy - 2.0 * kxy.mean()
    if not unbiased:
        value = value.clamp_min(0.0)
    return out(value if squared else value.sqrt())
