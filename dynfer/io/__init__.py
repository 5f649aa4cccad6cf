"""Adapters: files of the four kinds of data (and graphs) to AnnData in dynfer's data model.

* single-cell snapshots: :func:`read_h5ad_snapshots`, :func:`read_snapshot_arrays`, :func:`read_snapshots_csv`;
* motion capture: :func:`read_asf_amc`, :func:`read_bvh`, :func:`read_c3d`, :func:`read_mocap35`;
* ion channels: :func:`read_abf`, :func:`read_current_trace` (then :func:`dynfer.pp.idealize`);
* active matter: :func:`read_lammps_dump`, :func:`read_gsd`;
* graphs (networkx): :func:`read_edge_list`, :func:`read_matrix_market`, :func:`largest_connected_component`;
* the data model itself: ``make_*`` constructors and ``validate_*`` checks.
"""

from dynfer.io._model import (
    make_particles,
    make_snapshots,
    make_states,
    validate_particles,
    validate_snapshots,
    validate_states,
    validate_trajectories,
)
from dynfer.io.activematter import read_gsd, read_lammps_dump
from dynfer.io.graphs import largest_connected_component, read_edge_list, read_matrix_market
from dynfer.io.ionchannel import read_abf, read_current_trace
from dynfer.io.mocap import read_asf_amc, read_bvh, read_c3d, read_mocap35
from dynfer.io.singlecell import read_h5ad_snapshots, read_snapshot_arrays, read_snapshots_csv

__all__ = [
    "largest_connected_component",
    "make_particles",
    "make_snapshots",
    "make_states",
    "read_abf",
    "read_asf_amc",
    "read_bvh",
    "read_c3d",
    "read_current_trace",
    "read_edge_list",
    "read_gsd",
    "read_h5ad_snapshots",
    "read_lammps_dump",
    "read_matrix_market",
    "read_mocap35",
    "read_snapshot_arrays",
    "read_snapshots_csv",
    "validate_particles",
    "validate_snapshots",
    "validate_states",
    "validate_trajectories",
]
