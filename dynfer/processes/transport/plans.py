r"""Discrete optimal transport between point clouds: cost matrices, couplings, transport costs, Wasserstein distances.

For point clouds :math:`x_1, \dots, x_n` and :math:`y_1, \dots, y_m` with weights :math:`a \in \mathbb R_+^n`,
:math:`b \in \mathbb R_+^m` and a cost matrix :math:`C_{ij} = c(x_i, y_j)`, the Kantorovich problem is

.. math::  \mathrm{OT}(a, b; C) = \min_{P \in \Pi(a, b)} \langle P, C\rangle, \qquad
           \Pi(a, b) = \{P \ge 0 : P\mathbf 1_m = a,\ P^\top \mathbf 1_n = b\}.

Four solvers sit behind :func:`ot_plan` / :func:`ot_cost`, three of them from POT (Flamary et al. 2021, *JMLR*
22(78)):

* ``"exact"``: the network simplex (``ot.emd``), on the CPU in float64 whatever the inputs' device;
* ``"sinkhorn"``: entropic OT (Cuturi 2013) in the log domain (``method="sinkhorn_log"``), on the inputs' device;
* ``"sinkhorn_scaling"``: the same problem with :math:`\varepsilon`-scaling, for small temperatures where plain
  Sinkhorn stalls: dynfer's :func:`~dynfer.processes.transport.sinkhorn_epsilon_scaling` (log-domain duals,
  scaling-form iterations with absorption), which beats POT's ``method="sinkhorn_epsilon_scaling"`` on both problems
  of ``benchmarks/bench_transport.py --pbmc``: PBMC's first two snapshots (500 x 500, 30-d, squared-Euclidean cost,
  :math:`\varepsilon = 0.01`, range over :math:`\varepsilon` 2,000) to a marginal error of 5.7e-6 (L1) in 0.82 s
  against POT's 2.2e-6 in 1.32 s, and a bridge's Lotka-Volterra transition cost (1,000 x 1,000) to 1.4e-14 in
  0.26 s, where POT's stabilised scaling lost all but 1e-6 of the plan's mass after 58 s. Should dynfer's plan miss
  the tolerance within ``max_iter``, POT's is tried with the same budget and the one with the smaller marginal error
  returned. All on the inputs' device;
* ``"unbalanced"``: entropic OT with KL-relaxed marginals (Chizat et al. 2018), ``ot.unbalanced.sinkhorn_unbalanced``.

Every function takes numpy arrays or torch tensors and returns the same kind: numpy in, numpy out (float32 stays
float32, anything else becomes float64); torch in, torch out on the same device and floating dtype. ``import ot``
takes a few seconds (POT probes its backends), so POT is imported on the first call, not with :mod:`dynfer`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._validation import check_finite, check_positive
from dynfer.processes.transport.pointclouds import (
    Array,
    OutputFormat,
    check_point_pair,
    check_points,
    check_weights,
    convert_inputs,
    pairwise_cost,
)
from dynfer.processes.transport.sinkhorn_scaling import sinkhorn_epsilon_scaling

__all__ = ["OTConvergenceWarning", "cost_matrix", "ot_cost", "ot_plan", "wasserstein"]

Method = Literal["exact", "sinkhorn", "sinkhorn_scaling", "unbalanced"]
_METHODS = ("exact", "sinkhorn", "sinkhorn_scaling", "unbalanced")
_INT32_MAX = 2**31 - 1


class OTConvergenceWarning(UserWarning):
    """An optimal-transport solver stopped before meeting its tolerance (raise ``max_iter`` or ``reg``)."""


class OTNumericalError(BadInputError, FloatingPointError):
    """A solver produced NaN, infinite or all-zero plan entries for these inputs (``reg`` too small for the cost).

    Both a :class:`~dynfer.BadInputError` (the inputs are out of the solver's numerical reach) and, as before, a
    :class:`FloatingPointError`.
    """


class OTSolverError(BadInputError, RuntimeError):
    """The network simplex gave up on these inputs (a cost too large for its arithmetic); also a RuntimeError."""


def cost_matrix(x: Array, y: Array, metric: Literal["sqeuclidean", "euclidean"] = "sqeuclidean") -> Array:
    r"""Pairwise costs :math:`C_{ij} = |x_i - y_j|^2` (``"sqeuclidean"``) or :math:`|x_i - y_j|` (``"euclidean"``).

    Parameters
    ----------
    x, y
        Point clouds ``(n, d)`` and ``(m, d)``; a 1-D array ``(n,)`` is read as ``n`` points in one dimension.
    metric
        ``"sqeuclidean"`` or ``"euclidean"``.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``(n, m)`` costs, of the inputs' kind (torch on the inputs' device, differentiable in ``x`` and ``y``).

    Notes
    -----
    In more than one dimension the squared distance is :math:`|x|^2 + |y|^2 - 2\,x\cdot y` after centring both clouds
    on their joint mean (clamped at 0); in one dimension it is computed as a difference, exactly.
    """
    t, out = convert_inputs({"x": x, "y": y})
    xs, ys = check_point_pair(t["x"], t["y"])
    return out(pairwise_cost(xs, ys, metric))


# ---------------------------------------------------------------------------------------------- solvers
def _exact(a: torch.Tensor, b: torch.Tensor, cost: torch.Tensor, max_iter: int | None) -> torch.Tensor:
    import ot

    n, m = cost.shape
    if max_iter is None:
        max_iter = min(_INT32_MAX, max(1_000_000, 10 * n * m))
    a64, b64 = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
    b64 = b64 * (a64.sum() / b64.sum())  # equal masses to the last bit, as the network simplex needs
    c64 = np.ascontiguousarray(cost.detach().cpu().double().numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # POT's result-code warning; we report it ourselves below
        plan, log = ot.emd(a64, b64, c64, numItermax=max_iter, log=True)
    code = log["result_code"]
    if code == 3:
        warnings.warn(f"exact OT stopped after max_iter={max_iter} network-simplex iterations before optimality; "
                      "the plan is feasible but not optimal. Pass a larger max_iter.", OTConvergenceWarning,
                      stacklevel=4)
    elif code != 1:
        raise OTSolverError("cost", f"a cost matrix on which the network simplex fails ({log['warning']}, code "
                            f"{code}; largest cost {float(cost.abs().max()):.3g})", "costs the solver's arithmetic "
                            "resolves", hint="rescale the points x and y or the cost")
    return torch.from_numpy(plan).to(device=cost.device, dtype=cost.dtype)


def _marginal_errors(plan: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    r"""Absolute and relative marginal violations of ``plan``, the worse of rows and columns.

    Absolute: the Euclidean norm :math:`\max(\|P\mathbf 1 - a\|_2, \|P^\top\mathbf 1 - b\|_2)` (``tol``);
    relative: :math:`\max(\|P\mathbf 1 - a\|_1, \|P^\top\mathbf 1 - b\|_1) / \|a\|_1`, the marginal error
    relative to the marginal mass (``rtol``).
    """
    rows, cols = plan.sum(1) - a, plan.sum(0) - b
    absolute = max(float(torch.linalg.vector_norm(rows)), float(torch.linalg.vector_norm(cols)))
    relative = max(float(rows.abs().sum()), float(cols.abs().sum())) / float(a.sum())
    return absolute, relative


def _converged(plan, a, b, tol: float, rtol: float | None) -> tuple[bool, float, float]:
    absolute, relative = _marginal_errors(plan, a, b)
    return absolute <= tol or (rtol is not None and relative <= rtol), absolute, relative


def _warn_unconverged(err: float, tol: float, cost: torch.Tensor, reg: float, max_iter: int,
                      rel: float | None = None, rtol: float | None = None) -> None:
    ratio = float(cost.detach().abs().max()) / reg
    dtype = str(cost.dtype).removeprefix("torch.")
    hint = (f" max|C|/reg = {ratio:.3g} is beyond what {dtype} resolves: use float64 inputs or a larger reg."
            if ratio * torch.finfo(cost.dtype).eps > 1e-3 else "")
    relative = f" (relative {rel:.3g} > rtol={rtol:.3g})" if rtol is not None and rel is not None else ""
    warnings.warn(f"Sinkhorn did not converge in max_iter={max_iter} iterations: marginal error {err:.3g} > "
                  f"tol={tol:.3g}{relative}. Increase max_iter or reg (now {reg:.3g}), or loosen tol or rtol "
                  f"(float32 cannot go much below 1e-7).{hint}", OTConvergenceWarning, stacklevel=5)


def _pot_threshold(a: torch.Tensor, b: torch.Tensor, tol: float, rtol: float | None) -> float:
    r"""A Euclidean stopping threshold for POT that implies ``tol`` and, where given, ``rtol`` (looser of the two).

    :math:`\|v\|_1 \le \sqrt{k}\,\|v\|_2` for :math:`v \in \mathbb R^k`, so a Euclidean error below
    ``rtol * mass / sqrt(max(n, m))`` meets the relative tolerance.
    """
    if rtol is None:
        return tol
    return max(tol, rtol * float(a.sum()) / math.sqrt(max(a.shape[0], b.shape[0])))


def _sinkhorn(
    a: torch.Tensor, b: torch.Tensor, cost: torch.Tensor, reg: float, max_iter: int, tol: float,
    rtol: float | None = None,
) -> torch.Tensor:
    import ot

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # convergence is judged below, on the returned plan
        plan = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", numItermax=max_iter,
                           stopThr=_pot_threshold(a, b, tol, rtol), warn=False)
    _check_plan(plan, "sinkhorn", reg)
    ok, err, rel = _converged(plan, a, b, tol, rtol)
    if not ok:
        _warn_unconverged(err, tol, cost, reg, max_iter, rel, rtol)
    return plan


def _own_epsilon_scaling(a, b, cost, reg: float, max_iter: int, tol: float, rtol: float | None,
                         **schedule: Any) -> torch.Tensor:
    return sinkhorn_epsilon_scaling(a, b, cost, reg, max_iter=max_iter, tol=tol, rtol=rtol, **schedule)[0]


def _pot_epsilon_scaling(a, b, cost, reg: float, max_iter: int, tol: float, rtol: float | None) -> torch.Tensor:
    r"""POT's :math:`\varepsilon`-scaling (``ot.sinkhorn(..., method="sinkhorn_epsilon_scaling")``), on torch.

    POT decreases :math:`\varepsilon_s = (\varepsilon_0 - \varepsilon) e^{-s} + \varepsilon` over outer iterations
    of at most 100 stabilised Sinkhorn steps each and stops when the *squared* Euclidean marginal errors sum below
    its ``stopThr``; here :math:`\varepsilon_0` is the cost's range (POT's absolute default ``1e4`` depends on the
    units of the cost), ``stopThr`` the square of the Euclidean threshold that meets ``tol`` / ``rtol``
    (:func:`_pot_threshold`), and ``max_iter`` caps the total inner steps.
    """
    import ot

    inner = 100
    spread = float(cost.detach().max() - cost.detach().min())
    thr = _pot_threshold(a, b, tol, rtol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # convergence is judged by the caller, on the returned plan
        warnings.simplefilter("ignore", RuntimeWarning)
        return ot.sinkhorn(a, b, cost, reg, method="sinkhorn_epsilon_scaling", numItermax=max(1, max_iter // inner),
                           numInnerItermax=inner, epsilon0=max(spread, reg), stopThr=thr * thr, warn=False)


def _usable(plan: torch.Tensor, a, b, tol: float, rtol: float | None) -> bool:
    return bool(torch.isfinite(plan).all()) and _converged(plan, a, b, tol, rtol)[0]


def _sinkhorn_scaling(
    a: torch.Tensor, b: torch.Tensor, cost: torch.Tensor, reg: float, max_iter: int, tol: float,
    rtol: float | None = None, schedule: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Epsilon-scaling: dynfer's solver, POT's where dynfer's misses the tolerance (module docstring)."""
    plan = _own_epsilon_scaling(a, b, cost, reg, max_iter, tol, rtol, **(schedule or {}))
    if not _usable(plan, a, b, tol, rtol):
        other = _pot_epsilon_scaling(a, b, cost, reg, max_iter, tol, rtol)
        if bool(torch.isfinite(other).all()) and (
                not bool(torch.isfinite(plan).all())
                or _marginal_errors(other, a, b)[1] < _marginal_errors(plan, a, b)[1]):
            plan = other
    _check_plan(plan, "sinkhorn_scaling", reg)
    ok, err, rel = _converged(plan, a, b, tol, rtol)
    if not ok:
        _warn_unconverged(err, tol, cost, reg, max_iter, rel, rtol)
    return plan


