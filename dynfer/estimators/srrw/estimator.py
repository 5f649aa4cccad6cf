r"""SA-SRRW: stochastic optimisation by a token that walks the agents with a self-repellent random walk.

A token walks a connected graph of agents; agent :math:`i` holds a shard of the data and its local loss :math:`f_i`.
With the walk :math:`X_n`, its empirical measure :math:`x_n` and the iterate :math:`\theta_n` (Hu, Doshi, Eun, ICLR
2024, alg. 1):

.. math::

    X_{n+1} \sim K_{X_n,\cdot}[x_n], \qquad
    x_{n+1} = x_n + \beta_{n+1}(\delta_{X_{n+1}} - x_n), \qquad
    \theta_{n+1} = \theta_n + \gamma_{n+1} H(\theta_n, X_{n+1}),

with :math:`K_{ij}[x] \propto P_{ij}(x_j/\pi_j)^{-\alpha}` on :math:`j \in N(i) \cup \{i\}` (Doshi, Hu, Eun, ICML
2023), :math:`H(\theta, i) = -(w_i/\pi_i)\nabla f_i(\theta)`, :math:`\gamma_n = c\,(n+1)^{-a}`,
:math:`\beta_n = (n+1)^{-b}`, :math:`a, b \in (0.5, 1]`, :math:`x_0 = \mathbf 1/N` and :math:`X_0 \sim \pi`.

References
----------
- J. Hu, V. Doshi, D. Y. Eun, "Accelerating distributed stochastic optimization via self-repellent random walks",
  ICLR 2024, arXiv:2401.09665.
- V. Doshi, J. Hu, D. Y. Eun, "Self-repellent random walks on general graphs — achieving minimal sampling variance
  via nonlinear Markov chains", ICML 2023, arXiv:2305.05097.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._validation import check_work
from dynfer.estimators._base import Estimator, NotFittedError
from dynfer.estimators.srrw.engine import make_drift, simulate
from dynfer.estimators.srrw.objectives import ShardedObjective
from dynfer.estimators.srrw.sampler import _nx_graph, make_sampler
from dynfer.estimators.srrw.steps import StepSchedule
from dynfer.estimators.srrw.streams import stream_keys
from dynfer.processes.walks.graphs import graph_adjacency

__all__ = ["SelfRepellentSGD", "record_steps"]


def record_steps(record: Any, n_steps: int) -> np.ndarray:
    """The recorded step indices: ``record`` log-spaced steps in ``[1, n_steps]`` (an int), or the given ones.

    Always sorted, unique, within ``[1, n_steps]`` and ending at ``n_steps``.
    """
    if isinstance(record, (int, np.integer)) and not isinstance(record, (bool, np.bool_)):
        if record < 1:
            raise BadInputError("record", repr(record), "a number of log-spaced steps >= 1, or a list of steps")
        grid = np.unique(np.round(np.logspace(0, np.log10(n_steps), int(record))).astype(np.int64))
        return np.unique(np.r_[grid[(grid >= 1) & (grid <= n_steps)], n_steps])
    try:
        arr = np.asarray(record)
    except (TypeError, ValueError):
        arr = np.asarray([])
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise BadInputError("record", repr(record), "a number of log-spaced steps >= 1, or a list of integer steps")
    if arr.min() < 1 or arr.max() > n_steps:
        raise BadInputError("record", f"steps in [{arr.min()}, {arr.max()}]", f"steps in [1, n_steps={n_steps}]")
    return np.unique(np.r_[arr.astype(np.int64), n_steps])


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise BadInputError(name, repr(value), "an integer >= 1")
    return int(value)


class SelfRepellentSGD(Estimator):
    r"""SA-SRRW distributed stochastic optimisation (Hu, Doshi, Eun, ICLR 2024): many independent token runs at once.

    **Which objective.** :math:`f(\theta) = \sum_i w_i f_i(\theta)` where :math:`f_i` is the mean loss of node
    :math:`i`'s rows plus :math:`\tfrac\lambda2\lVert\theta\rVert^2`. With ``weighting="node"`` (default)
    :math:`w = \mu`, the ``target`` (uniform when ``None``): every node's mean loss, weighted by the target, whatever
    its shard size. With ``weighting="row"``, :math:`w_i = |R_i|/n`: every row counts equally (the pooled
    empirical risk). They differ when shards have unequal sizes. See
    :class:`~dynfer.estimators.srrw.objectives.ShardedObjective`.

    **The walk.** ``base="mhrw"`` walks the Metropolis–Hastings chain to :math:`w` (no reweighting); ``"srw"`` and
    ``"nbrw"`` visit nodes :math:`\propto d_i` and reweight the gradient by :math:`w_i/\pi_i` (for a uniform
    :math:`w`, :math:`\propto 1/d_i`); ``"iid"`` draws the agents independently from :math:`w` (the ideal floor);
    a matrix is a reversible base chain on the graph. The self-repellent kernel applies with ``alpha > 0`` to
    ``"mhrw"``, ``"srw"`` and matrices; ``"nbrw"`` and ``"iid"`` need ``alpha=0``.

    **Outputs.** Run :math:`r` uses its own counter-based random stream (seed, r), so run :math:`r` with the same
    seed sees the same uniforms under every ``alpha`` and base (a common-random-numbers comparison), and equals the
    distributed simulation (:mod:`dynfer.estimators.srrw.distributed`). The mean-square error
    :math:`\mathbb E\lVert\theta_n - \theta^*\rVert^2` is averaged over the runs at log-spaced steps, and the
    asymptotic covariance is estimated by the second moment about :math:`\theta^*` of
    :math:`(\theta_n - \theta^*)/\sqrt{\gamma_n}` across runs at the last step (so its trace is ``mse_[-1] /
    gamma_n``).

    Parameters
    ----------
    alpha : float
        Self-repellence :math:`\alpha \ge 0` (0: the base chain).
    base : {"mhrw", "srw", "nbrw", "iid"} or array-like
        Base chain (see above).
    loss : {"least_squares", "logistic"} or callable
        Local loss (a callable ``grad(theta (R, p), node (R,)) -> (R, p)`` gives :math:`\nabla f_{\rm node}`; it
        cannot be written by :meth:`save`: pass it again as ``loss=`` to :meth:`from_state` or :meth:`load`).
    l2 : float
        :math:`\lambda \ge 0`.
    target : array-like of shape (N,) or None
        Node weights :math:`\mu` (``None``: uniform).
    weighting : {"node", "row"}
        Which objective (above).
    theta_exponent, theta_scale, measure_exponent : float
        :math:`a \in (0.5, 1]`, :math:`c > 0`, :math:`b \in (0.5, 1]`.
    n_steps, n_runs : int
        Steps per run and independent runs (tokens, simulated as one batch).
    record : int or list of int
        Number of log-spaced steps at which the error is recorded (default 50), or the steps themselves; the last
        step is always recorded.
    theta0 : array-like of shape (p,) or (n_runs, p), or None
        Start :math:`\theta_0` (``None``: zeros).
    seed, device, dtype
        See :class:`~dynfer.estimators.Estimator`.

    Attributes
    ----------
    theta_ : numpy.ndarray
        ``(n_runs, p)`` final iterates :math:`\theta_n`.
    theta_star_ : numpy.ndarray
        ``(p,)`` the exact minimiser.
    steps_ : numpy.ndarray
        Recorded step indices.
    mse_ : numpy.ndarray
        :math:`\mathbb E\lVert\theta_n - \theta^*\rVert^2` over the runs at ``steps_``.
    errors_ : numpy.ndarray
        ``(len(steps_), n_runs)`` per-run squared errors (for run-to-run spreads).
    tvd_ : numpy.ndarray
        Mean over the runs of :math:`\tfrac12\lVert x_n - \pi\rVert_1` at ``steps_``.
    x_ : numpy.ndarray
        ``(n_runs, N)`` final empirical measures :math:`x_n`.
    stationary_ : numpy.ndarray
        ``(N,)`` the walk's visit law :math:`\pi`.
    importance_ : numpy.ndarray
        ``(N,)`` gradient weights :math:`w_i/\pi_i`.
    covariance_ : numpy.ndarray
        ``(p, p)`` second moment of :math:`(\theta_n - \theta^*)/\sqrt{\gamma_n}` over the runs.
    regime_ : str
        ``"gamma=o(beta)"`` (:math:`a > b`), ``"gamma~beta"`` or ``"beta=o(gamma)"``.
    throughput_ : float
        Token-steps per second of the simulation loop (walk, measure and iterate updates).
    seed_, dtype_
        Resolved seed and dtype.

    Examples
    --------
    >>> import networkx as nx, numpy as np
    >>> from dynfer.estimators.srrw import SelfRepellentSGD
    >>> g = nx.karate_club_graph()
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(340, 5)); y = X @ np.ones(5) + rng.normal(size=340)
    >>> est = SelfRepellentSGD(alpha=10.0, n_steps=2000, n_runs=8, seed=0).fit(g, X, y)
    >>> est.theta_.shape
    (8, 5)
    """

    fitted_attributes: ClassVar[tuple[str, ...]] = (
        "theta_", "theta_star_", "steps_", "mse_", "errors_", "tvd_", "x_", "stationary_", "importance_",
        "covariance_", "regime_", "throughput_", "seed_", "dtype_",
    )
    face: ClassVar[str] = "dynfer.tl.srrw_optimize"

    def __init__(
        self,
        alpha: float = 10.0,
        *,
        base: Any = "mhrw",
        loss: Any = "least_squares",
        l2: float = 0.0,
        target: Any = None,
        weighting: str = "node",
        theta_exponent: float = 0.9,
        theta_scale: float = 1.0,
        measure_exponent: float = 0.8,
        n_steps: int = 100_000,
        n_runs: int = 100,
        record: Any = 50,
        theta0: Any = None,
        seed: int | torch.Generator | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        self.alpha = alpha
        self.base = base
        self.loss = loss
        self.l2 = l2
        self.target = target
        self.weighting = weighting
        self.theta_exponent = theta_exponent
        self.theta_scale = theta_scale
        self.measure_exponent = measure_exponent
        self.n_steps = n_steps
        self.n_runs = n_runs
        self.record = record
        self.theta0 = theta0
        self.seed = seed
        self.device = device
        self.dtype = dtype

    # ------------------------------------------------------------------ pieces shared with the distributed run
    def schedule(self) -> StepSchedule:
        """The validated step sizes (:class:`~dynfer.estimators.srrw.steps.StepSchedule`)."""
        return StepSchedule.checked(self.theta_exponent, self.theta_scale, self.measure_exponent)

    def objective(self, graph: Any, X: Any, y: Any, node_of: Any = None) -> ShardedObjective:
        """The :class:`ShardedObjective` that :meth:`fit` minimises on ``graph`` (node labels in graph order)."""
        nodes = graph_adjacency(_nx_graph(graph)).nodes
        return ShardedObjective(X, y, graph_nodes=nodes, node_of=node_of, loss=self.loss, l2=self.l2,
                                target=self.target, weighting=self.weighting)

    def initial_theta(self, p: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        r""":math:`\theta_0` as an ``(n_runs, p)`` tensor."""
        r = _check_count(self.n_runs, "n_runs")
        if self.theta0 is None:
            return torch.zeros(r, p, dtype=dtype, device=device)
        t0 = self.theta0.detach().cpu().numpy() if isinstance(self.theta0, torch.Tensor) else self.theta0
        try:
            arr = np.asarray(t0, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInputError("theta0", repr(self.theta0),
                                f"None or an array of shape ({p},) or ({r}, {p})") from None
        if arr.shape not in ((p,), (r, p)):
            raise BadInputError("theta0", f"shape {arr.shape}", f"({p},) or (n_runs, p) = ({r}, {p})")
        if not np.all(np.isfinite(arr)):
            raise BadInputError("theta0", "NaN or infinite values", "finite numbers")
        return torch.as_tensor(np.broadcast_to(arr, (r, p)).copy(), dtype=dtype, device=device)

    # ------------------------------------------------------------------ fit
    def fit(self, graph: Any, X: Any, y: Any, node_of: Any = None) -> SelfRepellentSGD:
        """Run ``n_runs`` independent SA-SRRW tokens on ``graph`` for the objective of ``(X, y)`` sharded by node.

        Parameters
        ----------
        graph : networkx.Graph or adjacency matrix
            Undirected, connected, simple graph of the agents (a symmetric scipy/numpy/torch adjacency is read
            with :func:`networkx.from_scipy_sparse_array`).
        X : array-like of shape (n_rows, p)
            Features.
        y : array-like of shape (n_rows,)
            Responses or 0/1 labels (``None`` allowed with a callable loss).
        node_of : array-like of shape (n_rows,) or None
            Node label of every row (``None``: contiguous even blocks; see :class:`ShardedObjective`).

        Returns
        -------
        SelfRepellentSGD
            ``self``.
        """
        schedule = self.schedule()
        n_steps = _check_count(self.n_steps, "n_steps")
        n_runs = _check_count(self.n_runs, "n_runs")
        record = record_steps(self.record, n_steps)
        seed = self._resolve_seed()
        dtype = self._resolve_dtype()
        device = self._resolve_device()
        objective = self.objective(graph, X, y, node_of)
        sampler = make_sampler(graph, self.base, self.alpha, objective.weights, device=device, dtype=dtype)
        p = objective.n_features
        width = sampler.n_nodes if sampler.kind == "iid" else 32
        per_token = p * p + 2 * p + width + (int(objective.counts.max()) * p if objective.loss == "logistic" else 0)
        check_work(float(n_steps) * (n_runs * per_token + 1000), "SelfRepellentSGD.fit: n_steps",
                   f"{n_steps} steps x {n_runs} runs x {p} features", change="use fewer steps or runs")
        theta_star = objective.theta_star()
        theta0 = self.initial_theta(p, device, dtype)
        drift = make_drift(objective, sampler, device=device, dtype=dtype)
        keys = stream_keys(seed, torch.arange(n_runs, device=device))
        out = simulate(sampler, drift, schedule, keys, theta0, n_steps, record,
                       torch.as_tensor(theta_star, dtype=dtype, device=device), dtype)
        if not np.all(np.isfinite(out["theta"])):
            raise BadInputError("theta_scale", f"{self.theta_scale!r}: the iterates diverged (non-finite theta)",
                                "a smaller theta_scale (gamma_n = c (n+1)^-a too large for this objective's "
                                "curvature)")
        return self._store_runs(out, theta_star, record, sampler, schedule)

    def _store_runs(self, out: Mapping[str, Any], theta_star: np.ndarray, record: np.ndarray, sampler: Any,
                    schedule: StepSchedule) -> SelfRepellentSGD:
        """Set the fitted attributes from the runs' outputs; shared by :meth:`fit` and the distributed fit.

        ``out`` holds ``theta`` (R, p), ``errors`` and ``tvd`` (K, R), ``x`` (R, N) as float64 arrays and
        ``seconds``.
        """
        n_runs, n_steps = out["theta"].shape[0], int(record[-1])
        z = (out["theta"] - theta_star) / np.sqrt(float(schedule.gamma(n_steps)))
        self.theta_ = out["theta"]
        self.theta_star_ = theta_star
        self.steps_ = record
        self.errors_ = out["errors"]
        self.mse_ = out["errors"].mean(axis=1)
        self.tvd_ = out["tvd"].mean(axis=1)
        self.x_ = out["x"]
        self.stationary_ = sampler.stationary.copy()
        self.importance_ = sampler.importance.copy()
        self.covariance_ = z.T @ z / n_runs
        self.regime_ = schedule.regime
        self.throughput_ = float(n_steps * n_runs / max(out["seconds"], 1e-12))
        return self

    # ------------------------------------------------------------------ contract
    def _check_fitted(self, method: str) -> None:
        """Raise :class:`NotFittedError` naming ``method``; the face works on arrays and returns a dict, no AnnData."""
        if not self.is_fitted:
            raise NotFittedError(f"this SelfRepellentSGD is not fitted yet, so {method}() cannot run; call "
                                 "SelfRepellentSGD(...).fit(graph, X, y) first (dynfer.tl.srrw_optimize fits one and "
                                 "returns its results() as a dict)")

    def _get_state(self) -> dict[str, Any]:
        return {
            "theta": self.theta_, "theta_star": self.theta_star_, "steps": self.steps_, "mse": self.mse_,
            "errors": self.errors_, "tvd": self.tvd_, "x": self.x_, "stationary": self.stationary_,
            "importance": self.importance_, "covariance": self.covariance_, "regime": self.regime_,
            "throughput": self.throughput_, "seed": self.seed_, "dtype": str(self.dtype_).removeprefix("torch."),
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        def arr(name: str) -> np.ndarray:
            v = state[name]
            return (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)).copy()

        for name in ("theta", "theta_star", "mse", "errors", "tvd", "x", "stationary", "importance", "covariance"):
            setattr(self, f"{name}_", arr(name).astype(np.float64))
        self.steps_ = arr("steps").astype(np.int64)
        self.regime_ = str(state["regime"])
        self.throughput_ = float(state["throughput"])
        self.seed_ = int(state["seed"])
        self.dtype_ = getattr(torch, str(state["dtype"]))

    def results(self) -> dict[str, Any]:
        """Plain data: settings, final iterates, the error trajectory, the covariance, regime and throughput.

        Returns
        -------
        dict
            ``theta`` ``(n_runs, p)``, ``theta_star``, ``steps``, ``mse``, ``mse_sem`` (standard error over the
            runs), ``tvd``, ``covariance``, ``regime``, ``gamma_final``, ``throughput`` (token-steps per second) and
            ``settings`` (alpha, base, loss, l2, weighting, the exponents and scale, n_steps, n_runs, seed).
        """
        self._check_fitted("results")
        n_runs = self.errors_.shape[1]
        sem = self.errors_.std(axis=1, ddof=1) / np.sqrt(n_runs) if n_runs > 1 else np.full(self.mse_.shape, np.nan)
        schedule = self.schedule()
        base = self.base if isinstance(self.base, str) else "matrix"
        loss = self.loss if isinstance(self.loss, str) else "callable"
        return {
            "theta": self.theta_.copy(), "theta_star": self.theta_star_.copy(), "steps": self.steps_.copy(),
            "mse": self.mse_.copy(), "mse_sem": sem, "tvd": self.tvd_.copy(), "covariance": self.covariance_.copy(),
            "regime": self.regime_, "gamma_final": float(schedule.gamma(int(self.steps_[-1]))),
            "throughput": self.throughput_,
            "settings": {"alpha": float(self.alpha), "base": base, "loss": loss, "l2": float(self.l2),
                         "weighting": str(self.weighting), "theta_exponent": schedule.theta_exponent,
                         "theta_scale": schedule.theta_scale, "measure_exponent": schedule.measure_exponent,
                         "n_steps": int(self.steps_[-1]), "n_runs": int(n_runs), "seed": int(self.seed_)},
        }
