r"""Continuous-time Markov jump processes on :math:`n` states, described by their generator (rate matrix) :math:`Q`.

:math:`q_{ij} \ge 0` is the rate of jumping from :math:`i` to :math:`j \ne i` and :math:`q_{ii} = -\sum_{j\ne i}
q_{ij}`; the master equation is :math:`\dot p = p\,Q` (row vectors) and the transition matrix over a lag
:math:`\Delta` is :math:`P(\Delta) = e^{Q\Delta}` (Norris 1997, ch. 2-3).

Numerical convention: a tensor ``Q`` keeps its device and floating dtype; anything else (numpy, lists) goes to
``settings.device`` as **float64**. Eigenvalues, linear solves and matrix exponentials are always computed in float64
and returned in the dtype of ``Q``, so a float32 matrix loses nothing to ill-conditioned solves.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from dynfer._errors import BadInputError
from dynfer._validation import as_tensor, check_times, make_generator
from dynfer.processes.jumps.checks import (
    as_labels,
    as_rate_tensor,
    check_distribution,
    check_rate_matrix,
    check_states,
    closed_classes,
    reachability,
    resolve_initial,
)
from dynfer.processes.jumps.gillespie import first_passage_times, simulate_states
from dynfer.processes.jumps.likelihood import jump_log_likelihood, transition_matrices

__all__ = ["RateMatrix"]


class RateMatrix:
    r"""Generator :math:`Q` of a continuous-time Markov jump process, with its spectral and path quantities.

    Parameters
    ----------
    Q
        Square ``(n, n)`` matrix, rows = from state: finite, :math:`q_{ij} \ge 0` off the diagonal, rows summing to
        zero (within ``rtol`` times the row scale :math:`\sum_j |q_{ij}|`). A tensor keeps its device, dtype and
        autograd graph; other inputs become float64 tensors on ``settings.device``.
    rtol
        Row-sum tolerance; default :math:`\sqrt{\varepsilon}` of the dtype (1.5e-8 in float64, 3.5e-4 in float32).

    Raises
    ------
    ValueError
        Naming the offending row or entry when ``Q`` is not a valid generator.

    Examples
    --------
    >>> from dynfer.processes.jumps import RateMatrix
    >>> q = RateMatrix([[-1.0, 1.0], [2.0, -2.0]])
    >>> [round(float(x), 4) for x in q.stationary_distribution()]
    [0.6667, 0.3333]
    >>> round(q.relaxation_time(), 4)
    0.3333
    """

    def __init__(self, Q: Any, *, rtol: float | None = None) -> None:
        q = as_rate_tensor(Q, "Q")
        check_rate_matrix(q, "Q", rtol=rtol)
        self.Q = q

    @classmethod
    def from_rates(cls, rates: Any) -> RateMatrix:
        r"""Build a generator from off-diagonal rates, setting :math:`q_{ii} = -\sum_{j \ne i} q_{ij}`.

        The diagonal of ``rates`` is ignored; the construction is differentiable in ``rates``.
        """
        r = as_rate_tensor(rates, "rates")
        if r.ndim != 2 or r.shape[0] != r.shape[1]:
            raise BadInputError(f"rates must be a square (n, n) matrix, got shape {tuple(r.shape)}")
        off = r * (1 - torch.eye(r.shape[0], dtype=r.dtype, device=r.device))
        return cls(off - torch.diag(off.sum(-1)))

    # ------------------------------------------------------------------ basics
    @property
    def n_states(self) -> int:
        """Number of states :math:`n`."""
        return self.Q.shape[-1]

    @property
    def device(self) -> torch.device:
        """Device of ``Q``."""
        return self.Q.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of ``Q`` (and of returned quantities)."""
        return self.Q.dtype

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> RateMatrix:
        """A copy of this generator on ``device`` with ``dtype``."""
        return RateMatrix(as_rate_tensor(self.Q, "Q", device=device, dtype=dtype))

    def __repr__(self) -> str:
        return f"RateMatrix(n_states={self.n_states}, dtype={self.dtype}, device={self.device})"

    def _q64(self) -> torch.Tensor:
        return self.Q.to(torch.float64)

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype) if x.is_floating_point() else x

    # ------------------------------------------------------------------ linear algebra
    def stationary_distribution(self) -> torch.Tensor:
        r"""The stationary distribution :math:`\pi`: :math:`\pi Q = 0`, :math:`\sum_i \pi_i = 1`.

        Solved as one linear system, the redundant equation :math:`(\pi Q)_0 = 0` replaced by the normalisation;
        differentiable in ``Q``.

        Returns
        -------
        torch.Tensor
            ``(n,)`` probabilities.

        Raises
        ------
        ValueError
            If :math:`\pi` is not unique, i.e. the chain has more than one closed communicating class
            (Norris 1997, thm 3.5.2).
        """
        classes = closed_classes(self.Q)
        if len(classes) != 1:
            raise BadInputError(
                f"Q is reducible with {len(classes)} closed communicating classes {classes}: the stationary "
                "distribution is not unique"
            )
        q = self._q64()
        n = self.n_states
        ones = torch.ones(n, 1, dtype=q.dtype, device=q.device)
        system = torch.cat([ones, q[:, 1:]], dim=1)  # column 0: sum(pi) = 1
        rhs = torch.zeros(n, dtype=q.dtype, device=q.device)
        rhs[0] = 1.0
        pi = torch.linalg.solve(system.T, rhs)
        pi = pi.clamp_min(0.0)
        return self._out(pi / pi.sum())

    def eigenvalues(self) -> torch.Tensor:
        r"""Eigenvalues of :math:`Q` (complex128), ordered by decreasing real part (:math:`\lambda_1 = 0` first)."""
        ev = torch.linalg.eigvals(self._q64().detach())
        order = torch.argsort(ev.real, descending=True, stable=True)
        return ev[order]

    def timescales(self) -> torch.Tensor:
        r"""Implied time scales :math:`t_k = 1/|\mathrm{Re}\,\lambda_k|` of the non-zero eigenvalues, sorted descending.

        The number of zero eigenvalues dropped is the number of closed classes (the multiplicity of 0).
        A complex pair gives the same time scale twice; :meth:`eigenvalues` shows the imaginary parts
        (oscillating relaxation).
        """
        ev = torch.linalg.eigvals(self._q64().detach())
        n_zero = len(closed_classes(self.Q))
        order = torch.argsort(ev.abs())
        nonzero = ev[order[n_zero:]]
        ts = 1.0 / nonzero.real.abs()
        return self._out(torch.sort(ts, descending=True).values)

    def relaxation_time(self) -> float:
        r"""Slowest relaxation time :math:`1/|\mathrm{Re}\,\lambda_2|` (the largest of :meth:`timescales`)."""
        ts = self.timescales()
        if ts.numel() == 0:
            raise BadInputError("relaxation_time needs a non-zero eigenvalue; this chain has none (n = 1 or no rates)")
        return float(ts[0])

    def _mfpt_to(self, target_mask: torch.Tensor) -> torch.Tensor:
        q = self._q64()
        n = self.n_states
        adj = (q.detach() > 0) & ~torch.eye(n, dtype=torch.bool, device=q.device)
        adj = adj & ~target_mask.unsqueeze(-1)  # paths stop at the target
        reach = reachability(adj)
        cannot = ~(reach & target_mask).any(-1)  # never reaches the target
        infinite = (reach & cannot).any(-1)  # may end where the target is unreachable
        solve = ~infinite & ~target_mask
        tau = torch.where(infinite, math.inf, 0.0).to(q)
        idx = torch.nonzero(solve).squeeze(-1)
        if idx.numel() > 0:
            sub = q[idx][:, idx]
            sol = torch.linalg.solve(sub, -torch.ones(idx.numel(), dtype=q.dtype, device=q.device))
            tau = tau.index_put((idx,), sol)
        return tau

    def mfpt(self, target: int | Any | None = None) -> torch.Tensor:
        r"""Mean first-passage times.

        For a target set :math:`A`, :math:`\tau_{iA} = 0` on :math:`A` and
        :math:`1 + \sum_k q_{ik}\,\tau_{kA} = 0` for :math:`i \notin A` (Norris 1997, thm 3.3.3), solved on the
        states that reach :math:`A` with probability 1; the others get ``inf``.

        Parameters
        ----------
        target
            ``None``: the full matrix :math:`\tau_{ij}` (from row :math:`i` to column :math:`j`, zero diagonal).
            An int or list of states: the vector :math:`\tau_{iA}`.

        Returns
        -------
        torch.Tensor
            ``(n, n)`` or ``(n,)``.
        """
        n = self.n_states
        if target is None:
            cols = []
            for j in range(n):
                mask = torch.zeros(n, dtype=torch.bool, device=self.device)
                mask[j] = True
                cols.append(self._mfpt_to(mask))
            return self._out(torch.stack(cols, dim=1))
        tgt = as_labels(target, "target", self.device).reshape(-1)
        if tgt.numel() == 0:
            raise BadInputError("target must name at least one state")
        check_states(tgt, n, "target")
        mask = torch.zeros(n, dtype=torch.bool, device=self.device)
        mask[tgt.long()] = True
        return self._out(self._mfpt_to(mask))

    def transition_matrix(self, t: float | Any) -> torch.Tensor:
        r"""Transition matrices :math:`P(t) = e^{Qt}` (batched ``torch.linalg.matrix_exp``).

        Parameters
        ----------
        t
            A lag :math:`t \ge 0`, or a 1-D array of lags.

        Returns
        -------
        torch.Tensor
            ``(n, n)`` for a scalar ``t``, ``(len(t), n, n)`` for a 1-D ``t``; :math:`P_{ij}(t) = \Pr(X_t = j \mid
            X_0 = i)`.
        """
        tt = as_tensor(t, "t", dtype=torch.float64, device=self.device, ndim=(0, 1))
        if bool((tt < 0).any()):
            raise BadInputError(f"t must be >= 0 (a lag), got minimum {float(tt.min()):.4g}")
        out = transition_matrices(self._q64(), tt.reshape(-1))
        return self._out(out if tt.ndim else out[0])

    def entropy_production(self, p: Any = None) -> torch.Tensor:
        r"""Schnakenberg entropy production rate (units of :math:`k_B` per unit time).

        .. math::  \sigma = \tfrac12 \sum_{i \ne j} (p_i q_{ij} - p_j q_{ji})
                   \ln\frac{p_i q_{ij}}{p_j q_{ji}}

        (Schnakenberg 1976, *Rev. Mod. Phys.* 48, 571; Seifert 2012, *Rep. Prog. Phys.* 75, 126001). Pairs with no
        flux either way contribute 0; a one-way flux (:math:`p_i q_{ij} > 0` but :math:`p_j q_{ji} = 0`, e.g. an
        irreversible link) makes :math:`\sigma` infinite, returned as ``inf`` with a :class:`RuntimeWarning`.

        Parameters
        ----------
        p
            Distribution ``(n,)`` or a batch ``(B, n)``; default the stationary distribution.

        Returns
        -------
        torch.Tensor
            0-d (or ``(B,)``) entropy production rate.
        """
        q = self._q64()
        n = self.n_states
        if p is None:
            pv = self.stationary_distribution().to(torch.float64)
        else:
            pv = check_distribution(p, n, "p", device=self.device, dtype=torch.float64).to(torch.float64)
        flux = pv.unsqueeze(-1) * q  # J_ij = p_i q_ij
        rev = flux.transpose(-1, -2)
        off = ~torch.eye(n, dtype=torch.bool, device=q.device)
        both = (flux > 0) & (rev > 0) & off
        one_way = ((flux > 0) ^ (rev > 0)) & off
        safe, safe_rev = torch.where(both, flux, 1.0), torch.where(both, rev, 1.0)
        terms = torch.where(both, (safe - safe_rev) * (torch.log(safe) - torch.log(safe_rev)), 0.0)
        sigma = 0.5 * terms.sum((-1, -2))
        infinite = one_way.flatten(-2).any(-1)
        if bool(infinite.any()):
            b, i, j = (int(v) for v in torch.nonzero(one_way.reshape(-1, n, n))[0])
            fwd, bwd = float(flux.reshape(-1, n, n)[b, i, j]), float(rev.reshape(-1, n, n)[b, i, j])
            warnings.warn(
                f"one-way probability flux between states {i} and {j} (p_i q_ij = {fwd:.3g}, p_j q_ji = {bwd:.3g}; "
                f"{int(one_way.sum()) // 2} such pair(s)): the entropy production is infinite",
                RuntimeWarning,
                stacklevel=2,
            )
            sigma = torch.where(infinite, math.inf, sigma)
        return self._out(sigma)

    # ------------------------------------------------------------------ paths
    def simulate(
        self,
        n_paths: int,
        times: Any,
        *,
        initial: Any = None,
        seed: int | torch.Generator | None = None,
        device: str | torch.device | None = None,
    ) -> torch.Tensor:
        r"""Simulate ``n_paths`` paths observed at ``times`` with the batched Gillespie algorithm (Gillespie 1977).

        Holding times :math:`\tau \sim \mathrm{Exp}(-q_{ii})` and jumps :math:`i \to j` with probability
        :math:`q_{ij}/(-q_{ii})` are drawn for all running paths at once, one loop iteration per jump event.
        Each path starts at its first observation time.

        Parameters
        ----------
        n_paths
            Number of paths.
        times
            Non-decreasing observation times: shared ``(T,)`` or per path ``(n_paths, T)`` (irregular grids).
        initial
            ``None`` (draw from the stationary distribution), a probability vector ``(n,)``, or integer start
            states (an int or ``(n_paths,)``).
        seed
            Seed or :class:`torch.Generator` (``None``: ``settings.seed``).
        device
            Device to simulate on (default: that of ``Q``).

        Returns
        -------
        torch.Tensor
            Long tensor ``(n_paths, T)`` of states.
        """
        if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1:
            raise BadInputError(f"n_paths must be a positive int, got {n_paths!r}")
        q = as_rate_tensor(self.Q, "Q", device=device).detach().to(torch.float64)
        dev = q.device
        tm = as_tensor(times, "times", dtype=torch.float64, device=dev, ndim=(1, 2))
        if tm.shape[-1] == 0:
            raise BadInputError("times must hold at least one observation time")
        if tm.ndim == 2 and tm.shape[0] != n_paths:
            raise BadInputError(f"per-path times must have shape ({n_paths}, T), got {tuple(tm.shape)}")
        check_times(tm, "times", strict=False)
        gen = make_generator(seed, dev)
        stationary = self.stationary_distribution().to(dev) if initial is None else None
        init = resolve_initial(initial, n_paths, self.n_states, stationary=stationary, generator=gen, device=dev)
        return simulate_states(q, tm, init, gen, where="RateMatrix.simulate")

    def first_passage_times(
        self,
        start: Any,
        target: int | Any,
        n_paths: int,
        *,
        max_time: float | None = None,
        seed: int | torch.Generator | None = None,
        device: str | torch.device | None = None,
    ) -> torch.Tensor:
        r"""Sampled first-passage times from ``start`` to ``target`` (batched Gillespie 1977).

        Their mean estimates :meth:`mfpt`; see :func:`~dynfer.processes.jumps.first_passage_times` for the arguments.
        """
        return first_passage_times(self.Q, start, target, n_paths, max_time=max_time, seed=seed, device=device)

    def log_likelihood(
        self,
        paths: Any,
        times: Any,
        *,
        initial: Any = None,
        lengths: Any = None,
        condition_on_first: bool = False,
        per_path: bool = False,
    ) -> torch.Tensor:
        r"""Log-likelihood of discretely observed paths (Kalbfleisch & Lawless 1985).

        .. math::  \log L = \sum_m \Big[\log p_0(s^m_0) + \sum_i \log\big[e^{Q\Delta t^m_i}\big]_{s^m_i s^m_{i+1}}
                   \Big]

        with one matrix exponential per distinct :math:`\Delta t`; differentiable in ``Q``.

        Parameters
        ----------
        paths
            Integer states ``(n_paths, T)``.
        times
            Shared ``(T,)`` or per-path ``(n_paths, T)`` observation times, non-decreasing within each length.
        initial
            Probability vector :math:`p_0` ``(n,)`` of the first state; default the stationary distribution.
        lengths
            Number of valid observations per path ``(n_paths,)``; later entries are ignored.
        condition_on_first
            Leave out the :math:`\log p_0` term (likelihood conditional on the first states).
        per_path
            Return ``(n_paths,)`` per-path values instead of the sum.

        Returns
        -------
        torch.Tensor
            0-d (or ``(n_paths,)``) log-likelihood in the dtype of ``Q``.
        """
        if condition_on_first:
            p0 = None
        elif initial is None:
            p0 = self.stationary_distribution()
        else:
            p0 = check_distribution(initial, self.n_states, "initial", device=self.device, dtype=torch.float64)
        return jump_log_likelihood(self.Q, paths, times, initial=p0, lengths=lengths, per_path=per_path, validate=False)
