r"""Simulation of :class:`~dynfer.processes.particles.ActiveParticles`: trajectories and stationary AnnData.

One step of size :math:`h` (all replicas and particles at once):

* positions, Euler–Maruyama: :math:`x' = x + b_x(x, e)\,h + \sqrt{2\epsilon h}\,\xi`, then wrapped into
  :math:`[-L/2, L/2)^d`;
* AOUP, the exact Ornstein–Uhlenbeck step: :math:`g' = e^{-\gamma h} g + \sqrt{1 - e^{-2\gamma h}}\,\xi`;
* ABP: :math:`\theta' = \theta + \sqrt{2 D_r h}\,\xi`, wrapped into :math:`[-\pi, \pi)`,

with independent standard normal :math:`\xi` (Kloeden & Platen, *Numerical Solution of SDEs*, 1992, §9.1; the
scheme of Boffi & Vanden-Eijnden, PNAS 121, e2318106121, 2024). A random initial state has uniform positions in the
box (on a jittered lattice for the WCA force, whose overlaps would blow up), or, in free space, the Gaussian of
the non-interacting trapped particle; g ~ N(0, I) and θ uniform.

A run that diverges (non-finite states, or a deterministic step longer than the force cutoff, which wrapping into
the box would otherwise hide) raises :class:`~dynfer.BadInputError` naming ``dt``; states are never returned with
NaN.
"""

from __future__ import annotations

import math
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import torch

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import (
    STEP_COST,
    as_tensor,
    check_int,
    check_memory,
    check_positive,
    check_work,
    make_generator,
    progress,
    resolve_seed,
)
from dynfer.io._model import make_particles, particle_state_blocks
from dynfer.processes.particles.model import ActiveParticles

__all__ = ["initial_state", "particle_states", "sample_stationary", "simulate"]

"""``obsm`` key of the active coordinates (g or θ), shape (frames, N * n_active)."""


def initial_state(model: ActiveParticles, n_particles: int, n_replicas: int = 1, *,
                  generator: torch.Generator, dtype: torch.dtype | None = None,
                  device: str | torch.device | None = None) -> torch.Tensor:
    """A random state ``(n_replicas, n_particles, c)`` (see the module docstring)."""
    dtype = dtype or settings.dtype
    dev = generator.device
    d, shape = model.dim, (n_replicas, n_particles)
    if model.box is None:
        kappa = model.mobility * model.trap
        persistence = model.gamma if model.kind == "aoup" else model.rotational_diffusion
        speed2 = model.v0**2 if model.kind == "aoup" else model.v0**2 / 2
        std = math.sqrt((model.epsilon + speed2 / (kappa + persistence)) / kappa)
        x = std * torch.randn(*shape, d, generator=generator, device=dev, dtype=dtype)
    else:
        box = torch.tensor(model.box, dtype=dtype, device=dev)
        if model.force == "wca" and model.interacting:
            x = _lattice(box, n_particles, n_replicas, generator)
        else:
            x = (torch.rand(*shape, d, generator=generator, device=dev, dtype=dtype) - 0.5) * box
    if model.kind == "aoup":
        active = torch.randn(*shape, d, generator=generator, device=dev, dtype=dtype)
    else:
        active = (torch.rand(*shape, 1, generator=generator, device=dev, dtype=dtype) * 2 - 1) * math.pi
    return torch.cat([x, active], dim=-1)


