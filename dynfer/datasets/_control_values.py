r"""Closed-form values, exact parameters and natural features of the five policy-evaluation problems.

The simulators live in :mod:`dynfer.datasets.synthetic_control`; this module holds what is known about each problem
without simulating it: the value function :math:`J(t, x)`, the exact coefficients :math:`\theta^*` of the natural
feature family, the feature maps themselves (torch callables :math:`\phi(t, x) \to (n, p)`), the one-parameter GBM
value module, and the population limit of the mean-square TD error (MSTDE) on the Brownian problem.
Every formula is derived in the docstring of the function that computes it (Itô's formula / Feynman-Kac); the
derivations follow Jia & Zhou (2022), *JMLR* 23(154) and Wang & Zhou (2020), *Math. Finance* 30(4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError

__all__ = [
    "GBMPowerValue",
    "bm_mstde_limit",
    "ergodic_lq_coefficients",
    "exact_value",
    "gaussian_entropy",
    "mean_variance_coefficients",
    "natural_features",
]

#: Problem names, in the order of the reference's benchmark table.
PROBLEMS = ("ou_discounted", "bm_terminal", "gbm_power", "ergodic_lq", "mean_variance")


def gaussian_entropy(variance: float) -> float:
    r"""Differential entropy of :math:`\mathcal N(m, v)`: :math:`\tfrac12 \ln(2\pi e v)`."""
    return 0.5 * float(np.log(2.0 * np.pi * np.e * variance))


def ergodic_lq_coefficients(p: Mapping[str, Any]) -> dict[str, float]:
    r"""Differential value :math:`J(x) = \tfrac12 k_2 x^2 + k_1 x` and long-run average :math:`V` of the ergodic LQ.

    Relaxed dynamics of :math:`dX = (AX + Ba)dt + (CX + Da)dW` under :math:`a \sim \mathcal N(m(x), s^2)`,
    :math:`m(x) = \phi_1 x + \phi_2`: drift :math:`\tilde b = Ax + Bm`, squared diffusion
    :math:`\tilde\sigma^2 = (Cx + Dm)^2 + D^2 s^2`; relaxed reward
    :math:`\tilde r = -(\tfrac M2 x^2 + Rxm + \tfrac N2 (m^2 + s^2) + Px + Qm) + \gamma\,\tfrac12\ln(2\pi e s^2)`.
    The ergodic equation :math:`V = \tilde r + \tilde b J' + \tfrac12 \tilde\sigma^2 J''`, matched in
    :math:`x^2, x, 1`, gives

    .. math::

        k_2 = \frac{M/2 + R\phi_1 + N\phi_1^2/2}{A + B\phi_1 + (C + D\phi_1)^2/2},\quad
        k_1 = \frac{R\phi_2 + N\phi_1\phi_2 + P + Q\phi_1 - k_2 B\phi_2 - k_2 D (C + D\phi_1)\phi_2}{A + B\phi_1},

        V = -\tfrac N2(\phi_2^2 + s^2) - Q\phi_2 + k_1 B\phi_2 + \tfrac12 k_2 D^2(\phi_2^2 + s^2)
            + \gamma\,\tfrac12\ln(2\pi e s^2).

    With :math:`A = -1, B = C = 0, D = 1` these are the reference's (JZ-PG Sec. 5.2) formulas;
    :math:`\phi = (-0.5, 0.3), s^2 = 0.25` give :math:`V - \gamma H = -1.0857`. Requires
    :math:`2(A + B\phi_1) + (C + D\phi_1)^2 < 0` (finite stationary second moment).
    """
    a, b, c, d = p["A"], p["B"], p["C"], p["D"]
    phi1, phi2, s2 = p["phi1"], p["phi2"], p["action_var"]
    denom2 = a + b * phi1 + 0.5 * (c + d * phi1) ** 2
    k2 = (p["M"] / 2 + p["R"] * phi1 + p["N"] * phi1**2 / 2) / denom2
    k1 = (p["R"] * phi2 + p["N"] * phi1 * phi2 + p["P"] + p["Q"] * phi1 - k2 * b * phi2
          - k2 * d * (c + d * phi1) * phi2) / (a + b * phi1)
    entropy = gaussian_entropy(s2)
    v_plain = -p["N"] / 2 * (phi2**2 + s2) - p["Q"] * phi2 + k1 * b * phi2 + 0.5 * k2 * d**2 * (phi2**2 + s2)
    return {"k2": float(k2), "k1": float(k1), "average_reward": float(v_plain + p["entropy_weight"] * entropy),
            "average_reward_without_entropy": float(v_plain), "entropy": entropy}


def ergodic_lq_stationary_moments(p: Mapping[str, Any], order: int = 4) -> np.ndarray:
    r"""Moments :math:`m_n = E_\pi X^n`, :math:`n = 0..` ``order``, of the stationary law of the relaxed ergodic LQ.

    With the relaxed drift :math:`\tilde b = \alpha x + \beta_0` (:math:`\alpha = A + B\phi_1`,
    :math:`\beta_0 = B\phi_2`) and squared diffusion :math:`\tilde\sigma^2 = q_2x^2 + q_1x + q_0`
    (:math:`q_2 = (C + D\phi_1)^2`, :math:`q_1 = 2(C + D\phi_1)D\phi_2`, :math:`q_0 = D^2(\phi_2^2 + s^2)`;
    :func:`ergodic_lq_coefficients`), :math:`E_\pi[\mathcal L x^n] = 0` gives the recursion ([derived])

    .. math:: m_n\big(n\alpha + \tfrac12 n(n-1)q_2\big) + m_{n-1}\big(n\beta_0 + \tfrac12 n(n-1)q_1\big)
              + \tfrac12 n(n-1)q_0\,m_{n-2} = 0,

    valid while :math:`n\alpha + \frac12 n(n-1)q_2 < 0` (the moment is finite; the law has power tails when
    :math:`q_2 > 0`).

    Raises
    ------
    BadInputError
        If a requested moment is infinite.
    """
    a, b, c, d = p["A"], p["B"], p["C"], p["D"]
    phi1, phi2, s2 = p["phi1"], p["phi2"], p["action_var"]
    alpha, beta0 = a + b * phi1, b * phi2
    q2, q1, q0 = (c + d * phi1) ** 2, 2 * (c + d * phi1) * d * phi2, d**2 * (phi2**2 + s2)
    m = np.zeros(order + 1)
    m[0] = 1.0
    for n in range(1, order + 1):
        lead = n * alpha + 0.5 * n * (n - 1) * q2
        if lead >= 0:
            raise BadInputError("order", f"{order} (E X^{n} is infinite for these parameters)", f"< {n}")
        prev2 = m[n - 2] if n >= 2 else 0.0
        m[n] = -(m[n - 1] * (n * beta0 + 0.5 * n * (n - 1) * q1) + 0.5 * n * (n - 1) * q0 * prev2) / lead
    return m


def mean_variance_coefficients(p: Mapping[str, Any]) -> dict[str, float]:
    r"""Value of the entropy-regularised mean-variance objective under a fixed linear Gaussian policy.

    Discounted wealth (Wang & Zhou 2020): :math:`dX = \sigma u(\rho\,dt + dW)`, :math:`\rho = (\mu - r)/\sigma`,
    policy :math:`u \sim \mathcal N(-\varphi(x - w),\ v(t))` with :math:`v(t) = v_0 e^{-\alpha(T - t)}`,
    :math:`\alpha = \sigma^2\varphi^2 - 2\sigma\rho\varphi`. The cost
    :math:`J(t, x) = E[(X_T - w)^2 + \lambda\int_t^T\!\!\int \pi\ln\pi\,du\,ds \mid X_t = x] - (w - z)^2`
    follows from :math:`Y = X - w`: the relaxed dynamics :math:`dY = -\sigma\rho\varphi Y\,ds
    + \sigma\sqrt{\varphi^2 Y^2 + v(s)}\,dW` give :math:`\tfrac{d}{ds}E Y_s^2 = \alpha E Y_s^2 + \sigma^2 v(s)`, so
    :math:`E Y_T^2 = y^2 e^{\alpha\tau} + \sigma^2 v_0\tau` (:math:`\tau = T - t`, the variance schedule cancels
    :math:`e^{\alpha(T - s)}`), and :math:`\int\pi\ln\pi = -\tfrac12\ln(2\pi e v(s))`. Hence

    .. math::

        J(t, x) = (x - w)^2 e^{\alpha\tau} + c_1\tau + c_2\tau^2 - (w - z)^2,\quad
        c_1 = \sigma^2 v_0 - \tfrac\lambda2\ln(2\pi e v_0),\quad c_2 = \tfrac{\lambda\alpha}{4}.

    The Wang-Zhou optimal policy :math:`\varphi = \rho/\sigma`, :math:`v_0 = \lambda/(2\sigma^2)` has
    :math:`\alpha = -\rho^2` and recovers their
    :math:`J = (x - w)^2 e^{-\rho^2\tau} + \tfrac{\lambda\rho^2}{4}(T^2 - t^2)
    - \tfrac\lambda2(\rho^2 T - \ln\tfrac{\sigma^2}{\pi\lambda})\tau - (w - z)^2`.
    """
    rho = (p["mu"] - p["r"]) / p["sigma"]
    phi, v0, lam = p["policy_gain"], p["policy_var0"], p["temperature"]
    alpha = p["sigma"] ** 2 * phi**2 - 2 * p["sigma"] * rho * phi
    c1 = p["sigma"] ** 2 * v0 - 0.5 * lam * float(np.log(2 * np.pi * np.e * v0))
    return {"rho": float(rho), "alpha": float(alpha), "c1": float(c1), "c2": float(lam * alpha / 4),
            "constant": float(-(p["w"] - p["z"]) ** 2)}


def bm_mstde_limit(sigma: float = 1.0, horizon: float = 1.0, x0: float = 0.0, dt: float | None = None) -> np.ndarray:
    r"""Population minimiser :math:`(\theta_1, \theta_2)` of the MSTDE on the Brownian terminal-reward problem.

    Family :math:`J^\theta = \theta_1 x^2 + \theta_2(T - t)` with :math:`J^\theta(T, \cdot) = h = x^2`, data
    :math:`X_t = x_0 + \sigma W_t` on the regular grid :math:`t_k = k\Delta t`. The TD errors are
    :math:`\delta_k = \theta_1 D_k - \theta_2\Delta t` (:math:`D_k = X_{k+1}^2 - X_k^2`, :math:`k < K - 1`) and
    :math:`\delta_{K-1} = X_K^2 - \theta_1 X_{K-1}^2 - \theta_2\Delta t`. :math:`E\sum_k\delta_k^2` is a quadratic
    :math:`\theta^\top H\theta - 2g^\top\theta + c` with (:math:`\Delta = X_{k+1} - X_k`, :math:`Y = X_{K-1}`)
    :math:`E D_k = \sigma^2\Delta t`, :math:`E D_k^2 = 4\sigma^2\Delta t\,E X_k^2 + 3\sigma^4\Delta t^2`,
    :math:`E X_K^2 Y^2 = E Y^4 + \sigma^2\Delta t\,E Y^2`, Gaussian moments of :math:`X_k`; the minimiser solves
    :math:`H\theta = g`.

    As :math:`\Delta t \to 0` (``dt=None``) the first sum tends to :math:`E\langle\theta_1 X^2\rangle_T
    = 4\sigma^2\theta_1^2(x_0^2 T + \sigma^2T^2/2)` and the last term to :math:`(1 - \theta_1)^2 E X_T^4`, so
    :math:`\theta_1 = E X_T^4 / (E X_T^4 + 4\sigma^2(x_0^2T + \sigma^2T^2/2))` (0.6 for :math:`x_0 = 0`: the
    argmin of :math:`2\theta_1^2 + 3(1 - \theta_1)^2`), and the :math:`O(\Delta t)` terms give
    :math:`\theta_2 = (x_0^2 + \sigma^2 T - \theta_1 x_0^2)/T`. The truth is :math:`(1, \sigma^2)`.
    """
    v, t_end = float(sigma) ** 2, float(horizon)
    m4_end = x0**4 + 6 * x0**2 * v * t_end + 3 * (v * t_end) ** 2
    if dt is None:
        theta1 = m4_end / (m4_end + 4 * v * (x0**2 * t_end + v * t_end**2 / 2))
        return np.array([theta1, (x0**2 + v * t_end - theta1 * x0**2) / t_end])
    n_steps = int(round(t_end / dt))
    if n_steps < 1 or abs(n_steps * dt - t_end) > 1e-9 * max(t_end, 1.0):
        raise BadInputError(f"dt must divide horizon into whole steps, got dt={dt!r}, horizon={horizon!r}")
    tk = np.arange(n_steps - 1) * dt
    ex2 = x0**2 + v * tk
    h = np.zeros((2, 2))
    h[0, 0] = np.sum(4 * ex2 * v * dt + 3 * v**2 * dt**2)
    h[0, 1] = -(n_steps - 1) * dt * v * dt
    h[1, 1] = n_steps * dt**2
    ty = (n_steps - 1) * dt
    m2y, m4y = x0**2 + v * ty, x0**4 + 6 * x0**2 * v * ty + 3 * (v * ty) ** 2
    h[0, 0] += m4y
    h[0, 1] += dt * m2y
    h[1, 0] = h[0, 1]
    g = np.array([m4y + v * dt * m2y, dt * (x0**2 + v * t_end)])
    return np.linalg.solve(h, g)


def _params(problem: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(problem, Mapping) or "name" not in problem or "parameters" not in problem:
        raise BadInputError("problem", f"{type(problem).__name__}",
                            "the uns['policy_problem'] dict of a dynfer.datasets.synthetic_control simulator")
    name = str(problem["name"])
    if name not in PROBLEMS:
        raise BadInputError("problem['name']", f"{name!r}", f"one of {', '.join(PROBLEMS)}")
    return name, problem["parameters"]


def _state(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise BadInputError(f"x must be one-dimensional states, (n,) or (n, 1), got shape {arr.shape}")
    return arr


def exact_value(problem: Mapping[str, Any], t: Any, x: Any) -> np.ndarray:
    r"""The closed-form value :math:`J(t, x)` of a simulated problem (``adata.uns['policy_problem']``).

    * ``ou_discounted``: :math:`x^2/(\beta + 2\kappa) + \sigma^2/(\beta(\beta + 2\kappa))` (time-free);
    * ``bm_terminal``: :math:`x^2 + \sigma^2(T - t)`;
    * ``gbm_power``: :math:`x^p e^{(p\mu + p(p-1)\sigma^2/2)(T - t)}`;
    * ``ergodic_lq``: the differential value :math:`\tfrac12 k_2 x^2 + k_1 x`, normalised by :math:`J(0) = 0`
      (the long-run average :math:`V` is ``problem['average_reward']``), see :func:`ergodic_lq_coefficients`;
    * ``mean_variance``: :math:`(x - w)^2 e^{\alpha(T - t)} + c_1(T - t) + c_2(T - t)^2 - (w - z)^2`, see
      :func:`mean_variance_coefficients`.

    Returns ``(n,)`` float64 for ``t`` broadcastable to ``x``'s ``n`` states.
    """
    name, p = _params(problem)
    xs = _state(x)
    ts = np.broadcast_to(np.asarray(t, dtype=np.float64), xs.shape)
    if not (np.isfinite(xs).all() and np.isfinite(ts).all()):
        raise BadInputError("t and x must be finite")
    if name == "ou_discounted":
        beta, kappa, sigma = p["discount"], p["kappa"], p["sigma"]
        return xs**2 / (beta + 2 * kappa) + sigma**2 / (beta * (beta + 2 * kappa))
    if name == "bm_terminal":
        return xs**2 + p["sigma"] ** 2 * (p["horizon"] - ts)
    if name == "gbm_power":
        rate = p["power"] * p["mu"] + 0.5 * p["power"] * (p["power"] - 1) * p["sigma"] ** 2
        return xs ** p["power"] * np.exp(rate * (p["horizon"] - ts))
    if name == "ergodic_lq":
        c = ergodic_lq_coefficients(p)
        return 0.5 * c["k2"] * xs**2 + c["k1"] * xs
    c = mean_variance_coefficients(p)
    tau = p["horizon"] - ts
    return (xs - p["w"]) ** 2 * np.exp(c["alpha"] * tau) + c["c1"] * tau + c["c2"] * tau**2 + c["constant"]


def natural_features(problem: Mapping[str, Any]) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                                                          tuple[str, ...]]:
    r"""The feature map :math:`\phi(t, x)` (torch, ``(n,) , (n, 1) -> (n, p)``) in which the value is exact.

    ``problem['theta_star']`` holds the exact coefficients: :math:`J = \theta^{*\top}\phi` for ``t < T``.

    * ``ou_discounted``: :math:`(x^2, 1)`; ``bm_terminal``: :math:`(x^2, T - t)`; ``ergodic_lq``:
      :math:`(x^2, x)` (:math:`\theta^* = (k_2/2, k_1)`, plus the average reward :math:`V`);
      ``mean_variance``: :math:`((x - w)^2 e^{\alpha(T-t)}, T - t, (T - t)^2, 1)`;
    * ``gbm_power`` is nonlinear in its parameter (exact family: :class:`GBMPowerValue`); the linear features here
      are the Taylor family :math:`(x^p(T - t)^j)_{j=0..3}`, whose best coefficients
      :math:`(\theta^{*j}/j!)_j` (``problem['taylor_coef']``) leave the remainder
      :math:`x^p|\theta^*|^4 (T-t)^4 e^{|\theta^*|(T-t)}/24`, not zero: ``theta_star`` of this problem is the
      module's scalar :math:`\theta^*`.

    Returns the callable and the feature names.
    """
    name, p = _params(problem)

    def _x(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)[:, 0]

    if name == "ou_discounted":
        return (lambda t, x: torch.stack([_x(x) ** 2, torch.ones_like(_x(x))], dim=1)), ("x^2", "1")
    if name == "bm_terminal":
        horizon = float(p["horizon"])
        return (lambda t, x: torch.stack([_x(x) ** 2, horizon - t.reshape(-1).to(x.dtype)], dim=1)), ("x^2", "T-t")
    if name == "ergodic_lq":
        return (lambda t, x: torch.stack([_x(x) ** 2, _x(x)], dim=1)), ("x^2", "x")
    if name == "gbm_power":
        order = 3
        power, horizon = float(p["power"]), float(p["horizon"])

        def _gbm(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            tau = horizon - t.reshape(-1).to(x.dtype)
            return torch.stack([_x(x) ** power * tau**j for j in range(order + 1)], dim=1)

        return _gbm, tuple(f"x^p (T-t)^{j}" for j in range(order + 1))
    c = mean_variance_coefficients(p)
    horizon, w, alpha = float(p["horizon"]), float(p["w"]), c["alpha"]

    def _mv(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tau = horizon - t.reshape(-1).to(x.dtype)
        return torch.stack([(_x(x) - w) ** 2 * torch.exp(alpha * tau), tau, tau**2, torch.ones_like(tau)], dim=1)

    return _mv, ("(x-w)^2 exp(alpha(T-t))", "T-t", "(T-t)^2", "1")


class GBMPowerValue(nn.Module):
    r"""The one-parameter value family :math:`J^\theta(t, x) = x^p e^{\theta(T - t)}` of the GBM problem.

    Exact at :math:`\theta^* = p\mu + \tfrac12 p(p - 1)\sigma^2`; ``forward(t, x)`` takes ``t`` ``(n,)`` and ``x``
    ``(n,)`` or ``(n, 1)`` (positive) and returns ``(n,)``. The only parameter is ``theta`` (a scalar).
    """

    def __init__(self, power: float, horizon: float, theta: float = 0.0) -> None:
        super().__init__()
        self.power, self.horizon = float(power), float(horizon)
        self.theta = nn.Parameter(torch.tensor(float(theta), dtype=torch.float64))

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        xs = x.reshape(x.shape[0], -1)[:, 0]
        tau = self.horizon - t.reshape(-1).to(xs.dtype)
        return xs**self.power * torch.exp(self.theta.to(xs.dtype) * tau)
