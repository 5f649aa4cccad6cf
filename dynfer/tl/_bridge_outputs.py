r"""What a fitted bridge hands to other tools: the reference drift at every cell and a cell-cell transition matrix.

:func:`tl.schrodinger_bridge <dynfer.tl.schrodinger_bridge>` writes both (the plots recompute the drift from the
stored model, never from these copies):

* ``obsm[f"{key}_drift"]`` — the refined reference drift :math:`f_\theta(x_i)` at every cell, in the coordinates
  of the fitted representation (a velocity field: it has the units of the representation per unit of
  ``obs[time_key]``). When the representation is ``obsm["X_<b>"]`` the same array is also written as
  ``obsm[f"{key}_drift_<b>"]``, the name under which scvelo's ``velocity_embedding_stream(adata, basis="<b>",
  vkey=f"{key}_drift")`` finds the velocity of its embedding ``X_<b>``.
* ``obsp[f"{key}_transitions"]`` — a row-stochastic CSR matrix ``(n_obs, n_obs)``: the row of a cell at time
  :math:`t_k` is the conditional law of its successor at the next time :math:`t_{k+1}` under the bridge's static
  coupling :math:`\pi_k` (:func:`~dynfer.estimators.bridges.coupling.couple`: entropic OT with the transition cost
  :math:`-\log p_{\Delta_k}(y \mid x)` of the refined reference, the P-step's own problem),

  .. math::  T_{ij} = \frac{\pi_k(i, j)}{\sum_{j'} \pi_k(i, j')},

  (with the estimator's ``batch_size``, by default mini-batches of 1,000 cells beyond 2,000 cells per time:
  :func:`~dynfer.estimators.bridges.minibatch.block_couple`, whose rows spread over their batch only), sparsified
  by :func:`sparsify_rows`: each row keeps its largest entries until they hold at least
  ``mass`` = 0.99 of the row's probability, and is renormalised, so its total-variation distance to the dense row
  is :math:`1 - m_i \le 0.01` (:math:`m_i` the kept mass). Cells of the last time have a self-loop
  (:math:`T_{ii} = 1`, CellRank's ``self_transitions="diagonal"``), so every row sums to 1 as CellRank's
  ``PrecomputedKernel(adata, obsp_key=f"{key}_transitions")`` requires. Every cell with a time counts, the
  held-out ones too (the reference is time-homogeneous); ``uns[f"{key}_transitions_params"]`` records the rule.

References
----------
- M. Lange, V. Bergen, M. Klein et al. (2022), CellRank for directed single-cell fate mapping, *Nat. Methods* 19,
  159-170 (the precomputed-kernel route and the self-transitions of the last time point).
- Y. Shen, R. Berlinghieri, T. Broderick (2025), Multi-marginal Schrödinger bridges with iterative reference
  refinement, *AISTATS*, PMLR 258, 3817-3825.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from dynfer._errors import BadInputError
from dynfer._validation import make_generator
from dynfer.estimators.bridges.coupling import couple
from dynfer.estimators.bridges.estimator import COUPLING_RTOL, SchrodingerBridge
from dynfer.estimators.bridges.minibatch import block_couple, default_batch_size

__all__ = ["TRANSITION_MASS", "reference_drift", "sparsify_rows", "transition_matrix"]

#: probability each sparsified transition row keeps (see :func:`sparsify_rows`)
TRANSITION_MASS = 0.99
_BATCH = 65_536  # cells per drift evaluation


def _device(est: SchrodingerBridge) -> torch.device:
    return est.paths_.device


def reference_drift(est: SchrodingerBridge, x: np.ndarray) -> np.ndarray:
    r"""The refined reference drift :math:`f_\theta(x)` at the rows of ``x`` ``(n, d)``, float64 (no refit).

    Rows that are not finite give NaN rows (the caller warns); the drift is evaluated in batches of 65,536 rows in
    the estimator's dtype on its device.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    finite = np.isfinite(x).all(axis=1)
    if est.reference_.family == "brownian":
        out[finite] = 0.0
        return out
    rows = np.flatnonzero(finite)
    dev, dtype = _device(est), est.dtype_
    for start in range(0, len(rows), _BATCH):
        pick = rows[start:start + _BATCH]
        xt = torch.as_tensor(x[pick], dtype=dtype, device=dev)
        with torch.no_grad():
            out[pick] = est.reference_(xt).detach().to(torch.float64).cpu().numpy()
    bad = finite & ~np.isfinite(out).all(axis=1)
    if bad.any():
        raise FloatingPointError(f"the refined reference drift is not finite at {int(bad.sum())} cell(s)")
    return out


