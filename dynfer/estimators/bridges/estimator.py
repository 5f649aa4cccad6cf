r"""The estimator: multi-marginal Schrödinger bridge with iterative reference refinement (SBIRR).

Coordinate descent on :math:`\mathrm{KL}(P \,\|\, Q_\theta)` over path measures :math:`P` with the observed marginals
and reference parameters :math:`\theta` (Shen, Berlinghieri & Broderick, AISTATS 2025, sec. 3):

1. **P-step.** Under the reference :math:`dX = f_\theta(X)\,dt + \sigma\,dW`, the multi-marginal Schrödinger bridge
   through the snapshots; for a Markov reference it splits into one two-marginal bridge per interval, glued at the
   shared marginals (:func:`~dynfer.estimators.bridges.stitching.stitch`, or the simulation-based IPF of
   :func:`~dynfer.estimators.bridges.ipf.ipf_bridge` with ``p_step="ipf"``).
2. **θ-step.** :math:`\theta \leftarrow \arg\min_\theta \sum_{\text{paths}} \sum_s \Delta_s
   |(X_{s+1} - X_s)/\Delta_s - f_\theta(X_s)|^2` on the stitched paths (Euler pseudo-likelihood,
   :func:`~dynfer.estimators.bridges.drift_fit.fit_reference`).
3. Repeat for ``n_iter`` rounds or until :math:`\theta` stops moving (relative change below ``tol``).

With the Brownian reference (:math:`f \equiv 0`) one round is *vanilla SB*.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_int, check_positive, make_generator, progress
from dynfer.estimators._base import Estimator, resolve_seed
from dynfer.estimators.bridges.coupling import BridgeFallbackWarning, BridgeNumericalError
from dynfer.estimators.bridges.drift_fit import euler_residual_loss, fit_reference
from dynfer.estimators.bridges.initialisation import INIT_METHODS, initialise_reference
from dynfer.estimators.bridges.minibatch import check_batch_size, default_batch_size
from dynfer.estimators.bridges.references import ReferenceDrift, as_reference, make_reference
from dynfer.estimators.bridges.stitching import stitch
from dynfer.processes.transport import OTConvergenceWarning

__all__ = ["SchrodingerBridge", "auto_sigma"]

P_STEPS = ("coupling", "ipf")


def _check_snapshots(snapshots: Any, times: Any) -> tuple[list[torch.Tensor], torch.Tensor]:
    if isinstance(snapshots, torch.Tensor) and snapshots.ndim == 3:
        snapshots = list(snapshots)
    if not isinstance(snapshots, Sequence) or isinstance(snapshots, str):
        raise BadInputError("snapshots must be a sequence of (n_k, d) arrays, one per time point")
    xs = [as_tensor(x, f"snapshots[{k}]", ndim=2) for k, x in enumerate(snapshots)]
    t = as_tensor(times, "times", ndim=1, dtype=torch.float64)
    if len(xs) != len(t):
        raise BadInputError(f"times has {len(t)} entries but there are {len(xs)} snapshots")
    if len(xs) < 3:
        raise BadInputError(f"a multi-marginal bridge needs snapshots at >= 3 time points, got {len(xs)}")
    if bool((torch.diff(t) <= 0).any()):
        raise BadInputError("times must be strictly increasing (one snapshot per time point)")
    dims = {x.shape[1] for x in xs}
    if len(dims) > 1:
        raise BadInputError(f"all snapshots must have the same dimension, got {sorted(dims)}")
    if any(x.shape[0] < 2 for x in xs):
        raise BadInputError("every snapshot needs at least 2 particles")
    return xs, t


def _flat_params(module: nn.Module) -> torch.Tensor:
    params = [p.detach().reshape(-1) for p in module.parameters()]
    return torch.cat(params).double() if params else torch.zeros(0, dtype=torch.float64)



def _check_options(value: Any, name: str, allowed: Sequence[str] | None = None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadInputError(f"{name} must be a dict of options or None, got {type(value).__name__}")
    if allowed is not None:
        unknown = set(value) - set(allowed)
        if unknown:
            raise BadInputError(f"{name} accepts {sorted(allowed)}, got unknown keys {sorted(unknown)}")
    return dict(value)


STORED_PATHS = 2000  # paths per anchor snapshot kept in paths_ by stored_paths="auto"
COUPLING_RTOL = 1e-4  # Sinkhorn's relative marginal tolerance in the P-step (PBMC: within 1e-6 TV of a tight solve)
SIGMA_TEMPERATURE = 1.0 / 300.0  # the default's entropic temperature, as a fraction of the centred pair distances


def auto_sigma(snapshots: Sequence[torch.Tensor], times: Sequence[float] | torch.Tensor | None = None) -> float:
    r"""The data-scaled default noise level: large enough for converged couplings, otherwise a tenth of the spread.

    .. math::  \sigma_0 = \max\Big(0.1 \cdot 	frac1d 	extstyle\sum_j \mathrm{sd}_j,\quad
               \sqrt{\operatorname{median}_k \dfrac{c\, D_k}{2 \Delta_k}}\Big),
               \qquad D_k = \operatorname{tr}\operatorname{Cov}\mu_k + \operatorname{tr}\operatorname{Cov}\mu_{k+1},

    with the standard deviations :math:`\mathrm{sd}_j` over the pooled particles, :math:`\Delta_k` the gaps and
    :math:`c = 1/300` (``SIGMA_TEMPERATURE``). :math:`D_k` is the mean squared distance between the two centred
    snapshots of interval :math:`k`, the scale of the transport cost once the reference has carried one cloud onto
    the other; under the Brownian reference the entropic temperature is :math:`arepsilon_k = 2\sigma^2\Delta_k`,
    so the second term makes :math:`D_k / arepsilon_k \le 300` on the median interval. Beyond that ratio the
    Sinkhorn iterations of the P-step grow quickly (measured on PBMC, 500 cells, 30-d: ratio 120 converges in
    5 s, 330 in 22 s, 3,000 does not converge in 10,000 iterations). On few, tight, far-apart clouds (Lotka-Volterra
    snapshots) the first term is the larger one; on many overlapping cells in many dimensions (PBMC) the second.
    Without ``times`` only the first term is used. Falls back to 0.1 when both are zero.
    """
    pooled = torch.cat([x.double() for x in snapshots])
    value = 0.1 * float(pooled.std(dim=0, correction=0).mean())
    if times is not None and len(snapshots) >= 2:
        t = torch.as_tensor(times, dtype=torch.float64).cpu()
        trace = [float(x.double().var(dim=0, correction=0).sum()) for x in snapshots]
        ratios = [SIGMA_TEMPERATURE * (trace[k] + trace[k + 1]) / (2 * float(t[k + 1] - t[k]))
                  for k in range(len(snapshots) - 1)]
        floor = math.sqrt(max(float(np.median(ratios)), 0.0))
        value = max(value, floor) if math.isfinite(floor) else value
    return value if value > 0 and math.isfinite(value) else 0.1


INIT_AUTO_FAMILIES = ("linear", "lotka_volterra", "repressilator", "vortex", "hooke")


def _resolve_init(init: str, ref: ReferenceDrift, given: Any, reference_kwargs: Mapping[str, Any]) -> str:
    """``init="auto"``: shooting for a parametric family named without starting values, the paper's start else.

    A reference passed as a module, or a family with ``reference_kwargs`` (its starting θ), keeps the θ given.
    """
    if init != "auto":
        return init
    named = isinstance(given, str) and not reference_kwargs
    return "shooting" if named and ref.family in INIT_AUTO_FAMILIES else "paper"


def _reissue(caught: list[warnings.WarningMessage], est: SchrodingerBridge) -> None:
    """Re-issue the warnings of a fit, the Sinkhorn convergence and bridge fallback ones folded into one each."""
    ot = [w for w in caught if issubclass(w.category, OTConvergenceWarning)]
    fallback = [w for w in caught if issubclass(w.category, BridgeFallbackWarning)]
    for w in caught:
        if not issubclass(w.category, (OTConvergenceWarning, BridgeFallbackWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    sigma = getattr(est, "sigma_init_", None)
    now = f" (the fit started at sigma={sigma:.3g})" if sigma is not None else ""
    if ot:
        warnings.warn(OTConvergenceWarning(
            f"{len(ot)} of the fit's Sinkhorn couplings stopped short of their tolerance; the bridge paths use the "
            f"unconverged plans. Raise sigma{now}, or coupling_kwargs={{'max_iter': ...}}, or reg. First: "
            f"{ot[0].message}"), stacklevel=3)
    if fallback:
        warnings.warn(BridgeFallbackWarning(
            f"in {len(fallback)} interval solve(s) of the fit some guided bridge paths overflowed under the reference "
            f"and were replaced by Brownian bridges. Raise steps_per_unit, or start from a fitted reference "
            f"(init='shooting'). First: {fallback[0].message}"), stacklevel=3)


class SchrodingerBridge(Estimator):
    r"""Multi-marginal Schrödinger bridge with iterative reference refinement (array-level estimator).

    Parameters
    ----------
    reference
        Reference family: ``"brownian"``, ``"linear"``, ``"lotka_volterra"``, ``"repressilator"``, ``"vortex"``,
        ``"hooke"``, ``"mlp_potential"``, ``"mlp"``, a :class:`ReferenceDrift`, or any ``torch.nn.Module`` drift
        ``f(x) -> (n, d)``.
    sigma
        Reference noise level :math:`\sigma`, or ``"auto"`` (default): the larger of a tenth of the mean
        per-feature standard deviation of the pooled snapshots and the level at which the coupling's entropic
        temperature is 1/300 of the centred squared distances between consecutive snapshots (:func:`auto_sigma`),
        resolved in :meth:`fit` and recorded as ``sigma_init_``.
    n_iter
        Maximum number of refinement rounds (P-step + θ-step).
    p_step
        ``"coupling"`` (entropic OT with the reference's transition cost, then bridges; fast) or ``"ipf"`` (the
        paper's simulation-based iterative proportional fitting with learned drifts).
    steps_per_unit
        Euler steps per unit time of the bridge paths (at least ``min_steps`` per interval).
    min_steps
        Minimum number of steps per interval.
    reg
        Entropic regularisation of the coupling in units of the transition cost (1 is the Schrödinger temperature).
    fit_sigma
        Re-estimate :math:`\sigma` from the residuals at every θ-step (``True``); ``"auto"`` (default) and
        ``False`` keep it fixed. Snapshots carry no information on :math:`\sigma` beyond what the bridge put in:
        on paths drawn at :math:`\sigma_r` the Euler estimate is
        :math:`\hat\sigma^2 = \sigma_r^2 + \overline{|u - f_\theta|^2}\,h`, with :math:`u` the bridge's own
        (time-dependent) drift and :math:`h` the Euler step, so a refitted :math:`\sigma` grows every round
        (and ``loss_before`` with it) and the bridge's spread costs held-out W2 (Lotka-Volterra half a period
        apart: W2 0.31 refitting σ against 0.24 keeping it).
    tol
        Stop when the relative change of :math:`\theta` between rounds is below ``tol``.
    fit_method
        θ-step solver passed to :func:`~dynfer.estimators.bridges.drift_fit.fit_reference` (``"auto"``).
    reference_kwargs
        Initial values of the family's parameters (e.g. ``{"alpha": 0.5}``) or network options.
    ipf_kwargs
        Options of :func:`~dynfer.estimators.bridges.ipf.ipf_bridge` when ``p_step="ipf"``.
    seed
        Seed of every random draw of the fit: ``None`` means ``settings.seed`` (fresh entropy when that is ``None``),
        an ``int`` or a :class:`torch.Generator` is accepted; the resolved seed is recorded as ``seed_`` (round
        :math:`r` of the refinement draws with ``seed_ + r``).
    device
        Torch device (``None``: ``settings.device``); never stored.
    dtype
        Floating dtype of the computation (``None``: ``settings.dtype``); recorded as ``dtype_`` and stored.
    init
        Initial θ (:mod:`~dynfer.estimators.bridges.initialisation`): ``"auto"`` (default) is ``"shooting"`` for
        a parametric family named without ``reference_kwargs`` (``"linear"``, ``"lotka_volterra"``,
        ``"repressilator"``, ``"vortex"``, ``"hooke"``) and ``"paper"`` for the networks, for modules and for
        families given starting values (measured on Lotka-Volterra snapshots
        half an oscillation period apart: held-out W2 1.37 from the paper's start, 0.31 from shooting, against
        2.08 for OT-midpoint); ``"paper"`` keeps the family's defaults /
        ``reference_kwargs`` (the paper's protocol); ``"displacement"`` fits :math:`f_\theta` at the midpoints of
        OT-coupled displacements between consecutive snapshots; ``"shooting"`` fits the RK4 flow of
        :math:`f_\theta` over each interval to the next snapshot (OT-matched), which avoids the weak-drift or stiff
        fixed points that plain refinement from a weak drift reaches at long training gaps.
    n_restarts
        Extra perturbed starts of the shooting initialisation; the lowest shooting loss is kept.
    init_kwargs
        Options of :func:`~dynfer.estimators.bridges.initialisation.initialise_reference` (``max_cells``: particles
        per snapshot of the initial fit, default 1,000, a seeded subsample) and of
        :func:`~dynfer.estimators.bridges.initialisation.shooting_init`.
    sigma_anneal
        Anneal the reference noise across rounds: round :math:`r` of :math:`R` uses
        :math:`\sigma\, a^{1 - r/(R-1)}` (geometric from :math:`a\sigma` down to :math:`\sigma`); ``1`` (default)
        keeps :math:`\sigma` fixed. The final bridge always uses :math:`\sigma`.
    coupling_kwargs
        Options of the coupling P-step (:func:`~dynfer.estimators.bridges.stitching.stitch`): ``max_iter`` and ``tol``
        of Sinkhorn (default 10,000 and 1e-6), ``rtol`` (relative marginal tolerance, default 1e-4: the solve stops
        at the looser of ``tol`` and ``rtol``; on PBMC's first interval 4.7 s and within 1e-6 total variation of a
        tight solve), ``ot_method`` (``"sinkhorn_scaling"`` or ``"sinkhorn"``) and
        ``n_flow`` (RK4 steps of the guided bridges' flow).
    batch_size
        Cells per mini-batch of the couplings (:func:`~dynfer.estimators.bridges.stitching.stitch`): ``"auto"``
        (default) applies :func:`~dynfer.estimators.bridges.minibatch.default_batch_size` to the largest snapshot
        (dense plans up to 2,000 cells per time, batches of 1,000 beyond, so the P-step grows linearly in the
        cells); ``None`` always solves the dense plan; an int ``>= 2`` sets the batch.
    stored_paths
        Paths of the final bridge kept in ``paths_`` (what :meth:`sample`, :meth:`state_dict` and the AnnData store
        hold), per anchor snapshot: ``"auto"`` (default) keeps every particle's path up to ``STORED_PATHS`` (2,000)
        particles per snapshot and a seeded subset of that many beyond, so the stored bridge stays bounded
        (:math:`(K+1) \cdot 2000` paths) however many cells are fitted; ``None`` keeps all; an int sets the cap.
        The refinement rounds always use every particle.

    Notes
    -----
    Numerical failures inside a fit are repaired where they can be: a covariance that lost positive definiteness
    gets a diagonal jitter (:func:`~dynfer.estimators.bridges.coupling.robust_cholesky`); a P-step whose moment
    ODEs, covariances or guided paths overflow is retried with four times the moment and flow steps and twice the
    bridge steps; guided paths that still overflow (at most 5 % of an interval's) are replaced by Brownian bridges
    between the same end points. If the P-step still fails under a refitted θ, the previous round's θ and σ are
    restored, a :class:`RuntimeWarning` is issued and the refinement stops; in the first round it is a
    :class:`~dynfer.estimators.bridges.coupling.BridgeNumericalError` (a ``BadInputError``) naming
    ``steps_per_unit``, ``sigma`` and ``init``. Sinkhorn convergence problems and path fallbacks are reported as
    one warning each per fit.

    Attributes
    ----------
    reference_ : ReferenceDrift
        The refined reference drift.
    sigma_ : float
        The (possibly refitted) noise level.
    sigma_init_ : float
        The resolved initial noise level (``sigma``, or its ``"auto"`` value).
    seed_ : int
        The resolved seed.
    dtype_ : torch.dtype
        The resolved dtype.
    init_report_ : InitReport or None
        What the initialisation did (``None`` for ``init="paper"``).
    history_ : list of dict
        One entry per round: ``theta`` (dict of arrays), ``loss_before``/``loss_after`` (Euler residual loss of the
        round's bridge paths under the old and new θ; in units of the round's
        :math:`\sigma^2`, so compare rounds only at one σ), ``sigma``, ``theta_change``.
    paths_, grid_ : torch.Tensor
        Bridge paths ``(T, N, d)`` under the final reference and their time grid.
    times_ : numpy.ndarray
        Observation times of the snapshots.

    Examples
    --------
    >>> import torch
    >>> from dynfer.estimators.bridges import SchrodingerBridge
    >>> xs = [torch.randn(50, 2) + t for t in range(4)]
    >>> sb = SchrodingerBridge("linear", sigma=0.3, n_iter=2, seed=0).fit(xs, [0.0, 1.0, 2.0, 3.0])
    >>> tuple(sb.sample([0.5, 2.5], n=20, seed=0)[0].shape)
    (20, 2)
    """

    fitted_attributes = ("reference_", "sigma_", "sigma_init_", "history_", "paths_", "grid_", "times_", "seed_",
                         "dtype_")
    face = "dynfer.tl.schrodinger_bridge"

    def __init__(
        self,
        reference: str | nn.Module = "brownian",
        *,
        sigma: float | str = "auto",
        n_iter: int = 10,
        p_step: str = "coupling",
        steps_per_unit: float = 20.0,
        min_steps: int = 4,
        reg: float = 1.0,
        fit_sigma: bool | str = "auto",
        tol: float = 1e-3,
        fit_method: str = "auto",
        reference_kwargs: dict[str, Any] | None = None,
        ipf_kwargs: dict[str, Any] | None = None,
        seed: int | torch.Generator | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        init: str = "auto",
        n_restarts: int = 0,
        init_kwargs: dict[str, Any] | None = None,
        sigma_anneal: float = 1.0,
        coupling_kwargs: dict[str, Any] | None = None,
        batch_size: int | str | None = "auto",
        stored_paths: int | str | None = "auto",
    ) -> None:
        self.reference = reference
        self.sigma = sigma
        self.n_iter = n_iter
        self.p_step = p_step
        self.steps_per_unit = steps_per_unit
        self.min_steps = min_steps
        self.reg = reg
        self.fit_sigma = fit_sigma
        self.tol = tol
        self.fit_method = fit_method
        self.reference_kwargs = reference_kwargs
        self.ipf_kwargs = ipf_kwargs
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.init = init
        self.n_restarts = n_restarts
        self.init_kwargs = init_kwargs
        self.sigma_anneal = sigma_anneal
        self.coupling_kwargs = coupling_kwargs
        self.batch_size = batch_size
        self.stored_paths = stored_paths

    # ------------------------------------------------------------------ validation (at fit time)
    def _validated(self) -> dict[str, Any]:
        """The parameters checked and normalised (``sigma`` may still be ``"auto"``); raises ``ValueError``."""
        if self.init not in (*INIT_METHODS, "auto"):
            raise BadInputError(f"init must be one of {(*INIT_METHODS, 'auto')}, got {self.init!r}")
        if self.p_step not in P_STEPS:
            raise BadInputError(f"p_step must be one of {P_STEPS}, got {self.p_step!r}")
        sa = self.sigma_anneal
        if isinstance(sa, bool) or not (isinstance(sa, (int, float)) and math.isfinite(sa) and sa >= 1):
            raise BadInputError(f"sigma_anneal must be a finite number >= 1, got {sa!r}")
        if not (isinstance(self.reference, (str, nn.Module))):
            raise BadInputError(f"reference must be a family name or a torch.nn.Module, got {type(self.reference)}")
        sigma = self.sigma if isinstance(self.sigma, str) and self.sigma == "auto" else check_positive(
            self.sigma, "sigma")
        if isinstance(self.fit_sigma, str) and self.fit_sigma == "auto":
            fit_sigma = False  # see the class docstring: a σ refitted on bridge paths only ever grows
        elif isinstance(self.fit_sigma, (bool, np.bool_)):
            fit_sigma = bool(self.fit_sigma)
        else:
            raise BadInputError(f"fit_sigma must be True, False or 'auto', got {self.fit_sigma!r}")
        batch_size = self.batch_size if isinstance(self.batch_size, str) and self.batch_size == "auto" else None
        if batch_size is None:
            try:
                batch_size = check_batch_size(self.batch_size)
            except BadInputError:
                raise BadInputError("batch_size", repr(self.batch_size),
                                    "'auto', None (dense couplings) or an int >= 2 (cells per mini-batch)") from None
        stored = self.stored_paths
        if isinstance(stored, str) and stored == "auto":
            stored = STORED_PATHS
        elif stored is not None and (isinstance(stored, bool) or not isinstance(stored, int) or stored < 1):
            raise BadInputError("stored_paths", repr(self.stored_paths), "'auto', None (all) or an int >= 1")
        return {
            "batch_size": batch_size,
            "stored_paths": stored,
            "sigma": sigma,
            "fit_sigma": fit_sigma,
            "n_iter": check_int(self.n_iter, "n_iter", 1),
            "min_steps": check_int(self.min_steps, "min_steps", 1),
            "n_restarts": check_int(self.n_restarts, "n_restarts", 0),
            "steps_per_unit": check_positive(self.steps_per_unit, "steps_per_unit"),
            "reg": check_positive(self.reg, "reg"),
            "tol": check_positive(self.tol, "tol", allow_zero=True),
            "sigma_anneal": float(sa),
            "reference_kwargs": _check_options(self.reference_kwargs, "reference_kwargs"),
            "ipf_kwargs": _check_options(self.ipf_kwargs, "ipf_kwargs"),
            "init_kwargs": _check_options(self.init_kwargs, "init_kwargs"),
            "coupling_kwargs": _check_options(self.coupling_kwargs, "coupling_kwargs",
                                              ("max_iter", "tol", "rtol", "ot_method", "n_flow")),
        }

    # ------------------------------------------------------------------ helpers
    def _make_reference(self, dim: int, device: torch.device, dtype: torch.dtype, seed: int) -> ReferenceDrift:
        if isinstance(self.reference, ReferenceDrift):
            ref = copy.deepcopy(self.reference)
        elif isinstance(self.reference, nn.Module):
            ref = as_reference(copy.deepcopy(self.reference), dim)
        else:
            # a network family draws its initial weights: from the estimator's seed, not the global RNG
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                options = _check_options(self.reference_kwargs, "reference_kwargs")
                try:
                    ref = make_reference(self.reference, dim, **options)
                except BadInputError as err:
                    if not options or "unknown reference family" in str(err):
                        raise
                    raise BadInputError(f"reference_kwargs={options!r} do not fit the {self.reference!r} family: "
                                        f"{err}") from None
        return ref.to(device=device, dtype=dtype)

    def _n_steps(self, times: torch.Tensor, opts: dict[str, Any]) -> list[int]:
        gaps = torch.diff(times).tolist()
        return [max(opts["min_steps"], math.ceil(g * opts["steps_per_unit"] - 1e-9)) for g in gaps]

    def _drift(self, ref: ReferenceDrift) -> ReferenceDrift | None:
        return None if ref.family == "brownian" else ref

    def _p_step(self, ref: ReferenceDrift, xs: list[torch.Tensor], times: torch.Tensor, sigma: float, seed: int,
                opts: dict[str, Any], n_paths: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        n_steps = self._n_steps(times, opts)
        if self.p_step == "coupling":
            # RK4 steps of the moment ODEs: as fine as the bridge grid, so stiff refitted drifts stay stable; if the
            # moments, a covariance or the guided paths still fail, once more with finer steps everywhere
            kwargs = {"rtol": COUPLING_RTOL, **opts["coupling_kwargs"]}
            batch = opts["batch_size"]
            kwargs["batch_size"] = default_batch_size(max(x.shape[0] for x in xs)) if batch == "auto" else batch
            n_flow = int(kwargs.pop("n_flow", 4))
            n_rk4 = max(4, max(n_steps))
            failure: Exception | None = None
            for finer in (1, 4):
                try:
                    out = stitch(xs, times, self._drift(ref), sigma, n_steps=[s * max(1, finer // 2) for s in n_steps],
                                 reg=opts["reg"], seed=seed, n_rk4=finer * n_rk4, n_flow=finer * n_flow,
                                 n_paths=n_paths, **kwargs)
                    return out.paths, out.grid
                except FloatingPointError as err:  # BridgeNumericalError, OTNumericalError, overflow
                    failure = err
            raise BridgeNumericalError(
                "the P-step", f"failed under the current reference even with 4x finer moment, flow and 2x finer "
                f"bridge steps ({failure})", hint="raise steps_per_unit, lower sigma, or start from a fitted "
                "reference with init='shooting'")
        # IPF: one learned bridge per interval, chained forward from the first snapshot's particles
        from dynfer.estimators.bridges.ipf import ipf_bridge

        gen = make_generator(seed, xs[0].device)
        x = xs[0]
        pieces, grids = [x[None]], [times[:1]]
        for k in range(len(xs) - 1):
            res = ipf_bridge(x if k == 0 else xs[k], xs[k + 1], float(times[k]), float(times[k + 1]),
                             self._drift(ref), sigma, n_steps=n_steps[k],
                             seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)), **opts["ipf_kwargs"])
            seg = res.sample_forward(x, n_steps=n_steps[k], seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            pieces.append(seg[1:].to(x.dtype))
            grids.append(torch.linspace(float(times[k]), float(times[k + 1]), n_steps[k] + 1,
                                        dtype=torch.float64, device=x.device)[1:])
            x = seg[-1].to(x.dtype)
        return torch.cat(pieces), torch.cat(grids)

    # ------------------------------------------------------------------ fit
    def fit(self, snapshots: Sequence[Any], times: Sequence[float], *, refine: bool = True) -> SchrodingerBridge:
        r"""Fit the bridge and refine the reference on snapshots ``(n_k, d)`` observed at ``times``.

        With ``refine=False`` the reference is kept as given (no θ-step): only the bridge under it is computed.
        Sinkhorn convergence problems of all the fit's couplings are reported as one
        :class:`~dynfer.processes.transport.OTConvergenceWarning` at the end, with what to change.

        Returns
        -------
        SchrodingerBridge
            ``self``, with the attributes listed in the class docstring set.
        """
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", OTConvergenceWarning)
                warnings.simplefilter("always", BridgeFallbackWarning)
                self._fit(snapshots, times, refine)
        finally:
            _reissue(caught, self)
        return self

    def _fit(self, snapshots: Sequence[Any], times: Sequence[float], refine: bool) -> None:
        opts = self._validated()
        dev = self._resolve_device()
        dtype = self._resolve_dtype()
        seed = self._resolve_seed()
        xs, t = _check_snapshots(snapshots, times)
        xs = [x.to(device=dev, dtype=dtype) for x in xs]
        t = t.to(dev)
        ref = self._make_reference(xs[0].shape[1], dev, dtype, seed)
        sigma = auto_sigma(xs, t) if opts["sigma"] == "auto" else opts["sigma"]
        self.sigma_init_ = float(sigma)
        fit_sigma = opts["fit_sigma"]
        history: list[dict[str, Any]] = []
        n_rounds = 0 if not refine else 1 if ref.family == "brownian" else opts["n_iter"]
        self.init_report_ = None
        init = _resolve_init(self.init, ref, self.reference, opts["reference_kwargs"])
        if refine and init != "paper" and any(p.requires_grad for p in ref.parameters()):
            self.init_report_ = initialise_reference(ref, xs, t, method=init, n_restarts=opts["n_restarts"],
                                                     seed=seed, **opts["init_kwargs"])
        previous: tuple[dict[str, Any], float] | None = None
        final = None
        last_good = None
        anneal = opts["sigma_anneal"]
        for r in progress(range(n_rounds), desc="SB refinement"):
            a = anneal ** (1 - r / (n_rounds - 1)) if n_rounds > 1 else 1.0
            round_sigma = sigma * a
            try:
                paths, grid = self._p_step(ref, xs, t, round_sigma, seed + r, opts)
            except FloatingPointError as err:
                if previous is None:
                    raise
                ref.load_state_dict(previous[0])
                sigma = previous[1]
                warnings.warn(f"the P-step of round {r} failed under the refitted θ ({err}); keeping the θ of round "
                              f"{r - 1} and stopping the refinement", RuntimeWarning, stacklevel=3)
                history.append({"round": r, "theta": ref.theta(), "loss_before": math.nan, "loss_after": math.nan,
                                "sigma": round_sigma, "theta_change": 0.0, "p_step_failed": True})
                if last_good is not None and last_good[2] == sigma:
                    final = last_good[:2]
                break
            previous = (copy.deepcopy(ref.state_dict()), sigma)
            last_good = (paths, grid, round_sigma)
            before = _flat_params(ref)
            with torch.no_grad():
                loss_before = float(euler_residual_loss(ref, paths, grid))
            if ref.family == "brownian" or not any(p.requires_grad for p in ref.parameters()):
                history.append({"round": r, "theta": ref.theta(), "loss_before": loss_before,
                                "loss_after": loss_before, "sigma": sigma, "theta_change": 0.0})
                if round_sigma == sigma:  # nothing to refit: this round's bridge is the final one
                    final = (paths, grid)
                break
            report = fit_reference(ref, paths, grid, sigma=round_sigma, method=self.fit_method,
                                   fit_sigma=fit_sigma, seed=seed + r)
            if fit_sigma:
                sigma = float(report.sigma) / a
            after = _flat_params(ref)
            change = float((after - before).norm() / before.norm().clamp_min(1e-12))
            history.append({"round": r, "theta": ref.theta(), "loss_before": float(report.loss_before),
                            "loss_after": float(report.loss_after), "sigma": round_sigma, "theta_change": change})
            if not math.isfinite(report.loss_after):
                raise FloatingPointError(f"the θ-step diverged in round {r} (non-finite loss); try a smaller sigma "
                                         "step size, another initial θ, or float64 (settings.dtype)")
            if change < opts["tol"] and a == 1.0:
                break
        self.reference_ = ref
        self.sigma_ = float(sigma)
        self.history_ = history
        self.times_ = t.cpu().numpy()
        cap = opts["stored_paths"]
        n_paths = cap if cap is not None and max(x.shape[0] for x in xs) > cap else None
        if final is not None and n_paths is not None:  # a round's bridge, drawn from every particle: subsample it
            keep = min(final[0].shape[1], n_paths * len(xs))
            gen = make_generator(seed + 10_007, final[0].device)
            final = (final[0][:, torch.randperm(final[0].shape[1], generator=gen, device=final[0].device)[:keep]],
                     final[1])
        if final is None:
            try:
                final = self._p_step(ref, xs, t, sigma, seed + 10_007, opts, n_paths)
            except FloatingPointError:
                if previous is None:
                    raise
                # the last θ-step's drift cannot be bridged: keep the θ and σ whose bridge was drawn last
                ref.load_state_dict(previous[0])
                self.sigma_ = float(previous[1])
                history[-1]["p_step_failed"] = True
                warnings.warn("the final P-step failed under the last refitted θ; keeping the θ of the last round "
                              "that could be bridged", RuntimeWarning, stacklevel=3)
                final = self._p_step(ref, xs, t, self.sigma_, seed + 10_007, opts, n_paths)
        self.paths_, self.grid_ = final

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        names = sorted(self.history_[0]["theta"]) if self.history_ else []
        hist = self.history_

        def column(key: str, dtype: Any = np.float64) -> np.ndarray:
            return np.array([h.get(key, False if dtype is bool else math.nan) for h in hist], dtype=dtype)

        state: dict[str, Any] = {
            "dim": int(self.paths_.shape[-1]),
            "reference": dict(self.reference_.state_dict()),
            "sigma": self.sigma_,
            "sigma_init": self.sigma_init_,
            "seed": self.seed_,
            "dtype": str(self.dtype_).removeprefix("torch."),
            "times": self.times_,
            "paths": self.paths_,
            "grid": self.grid_,
            "history": {
                "theta": {n: np.stack([np.asarray(h["theta"][n], dtype=np.float64) for h in hist]) for n in names},
                "loss_before": column("loss_before"),
                "loss_after": column("loss_after"),
                "sigma": column("sigma"),
                "theta_change": column("theta_change"),
                "p_step_failed": column("p_step_failed", bool),
            },
        }
        if self.init_report_ is not None:
            state["init_report"] = {"method": self.init_report_.method, "loss": float(self.init_report_.loss),
                                    "theta": {k: np.asarray(v, dtype=np.float64)
                                              for k, v in self.init_report_.theta.items()}}
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        from dynfer.estimators.bridges.initialisation import InitReport

        dev = self._resolve_device()
        self.dtype_ = getattr(torch, str(state["dtype"]))
        self.seed_ = int(state["seed"])
        ref = self._make_reference(int(state["dim"]), dev, self.dtype_, self.seed_)
        try:
            ref.load_state_dict({k: torch.as_tensor(v) for k, v in state["reference"].items()})
        except RuntimeError as err:
            raise BadInputError(f"the saved reference state does not fit the {ref.family!r} reference rebuilt from the "
                                f"parameters: {err}") from None
        self.reference_ = ref
        self.sigma_ = float(state["sigma"])
        self.sigma_init_ = float(state["sigma_init"])
        self.times_ = np.asarray(state["times"], dtype=np.float64)
        self.paths_ = torch.as_tensor(state["paths"]).to(device=dev, dtype=self.dtype_)
        self.grid_ = torch.as_tensor(state["grid"]).to(device=dev, dtype=torch.float64)
        h = state["history"]
        n_rounds = len(h["loss_before"])
        theta = {k: np.asarray(v) for k, v in h["theta"].items()}
        self.history_ = []
        for r in range(n_rounds):
            entry = {"round": r, "theta": {k: v[r] for k, v in theta.items()},
                     "loss_before": float(h["loss_before"][r]), "loss_after": float(h["loss_after"][r]),
                     "sigma": float(h["sigma"][r]), "theta_change": float(h["theta_change"][r])}
            if bool(h["p_step_failed"][r]):
                entry["p_step_failed"] = True
            self.history_.append(entry)
        init = state.get("init_report")
        self.init_report_ = None if init is None else InitReport(
            str(init["method"]), float(init["loss"]), {k: np.asarray(v) for k, v in init["theta"].items()})

    def results(self) -> dict[str, Any]:
        """A readable summary of the fit: θ per round (stacked), losses, σ, the fitted times and the family.

        Returns
        -------
        dict
            Plain data (numpy arrays, numbers, strings), as the AnnData face stores it in ``uns[key]["results"]``.
        """
        self._check_fitted("results")
        hist = self._get_state()["history"]
        return {"family": self.reference_.family, "times": np.asarray(self.times_), "n_rounds": len(self.history_),
                "theta": hist["theta"], "loss_before": hist["loss_before"], "loss_after": hist["loss_after"],
                "sigma": float(self.sigma_), "sigma_init": float(self.sigma_init_), "seed": int(self.seed_)}

    # ------------------------------------------------------------------ use
    def trajectories(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bridge paths under the final reference: the grid ``(T,)`` and ``n`` paths ``(T, n, d)`` (all if None)."""
        self._check_fitted("trajectories")
        paths = self.paths_ if n is None else self.paths_[:, : int(n)]
        return self.grid_.cpu().numpy(), paths.detach().cpu().numpy()

    def _knots(self) -> np.ndarray:
        """Grid indices of the observation times."""
        grid = self.grid_.cpu().numpy()
        return np.array([int(np.argmin(np.abs(grid - tt))) for tt in self.times_])

    def mean_paths(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        r"""The bridge's conditional mean given each path's knots: the grid ``(T,)`` and ``(T, n, d)`` mean paths.

        For the path :math:`p` with values :math:`x^p_k` at the observation times, the mean of the reference
        bridge :math:`E[X_t \mid X_{t_k} = x^p_k, X_{t_{k+1}} = x^p_{k+1}]` on every interval: the straight line
        under the Brownian reference, the noise-free guided path under a drift
        (:func:`~dynfer.estimators.bridges.coupling.bridge_paths` with ``noise=False``; exact for affine drifts,
        an approximation otherwise). The law of these points at a time :math:`t` between knots is the coupled
        pairs' interpolation without the bridge's own spread (per coordinate
        :math:`\sigma^2 (t - t_k)(t_{k+1} - t)/\Delta_k`, :math:`\sigma^2\Delta_k/4` at the midpoint): it is
        **not** the bridge's marginal, and is reported as a separate output of the method.
        """
        self._check_fitted("mean_paths")
        take = self.paths_.shape[1] if n is None else check_int(n, "n", 1)
        return self.grid_.cpu().numpy(), self._mean_path_tensor(take).cpu().numpy()

    def _mean_path_tensor(self, take: int) -> torch.Tensor:
        """The first ``take`` mean paths of :meth:`mean_paths`, ``(T, take, d)``, on the paths' device."""
        from dynfer.estimators.bridges.coupling import bridge_paths

        paths = self.paths_[:, :take].detach()
        knots = self._knots()
        out = paths.clone()
        drift = self._drift(self.reference_)
        for k in range(len(knots) - 1):
            lo, hi = int(knots[k]), int(knots[k + 1])
            out[lo:hi + 1] = bridge_paths(paths[lo], paths[hi], float(self.times_[k]), float(self.times_[k + 1]),
                                          hi - lo, drift, self.sigma_, noise=False)
        return out

    def sample(
        self, times: Sequence[float] | float, n: int | None = None, *, seed: int | torch.Generator | None = None,
        noise: bool = True,
    ) -> list[np.ndarray]:
        r"""Particles of the bridge at any ``times`` in the observed span, one ``(n, d)`` array per time.

        Row :math:`i` of every array belongs to the same bridge path :math:`i`, drawn **jointly** over the
        requested times. Between two grid points :math:`g_a < g_b` of the stored path the reference bridge is
        filled in as a Brownian bridge, sampled sequentially in time: the first requested time :math:`t` in the
        gap is drawn given :math:`(g_a, x_a)` and the next one :math:`t' > t` given :math:`(t, x_t)`,

        .. math::  X_{t'} \mid X_t, x_b \sim \mathcal N\Big(X_t + \frac{t' - t}{g_b - t}(x_b - X_t),\
                   \sigma^2 \frac{(t' - t)(g_b - t')}{g_b - t}\Big),

        so each time's marginal is the Brownian bridge :math:`\mathcal N\big(x_a + w(x_b - x_a),\ \sigma^2
        (t - g_a)(1 - w)\big)`, :math:`w = (t - g_a)/(g_b - g_a)`, and two times of one gap have the bridge's
        covariance :math:`\sigma^2 (t - g_a)(g_b - t')/(g_b - g_a)` (exact for the Brownian reference, a fine-grid
        approximation otherwise; different gaps are independent given the stored path). The cost is
        :math:`O(n\,d)` per time: no refit.

        Parameters
        ----------
        times
            Times (or one time) in ``[times_[0], times_[-1]]``, in any order (repeats give equal rows).
        n
            Particles per time (default: every bridge path).
        seed
            Seed of the draws (``None``: ``settings.seed``, fresh entropy when that is ``None``).
        noise
            ``False``: the bridge's conditional mean given each path's knots instead of a draw (:meth:`mean_paths`,
            interpolated linearly between grid points; no random draw). Not the bridge's marginal: a separate,
            labelled output.
        """
        self._check_fitted("sample")
        try:
            tq = np.asarray(times, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInputError(f"times must be a number or a sequence of numbers, got {times!r}") from None
        if tq.ndim > 1:
            raise BadInputError(f"times must be a number or a 1-D sequence of numbers, got shape {tq.shape}")
        tq = tq.reshape(-1)
        if tq.size == 0:
            raise BadInputError("times is empty; give at least one time in the fitted span")
        if not isinstance(noise, (bool, np.bool_)):
            raise BadInputError(f"noise must be True or False, got {noise!r}")
        grid = self.grid_.cpu().numpy()
        if not np.isfinite(tq).all() or tq.min() < grid[0] - 1e-12 or tq.max() > grid[-1] + 1e-12:
            raise BadInputError(f"times must lie in the fitted span [{grid[0]}, {grid[-1]}], got {tq.tolist()}")
        tq = np.clip(tq, grid[0], grid[-1])
        n_all = self.paths_.shape[1]
        take = n_all if n is None else check_int(n, "n", 1)
        if take > n_all:
            raise BadInputError(f"n must be between 1 and the number of bridge paths ({n_all}), got {n}")
        if not noise:
            paths = self._mean_path_tensor(take)
        else:
            paths = self.paths_.detach()[:, :take]
        gen = make_generator(seed if isinstance(seed, torch.Generator) else resolve_seed(seed), paths.device)
        out: list[np.ndarray | None] = [None] * tq.size
        prev_t, prev_x, prev_gap = -math.inf, None, -1
        for q in np.argsort(tq, kind="stable"):
            tt = float(tq[q])
            b = int(np.clip(np.searchsorted(grid, tt, side="left"), 1, len(grid) - 1))
            gb = float(grid[b])
            if b == prev_gap and prev_x is not None and tt >= prev_t:
                ga, xa = prev_t, prev_x  # condition on the previous draw of this path in the same gap
            else:
                ga, xa = float(grid[b - 1]), paths[b - 1]
            xb = paths[b]
            if tt >= gb:  # on a grid point: the path's own value, exactly
                x = xb
            elif tt <= ga:
                x = xa
            else:
                x = xa + ((tt - ga) / (gb - ga)) * (xb - xa)
            if noise and ga < tt < gb:
                std = self.sigma_ * math.sqrt((tt - ga) * (gb - tt) / (gb - ga))
                x = x + std * torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
            out[q] = x.detach().cpu().clone().numpy()  # a copy: never a view of the stored paths
            prev_t, prev_x, prev_gap = tt, x, b
        return out  # type: ignore[return-value]
