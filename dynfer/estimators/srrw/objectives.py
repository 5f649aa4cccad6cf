r"""Objectives over data sharded across the agents (nodes) of a graph, with their exact minimisers.

Agent :math:`i` holds the rows :math:`R_i` of :math:`(X, y)` and the local loss

.. math::

    f_i(\theta) = \frac{1}{|R_i|}\sum_{r \in R_i} \ell(\theta; x_r, y_r) + \frac{\lambda}{2}\lVert\theta\rVert^2,

and the network minimises :math:`f(\theta) = \sum_i w_i f_i(\theta)` for node weights :math:`w` on the simplex:

* ``weighting="node"`` (default): :math:`w = \mu`, the target (uniform unless given): every agent counts the same
  (times :math:`\mu_i`), however many rows it holds;
* ``weighting="row"``: :math:`w_i = |R_i| / n`, so :math:`f = \frac1n\sum_r \ell(\theta; x_r, y_r) +
  \frac\lambda2\lVert\theta\rVert^2`: every row counts the same.

The two differ when shards have unequal sizes. Losses:

* ``"least_squares"``: :math:`\ell = \tfrac12 (x^\top\theta - y)^2`, so :math:`\nabla f_i = (A_i + \lambda I)\theta
  - b_i` with :math:`A_i = |R_i|^{-1}\sum x_r x_r^\top`, :math:`b_i = |R_i|^{-1}\sum x_r y_r`, and
  :math:`\theta^* = (\sum_i w_i A_i + \lambda I)^{-1}\sum_i w_i b_i` in closed form;
* ``"logistic"`` (labels :math:`y \in \{0, 1\}`, or :math:`\{-1, 1\}` read as :math:`\{0, 1\}`):
  :math:`\ell = \log(1 + e^{x^\top\theta}) - y\,x^\top\theta`, :math:`\theta^*` by Newton's method to a gradient of
  :math:`10^{-12}` (relative to the gradient at 0); add a column of ones to :math:`X` for an intercept;
* a callable ``grad(theta, node) -> (R, p)`` with ``theta`` ``(R, p)`` float64 torch and ``node`` ``(R,)`` long:
  :math:`\nabla f_{\mathrm{node}}(\theta)` for each row (the ``l2`` term is added here); :math:`\theta^*` by Newton's
  method on :math:`\sum_i w_i \nabla f_i`, with the Jacobian by autograd (central differences if the callable is
  not differentiable by torch).

References
----------
- J. Hu, V. Doshi, D. Y. Eun, "Accelerating distributed stochastic optimization via self-repellent random walks",
  ICLR 2024, arXiv:2401.09665 (the objective :math:`\sum_i \mu_i f_i`).
- J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, ch. 3 (Newton with backtracking).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from dynfer._errors import BadInputError

__all__ = ["LOSSES", "WEIGHTINGS", "ShardedObjective"]

LOSSES = ("least_squares", "logistic")
WEIGHTINGS = ("node", "row")
_NEWTON_TOL = 1e-12
_NEWTON_ITER = 100

GradientFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _as_matrix(x: Any, name: str, ndim: int) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(name, f"a {type(x).__name__} that is not numeric", "a numeric array") from None
    if arr.ndim != ndim:
        raise BadInputError(name, f"{arr.ndim} dimension(s), shape {arr.shape}", f"a {ndim}-D array")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise BadInputError(name, f"{int(bad.sum())} NaN or infinite value(s)", "finite numbers")
    return arr


def _node_labels(graph_nodes: Any) -> list | None:
    """``None`` for an int node count, else the list of node labels."""
    if isinstance(graph_nodes, (int, np.integer)) and not isinstance(graph_nodes, (bool, np.bool_)):
        if graph_nodes < 1:
            raise BadInputError("graph_nodes", f"{graph_nodes!r}", "a number of nodes >= 1 or a list of node labels")
        return None
    if isinstance(graph_nodes, (str, bytes)) or not isinstance(graph_nodes, Sequence):
        raise BadInputError("graph_nodes", f"{graph_nodes!r}", "a number of nodes >= 1 or a list of node labels")
    labels = list(graph_nodes)
    if not labels:
        raise BadInputError("graph_nodes", "an empty list", "at least one node")
    return labels


def _shard_index(node_of: Any, n_rows: int, n_nodes: int, labels: list | None) -> np.ndarray:
    """Node position of every row: contiguous, even blocks when ``node_of`` is None."""
    if node_of is None:
        return (np.arange(n_rows, dtype=np.int64) * n_nodes) // max(n_rows, 1)
    if isinstance(node_of, torch.Tensor):
        node_of = node_of.detach().cpu().numpy()
    arr = np.asarray(node_of)
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise BadInputError("node_of", f"shape {arr.shape}", f"({n_rows},): the node of every row of X")
    if labels is not None:
        where = {label: i for i, label in enumerate(labels)}
        try:
            out = np.array([where[v.item() if hasattr(v, "item") else v] for v in arr], dtype=np.int64)
        except (KeyError, TypeError):
            unknown = [v for v in arr.tolist() if v not in where][:3]
            raise BadInputError("node_of", f"labels that are not graph nodes, e.g. {unknown!r}",
                                "node labels of the graph (list(graph.nodes()))") from None
        return out
    if arr.dtype.kind not in "iu":
        raise BadInputError("node_of", f"dtype {arr.dtype}", f"integer node indices in [0, {n_nodes - 1}]")
    if arr.size and (arr.min() < 0 or arr.max() >= n_nodes):
        raise BadInputError("node_of", f"indices in [{arr.min()}, {arr.max()}]", f"indices in [0, {n_nodes - 1}]")
    return arr.astype(np.int64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class ShardedObjective:
    r"""The objective :math:`f = \sum_i w_i f_i` of data sharded across graph nodes (see the module docstring).

    Parameters
    ----------
    X : array-like of shape (n_rows, p)
        Features, finite.
    y : array-like of shape (n_rows,)
        Responses (least squares) or 0/1 labels (logistic; -1/1 accepted); ignored by a callable loss (may be
        ``None`` then).
    graph_nodes : int or list
        Number of nodes :math:`N`, or the node labels in index order (then ``node_of`` holds labels).
    node_of : array-like of shape (n_rows,) or None
        The node holding each row. ``None`` spreads the rows evenly in contiguous blocks: row ``r`` goes to node
        ``floor(r N / n_rows)``.
    loss : {"least_squares", "logistic"} or callable
        The loss; a callable ``grad(theta (R, p), node (R,)) -> (R, p)`` gives :math:`\nabla f_{\mathrm{node}}`
        without the ``l2`` term.
    l2 : float
        :math:`\lambda \ge 0`.
    target : array-like of shape (N,) or None
        Node weights :math:`\mu` (positive; normalised); ``None`` is uniform. Not allowed with ``weighting="row"``.
    weighting : {"node", "row"}
        Which objective: every node's mean loss weighted by :math:`\mu`, or every row equally.

    Attributes
    ----------
    n_nodes, n_features, n_rows : int
    node_index : numpy.ndarray
        ``(n_rows,)`` node position of each row.
    counts : numpy.ndarray
        ``(N,)`` rows per node, all at least one.
    weights : numpy.ndarray
        ``(N,)`` float64 :math:`w` of :math:`f = \sum_i w_i f_i`.
    loss : str or callable
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        graph_nodes: int | Sequence[Any],
        node_of: Any = None,
        loss: str | GradientFn = "least_squares",
        l2: float = 0.0,
        target: Any = None,
        weighting: str = "node",
    ) -> None:
        labels = _node_labels(graph_nodes)
        n_nodes = len(labels) if labels is not None else int(graph_nodes)
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise BadInputError("loss", repr(loss), "'least_squares', 'logistic' or a callable grad(theta, node)")
        elif not callable(loss):
            raise BadInputError("loss", f"a {type(loss).__name__}", "'least_squares', 'logistic' or a callable")
        self.loss = loss
        self._x = _as_matrix(X, "X", 2)
        n_rows, p = self._x.shape
        if p < 1:
            raise BadInputError("X", f"shape {self._x.shape}", "at least one feature (column)")
        if callable(loss) and y is None:
            self._y = np.zeros(n_rows)
        else:
            self._y = _as_matrix(y, "y", 1)
            if self._y.shape[0] != n_rows:
                raise BadInputError("y", f"{self._y.shape[0]} entries", f"{n_rows}, one per row of X (X has shape "
                                    f"{self._x.shape})")
        if loss == "logistic":
            values = set(np.unique(self._y).tolist())
            if not values <= {0.0, 1.0} and not values <= {-1.0, 1.0}:
                raise BadInputError("y", f"labels {sorted(values)[:5]}", "0/1 (or -1/1) labels for loss='logistic'")
            self._y = (self._y > 0).astype(np.float64)
        if isinstance(l2, (bool, np.bool_)):
            raise BadInputError("l2", repr(l2), "a finite number >= 0")
        try:
            self.l2 = float(l2)
        except (TypeError, ValueError):
            raise BadInputError("l2", repr(l2), "a finite number >= 0") from None
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            raise BadInputError("l2", repr(l2), "a finite number >= 0")
        if weighting not in WEIGHTINGS:
            raise BadInputError("weighting", repr(weighting), "'node' (every node's mean loss, weighted by the "
                                "target) or 'row' (every row equally)")
        self.weighting = weighting
        self.node_index = _shard_index(node_of, n_rows, n_nodes, labels)
        self.counts = np.bincount(self.node_index, minlength=n_nodes).astype(np.int64)
        empty = np.flatnonzero(self.counts == 0)
        if empty.size:
            name = [labels[i] for i in empty[:3]] if labels is not None else empty[:3].tolist()
            raise BadInputError("node_of", f"{empty.size} node(s) without data, e.g. {name!r} (X has {n_rows} rows "
                                f"for {n_nodes} nodes)", "every node to hold at least one row")
        if weighting == "row":
            if target is not None:
                raise BadInputError("target", "a target with weighting='row'", "target=None: with 'row' the node "
                                    "weights are the shard sizes |R_i| / n")
            self.weights = self.counts / n_rows
        elif target is None:
            self.weights = np.full(n_nodes, 1.0 / n_nodes)
        else:
            w = _as_matrix(target, "target", 1)
            if w.shape[0] != n_nodes:
                raise BadInputError("target", f"shape {w.shape}", f"({n_nodes},): one weight per node")
            if np.any(w <= 0):
                raise BadInputError("target", f"{int((w <= 0).sum())} entries <= 0", "strictly positive weights")
            self.weights = w / w.sum()
        self.n_nodes, self.n_rows, self.n_features = n_nodes, n_rows, p
        self.labels = labels
        order = np.argsort(self.node_index, kind="stable")
        starts = np.r_[0, np.cumsum(self.counts)]
        self._rows = [order[starts[i]: starts[i + 1]] for i in range(n_nodes)]
        # per-row weight v_r = w_node / |R_node| of f = sum_r v_r l_r + l2/2 |theta|^2
        self._row_weight = (self.weights / self.counts)[self.node_index]

    # ------------------------------------------------------------------ data of the nodes
    def node_rows(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``(X_i, y_i)`` of node ``node`` (float64 copies)."""
        r = self._rows[int(node)]
        return self._x[r], self._y[r]

    def node_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Least-squares statistics of every node (float64, without the ``l2`` term).

        :math:`A_i = |R_i|^{-1}\sum_{r\in R_i} x_r x_r^\top` ``(N, p, p)`` and
        :math:`b_i = |R_i|^{-1}\sum_{r \in R_i} x_r y_r` ``(N, p)``.
        """
        p = self.n_features
        a = np.empty((self.n_nodes, p, p))
        b = np.empty((self.n_nodes, p))
        for i in range(self.n_nodes):
            xi, yi = self.node_rows(i)
            a[i] = xi.T @ xi / xi.shape[0]
            b[i] = xi.T @ yi / xi.shape[0]
        return a, b

    # ------------------------------------------------------------------ gradients
    def _theta(self, theta: Any) -> np.ndarray:
        th = _as_matrix(theta, "theta", 1)
        if th.shape[0] != self.n_features:
            raise BadInputError("theta", f"shape {th.shape}", f"({self.n_features},)")
        return th

    def _callable_grads(self, theta: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        th = torch.as_tensor(np.broadcast_to(theta, (nodes.size, theta.size)).copy(), dtype=torch.float64)
        g = self.loss(th, torch.as_tensor(nodes, dtype=torch.int64))
        g = np.asarray(g.detach().cpu().numpy() if isinstance(g, torch.Tensor) else g, dtype=np.float64)
        if g.shape != th.shape:
            raise BadInputError("loss", f"a gradient callable returning shape {g.shape}", f"shape {tuple(th.shape)}")
        if not np.all(np.isfinite(g)):
            raise BadInputError("loss", "a gradient callable returning NaN or infinite values", "finite gradients")
        return g

    def local_gradients(self, theta: Any) -> np.ndarray:
        r""":math:`\nabla f_i(\theta)` for every node, ``(N, p)`` float64 (``l2`` term included)."""
        th = self._theta(theta)
        if self.loss == "least_squares":
            a, b = self.node_statistics()
            g = a @ th - b
        elif self.loss == "logistic":
            resid = _sigmoid(self._x @ th) - self._y
            g = np.zeros((self.n_nodes, self.n_features))
            np.add.at(g, self.node_index, self._x * resid[:, None])
            g /= self.counts[:, None]
        else:
            g = self._callable_grads(th, np.arange(self.n_nodes))
        return g + self.l2 * th

    def node_gradients(self, theta: Any) -> np.ndarray:
        r"""The mean fields of the nodes :math:`H(\theta, i) = -\nabla f_i(\theta)`, ``(N, p)`` float64.

        Without importance weights: a walk whose stationary law :math:`\pi` is not :math:`w` uses
        :math:`(w_i/\pi_i) H(\theta, i)` (see :class:`~dynfer.estimators.srrw.sampler.TokenSampler.importance`).
        """
        return -self.local_gradients(theta)

    def gradient(self, theta: Any) -> np.ndarray:
        r""":math:`\nabla f(\theta) = \sum_i w_i \nabla f_i(\theta)`, ``(p,)`` float64."""
        return self.weights @ self.local_gradients(theta)

    def value(self, theta: Any) -> float:
        r""":math:`f(\theta) = \sum_i w_i f_i(\theta)` (least squares and logistic; ``nan`` for a callable)."""
        th = self._theta(theta)
        z = self._x @ th
        if self.loss == "least_squares":
            rows = 0.5 * (z - self._y) ** 2
        elif self.loss == "logistic":
            rows = np.logaddexp(0.0, z) - self._y * z
        else:
            return float("nan")
        return float(self._row_weight @ rows + 0.5 * self.l2 * th @ th)

    def hessian(self, theta: Any) -> np.ndarray:
        r""":math:`\nabla^2 f(\theta)`, ``(p, p)`` float64 (by autograd or central differences for a callable)."""
        th = self._theta(theta)
        eye = np.eye(self.n_features)
        if self.loss == "least_squares":
            xw = self._x * self._row_weight[:, None]
            return xw.T @ self._x + self.l2 * eye
        if self.loss == "logistic":
            s = _sigmoid(self._x @ th)
            xw = self._x * (self._row_weight * s * (1 - s))[:, None]
            return xw.T @ self._x + self.l2 * eye
        return self._callable_jacobian(th) + self.l2 * eye

    def _callable_jacobian(self, theta: np.ndarray) -> np.ndarray:
        nodes = torch.arange(self.n_nodes)
        w = torch.as_tensor(self.weights)

        def field(t: torch.Tensor) -> torch.Tensor:
            return w @ self.loss(t.expand(self.n_nodes, -1), nodes)

        try:
            jac = torch.autograd.functional.jacobian(field, torch.as_tensor(theta, dtype=torch.float64))
            jac = jac.detach().numpy()
        except Exception:  # not differentiable by torch (numpy inside): central differences
            jac = None
        if jac is None or not np.all(np.isfinite(jac)) or not np.any(jac):
            h = 1e-6 * max(1.0, float(np.abs(theta).max()))
            jac = np.empty((self.n_features, self.n_features))
            for k in range(self.n_features):
                e = np.zeros(self.n_features)
                e[k] = h
                gp = self.weights @ self._callable_grads(theta + e, np.arange(self.n_nodes))
                gm = self.weights @ self._callable_grads(theta - e, np.arange(self.n_nodes))
                jac[:, k] = (gp - gm) / (2 * h)
        return 0.5 * (jac + jac.T)

    # ------------------------------------------------------------------ minimiser
    def theta_star(self) -> np.ndarray:
        r"""The exact minimiser :math:`\theta^*` of :math:`f = \sum_i w_i f_i`, ``(p,)`` float64.

        Least squares in closed form, :math:`\theta^* = (\sum_i w_i A_i + \lambda I)^{-1} \sum_i w_i b_i`; logistic
        and callable losses by Newton's method with backtracking until :math:`\lVert\nabla f\rVert \le 10^{-12}
        \max(1, \lVert\nabla f(0)\rVert)`.

        Raises
        ------
        BadInputError
            If :math:`\sum_i w_i A_i + \lambda I` is singular (least squares; use ``l2 > 0`` or more rows), or
            Newton's method does not converge (e.g. separable logistic data with ``l2 = 0``: no minimiser).
        """
        if hasattr(self, "_theta_star"):
            return self._theta_star.copy()
        p = self.n_features
        if self.loss == "least_squares":
            h = self.hessian(np.zeros(p))
            rhs = (self._x * (self._row_weight * self._y)[:, None]).sum(0)
            if np.linalg.cond(h) > 1e12:
                raise BadInputError("X", "a singular least-squares problem (sum_i w_i A_i + l2 I has condition "
                                    f"number {np.linalg.cond(h):.3g})", "linearly independent columns, or l2 > 0")
            out = np.linalg.solve(h, rhs)
        else:
            out = self._newton()
        self._theta_star = out
        return out.copy()

    def _newton(self) -> np.ndarray:
        th = np.zeros(self.n_features)
        g = self.gradient(th)
        scale = max(1.0, float(np.linalg.norm(g)))
        has_value = isinstance(self.loss, str)
        for _ in range(_NEWTON_ITER):
            if np.linalg.norm(g) <= _NEWTON_TOL * scale:
                return self._check_curvature(th)
            h = self.hessian(th)
            try:
                step = np.linalg.solve(h, -g)
            except np.linalg.LinAlgError:
                break
            t, f0, ok = 1.0, self.value(th) if has_value else 0.0, False
            for _ in range(60):  # backtracking (Armijo on f, or on |grad f| for a callable)
                cand = th + t * step
                if has_value:
                    ok = self.value(cand) <= f0 + 1e-4 * t * float(g @ step) + 1e-15 * abs(f0)
                else:
                    ok = np.linalg.norm(self.gradient(cand)) <= (1 - 1e-4 * t) * np.linalg.norm(g) + 1e-300
                if ok:
                    break
                t *= 0.5
            th = th + t * step
            g = self.gradient(th)
            if not ok and np.linalg.norm(g) > _NEWTON_TOL * scale:
                break
        if np.linalg.norm(g) <= _NEWTON_TOL * scale * 1e3 and np.all(np.isfinite(th)):
            return self._check_curvature(th)  # stalled at rounding level
        raise BadInputError("loss", f"a {self.loss if isinstance(self.loss, str) else 'callable'} objective whose "
                            f"minimiser Newton's method did not find (|grad f| = {np.linalg.norm(g):.3g} after "
                            f"{_NEWTON_ITER} iterations)", "a strictly convex objective with a minimiser",
                            hint="for separable logistic data use l2 > 0")

    def _check_curvature(self, th: np.ndarray) -> np.ndarray:
        """Refuse a 'minimiser' where f is flat (separable logistic data run off to infinity, gradient ~ 0)."""
        h = self.hessian(th)
        eig = np.linalg.eigvalsh(0.5 * (h + h.T))
        if self.loss == "logistic":
            scale = float(np.trace((self._x * self._row_weight[:, None]).T @ self._x)) / 4 + self.l2
        else:
            scale = float(np.abs(eig).max())
        if not eig.min() > 1e-10 * max(scale, 1e-300):
            raise BadInputError("loss", f"an objective without a unique minimiser (the Hessian at the Newton point "
                                f"has smallest eigenvalue {eig.min():.3g}, |theta| = {np.linalg.norm(th):.3g})",
                                "a strictly convex objective", hint="for separable logistic data use l2 > 0")
        return th

    def __repr__(self) -> str:
        name = self.loss if isinstance(self.loss, str) else "callable"
        return (f"ShardedObjective(loss={name!r}, n_rows={self.n_rows}, n_features={self.n_features}, "
                f"n_nodes={self.n_nodes}, l2={self.l2}, weighting={self.weighting!r})")
