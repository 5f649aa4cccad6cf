"""Preprocessing on AnnData, scanpy style: ``pp.f(adata, *, ..., copy=False) -> AnnData | None``.

* :func:`split_timepoints` — train / held-out time points (``holdout="odd"`` is the benchmark protocol);
* :func:`subsample_per_time` — at most ``n`` cells per time point;
* :func:`standardize`, :func:`pca` — scaling and principal components (through scanpy);
* :func:`trajectories_to_snapshots` — drop path identities (or interpolate to common times);
* :func:`idealize` — ion-channel currents to discrete conductance states and a dwell-time table.

Seeded functions take ``seed=None``, meaning ``dynfer.settings.seed`` (fresh entropy when that is ``None``), and
record the seed they used in the ``uns`` entry they write.
"""

from dynfer.pp._idealize import idealize
from dynfer.pp._scale import pca, standardize
from dynfer.pp._split import split_timepoints
from dynfer.pp._subsample import subsample_per_time
from dynfer.pp._trajectories import trajectories_to_snapshots

__all__ = [
    "idealize",
    "pca",
    "split_timepoints",
    "standardize",
    "subsample_per_time",
    "trajectories_to_snapshots",
]