def _unbalanced(
    a: torch.Tensor, b: torch.Tensor, cost: torch.Tensor, reg: float, reg_m: float, max_iter: int, tol: float
) -> torch.Tensor:
    import ot

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        plan = ot.unbalanced.sinkhorn_unbalanced(a, b, cost, reg, reg_m, method="sinkhorn_stabilized",
                                                 numItermax=max_iter, stopThr=tol)
    _check_plan(plan, "unbalanced", reg)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if messages:
        warnings.warn(f"unbalanced Sinkhorn did not converge (POT: {'; '.join(messages)}). Increase max_iter "
                      f"(now {max_iter}) or reg (now {reg:.3g}), or use float64.", OTConvergenceWarning, stacklevel=4)
    return plan


def _check_plan(plan: torch.Tensor, method: str, reg: float) -> None:
    if not bool(torch.isfinite(plan).all()):
        raise OTNumericalError(f"{method} OT produced NaN or infinite plan entries (reg={reg:.3g}). Increase reg, "
                                 "pass float64 inputs, or rescale the cost matrix.")
    if not bool(plan.sum() > 0):
        raise OTNumericalError(f"{method} OT produced an all-zero plan: exp(-C/reg) underflowed (reg={reg:.3g}). "
                                 "Increase reg, pass float64 inputs, or rescale the cost matrix.")


