r"""``FoundationMJP``: zero-shot inference of Markov jump processes with a network pretrained on a synthetic prior.

A context of :math:`K` discretely observed paths becomes its transition statistics (:mod:`.statistics`, time in
units of the median lag :math:`\tau`), the network (:mod:`.network`) maps them to a Gaussian on every log-rate and
a link-presence probability :math:`\pi_{ij}`, and the rate estimate is

.. math:: \hat q_{ij} = \pi_{ij}\, e^{\mu_{ij}} / \tau, \qquad
          \operatorname{sd}(\log q_{ij}) = \sigma_{ij}, \qquad \hat q_{ii} = -\sum_{j \ne i} \hat q_{ij},

with the initial law from its own head. There is no training at inference, and the cost is one pass over the
observations plus a network of fixed size, whatever the number of paths (Berghaus et al., NeurIPS 2024, amortised
the same inference with a transformer over paths; this encoder reads the pair statistics that are sufficient
without label noise, pooled per from-state, plus triples for noise).

References
----------
Berghaus, D., Cvejoski, K., Seifner, P., Ojeda, C. & Sánchez, R. J. (2024). Foundation inference models for Markov
jump processes. *NeurIPS* 37. arXiv:2406.06419.
Kalbfleisch, J. D. & Lawless, J. F. (1985). The analysis of panel data under a Markov assumption. *J. Am. Stat.
Assoc.* 80, 863-871.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer.estimators._base import Estimator
from dynfer.estimators.mjp._paths import check_paths
from dynfer.estimators.mjp.foundation.network import FoundationNetwork
from dynfer.estimators.mjp.foundation.statistics import MAX_STATES, context_statistics
from dynfer.estimators.mjp.summaries import mjp_summary
from dynfer.processes.jumps import RateMatrix

__all__ = ["FoundationMJP", "OutsidePriorWarning"]

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "foundation_mjp.pt"
#: The support of a prior, for weights files that do not record theirs: the fastest rate per median lag
#: (10^0.5 jumps per gap) and the ratio of fastest to slowest rate (2.8 decades) it covers.
DEFAULT_SUPPORT = {"max_rate_per_lag": 10.0**0.5, "max_rate_ratio": 10.0**2.8}

_NETWORKS: dict[str, tuple[FoundationNetwork, str, dict[str, float]]] = {}


class OutsidePriorWarning(UserWarning):
    """The data lie outside the synthetic prior the foundation model was trained on; its answer is extrapolated."""


def _support(prior: dict | None) -> dict[str, float]:
    """The rates a prior covers (:data:`DEFAULT_SUPPORT` when the weights do not record their prior)."""
    if not prior:
        return dict(DEFAULT_SUPPORT)
    return {"max_rate_per_lag": 10.0 ** float(prior["log10_fastest_rate"][1]),
            "max_rate_ratio": 10.0 ** float(prior["window_decades"][1])}


def _load_network(weights: str | Path) -> tuple[FoundationNetwork, str, dict[str, float]]:
    path = DEFAULT_WEIGHTS if str(weights) == "default" else Path(weights)
    key = str(path.resolve()) if path.exists() else str(path)
    if key in _NETWORKS:
        return _NETWORKS[key]
    if not path.is_file():
        raise BadInputError(f"weights: no file {path}; pass 'default' (the shipped model) or a file written by "
                            "dynfer.estimators.mjp.foundation.train")
    raw = path.read_bytes()
    try:
        blob = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file is the same user error
        raise BadInputError(f"weights: {path} is not a readable torch file ({err})") from None
    if not isinstance(blob, dict) or blob.get("format") != "dynfer.foundation_mjp":
        raise BadInputError(f"weights: {path} is not a dynfer foundation-MJP weights file")
    net = FoundationNetwork(**blob["network"])
    net.load_state_dict(blob["state_dict"])
    net.eval()
    _NETWORKS[key] = (net, hashlib.sha256(raw).hexdigest(), _support(blob.get("prior")))
    return _NETWORKS[key]


class FoundationMJP(Estimator):
    r"""Zero-shot rate matrices, their uncertainty, link probabilities and the initial law from jump paths.

    Parameters
    ----------
    weights
        ``"default"``: the weights shipped with dynfer (trained by
        :mod:`dynfer.estimators.mjp.foundation.train`; config and log beside them); or a path to such a file.
    n_states
        Number of states :math:`n` (default: largest label + 1). States never observed get a warning.
    device
        Device of the network (default ``settings.device``; never stored).
    dtype
        Floating dtype of the network pass.

    Attributes
    ----------
    n_states_ : int
    rate_matrix_ : numpy.ndarray
        ``(n, n)`` rows = from, diagonal = minus the row sum, in the unit of the input times.
    log_rate_mean_, log_rate_std_ : numpy.ndarray
        ``(n, n)`` mean and standard deviation of each log-rate given the link is present (diagonal 0).
    rate_std_ : numpy.ndarray
        ``rate_matrix_ * log_rate_std_`` (delta method).
    link_probability_ : numpy.ndarray
        ``(n, n)`` probability that each link is present (diagonal 0).
    initial_distribution_ : numpy.ndarray
        ``(n,)`` the law of the first observed state.
    time_scale_ : float
        The time unit :math:`\tau` the network read the data in (median lag).
    warnings_ : list of str
        Why the data lie outside the prior, if they do.
    weights_sha256_ : str
        Digest of the weights that made the answer.

    Examples
    --------
    >>> from dynfer.datasets import flashing_ratchet_paths
    >>> from dynfer.estimators.mjp import FoundationMJP, check_paths
    >>> a = flashing_ratchet_paths(n_paths=300, seed=0)
    >>> s = a.obs["state"].to_numpy().reshape(300, 100); t = a.obs["time"].to_numpy().reshape(300, 100)
    >>> FoundationMJP.pretrained().fit(s, t).rate_matrix_.shape
    (6, 6)
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "n_states_", "rate_matrix_", "log_rate_mean_", "log_rate_std_", "rate_std_", "link_probability_",
        "initial_distribution_", "time_scale_", "warnings_", "weights_sha256_", "dtype_",
    )
    face: ClassVar[str] = "dynfer.tl.mjp"

    def __init__(self, weights: str = "default", n_states: int | None = None, device: Any = None,
                 dtype: torch.dtype = torch.float32) -> None:
        self.weights = weights
        self.n_states = n_states
        self.device = device
        self.dtype = dtype

    @classmethod
    def pretrained(cls, **params: Any) -> FoundationMJP:
        """The model with the weights shipped in dynfer (``weights="default"``); other parameters as given."""
        params.setdefault("weights", "default")
        return cls(**params)

    # ------------------------------------------------------------------ fit
    def fit(self, states: Any, times: Any, lengths: Any = None) -> FoundationMJP:
        """Infer the generator of the paths ``states`` observed at ``times`` (no training: one network pass).

        Parameters
        ----------
        states
            Integer states ``(P, L)``, one path ``(L,)`` or a list of 1-D paths of any lengths.
        times
            Observation times of the same shape (or shared ``(L,)``), non-decreasing along each path.
        lengths
            Valid observations per path (the rest is padding).

        Returns
        -------
        FoundationMJP
            ``self``, fitted.
        """
        if not isinstance(self.weights, str | Path):
            raise BadInputError(f"weights must be 'default' or a file path, got {type(self.weights).__name__}")
        paths = check_paths(states, times, lengths, n_states=self.n_states, where="FoundationMJP.fit")
        dtype = self._resolve_dtype()
        dev = self._resolve_device()
        net, digest, support = _load_network(self.weights)
        max_ratio, max_per_lag = support["max_rate_ratio"], support["max_rate_per_lag"]
        n = paths.n_states
        notes: list[str] = []
        if n > MAX_STATES:
            notes.append(f"{n} states: the prior has at most {MAX_STATES}")
        m = max(n, MAX_STATES)
        st = torch.as_tensor(paths.states, device=dev)
        stats = context_statistics(st, torch.as_tensor(paths.times, device=dev),
                                   torch.as_tensor(paths.lengths, device=dev),
                                   torch.zeros(paths.n_paths, dtype=torch.long, device=dev), 1,
                                   torch.tensor([n], device=dev), n_max=m)
        net = net.to(device=dev, dtype=dtype)
        with torch.no_grad():
            out = net(stats.pairs.to(dtype), stats.triples.to(dtype), stats.first.to(dtype), stats.n_states)
        tau = float(stats.time_unit[0])
        off = ~np.eye(n, dtype=bool)
        mean = out["log_rate_mean"][0, :n, :n].double().cpu().numpy() - np.log(tau)
        std = out["log_rate_std"][0, :n, :n].double().cpu().numpy()
        prob = torch.sigmoid(out["link_logit"][0, :n, :n]).double().cpu().numpy()
        rates = np.where(off, prob * np.exp(mean), 0.0)
        q = rates - np.diag(rates.sum(1))
        init = torch.softmax(out["initial_logit"][0, :n].double(), -1).cpu().numpy()
        present = rates[off & (prob >= 0.5)]
        if present.size >= 2 and present.max() / present.min() > max_ratio:
            notes.append(f"rates spanning a ratio of {present.max() / present.min():.3g} (the prior covers "
                         f"{max_ratio:.0f})")
        if present.size and present.max() * tau > max_per_lag:
            notes.append(f"a grid coarse for the fastest rate ({present.max() * tau:.3g} jumps per median lag; the "
                         f"prior covers {max_per_lag:.2g})")
        for note in notes:
            warnings.warn(f"FoundationMJP: {note}; the answer is extrapolated beyond the training prior",
                          OutsidePriorWarning, stacklevel=2)
        self.n_states_ = n
        self.rate_matrix_ = q
        self.log_rate_mean_ = np.where(off, mean, 0.0)
        self.log_rate_std_ = np.where(off, std, 0.0)
        self.rate_std_ = np.where(off, rates * std, 0.0)
        self.link_probability_ = np.where(off, prob, 0.0)
        self.initial_distribution_ = init
        self.time_scale_ = tau
        self.warnings_ = notes
        self.weights_sha256_ = digest
        return self

    # ------------------------------------------------------------------ results
    def rate_model(self) -> RateMatrix:
        """The fitted generator as a :class:`~dynfer.processes.jumps.RateMatrix`."""
        self._check_fitted("rate_model")
        return RateMatrix(torch.as_tensor(self.rate_matrix_, dtype=torch.float64))

    def results(self) -> dict[str, Any]:
        """Rates and their uncertainty, derived quantities (:func:`~dynfer.estimators.mjp.mjp_summary`), links."""
        self._check_fitted("results")
        out = mjp_summary(self.rate_matrix_, self.initial_distribution_)
        out.update(rate_std=self.rate_std_, log_rate_std=self.log_rate_std_, log_rate_mean=self.log_rate_mean_,
                   link_probability=self.link_probability_, time_scale=self.time_scale_, method="foundation",
                   warnings=np.array(self.warnings_, dtype=str))
        return out

    def _get_state(self) -> dict[str, Any]:
        return {
            "n_states": self.n_states_, "rate_matrix": self.rate_matrix_, "log_rate_mean": self.log_rate_mean_,
            "log_rate_std": self.log_rate_std_, "link_probability": self.link_probability_,
            "initial_distribution": self.initial_distribution_, "time_scale": self.time_scale_,
            "warnings": "\n".join(self.warnings_), "weights_sha256": self.weights_sha256_,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self.n_states_ = int(state["n_states"])
        self.rate_matrix_ = np.asarray(state["rate_matrix"], dtype=np.float64)
        self.log_rate_mean_ = np.asarray(state["log_rate_mean"], dtype=np.float64)
        self.log_rate_std_ = np.asarray(state["log_rate_std"], dtype=np.float64)
        self.link_probability_ = np.asarray(state["link_probability"], dtype=np.float64)
        off = ~np.eye(self.n_states_, dtype=bool)
        self.rate_std_ = np.where(off, self.rate_matrix_ * self.log_rate_std_, 0.0)
        self.initial_distribution_ = np.asarray(state["initial_distribution"], dtype=np.float64)
        self.time_scale_ = float(state["time_scale"])
        self.warnings_ = [w for w in str(state["warnings"]).split("\n") if w]
        self.weights_sha256_ = str(state["weights_sha256"])
        self.dtype_ = self._resolve_dtype()
