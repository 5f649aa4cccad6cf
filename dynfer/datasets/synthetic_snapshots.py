r"""Seeded synthetic snapshot data: Lotka–Volterra, repressilator, a rigid-rotation vortex and Ornstein–Uhlenbeck.

As in the multi-marginal benchmarks of Shen et al. (AISTATS 2025, repository
``YunyiShen/mmTrajectory-inference-benchmarks``), every time point gets its *own* independent draw of initial points
that is integrated from 0 to that time (``independent=True``): the snapshots are truly unpaired. With
``independent=False`` one set of paths is observed at all times and ``obs['trajectory']`` is kept (ground-truth
couplings). The SDEs are integrated with the batched Euler–Maruyama of :meth:`dynfer.processes.SDE.simulate`
(all paths of all time points at once); the vortex and OU marginals are sampled exactly.

Every generator returns snapshot AnnData (``X`` the state, ``obs['time']``) with its parameters in
``uns['dynfer_source']``. ``seed=None`` means ``dynfer.settings.seed`` (fresh entropy when that is ``None``); the
seed actually used is recorded in ``uns['dynfer_source']['parameters']['seed']``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import anndata as ad
import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import as_tensor, check_positive, resolve_seed
from dynfer.io._model import make_snapshots
from dynfer.processes import SDE, LotkaVolterra, OrnsteinUhlenbeck, Repressilator

__all__ = ["lotka_volterra_snapshots", "ou_snapshots", "repressilator_snapshots", "vortex_snapshots"]


def _times(times: Any, name: str = "times") -> np.ndarray:
    try:
        t = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(name, f"{times!r}", "a 1-D array of finite, increasing times") from None
    if t.ndim != 1 or len(t) < 1 or not np.isfinite(t).all():
        raise BadInputError(f"{name} must be a 1-D array of finite times, got shape {t.shape}")
    if t[0] < 0 or (np.diff(t) <= 0).any():
        raise BadInputError(f"{name} must be non-negative and strictly increasing, got {t.tolist()}")
    return t


def _check_n(n: int, name: str = "n_per_time") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadInputError(f"{name} must be a positive int, got {n!r}")
    return n


def _uniform_box(low: Sequence[float], high: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if lo.shape != hi.shape or lo.ndim != 1 or (hi < lo).any():
        raise BadInputError(f"{name}: low and high must be 1-D of equal length with high >= low, got {lo}, {hi}")
    return lo, hi


def _simulate_snapshots(
    sde: SDE,
    x0_low: np.ndarray,
    x0_high: np.ndarray,
    times: np.ndarray,
    n_per_time: int,
    *,
    dt: float,
    independent: bool,
    seed: int,
    device: str | torch.device | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Simulate from uniform initial boxes; return rows (x, time, trajectory or None)."""
    dev = settings.resolve_device(device)
    gen = settings.generator(seed, dev)
    n_t, d = len(times), len(x0_low)
    n_init = n_per_time * n_t if independent else n_per_time
    lo = torch.as_tensor(x0_low, dtype=torch.float64, device=dev)
    hi = torch.as_tensor(x0_high, dtype=torch.float64, device=dev)
    x0 = lo + (hi - lo) * torch.rand((n_init, d), generator=gen, dtype=torch.float64, device=dev)
    grid = np.r_[0.0, times] if times[0] > 0 else times
    paths = sde.to(dev).simulate(x0, torch.as_tensor(grid), dt=dt, seed=gen)  # (T', n_init, d)
    paths = paths[1:] if times[0] > 0 else paths
    if independent:  # group i (rows i*n .. (i+1)*n) is observed at time i only
        blocks = paths.reshape(n_t, n_t, n_per_time, d)
        idx = torch.arange(n_t, device=dev)
        x = blocks[idx, idx].reshape(n_t * n_per_time, d)
        traj = None
    else:
        x = paths.reshape(n_t * n_per_time, d)
        traj = np.tile(np.arange(n_per_time), n_t)
    t_rows = np.repeat(times, n_per_time)
    return x.cpu().numpy(), t_rows, traj


