r"""Self-repellent random walk (SRRW) on a graph: a nonlinear Markov chain driven by its own visit frequencies.

Given a base chain :math:`P` reversible with respect to a target law :math:`\mu`, the SRRW moves from node
:math:`i` with the kernel (Doshi, Hu, Eun, ICML 2023)

.. math::

    K_{ij}[x] = \frac{P_{ij}\,(x_j/\mu_j)^{-\alpha}}{\sum_{k \in \bar N(i)} P_{ik}\,(x_k/\mu_k)^{-\alpha}},
    \qquad \bar N(i) = N(i) \cup \{i\},

where :math:`x` is the walker's empirical measure, updated after each move by
:math:`x_{n+1} = x_n + \beta_{n+1}(\delta_{X_{n+1}} - x_n)` with :math:`\beta_n = (n+1)^{-b}` and
:math:`x_0 = \mathbf 1/N`. For :math:`b = 1`, :math:`x_n` is the running visit frequency (counting the start-up mass
:math:`x_0`); :math:`b \in (0.5, 1]` is the step-size range of SA-SRRW (Hu, Doshi, Eun, ICLR 2024).

References
----------
- V. Doshi, J. Hu, D. Y. Eun, "Self-repellent random walks on general graphs — achieving minimal sampling
  variance via nonlinear Markov chains", ICML 2023, arXiv:2305.05097.
- J. Hu, V. Doshi, D. Y. Eun, "Accelerating distributed stochastic optimization via self-repellent random
  walks", ICLR 2024, arXiv:2401.09665.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import as_tensor, make_generator, progress
from dynfer.processes.walks.chains import (
    WalkResult,
    as_scipy_csr,
    check_run_args,
    check_stochastic,
    check_walk_size,
    csr_tensor,
    metropolis_hastings_matrix,
    padded_neighbour_table,
    parse_record,
    simple_walk_matrix,
    solve_stationary,
    start_nodes,
)
from dynfer.processes.walks.graphs import graph_adjacency, target_array
from dynfer.processes.walks.srrw_theory import check_alpha, srrw_asymptotic_covariance

__all__ = ["SelfRepellentWalk"]

_RESCALE_LOG = 30.0  # renormalise the unnormalised measure once its increments exceed e^30


def _check_step_exponent(b: Any) -> float:
    try:
        value = float(b)
    except (TypeError, ValueError):
        raise BadInputError(f"step_exponent must be a number in (0.5, 1], got {b!r}") from None
    if not (0.5 < value <= 1.0):
        raise BadInputError(f"step_exponent must lie in (0.5, 1] (beta_n = (n+1)^-b), got {b!r}")
    return value


class SelfRepellentWalk:
    r"""Self-repellent random walk (Doshi, Hu, Eun 2023) on a graph: many independent tokens, any torch device.

    The kernel :math:`K[x]` (module docstring) is evaluated stably as a softmax over :math:`\bar N(i)`,

    .. math::

        K_{i\cdot}[x] = \operatorname{softmax}_{j \in \bar N(i)}
        \bigl(\log P_{ij} - \alpha(\log x_j - \log \mu_j)\bigr),

    so :math:`\alpha = 20` with extreme frequencies does not overflow. It is invariant to the scale of
    :math:`x`, so the walk keeps an unnormalised measure :math:`w_n = x_n / c_n`,
    :math:`c_n = \prod_{k \le n}(1 - \beta_k)`, and one step costs :math:`O(T \cdot \max_i |\bar N(i)|)` for
    :math:`T` tokens (a padded neighbour table including the node itself). For :math:`b = 1`, :math:`w_n` is
    :math:`x_0` plus the visit counts.

    Parameters
    ----------
    graph : networkx.Graph
        Undirected, connected, simple graph; node ``i`` is ``list(graph.nodes())[i]`` (``self.nodes``).
    alpha : float
        Self-repellence :math:`\alpha \ge 0`; ``0`` is exactly the base chain.
    base : {"mhrw", "srw"} or sparse matrix
        Base chain :math:`P`: the Metropolis–Hastings walk to ``target`` (uniform by default), the simple random
        walk (target :math:`\mu \propto d`), or a given ``(N, N)`` row-stochastic matrix supported on the edges
        and the diagonal, reversible with respect to ``target`` (default: its stationary law).
    target : array-like of shape (N,), mapping node -> weight, or None
        Target law :math:`\mu` (strictly positive; normalised here). Not allowed with ``base="srw"``.
    device, dtype
        Device (``None``: ``settings.device``) and floating dtype (``None``: ``settings.dtype``).

    Attributes
    ----------
    nodes : list
        Node labels in index order.
    matrix : torch.Tensor
        The base chain :math:`P`, sparse CSR.
    target : torch.Tensor
        :math:`\mu`, shape ``(N,)``.
    """

    def __init__(
        self,
        graph: Any,
        alpha: float,
        base: str | torch.Tensor | sp.spmatrix | np.ndarray = "mhrw",
        target: Any = None,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        adj = graph_adjacency(graph)
        n = adj.n_nodes
        self.device = settings.resolve_device(device)
        self.dtype = dtype or settings.dtype
        self.nodes = adj.nodes
        self._alpha = check_alpha(alpha)
        if isinstance(base, str):
            kind = base.strip().lower()
            if kind == "mhrw":
                mu = np.full(n, 1.0 / n) if target is None else target_array(target, adj)
                p = as_scipy_csr(metropolis_hastings_matrix(adj, mu, device="cpu", dtype=torch.float64))
            elif kind == "srw":
                if target is not None:
                    raise BadInputError("target must be None with base='srw' (the simple walk targets mu ∝ degree)")
                p = as_scipy_csr(simple_walk_matrix(adj, device="cpu", dtype=torch.float64))
                mu = adj.degree / adj.degree.sum()
            else:
                raise BadInputError(f"base must be 'mhrw', 'srw' or a sparse transition matrix, got {base!r}")
        else:
            p = as_scipy_csr(base, "base")
            mu = self._check_base(p, target, adj)
        self._n = n
        self._p64 = p
        self.matrix = csr_tensor(p.indptr, p.indices, p.data, n, self.device, self.dtype)
        self.target = torch.as_tensor(mu, dtype=self.dtype, device=self.device)
        self._mu64 = torch.as_tensor(mu, dtype=torch.float64)
        index, prob, n_valid = padded_neighbour_table(p, device=self.device, dtype=torch.float64)
        self._index = index
        self._n_valid = n_valid
        self._last_valid = n_valid - 1
        self._prob = prob.to(self.dtype)
        logp = torch.where(prob > 0, torch.log(prob), torch.full_like(prob, -math.inf))
        self._logp = logp.to(self.dtype)
        self._logmu_nbr = torch.log(self._mu64.to(self.device))[index]
        self._width = self._choose_width(n_valid.cpu().numpy(), mu)
        self._is_wide = n_valid > self._width
        self._set_logits()

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _check_base(p: sp.csr_matrix, target: Any, adj: Any) -> np.ndarray:
        n = adj.n_nodes
        if p.shape != (n, n):
            raise BadInputError(f"base must have shape ({n}, {n}) to match the graph, got {p.shape}")
        check_stochastic(p, "base", tol=1e-5)
        allowed = (adj.scipy() + sp.identity(n, format="csr")).astype(bool)
        pattern = (p != 0).astype(bool)
        if (pattern > allowed).nnz:
            raise BadInputError("base has transitions between nodes that are not graph neighbours")
        mu = solve_stationary(p, "base")
        if target is not None:
            mu_t = target_array(target, adj)
            if np.abs(mu_t @ p - mu_t).sum() > 1e-5:
                raise BadInputError("target is not stationary for base (|target @ base - target|_1 > 1e-5)")
            mu = mu_t
        flow = sp.diags(mu) @ p
        if abs(flow - flow.T).sum() > 1e-5:
            raise BadInputError(
                "base must be reversible with respect to its target (detailed balance mu_i P_ij = mu_j P_ji fails); "
                "the SRRW stationary law and CLT assume reversibility"
            )
        return mu

    def _choose_width(self, n_valid: np.ndarray, mu: np.ndarray) -> int:
        """Width of the narrow table of the two-tier CPU step (the full width: one tier).

        Tokens at nodes with more than ``width`` entries are redone on the full table, so near stationarity a step
        costs about ``width + D * mu(n_valid > width)`` per token; on heavy-tailed graphs (a few hubs) this is far
        below the full width ``D``. On GPUs the full table is used (no data-dependent branching).
        """
        full = int(n_valid.max())
        if self.device.type != "cpu":
            return full
        order = np.argsort(n_valid)
        widths = n_valid[order]
        mass_above = 1.0 - np.cumsum(mu[order])  # mu(n_valid > widths[k]) for ties resolved below
        cost = widths + full * np.clip(mass_above, 0.0, None)
        last_of_ties = np.r_[widths[1:] != widths[:-1], True]
        k = int(np.argmin(np.where(last_of_ties, cost, np.inf)))
        width = int(widths[k])
        # the redo costs about a dozen extra kernel launches per step: worth it only if it halves the work
        return full if cost[k] > 0.5 * full else width

    def _set_logits(self) -> None:
        # log P_ij + alpha log mu_j on the padded table: the x-independent part of the kernel's logits
        self._base_logits = (self._logp.double() + self._alpha * self._logmu_nbr).to(self.dtype)
        self._log_floor = math.log(torch.finfo(self.dtype).tiny) + 1.0  # exp of it is a normal number
        valid = torch.isfinite(self._logp).to(self.dtype)  # P_ij > 0 (in float64)
        full = self._index.shape[1]
        self._tiers = [(self._index, self._prob, self._base_logits, valid)]
        if self._width < full:
            narrow = tuple(t[:, : self._width].contiguous()
                           for t in (self._index, self._prob, self._base_logits, valid))
            self._tiers.insert(0, narrow)

    @property
    def alpha(self) -> float:
        r"""Self-repellence strength :math:`\alpha \ge 0` (settable)."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._alpha = check_alpha(value)
        self._set_logits()

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``N``."""
        return self._n

    # ------------------------------------------------------------------ kernel
    def _weights(
        self, cur: torch.Tensor, w: torch.Tensor, tier: int = -1, rows: torch.Tensor | None = None,
        floor: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Neighbour indices ``(T, D)`` and unnormalised kernel weights ``(T, D)`` for tokens at ``cur``.

        ``w`` holds one measure per token; ``rows`` picks the rows of ``w`` belonging to ``cur`` (default: all).
        ``floor=True`` (the sampling path) raises weights below ``e^{-L}`` of the largest to ``e^{-L}``, with ``L``
        just inside the normal range of the dtype (87 in float32, 708 in float64), and sets the entries with
        :math:`P_{ij} = 0` to exactly 0 by a mask: ``exp`` then never meets ``-inf`` or a subnormal result, whose
        slow path costs 10-50x on CPUs. The change in any probability is below ``D e^{-L}`` (< 1e-36 in float32),
        far below the resolution of the cumulative sum it is drawn from.
        """
        index, prob, base_logits = self._tiers[tier][:3]
        idx = index.index_select(0, cur)  # index_select: several times faster than advanced indexing on CPU
        if self._alpha == 0.0:
            return idx, prob.index_select(0, cur)
        if rows is None:
            wx = w.gather(1, idx)
        else:
            wx = w.reshape(-1)[(rows * w.shape[1])[:, None] + idx]
        tiny = torch.finfo(w.dtype).tiny
        logits = torch.add(base_logits.index_select(0, cur), wx.clamp_min_(tiny).log_(), alpha=-self._alpha)
        logits.sub_(logits.amax(dim=1, keepdim=True))  # in place: fewer allocations on the hot path
        if floor:
            valid = self._tiers[tier][3]
            return idx, logits.clamp_min_(self._log_floor).exp_().mul_(valid.index_select(0, cur))
        return idx, logits.exp_()

    def _draw(
        self, cur: torch.Tensor, w: torch.Tensor, u: torch.Tensor, tier: int, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Inverse-CDF draw of the next node for tokens at ``cur`` with uniforms ``u`` of shape ``(T, 1)``."""
        idx, weight = self._weights(cur, w, tier, rows, floor=True)
        cdf = weight.cumsum(dim=1)
        k = torch.searchsorted(cdf, u.to(cdf.dtype) * cdf[:, -1:], right=True).squeeze(1)
        k = torch.minimum(k, self._last_valid.index_select(0, cur))
        return idx.gather(1, k[:, None]).squeeze(1)

    def next_nodes(self, cur: torch.Tensor, w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        r"""One SRRW move of every token: :math:`X_{n+1} \sim K_{X_n,\cdot}[x_n]` by inverse CDF with given uniforms.

        The building block of :meth:`run`, for callers that drive the walk step by step (e.g. stochastic
        approximation on top of the walk, or a walk whose tokens move between processes). No checks: hot path.

        Parameters
        ----------
        cur : torch.Tensor
            ``(T,)`` ``int64`` current nodes :math:`X_n`, on the walk's device.
        w : torch.Tensor
            ``(T, N)`` strictly positive measures, any scale per row (the kernel is scale-invariant), the walk's
            dtype.
        u : torch.Tensor
            ``(T, 1)`` uniforms in :math:`[0, 1)`; the draw is the first ``j`` in the row order of the padded
            table whose cumulative weight exceeds ``u`` times the row total.

        Returns
        -------
        torch.Tensor
            ``(T,)`` next nodes :math:`X_{n+1}`. Row ``t`` depends only on row ``t`` of the inputs.
        """
        nxt = self._draw(cur, w, u, tier=0)
        if len(self._tiers) == 2:  # redo the tokens sitting at nodes wider than the narrow table
            sel = torch.nonzero(self._is_wide.index_select(0, cur)).squeeze(1)
            if sel.numel():
                nxt[sel] = self._draw(cur[sel], w, u[sel], tier=1, rows=sel)
        return nxt

    def _check_x(self, x: Any, name: str = "x") -> torch.Tensor:
        xt = as_tensor(x, name, dtype=self.dtype, device=self.device, ndim=(1, 2))
        if xt.shape[-1] != self._n:
            raise BadInputError(f"{name} must have {self._n} entries per row (one per node), got shape "
                                f"{tuple(xt.shape)}")
        if bool((xt <= 0).any()):
            raise BadInputError(f"{name} must be strictly positive (visit frequencies in the simplex interior)")
        return xt

    def kernel_rows(self, x: Any, nodes: Any) -> torch.Tensor:
        r"""Rows :math:`K_{i\cdot}[x]` of the self-repellent kernel for current nodes ``i`` in ``nodes``.

        .. math::

            K_{ij}[x] = \frac{P_{ij}(x_j/\mu_j)^{-\alpha}}{\sum_{k\in\bar N(i)} P_{ik}(x_k/\mu_k)^{-\alpha}}
            \quad (j \in \bar N(i)), \qquad 0 \text{ otherwise},

        computed as a softmax of :math:`\log P_{ij} - \alpha(\log x_j - \log \mu_j)` (Doshi, Hu, Eun 2023).

        Parameters
        ----------
        x : array-like of shape (N,) or (T, N)
            Strictly positive measure (any scale: the kernel is scale-invariant); one row per node in ``nodes``
            if 2-D.
        nodes : int or array-like of shape (T,)
            Current node indices.

        Returns
        -------
        torch.Tensor
            Dense ``(T, N)`` rows (``(N,)`` for a single int node and 1-D ``x``).
        """
        xt = self._check_x(x)
        single = isinstance(nodes, (int, np.integer)) and xt.ndim == 1
        cur = torch.as_tensor(nodes, device=self.device).to(torch.int64).reshape(-1)
        if bool(((cur < 0) | (cur >= self._n)).any()):
            raise BadInputError(f"nodes must be indices in [0, {self._n - 1}]")
        w = xt.expand(cur.shape[0], self._n) if xt.ndim == 1 else xt
        if w.shape[0] != cur.shape[0]:
            raise BadInputError(f"x has {w.shape[0]} rows but nodes has {cur.shape[0]} entries")
        idx, weight = self._weights(cur, w)
        weight = weight / weight.sum(dim=1, keepdim=True)
        out = torch.zeros(cur.shape[0], self._n, dtype=self.dtype, device=self.device)
        out.scatter_add_(1, idx, weight)
        return out[0] if single else out

    def stationary(self, x: Any) -> torch.Tensor:
        r"""Stationary law of the frozen kernel :math:`K[x]` (Doshi, Hu, Eun 2023).

        .. math::

            \pi_i[x] \propto \mu_i (x_i/\mu_i)^{-\alpha} \sum_{j \in \bar N(i)} P_{ij} (x_j/\mu_j)^{-\alpha},

        evaluated in the log domain. Parameters: ``x`` of shape ``(N,)`` or ``(T, N)``, strictly positive.

        Returns
        -------
        torch.Tensor
            Same shape as ``x``, rows summing to one.
        """
        xt = self._check_x(x)
        squeeze = xt.ndim == 1
        x2 = xt.reshape(-1, self._n).double()
        mu = self._mu64.to(self.device)
        r = -self._alpha * (torch.log(x2) - torch.log(mu))  # (T, N): -alpha log(x/mu)
        inner = torch.logsumexp(self._logp.double()[None] + r[:, self._index], dim=2)
        log_pi = torch.log(mu) + r + inner
        pi = torch.softmax(log_pi, dim=1).to(self.dtype)
        return pi[0] if squeeze else pi

    def asymptotic_covariance(self, alpha: float | None = None) -> np.ndarray:
        r"""CLT covariance :math:`V(\alpha)` of :math:`\sqrt n (x_n - \mu)` (see :func:`srrw_asymptotic_covariance`).

        ``alpha=None`` uses ``self.alpha``. Dense eigen-decomposition: meant for graphs up to a few thousand nodes.
        """
        return srrw_asymptotic_covariance(self._p64, self._mu64.numpy(), self._alpha if alpha is None else alpha)

    # ------------------------------------------------------------------ simulation
    def run(
        self,
        n_steps: int,
        *,
        n_tokens: int = 1,
        start: int | torch.Tensor | None = None,
        step_exponent: float = 1.0,
        seed: int | torch.Generator | None = None,
        record: str | list[str] | None = None,
        x0: Any = None,
    ) -> WalkResult:
        r"""Simulate ``n_tokens`` independent SRRW tokens for ``n_steps`` steps (one loop over time only).

        Each token :math:`t` carries its own measure :math:`x^{(t)}`; per step (Doshi, Hu, Eun 2023;
        Hu, Doshi, Eun 2024):

        1. :math:`X_{n+1} \sim K_{X_n, \cdot}[x_n]` (inverse-CDF sampling on the padded neighbour row);
        2. :math:`x_{n+1} = x_n + \beta_{n+1}(\delta_{X_{n+1}} - x_n)`, :math:`\beta_n = (n+1)^{-b}`.

        Parameters
        ----------
        n_steps : int
            Number of moves.
        n_tokens : int
            Number of independent tokens, simulated as one batch.
        start : int, tensor of shape (n_tokens,) or None
            Start node indices :math:`X_0`; ``None`` draws them from :math:`\mu`.
        step_exponent : float
            :math:`b \in (0.5, 1]`; ``1`` makes :math:`x_n` the running visit frequency.
        seed : int, torch.Generator or None
            Randomness (``None``: ``settings.seed`` or fresh entropy); the generator must live on the walk's
            device.
        record : None, "trajectory", "tvd" or a list of them
            ``"trajectory"``: the visited nodes ``(n_steps, n_tokens)``; ``"tvd"``: the total variation
            :math:`\tfrac12\lVert x_n - \mu\rVert_1` after every step (costs :math:`O(T N)` per step).
        x0 : array-like of shape (N,) or (n_tokens, N), or None
            Initial measure (strictly positive, normalised here); ``None`` is :math:`x_0 = \mathbf 1/N`.

        Returns
        -------
        WalkResult
            ``x`` (final :math:`x_n`, ``(n_tokens, N)``), ``visit_counts``, ``position`` and the recorded fields.
        """
        n_steps, n_tokens = check_run_args(n_steps, n_tokens)
        b = _check_step_exponent(step_exponent)
        rec = parse_record(record, {"trajectory", "tvd"})
        check_walk_size(self, "SelfRepellentWalk.run", n_steps, n_tokens, self._index.shape[1]
                        + (self._n if "tvd" in rec else 0), rec, torch.finfo(self.dtype).bits // 8)
        gen = make_generator(seed, self.device)
        n, dev = self._n, self.device
        cur = start_nodes(start, n_tokens, n, gen, dev, self._mu64)
        if x0 is None:
            w = torch.full((n_tokens, n), 1.0 / n, dtype=self.dtype, device=dev)
        else:
            xt = self._check_x(x0, "x0")
            if xt.ndim == 2 and xt.shape[0] != n_tokens:
                raise BadInputError(f"x0 must have shape ({n}, ) or ({n_tokens}, {n}), got {tuple(xt.shape)}")
            w = (xt / xt.sum(dim=-1, keepdim=True)).expand(n_tokens, n).clone()
        counts = torch.zeros(n_tokens, n, dtype=torch.int64, device=dev)
        traj = torch.empty(n_steps, n_tokens, dtype=torch.int64, device=dev) if "trajectory" in rec else None
        tvd = torch.empty(n_steps, n_tokens, dtype=self.dtype, device=dev) if "tvd" in rec else None
        ones = torch.ones(n_tokens, 1, dtype=torch.int64, device=dev)
        inc = torch.empty(n_tokens, 1, dtype=self.dtype, device=dev)
        log_c, shift = 0.0, 0.0  # log c_n and the log-scale already divided out of w
        for step in progress(range(n_steps), desc="SRRW", total=n_steps):
            beta = (step + 2.0) ** (-b)  # beta_{n+1} with n = step
            log_c += math.log1p(-beta)
            log_g = math.log(beta) - log_c - shift
            if log_g > _RESCALE_LOG:
                w.mul_(math.exp(-log_g))
                shift += log_g
                log_g = 0.0
            u = torch.rand(n_tokens, 1, generator=gen, device=dev, dtype=self.dtype)
            cur = self.next_nodes(cur, w, u)
            w.scatter_add_(1, cur[:, None], inc.fill_(math.exp(log_g)))
            counts.scatter_add_(1, cur[:, None], ones)
            if traj is not None:
                traj[step] = cur
            if tvd is not None:
                tvd[step] = 0.5 * (w / w.sum(dim=1, keepdim=True) - self.target).abs().sum(dim=1)
        x = w / w.sum(dim=1, keepdim=True)
        return WalkResult(
            nodes=self.nodes, position=cur, visit_counts=counts, n_steps=n_steps, trajectory=traj, x=x, tvd=tvd
        )

    def __repr__(self) -> str:
        return f"SelfRepellentWalk(n_nodes={self._n}, alpha={self._alpha}, device={self.device}, dtype={self.dtype})"
