r"""Stationary frames of interacting active particles (MIPS and the trapped N = 64 system), as particle AnnData.

Two presets of :class:`~dynfer.processes.particles.ActiveParticles` after Boffi & Vanden-Eijnden (PNAS 2024):

* ``"mips"``: active Ornstein–Uhlenbeck soft disks, :math:`\varepsilon = 0` (the hypoelliptic setting), no trap,
  :math:`k = 1`, the softplus force (:math:`\beta = 7.5`, :math:`r = 1`), in a periodic box of edge
  :math:`\sqrt{N\pi r^2/\phi}`. The paper's :math:`\phi`, :math:`v_0`, :math:`\gamma` and :math:`dt` are not
  published. dynfer uses :math:`\phi = 0.6`, :math:`v_0 = 0.1` (small against the contact force
  :math:`f(2r) = 0.09`, so that disks do not pass through each other), :math:`\gamma = 10^{-3}` (persistence length
  :math:`v_0/\gamma = 100` radii) and :math:`dt = 0.2` (a deterministic step of at most about 0.1 radii).
  These are **not verified to phase-separate**. Measured at N = 1,024 (one seed each, random start): the number of
  neighbours within 2.5 radii (minimum image) and the packing fraction in cells of edge 8 radii. At
  :math:`\phi = 0.6`, :math:`v_0 = 0.1`, :math:`\gamma = 2\cdot 10^{-3}`, :math:`2\cdot 10^{-4}` and
  :math:`10^{-5}` up to t = 4,000–5,000 the neighbour count stays unimodal (mean 3.8, variance 1.7–2.0 against 1.2
  for the relaxed passive packing, :math:`v_0 = 0`) and the cell packing fraction has a standard deviation 0.15–0.17
  (0.074 passive, about 0.16 for uniform random points): an active fluid with enhanced, Poisson-level density
  fluctuations and short-lived clusters, not two phases. Likewise at :math:`\phi = 0.4` and 0.5 with
  :math:`v_0 \in \{0.05, 0.1, 0.2\}`, :math:`v_0/\gamma` from 50 to 1,000 radii, up to t = 8,000. A dense slab
  (80 % of the particles at packing 0.85, beside a gas) dissolves within a few hundred time units for
  :math:`(v_0, \gamma) = (0.03, 1.5\cdot 10^{-4}), (0.1, 5\cdot 10^{-4}), (0.3, 3\cdot 10^{-3}), (0.5, 5\cdot 10^{-3})`
  at :math:`\phi = 0.5`: no coexistence was found. The workflow therefore measures production in a homogeneous
  active fluid with transient clusters. The default burn-in of :func:`active_particles` (20 / γ = 20,000) is long;
  the workflow uses 3,000 (three persistence times; the density statistics above are flat after t ≈ 500);
* ``"trap"``: the paper's N = 64 setting in a harmonic trap in free space: :math:`A = 0.05`, :math:`k = 2.5`,
  :math:`\gamma = \varepsilon = 0.1`, :math:`v_0 = 0.3`, harmonic soft disks of radius 1, :math:`dt = 10^{-3}`.
"""

from __future__ import annotations

import math
from typing import Any

import anndata as ad
import torch

from dynfer._errors import BadInputError
from dynfer._validation import check_int, check_positive
from dynfer.processes.particles import ActiveParticles

__all__ = ["PRESETS", "active_particles", "particle_model"]

PRESETS: dict[str, dict[str, Any]] = {
    "mips": {"kind": "aoup", "v0": 0.1, "gamma": 1e-3, "epsilon": 0.0, "interaction_strength": 1.0,
             "force": "softplus", "force_params": {"radius": 1.0, "beta": 7.5}, "phi": 0.6, "dt": 0.2},
    "trap": {"kind": "aoup", "v0": 0.3, "gamma": 0.1, "epsilon": 0.1, "interaction_strength": 2.5, "trap": 0.05,
             "force": "harmonic", "force_params": {"radius": 1.0}, "dt": 1e-3},
}


def particle_model(preset: str = "mips", n_particles: int = 1024, **overrides: Any) -> tuple[ActiveParticles, float]:
    r"""The :class:`ActiveParticles` model of a preset for ``n_particles``, and its time step.

    Parameters
    ----------
    preset
        ``"mips"`` or ``"trap"``.
    n_particles
        N; with a packing fraction ``phi`` the box edge is :math:`\sqrt{N\pi r^2/\phi}`.
    **overrides
        Model parameters to change (``v0``, ``gamma``, ``phi``, ``dt``, ...).

    Returns
    -------
    (ActiveParticles, float)
        The model and ``dt``.
    """
    if preset not in PRESETS:
        raise BadInputError("preset", repr(preset), f"one of {list(PRESETS)}")
    n = check_int(n_particles, "n_particles", 2)
    params = {**PRESETS[preset], **overrides}
    dt = check_positive(params.pop("dt"), "dt")
    phi = params.pop("phi", None)
    if phi is not None:
        phi = check_positive(phi, "phi")
        if phi >= 1.5:
            raise BadInputError("phi", repr(phi), "a packing fraction in (0, 1.5)")
        radius = float(params.get("force_params", {}).get("radius", 1.0))
        edge = math.sqrt(n * math.pi * radius**2 / phi)
        params["box"] = (edge, edge)
    return ActiveParticles(**params), dt


def active_particles(preset: str = "mips", n_particles: int = 1024, n_samples: int = 32, *,
                     burn_in: float | None = None, thin: float | None = None, n_replicas: int = 1,
                     seed: int | torch.Generator | None = None, device: str | torch.device | None = None,
                     **overrides: Any) -> ad.AnnData:
    r"""Stationary frames of a preset (see the module docstring) in dynfer's particle data model.

    Parameters
    ----------
    preset, n_particles
        As in :func:`particle_model`.
    n_samples
        Frames per replica.
    burn_in, thin
        Time before the first frame and between frames (defaults of
        :func:`~dynfer.processes.particles.sample_stationary`: 20 and 1 over the slowest rate).
    n_replicas
        Independent replicas simulated together.
    seed, device
        Seed (``None``: ``settings.seed``) and device of the simulation.
    **overrides
        Model parameters to change.

    Returns
    -------
    anndata.AnnData
        ``obsm['positions']``, ``obsm['active']`` (the active velocities g), ``uns['box']`` and
        ``uns['dynfer_source']`` (with the model's configuration, ``dt``, ``burn_in``, ``thin`` and the seed).
    """
    model, dt = particle_model(preset, n_particles, **overrides)
    adata = model.sample_stationary(int(n_particles), n_samples, dt=dt, burn_in=burn_in, thin=thin,
                                    n_replicas=n_replicas, seed=seed, device=device)
    adata.uns["dynfer_source"]["preset"] = preset
    return adata