SCALING_OPTIONS = ("scaling", "stage_iter", "relaxation", "check_every")


def _check_scaling_options(options: Any, method: str) -> dict[str, Any]:
    if options is None:
        return {}
    if method != "sinkhorn_scaling":
        raise BadInputError("scaling_options", repr(options), "None unless method='sinkhorn_scaling'")
    if not isinstance(options, dict) or set(options) - set(SCALING_OPTIONS):
        raise BadInputError("scaling_options", repr(options), f"a dict with keys among {list(SCALING_OPTIONS)}")
    return dict(options)


def _solve(
    x: Array | None,
    y: Array | None,
    a: Array | None,
    b: Array | None,
    method: str,
    reg: float | None,
    reg_m: float | None,
    cost: Array | None,
    metric: str,
    max_iter: int | None,
    tol: float | None,
    rtol: float | None = None,
    scaling_options: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, OutputFormat]:
    """Validate everything, then return the plan, the cost matrix (both torch) and the output converter."""
    if method not in _METHODS:
        raise BadInputError(f"method must be one of {list(_METHODS)}, got {method!r}")
    options = _check_scaling_options(scaling_options, method)
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1):
        raise BadInputError(f"max_iter must be a positive int or None, got {max_iter!r}")
    t, out = convert_inputs({"x": x, "y": y, "a": a, "b": b, "cost": cost})
    if cost is None:
        if x is None or y is None:
            raise BadInputError("pass the point clouds x and y, or a precomputed cost matrix")
        xs, ys = check_point_pair(t["x"], t["y"])
        C = pairwise_cost(xs, ys, metric)
    else:
        C = t["cost"]
        if C.ndim != 2 or 0 in C.shape:
            raise BadInputError(f"cost must be a non-empty (n, m) matrix, got shape {tuple(C.shape)}")
        check_finite(C, "cost")
        for name, size in (("x", C.shape[0]), ("y", C.shape[1])):
            if name in t and check_points(t[name], name).shape[0] != size:
                raise BadInputError(f"cost has shape {tuple(C.shape)} but {name} holds {t[name].shape[0]} points")
    n, m = C.shape
    balanced = method != "unbalanced"
    wa = check_weights(t.get("a"), n, "a", C, normalise=balanced)
    wb = check_weights(t.get("b"), m, "b", C, normalise=balanced)
    if method == "exact":
        return _exact(wa, wb, C, max_iter), C, out

    scale = float(C.detach().mean())
    scale = scale if scale > 0 else 1.0
    reg = 0.05 * scale if reg is None else check_positive(reg, "reg")
    iters = 1000 if max_iter is None else max_iter
    if method in ("sinkhorn", "sinkhorn_scaling"):
        if rtol is not None:
            rtol = check_positive(rtol, "rtol")
            tol = 0.0 if tol is None else check_positive(tol, "tol")  # rtol alone unless both are given
        else:
            tol = (1e-9 if C.dtype == torch.float64 else 1e-6) if tol is None else check_positive(tol, "tol")
        if method == "sinkhorn":
            return _sinkhorn(wa, wb, C, reg, iters, tol, rtol), C, out
        return _sinkhorn_scaling(wa, wb, C, reg, iters, tol, rtol, options), C, out
    if reg_m is None:
        reg_m = scale
    elif not (isinstance(reg_m, int | float) and math.isinf(reg_m) and reg_m > 0):
        reg_m = check_positive(reg_m, "reg_m")
    if rtol is not None:
        raise BadInputError("rtol", repr(rtol), "None for method='unbalanced' (its marginals are relaxed; use tol)")
    tol = 1e-6 if tol is None else check_positive(tol, "tol")
    return _unbalanced(wa, wb, C, reg, float(reg_m), iters, tol), C, out


