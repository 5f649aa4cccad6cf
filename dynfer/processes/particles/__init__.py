"""Interacting active particles (ABP, AOUP) in a periodic box: forces, neighbour search and simulation.

* :class:`ActiveParticles`: the drift :math:`b`, its divergence and the diffusion of particle states
  ``(n, N, c)`` (a :class:`~dynfer.processes.drifts.Drift` with ``event_dims = 2``), with
  :meth:`~ActiveParticles.simulate` and :meth:`~ActiveParticles.sample_stationary` (AnnData in the layout of the
  LAMMPS / GSD readers);
* :func:`particle_states`: particle AnnData back to state arrays ``(frames, N, c)``;
* pair forces (:func:`make_force`: ``softplus``, ``harmonic``, ``wca``), cell-list neighbour pairs
  (:func:`cell_list_pairs`) and the all-pairs reference (:func:`all_pairs`, :func:`naive_pair_forces`).
"""

from dynfer.processes.particles.cells import cell_grid, cell_list_pairs
from dynfer.processes.particles.forces import FORCES, PairForce, make_force, radial_divergence
from dynfer.processes.particles.interactions import interaction_divergence, interaction_forces
from dynfer.processes.particles.model import ActiveParticles
from dynfer.processes.particles.naive import Pairs, all_pairs, minimum_image, naive_pair_forces
from dynfer.processes.particles.simulate import initial_state, particle_states, sample_stationary, simulate

__all__ = [
    "FORCES",
    "ActiveParticles",
    "PairForce",
    "Pairs",
    "all_pairs",
    "cell_grid",
    "cell_list_pairs",
    "initial_state",
    "interaction_divergence",
    "interaction_forces",
    "make_force",
    "minimum_image",
    "naive_pair_forces",
    "particle_states",
    "radial_divergence",
    "sample_stationary",
    "simulate",
]
