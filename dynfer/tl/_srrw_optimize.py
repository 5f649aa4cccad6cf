r"""``tl.srrw_optimize``: SA-SRRW distributed stochastic optimisation on a graph of agents, as plain data.

The data are arrays sharded across the nodes of a graph (not an AnnData), so this face returns a dict: the
:meth:`SelfRepellentSGD.results <dynfer.estimators.srrw.SelfRepellentSGD.results>` of a fit.
"""

from __future__ import annotations

from typing import Any

from dynfer.estimators._base import check_param_names
from dynfer.estimators.srrw.estimator import SelfRepellentSGD

__all__ = ["srrw_optimize"]


def srrw_optimize(
    graph: Any,
    X: Any,
    y: Any,
    *,
    node_of: Any = None,
    loss: Any = "least_squares",
    alpha: float = 10.0,
    base: Any = "mhrw",
    n_steps: int = 100_000,
    n_runs: int = 100,
    seed: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    r"""Minimise :math:`f = \sum_i w_i f_i` over data sharded on a graph with tokens on a self-repellent walk.

    Each of ``n_runs`` independent tokens walks the agents with the SRRW kernel
    :math:`K_{ij}[x] \propto P_{ij}(x_j/\pi_j)^{-\alpha}` and updates (Hu, Doshi, Eun, ICLR 2024)

    .. math::

        x_{n+1} = x_n + \beta_{n+1}(\delta_{X_{n+1}} - x_n), \qquad
        \theta_{n+1} = \theta_n - \gamma_{n+1}\,\frac{w_{X_{n+1}}}{\pi_{X_{n+1}}}\,\nabla f_{X_{n+1}}(\theta_n),

    with :math:`\gamma_n = c\,(n+1)^{-a}` and :math:`\beta_n = (n+1)^{-b}`. See
    :class:`~dynfer.estimators.srrw.SelfRepellentSGD` for the objective (``weighting``), the bases and the outputs.

    Parameters
    ----------
    graph : networkx.Graph or array-like
        Connected, undirected, simple graph of the agents (or its adjacency matrix).
    X, y : array-like
        Rows ``(n_rows, p)`` and responses or 0/1 labels ``(n_rows,)``.
    node_of : array-like of shape (n_rows,) or None
        Node label of each row (``None``: contiguous even blocks).
    loss : {"least_squares", "logistic"} or callable
        Local loss, or ``grad(theta (R, p), node (R,)) -> (R, p)``.
    alpha : float
        Self-repellence :math:`\alpha \ge 0`.
    base : {"mhrw", "srw", "nbrw", "iid"} or array-like
        Base chain (or its stochastic matrix).
    n_steps, n_runs : int
        Steps per run and number of independent runs.
    seed : int, torch.Generator or None
        Randomness (``None``: ``settings.seed``).
    **kwargs
        Other :class:`~dynfer.estimators.srrw.SelfRepellentSGD` parameters (``l2``, ``target``, ``weighting``,
        ``theta_exponent``, ``theta_scale``, ``measure_exponent``, ``record``, ``theta0``, ``device``, ``dtype``).

    Returns
    -------
    dict
        ``theta`` ``(n_runs, p)``, ``steps``, ``mse``, ``mse_sem``, ``theta_star``, ``tvd``, ``covariance``,
        ``regime``, ``gamma_final``, ``throughput`` and ``settings``.

    Raises
    ------
    BadInputError
        A disconnected graph, ``alpha < 0``, a node without data, exponents outside :math:`(0.5, 1]`,
        ``n_steps < 1``, mismatched ``X``/``y``, NaN, an unknown keyword (naming this function).

    Examples
    --------
    >>> import networkx as nx, numpy as np, dynfer
    >>> X = np.random.default_rng(0).normal(size=(68, 3)); y = X.sum(1)
    >>> out = dynfer.tl.srrw_optimize(nx.karate_club_graph(), X, y, n_steps=500, n_runs=4, seed=0)  # doctest: +SKIP
    >>> out["theta"].shape                                                                          # doctest: +SKIP
    (4, 3)
    """
    check_param_names(SelfRepellentSGD, kwargs, "dynfer.tl.srrw_optimize")
    est = SelfRepellentSGD(alpha, base=base, loss=loss, n_steps=n_steps, n_runs=n_runs, seed=seed, **kwargs)
    return est.fit(graph, X, y, node_of=node_of).results()
