"""Default AnnData keys of dynfer's data model, in one place.

* snapshots: state in ``X`` (or an ``obsm`` representation), observation time in ``obs[TIME]`` (float);
* trajectories: also ``obs[TRAJECTORY]`` (categorical path id), rows ordered by (trajectory, time);
* discrete states: ``obs[STATE]`` (int), raw signals stay in ``X``;
* particle systems: one row per frame, ``obsm[POSITIONS]`` of shape (n_frames, n_particles * d), ``uns[BOX]``,
  ``uns[N_PARTICLES]``, ``uns[DIM]``, optional ``obsm[ORIENTATIONS]`` and ``obsm[ACTIVE]`` (the active
  coordinates of simulated active particles: velocities g or angles θ);
* provenance of generated or loaded data: ``uns[SOURCE]`` (a dict: name, parameters, files).
"""

TIME = "time"
TRAJECTORY = "trajectory"
STATE = "state"
POSITIONS = "positions"
ORIENTATIONS = "orientations"
ACTIVE = "active"
VELOCITIES = "velocities"
IMAGES = "images"
PARTICLE_IDS = "particle_ids"
PARTICLE_TYPES = "particle_types"
BOX = "box"
N_PARTICLES = "n_particles"
DIM = "dim"
SOURCE = "dynfer_source"
DWELL_TIMES = "dwell_times"
CURRENT = "current"
