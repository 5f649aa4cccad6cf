r"""Linear (Ornstein–Uhlenbeck) systems whose entropy-production rate is known in closed form.

Each benchmark is a :class:`LinearEntropyBenchmark`: the SDE :math:`dX = -A X\,dt + \sqrt{2D}\,dW` with a stable drift
matrix :math:`A` (every eigenvalue with positive real part) and a positive semi-definite diffusion matrix :math:`D`,
possibly degenerate (zero rows and columns on the coordinates without noise). Everything is computed from the
stationary covariance :math:`\Sigma`, the solution of :math:`A\Sigma + \Sigma A^\top = 2D` (Gardiner, *Stochastic
Methods*, sec. 4.5.6):

* score :math:`s(x) = -\Sigma^{-1}x`; probability-flow velocity :math:`v = b - Ds = -Mx` with
  :math:`M = A - D\Sigma^{-1} = \Theta\Sigma^{-1}`, :math:`\Theta = A\Sigma - D` antisymmetric;
* entropy-production rate (k_B = 1, nats per unit time) :math:`\sigma = E[v^\top D^{+} v] = \mathrm{tr}(D^{+}
  M\Sigma M^\top)`, which for :math:`D \succ 0` equals :math:`\mathrm{tr}(D^{-1}A\Sigma A^\top) - \mathrm{tr}(A)
  = -\mathrm{tr}(D^{-1}\Theta\Sigma^{-1}\Theta)` (Godrèche & Luck, *J. Phys. A* 52, 035002, 2019).

**Conventions.** Every variable is even under time reversal (as in Boffi & Vanden-Eijnden, PNAS 121, e2318106121,
2024): the active velocity of the AOUP is treated like a position. Other parity choices give other numbers
(Caprini et al., *J. Stat. Mech.* 2019, 053203). When the velocity has a component on a coordinate without noise,
the path measures of the forward and reversed process are mutually singular and the total rate is **infinite**:
:attr:`LinearEntropyBenchmark.entropy_production` is then ``math.inf``, while
:meth:`LinearEntropyBenchmark.sector_rate` of the noisy coordinates stays finite (the hypoelliptic AOUP at
:math:`\varepsilon = 0`, the MIPS setting).

Arrays are numpy ``float64`` (samples and paths too); the methods of a benchmark evaluated on a torch tensor return a
torch tensor of the same dtype and device.

Constructors (their defaults give the check values of the notes): :func:`random_ou`, :func:`rotational_ou`,
:func:`brownian_gyrator`, :func:`aoup_trap`, :func:`bead_spring`; by name through :data:`ENTROPY_BENCHMARKS` and
:func:`entropy_benchmark`.

Examples
--------
>>> from dynfer.datasets.entropy_benchmarks import rotational_ou
>>> round(rotational_ou().entropy_production, 5)
0.75385
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from scipy.linalg import solve_continuous_lyapunov

from dynfer._errors import BadInputError
from dynfer._validation import STEP_COST, check_int, check_positive, check_real, check_work, resolve_seed
from dynfer.processes.drifts import LinearDrift

__all__ = [
    "BEAD_SPRING_UNIT_RATE_T_COLD",
    "ENTROPY_BENCHMARKS",
    "LinearEntropyBenchmark",
    "aoup_trap",
    "bead_spring",
    "brownian_gyrator",
    "entropy_benchmark",
    "random_ou",
    "rotational_ou",
]

#: Cold temperatures of the high-dimensional bead-spring set of NEEP (Kim et al., PRL 125, 140604, 2020;
#: ``kdkyum/neep``) at :math:`T_h = 10`, :math:`k = e = 1`: the chain of N beads then has :math:`\sigma = 1.000`
#: (to 2e-4) for every N.
BEAD_SPRING_UNIT_RATE_T_COLD: dict[int, float] = {
    8: 0.416997, 16: 0.20768, 32: 0.10358, 48: 0.06899, 64: 0.05171, 80: 0.04136, 128: 0.02583,
}

_ZERO = 1e-12  # relative size below which a variance or an eigenvalue counts as zero


def _matrix(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise BadInputError(name, f"a {type(value).__name__}", "a square numeric (d, d) matrix") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise BadInputError(name, f"an array of shape {arr.shape}", "a square (d, d) matrix with d >= 1")
    if not np.isfinite(arr).all():
        raise BadInputError(name, "NaN or infinite entries", "a finite matrix")
    arr.setflags(write=False)
    return arr


def _apply(matrix: np.ndarray, x: Any, name: str = "x") -> Any:
    """``x @ matrix.T`` for states ``(n, d)`` or ``(d,)``; a torch tensor comes back as a torch tensor."""
    d = matrix.shape[0]
    if isinstance(x, torch.Tensor):
        if x.ndim not in (1, 2) or x.shape[-1] != d:
            raise BadInputError(name, f"a tensor of shape {tuple(x.shape)}", f"states of shape (n, {d}) or ({d},)")
        if not bool(torch.isfinite(x).all()):
            raise BadInputError(name, "NaN or infinite entries", "finite states")
        dtype = x.dtype if x.is_floating_point() else torch.float64
        return x.to(dtype) @ torch.tensor(matrix.T, dtype=dtype, device=x.device)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(name, f"a {type(x).__name__}", f"numeric states of shape (n, {d})") from None
    if arr.ndim not in (1, 2) or arr.shape[-1] != d:
        raise BadInputError(name, f"an array of shape {arr.shape}", f"states of shape (n, {d}) or ({d},)")
    if not np.isfinite(arr).all():
        raise BadInputError(name, "NaN or infinite entries", "finite states")
    return arr @ matrix.T


@dataclass(frozen=True, eq=False)
class LinearEntropyBenchmark:
    r"""The OU process :math:`dX = -AX\,dt + \sqrt{2D}\,dW` with closed-form score, velocity and entropy production.

    Parameters
    ----------
    name
        A label (the constructor's name).
    A
        Drift matrix ``(d, d)``, every eigenvalue with positive real part (the process has a stationary law).
    D
        Diffusion matrix ``(d, d)``, symmetric positive semi-definite. A coordinate :math:`k` with
        :math:`D_{kk} = 0` has no noise (its row and column are then zero); the block of the noisy coordinates
        must be positive definite.
    parameters
        The constructor's parameters, as plain data.

    Attributes
    ----------
    noisy
        Indices of the coordinates with :math:`D_{kk} > 0` (a tuple).

    Raises
    ------
    BadInputError
        When ``A`` is not stable, ``D`` not symmetric positive semi-definite, the noisy block of ``D`` singular, or
        the stationary law degenerate (the noise does not reach every coordinate).

    Notes
    -----
    All variables are even under time reversal (see the module docstring). The stationary covariance comes from
    ``scipy.linalg.solve_continuous_lyapunov(A, 2 D)``.
    """

    name: str
    A: np.ndarray
    D: np.ndarray
    parameters: dict = field(default_factory=dict)
    noisy: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        a = _matrix(self.A, "A")
        dm = _matrix(self.D, "D")
        if dm.shape != a.shape:
            raise BadInputError("D", f"shape {dm.shape}", f"the shape of A, {a.shape}")
        scale = max(1.0, float(np.abs(dm).max()))
        if not np.allclose(dm, dm.T, rtol=0.0, atol=1e-12 * scale):
            raise BadInputError("D", "a non-symmetric matrix", "a symmetric positive semi-definite diffusion matrix")
        dm = 0.5 * (dm + dm.T)
        dm.setflags(write=False)
        if float(np.linalg.eigvalsh(dm).min()) < -1e-10 * scale:
            raise BadInputError("D", f"smallest eigenvalue {float(np.linalg.eigvalsh(dm).min()):.3g}",
                                "a positive semi-definite diffusion matrix")
        noisy = tuple(int(k) for k in np.flatnonzero(np.diag(dm) > _ZERO * scale))
        quiet = [k for k in range(len(dm)) if k not in noisy]
        if quiet and np.abs(dm[np.ix_(quiet, range(len(dm)))]).max() > 1e-10 * scale:
            raise BadInputError("D", "a zero diagonal entry whose row is not zero", "a positive semi-definite matrix")
        if not noisy:
            raise BadInputError("D", "no noisy coordinate (D = 0)", "at least one coordinate with D_kk > 0")
        block = dm[np.ix_(noisy, noisy)]
        if float(np.linalg.eigvalsh(block).min()) <= _ZERO * float(np.abs(block).max()):
            raise BadInputError("D", "a singular block on the coordinates with D_kk > 0",
                                "a diffusion matrix positive definite on its noisy coordinates")
        eig = np.linalg.eigvals(a)
        if not bool((eig.real > _ZERO * max(1.0, float(np.abs(eig).max()))).all()):
            raise BadInputError("A", f"an eigenvalue with real part {float(eig.real.min()):.3g}",
                                "a stable drift matrix (every eigenvalue with a positive real part, not within "
                                "1e-12 of 0 relative to the largest)")
        if not isinstance(self.name, str):
            raise BadInputError("name", f"a {type(self.name).__name__}", "a string")
        object.__setattr__(self, "A", a)
        object.__setattr__(self, "D", dm)
        object.__setattr__(self, "noisy", noisy)
        object.__setattr__(self, "parameters", dict(self.parameters))
        bad_solve = BadInputError("A, D", "a Lyapunov equation A S + S A^T = 2 D too ill-conditioned to solve",
                                  "matrices whose scales are not so far apart")
        with np.errstate(all="ignore"):  # overflow shows as non-finite entries, refused below
            try:
                sigma = self.covariance
            except (np.linalg.LinAlgError, ValueError):
                raise bad_solve from None
            if not np.isfinite(sigma).all():
                raise bad_solve
            ev = np.linalg.eigvalsh(sigma)
            if not ev.min() > _ZERO * max(ev.max(), 1e-300):
                raise BadInputError("A, D", "a degenerate stationary law (the noise does not reach every coordinate)",
                                    "a drift that carries the noise to every coordinate (a controllable pair A, D)")
            if not (np.isfinite(self.precision).all() and np.isfinite(self._velocity_second_moment).all()
                    and np.isfinite(self._d_pinv).all()):
                raise bad_solve

    # ------------------------------------------------------------------ the stationary law
    @property
    def dim(self) -> int:
        """The state dimension d."""
        return self.A.shape[0]

    @cached_property
    def covariance(self) -> np.ndarray:
        r"""The stationary covariance :math:`\Sigma`, solving :math:`A\Sigma + \Sigma A^\top = 2D`, ``(d, d)``."""
        sigma = solve_continuous_lyapunov(self.A, 2.0 * self.D)
        sigma = 0.5 * (sigma + sigma.T)
        sigma.setflags(write=False)
        return sigma

    @cached_property
    def precision(self) -> np.ndarray:
        r""":math:`\Sigma^{-1}`, ``(d, d)``."""
        p = np.linalg.inv(self.covariance)
        p = 0.5 * (p + p.T)
        p.setflags(write=False)
        return p

    @cached_property
    def flow_matrix(self) -> np.ndarray:
        r""":math:`M = A - D\Sigma^{-1}`, so that the probability-flow velocity is :math:`v(x) = -Mx`."""
        m = self.A - self.D @ self.precision
        m.setflags(write=False)
        return m

    @cached_property
    def _velocity_second_moment(self) -> np.ndarray:
        r""":math:`E[v v^\top] = M\Sigma M^\top`."""
        m = self.flow_matrix
        out = m @ self.covariance @ m.T
        return 0.5 * (out + out.T)

    @cached_property
    def _d_pinv(self) -> np.ndarray:
        r""":math:`D^{+}`: the inverse of the noisy block, zero elsewhere."""
        out = np.zeros_like(self.D)
        idx = np.ix_(self.noisy, self.noisy)
        out[idx] = np.linalg.inv(self.D[idx])
        return out

    @property
    def drift(self) -> LinearDrift:
        r"""The drift :math:`b(x) = -Ax` as a :class:`dynfer.processes.drifts.LinearDrift`."""
        return LinearDrift(self.A.copy())

    # ------------------------------------------------------------------ fields
    def score(self, x: Any) -> Any:
        r"""The stationary score :math:`s(x) = \nabla\log\rho(x) = -\Sigma^{-1}x` of states ``(n, d)`` or ``(d,)``."""
        return _apply(-self.precision, x)

    def velocity(self, x: Any) -> Any:
        r"""The probability-flow velocity :math:`v(x) = b(x) - Ds(x) = (-A + D\Sigma^{-1})x`."""
        return _apply(-self.flow_matrix, x)

    def local_density(self, x: Any) -> Any:
        r"""The local entropy-production density :math:`e(x) = v(x)^\top D^{+} v(x)`, shape ``(n,)`` (or ``()``).

        Over the noisy coordinates only: where the velocity has a component on a coordinate without noise the
        total rate is infinite (see :attr:`entropy_production`), and this is the finite noisy-block part.
        """
        v = self.velocity(x)
        w = _apply(self._d_pinv, v)
        return (v * w).sum(-1)

    # ------------------------------------------------------------------ rates
    @cached_property
    def entropy_production(self) -> float:
        r"""The rate :math:`\sigma = E[v^\top D^{+} v] = \mathrm{tr}(D^{+}M\Sigma M^\top)`.

        ``math.inf`` when :math:`E[v_k^2] > 0` on a coordinate :math:`k` without noise (the forward and reversed
        path measures are then mutually singular).
        """
        second = self._velocity_second_moment
        quiet = [k for k in range(self.dim) if k not in self.noisy]
        scale = max(float(np.abs(second).max()), 1e-300)
        if quiet and float(np.diag(second)[quiet].max()) > 1e-10 * scale:
            return math.inf
        return float(np.trace(self._d_pinv @ second))

    def sector_rate(self, coords: Sequence[int]) -> float:
        r"""The rate of a set ``g`` of noisy coordinates, :math:`\sigma_g = E[v_g^\top D_{gg}^{-1} v_g]`.

        For a block-diagonal :math:`D` the rates of the blocks add up to :attr:`entropy_production`.

        Parameters
        ----------
        coords
            Distinct indices of coordinates with :math:`D_{kk} > 0`.
        """
        items = list(coords) if isinstance(coords, (Sequence, np.ndarray)) and not isinstance(coords, str) else None
        if items is None or not all(isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))
                                    for k in items):
            raise BadInputError("coords", f"{coords!r}", "a sequence of integer coordinate indices")
        idx = [int(k) for k in items]
        if not idx or len(set(idx)) != len(idx) or any(k not in self.noisy for k in idx):
            raise BadInputError("coords", f"{coords!r}", f"distinct indices of noisy coordinates, among {self.noisy}")
        block = np.ix_(idx, idx)
        return float(np.trace(np.linalg.solve(self.D[block], self._velocity_second_moment[block])))

    @cached_property
    def per_coordinate_rates(self) -> np.ndarray:
        r"""Per coordinate :math:`E[v_k^2]/D_{kk} = (M\Sigma M^\top)_{kk}/D_{kk}`, shape ``(d,)``.

        ``inf`` on a coordinate without noise that has a velocity, 0 on one without either. They add up to
        :attr:`entropy_production` when :math:`D` is diagonal.
        """
        second = np.diag(self._velocity_second_moment)
        dd = np.diag(self.D)
        scale = max(float(second.max()), 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(dd > 0, second / np.where(dd > 0, dd, 1.0), np.where(second > 1e-10 * scale, np.inf, 0.0))
        out.setflags(write=False)
        return out

    # ------------------------------------------------------------------ samples
    def sample(self, n: int, seed: int | torch.Generator | None = None) -> np.ndarray:
        r"""Exact stationary samples from :math:`\mathcal N(0, \Sigma)`, a numpy ``float64`` array ``(n, d)``.

        Parameters
        ----------
        n
            Number of samples.
        seed
            Seed (``None``: ``dynfer.settings.seed``, else fresh entropy), see
            :func:`dynfer._validation.resolve_seed`.
        """
        n = check_int(n, "n")
        check_work(float(n) * self.dim, "LinearEntropyBenchmark.sample: n", f"{n} samples x {self.dim} coordinates",
                   change="draw fewer samples")
        rng = np.random.default_rng(resolve_seed(seed))
        return rng.standard_normal((n, self.dim)) @ np.linalg.cholesky(self.covariance).T

    def transition(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        r"""The exact transition over ``dt``: :math:`e^{-A\,dt}` and :math:`\Sigma - e^{-A\,dt}\Sigma e^{-A^\top dt}`.

        The covariance is computed by Van Loan's block exponential
        (:meth:`dynfer.processes.OrnsteinUhlenbeck.transition`), which equals the difference above without its
        cancellation at small ``dt``.
        """
        from dynfer.processes.sde.ornstein_uhlenbeck import OrnsteinUhlenbeck

        dt = check_positive(dt, "dt")
        ou = OrnsteinUhlenbeck(torch.tensor(self.A, dtype=torch.float64), torch.tensor(self.D, dtype=torch.float64))
        eye = torch.eye(self.dim, dtype=torch.float64)
        phi, cov = ou.transition(eye, dt)  # rows e^{-A dt} e_i: phi = (e^{-A dt})^T
        return phi.T.numpy().copy(), cov.numpy().copy()

    def trajectories(self, n_paths: int, n_steps: int, dt: float,
                     seed: int | torch.Generator | None = None) -> np.ndarray:
        r"""Exact stationary paths observed every ``dt``, a numpy ``float64`` array ``(n_steps + 1, n_paths, d)``.

        :math:`X_0 \sim \mathcal N(0, \Sigma)` and :math:`X_{t+1} = e^{-A\,dt}X_t + \xi_t` with
        :math:`\xi_t \sim \mathcal N(0, \Sigma - e^{-A\,dt}\Sigma e^{-A^\top dt})` (no discretisation error).

        Parameters
        ----------
        n_paths, n_steps
            Number of paths and of steps per path (``n_steps + 1`` observed times).
        dt
            Observation interval.
        seed
            Seed of the noise (see :meth:`sample`).
        """
        n_paths = check_int(n_paths, "n_paths")
        n_steps = check_int(n_steps, "n_steps")
        dt = check_positive(dt, "dt")
        check_work(float(n_steps + 1) * (n_paths * self.dim + STEP_COST), "LinearEntropyBenchmark.trajectories",
                   f"{n_steps} steps x {n_paths} paths x {self.dim} coordinates",
                   change="simulate fewer steps or paths")
        phi, cov = self.transition(dt)
        evals, evecs = np.linalg.eigh(cov)
        root = evecs * np.sqrt(np.clip(evals, 0.0, None))  # root @ root.T = cov (PSD, possibly near-singular)
        rng = np.random.default_rng(resolve_seed(seed))
        out = np.empty((n_steps + 1, n_paths, self.dim))
        out[0] = rng.standard_normal((n_paths, self.dim)) @ np.linalg.cholesky(self.covariance).T
        step_t, root_t = phi.T, root.T
        for t in range(n_steps):
            out[t + 1] = out[t] @ step_t + rng.standard_normal((n_paths, self.dim)) @ root_t
        return out

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"LinearEntropyBenchmark({self.name}: {params}; dim={self.dim}, sigma={self.entropy_production:.6g})"


# ---------------------------------------------------------------------- constructors
def _positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise BadInputError(name, f"{value!r}", "a number")
    return check_positive(value, name, allow_zero=allow_zero)


def _real(value: Any, name: str) -> float:
    return check_real(value, name)


def random_ou(dim: int = 5, seed: int | None = 0, *, asymmetry: float = 1.0,
              diagonal_noise: bool = True) -> LinearEntropyBenchmark:
    r"""A random non-equilibrium OU process: :math:`A = S + K` with :math:`S` SPD and :math:`K` antisymmetric.

    :math:`S = Q\,\mathrm{diag}(\lambda)\,Q^\top` with a random rotation :math:`Q` and :math:`\lambda \sim
    U[0.5, 2]`, so the eigenvalues of :math:`A` have real parts at least 0.5 (the symmetric part of :math:`A`
    is :math:`S`); :math:`K = a\,(G - G^\top)/\sqrt{2d}` with :math:`G` standard normal and ``a = asymmetry``;
    :math:`D` diagonal with entries :math:`U[0.5, 1.5]` (or, with ``diagonal_noise=False``, a random SPD
    matrix :math:`LL^\top/d + 0.5 I`). With :math:`K` scaled by :math:`1/\sqrt d` the rate is extensive:
    about 1–3 for ``dim`` 2–5 (smaller for some seeds at ``dim = 2``, where :math:`K` is one number), 7–11 at
    ``dim = 10``, about ``0.9 dim`` beyond, at ``asymmetry = 1``; it grows like ``asymmetry**2``.

    Parameters
    ----------
    dim
        State dimension (at least 2: one dimension has no rotation).
    seed
        Seed of the matrices (``None``: ``dynfer.settings.seed``, else fresh entropy; the seed used is recorded).
    asymmetry
        Scale :math:`a \ge 0` of the antisymmetric part (``asymmetry = 0`` is in equilibrium only when :math:`S`
        and :math:`D` commute, e.g. :math:`D \propto I`: detailed balance of an OU process is :math:`AD = DA^\top`).
    diagonal_noise
        Diagonal (default) or full SPD :math:`D`.
    """
    dim = check_int(dim, "dim", minimum=2)
    if dim > 2000:
        raise BadInputError("dim", f"{dim}", "at most 2000 (a dense Lyapunov solve)")
    a = _positive(asymmetry, "asymmetry", allow_zero=True)
    if not isinstance(diagonal_noise, (bool, np.bool_)):
        raise BadInputError("diagonal_noise", f"{diagonal_noise!r}", "True or False")
    used = resolve_seed(seed)
    rng = np.random.default_rng(used)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    s = (q * rng.uniform(0.5, 2.0, dim)) @ q.T
    g = rng.standard_normal((dim, dim))
    k = a * (g - g.T) / math.sqrt(2.0 * dim)
    if diagonal_noise:
        d = np.diag(rng.uniform(0.5, 1.5, dim))
    else:
        ell = rng.standard_normal((dim, dim))
        d = ell @ ell.T / dim + 0.5 * np.eye(dim)
    return LinearEntropyBenchmark("random_ou", 0.5 * (s + s.T) + k, d,
                                  {"dim": dim, "seed": used, "asymmetry": a, "diagonal_noise": bool(diagonal_noise)})


def rotational_ou(mu: float = 1.3, omega: float = 0.7, temperature: float = 1.0) -> LinearEntropyBenchmark:
    r"""The rotational OU process :math:`A = [[\mu, -\omega], [\omega, \mu]]`, :math:`D = T\,I`.

    :math:`\Sigma = (T/\mu) I`, :math:`v = \omega(y, -x)` and :math:`\sigma = 2\omega^2/\mu` (independent of
    :math:`T`): 0.75385 at the defaults.

    Parameters
    ----------
    mu
        Relaxation rate :math:`\mu > 0`.
    omega
        Rotation rate :math:`\omega` (any sign; 0 is equilibrium).
    temperature
        :math:`T > 0`.
    """
    m = _positive(mu, "mu")
    w = _real(omega, "omega")
    t = _positive(temperature, "temperature")
    return LinearEntropyBenchmark("rotational_ou", np.array([[m, -w], [w, m]]), t * np.eye(2),
                                  {"mu": m, "omega": w, "temperature": t})


def brownian_gyrator(k1: float = 2.0, k2: float = 1.0, u: float = 0.6, T1: float = 1.0,
                     T2: float = 0.3) -> LinearEntropyBenchmark:
    r"""The Brownian gyrator :math:`A = [[k_1, u], [u, k_2]]`, :math:`D = \mathrm{diag}(T_1, T_2)`.

    Filliger & Reimann, PRL 99, 230602 (2007).
    :math:`\sigma = u^2(T_1 - T_2)^2 / (T_1 T_2 (k_1 + k_2))`: 0.196 at the defaults.

    Parameters
    ----------
    k1, k2, u
        Stiffnesses and coupling; the potential must be confining: :math:`k_1, k_2 > 0`, :math:`k_1 k_2 > u^2`.
    T1, T2
        Temperatures of the two coordinates, positive.
    """
    a1, a2, c = _positive(k1, "k1"), _positive(k2, "k2"), _real(u, "u")
    t1, t2 = _positive(T1, "T1"), _positive(T2, "T2")
    if a1 * a2 <= c * c:
        raise BadInputError("u", f"u^2 = {c * c:.3g} >= k1 k2 = {a1 * a2:.3g}", "a confining potential, u^2 < k1 k2")
    return LinearEntropyBenchmark("brownian_gyrator", np.array([[a1, c], [c, a2]]), np.diag([t1, t2]),
                                  {"k1": a1, "k2": a2, "u": c, "T1": t1, "T2": t2})


def aoup_trap(dim: int = 1, kappa: float = 0.5, v0: float = 1.2, gamma: float = 0.3,
              epsilon: float = 0.1) -> LinearEntropyBenchmark:
    r"""Active Ornstein–Uhlenbeck particle in a harmonic trap, in ``dim`` dimensions.

    :math:`dx = (-\kappa x + v_0 g)\,dt + \sqrt{2\varepsilon}\,dW`, :math:`dg = -\gamma g\,dt + \sqrt{2\gamma}\,dB`.
    The state is :math:`(x_1, \dots, x_d, g_1, \dots, g_d)`: positions first, then the active velocities
    (coordinates ``dim ... 2 dim - 1``). With every variable even under time reversal:
    :math:`\sigma = d\,v_0^2\gamma / (\varepsilon(\kappa+\gamma))` (5.4 at the defaults) and the :math:`g` sector
    :math:`\sigma_g = d\,v_0^2\gamma\kappa / (\varepsilon(\kappa+\gamma)^2 + v_0^2\gamma)` (0.43548).
    ``epsilon = 0`` is allowed (degenerate noise, the MIPS setting): then :math:`\sigma = \infty`
    (``math.inf``) and :math:`\sigma_g = d\kappa`.

    Parameters
    ----------
    dim
        Spatial dimension d.
    kappa, gamma
        Trap stiffness and persistence rate, positive.
    v0
        Self-propulsion speed (any sign; ``v0 = 0`` with ``epsilon = 0`` has no stationary density).
    epsilon
        Translational diffusivity :math:`\varepsilon \ge 0`.
    """
    d = check_int(dim, "dim")
    if d > 1000:
        raise BadInputError("dim", f"{d}", "at most 1000 (a dense Lyapunov solve of size 2 dim)")
    k, g, e = _positive(kappa, "kappa"), _positive(gamma, "gamma"), _positive(epsilon, "epsilon", allow_zero=True)
    v = _real(v0, "v0")
    if e == 0.0 and v == 0.0:
        raise BadInputError("v0", "0 with epsilon = 0", "v0 != 0 or epsilon > 0 (else the positions freeze at 0)")
    eye = np.eye(d)
    a = np.block([[k * eye, -v * eye], [np.zeros((d, d)), g * eye]])
    dm = np.block([[e * eye, np.zeros((d, d))], [np.zeros((d, d)), g * eye]])
    return LinearEntropyBenchmark("aoup_trap", a, dm, {"dim": d, "kappa": k, "v0": v, "gamma": g, "epsilon": e})


def bead_spring(n_beads: int, T_hot: float = 10.0, T_cold: float | None = None, k: float = 1.0,
                e: float = 1.0) -> LinearEntropyBenchmark:
    r"""The bead-spring chain of NEEP (Kim et al., PRL 125, 140604, 2020) between two walls.

    Drift :math:`-(k/e)\,L x` with :math:`L = \mathrm{tridiag}(-1, 2, -1)` (each end bead is tied to a wall:
    Dirichlet ends), :math:`D_{ii} = T_i / e` with :math:`T_i` linear from :math:`T_c` (bead 0) to :math:`T_h`
    (bead N-1). For N = 2, :math:`\sigma = k(T_h - T_c)^2 / (4 e T_h T_c)`: 2.025 at :math:`T_c = 1`,
    :math:`T_h = 10`; N = 5 gives 0.62982.

    Parameters
    ----------
    n_beads
        Number of beads N >= 2.
    T_hot, T_cold
        End temperatures, positive. ``T_cold=None`` takes :data:`BEAD_SPRING_UNIT_RATE_T_COLD` [N] for N in the
        NEEP high-dimensional set (8, 16, 32, 48, 64, 80, 128: :math:`\sigma = 1` at ``T_hot = 10``,
        ``k = e = 1``) and :math:`T_c = 1` for any other N (the N = 2 and N = 5 check values).
    k, e
        Spring constant and friction coefficient, positive.
    """
    n = check_int(n_beads, "n_beads", minimum=2)
    if n > 2000:
        raise BadInputError("n_beads", f"{n}", "at most 2000 (a dense Lyapunov solve)")
    th = _positive(T_hot, "T_hot")
    if T_cold is None:
        tc = BEAD_SPRING_UNIT_RATE_T_COLD.get(n, 1.0)
    else:
        tc = _positive(T_cold, "T_cold")
    kk, ee = _positive(k, "k"), _positive(e, "e")
    lap = 2.0 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    temps = np.linspace(tc, th, n)
    return LinearEntropyBenchmark("bead_spring", (kk / ee) * lap, np.diag(temps / ee),
                                  {"n_beads": n, "T_hot": th, "T_cold": tc, "k": kk, "e": ee})


#: The constructors by name.
ENTROPY_BENCHMARKS: dict[str, Callable[..., LinearEntropyBenchmark]] = {
    "random_ou": random_ou,
    "rotational_ou": rotational_ou,
    "brownian_gyrator": brownian_gyrator,
    "aoup_trap": aoup_trap,
    "bead_spring": bead_spring,
}


def entropy_benchmark(name: str, **params: Any) -> LinearEntropyBenchmark:
    """The benchmark ``name`` of :data:`ENTROPY_BENCHMARKS`, built with ``params``.

    Examples
    --------
    >>> round(entropy_benchmark("bead_spring", n_beads=2).entropy_production, 3)
    2.025
    """
    if not isinstance(name, str) or name not in ENTROPY_BENCHMARKS:
        raise BadInputError("name", f"{name!r}", f"one of {sorted(ENTROPY_BENCHMARKS)}")
    try:
        return ENTROPY_BENCHMARKS[name](**params)
    except TypeError as err:
        raise BadInputError("params", str(err), f"keyword arguments of {name}") from None
