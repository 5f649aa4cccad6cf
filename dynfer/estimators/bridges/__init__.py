r"""Multi-marginal Schrödinger bridges with iterative reference refinement (Shen, Berlinghieri & Broderick, 2025).

Building blocks, assembled by the estimator class:

* :mod:`.references`, :mod:`.reference_nets` — reference drift families :math:`f_\theta` (parametric and networks),
  on the base class of :mod:`.reference_base`, registered by name in :mod:`.families`;
* :mod:`.drift_fit` — the θ-step: refit :math:`\theta` by the Euler pseudo-likelihood of bridge paths;
* :mod:`.coupling`, :mod:`.stitching` — the fast P-step: entropic OT with the reference's transition cost, then
  bridge paths glued across intervals;
* :mod:`.ipf` — the paper's simulation-based iterative proportional fitting P-step.
"""

from dynfer.estimators.bridges.estimator import SchrodingerBridge
from dynfer.estimators.bridges.families import family_names, get_family, register_family

# importing references registers the parametric families in the table of .families (see its docstring)
from dynfer.estimators.bridges.references import ReferenceDrift, as_reference, make_reference

__all__ = [
    "ReferenceDrift",
    "SchrodingerBridge",
    "as_reference",
    "family_names",
    "get_family",
    "make_reference",
    "register_family",
]
