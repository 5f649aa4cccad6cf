r"""Shared networks: MLPs, a sinusoidal time embedding and a local Transformer for particle systems.

Every estimator that learns a function (drifts, scores, value functions, encoders) builds it from these blocks and
trains it with :func:`dynfer.training.fit`. New parameters are created with ``settings.dtype`` on ``settings.device``
unless ``dtype``/``device`` are given. One module per idea, all re-exported here:

* :mod:`.activations`: the activation names (:data:`ACTIVATIONS`) and how a specification is resolved;
* :mod:`.mlp`: :class:`MLP` and :class:`TimeConditionedMLP`;
* :mod:`.embeddings`: :class:`SinusoidalTimeEmbedding`;
* :mod:`.neighbours`: :func:`knn_minimum_image`, the nearest neighbours of particles under the minimum image, and
  :func:`minimum_image`;
* :mod:`.local_transformer`: :class:`LocalTransformerScore`, per-particle outputs from each particle's nearest
  neighbours (permutation-equivariant, transfers across particle numbers);
* :mod:`.checks`: the argument checks they share.

References
----------
Vaswani, A. et al. (2017). Attention is all you need. *NeurIPS* 30 (sinusoidal position encoding).
Ho, J., Jain, A. & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS* 33 (its use for time).
Elfwing, S., Uchibe, E. & Doya, K. (2018). Sigmoid-weighted linear units for neural network function approximation
in reinforcement learning. *Neural Networks* 107, 3-11 (SiLU).
Boffi, N. M. & Vanden-Eijnden, E. (2024). Deep learning probability flows and entropy production rates in active
matter. *PNAS* 121 (25), e2318106121 (the local Transformer).
"""

from dynfer.nn.activations import ACTIVATIONS, ActivationLike
from dynfer.nn.embeddings import SinusoidalTimeEmbedding
from dynfer.nn.local_transformer import LocalTransformerScore
from dynfer.nn.mlp import MLP, TimeConditionedMLP
from dynfer.nn.neighbours import knn_minimum_image, minimum_image

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "ActivationLike",
    "LocalTransformerScore",
    "SinusoidalTimeEmbedding",
    "TimeConditionedMLP",
    "knn_minimum_image",
    "minimum_image",
]