def _lattice(box: torch.Tensor, n: int, n_replicas: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` distinct sites of a regular grid filling ``box`` (random sites, jittered by 5 % of the spacing)."""
    d = box.numel()
    spacing = (float(torch.prod(box)) / n) ** (1 / d)
    sides = [max(1, math.ceil(float(edge) / spacing)) for edge in box]
    sites = math.prod(sides)
    grids = torch.meshgrid(*[torch.arange(s, device=box.device) for s in sides], indexing="ij")
    lattice = torch.stack([g.reshape(-1) for g in grids], dim=-1).to(box.dtype)
    pick = torch.stack([torch.randperm(sites, generator=generator, device=box.device)[:n] for _ in range(n_replicas)])
    cell = box / torch.tensor(sides, dtype=box.dtype, device=box.device)
    jitter = (torch.rand(n_replicas, n, d, generator=generator, device=box.device, dtype=box.dtype) - 0.5) * 0.1
    return (lattice[pick] + 0.5 + jitter) * cell - box / 2


def _wrap(model: ActiveParticles, state: torch.Tensor, box: torch.Tensor | None) -> torch.Tensor:
    d = model.dim
    x, active = state[..., :d], state[..., d:]
    if box is not None:
        x = x - box * torch.floor(x / box + 0.5)
    if model.kind == "abp":
        active = torch.remainder(active + math.pi, 2 * math.pi) - math.pi
    return torch.cat([x, active], dim=-1)


def _step(model: ActiveParticles, state: torch.Tensor, dt: float, generator: torch.Generator,
          box: torch.Tensor | None, wrap: bool, method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """One Euler–Maruyama / exact-OU step of all replicas, and the largest deterministic displacement of it.

    ``method`` is the neighbour search of the pair forces: ``"auto"``, ``"cells"`` or ``"naive"`` (dense all
    pairs).
    """
    d = model.dim
    x, active = state[..., :d], state[..., d:]
    move = dt * model.position_drift(state, method=method)
    x = x + move
    if model.epsilon > 0:
        x = x + math.sqrt(2 * model.epsilon * dt) * torch.randn(x.shape, generator=generator, device=x.device,
                                                                 dtype=x.dtype)
    noise = torch.randn(active.shape, generator=generator, device=x.device, dtype=x.dtype)
    if model.kind == "aoup":
        decay = math.exp(-model.gamma * dt)
        active = decay * active + math.sqrt(-math.expm1(-2 * model.gamma * dt)) * noise
    else:
        active = active + math.sqrt(2 * model.rotational_diffusion * dt) * noise
    new = torch.cat([x, active], dim=-1)
    largest = move.abs().amax() if move.numel() else move.new_zeros(())
    return (_wrap(model, new, box) if wrap else new), largest


def _largest_step(model: ActiveParticles) -> float:
    """Deterministic displacement per step beyond which a run counts as diverged.

    The force cutoff for interacting particles (a step that jumps over the interaction range does not resolve the
    forces), else half the smallest box edge (infinite in free space).
    """
    if model.interacting:
        return model.pair_force.cutoff
    return math.inf if model.box is None else min(model.box) / 2


def _check_model(model: Any) -> ActiveParticles:
    if not isinstance(model, ActiveParticles):
        raise BadInputError("model", f"a {type(model).__name__}", "an ActiveParticles model")
    return model


def _initial(model: ActiveParticles, initial: Any, n_particles: int | None, n_replicas: int | None,
             generator: torch.Generator, dtype: torch.dtype | None) -> tuple[torch.Tensor, bool]:
    """The initial state ``(B, N, c)`` and whether the caller gave a single ``(N, c)`` state."""
    if initial is None:
        if n_particles is None:
            raise BadInputError("n_particles", "None with initial=None", "the number of particles to start with")
        n = check_int(n_particles, "n_particles")
        b = 1 if n_replicas is None else check_int(n_replicas, "n_replicas")
        return initial_state(model, n, b, generator=generator, dtype=dtype), n_replicas is None
    state = as_tensor(initial, "initial", dtype=dtype, device=generator.device, finite=False)
    single = state.ndim == 2
    if single:
        state = state[None]
    state = model.check_state(state, "initial")
    if n_particles is not None and state.shape[1] != n_particles:
        raise BadInputError("n_particles", f"{n_particles!r}", f"the {state.shape[1]} particles of initial")
    return state.to(generator.device), single


def _check_dt(dt: Any) -> float:
    return check_positive(dt, "dt")


def _integrate(model: ActiveParticles, state: torch.Tensor, dt: float, n_steps: int, generator: torch.Generator, *,
               first_record: int, record_every: int, wrap: bool, desc: str, to_cpu: bool = False) -> list[torch.Tensor]:
    """Advance ``n_steps``; keep the states of steps ``first_record + k * record_every`` (step 0 = the start)."""
    box = model.box_tensor(state)
    records: list[torch.Tensor] = []
    limit = _largest_step(model)
    largest = state.new_zeros(())

    def check(step: int, s: torch.Tensor) -> None:
        if not bool(torch.isfinite(s).all()) or not float(largest) <= limit:
            raise BadInputError("dt", f"{dt!r}: the simulation diverged by step {step} (non-finite states, or a "
                                f"deterministic step of {float(largest):.3g} beyond {limit:.3g})",
                                "a smaller dt (the pair forces are stiff at short range)")

    def keep(step: int, s: torch.Tensor) -> None:
        if step >= first_record and (step - first_record) % record_every == 0:
            check(step, s)
            records.append(s.cpu() if to_cpu else s.clone())

    if wrap:
        state = _wrap(model, state, box)
    keep(0, state)
    for step in progress(range(1, n_steps + 1), desc=desc, total=n_steps):
        state, moved = _step(model, state, dt, generator, box, wrap)
        largest = torch.maximum(largest, moved)
        keep(step, state)
    check(n_steps, state)
    return records


def simulate(model: ActiveParticles, initial: Any = None, n_steps: int = 1, dt: float = 1e-3, *,
             record_every: int = 1, seed: int | torch.Generator | None = None, n_particles: int | None = None,
             n_replicas: int | None = None, wrap: bool = True, dtype: torch.dtype | None = None,
             device: str | torch.device | None = None) -> torch.Tensor:
    """Simulate ``n_steps`` steps of size ``dt`` (see the module docstring), recording every ``record_every``.

    Parameters
    ----------
    model
        The particle model.
    initial
        ``(N, c)`` or ``(B, N, c)`` (B independent replicas), or ``None`` for a random start of ``n_particles``
        particles in ``n_replicas`` replicas.
    n_steps, dt
        Number and size of the steps.
    record_every
        Steps between recorded states.
    seed
        Seed or generator (``None``: ``dynfer.settings.seed``).
    n_particles, n_replicas
        Size of a random start (``initial=None``; ``n_replicas`` defaults to 1 and is then squeezed).
    wrap
        Wrap positions into the box and θ into ``[-π, π)`` (False: unwrapped, e.g. for displacements).
    dtype, device
        Of the result (default: those of a tensor ``initial``, else ``settings``).

    Returns
    -------
    torch.Tensor
        ``(n_steps // record_every + 1, B, N, c)`` starting with the initial state (wrapped), or
        ``(..., N, c)`` when ``initial`` was ``(N, c)`` (or random with ``n_replicas=None``).

    Raises
    ------
    BadInputError
        For a bad argument, work or memory beyond the limits (``settings.max_work``), or a diverging run.
    """
    model = _check_model(model)
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    dt = _check_dt(dt)
    record_every = check_int(record_every, "record_every")
    if device is None and isinstance(initial, torch.Tensor):
        device = initial.device
    generator = make_generator(resolve_seed(seed), device)
    state, single = _initial(model, initial, n_particles, n_replicas, generator, dtype)
    b, n, c = state.shape
    n_records = n_steps // record_every + 1
    check_work(float(n_steps) * (b * n * c + STEP_COST), "ActiveParticles.simulate: n_steps",
               f"{n_steps} steps x {b} replicas x {n} particles x {c} coordinates",
               change="use fewer steps, particles or replicas")
    check_memory(float(n_records) * b * n * c * state.element_size(), "ActiveParticles.simulate: record_every",
                 f"{n_records} recorded states of ({b}, {n}, {c})", device=state.device,
                 change="record less often (a larger record_every)")
    records = _integrate(model, state, dt, n_steps, generator, first_record=0, record_every=record_every,
                         wrap=wrap, desc="ActiveParticles.simulate")
    out = torch.stack(records)
    return out[:, 0] if single else out


def sample_stationary(model: ActiveParticles, n_particles: int, n_samples: int, *, dt: float,
                      burn_in: float | None = None, thin: float | None = None, n_replicas: int = 1,
                      seed: int | torch.Generator | None = None, initial: Any = None,
                      dtype: torch.dtype | None = None, device: str | torch.device | None = None) -> ad.AnnData:
    """Frames of the (approximately) stationary state as AnnData in dynfer's particle layout.

    Parameters
    ----------
    model
        The particle model.
    n_particles
        Particles per replica.
    n_samples
        Frames recorded per replica (rows: ``n_samples * n_replicas``, replica by replica).
    dt
        Step size.
    burn_in
        Time simulated before the first frame; default ``20 / min(model.rates)`` (the relaxation rates γ or D_r,
        ε and μA where positive; a heuristic: MIPS coarsening and diffusion across a large box take longer).
    thin
        Time between recorded frames (rounded to a whole number of steps, at least one); default
        ``1 / min(model.rates)``.
    n_replicas
        Independent replicas simulated in one batch.
    seed
        Seed or generator (``None``: ``dynfer.settings.seed``); the resolved integer is stored.
    initial
        Optional start ``(N, c)`` or ``(n_replicas, N, c)`` instead of the random one.
    dtype, device
        Of the simulation (default ``settings``); the AnnData holds float64 numpy arrays.

    Returns
    -------
    anndata.AnnData
        ``obsm["positions"]`` (frames, N·dim) in ``[-L/2, L/2)``, ``obsm["active"]`` (frames, N·n_active: g or θ),
        for ABP also ``obsm["orientations"]`` (frames, N·2: cos θ, sin θ, as the LAMMPS reader gives them);
        ``obs["time"]`` (the simulated time, burn-in + k·thin),
        ``obs["replica"]`` when ``n_replicas > 1``; ``uns["box"]`` (infinite edges in free space),
        ``uns["box_lo"]``, ``uns["n_particles"]``, ``uns["dim"]`` and ``uns["dynfer_source"]`` = ``{"name":
        "active_particles", "model": model config, "dt", "burn_in", "thin" (the times actually used), "seed",
        "n_replicas"}``.
    """
    model = _check_model(model)
    n_particles = check_int(n_particles, "n_particles")
    n_samples = check_int(n_samples, "n_samples")
    n_replicas = check_int(n_replicas, "n_replicas")
    dt = _check_dt(dt)
    slowest = min(model.rates)
    burn_in = 20.0 / slowest if burn_in is None else check_positive(burn_in, "burn_in", allow_zero=True)
    thin = 1.0 / slowest if thin is None else check_positive(thin, "thin")
    n_burn = int(math.ceil(burn_in / dt - 1e-9)) if math.isfinite(burn_in / dt) else None
    n_thin = max(1, int(round(thin / dt))) if math.isfinite(thin / dt) else None
    total = None if n_burn is None or n_thin is None else n_burn + (n_samples - 1) * n_thin
    c = model.n_coords
    check_work(math.inf if total is None else float(total) * (n_replicas * n_particles * c + STEP_COST),
               "ActiveParticles.sample_stationary: dt", f"{total} steps x {n_replicas} replicas x {n_particles} "
               f"particles x {c} coordinates", change="use a larger dt, a shorter burn_in or thin, or fewer samples")
    check_memory(16.0 * n_samples * n_replicas * n_particles * c, "ActiveParticles.sample_stationary: n_samples",
                 f"{n_samples * n_replicas} frames of {n_particles} particles", device="cpu",
                 change="ask for fewer samples")
    resolved = resolve_seed(seed)
    generator = make_generator(resolved, device)
    state, _ = _initial(model, initial, n_particles, None if initial is not None else n_replicas, generator, dtype)
    if state.shape[0] != n_replicas:
        raise BadInputError("initial", f"{state.shape[0]} replica(s)", f"n_replicas = {n_replicas}")
    records = _integrate(model, state, dt, total, generator, first_record=n_burn, record_every=n_thin, wrap=True,
                         desc="ActiveParticles.sample_stationary", to_cpu=True)
    frames = torch.stack(records).to(torch.float64).numpy()  # (n_samples, B, N, c)
    frames = frames.transpose(1, 0, 2, 3).reshape(n_replicas * n_samples, n_particles, c)
    times = np.tile(n_burn * dt + n_thin * dt * np.arange(n_samples), n_replicas)
    return _to_anndata(model, frames, times, n_replicas, n_samples,
                       {"dt": dt, "burn_in": n_burn * dt, "thin": n_thin * dt, "seed": resolved,
                        "n_replicas": n_replicas})


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and ``None`` entries dropped, so that AnnData can write it to h5ad."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _to_anndata(model: ActiveParticles, frames: np.ndarray, times: np.ndarray, n_replicas: int, n_samples: int,
                run: dict[str, Any]) -> ad.AnnData:
    d = model.dim
    positions, active = frames[..., :d], frames[..., d:]
    orientations = np.concatenate([np.cos(active), np.sin(active)], axis=-1) if model.kind == "abp" else None
    box = np.full(d, np.inf) if model.box is None else np.asarray(model.box, dtype=np.float64)
    source = {"name": "active_particles", "model": _plain(model.config()), **run}
    adata = make_particles(positions, times, box, orientations=orientations,
                           extra_obsm={K.ACTIVE: active.reshape(len(frames), -1)}, source=source)
    if n_replicas > 1:
        adata.obs["replica"] = pd.Categorical(np.repeat(np.arange(n_replicas), n_samples))
    adata.uns["box_lo"] = -box / 2
    adata.uns["box_periodic"] = [model.box is not None] * d
    return adata


def particle_states(adata: ad.AnnData, model: ActiveParticles, *, check_box: bool = True) -> np.ndarray:
    r"""Particle states ``(frames, N, c)`` of ``model``'s layout from particle AnnData.

    Positions come from ``obsm["positions"]``; the active coordinates from ``obsm["active"]`` when present, else
    (ABP only) :math:`\theta = \mathrm{atan2}(o_y, o_x)` of the directors ``obsm["orientations"]`` (what the
    LAMMPS ABP dumps hold as ``mux muy``). AOUP data need ``obsm["active"]`` (g is not observable otherwise).

    Parameters
    ----------
    adata
        Particle AnnData (from :func:`sample_stationary` or the LAMMPS / GSD readers).
    model
        The model whose state layout is wanted.
    check_box
        Require ``uns["box"]`` to match ``model.box`` (relative tolerance 1e-6; infinite edges = free space).

    Raises
    ------
    BadInputError
        When keys are missing or their shapes, the dimension or the box disagree with the model.
    """
    model = _check_model(model)
    if not isinstance(adata, ad.AnnData):
        raise BadInputError("adata", f"a {type(adata).__name__}", "particle AnnData")
    for key in (K.N_PARTICLES, K.DIM):
        if key not in adata.uns:
            raise BadInputError("adata", f"no uns[{key!r}]", "particle AnnData (uns n_particles, dim, box)")
    d = int(adata.uns[K.DIM])
    if d != model.dim:
        raise BadInputError("adata", f"uns['dim'] = {d}", f"the model's dim = {model.dim}")
    if check_box:
        _check_same_box(adata, model)
    states, _ = particle_state_blocks(adata, model.n_active, angle=model.kind == "abp")
    return states


def _check_same_box(adata: ad.AnnData, model: ActiveParticles) -> None:
    if K.BOX not in adata.uns:
        raise BadInputError("adata", "no uns['box']", "the box edge lengths")
    box = np.asarray(adata.uns[K.BOX], dtype=np.float64).reshape(-1)
    want = np.full(model.dim, np.inf) if model.box is None else np.asarray(model.box)
    if box.shape != want.shape or not np.allclose(box, want, rtol=1e-6, atol=0, equal_nan=False):
        raise BadInputError("adata", f"uns['box'] = {box.tolist()}", f"the model's box {model.box} (or pass "
                            "check_box=False)")
