"""Entropy production and probability currents from learned scores (Boffi & Vanden-Eijnden, PNAS 2024).

* :class:`ScoreEntropyProduction` (:mod:`.estimator`): the estimator on arrays;
* :mod:`.diffusion`: the diffusion matrix and its noisy block; :mod:`.drift_parts`: parity and irreversible drift;
* :mod:`.score_models`: MLP, local-transformer and Gaussian scores with the shift parametrisation;
* :mod:`.objectives`: denoising, exact and sliced score matching; :mod:`.quantities`: every per-sample term.
"""

from dynfer.estimators.entropy.diffusion import DiffusionSpec, resolve_diffusion
from dynfer.estimators.entropy.estimator import ScoreEntropyProduction

__all__ = ["DiffusionSpec", "ScoreEntropyProduction", "resolve_diffusion"]
