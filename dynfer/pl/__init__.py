"""Plots on AnnData results in scanpy's conventions; they load the stored model, never refit.

Every plot takes ``ax=`` (draw into it; a new figure when ``None``), ``show=``, ``save=`` and ``return_fig=``, and
returns what scanpy's plots return: the figure with ``return_fig=True``; else ``None`` when shown; else the Axes
(or list of Axes). Plots of cells also take ``basis=`` (an ``obsm`` key: ``X_pca``, ``X_umap``; ``None``: the fitted
representation), ``components=`` counted from 1 (``"1,2"`` or ``(1, 2)``) and ``color=`` (an ``obs`` column), and
label their axes with the variables' names (``var_names``, ``PC1``, ...).

* :func:`schrodinger_bridge` — cells with bridge paths (the bridge's own joint paths);
* :func:`drift_stream` — stream lines of the learned drift on an embedding (as scvelo's
  ``velocity_embedding_stream``);
* :func:`bridge_parameters` — reference parameters across refinement rounds;
* :func:`entropy_map` — the spatial decomposition of an entropy production beside the density;
* :func:`mjp_graph` — the rate graph of a fitted jump process;
* :func:`mjp_histograms` — observed vs model time-dependent state histograms;
* :func:`policy_value` — a fitted value function against the sampled returns;
* :func:`dt_convergence` — the value error against the time step, log-log, with the fitted slope.
"""

from dynfer.pl._drift_stream import drift_stream
from dynfer.pl._entropy_production import entropy_map
from dynfer.pl._mjp import mjp_graph, mjp_histograms
from dynfer.pl._policy_evaluation import dt_convergence, policy_value
from dynfer.pl._schrodinger_bridge import bridge_parameters, schrodinger_bridge

__all__ = ["bridge_parameters", "drift_stream", "dt_convergence", "entropy_map", "mjp_graph", "mjp_histograms",
           "policy_value", "schrodinger_bridge"]
