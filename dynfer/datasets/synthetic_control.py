r"""Seeded simulators of the five policy-evaluation benchmarks with closed-form values (Jia & Zhou 2022).

Each simulator returns AnnData in the layout read by ``dynfer.tl.policy_evaluation``: one row per sample, the state
in ``X`` ``(n_obs, 1)``; ``obs['trajectory']`` (int), ``obs['time']``, ``obs['reward']`` (the running reward *rate*
:math:`r(t_k, X_k)`, not multiplied by a step); for finite-horizon problems ``obs['terminal_reward']`` holds
:math:`h(X_k)` on *every* row (only each trajectory's last row, at :math:`T`, is read as the terminal reward; the
others are there so that no entry is NaN). ``uns['policy_problem']`` holds the problem's name, ``parameters`` (all
that :func:`exact_value` needs), ``setting`` (``"finite"``, ``"discounted"`` or ``"ergodic"``), ``discount``,
``horizon`` (``inf`` for the infinite-horizon problems; their simulated length is ``simulated_length``),
``theta_star`` (the exact coefficients of :func:`natural_features`, or :class:`GBMPowerValue`'s scalar) with
``feature_names``, the grid (``dt``, ``jitter``) and the ``seed`` used.

* :func:`ou_discounted`: :math:`dX = -\kappa X dt + \sigma dW`, :math:`r = x^2`, discount :math:`\beta`; exact
  Gaussian transitions;
* :func:`bm_terminal`: :math:`dX = \sigma dW`, :math:`h = x^2`, :math:`r = 0` on :math:`[0, T]`; exact increments;
* :func:`gbm_power`: :math:`dX = \mu X dt + \sigma X dW`, :math:`h = x^p`; exact log-normal steps;
* :func:`ergodic_lq`: the relaxed LQ under a Gaussian policy, long-run average; Euler-Maruyama with ``substeps``;
* :func:`mean_variance`: discounted wealth under a linear Gaussian policy; Euler-Maruyama with ``substeps``.

Stochastic policies: by default (``reward="relaxed"``) the state follows the *relaxed* (action-averaged) dynamics
and the reward is the action-averaged reward plus the entropy term, as JZ-PE prescribe for policy evaluation; the
``"sampled"`` mode draws an action per step instead (held over the step), drives the state with it and records
:math:`r(X_k, a_k) - \gamma\ln\pi(a_k \mid X_k)` and ``obs['action']``; both have the same value function.
Irregular grids: ``jitter`` :math:`= j \in [0, 1)` moves each interior time by :math:`j\,\Delta t\,(U - \tfrac12)`
(:math:`U` uniform, per path); the end points stay at 0 and :math:`T`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import torch

from dynfer._errors import BadInputError
from dynfer._validation import check_int, check_real, resolve_seed
from dynfer.datasets._control_values import (
    PROBLEMS,
    GBMPowerValue,
    bm_mstde_limit,
    ergodic_lq_coefficients,
    exact_value,
    gaussian_entropy,
    mean_variance_coefficients,
    natural_features,
)

__all__ = [
    "PROBLEMS",
    "GBMPowerValue",
    "bm_mstde_limit",
    "bm_terminal",
    "ergodic_lq",
    "ergodic_lq_coefficients",
    "exact_value",
    "gbm_power",
    "mean_variance",
    "mean_variance_coefficients",
    "natural_features",
    "ou_discounted",
    "policy_problem",
]


# ----------------------------------------------------------------------------------------------- argument checks
def _pos(value: Any, name: str) -> float:
    v = check_real(value, name)
    if v <= 0:
        raise BadInputError(name, f"{value!r}", "a finite number > 0")
    return v


def _nonneg(value: Any, name: str) -> float:
    v = check_real(value, name)
    if v < 0:
        raise BadInputError(name, f"{value!r}", "a finite number >= 0")
    return v


def _grid(n_paths: Any, dt: Any, horizon: Any, jitter: Any, rng: np.random.Generator) -> np.ndarray:
    """Observation times ``(n_paths, K + 1)`` on ``[0, horizon]``: ``k dt`` moved by ``jitter dt (U - 1/2)``."""
    n = check_int(n_paths, "n_paths")
    step = _pos(dt, "dt")
    end = _pos(horizon, "horizon")
    j = check_real(jitter, "jitter")
    if not 0.0 <= j < 1.0:
        raise BadInputError("jitter", f"{jitter!r}", "a number in [0, 1)")
    n_steps = int(round(end / step))
    if n_steps < 1 or abs(n_steps * step - end) > 1e-9 * end:
        raise BadInputError("dt", f"{dt!r} with horizon {horizon!r}",
                            "a step that divides the horizon into a whole number (>= 1) of steps")
    if n_steps * n > 50_000_000:
        raise BadInputError("n_paths", f"{n} paths of {n_steps} steps",
                            "at most 5e7 samples in all (lower n_paths or raise dt)")
    times = np.broadcast_to(np.arange(n_steps + 1) * step, (n, n_steps + 1)).copy()
    times[:, -1] = end
    if j > 0 and n_steps > 1:
        times[:, 1:-1] += j * step * (rng.random((n, n_steps - 1)) - 0.5)
    return times


def _start(x0: Any, n: int, name: str = "x0", positive: bool = False) -> np.ndarray:
    arr = np.asarray(x0, dtype=object)
    try:
        vals = np.broadcast_to(np.asarray(x0, dtype=np.float64), (n,)).copy()
    except (TypeError, ValueError):
        raise BadInputError(name, f"{x0!r}", f"a finite number or {n} finite starting states") from None
    if arr.ndim > 1 or not np.isfinite(vals).all() or (positive and (vals <= 0).any()):
        what = "positive" if positive else "finite"
        raise BadInputError(name, f"{x0!r}", f"a {what} number or {n} {what} starting states (one per path)")
    return vals


def _reward_mode(reward: Any) -> str:
    if reward not in ("relaxed", "sampled"):
        raise BadInputError("reward", f"{reward!r}", "'relaxed' (action-averaged) or 'sampled'")
    return str(reward)


def _float_dtype(dtype: Any) -> np.dtype:
    if str(dtype).removeprefix("torch.") not in ("float64", "float32"):
        raise BadInputError("dtype", f"{dtype!r}", "'float64' or 'float32' (the dtype of X)")
    return np.dtype(str(dtype).removeprefix("torch."))


# ------------------------------------------------------------------------------------------------------ layout
def _anndata(times: np.ndarray, states: np.ndarray, rewards: np.ndarray, problem: dict[str, Any], *,
             terminal: np.ndarray | None = None, actions: np.ndarray | None = None, var_name: str = "x",
             dtype: np.dtype | str = "float64") -> ad.AnnData:
    n, k = states.shape
    if not (np.isfinite(states).all() and np.isfinite(rewards).all()):
        raise BadInputError("the simulation", "non-finite states or rewards",
                            "finite paths (lower dt, the horizon or the noise)")
    obs = pd.DataFrame({
        "trajectory": np.repeat(np.arange(n, dtype=np.int64), k),
        "time": times.reshape(-1).astype(np.float64),
        "reward": rewards.reshape(-1).astype(np.float64),
    })
    if terminal is not None:
        if not np.isfinite(terminal).all():
            raise BadInputError("the simulation", "non-finite terminal rewards", "finite paths")
        obs["terminal_reward"] = terminal.reshape(-1).astype(np.float64)
    if actions is not None:
        obs["action"] = actions.reshape(-1).astype(np.float64)
    obs.index = obs.index.astype(str)
    adata = ad.AnnData(X=states.reshape(-1, 1).astype(dtype), obs=obs)
    adata.var_names = [var_name]
    adata.uns["policy_problem"] = problem
    return adata


def _problem(name: str, params: dict[str, Any], *, setting: str, discount: float, horizon: float, times: np.ndarray,
             dt: float, jitter: float, seed: int, theta_star: Sequence[float], feature_names: Sequence[str],
             reward: str = "relaxed", **extra: Any) -> dict[str, Any]:
    return {"name": name, "parameters": params, "setting": setting, "discount": float(discount),
            "horizon": float(horizon), "simulated_length": float(times[0, -1]), "dt": float(dt),
            "jitter": float(jitter), "n_paths": int(times.shape[0]), "seed": int(seed), "reward_mode": reward,
            "theta_star": np.asarray(theta_star, dtype=np.float64), "feature_names": list(feature_names), **extra}


def policy_problem(adata: ad.AnnData) -> Mapping[str, Any]:
    """``adata.uns['policy_problem']``, checked to come from one of these simulators."""
    problem = adata.uns.get("policy_problem") if hasattr(adata, "uns") else None
    if not isinstance(problem, Mapping) or problem.get("name") not in PROBLEMS:
        raise BadInputError("adata", "no uns['policy_problem'] of a known problem",
                            f"AnnData from dynfer.datasets.synthetic_control ({', '.join(PROBLEMS)})")
    return problem


# ---------------------------------------------------------------------------------------------------- problems
def ou_discounted(n_paths: int = 200, dt: float = 0.01, horizon: float = 10.0, *, kappa: float = 1.0,
                  sigma: float = 1.0, discount: float = 0.5, x0: Any = None, jitter: float = 0.0,
                  seed: int | torch.Generator | None = None, dtype: str = "float64") -> ad.AnnData:
    r"""Discounted Ornstein-Uhlenbeck with quadratic reward (reference benchmark 1).

    :math:`dX = -\kappa X dt + \sigma dW`, :math:`r = x^2`, discount :math:`\beta > 0`, infinite horizon:
    :math:`V(x) = x^2/(\beta + 2\kappa) + \sigma^2/(\beta(\beta + 2\kappa))`, exact in the features
    :math:`(x^2, 1)` with :math:`\theta^* = (1/(\beta+2\kappa), \sigma^2/(\beta(\beta+2\kappa)))`.
    Exact transition :math:`X_{k+1} = e^{-\kappa h}X_k + \sigma\sqrt{(1 - e^{-2\kappa h})/(2\kappa)}\,Z` over each
    step :math:`h`. ``x0=None`` draws the starts from the stationary law :math:`\mathcal N(0, \sigma^2/(2\kappa))`;
    a number (or one per path) fixes them. ``horizon`` is the simulated length of each path.
    """
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    kap, sig, beta = _pos(kappa, "kappa"), _pos(sigma, "sigma"), _pos(discount, "discount")
    out_dtype = _float_dtype(dtype)
    times = _grid(n_paths, dt, horizon, jitter, rng)
    n = times.shape[0]
    start = rng.normal(0.0, sig / np.sqrt(2 * kap), n) if x0 is None else _start(x0, n)
    steps = np.diff(times, axis=1)
    decay = np.exp(-kap * steps)
    noise = sig * np.sqrt((1 - decay**2) / (2 * kap)) * rng.standard_normal(steps.shape)
    x = np.empty_like(times)
    x[:, 0] = start
    for k in range(steps.shape[1]):
        x[:, k + 1] = decay[:, k] * x[:, k] + noise[:, k]
    params = {"kappa": kap, "sigma": sig, "discount": beta}
    theta = (1 / (beta + 2 * kap), sig**2 / (beta * (beta + 2 * kap)))
    problem = _problem("ou_discounted", params, setting="discounted", discount=beta, horizon=np.inf, times=times,
                       dt=float(dt), jitter=float(jitter), seed=seed, theta_star=theta, feature_names=("x^2", "1"),
                       x0="stationary" if x0 is None else "given")
    return _anndata(times, x, x**2, problem, dtype=out_dtype)


def bm_terminal(n_paths: int = 4000, dt: float = 0.01, horizon: float = 1.0, *, sigma: float = 1.0,
                x0: Any = 0.0, jitter: float = 0.0, seed: int | torch.Generator | None = None,
                dtype: str = "float64") -> ad.AnnData:
    r"""Brownian motion with terminal reward :math:`h = x^2` (reference benchmark 2, "MSTDE fails").

    :math:`dX = \sigma dW` on :math:`[0, T]`, :math:`r = 0`, :math:`\beta = 0`:
    :math:`J(t, x) = x^2 + \sigma^2(T - t)`, exact in :math:`(x^2, T - t)` with :math:`\theta^* = (1, \sigma^2)`.
    The MSTDE's population minimiser is :func:`bm_mstde_limit` (0.6, :math:`\sigma^2`) for :math:`x_0 = 0`.
    """
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    sig = _pos(sigma, "sigma")
    out_dtype = _float_dtype(dtype)
    times = _grid(n_paths, dt, horizon, jitter, rng)
    n = times.shape[0]
    start = _start(x0, n)
    increments = sig * np.sqrt(np.diff(times, axis=1)) * rng.standard_normal((n, times.shape[1] - 1))
    x = np.concatenate([start[:, None], start[:, None] + np.cumsum(increments, axis=1)], axis=1)
    t_end = float(times[0, -1])
    params = {"sigma": sig, "horizon": t_end}
    problem = _problem("bm_terminal", params, setting="finite", discount=0.0, horizon=t_end, times=times,
                       dt=float(dt), jitter=float(jitter), seed=seed, theta_star=(1.0, sig**2),
                       feature_names=("x^2", "T-t"),
                       **({"mstde_limit": bm_mstde_limit(sig, t_end, float(start[0]))} if np.ptp(start) == 0 else {}))
    return _anndata(times, x, np.zeros_like(x), problem, terminal=x**2, dtype=out_dtype)


def gbm_power(n_paths: int = 1000, dt: float = 0.01, horizon: float = 1.0, *, mu: float = 0.1, sigma: float = 0.3,
              power: float = 2.0, x0: Any = 1.0, jitter: float = 0.0, seed: int | torch.Generator | None = None,
              dtype: str = "float64") -> ad.AnnData:
    r"""Geometric Brownian motion with power terminal reward :math:`h = x^p` (reference benchmark 3).

    :math:`dX = \mu X dt + \sigma X dW`, :math:`r = 0`, :math:`\beta = 0`:
    :math:`J(t, x) = x^p e^{\theta^*(T - t)}`, :math:`\theta^* = p\mu + \tfrac12 p(p-1)\sigma^2` (the one parameter
    of :class:`GBMPowerValue`). Exact steps :math:`X_{k+1} = X_k\exp((\mu - \sigma^2/2)h + \sigma\sqrt h Z)`.
    ``x0`` must be positive (a number or one per path).
    """
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    drift, sig = check_real(mu, "mu"), _pos(sigma, "sigma")
    p = check_real(power, "power")
    if p == 0:
        raise BadInputError("power", f"{power!r}", "a non-zero number (h = x^p)")
    out_dtype = _float_dtype(dtype)
    times = _grid(n_paths, dt, horizon, jitter, rng)
    n = times.shape[0]
    start = _start(x0, n, positive=True)
    steps = np.diff(times, axis=1)
    log_inc = (drift - sig**2 / 2) * steps + sig * np.sqrt(steps) * rng.standard_normal(steps.shape)
    x = start[:, None] * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(log_inc, axis=1)], axis=1))
    t_end = float(times[0, -1])
    rate = p * drift + 0.5 * p * (p - 1) * sig**2
    params = {"mu": drift, "sigma": sig, "power": p, "horizon": t_end}
    taylor = [rate**j / float(np.prod(np.arange(1, j + 1))) for j in range(4)]
    problem = _problem("gbm_power", params, setting="finite", discount=0.0, horizon=t_end, times=times,
                       dt=float(dt), jitter=float(jitter), seed=seed, theta_star=(rate,),
                       feature_names=("theta in x^p exp(theta (T-t))",), taylor_coef=np.asarray(taylor))
    return _anndata(times, x, np.zeros_like(x), problem, terminal=x**p, dtype=out_dtype)


def _euler(x: np.ndarray, times: np.ndarray, substeps: int, rng: np.random.Generator, drift: Any,
           diffusion: Any) -> np.ndarray:
    """Euler-Maruyama with ``substeps`` equal sub-steps per observation step; ``drift(s, x, k)``, ``diffusion``."""
    n, n_times = times.shape
    out = np.empty((n, n_times))
    out[:, 0] = x
    for k in range(n_times - 1):
        h = (times[:, k + 1] - times[:, k]) / substeps
        for j in range(substeps):
            s = times[:, k] + j * h
            x = x + drift(s, x, k) * h + diffusion(s, x, k) * np.sqrt(h) * rng.standard_normal(n)
        out[:, k + 1] = x
    return out


def ergodic_lq(n_paths: int = 20, dt: float = 0.01, horizon: float = 200.0, *, A: float = -1.0, B: float = 0.0,
               C: float = 0.0, D: float = 1.0, M: float = 2.0, N: float = 2.0, Q: float = 2.0, R: float = 1.0,
               P: float = 1.0, phi: Sequence[float] = (-0.5, 0.3), action_var: float = 0.25,
               entropy_weight: float = 0.1, x0: Any = 0.0, reward: str = "relaxed", substeps: int = 10,
               jitter: float = 0.0, seed: int | torch.Generator | None = None,
               dtype: str = "float64") -> ad.AnnData:
    r"""Ergodic linear-quadratic control under a fixed Gaussian policy (reference benchmark 4, JZ-PG Sec. 5.2).

    :math:`dX = (AX + Ba)dt + (CX + Da)dW`, :math:`a \sim \pi(\cdot \mid x) = \mathcal N(\phi_1 x + \phi_2, s^2)`,
    reward :math:`r(x, a) = -(\tfrac M2 x^2 + Rxa + \tfrac N2 a^2 + Px + Qa)` plus the entropy bonus
    :math:`\gamma\,\mathcal H(\pi) = \gamma\,\tfrac12\ln(2\pi e s^2)`, long-run average criterion. The value is the
    pair (:math:`V`, differential :math:`J(x) = \tfrac12 k_2 x^2 + k_1 x`) of :func:`ergodic_lq_coefficients`;
    :math:`\theta^* = (k_2/2, k_1)` in the features :math:`(x^2, x)` and ``average_reward`` :math:`= V`. Defaults:
    :math:`V - \gamma\mathcal H = -1.0857`, :math:`k_2 = -6/7`, :math:`k_1 = 0.9/7`.

    ``reward="relaxed"`` (default) simulates the relaxed SDE :math:`dX = (AX + Bm)dt + \sqrt{(CX + Dm)^2 +
    D^2 s^2}\,dW` (:math:`m = \phi_1 X + \phi_2`) and records the action-averaged reward
    :math:`-(\tfrac M2 x^2 + Rxm + \tfrac N2(m^2 + s^2) + Px + Qm) + \gamma\mathcal H`; ``"sampled"`` draws
    :math:`a_k \sim \pi(\cdot \mid X_k)`, holds it over the step and records :math:`r(X_k, a_k) -
    \gamma\ln\pi(a_k \mid X_k)`. Euler-Maruyama with ``substeps`` sub-steps per observation step (weak error
    :math:`O(\Delta t / \text{substeps})` in the law of the path).
    """
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    coef = {name: check_real(v, name) for name, v in
            {"A": A, "B": B, "C": C, "D": D, "M": M, "N": N, "Q": Q, "R": R, "P": P}.items()}
    try:
        phi1, phi2 = (check_real(v, "phi") for v in phi)
    except (TypeError, ValueError):
        raise BadInputError("phi", f"{phi!r}",
                            "two finite numbers (phi1, phi2): the policy mean phi1 x + phi2") from None
    s2, gamma = _pos(action_var, "action_var"), _nonneg(entropy_weight, "entropy_weight")
    mode = _reward_mode(reward)
    n_sub = check_int(substeps, "substeps")
    out_dtype = _float_dtype(dtype)
    if 2 * (coef["A"] + coef["B"] * phi1) + (coef["C"] + coef["D"] * phi1) ** 2 >= 0:
        raise BadInputError("phi", f"{phi!r} with A={A}, B={B}, C={C}, D={D}",
                            "a policy under which X is ergodic: 2(A + B phi1) + (C + D phi1)^2 < 0")
    times = _grid(n_paths, dt, horizon, jitter, rng)
    n = times.shape[0]
    start = _start(x0, n)
    params = {**coef, "phi1": phi1, "phi2": phi2, "action_var": s2, "entropy_weight": gamma}
    sol = ergodic_lq_coefficients(params)
    a_, b_, c_, d_ = coef["A"], coef["B"], coef["C"], coef["D"]

    def mean(x: np.ndarray) -> np.ndarray:
        return phi1 * x + phi2

    def running(x: np.ndarray, a: np.ndarray) -> np.ndarray:
        return -(coef["M"] / 2 * x**2 + coef["R"] * x * a + coef["N"] / 2 * a**2 + coef["P"] * x + coef["Q"] * a)

    actions = None
    if mode == "relaxed":
        x = _euler(start, times, n_sub, rng, lambda s, x, k: a_ * x + b_ * mean(x),
                   lambda s, x, k: np.sqrt((c_ * x + d_ * mean(x)) ** 2 + d_**2 * s2))
        m = mean(x)
        rew = running(x, m) - coef["N"] / 2 * s2 + gamma * gaussian_entropy(s2)
    else:
        held = np.empty_like(times)
        x = np.empty_like(times)
        x[:, 0] = start
        for k in range(times.shape[1] - 1):
            held[:, k] = mean(x[:, k]) + np.sqrt(s2) * rng.standard_normal(n)
            act = held[:, k]
            x[:, k + 1] = _euler(x[:, k], times[:, k:k + 2], n_sub, rng, lambda s, x, kk, act=act: a_ * x + b_ * act,
                                 lambda s, x, kk, act=act: c_ * x + d_ * act)[:, 1]
        held[:, -1] = mean(x[:, -1]) + np.sqrt(s2) * rng.standard_normal(n)
        actions = held
        log_pi = -0.5 * np.log(2 * np.pi * s2) - (held - mean(x)) ** 2 / (2 * s2)
        rew = running(x, held) - gamma * log_pi
    problem = _problem("ergodic_lq", params, setting="ergodic", discount=0.0, horizon=np.inf, times=times,
                       dt=float(dt), jitter=float(jitter), seed=seed, theta_star=(sol["k2"] / 2, sol["k1"]),
                       feature_names=("x^2", "x"), reward=mode, average_reward=sol["average_reward"],
                       k2=sol["k2"], k1=sol["k1"], entropy=sol["entropy"], substeps=n_sub)
    return _anndata(times, x, rew, problem, actions=actions, dtype=out_dtype)


def mean_variance(n_paths: int = 500, dt: float = 1 / 252, horizon: float = 1.0, *, mu: float = 0.1,
                  r: float = 0.0, sigma: float = 0.2, x0: Any = 1.0, z: float = 1.4, temperature: float = 0.1,
                  w: float | None = None, policy_gain: float | None = None, policy_var0: float | None = None,
                  reward: str = "relaxed", substeps: int = 10, jitter: float = 0.0,
                  seed: int | torch.Generator | None = None, dtype: str = "float64") -> ad.AnnData:
    r"""Entropy-regularised mean-variance portfolio under a fixed linear Gaussian policy (benchmark 5).

    Wang & Zhou (2020) / JZ-PG Sec. 5.1, discounted wealth: :math:`dX = \sigma u(\rho\,dt + dW)`,
    :math:`\rho = (\mu - r)/\sigma`, target :math:`z`, Lagrange multiplier :math:`w`, temperature :math:`\lambda`;
    policy :math:`u \sim \mathcal N(-\varphi(x - w), v_0 e^{-\alpha(T - t)})`, :math:`\alpha = \sigma^2\varphi^2 -
    2\sigma\rho\varphi`. Defaults are the Wang-Zhou optimal policy (:math:`\varphi = \rho/\sigma`,
    :math:`v_0 = \lambda/(2\sigma^2)`, so :math:`v(t) = \tfrac{\lambda}{2\sigma^2}e^{\rho^2(T - t)}`) and its
    multiplier :math:`w^* = (z e^{\rho^2T} - x_0)/(e^{\rho^2T} - 1)`. The evaluated objective is Wang & Zhou's cost
    :math:`J = E[(X_T - w)^2 + \lambda\int\!\!\int\pi\ln\pi] - (w - z)^2`, so ``obs['reward']`` is the running
    cost rate :math:`\lambda\int\pi\ln\pi\,du = -\tfrac\lambda2\ln(2\pi e v(t))` (relaxed; sampled:
    :math:`\lambda\ln\pi(u_k \mid t_k, X_k)`) and ``obs['terminal_reward']`` is :math:`(x - w)^2 - (w - z)^2`.
    Closed form in :func:`mean_variance_coefficients`; exact in the features of :func:`natural_features` with
    :math:`\theta^* = (1, c_1, c_2, -(w - z)^2)`. Euler-Maruyama with ``substeps`` sub-steps per step.

    The default market (:math:`\mu = 0.1, \sigma = 0.2`, so :math:`\rho = 0.5`) is milder than JZ-PG's
    (:math:`\rho \ge 1.5`): under the Wang-Zhou policy :math:`Y = X - w` has volatility :math:`\rho|Y|`, so at
    :math:`\rho \ge 1.5` the paths are log-normal-like with tails that leave every regression-type estimate of
    the :math:`(x - w)^2` coefficient dominated by a few paths.
    """
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    m_, r_, sig = check_real(mu, "mu"), check_real(r, "r"), _pos(sigma, "sigma")
    target, lam = check_real(z, "z"), _pos(temperature, "temperature")
    mode = _reward_mode(reward)
    n_sub = check_int(substeps, "substeps")
    out_dtype = _float_dtype(dtype)
    times = _grid(n_paths, dt, horizon, jitter, rng)
    n = times.shape[0]
    start = _start(x0, n)
    t_end = float(times[0, -1])
    rho = (m_ - r_) / sig
    if rho == 0:
        raise BadInputError("mu", f"{mu!r} with r={r!r}", "an excess return mu - r != 0")
    if w is None:
        growth = np.exp(rho**2 * t_end)
        w = (target * growth - float(start.mean())) / (growth - 1)
    mult = check_real(w, "w")
    gain = rho / sig if policy_gain is None else check_real(policy_gain, "policy_gain")
    var0 = lam / (2 * sig**2) if policy_var0 is None else _pos(policy_var0, "policy_var0")
    params = {"mu": m_, "r": r_, "sigma": sig, "z": target, "temperature": lam, "w": mult, "policy_gain": gain,
              "policy_var0": var0, "horizon": t_end}
    sol = mean_variance_coefficients(params)
    alpha = sol["alpha"]

    def var(s: np.ndarray) -> np.ndarray:
        return var0 * np.exp(-alpha * (t_end - s))

    actions = None
    if mode == "relaxed":
        x = _euler(start, times, n_sub, rng, lambda s, x, k: -sig * rho * gain * (x - mult),
                   lambda s, x, k: sig * np.sqrt(gain**2 * (x - mult) ** 2 + var(s)))
        rew = -0.5 * lam * np.log(2 * np.pi * np.e * var(times))
    else:
        held = np.empty_like(times)
        x = np.empty_like(times)
        x[:, 0] = start
        for k in range(times.shape[1] - 1):
            held[:, k] = -gain * (x[:, k] - mult) + np.sqrt(var(times[:, k])) * rng.standard_normal(n)
            act = held[:, k]
            x[:, k + 1] = _euler(x[:, k], times[:, k:k + 2], n_sub, rng, lambda s, x, kk, act=act: sig * rho * act,
                                 lambda s, x, kk, act=act: sig * act)[:, 1]
        held[:, -1] = -gain * (x[:, -1] - mult) + np.sqrt(var(times[:, -1])) * rng.standard_normal(n)
        actions = held
        v = var(times)
        rew = lam * (-0.5 * np.log(2 * np.pi * v) - (held + gain * (x - mult)) ** 2 / (2 * v))
    problem = _problem("mean_variance", params, setting="finite", discount=0.0, horizon=t_end, times=times,
                       dt=float(dt), jitter=float(jitter), seed=seed,
                       theta_star=(1.0, sol["c1"], sol["c2"], sol["constant"]),
                       feature_names=natural_features({"name": "mean_variance", "parameters": params})[1],
                       reward=mode, alpha=alpha, rho=rho, substeps=n_sub)
    return _anndata(times, x, rew, problem, terminal=(x - mult) ** 2 + sol["constant"], actions=actions,
                    var_name="wealth", dtype=out_dtype)
