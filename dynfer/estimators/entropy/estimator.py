r"""``ScoreEntropyProduction``: entropy-production rates and probability currents from a learned score.

For samples of the stationary law :math:`\rho` of :math:`dX = b(X)\,dt + \sqrt{2D}\,dW` with a known drift and
diffusion, a score network :math:`\hat s \approx \nabla\log\rho` is fitted by score matching and gives

.. math:: v = b - D\hat s, \qquad j = v\rho, \qquad
          \hat\sigma = E_\rho\big[(b^{irr} - D\hat s)^\top D^{-1}(b^{irr} - D\hat s)\big],

the probability-flow velocity, the probability current and the entropy production rate (:math:`k_B = 1`, nats
per unit time), with its local decomposition per sample, per particle and per coordinate. For degenerate noise
(:math:`\varepsilon = 0` in the MIPS model) every quantity is that of the noisy block. Beside it: the variational
lower bound, the score-free identity (the oracle of the total), the Gaussian plug-in and the equilibrium score,
all on the same samples (:mod:`.quantities`). Boffi & Vanden-Eijnden (2024).

References
----------
Boffi, N. M. & Vanden-Eijnden, E. (2024). Deep learning probability flows and entropy production rates in active
matter. *PNAS* 121, e2318106121. arXiv:2309.12991.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._validation import check_int, check_positive, make_generator
from dynfer.estimators._base import Estimator
from dynfer.estimators.entropy.cross_fit import MeanScore, cross_terms
from dynfer.estimators.entropy.diffusion import DiffusionSpec, resolve_diffusion
from dynfer.estimators.entropy.drift_parts import DriftParts, resolve_parity
from dynfer.estimators.entropy.objectives import dsm_loss, implicit_loss, implicit_terms
from dynfer.estimators.entropy.quantities import SampleTerms, batch_mean, sample_terms
from dynfer.estimators.entropy.score_models import (
    GaussianScore,
    MLPScore,
    ParticleScore,
    as_numpy_state,
    equilibrium_score,
    load_numpy_state,
)
from dynfer.processes.drifts import Drift, as_drift

__all__ = ["ScoreEntropyProduction"]

MODELS = ("auto", "mlp", "transformer", "gaussian", "equilibrium")
OBJECTIVES = ("auto", "dsm", "exact", "sliced")
MIN_SAMPLES = 20
CONVENTION = ("k_B = 1, nats per unit time; every variable even under time reversal unless parity= says otherwise; "
              "degenerate noise: the rate of the noisy block")


class ScoreEntropyProduction(Estimator):
    r"""Entropy production rate, probability-flow velocity and current from a score network.

    Parameters
    ----------
    drift
        The drift :math:`b`: a :class:`~dynfer.processes.drifts.Drift` (stored exactly, e.g.
        :class:`~dynfer.processes.drifts.LinearDrift` or :class:`~dynfer.processes.particles.ActiveParticles`), a
        square matrix ``A`` (:math:`b = -Ax`), a time-homogeneous dynfer SDE, or a callable ``b(x)`` (works, but
        cannot be stored: pass it again when loading).
    diffusion
        :math:`D` in :math:`\sqrt{2D}\,dW`: a number, per-coordinate diffusivities or a matrix (positive
        semi-definite, block-degenerate at most; see :mod:`.diffusion`). ``None``: the drift's own
        ``diffusion()`` (particle models).
    parity
        ``None`` (every variable even, the convention of the reference code) or ``+1/-1`` per coordinate (per
        particle coordinate for particle states); see :mod:`.drift_parts`.
    model
        ``"auto"`` (``"transformer"`` for particle drifts, else ``"mlp"``), ``"mlp"``, ``"transformer"``,
        ``"gaussian"`` (the closed-form score of a fitted Gaussian; exact for OU) or ``"equilibrium"``
        (:math:`\hat s = D^{-1}b`, rate 0: the trivial baseline).
    objective
        ``"auto"`` (``"exact"`` Hyvärinen score matching for MLPs with at most ``exact_max`` noisy coordinates,
        else ``"dsm"``), ``"dsm"`` (denoising, antithetic, noise annealed from ``noise[0]`` to ``noise[1]``
        times each coordinate's std), ``"exact"`` or ``"sliced"`` (Hutchinson) implicit score matching.
    noise
        ``(start, end)`` noise levels of denoising score matching, in units of each noisy coordinate's std.
    shift
        Shift parametrisation :math:`\hat s = D^{-1}b^{irr} + \mathrm{NN}` (Boffi & Vanden-Eijnden).
    init
        Where training starts: ``"equilibrium"`` (:math:`\mathrm{NN} = 0`, so :math:`v = 0`: the paper's start),
        ``"gaussian"`` (the affine part of the MLP set to the Gaussian plug-in score, exact for OU, so the network
        learns only what is not Gaussian) or ``"auto"`` (``"gaussian"`` for MLPs, ``"equilibrium"`` for the
        particle transformer). With the Gaussian start the trained network is kept only if its held-out
        score-matching loss :math:`J` is lower than the start's by more than 2 paired standard errors
        (``history_["kept_start"]`` says which was kept): small, near-Gaussian systems otherwise trade a
        well-estimated Gaussian for network variance.
    cross_fit
        Fit two scores on disjoint halves of the training samples and estimate the rate by the cross product
        :math:`E[(b^{irr}_g - D_g\hat s^{(1)}_g)^\top D_g^{-1}(b^{irr}_g - D_g\hat s^{(2)}_g)]` (:mod:`.cross_fit`):
        the squared score error that biases the plug-in upwards cancels, at twice the training cost. Use it when
        the rate is a small part of :math:`E|b|^2_{D^{-1}}` (stiff chains, many coordinates per sample). The
        velocity, the lower bound and the diagnostics use the mean of the two scores; the plain plug-in of that
        mean is ``diagnostics_["rate_plugin"]``. States ``(n, d)`` with an ``"mlp"`` or ``"gaussian"`` model.
    hidden
        Hidden widths of the MLP.
    k_neighbors, embed_dim, n_heads, n_blocks
        The local transformer: neighbours per particle, token width, heads and blocks.
    n_steps, batch_size, lr
        Optimisation steps (AdamW, warm-up and cosine decay, gradient clip 1), samples per step and learning
        rate.
    val_fraction
        Samples held out for early stopping and for the lower bound.
    patience
        Validations without improvement before stopping (``None``: never).
    n_probes
        Hutchinson probes per divergence (``"sliced"`` training and every divergence of a particle model).
    exact_max
        Largest number of noisy coordinates for exact divergences of an MLP score.
    chunk_size
        Samples per evaluation chunk.
    seed, dtype, device
        The contract's seed (``None``: ``settings.seed``), dtype and device.

    Attributes
    ----------
    rate_, rate_stderr_
        Plug-in rate :math:`E[\hat e(X)]` and its batch-means standard error.
    rate_lower_bound_, rate_lower_bound_stderr_
        Variational lower bound on the held-out samples (all samples without training).
    baselines_
        ``{name: {"rate", "stderr"}}``: ``score_free`` (the identity of :mod:`.quantities`), ``gaussian`` and
        ``equilibrium``, on the same samples.
    diagnostics_
        Stationarity residuals (``fpe_residual``, ``mean_div_v``, ``mean_v_dot_s``; ``nan`` with degenerate noise,
        where only the noisy block is learned), the gap ``rate - rate_lower_bound``, sample counts.
    per_coordinate_
        ``(m,)`` rate of each noisy coordinate (:math:`E[v_a (D_g^{-1}v)_a]`, summed over particles).
    per_particle_
        ``(N,)`` mean local production of each particle (empty for states ``(n, d)``).
    history_, fit_seconds_
        Training and validation losses, and the wall time of the fit.
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "rate_", "rate_stderr_", "rate_lower_bound_", "rate_lower_bound_stderr_", "baselines_", "diagnostics_",
        "per_coordinate_", "per_particle_", "history_", "fit_seconds_", "model_kind_", "objective_", "seed_", "dtype_",
    )
    face: ClassVar[str] = "dynfer.tl.entropy_production"

    def __init__(
        self,
        drift: Any,
        diffusion: Any = None,
        *,
        parity: Any = None,
        model: str = "auto",
        objective: str = "auto",
        noise: tuple[float, float] = (0.3, 0.02),
        shift: bool = True,
        init: str = "auto",
        cross_fit: bool = False,
        hidden: tuple[int, ...] = (128, 128),
        k_neighbors: int = 16,
        embed_dim: int = 64,
        n_heads: int = 4,
        n_blocks: int = 2,
        n_steps: int = 2000,
        batch_size: int = 256,
        lr: float = 2e-3,
        val_fraction: float = 0.2,
        patience: int | None = 6,
        n_probes: int = 4,
        exact_max: int = 32,
        chunk_size: int = 512,
        seed: int | torch.Generator | None = None,
        dtype: torch.dtype | str | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.drift = drift
        self.diffusion = diffusion
        self.parity = parity
        self.model = model
        self.objective = objective
        self.noise = noise
        self.shift = shift
        self.init = init
        self.cross_fit = cross_fit
        self.hidden = hidden
        self.k_neighbors = k_neighbors
        self.embed_dim = embed_dim
        self.n_heads = n_heads
        self.n_blocks = n_blocks
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.lr = lr
        self.val_fraction = val_fraction
        self.patience = patience
        self.n_probes = n_probes
        self.exact_max = exact_max
        self.chunk_size = chunk_size
        self.seed = seed
        self.dtype = dtype
        self.device = device

    # ------------------------------------------------------------------ set-up shared by fit and from_state
    def _setup(self) -> None:
        """Resolve the drift, the diffusion, the parity and the model kind (no data needed)."""
        name = type(self).__name__
        self._drift: Drift = as_drift(self.drift)
        self._particles = self._drift.event_dims == 2
        if self.model not in MODELS:
            raise BadInputError(f"{name}: model", repr(self.model), f"one of {list(MODELS)}")
        if self.objective not in OBJECTIVES:
            raise BadInputError(f"{name}: objective", repr(self.objective), f"one of {list(OBJECTIVES)}")
        kind = self.model
        if kind == "auto":
            kind = "transformer" if self._particles else "mlp"
        if kind == "transformer" and not self._particles:
            raise BadInputError(f"{name}: model", "'transformer' for a drift on states (n, d)",
                                "'mlp' (the transformer is for particle drifts on states (n, N, c))")
        if kind == "mlp" and self._particles:
            raise BadInputError(f"{name}: model", "'mlp' for a particle drift", "'transformer' or 'auto'")
        self.model_kind_ = kind
        if self.init not in ("auto", "gaussian", "equilibrium"):
            raise BadInputError(f"{name}: init", repr(self.init), "'auto', 'gaussian' or 'equilibrium'")
        if self.init == "gaussian" and kind == "transformer":
            raise BadInputError(f"{name}: init", "'gaussian' for the particle transformer",
                                "'auto' or 'equilibrium' (the Gaussian start is for MLP scores)")
        if not isinstance(self.shift, (bool, np.bool_)):
            raise BadInputError(f"{name}: shift", repr(self.shift), "True or False")
        if not isinstance(self.cross_fit, (bool, np.bool_)):
            raise BadInputError(f"{name}: cross_fit", repr(self.cross_fit), "True or False")
        if self.cross_fit and kind not in ("mlp", "gaussian"):
            raise BadInputError(f"{name}: cross_fit", f"True with model {kind!r}",
                                "cross_fit=False, or model 'mlp' or 'gaussian' on states (n, d) (the fitted scores "
                                "it multiplies)")
        for attr in ("k_neighbors", "embed_dim", "n_heads", "n_blocks", "n_steps", "batch_size", "n_probes",
                     "exact_max", "chunk_size"):
            check_int(getattr(self, attr), f"{name}: {attr}", 1)
        check_positive(self.lr, f"{name}: lr")
        try:
            frac = float(self.val_fraction)
        except (TypeError, ValueError):
            raise BadInputError(f"{name}: val_fraction", repr(self.val_fraction), "a number in (0, 0.5]") from None
        if not 0.0 < frac <= 0.5:
            raise BadInputError(f"{name}: val_fraction", repr(self.val_fraction), "a number in (0, 0.5]")
        if self.patience is not None:
            check_int(self.patience, f"{name}: patience", 1)
        try:
            lo_hi = tuple(float(v) for v in self.noise)
        except (TypeError, ValueError):
            raise BadInputError(f"{name}: noise", repr(self.noise), "(start, end) noise levels > 0") from None
        if len(lo_hi) != 2 or not all(math.isfinite(v) and v > 0 for v in lo_hi) or lo_hi[1] > lo_hi[0]:
            raise BadInputError(f"{name}: noise", repr(self.noise), "(start, end) with start >= end > 0")
        self._noise = lo_hi
        try:
            widths = tuple(self.hidden)
        except TypeError:
            raise BadInputError(f"{name}: hidden", repr(self.hidden), "a tuple of positive layer widths") from None
        if any(isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, np.integer)) or h < 1 for h in widths):
            raise BadInputError(f"{name}: hidden", repr(self.hidden), "a tuple of positive layer widths")

    def _resolve_spec(self, size: int) -> DiffusionSpec:
        value = self.diffusion
        if value is None:
            own = getattr(self._drift, "diffusion", None)
            if not callable(own):
                raise BadInputError("diffusion", "None for a drift without its own diffusion()",
                                    "D: a number, per-coordinate diffusivities or a matrix")
            value = own()
        spec = resolve_diffusion(value, size)
        self._parts = DriftParts(self._drift, resolve_parity(self.parity, size))
        return spec

    def _check_samples(self, x: Any, *, minimum: int = MIN_SAMPLES) -> torch.Tensor:
        name = "x"
        device, dtype = self._resolve_device(), self.dtype_
        if isinstance(x, torch.Tensor):
            t = x.detach().to(device=device, dtype=dtype)
        else:
            try:
                arr = np.asarray(x, dtype=np.float64)
            except (TypeError, ValueError):
                raise BadInputError(name, f"a {type(x).__name__}", "numeric samples") from None
            t = torch.as_tensor(arr, dtype=dtype, device=device)
        want = 3 if self._particles else 2
        shape = "(n_samples, n_particles, coordinates)" if self._particles else "(n_samples, dim)"
        if t.ndim != want:
            raise BadInputError(name, f"an array of shape {tuple(t.shape)}", f"samples of shape {shape} for this "
                                "drift")
        if not bool(torch.isfinite(t).all()):
            raise BadInputError(name, f"{int((~torch.isfinite(t)).sum())} NaN or infinite value(s)", "finite samples")
        n = t.shape[0]
        units = n * (t.shape[1] if self._particles else 1)
        if units < minimum or n < min(2, minimum):
            raise BadInputError(name, f"{n} sample(s)", f"at least {minimum} samples (particle-frames) to "
                                "learn a score and give a standard error")
        return t

    def _output_scale(self, x: torch.Tensor, std: torch.Tensor, spec: DiffusionSpec) -> torch.Tensor:
        r"""Per noisy coordinate, the inverse of the score's typical size: :math:`1/\max(1/w_a, \mathrm{sd}(s^{eq}_a))`.

        The network then outputs O(1) numbers whether it corrects a large equilibrium score (fast active particles)
        or a small one.
        """
        index, _, inv = spec.tensors(self.dtype_, x.device)
        size = 1.0 / std.index_select(-1, index)
        if self.shift:
            shift = equilibrium_score(self._parts.irreversible, index, inv)
            rows = x[: min(x.shape[0], 256 if self._particles else 4096)]
            with torch.no_grad():
                spread = shift(rows).reshape(-1, index.numel()).std(0)
            size = torch.maximum(size, torch.nan_to_num(spread, nan=0.0))
        return 1.0 / size

    def _build_network(self, dim: int, c: int, spec: DiffusionSpec, mean: torch.Tensor, std: torch.Tensor,
                       out_scale: torch.Tensor | None = None) -> nn.Module:
        device, dtype = self._resolve_device(), self.dtype_
        index, block, inv = spec.tensors(dtype, device)
        # late binding: evaluate(x, drift=...) swaps self._parts for another system of the same model
        shift = equilibrium_score(lambda x: self._parts.irreversible(x), index, inv) if self.shift else None
        if out_scale is None:  # placeholder shapes; the stored buffer replaces it
            out_scale = std.index_select(-1, index.to(std.device))
        out_scale = out_scale.to(device=device, dtype=dtype)
        if self.model_kind_ == "mlp":
            return MLPScore(dim, index.numel(), tuple(int(h) for h in self.hidden), mean, std, out_scale, shift,
                            dtype=dtype, device=device)
        from dynfer.nn.local_transformer import LocalTransformerScore

        drift = self._drift
        positions = [int(k) for k in getattr(drift, "position_coords", range(2))]
        n_pos = len(positions)
        angular = tuple(int(a) - n_pos for a in getattr(drift, "angular_coords", ()))
        box = getattr(drift, "box", None)
        box_t = None if box is None else torch.as_tensor(np.asarray(box, dtype=np.float64), dtype=dtype,
                                                         device=device)
        net = LocalTransformerScore(dim=n_pos, n_features=c - n_pos, out_features=index.numel(), angular=angular,
                                    k=int(self.k_neighbors), embed_dim=int(self.embed_dim), n_heads=int(self.n_heads),
                                    n_blocks=int(self.n_blocks), absolute_positions=box is None, dtype=dtype,
                                    device=device)
        return ParticleScore(net, box_t, out_scale, shift)

    # ------------------------------------------------------------------ fit
    def fit(self, x: Any) -> ScoreEntropyProduction:
        """Fit the score on stationary samples and estimate every rate.

        Parameters
        ----------
        x
            Samples of the stationary law: ``(n, d)``, or ``(n_frames, N, c)`` for a particle drift (positions
            first, then each particle's other coordinates). Consecutive samples may be correlated (frames of one
            run): the standard errors are batch means.

        Returns
        -------
        ScoreEntropyProduction
            ``self``.
        """
        self._setup()
        self._resolve_dtype()
        seed = self._resolve_seed()
        device = self._resolve_device()
        x_t = self._check_samples(x)
        c = x_t.shape[-1]
        spec = self._resolve_spec(c)
        self._spec = spec
        index, block, inv = spec.tensors(self.dtype_, device)
        pooled = x_t.reshape(-1, c)
        mean, std = pooled.mean(0), pooled.std(0).clamp_min(1e-8 * float(pooled.std(0).max().clamp_min(1e-300)))
        self._stats = (mean, std)
        start = time.perf_counter()
        gen = make_generator(seed, device=device)
        n = x_t.shape[0]
        perm = torch.randperm(n, generator=make_generator(seed + 1, device="cpu")).to(device)
        n_val = max(1, int(round(float(self.val_fraction) * n)))
        val_rows, train_rows = perm[:n_val].sort().values, perm[n_val:]
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_step": []}
        kind = self.model_kind_
        objective = self.objective
        if objective == "auto":
            objective = "exact" if kind == "mlp" and index.numel() <= int(self.exact_max) else "dsm"
        if objective == "exact" and (kind != "mlp" or index.numel() > int(self.exact_max)):
            raise BadInputError("objective", f"'exact' with {index.numel()} noisy coordinates and model {kind!r}",
                                f"'exact' only for MLP scores with at most exact_max={self.exact_max} noisy "
                                "coordinates; use 'sliced' or 'dsm'")
        self.objective_ = objective if kind in ("mlp", "transformer") else "none"
        self._net: nn.Module | None = None
        folds = None
        if self.cross_fit:
            rows = perm if kind == "gaussian" else train_rows
            half = rows.numel() // 2  # >= 5: at least MIN_SAMPLES samples, at most half of them held out
            folds = [rows[:half], rows[half:]]
        if kind == "gaussian":
            modelled = self._gaussian_coords(c)
            members = [GaussianScore.fit(x_t if r is None else x_t[r], modelled, [int(k) for k in index])
                       for r in (folds or [None])]
            self._net = members[0] if folds is None else MeanScore(members)
        elif kind in ("mlp", "transformer"):
            nets, histories = [], []
            for i, rows in enumerate(folds or [train_rows]):  # fold i trains from its own seed
                net, hist = self._fit_network(x_t, rows, val_rows, spec, mean, std, seed + 7919 * i)
                nets.append(net)
                histories.append(hist)
            self._net = nets[0] if folds is None else MeanScore(nets)
            history = histories[0]
            for i, hist in enumerate(histories[1:], start=2):
                history.update({f"{k}_fold{i}": v for k, v in hist.items()})
        self.history_ = history
        self.fit_seconds_ = time.perf_counter() - start
        self._estimate(x_t, val_rows if kind in ("mlp", "transformer") else None, gen)
        return self

    def _fit_network(self, x_t: torch.Tensor, train_rows: torch.Tensor, val_rows: torch.Tensor, spec: DiffusionSpec,
                     mean: torch.Tensor, std: torch.Tensor, seed: int) -> tuple[nn.Module, dict[str, list[float]]]:
        """Build, start and train one score network on ``x_t[train_rows]`` (selection on ``x_t[val_rows]``)."""
        index, block, _ = spec.tensors(self.dtype_, x_t.device)
        c = x_t.shape[-1]
        with torch.random.fork_rng(devices=[]):  # seeded initial weights; the caller's RNG is untouched
            torch.manual_seed(seed)
            self._net = self._build_network(c, c, spec, mean, std, self._output_scale(x_t, std, spec))
        gaussian_start = self.model_kind_ == "mlp" and self.init in ("auto", "gaussian")
        if gaussian_start:
            self._start_gaussian(x_t[train_rows], index)
            start_weights = {k: v.detach().clone() for k, v in self._net.state_dict().items()}
        history = self._train(x_t[train_rows], x_t[val_rows], index, block, self._noise_scale(x_t, std, index), seed)
        history["kept_start"] = [0.0]
        if gaussian_start:
            # model selection on the held-out score-matching loss J = E|s-hat - s|^2_D - const: keep the
            # Gaussian start when training did not improve on it (small, near-Gaussian systems overfit)
            trained = {k: v.detach().clone() for k, v in self._net.state_dict().items()}
            j_trained = self._heldout_j(x_t[val_rows], index, block, seed)
            self._net.load_state_dict(start_weights)
            j_start = self._heldout_j(x_t[val_rows], index, block, seed)
            diff = j_trained - j_start  # paired: the same samples and probes
            se = float(diff.std(ddof=1) / math.sqrt(max(diff.size, 1))) if diff.size > 1 else math.inf
            if float(diff.mean()) < -2.0 * se:  # the network is clearly better than the Gaussian start
                self._net.load_state_dict(trained)
            else:
                history["kept_start"] = [1.0]
            history["heldout_j"] = [float(j_start.mean()), float(j_trained.mean()), se]
        return self._net, history

    def _heldout_j(self, x: torch.Tensor, index: torch.Tensor, block: torch.Tensor, seed: int) -> np.ndarray:
        r"""Per held-out sample, the score-matching terms :math:`|\hat s|^2_D + 2\nabla\cdot(D\hat s)` (same probes)."""
        exact = index.numel() <= int(self.exact_max)
        gen = make_generator(seed + 3, device=x.device)
        out = []
        for start in range(0, x.shape[0], int(self.chunk_size)):
            chunk = x[start:start + int(self.chunk_size)]
            per, _ = implicit_terms(self._net, chunk, index, block, exact=exact, n_probes=int(self.n_probes),
                                    generator=gen)
            out.append(per.detach().cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def _start_gaussian(self, x: torch.Tensor, index: torch.Tensor) -> None:
        """Start the MLP's affine part at the Gaussian plug-in score (see ``init``)."""
        rows = x[: min(x.shape[0], 50_000)]
        gauss = GaussianScore.fit(rows, list(range(x.shape[-1])), [int(k) for k in index])
        with torch.no_grad():
            target = gauss(rows)
            if self._net.shift is not None:
                target = target - self._net.shift(rows)
        self._net.start_from(rows, target)

    def _noise_scale(self, x: torch.Tensor, std: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Per noisy coordinate, the length the denoising noise is measured in.

        Its std, and for particle positions in a box at most the mean spacing :math:`(|box|/N)^{1/d}` (a box-wide
        std would make particles overlap).
        """
        scale = std.index_select(-1, index).clone()
        box = getattr(self._drift, "box", None) if self._particles else None
        if box is not None:
            positions = {int(k) for k in getattr(self._drift, "position_coords", ())}
            spacing = float(np.prod(np.asarray(box, dtype=np.float64)) / x.shape[1]) ** (1.0 / max(len(box), 1))
            for a, k in enumerate(index.tolist()):
                if int(k) in positions:
                    scale[a] = min(float(scale[a]), spacing)
        return scale

    def _gaussian_coords(self, c: int) -> list[int]:
        # uniform coordinates are left out: angles, and positions in a periodic box
        skip = {int(k) for k in getattr(self._drift, "angular_coords", ())}
        if self._particles and getattr(self._drift, "box", None) is not None:
            skip |= {int(k) for k in getattr(self._drift, "position_coords", range(2))}
        return [k for k in range(c) if k not in skip]

    def _train(self, x_train: torch.Tensor, x_val: torch.Tensor, index: torch.Tensor, block: torch.Tensor,
               scale: torch.Tensor, seed: int) -> dict[str, list[float]]:
        from dynfer.training import fit as train_fit
        from dynfer.training.loop import NonFiniteLossError

        objective = self.objective_
        n_steps = int(self.n_steps)
        start, end = self._noise
        exact = objective == "exact"
        n_probes = int(self.n_probes)
        batch = min(int(self.batch_size), x_train.shape[0])
        if self._particles:
            batch = max(1, min(batch, x_train.shape[0]))
        counter = {"step": 0}
        anneal = max(1, int(0.8 * n_steps))

        def sampler(generator: torch.Generator, size: int) -> dict[str, torch.Tensor]:
            rows = torch.randint(0, x_train.shape[0], (size,), generator=generator, device=generator.device)
            frac = min(counter["step"] / anneal, 1.0)
            counter["step"] += 1
            level = start * (end / start) ** frac
            return {"x": x_train[rows.to(x_train.device)],
                    "noise": torch.full((size,), level, dtype=x_train.dtype, device=x_train.device)}

        def loss_fn(model: nn.Module, b: Mapping[str, torch.Tensor]) -> torch.Tensor:
            xb, level = b["x"], b["noise"]
            if objective == "dsm" and bool((level > 0).all()):
                return dsm_loss(model, xb, level, index, scale)
            return implicit_loss(model, xb, index, block, exact=exact, n_probes=n_probes)

        if objective in ("exact", "sliced"):
            train_data: Any = {"x": x_train, "noise": torch.zeros(x_train.shape[0], dtype=x_train.dtype,
                                                                  device=x_train.device)}
        else:
            train_data = sampler
        val_data = {"x": x_val, "noise": torch.zeros(x_val.shape[0], dtype=x_val.dtype, device=x_val.device)}
        try:
            # one step has no room for a warm-up: a constant rate then
            result = train_fit(self._net, loss_fn, train_data, val_data=val_data, batch_size=batch,
                               max_steps=n_steps, lr=float(self.lr),
                               schedule="warmup_cosine" if n_steps > 1 else "constant",
                               warmup_steps=max(1, n_steps // 20) if n_steps > 1 else 0, grad_clip=1.0,
                               patience=self.patience,
                               eval_every=max(1, n_steps // 25),
                               eval_batch_size=min(int(self.chunk_size), max(1, x_val.shape[0])), seed=seed,
                               device=x_train.device, desc="score matching")
        except NonFiniteLossError as err:
            raise BadInputError("lr", f"a score-matching loss that became NaN or infinite ({err})",
                                "a smaller learning rate, or samples whose drift and score stay within the range "
                                f"of {str(self.dtype_).removeprefix('torch.')} (rescale them, or use float64)"
                                ) from None
        return {"train_loss": [float(v) for v in result.history.get("train_loss", [])],
                "val_loss": [float(v) for v in result.history.get("val_loss", [])],
                "val_step": [float(v) for v in result.history.get("val_step", [])]}

    # ------------------------------------------------------------------ estimates
    def _terms(self, x: torch.Tensor, score: nn.Module | None, lower_bound: bool,
               generator: torch.Generator | None) -> SampleTerms:
        spec = self._spec
        index, block, inv = spec.tensors(self.dtype_, x.device)
        exact = self.model_kind_ != "transformer" and index.numel() <= int(self.exact_max)
        if score is not None:
            score.eval()
        return sample_terms(score, self._parts, x, index, block, inv, degenerate=spec.degenerate, exact=exact,
                            n_probes=int(self.n_probes), lower_bound=lower_bound, chunk=int(self.chunk_size),
                            generator=generator)

    def _cross(self, x: torch.Tensor, score: nn.Module) -> tuple[np.ndarray, np.ndarray]:
        """Cross-fitted local and per-coordinate terms of a two-fold :class:`MeanScore` (see :mod:`.cross_fit`)."""
        index, block, inv = self._spec.tensors(self.dtype_, x.device)
        first, second = score.members
        return cross_terms(first, second, self._parts, x, index, block, inv, chunk=int(self.chunk_size))

    def _rate_terms(self, x: torch.Tensor, terms: SampleTerms) -> SampleTerms:
        """``terms`` with the local and per-coordinate production cross-fitted when ``cross_fit`` is on."""
        if not isinstance(self._net, MeanScore):
            return terms
        local, coord = self._cross(x, self._net)
        return dataclasses.replace(terms, local=local, per_coordinate=coord)

    def _estimate(self, x: torch.Tensor, val_rows: torch.Tensor | None, gen: torch.Generator) -> None:
        plain = self._terms(x, self._net, lower_bound=val_rows is None, generator=gen)
        main = self._rate_terms(x, plain)
        self.rate_, self.rate_stderr_ = batch_mean(main.local)
        if val_rows is None:
            lb = main.lower_bound
        else:
            lb = self._terms(x[val_rows], self._net, lower_bound=True, generator=gen).lower_bound
        self.rate_lower_bound_, self.rate_lower_bound_stderr_ = batch_mean(lb)
        sf = batch_mean(main.score_free)
        baselines = {"score_free": {"rate": sf[0], "stderr": sf[1]},
                     "equilibrium": {"rate": 0.0, "stderr": 0.0}}
        if self.model_kind_ == "gaussian" and not self.cross_fit:
            baselines["gaussian"] = {"rate": self.rate_, "stderr": self.rate_stderr_}
        else:
            gauss = GaussianScore.fit(x, self._gaussian_coords(x.shape[-1]), list(self._spec.noisy))
            g_terms = self._terms(x, gauss, lower_bound=False, generator=gen)
            g = batch_mean(g_terms.local)
            baselines["gaussian"] = {"rate": g[0], "stderr": g[1]}
        if not self._particles:
            if self.model_kind_ == "gaussian" and self.cross_fit:
                gx = (self.rate_, self.rate_stderr_)
            else:
                gx = batch_mean(self._cross(x, self._gaussian_folds(x))[0])
            baselines["gaussian_cross_fit"] = {"rate": gx[0], "stderr": gx[1]}
        self.baselines_ = baselines
        diag: dict[str, Any] = {"n_samples": int(x.shape[0]), "n_heldout": int(0 if val_rows is None
                                                                                else val_rows.numel()),
                                "gap": float(self.rate_ - self.rate_lower_bound_), "convention": CONVENTION,
                                "noisy_coordinates": np.asarray(self._spec.noisy, dtype=np.int64)}
        if main is not plain:
            diag["rate_plugin"], diag["rate_plugin_stderr"] = batch_mean(plain.local)
        if main.div_v is not None:
            res = main.div_v + main.v_dot_s
            diag["fpe_residual"], diag["fpe_residual_stderr"] = batch_mean(res ** 2)
            diag["mean_div_v"] = batch_mean(main.div_v)[0]
            diag["mean_v_dot_s"] = batch_mean(main.v_dot_s)[0]
        else:
            diag["fpe_residual"] = diag["mean_div_v"] = diag["mean_v_dot_s"] = math.nan
            diag["fpe_residual_stderr"] = math.nan
        self.diagnostics_ = diag
        self._check_finite_rates()
        self.per_coordinate_ = main.per_coordinate.mean(0)
        self.per_particle_ = main.local.mean(0) if self._particles else np.zeros(0)
        self._last_terms = main

    def _gaussian_folds(self, x: torch.Tensor) -> MeanScore:
        """Gaussian scores fitted on two random halves of ``x`` (the cross-fitted Gaussian baseline)."""
        rows = torch.randperm(x.shape[0], generator=make_generator(self.seed_ + 5, device="cpu")).to(x.device)
        half = rows.numel() // 2
        modelled, noisy = self._gaussian_coords(x.shape[-1]), list(self._spec.noisy)
        return MeanScore([GaussianScore.fit(x[r], modelled, noisy) for r in (rows[:half], rows[half:])])

    def _check_finite_rates(self) -> None:
        """Refuse a non-finite rate (overflow of the dtype, or a degenerate sample): never a silent NaN."""
        rates = {"rate": self.rate_, "rate_lower_bound": self.rate_lower_bound_,
                 **{f"baselines[{k!r}]": v["rate"] for k, v in self.baselines_.items()}}
        bad = [k for k, v in rates.items() if not math.isfinite(v)]
        if bad:
            raise BadInputError("x", f"samples on which {', '.join(bad)} is not finite (values beyond the range of "
                                f"{str(self.dtype_).removeprefix('torch.')}, or a coordinate without spread)",
                                "samples of moderate size with spread in every coordinate (rescale them, or use "
                                "float64)")

    # ------------------------------------------------------------------ use
    def _score_module(self) -> nn.Module | None:
        return self._net

    def _as_states(self, x: Any) -> torch.Tensor:
        return self._check_samples(x, minimum=1)

    def score(self, x: Any) -> np.ndarray:
        r"""The learned score :math:`\hat s_g(x)` on the noisy coordinates, shape ``(..., m)``."""
        self._check_fitted("score")
        xt = self._as_states(x)
        if self._net is None:
            index, _, inv = self._spec.tensors(self.dtype_, xt.device)
            return (self._parts.irreversible(xt).index_select(-1, index) @ inv).cpu().numpy()
        with torch.no_grad():
            return self._net.eval()(xt).cpu().numpy()

    @contextlib.contextmanager
    def _using(self, drift: Any) -> Iterator[None]:
        """Evaluate with another drift of the same layout (e.g. the same particle model in a larger box)."""
        if drift is None:
            yield
            return
        saved = (self._parts, self._spec, self._drift)
        box = getattr(self._net, "box", None) if isinstance(self._net, ParticleScore) else None
        try:
            self._drift = as_drift(drift)
            if (self._drift.event_dims == 2) != self._particles:
                raise BadInputError("drift", "a drift on states of another kind", "a drift like the fitted one")
            self._spec = self._resolve_spec(self._spec.size)
            if box is not None:
                new_box = getattr(self._drift, "box", None)
                self._net.box = (torch.zeros(0, dtype=box.dtype, device=box.device) if new_box is None else
                                 torch.as_tensor(np.asarray(new_box, dtype=np.float64), dtype=box.dtype,
                                             device=box.device))
            yield
        finally:
            self._parts, self._spec, self._drift = saved
            if box is not None:
                self._net.box = box

    def evaluate(self, x: Any, *, drift: Any = None) -> dict[str, Any]:
        """Every estimate on new samples (e.g. a larger system for a particle model), without refitting.

        Parameters
        ----------
        x
            Samples, as in :meth:`fit`.
        drift
            Another drift of the same layout (``None``: the fitted one), e.g. the same particle model in a box of
            4N particles: the local score network transfers, the drift and the box are those of the new system.

        Returns
        -------
        dict
            ``rate``, ``rate_stderr``, ``rate_lower_bound``, ``rate_lower_bound_stderr``, ``score_free_rate``,
            ``score_free_stderr``, ``velocity`` (the shape of ``x``), ``local`` (per sample, or per particle),
            ``per_coordinate``.
        """
        self._check_fitted("evaluate")
        with self._using(drift):
            xt = self._as_states(x)
            terms = self._terms(xt, self._net, lower_bound=True, generator=make_generator(self.seed_ + 2,
                                                                                          device=xt.device))
            terms = self._rate_terms(xt, terms)
        rate, se = batch_mean(terms.local)
        lb, lb_se = batch_mean(terms.lower_bound)
        sf, sf_se = batch_mean(terms.score_free)
        return {"rate": rate, "rate_stderr": se, "rate_lower_bound": lb, "rate_lower_bound_stderr": lb_se,
                "score_free_rate": sf, "score_free_stderr": sf_se, "velocity": terms.velocity,
                "local": terms.local, "per_coordinate": terms.per_coordinate.mean(0)}

    def velocity(self, x: Any) -> np.ndarray:
        r"""The probability-flow velocity :math:`v = b - D\hat s` (the current is :math:`j = v\rho`)."""
        self._check_fitted("velocity")
        return self._terms(self._as_states(x), self._net, lower_bound=False, generator=None).velocity

    def local_production(self, x: Any) -> np.ndarray:
        r"""The local production :math:`\hat e(x)`: ``(n,)``, or ``(n, N)`` per particle.

        With ``cross_fit=True`` it is the cross-fitted term, and a single sample's term can be negative.
        """
        self._check_fitted("local_production")
        xt = self._as_states(x)
        return self._rate_terms(xt, self._terms(xt, self._net, lower_bound=False, generator=None)).local

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        mean, std = self._stats
        state: dict[str, Any] = {
            "rate": float(self.rate_), "rate_stderr": float(self.rate_stderr_),
            "rate_lower_bound": float(self.rate_lower_bound_),
            "rate_lower_bound_stderr": float(self.rate_lower_bound_stderr_),
            "baselines": {k: {"rate": float(v["rate"]), "stderr": float(v["stderr"])}
                          for k, v in self.baselines_.items()},
            "diagnostics": {k: (np.asarray(v) if isinstance(v, np.ndarray) else v)
                            for k, v in self.diagnostics_.items()},
            "per_coordinate": np.asarray(self.per_coordinate_, dtype=np.float64),
            "per_particle": np.asarray(self.per_particle_, dtype=np.float64),
            "history": {k: np.asarray(v, dtype=np.float64) for k, v in self.history_.items()},
            "fit_seconds": float(self.fit_seconds_),
            "model_kind": str(self.model_kind_), "objective": str(self.objective_),
            "mean": mean.detach().cpu().numpy(), "std": std.detach().cpu().numpy(),
            "dtype": str(self.dtype_).removeprefix("torch."),
            "seed": int(self.seed_),
        }
        if self._net is not None:
            state["network"] = as_numpy_state(self._net)
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        def arr(v: Any) -> np.ndarray:
            return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)

        self.dtype_ = getattr(torch, str(state["dtype"]))
        self.seed_ = int(state["seed"])
        self._setup()
        self.model_kind_ = str(state["model_kind"])
        self.objective_ = str(state["objective"])
        device = self._resolve_device()
        mean = torch.as_tensor(arr(state["mean"]), dtype=self.dtype_, device=device)
        std = torch.as_tensor(arr(state["std"]), dtype=self.dtype_, device=device)
        self._stats = (mean, std)
        c = mean.numel()
        self._spec = self._resolve_spec(c)
        self._net = None
        if "network" in state:
            net = dict(state["network"])
            prefixes = ["members__0__", "members__1__"] if self.cross_fit else [""]
            if self.model_kind_ == "gaussian":
                members: list[nn.Module] = [
                    GaussianScore(torch.as_tensor(arr(net[f"{p}mean"]), dtype=self.dtype_),
                                  torch.as_tensor(arr(net[f"{p}precision"]), dtype=self.dtype_),
                                  self._gaussian_coords(c), list(self._spec.noisy)) for p in prefixes]
            else:
                members = [self._build_network(c, c, self._spec, mean, std) for _ in prefixes]
            self._net = members[0] if not self.cross_fit else MeanScore(members)
            if self.model_kind_ != "gaussian":
                load_numpy_state(self._net, net)
            self._net.to(device=device, dtype=self.dtype_)
        self.rate_ = float(state["rate"])
        self.rate_stderr_ = float(state["rate_stderr"])
        self.rate_lower_bound_ = float(state["rate_lower_bound"])
        self.rate_lower_bound_stderr_ = float(state["rate_lower_bound_stderr"])
        self.baselines_ = {str(k): {"rate": float(v["rate"]), "stderr": float(v["stderr"])}
                           for k, v in dict(state["baselines"]).items()}
        diag = {}
        for k, v in dict(state["diagnostics"]).items():
            a = arr(v)
            diag[str(k)] = a if a.ndim else (a.item() if a.dtype.kind != "U" else str(a))
        self.diagnostics_ = diag
        self.per_coordinate_ = arr(state["per_coordinate"]).astype(np.float64)
        self.per_particle_ = arr(state["per_particle"]).astype(np.float64)
        self.history_ = {str(k): arr(v).astype(np.float64).tolist() for k, v in dict(state["history"]).items()}
        self.fit_seconds_ = float(state["fit_seconds"])

    def results(self) -> dict[str, Any]:
        """What users read, as plain data: the rates, baselines, diagnostics and splits.

        Returns
        -------
        dict
            ``rate``, ``rate_stderr``, ``rate_lower_bound``, ``rate_lower_bound_stderr``, ``baselines``,
            ``diagnostics``, ``per_coordinate``, ``per_particle``, ``model``, ``objective``, ``fit_seconds``,
            ``convention``.
        """
        self._check_fitted("results")
        state = self._get_state()
        return {"rate": state["rate"], "rate_stderr": state["rate_stderr"],
                "rate_lower_bound": state["rate_lower_bound"],
                "rate_lower_bound_stderr": state["rate_lower_bound_stderr"], "baselines": state["baselines"],
                "diagnostics": state["diagnostics"], "per_coordinate": state["per_coordinate"],
                "per_particle": state["per_particle"], "model": state["model_kind"],
                "objective": state["objective"], "fit_seconds": state["fit_seconds"], "convention": CONVENTION}
