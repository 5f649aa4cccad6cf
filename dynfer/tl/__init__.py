"""Tools on AnnData, scanpy style: thin faces over the array-level estimators.

* :func:`schrodinger_bridge` — multi-marginal Schrödinger bridge with iterative reference refinement;
* :func:`interpolate` — particles of a fitted bridge at any time.
"""

from dynfer.tl._schrodinger_bridge import interpolate, schrodinger_bridge

__all__ = ["interpolate", "schrodinger_bridge"]
