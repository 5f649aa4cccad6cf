r"""``tl.mjp``: the AnnData face of the Markov-jump-process estimators (maximum likelihood and the foundation model).

Input is the discrete-states data model (:mod:`dynfer._keys`): ``obs['state']`` (int), ``obs['time']`` and
``obs['trajectory']``, as :func:`dynfer.pp.idealize` writes for ion channels and the jump-process generators of
:mod:`dynfer.datasets` do. The fitted estimator is stored with :func:`dynfer.tl.store_estimator`; its results (rate
matrix, standard errors, stationary law, time scales, MFPTs, entropy production, ...) are also written at the top
level of ``uns[key_added]`` for direct reading.
"""

from __future__ import annotations

import warnings
from typing import Any

from anndata import AnnData

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.estimators._base import Estimator, check_param_names
from dynfer.estimators.mjp import FoundationMJP, MJPMaximumLikelihood, paths_from_adata
from dynfer.tl._inputs import as_actual
from dynfer.tl._store import results_to_top_level, store_estimator

__all__ = ["mjp"]

DEFAULT_KEY = "mjp"
FACE = "dynfer.tl.mjp"
METHODS: dict[str, type[Estimator]] = {"foundation": FoundationMJP, "mle": MJPMaximumLikelihood}

def estimator_class(method: Any) -> type[Estimator]:
    """The estimator class of ``method`` (``"mle"`` or ``"foundation"``).

    Parameters
    ----------
    method
        ``"foundation"`` (:class:`~dynfer.estimators.mjp.foundation.FoundationMJP`) or ``"mle"``
        (:class:`~dynfer.estimators.mjp.MJPMaximumLikelihood`).

    Returns
    -------
    type
        The estimator class.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise BadInputError("method", repr(method), " or ".join(repr(m) for m in METHODS))
    return METHODS[method]


def _check_key(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInputError(name, repr(value), "the name of a column of adata.obs (a non-empty string)")
    return value


def mjp(
    adata: AnnData,
    *,
    method: str = "foundation",
    state_key: str = K.STATE,
    time_key: str = K.TIME,
    trajectory_key: str = K.TRAJECTORY,
    n_states: int | None = None,
    key_added: str = DEFAULT_KEY,
    copy: bool = False,
    **params: Any,
) -> AnnData | None:
    r"""Infer the rate matrix of a Markov jump process from discretely observed state paths.

    The paths are continuous-time Markov chains on :math:`n` states with generator :math:`Q` (rows = from,
    :math:`q_{ij} \ge 0` for :math:`i \ne j`, :math:`q_{ii} = -\sum_{j \ne i} q_{ij}`), observed at per-path times
    :math:`t_0 < t_1 < \dots` (irregular grids and lengths allowed). Without label noise their likelihood
    factorises over consecutive observations (Kalbfleisch & Lawless 1985):

    .. math:: L(Q, p_0) = \prod_{\text{paths}} p_0(s_0) \prod_i \big[e^{Q\,\Delta t_i}\big]_{s_i s_{i+1}},
              \qquad \Delta t_i = t_{i+1} - t_i .

    * ``method="mle"`` (:class:`~dynfer.estimators.mjp.MJPMaximumLikelihood`) maximises :math:`\log L` over the
      log-rates :math:`z_{ij} = \log q_{ij}` (L-BFGS, one matrix exponential per distinct :math:`\Delta t`,
      started at :math:`\hat P / \Delta t`), with optional structural zeros and symmetric label noise (the marginal
      likelihood of the hidden-state model); standard errors of :math:`z_{ij}` come from the observed information
      :math:`-\nabla^2_z \log L`, and the fit says plainly when the optimum was not reached.
    * ``method="foundation"`` (:class:`~dynfer.estimators.mjp.foundation.FoundationMJP`, after Berghaus et al. 2024)
      is zero-shot amortised inference: one network, trained once on MJPs drawn from a wide prior, maps the multiset
      of transitions :math:`(s_i, s_{i+1}, \Delta t_i)` (pooled per from-state) straight to a posterior mean and
      standard deviation of each :math:`\log q_{ij}`, a link probability and the initial law; no optimisation runs
      at inference.

    Both report the 95 % interval :math:`\exp(\log\hat q_{ij} \pm 1.96\,\mathrm{sd}_{ij})` and the derived
    quantities of :func:`~dynfer.estimators.mjp.summaries.mjp_summary`: stationary law :math:`\pi Q = 0`, time scales
    :math:`1/|\mathrm{Re}\,\lambda_k|`, mean first-passage times and the Schnakenberg entropy production
    :math:`\sigma = \tfrac12 \sum_{i \ne j} (\pi_i q_{ij} - \pi_j q_{ji}) \ln \frac{\pi_i q_{ij}}{\pi_j q_{ji}}`.

    Parameters
    ----------
    adata
        States data: one row per observation, ``obs[state_key]`` integer labels ``0 .. n-1``, ``obs[time_key]`` the
        observation time, ``obs[trajectory_key]`` the path (rows are grouped by it and put in time order; without
        the column all rows are one path). A view is made actual first.
    method
        ``"foundation"`` (default; zero-shot) or ``"mle"`` (maximum likelihood).
    state_key, time_key, trajectory_key
        Columns of ``obs``.
    n_states
        Number of states (default: largest label + 1; a label in between that is never observed is an error unless
        ``n_states`` is given).
    key_added
        The fitted estimator goes to ``uns[key_added]``.
    copy
        Return a modified copy instead of writing into ``adata``.
    **params
        Parameters of the estimator: for ``"mle"`` ``label_noise`` (a known flip rate in ``[0, 1)`` or ``"fit"``),
        ``adjacency`` (allowed links), ``max_iter``, ``tol``, ``standard_errors``, ``dtype``, ``device``; for
        ``"foundation"`` those of :meth:`FoundationMJP.pretrained <dynfer.estimators.mjp.foundation.FoundationMJP>`
        (``weights``, ``device``, ``dtype``). All are stored.

    Returns
    -------
    AnnData or None
        A copy when ``copy=True``, else ``None``. ``uns[key_added]`` holds the stored estimator (``params``,
        ``state``, ``results``, ``inputs``: see :func:`dynfer.tl.store_estimator`; rebuild it with
        ``dynfer.tl.load_estimator(adata, key_added)``) and, at its top level, the results: ``rate_matrix``
        ``(n, n)``, ``rate_std``, ``log_rate_std``, ``initial_distribution``, ``stationary_distribution``,
        ``timescales``, ``relaxation_time``, ``mfpt`` ``(n, n)``, ``entropy_production``, ``method`` and the
        method's extras (MLE: ``log_likelihood``, ``converged``, ``n_iter``, ...; foundation: ``link_probability``,
        ``log_rate_mean``, ``warnings``). Nothing is written if the fit fails.

    Raises
    ------
    BadInputError
        An unknown ``method`` or parameter, a missing ``obs`` column (named), labels that are not integers in
        ``0 .. n-1``, unsorted or non-finite times, no transition at all.

    References
    ----------
    Kalbfleisch, J. D. & Lawless, J. F. (1985). The analysis of panel data under a Markov assumption. *J. Am. Stat.
    Assoc.* 80, 863-871.
    Berghaus, D., Cvejoski, K., Seifner, P., Ojeda, C. & Sánchez, R. J. (2024). Foundation inference models for
    Markov jump processes. *NeurIPS* 37 (arXiv:2406.06419).

    Examples
    --------
    >>> import dynfer
    >>> adata = dynfer.datasets.flashing_ratchet_paths(n_paths=300, seed=0)
    >>> dynfer.tl.mjp(adata, method="mle")                               # doctest: +SKIP
    >>> adata.uns["mjp"]["rate_matrix"].shape                            # doctest: +SKIP
    (6, 6)
    """
    if not isinstance(adata, AnnData):
        raise BadInputError("adata", f"a {type(adata).__name__}", "an AnnData")
    cls = estimator_class(method)
    check_param_names(cls, params, FACE)
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise BadInputError("key_added", repr(key_added), "a non-empty string without '/'")
    state_key = _check_key(state_key, "state_key")
    time_key = _check_key(time_key, "time_key")
    trajectory_key = _check_key(trajectory_key, "trajectory_key")
    paths = paths_from_adata(adata, state_key=state_key, time_key=time_key, trajectory_key=trajectory_key,
                             n_states=n_states)
    with warnings.catch_warnings():
        # paths_from_adata has already warned (naming the obs column) about anything the fit would warn about again
        warnings.filterwarnings("ignore", message=".*never observed.*", category=UserWarning)
        est = cls(n_states=n_states, **params).fit(paths.states, paths.times, paths.lengths)

    out = adata.copy() if copy else adata
    as_actual(out)
    obs_keys = tuple(k for k in (state_key, time_key, trajectory_key) if k in out.obs)
    # use_rep="": the fit reads no representation, only the obs columns (which the fingerprint covers)
    store_estimator(out, est, key_added=key_added, use_rep="", obs_keys=obs_keys)
    results_to_top_level(out.uns[key_added])
    return out if copy else None
