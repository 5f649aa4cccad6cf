"""Plots on AnnData results, scanpy style (``ax``, ``show``, ``save``, ``return_fig``); they load, never refit.

* :func:`schrodinger_bridge` — snapshots with bridge trajectories;
* :func:`bridge_parameters` — reference parameters across refinement rounds.
"""

from dynfer.pl._schrodinger_bridge import bridge_parameters, schrodinger_bridge

__all__ = ["bridge_parameters", "schrodinger_bridge"]