_SOLVER_PARAMS = r"""
    Parameters
    ----------
    x, y
        Point clouds ``(n, d)`` and ``(m, d)`` (``(n,)`` is read as ``(n, 1)``). May be ``None`` when ``cost`` is
        given.
    a, b
        Weights ``(n,)`` and ``(m,)``: finite and non-negative, uniform when ``None``. The balanced methods
        (``"exact"``, ``"sinkhorn"``) **renormalise** each to sum 1, so only relative weights matter (as in
        :func:`scipy.stats.wasserstein_distance`); ``"unbalanced"`` uses them as given (the default uniform weights
        are ``1/n`` and ``1/m``).
    method
        ``"exact"`` (network simplex, ``ot.emd``), ``"sinkhorn"`` (log-domain entropic OT),
        ``"sinkhorn_scaling"`` (the same with :math:`\varepsilon`-scaling, for small ``reg``) or ``"unbalanced"``
        (entropic OT with KL marginal penalties).
    reg
        Entropic regularisation :math:`\varepsilon` in cost units; default ``0.05 * mean(C)``. Ignored by
        ``"exact"``.
    reg_m
        Marginal relaxation :math:`\rho` of ``"unbalanced"`` in cost units (``inf`` enforces the marginals); default
        ``mean(C)``. With both defaults, rescaling the cost rescales the regularisation and leaves the plan unchanged.
    cost
        Precomputed cost matrix ``(n, m)``, e.g. :math:`-\log p(y_j \mid x_i)`; replaces ``metric``.
    metric
        Ground cost between points when ``cost`` is not given: ``"sqeuclidean"`` or ``"euclidean"``.
    max_iter
        Iteration cap. Default: ``max(10**6, 10 n m)`` network-simplex pivots for ``"exact"`` (POT's own default
        of ``10**5`` stops short of optimality from about 2,000 points), 1000 scaling iterations otherwise.
    tol
        Sinkhorn stopping threshold: the Euclidean norm of the marginal violation for the Sinkhorn methods (default
        ``1e-9`` in float64, ``1e-6`` in float32), the relative change of the scalings for ``"unbalanced"``
        (default ``1e-6``). Ignored by ``"exact"``.
    rtol
        Relative Sinkhorn tolerance (``"sinkhorn"``, ``"sinkhorn_scaling"``): stop when the marginal error relative
        to the marginal mass, :math:`\max(\|P\mathbf 1 - a\|_1, \|P^\top\mathbf 1 - b\|_1) / \|a\|_1`, is at most
        ``rtol`` (e.g. ``1e-4``: one ten-thousandth of the mass misplaced). Unlike ``tol``, whose Euclidean norm
        falls like :math:`n^{-1/2}` for the same error per point, it does not depend on the number of points nor on
        the scale of the weights. ``None`` (default): ``tol`` alone. Given alone, ``rtol`` replaces ``tol``; given
        both, the solver stops at the first met.
    scaling_options
        ``"sinkhorn_scaling"`` only: the schedule of
        :func:`~dynfer.processes.transport.sinkhorn_epsilon_scaling` (``scaling``, ``stage_iter``, ``relaxation``,
        ``check_every``); ``None``: its defaults.
"""

