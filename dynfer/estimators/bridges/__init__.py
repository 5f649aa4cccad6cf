"""Multi-marginal Schrödinger bridges with iterative reference refinement (Shen, Berlinghieri & Broderick, 2025).

Building blocks, assembled by the estimator class:

* :mod:`.references` — reference drift families :math:`f_\\theta` and the Euler pseudo-likelihood refit (θ-step);
* :mod:`.coupling` — the fast P-step: entropic OT with the reference's transition cost, then bridge paths;
* :mod:`.ipf` — the paper's simulation-based iterative proportional fitting P-step.
"""
