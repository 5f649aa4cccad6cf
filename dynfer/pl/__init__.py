"""Plots on AnnData results, scanpy style (``ax``, ``show``, ``save``, ``return_fig``); they load, never refit.

* :func:`schrodinger_bridge` — snapshots with bridge trajectories;
* :func:`bridge_parameters` — reference parameters across refinement rounds;
* :func:`entropy_map` — the spatial decomposition of an entropy production beside the density;
* :func:`mjp_graph` — the rate graph of a fitted jump process;
* :func:`mjp_histograms` — observed vs model time-dependent state histograms.
"""

from dynfer.pl._entropy_production import entropy_map
from dynfer.pl._mjp import mjp_graph, mjp_histograms
from dynfer.pl._schrodinger_bridge import bridge_parameters, schrodinger_bridge

__all__ = ["bridge_parameters", "entropy_map", "mjp_graph", "mjp_histograms", "schrodinger_bridge"]