_SOLVER_NOTES = r"""
    Notes
    -----
    *Exact* (Kantorovich 1942) solves :math:`\min_{P \in \Pi(a, b)} \langle P, C\rangle` with the network simplex, on
    the CPU in float64; the plan then goes back to the inputs' device and dtype.

    *Sinkhorn* (Cuturi 2013) solves :math:`\min_{P \in \Pi(a, b)} \langle P, C\rangle + \varepsilon\,
    \mathrm{KL}(P \,\|\, a b^\top)` by alternating :math:`g = \varepsilon \log b - \varepsilon\,\mathrm{LSE}_i
    ((f_i - C_{ij})/\varepsilon)` and the symmetric update of :math:`f`, with
    :math:`P_{ij} = \exp((f_i + g_j - C_{ij})/\varepsilon)`, in the log domain so that small :math:`\varepsilon` does
    not underflow; torch inputs stay on their device and the plan is differentiable through the iterations.

    *Unbalanced* (Chizat et al. 2018) solves :math:`\min_{P \ge 0} \langle P, C\rangle + \varepsilon\,
    \mathrm{KL}(P \,\|\, a b^\top) + \rho\,\mathrm{KL}(P\mathbf 1 \,\|\, a) + \rho\,\mathrm{KL}(P^\top \mathbf 1
    \,\|\, b)` by stabilised scaling iterations.

    An :class:`OTConvergenceWarning` is issued when a solver stops at ``max_iter`` short of ``tol``; a plan with
    NaN, infinite or only zero entries raises :class:`OTNumericalError` (a :class:`~dynfer.BadInputError` and a
    :class:`FloatingPointError`) with advice instead of being returned.

    References
    ----------
    - L. Kantorovich (1942), On the translocation of masses, *Dokl. Akad. Nauk SSSR* 37, 199-201.
    - M. Cuturi (2013), Sinkhorn distances: lightspeed computation of optimal transport, *NeurIPS* 26.
    - L. Chizat, G. Peyré, B. Schmitzer, F.-X. Vialard (2018), Scaling algorithms for unbalanced optimal transport
      problems, *Math. Comp.* 87, 2563-2609.
    - R. Flamary et al. (2021), POT: Python Optimal Transport, *JMLR* 22(78), 1-8.
"""


