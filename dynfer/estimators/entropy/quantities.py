r"""Per-sample terms of every entropy-production estimate, and their means with standard errors.

For :math:`dX = b\,dt + \sqrt{2D}\,dW` at stationarity, with the noisy block :math:`g` (:math:`D_g \succ 0`), the
irreversible drift :math:`b^{irr}` (see :mod:`.drift_parts`) and a score model :math:`\hat s_g`:

* probability-flow velocity (the current is :math:`j = v\rho`): :math:`v = b - D\hat s`
  (:math:`v = b` on coordinates without noise);
* **plug-in rate** :math:`\hat\sigma = E[\hat e(X)]` with the local production
  :math:`\hat e(x) = (b^{irr}_g - D_g\hat s_g)^\top D_g^{-1}(b^{irr}_g - D_g\hat s_g)`, split per particle;
* **variational lower bound** :math:`\hat\sigma_{LB} = E[|b^{irr}_g|^2_{D_g^{-1}} + 2\nabla_g\cdot b^{irr}_g]
  - J(\hat s) = \sigma - E|\hat s_g - s_g|^2_{D_g} \le \sigma` (:mod:`.objectives` for :math:`J`);
* **score-free identity** (needs no score; exact in expectation with the true drift): stationarity gives
  :math:`E[s^\top D s] = E[s\cdot b] = -E[\nabla\cdot b]`, hence

  .. math:: \sigma = E\big[|b^{irr}_g|^2_{D_g^{-1}} + 2\nabla_g\cdot b^{irr}_g - \nabla\cdot b\big],

  which for even variables and :math:`D \succ 0` is :math:`E|b|^2_{D^{-1}} + E[\nabla\cdot b]`;
* **stationarity residual** (:math:`D \succ 0` only, where the full score is learned): the Fokker–Planck equation
  :math:`\nabla\cdot(v\rho) = 0` reads :math:`\nabla\cdot v + v\cdot s = 0` pointwise, so
  :math:`E[(\nabla\cdot v + v\cdot\hat s)^2]`, :math:`E[\nabla\cdot v]` and :math:`E[v\cdot\hat s]` vanish at the
  true score.

Standard errors are **batch means** over the samples in their given order (20 contiguous batches), which stays
honest when consecutive samples of a trajectory are correlated.

References
----------
Boffi, N. M. & Vanden-Eijnden, E. (2024). Deep learning probability flows and entropy production rates in active
matter. *PNAS* 121, e2318106121.
Seifert, U. (2012). Stochastic thermodynamics, fluctuation theorems and molecular machines. *Rep. Prog. Phys.* 75,
126001.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dynfer.estimators.entropy.drift_parts import DriftParts
from dynfer.estimators.entropy.objectives import metric_divergence, metric_sq

__all__ = ["SampleTerms", "batch_mean", "sample_terms"]

N_BATCHES = 20


def batch_mean(values: np.ndarray, n_batches: int = N_BATCHES) -> tuple[float, float]:
    """Mean of ``values`` (first axis: samples in order) and its batch-means standard error."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim > 1:
        v = v.reshape(v.shape[0], -1).sum(-1)
    n = v.shape[0]
    mean = float(v.mean()) if n else math.nan
    k = min(n_batches, n)
    if k < 2:
        return mean, math.nan
    means = np.array([b.mean() for b in np.array_split(v, k)])
    return mean, float(means.std(ddof=1) / math.sqrt(k))


@dataclass
class SampleTerms:
    r"""Per-sample terms (numpy, float64), computed in chunks by :func:`sample_terms`.

    Attributes
    ----------
    velocity
        :math:`v = b - D\hat s`, the shape of the states.
    local
        :math:`\hat e`: ``(n,)`` for states ``(n, d)``, ``(n, N)`` per particle for particle states.
    lower_bound
        ``(n,)`` terms of the lower bound (``None`` when not asked).
    score_free
        ``(n,)`` terms of the score-free identity.
    div_v, v_dot_s
        ``(n,)`` :math:`\nabla\cdot v` and :math:`v\cdot\hat s` (``None`` unless the noise is non-degenerate).
    per_coordinate
        ``(n, m)`` :math:`v_a (D_g^{-1} v)_a` per noisy coordinate (summed over particles), which sum to the local
        production.
    """

    velocity: np.ndarray
    local: np.ndarray
    lower_bound: np.ndarray | None
    score_free: np.ndarray
    div_v: np.ndarray | None
    v_dot_s: np.ndarray | None
    per_coordinate: np.ndarray


