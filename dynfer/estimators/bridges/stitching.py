r"""Multi-marginal Schrödinger bridge: glue per-interval couplings into paths over :math:`t_0 < \dots < t_K`.

With a Markov reference :math:`Q`, the multi-marginal problem :math:`\min \mathrm{KL}(P \,\|\, Q)` subject to
:math:`P_{t_k} = \mu_k` for all :math:`k` has a Markov solution, and its KL splits into independent two-marginal
Schrödinger bridges on the intervals :math:`[t_k, t_{k+1}]` (Chen, Conforti & Georgiou 2019; Shen, Berlinghieri &
Broderick 2025, sec. 3). The solution's law at the knots is the Markov chain whose consecutive pair laws are the
static couplings :math:`\pi_k` (:func:`~dynfer.estimators.bridges.coupling.couple`),

.. math::  P(x_0, \dots, x_K) = \mu_k(x_k) \prod_{l \ge k} \pi_l(x_{l+1} \mid x_l) \prod_{l < k} \pi_l(x_l \mid x_{l+1})

for any anchor :math:`k`, and between knots each path follows the reference bridge between its two knot values.
:func:`stitch` samples it on the particles: a path starts at a particle of an anchor snapshot, moves forward by
drawing its next particle from the conditional row :math:`\pi_k[i, :] / \sum_j \pi_k[i, j]` and backward from the
conditional column :math:`\pi_{k-1}[:, j] / \sum_i \pi_{k-1}[i, j]`, and the gaps are filled with
:func:`~dynfer.estimators.bridges.coupling.bridge_paths`.

References
----------
- C. Léonard (2014), A survey of the Schrödinger problem and some of its connections with optimal transport,
  *Discrete Contin. Dyn. Syst. A* 34(4), 1533-1574.
- Y. Chen, T. Georgiou, M. Pavon (2016), On the relation between optimal transport and Schrödinger bridges: a
  stochastic control viewpoint, *J. Optim. Theory Appl.* 169, 671-691.
- Y. Chen, G. Conforti, T. Georgiou (2019), Measure-valued spline curves: an optimal transport viewpoint, *SIAM J.
  Math. Anal.* 50(6), 5947-5968.
- Y. Shen, R. Berlinghieri, T. Broderick (2025), Multi-marginal Schrödinger bridges with iterative reference
  refinement, *AISTATS*, PMLR 258, 3817-3825.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_times, make_generator, progress
from dynfer.estimators.bridges.coupling import Drift, Exact, bridge_paths, couple
from dynfer.estimators.bridges.draws import draw_rows
from dynfer.estimators.bridges.minibatch import BlockPlan, block_couple, check_batch_size

__all__ = ["StitchedPaths", "stitch"]


class StitchedPaths(NamedTuple):
    """Output of :func:`stitch`.

    Attributes
    ----------
    paths : torch.Tensor
        ``(T, N, d)`` paths on ``grid``.
    grid : torch.Tensor
        ``(T,)`` time grid, containing every observation time.
    knots : torch.Tensor
        ``(K + 1,)`` long indices with ``grid[knots[k]] == times[k]``.
    anchors : torch.Tensor
        ``(N,)`` long: the snapshot each path was started from (``paths[knots[anchors[p]], p]`` is a particle of
        that snapshot, taken once each).
    plans : list of torch.Tensor or BlockPlan
        The ``K`` interval couplings, ``plans[k]`` of shape ``(n_k, n_{k+1})``: dense tensors, or with
        ``batch_size`` :class:`~dynfer.estimators.bridges.minibatch.BlockPlan` s (``.to_sparse()`` gives a sparse
        tensor, ``.to_dense()`` a dense one).
    """

    paths: torch.Tensor
    grid: torch.Tensor
    knots: torch.Tensor
    anchors: torch.Tensor
    plans: list[torch.Tensor | BlockPlan]


def _draw_next(plan: torch.Tensor | BlockPlan, i: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if isinstance(plan, BlockPlan):
        return plan.draw_next(i, gen)
    return draw_rows(plan[i], gen)


def _draw_previous(plan: torch.Tensor | BlockPlan, j: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if isinstance(plan, BlockPlan):
        return plan.draw_previous(j, gen)
    return draw_rows(plan[:, j].T, gen)


def _snapshots(snapshots) -> list[torch.Tensor]:
    if isinstance(snapshots, torch.Tensor) or hasattr(snapshots, "ndim"):
        arr = as_tensor(snapshots, "snapshots", ndim=3)
        return [arr[k] for k in range(arr.shape[0])]
    if not isinstance(snapshots, Sequence) or len(snapshots) == 0:
        raise BadInputError("snapshots must be a (K+1, n, d) array or a sequence of (n_k, d) arrays")
    first = as_tensor(snapshots[0], "snapshots[0]", ndim=2)
    out = [first]
    for k in range(1, len(snapshots)):
        out.append(as_tensor(snapshots[k], f"snapshots[{k}]", ndim=2, device=first.device, dtype=first.dtype))
    for k, s in enumerate(out):
        if s.shape[0] == 0:
            raise BadInputError(f"snapshots[{k}] holds no particles")
        if s.shape[1] != first.shape[1]:
            raise BadInputError(f"all snapshots must share the dimension d: snapshots[0] has d={first.shape[1]}, "
                                f"snapshots[{k}] has d={s.shape[1]}")
    return out


def _steps(n_steps, steps_per_unit, gaps: list[float]) -> list[int]:
    K = len(gaps)
    if n_steps is not None and steps_per_unit is not None:
        raise BadInputError("pass n_steps or steps_per_unit, not both")
    if steps_per_unit is not None:
        rate = float(steps_per_unit)
        if not (math.isfinite(rate) and rate > 0):
            raise BadInputError(f"steps_per_unit must be finite and > 0, got {steps_per_unit!r}")
        return [max(1, math.ceil(g * rate - 1e-9)) for g in gaps]
    raw = [10] * K if n_steps is None else ([n_steps] * K if isinstance(n_steps, int) else list(n_steps))
    if len(raw) != K or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in raw):
        raise BadInputError(f"n_steps must be a positive int or {K} positive ints (one per interval), got {n_steps!r}")
    return raw


def _starts(n: int, n_paths: int | None, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Stratified start indices: every particle ``n_paths // n`` times, then a random subset for the rest."""
    if n_paths is None:
        return torch.arange(n, device=device)
    reps, rest = divmod(n_paths, n)
    idx = [torch.arange(n, device=device).repeat(reps)]
    if rest:
        idx.append(torch.randperm(n, generator=gen, device=device)[:rest])
    return torch.cat(idx)