def sparsify_rows(plan: torch.Tensor, mass: float = TRANSITION_MASS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Keep, in each row of a coupling, the largest entries that hold at least ``mass`` of its conditional law.

    With :math:`r_i = \pi(i, \cdot) / \sum_j \pi(i, j)` sorted decreasingly as :math:`r_{i(1)} \ge r_{i(2)} \ge
    \dots`, row :math:`i` keeps the first :math:`k_i = \min\{k : \sum_{l \le k} r_{i(l)} \ge \text{mass}\}`
    entries and divides them by their sum :math:`m_i \ge \text{mass}`; the total-variation distance of the kept row
    to :math:`r_i` is :math:`1 - m_i`.

    Parameters
    ----------
    plan
        Non-negative ``(n0, n1)`` coupling with positive row sums.
    mass
        Probability kept per row, in ``(0, 1]``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(rows, cols, values)`` of the kept entries (each row's values sum to 1).
    """
    if not 0.0 < mass <= 1.0:
        raise BadInputError("mass", repr(mass), "a probability in (0, 1]")
    p = plan.detach().to(torch.float64)
    total = p.sum(dim=1, keepdim=True)
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or bool((total <= 0).any()):
        raise FloatingPointError("the coupling has non-finite or negative entries, or an empty row")
    r = p / total
    values, order = torch.sort(r, dim=1, descending=True)
    before = torch.cumsum(values, dim=1) - values  # mass of the entries ranked above each one
    keep = before < mass - 1e-12  # the entry that reaches the mass is kept, the ones after it are not
    kept = torch.where(keep, values, torch.zeros_like(values))
    kept = kept / kept.sum(dim=1, keepdim=True)
    rows, rank = torch.nonzero(keep, as_tuple=True)
    return rows.cpu().numpy(), order[rows, rank].cpu().numpy(), kept[rows, rank].cpu().numpy()


def _couple_options(est: SchrodingerBridge) -> dict[str, Any]:
    """The fit's coupling options, with the P-step's default relative tolerance (``COUPLING_RTOL``)."""
    accepted = set(inspect.signature(couple).parameters)
    options = {"rtol": COUPLING_RTOL, **dict(est.coupling_kwargs or {})}
    return {k: v for k, v in options.items() if k in accepted}


def _dense_plan(est: SchrodingerBridge, a: torch.Tensor, b: torch.Tensor, dt: float) -> torch.Tensor:
    drift = None if est.reference_.family == "brownian" else est.reference_
    n_rk4 = max(4, int(est.min_steps), math.ceil(dt * float(est.steps_per_unit) - 1e-9))
    failure: Exception | None = None
    for steps in (n_rk4, 4 * n_rk4):  # as the P-step: once more with four times the RK4 steps
        try:
            with torch.no_grad():
                return couple(a, b, dt, drift, est.sigma_, reg=float(est.reg), n_rk4=steps, **_couple_options(est))
        except (FloatingPointError, ValueError) as err:
            if not isinstance(err, FloatingPointError) and "positive definite" not in str(err):
                raise
            failure = err
    raise FloatingPointError(f"the transition moments failed with {n_rk4} and {4 * n_rk4} RK4 steps: {failure}")


def _batch_size(est: SchrodingerBridge, n: int) -> int | None:
    size = getattr(est, "batch_size", None)
    if isinstance(size, str) and size == "auto":
        return default_batch_size(n)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def _interval_blocks(est: SchrodingerBridge, x0: np.ndarray, x1: np.ndarray, dt: float, gen: torch.Generator
                     ) -> list[tuple[np.ndarray, np.ndarray, torch.Tensor]]:
    """``[(rows, cols, plan)]``: the dense coupling, or the mini-batch blocks with the estimator's batch size."""
    dev, dtype = _device(est), est.dtype_
    a = torch.as_tensor(x0, dtype=dtype, device=dev)
    b = torch.as_tensor(x1, dtype=dtype, device=dev)
    size = _batch_size(est, max(len(x0), len(x1)))
    if size is None:
        return [(np.arange(len(x0)), np.arange(len(x1)), _dense_plan(est, a, b, dt))]
    plan = block_couple(a, b, lambda u, v: _dense_plan(est, u, v, dt), size, gen)
    return [(r.cpu().numpy(), c.cpu().numpy(), blk) for r, c, blk in zip(plan.rows, plan.cols, plan.blocks,
                                                                          strict=True)]


def transition_matrix(
    est: SchrodingerBridge, x: np.ndarray, t: np.ndarray, *, mass: float = TRANSITION_MASS
) -> sp.csr_matrix:
    r"""Row-stochastic cell-cell transitions between consecutive times under the fitted bridge (module docstring).

    Parameters
    ----------
    est
        A fitted bridge (its refined reference and :math:`\sigma` define the couplings; nothing is refitted).
    x
        ``(n, d)`` states of every cell in the fitted representation.
    t
        ``(n,)`` time of every cell.
    mass
        Probability kept per row (:func:`sparsify_rows`).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n, n)`` float64, every row summing to 1: the sparsified conditional coupling rows for cells before the
        last time, self-loops for the cells of the last time and for cells whose state is not finite.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n = x.shape[0]
    finite = np.isfinite(x).all(axis=1) & np.isfinite(t)
    times = np.unique(t[finite])
    rows, cols, vals = [], [], []
    done = np.zeros(n, dtype=bool)
    gen = make_generator(int(est.seed_), _device(est))  # the mini-batch partitions, reproducible
    for k in range(len(times) - 1):
        src = np.flatnonzero(finite & (t == times[k]))
        dst = np.flatnonzero(finite & (t == times[k + 1]))
        for br, bc, plan in _interval_blocks(est, x[src], x[dst], float(times[k + 1] - times[k]), gen):
            r, c, v = sparsify_rows(plan, mass)
            rows.append(src[br[r]])
            cols.append(dst[bc[c]])
            vals.append(v)
        done[src] = True
    loops = np.flatnonzero(~done)
    rows.append(loops)
    cols.append(loops)
    vals.append(np.ones(len(loops)))
    out = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n),
                        dtype=np.float64)
    out.sort_indices()
    return out


def warn_non_finite(x: np.ndarray, where: str) -> None:
    """Warn once when some rows of the representation are not finite (their drift is NaN, their row a self-loop)."""
    bad = int((~np.isfinite(x).all(axis=1)).sum())
    if bad:
        warnings.warn(f"{bad} cell(s) of {where} hold NaN or infinite values: their drift is NaN and their "
                      "transition row a self-loop", UserWarning, stacklevel=3)
