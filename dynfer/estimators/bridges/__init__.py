r"""Multi-marginal Schrödinger bridges with iterative reference refinement (Shen, Berlinghieri & Broderick, 2025).

Building blocks, assembled by the estimator class:

* :mod:`.references`, :mod:`.reference_nets` — reference drift families :math:`f_\theta`;
* :mod:`.drift_fit` — the θ-step: refit :math:`\theta` by the Euler pseudo-likelihood of bridge paths;
* :mod:`.coupling`, :mod:`.stitching` — the fast P-step: entropic OT with the reference's transition cost, then
  bridge paths glued across intervals;
* :mod:`.ipf` — the paper's simulation-based iterative proportional fitting P-step.
"""

from dynfer.estimators.bridges.estimator import SchrodingerBridge

__all__ = ["SchrodingerBridge"]