def stitch(
    snapshots: Sequence[torch.Tensor] | torch.Tensor,
    times: Sequence[float] | torch.Tensor,
    drift: Drift | None,
    sigma: float | torch.Tensor,
    *,
    n_steps: int | Sequence[int] | None = None,
    steps_per_unit: float | None = None,
    n_paths: int | None = None,
    anchor: int | str = "all",
    reg: float = 1.0,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    n_rk4: int = 4,
    exact: Exact = None,
    n_flow: int = 4,
    seed: int | torch.Generator | None = 0,
    ot_method: str = "sinkhorn_scaling",
    batch_size: int | None = None,
    rtol: float | None = None,
) -> StitchedPaths:
    r"""Sample the multi-marginal Schrödinger bridge through snapshots at ``times`` as full-length paths.

    For each interval :math:`[t_k, t_{k+1}]` the static coupling :math:`\pi_k` of the snapshots is computed with
    :func:`~dynfer.estimators.bridges.coupling.couple` (entropic OT, cost :math:`-\log p_{\Delta_k}(y \mid x)`,
    :math:`\varepsilon` = ``reg``). Paths are then chained through the particles, batched over all paths: from
    particle :math:`i` at :math:`t_k` the next particle at :math:`t_{k+1}` is drawn from
    :math:`\pi_k[i, :] / \sum_j \pi_k[i, j]`, and the previous one at :math:`t_{k-1}` from
    :math:`\pi_{k-1}[:, i] / \sum_j \pi_{k-1}[j, i]`. Each gap is filled with a reference bridge
    (:func:`~dynfer.estimators.bridges.coupling.bridge_paths`: exact Brownian bridges for ``drift=None``, the guided
    proposal otherwise).

    Because the coupling marginals are the uniform snapshot weights, every chain has the bridge's knot law whatever
    its anchor; the anchor decides which knot is *exactly* the snapshot. With ``anchor="all"`` (the default, as in
    the SBIRR code) every snapshot's particles each start one path (pushed forward through later intervals and
    backward through earlier ones): :math:`N = \sum_k n_k` paths, and at each :math:`t_k` the paths contain the whole
    snapshot :math:`k` once plus draws from it. With ``anchor=k`` the paths start at snapshot :math:`k` only.

    Parameters
    ----------
    snapshots
        ``K + 1 >= 2`` point clouds: a ``(K+1, n, d)`` array or a sequence of ``(n_k, d)`` arrays (sizes may differ).
    times
        Strictly increasing observation times ``(K+1,)``.
    drift
        Time-independent reference drift ``(n, d) -> (n, d)``, or ``None`` for the Brownian reference (vanilla SB).
    sigma
        Reference diffusion coefficient, a number or a ``(d,)`` vector.
    n_steps
        Bridge steps per interval: one int for all, or one per interval. Default 10 per interval.
    steps_per_unit
        Alternative to ``n_steps``: :math:`\lceil \Delta_k \cdot \text{steps\_per\_unit} \rceil` steps on interval
        :math:`k` (e.g. ``50`` for SBIRR's EM step :math:`1/50`).
    n_paths
        Paths started from each anchor snapshot. Default: its size :math:`n_k` (each particle once); otherwise each
        particle ``n_paths // n_k`` times plus a random subset of the others (stratified).
    anchor
        ``"all"`` or the index of the snapshot the paths start from.
    reg, max_iter, tol, rtol, n_rk4, exact, ot_method
        Passed to :func:`~dynfer.estimators.bridges.coupling.couple` (``exact`` also chooses exactness of the
        transition; the bridges do not need it).
    n_flow
        RK4 steps of the deterministic flow in the guided bridges
        (:func:`~dynfer.estimators.bridges.coupling.bridge_paths`).
    seed
        Seed or generator for the chain draws, the mini-batch partitions and the bridges (reproducible for a fixed
        int).
    batch_size
        ``None`` (default): dense couplings, :math:`O(n_k n_{k+1})` time and memory per interval. An int: mini-batch
        couplings (:mod:`~dynfer.estimators.bridges.minibatch`): each interval's snapshots are split at random into
        :math:`\lceil \max(n_k, n_{k+1}) / \text{batch\_size} \rceil` batches per side, batch :math:`b` is coupled
        with batch :math:`b` by :func:`~dynfer.estimators.bridges.coupling.couple`, and the plan is the union of the
        blocks, each scaled by its share of the rows: :math:`O(\text{batch\_size} \cdot n)` time and memory, and
        a path's next particle stays in its batch. ``batch_size >= max(n_k, n_{k+1})`` gives the dense plan
        exactly. :func:`~dynfer.estimators.bridges.minibatch.default_batch_size` gives a default from the
        snapshot size.

    Returns
    -------
    StitchedPaths
        ``(paths (T, N, d), grid (T,), knots (K+1,), anchors (N,), plans)``; unpacks as a tuple.

    Raises
    ------
    ValueError
        Fewer than two snapshots, times not strictly increasing or of the wrong length, snapshots of different
        dimensions, NaN or infinite values, or malformed options.

    Examples
    --------
    >>> import torch
    >>> snaps = [torch.randn(30, 2) + k for k in range(3)]
    >>> out = stitch(snaps, [0.0, 1.0, 2.0], None, 0.5, n_steps=4)
    >>> tuple(out.paths.shape), out.grid.tolist()[::4]
    ((9, 90, 2), [0.0, 1.0, 2.0])
    """
    snaps = _snapshots(snapshots)
    if len(snaps) < 2:
        raise BadInputError(f"stitch needs at least two time points, got {len(snaps)}")
    ref = snaps[0]
    dev, dtype = ref.device, ref.dtype
    t = as_tensor(times, "times", ndim=1, device=dev, dtype=torch.float64)
    if t.shape[0] != len(snaps):
        raise BadInputError(f"times has {t.shape[0]} entries but there are {len(snaps)} snapshots")
    check_times(t, "times")
    K = len(snaps) - 1
    tl = t.tolist()
    gaps = [tl[k + 1] - tl[k] for k in range(K)]
    steps = _steps(n_steps, steps_per_unit, gaps)
    if n_paths is not None and (isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1):
        raise BadInputError(f"n_paths must be a positive int or None, got {n_paths!r}")
    if anchor == "all":
        anchor_list = list(range(K + 1))
    elif isinstance(anchor, int) and not isinstance(anchor, bool) and -(K + 1) <= anchor <= K:
        anchor_list = [anchor % (K + 1)]
    else:
        raise BadInputError(f"anchor must be 'all' or an int in [-{K + 1}, {K}], got {anchor!r}")
    batch_size = check_batch_size(batch_size)
    gen = make_generator(seed, dev)

    extra = {} if rtol is None else {"rtol": rtol}

    def solve(k: int, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return couple(x0, x1, gaps[k], drift, sigma, reg=reg, max_iter=max_iter, tol=tol, n_rk4=n_rk4, exact=exact,
                      ot_method=ot_method, **extra)

    plans: list[torch.Tensor | BlockPlan] = [
        solve(k, snaps[k], snaps[k + 1]) if batch_size is None
        else block_couple(snaps[k], snaps[k + 1], lambda x0, x1, k=k: solve(k, x0, x1), batch_size, gen)
        for k in progress(range(K), desc="couplings", total=K)]

    # particle index of every path at every knot (N paths, batched); -1 = not yet drawn
    starts = [_starts(snaps[a].shape[0], n_paths, gen, dev) for a in anchor_list]
    anchors = torch.cat([torch.full((len(s),), a, dtype=torch.long, device=dev) for a, s in zip(anchor_list, starts,
                                                                                                 strict=True)])
    N = anchors.shape[0]
    idx = torch.full((K + 1, N), -1, dtype=torch.long, device=dev)
    for a, s in zip(anchor_list, starts, strict=True):
        idx[a, anchors == a] = s
    for k in range(K):  # forward: paths anchored at or before t_k draw their particle at t_{k+1}
        sel = anchors <= k
        if bool(sel.any()):
            idx[k + 1, sel] = _draw_next(plans[k], idx[k, sel], gen)
    for k in range(K, 0, -1):  # backward: paths anchored at or after t_k draw their particle at t_{k-1}
        sel = anchors >= k
        if bool(sel.any()):
            idx[k - 1, sel] = _draw_previous(plans[k - 1], idx[k, sel], gen)

    knots_list = [0]
    for s in steps:
        knots_list.append(knots_list[-1] + s)
    T = knots_list[-1] + 1
    d = ref.shape[1]
    paths = torch.empty((T, N, d), dtype=dtype, device=dev)
    grid = torch.empty(T, dtype=torch.float64, device=dev)
    for k in progress(range(K), desc="bridges", total=K):
        lo, hi = knots_list[k], knots_list[k + 1]
        seg = bridge_paths(snaps[k][idx[k]], snaps[k + 1][idx[k + 1]], tl[k], tl[k + 1], steps[k], drift, sigma,
                           seed=gen, n_flow=n_flow)
        paths[lo:hi + 1] = seg
        grid[lo:hi + 1] = torch.linspace(tl[k], tl[k + 1], steps[k] + 1, dtype=torch.float64, device=dev)
    grid[torch.tensor(knots_list, device=dev)] = t  # knots exact, whatever linspace rounding did
    knots = torch.tensor(knots_list, dtype=torch.long, device=dev)
    return StitchedPaths(paths, grid.to(dtype), knots, anchors, plans)