def sample_terms(
    score: Callable[[torch.Tensor], torch.Tensor] | None,
    parts: DriftParts,
    x: torch.Tensor,
    index: torch.Tensor,
    block: torch.Tensor,
    inv_block: torch.Tensor,
    *,
    degenerate: bool,
    exact: bool,
    n_probes: int,
    lower_bound: bool,
    chunk: int,
    generator: torch.Generator | None = None,
) -> SampleTerms:
    r"""Every per-sample term for states ``x`` (``score=None``: the equilibrium score, :math:`v^{irr}_g = 0`).

    Parameters
    ----------
    score
        :math:`\hat s_g` (or ``None``).
    parts
        The drift and its irreversible part.
    x
        States ``(n, d)`` or ``(n, N, c)``.
    index, block, inv_block
        Noisy coordinates, :math:`D_g` and :math:`D_g^{-1}`.
    degenerate
        Whether some coordinates carry no noise (then no stationarity residual).
    exact, n_probes
        Exact divergence of the score, or Hutchinson with ``n_probes`` probes.
    lower_bound
        Compute the lower-bound terms (one divergence of the score per sample).
    chunk
        Samples per chunk.
    generator
        Source of Hutchinson probes.
    """
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("velocity", "local", "lb", "sf", "div_v", "vs", "coord")}
    all_coords = list(range(x.shape[-1]))
    g_list = [int(k) for k in index]
    particle = x.ndim == 3

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1).sum(-1)

    for start in range(0, x.shape[0], chunk):
        xc = x[start:start + chunk]
        b = parts.full(xc)
        b_irr = parts.irreversible(xc, b)
        b_g = b_irr.index_select(-1, index)
        need_div = score is not None and (lower_bound or not degenerate)
        if score is None:
            s = b_g @ inv_block
            div_s = None
        elif need_div:
            s, div_s = metric_divergence(score, xc, index, block, exact=exact and not particle, n_probes=n_probes,
                                         generator=generator)
            s, div_s = s.detach(), div_s.detach()
        else:
            with torch.no_grad():
                s = score(xc)
            div_s = None
        ds = s @ block
        v = b.clone()
        v[..., g_list] = b.index_select(-1, index) - ds
        v_irr_g = b_g - ds
        w = v_irr_g @ inv_block
        coord = v_irr_g * w
        local = coord.sum(-1)
        b_sq = flat(metric_sq(b_g, inv_block))
        div_b_irr_g = parts.irreversible_divergence(xc, g_list)
        div_b = parts.divergence(xc, all_coords)
        out["sf"].append((b_sq + 2 * div_b_irr_g - div_b).cpu().numpy())
        if lower_bound:
            div_ds = div_b_irr_g if score is None else div_s  # equilibrium score: D_g s_eq = b^irr_g
            j = flat(metric_sq(s, block)) + 2 * div_ds
            out["lb"].append((b_sq + 2 * div_b_irr_g - j).cpu().numpy())
        if not degenerate and div_s is not None:
            out["div_v"].append((div_b - div_s).cpu().numpy())
            full_s = torch.zeros_like(xc)
            full_s[..., g_list] = s
            out["vs"].append(flat(v * full_s).cpu().numpy())
        out["velocity"].append(v.detach().cpu().numpy())
        out["local"].append(local.detach().cpu().numpy())
        out["coord"].append((coord.sum(1) if particle else coord).detach().cpu().numpy())

    def cat(key: str) -> np.ndarray | None:
        return np.concatenate(out[key]).astype(np.float64) if out[key] else None

    return SampleTerms(velocity=cat("velocity"), local=cat("local"), lower_bound=cat("lb"), score_free=cat("sf"),
                       div_v=cat("div_v"), v_dot_s=cat("vs"), per_coordinate=cat("coord"))