def _finish(
    x: np.ndarray, t_rows: np.ndarray, traj: np.ndarray | None, var_names: list[str], source: dict[str, Any]
) -> ad.AnnData:
    if not np.isfinite(x).all():
        raise FloatingPointError(f"{source['name']}: the simulation produced non-finite states; lower dt or sigma")
    return make_snapshots(x, t_rows, trajectory=traj, var_names=var_names, source=source)


def lotka_volterra_snapshots(
    n_per_time: int = 200,
    times: Sequence[float] | np.ndarray = tuple(range(11)),
    *,
    alpha: float = 1.0,
    beta: float = 0.4,
    gamma: float = 0.4,
    delta: float = 0.1,
    sigma: float = 0.02,
    x0_low: Sequence[float] = (5.0, 4.0),
    x0_high: Sequence[float] = (5.1, 4.1),
    dt: float = 0.01,
    independent: bool = True,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Snapshots of the stochastic Lotka–Volterra model of the ``mmtraj_benchmarks`` LV data.

    .. math:: dx = (\alpha x - \beta x y)\,dt + \sigma x\,dW_1,\qquad dy = (\delta x y - \gamma y)\,dt + \sigma y\,dW_2,

    (Itô, multiplicative noise), :math:`(x_0, y_0) \sim U([5, 5.1] \times [4, 4.1])`, defaults
    :math:`\alpha = 1, \beta = 0.4, \gamma = 0.4, \delta = 0.1, \sigma = 0.02`, observation times 0, 1, ..., 10 and
    200 points per time (Shen, Berlinghieri & Broderick, AISTATS 2025). Euler–Maruyama with step ``dt``.

    Parameters
    ----------
    seed
        Seeds the one :class:`torch.Generator` of the initial points and the Euler–Maruyama increments (a
        :class:`torch.Generator` stands for one int drawn from it). ``None``: ``dynfer.settings.seed`` (fresh entropy
        when that is ``None``); the seed used is recorded in ``uns['dynfer_source']['parameters']['seed']``.

    Returns
    -------
    AnnData
        ``len(times) * n_per_time`` rows, ``X`` = (prey, predator), ``obs['time']``; ``obs['trajectory']`` when
        ``independent=False``.

    Examples
    --------
    >>> from dynfer.datasets import lotka_volterra_snapshots
    >>> adata = lotka_volterra_snapshots(n_per_time=10, times=[0, 1, 2], seed=0)
    >>> adata.shape
    (30, 2)
    """
    seed = resolve_seed(seed)
    n = _check_n(n_per_time)
    t = _times(times)
    lo, hi = _uniform_box(x0_low, x0_high, "x0_low/x0_high")
    if len(lo) != 2:
        raise BadInputError(f"x0_low and x0_high must have 2 entries (prey, predator), got {len(lo)}")
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    sde = LotkaVolterra(alpha, beta, gamma, delta, sigma=sigma, noise="multiplicative").double()
    x, tr, traj = _simulate_snapshots(sde, lo, hi, t, n, dt=dt, independent=independent, seed=seed, device=device)
    params = {
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "delta": delta,
        "sigma": sigma,
        "noise": "multiplicative",
        "x0_low": lo,
        "x0_high": hi,
        "times": t,
        "n_per_time": n,
        "dt": dt,
        "independent": independent,
    }
    return _finish(x, tr, traj, ["prey", "predator"], _source("lotka_volterra_snapshots", params, seed))


def repressilator_snapshots(
    n_per_time: int = 200,
    times: Sequence[float] | np.ndarray = tuple(1.5 * i for i in range(11)),
    *,
    beta: float = 10.0,
    n: float = 3.0,
    k: float = 1.0,
    gamma: float = 1.0,
    sigma: float = 0.02,
    x0_low: Sequence[float] = (1.0, 1.0, 2.0),
    x0_high: Sequence[float] = (1.1, 1.1, 2.1),
    dt: float = 0.01,
    independent: bool = True,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Snapshots of the three-gene repressilator (mRNA only), as in the ``Repressilatormrna`` benchmark.

    .. math:: dx_i = \Big(\frac{\beta}{1 + (x_{i-1}/k)^n} - \gamma x_i\Big)dt + \sigma\,\max(x_i, 0)\,dW_i,
              \qquad i = 1, 2, 3 \ (x_0 \equiv x_3),

    :math:`\beta = 10, n = 3, k = 1, \gamma = 1, \sigma = 0.02` (Elowitz & Leibler 2000; Shen et al. 2025), initial
    points :math:`U([1, 1.1] \times [1, 1.1] \times [2, 2.1])`. Default times :math:`t_i = 1.5 i`, i = 0..10 (the SBIRR
    protocol); the staged ``mmtraj_benchmarks`` file uses :math:`t = 0, 1, \dots, 10` (pass ``times=range(11)``) and
    was simulated with Euler steps of ``1e-3``: pass ``dt=1e-3`` to reproduce its law (with the default ``0.01`` the
    limit cycle's phase drifts, and at :math:`t = 8` the two laws are 0.65 apart in W2 against a sampling floor of
    about 0.1).

    Parameters
    ----------
    seed
        Seeds the one :class:`torch.Generator` of the initial points and the noise increments (a
        :class:`torch.Generator` stands for one int drawn from it). ``None``: ``dynfer.settings.seed`` (fresh entropy
        when that is ``None``); the seed used is recorded in ``uns['dynfer_source']['parameters']['seed']``.
    """
    seed = resolve_seed(seed)
    npt = _check_n(n_per_time)
    t = _times(times)
    lo, hi = _uniform_box(x0_low, x0_high, "x0_low/x0_high")
    if len(lo) != 3:
        raise BadInputError(f"x0_low and x0_high must have 3 entries (one per gene), got {len(lo)}")
    model = Repressilator(beta, n, k, gamma, n_genes=3, sigma=1.0).double()
    sig = check_positive(sigma, "sigma")
    if not sig > 0:
        raise BadInputError(f"sigma must be > 0, got {sigma!r}")
    sde = SDE(drift=model.drift, diffusion=_relu_noise(sig), noise_type="diagonal")
    x, tr, traj = _simulate_snapshots(sde, lo, hi, t, npt, dt=dt, independent=independent, seed=seed, device=device)
    params = {
        "beta": beta,
        "n": n,
        "k": k,
        "gamma": gamma,
        "sigma": sig,
        "noise": "multiplicative (sigma*relu(x))",
        "x0_low": lo,
        "x0_high": hi,
        "times": t,
        "n_per_time": npt,
        "dt": dt,
        "independent": independent,
    }
    return _finish(x, tr, traj, ["gene1", "gene2", "gene3"], _source("repressilator_snapshots", params, seed))


def _relu_noise(sigma: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def g(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return sigma * torch.relu(x)

    return g


def _source(name: str, params: dict[str, Any], seed: int, **extra: Any) -> dict[str, Any]:
    clean = {k: (np.asarray(v) if isinstance(v, list | tuple) else v) for k, v in params.items()}
    clean["seed"] = int(seed)
    return {"name": name, "generator": f"dynfer.datasets.{name}", "parameters": clean, **extra}


def _gaussian(mean: torch.Tensor, cov: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Rows ``mean[i] + L z`` with ``L L^T = cov`` (symmetric square root, so a singular ``cov`` is fine)."""
    evals, evecs = torch.linalg.eigh(cov)
    root = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
    z = torch.randn(mean.shape, generator=gen, dtype=mean.dtype, device=mean.device)
    return mean + z @ root.T


def vortex_snapshots(
    n_per_time: int = 200,
    times: Sequence[float] | np.ndarray = tuple(0.8 * i for i in range(11)),
    *,
    omega: float = 0.4,
    center: Sequence[float] = (0.0, 0.0),
    sigma: float = 0.01,
    x0_low: Sequence[float] = (-0.05, -0.8),
    x0_high: Sequence[float] = (0.05, -0.7),
    independent: bool = True,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Snapshots of particles advected by a rigid-rotation vortex with additive noise (a Gulf-of-Mexico stand-in).

    .. math:: dX_t = \omega\,J\,(X_t - c)\,dt + \sigma\,dW_t,\qquad J = \begin{pmatrix} 0 & -1 \\ 1 & 0\end{pmatrix},

    a counter-clockwise rotation at angular rate :math:`\omega` about the centre :math:`c` (the velocity field
    :math:`u = -\omega (y - c_y),\ v = \omega (x - c_x)`). Because rotations preserve isotropic Gaussians the law is
    exact: :math:`X_t = c + R(\omega t)(X_0 - c) + \sigma \sqrt{t}\,\xi`, :math:`\xi \sim \mathcal N(0, I)`, which is
    how it is sampled (no time-stepping error). The defaults mimic the staged GoM design: times 0, 0.8, ..., 8,
    :math:`X_0 \sim U([-0.05, 0.05] \times [-0.8, -0.7])`, :math:`\sigma = 0.01`; :math:`\omega = 0.4` turns the
    particles by 3.2 rad over the horizon. The SBIRR reference family for GoM is such a rigid rotation.

    Parameters
    ----------
    seed
        Seeds the one :class:`torch.Generator` behind the initial points and the Gaussian noise, which is sampled
        exactly; a :class:`torch.Generator` stands for one int drawn from it. ``None``: ``dynfer.settings.seed``
        (fresh entropy when that is ``None``). The seed used is recorded in
        ``uns['dynfer_source']['parameters']['seed']``.
    """
    seed = resolve_seed(seed)
    npt = _check_n(n_per_time)
    t = _times(times)
    lo, hi = _uniform_box(x0_low, x0_high, "x0_low/x0_high")
    c = np.asarray(center, dtype=np.float64)
    if len(lo) != 2 or c.shape != (2,):
        raise BadInputError("x0_low, x0_high and center must each have 2 entries (x, y)")
    omega = float(as_tensor(omega, "omega", dtype=torch.float64, device="cpu", ndim=0))
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    dev = settings.resolve_device(device)
    gen = settings.generator(seed, dev)
    n_t = len(t)
    n_init = npt * n_t if independent else npt
    lo_t, hi_t = (torch.as_tensor(v, dtype=torch.float64, device=dev) for v in (lo, hi))
    x0 = lo_t + (hi_t - lo_t) * torch.rand((n_init, 2), generator=gen, dtype=torch.float64, device=dev)
    x0 = x0.reshape(n_t, npt, 2) if independent else x0.expand(n_t, npt, 2)
    tt = torch.as_tensor(t, dtype=torch.float64, device=dev)
    ang = float(omega) * tt
    rot = torch.stack((torch.stack((ang.cos(), -ang.sin()), -1), torch.stack((ang.sin(), ang.cos()), -1)), -2)
    ct = torch.as_tensor(c, dtype=torch.float64, device=dev)
    if independent:
        noise = torch.randn((n_t, npt, 2), generator=gen, dtype=torch.float64, device=dev)
    else:  # one Brownian path per particle: cumulative independent increments over the time grid
        dts = torch.diff(torch.cat((tt.new_zeros(1), tt)))
        inc = torch.randn((n_t, npt, 2), generator=gen, dtype=torch.float64, device=dev) * dts.sqrt()[:, None, None]
        # noise at t_k is sum_j R(omega (t_k - t_j)) dW_j: accumulate by rotating the running sum
        acc, out = torch.zeros((npt, 2), dtype=torch.float64, device=dev), []
        prev = 0.0
        for k in range(n_t):  # loop over time points (not paths)
            a = float(omega) * (float(tt[k]) - prev)
            r = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64, device=dev)
            acc = acc @ r.T + inc[k]
            out.append(acc)
            prev = float(tt[k])
        noise = torch.stack(out)
    scale = float(sigma) * (tt.sqrt()[:, None, None] if independent else 1.0)
    x = ct + torch.einsum("tij,tnj->tni", rot, x0 - ct) + scale * noise
    traj = None if independent else np.tile(np.arange(npt), n_t)
    params = {
        "omega": float(omega),
        "center": c,
        "sigma": float(sigma),
        "x0_low": lo,
        "x0_high": hi,
        "times": t,
        "n_per_time": npt,
        "independent": independent,
        "sampling": "exact",
    }
    src = _source("vortex_snapshots", params, seed, field="u = -omega (y - c_y), v = omega (x - c_x)")
    return _finish(x.reshape(-1, 2).cpu().numpy(), np.repeat(t, npt), traj, ["x", "y"], src)


def ou_snapshots(
    n_per_time: int = 200,
    times: Sequence[float] | np.ndarray = tuple(0.2 * i for i in range(11)),
    *,
    A: float | np.ndarray = 1.0,
    D: float | np.ndarray = 0.1,
    dim: int = 2,
    x0_mean: float | Sequence[float] = 2.0,
    x0_std: float = 0.1,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Independent snapshots of an Ornstein–Uhlenbeck process, sampled from its exact Gaussian marginals.

    .. math:: dX = -A X\,dt + \sqrt{2D}\,dW,\qquad X_0 \sim \mathcal N(m_0, s_0^2 I),

    so :math:`X_t \sim \mathcal N(e^{-At} m_0,\ s_0^2 e^{-At} e^{-A^\top t} + \Sigma_t)` with
    :math:`\Sigma_t = \int_0^t e^{-As}\,2D\,e^{-A^\top s} ds` (Van Loan). Every time point has its own draw. The exact
    marginal means ``(T, d)`` and covariances ``(T, d, d)`` are stored in ``uns['dynfer_source']`` as ground truth.

    Parameters
    ----------
    seed
        Seeds the one :class:`torch.Generator` of the initial points and the exact marginal draws (a
        :class:`torch.Generator` stands for one int drawn from it). ``None``: ``dynfer.settings.seed`` (fresh entropy
        when that is ``None``); the seed used is recorded in ``uns['dynfer_source']['parameters']['seed']``.
    """
    seed = resolve_seed(seed)
    npt = _check_n(n_per_time)
    t = _times(times)
    dev = settings.resolve_device(device)
    gen = settings.generator(seed, dev)
    a_in = as_tensor(A, "A", dtype=torch.float64, device="cpu")
    d_in = as_tensor(D, "D", dtype=torch.float64, device="cpu")
    if a_in.ndim == 0:
        a_in = a_in * torch.ones(dim, dtype=torch.float64)
    if d_in.ndim == 0:
        d_in = d_in * torch.ones(a_in.shape[0], dtype=torch.float64)
    ou = OrnsteinUhlenbeck(a_in, d_in).to(dev)
    d = ou.dim
    m0 = torch.as_tensor(np.broadcast_to(np.asarray(x0_mean, dtype=np.float64), (d,)).copy(), device=dev)
    s0 = float(x0_std)
    if not s0 >= 0:
        raise BadInputError(f"x0_std must be >= 0, got {x0_std!r}")
    rows, means, covs = [], [], []
    for tk in t:  # loop over time points; all particles of a time point at once
        x0 = m0 + s0 * torch.randn((npt, d), generator=gen, dtype=torch.float64, device=dev)
        mean, cov = ou.transition(x0, float(tk))
        rows.append(_gaussian(mean, cov.to(mean.dtype), gen))
        mu, _ = ou.transition(m0[None], float(tk))
        phi = ou.transition(torch.eye(d, dtype=torch.float64, device=dev), float(tk))[0]  # rows e^{-At} e_i
        means.append(mu[0].cpu().numpy())
        covs.append((s0**2 * phi.T @ phi + cov.double()).cpu().numpy())
    x = torch.cat(rows).cpu().numpy()
    params = {
        "A": ou.A.cpu().numpy(),
        "D": ou.D.cpu().numpy(),
        "x0_mean": m0.cpu().numpy(),
        "x0_std": s0,
        "times": t,
        "n_per_time": npt,
        "sampling": "exact",
    }
    src = _source("ou_snapshots", params, seed, marginal_means=np.stack(means), marginal_covariances=np.stack(covs))
    return _finish(x, np.repeat(t, npt), None, [f"x{i}" for i in range(d)], src)