def ot_plan(
    x: Array | None,
    y: Array | None,
    *,
    a: Array | None = None,
    b: Array | None = None,
    method: Method = "exact",
    reg: float | None = None,
    reg_m: float | None = None,
    cost: Array | None = None,
    metric: Literal["sqeuclidean", "euclidean"] = "sqeuclidean",
    max_iter: int | None = None,
    tol: float | None = None,
    rtol: float | None = None,
    scaling_options: dict[str, Any] | None = None,
) -> Array:
    r"""Optimal coupling :math:`P` ``(n, m)`` between two weighted point clouds.

    {params}

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The plan ``(n, m)``, of the inputs' kind, dtype and device; :math:`P_{{ij}}` is the mass sent from
        :math:`x_i` to :math:`y_j`. Its marginals are the (normalised) ``a`` and ``b`` for the balanced methods (up
        to ``tol`` or ``rtol`` for Sinkhorn).

    Raises
    ------
    ValueError
        Malformed point clouds, weights, cost, method or parameters (the message names the argument).
    OTNumericalError
        The solver produced non-finite or all-zero values (also a :class:`FloatingPointError`).
    {notes}

    Examples
    --------
    >>> import numpy as np
    >>> from dynfer.processes.transport import ot_plan
    >>> P = ot_plan(np.array([0.0, 1.0]), np.array([1.1, 0.1]))
    >>> P.tolist()
    [[0.0, 0.5], [0.5, 0.0]]
    """
    plan, _, out = _solve(x, y, a, b, method, reg, reg_m, cost, metric, max_iter, tol, rtol, scaling_options)
    return out(plan)


