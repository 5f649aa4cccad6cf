"""The foundation model of Markov jump processes: prior, statistics, network, training and the estimator.

* :mod:`.prior` draws random MJPs, grids, label noise and contexts; :mod:`.shards` writes them to disk;
* :mod:`.statistics` turns a context into the fixed-size tensors the network reads;
* :mod:`.network` is the encoder and its heads; :mod:`.train` trains it and writes ``weights/``;
* :class:`FoundationMJP` (:mod:`.estimator`) infers rate matrices zero-shot with the shipped weights.
"""

from dynfer.estimators.mjp.foundation.estimator import FoundationMJP, OutsidePriorWarning

__all__ = ["FoundationMJP", "OutsidePriorWarning"]
