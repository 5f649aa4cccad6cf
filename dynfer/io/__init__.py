"""Adapters: files of the four kinds of data (and graphs) to AnnData in dynfer's data model."""

from dynfer.io._model import (
    make_particles,
    make_snapshots,
    make_states,
    validate_particles,
    validate_snapshots,
    validate_states,
    validate_trajectories,
)

__all__ = [
    "make_particles",
    "make_snapshots",
    "make_states",
    "validate_particles",
    "validate_snapshots",
    "validate_states",
    "validate_trajectories",
]