def ot_cost(
    x: Array | None,
    y: Array | None,
    *,
    a: Array | None = None,
    b: Array | None = None,
    method: Method = "exact",
    reg: float | None = None,
    reg_m: float | None = None,
    cost: Array | None = None,
    metric: Literal["sqeuclidean", "euclidean"] = "sqeuclidean",
    max_iter: int | None = None,
    tol: float | None = None,
    rtol: float | None = None,
    scaling_options: dict[str, Any] | None = None,
) -> Array:
    r"""Transport cost :math:`\langle P, C\rangle = \sum_{{ij}} P_{{ij}} C_{{ij}}` of the coupling from :func:`ot_plan`.

    Only the linear term: the entropic and marginal penalties of ``"sinkhorn"`` / ``"unbalanced"`` are not added.
    With ``method="exact"`` and the default squared-Euclidean cost this is :math:`W_2^2`.

    {params}

    Returns
    -------
    numpy scalar or torch.Tensor
        A 0-d value of the inputs' kind. With torch inputs it is differentiable in ``x``, ``y`` and ``cost``; for
        ``"exact"`` the plan is held fixed, which gives the exact gradient of the optimal cost wherever the optimal
        plan is unique (envelope theorem).

    Raises
    ------
    ValueError
        Malformed point clouds, weights, cost, method or parameters (the message names the argument).
    OTNumericalError
        The solver produced non-finite or all-zero values (also a :class:`FloatingPointError`).
    {notes}

    Examples
    --------
    >>> import numpy as np
    >>> from dynfer.processes.transport import ot_cost
    >>> round(float(ot_cost(np.array([0.0, 1.0]), np.array([1.1, 0.1]))), 6)
    0.01
    """
    plan, C, out = _solve(x, y, a, b, method, reg, reg_m, cost, metric, max_iter, tol, rtol, scaling_options)
    return out((plan * C).sum())


ot_plan.__doc__ = ot_plan.__doc__.format(params=_SOLVER_PARAMS.strip(), notes=_SOLVER_NOTES.strip())
ot_cost.__doc__ = ot_cost.__doc__.format(params=_SOLVER_PARAMS.strip(), notes=_SOLVER_NOTES.strip())


def wasserstein(x: Array, y: Array, p: int = 2, *, a: Array | None = None, b: Array | None = None) -> Array:
    r"""Exact :math:`p`-Wasserstein distance between two weighted point clouds, :math:`p \in \{1, 2\}`.

    .. math::  W_p(\mu, \nu) = \Big(\min_{P \in \Pi(a, b)} \sum_{ij} P_{ij}\,|x_i - y_j|^p\Big)^{1/p}

    solved exactly with the network simplex (``ot.emd``): :math:`W_2` is the square root of exact OT with the
    squared-Euclidean cost (the W2 metric of TrajectoryNet, SBIRR and SnapMMD tables, there called "EMD"),
    :math:`W_1` is exact OT with the Euclidean cost (the metric of [SF]2M / NLSB tables). Always report which.

    Parameters
    ----------
    x, y
        Point clouds ``(n, d)`` and ``(m, d)``; ``(n,)`` is read as ``(n, 1)``.
    p
        1 or 2.
    a, b
        Non-negative weights, uniform when ``None``, each renormalised to sum 1.

    Returns
    -------
    numpy scalar or torch.Tensor
        :math:`W_p`, a 0-d value of the inputs' kind (differentiable for torch inputs, plan held fixed).

    References
    ----------
    - L. Kantorovich (1942), On the translocation of masses, *Dokl. Akad. Nauk SSSR* 37, 199-201.
    - C. Villani (2009), *Optimal Transport: Old and New*, Springer, ch. 6.

    Examples
    --------
    >>> import numpy as np
    >>> from dynfer.processes.transport import wasserstein
    >>> round(float(wasserstein(np.array([0.0, 1.0]), np.array([2.0, 3.0]), p=1)), 6)
    2.0
    """
    if isinstance(p, bool) or p not in (1, 2):
        raise BadInputError(f"p must be 1 or 2, got {p!r}")
    metric = "euclidean" if p == 1 else "sqeuclidean"
    plan, C, out = _solve(x, y, a, b, "exact", None, None, None, metric, None, None)
    value = (plan * C).sum()
    return out(value if p == 1 else value.clamp_min(0.0).sqrt())
