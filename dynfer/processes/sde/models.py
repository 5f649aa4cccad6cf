r"""Built-in nonlinear SDEs used by the benchmarks: Lotka–Volterra, the repressilator and a double well.

Each is an :class:`~dynfer.processes.sde.SDE` whose parameters are stored as buffers (they move with ``.to(device)``).
"""

from __future__ import annotations

import math

import torch

from dynfer._errors import BadInputError
from dynfer._validation import check_positive
from dynfer.processes.sde.sde import SDE

__all__ = ["DoubleWell", "LotkaVolterra", "Repressilator"]


def _noise(sigma: float, noise: str) -> tuple[torch.Tensor, bool]:
    check_positive(sigma, "sigma")
    if noise not in ("additive", "multiplicative"):
        raise BadInputError(f"noise must be 'additive' or 'multiplicative', got {noise!r}")
    return torch.tensor(float(sigma)), noise == "multiplicative"


class LotkaVolterra(SDE):
    r"""Stochastic Lotka–Volterra predator–prey model.

    .. math::  dx = (\alpha x - \beta x y)\,dt + g\,dW_1,\qquad dy = (\delta x y - \gamma y)\,dt + g\,dW_2,

    with :math:`g = \sigma` (``noise="additive"``) or :math:`g = \sigma\,(x, y)` (``"multiplicative"``). Defaults are
    the benchmark values :math:`(\alpha, \beta, \gamma, \delta) = (1, 0.4, 0.4, 0.1)` of Shen et al., AISTATS 2025.
    The deterministic system conserves :math:`V = \delta x - \gamma\log x + \beta y - \alpha \log y`.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 0.4,
        gamma: float = 0.4,
        delta: float = 0.1,
        *,
        sigma: float = 0.1,
        noise: str = "additive",
    ) -> None:
        sig, multiplicative = _noise(sigma, noise)
        super().__init__(noise_type="diagonal")
        self.multiplicative = multiplicative
        self.constant_diffusion = not multiplicative
        for name, value in {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}.items():
            check_positive(value, name)
            self.register_buffer(name, torch.tensor(float(value)))
        self.register_buffer("sigma", sig)

    def _required_dim(self) -> int:
        return 2

    def diffusion(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma` (additive) or :math:`\sigma x` (multiplicative), shape ``(n, 2)``."""
        return self.sigma.to(x) * x if self.multiplicative else torch.broadcast_to(self.sigma.to(x), x.shape)

    def drift(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Predator–prey drift."""
        prey, pred = x[..., 0], x[..., 1]
        a, b, c, d = (p.to(x) for p in (self.alpha, self.beta, self.gamma, self.delta))
        return torch.stack((a * prey - b * prey * pred, d * prey * pred - c * pred), dim=-1)

    def conserved_quantity(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`V(x, y) = \delta x - \gamma \log x + \beta y - \alpha \log y`, constant along noise-free orbits."""
        a, b, c, d = (p.to(x) for p in (self.alpha, self.beta, self.gamma, self.delta))
        return d * x[..., 0] - c * torch.log(x[..., 0]) + b * x[..., 1] - a * torch.log(x[..., 1])


class Repressilator(SDE):
    r"""Stochastic repressilator: a ring of genes, each repressing the next through a Hill function.

    .. math::  dx_i = \Big(\frac{\beta}{1 + (|x_{i-1}|/k)^n} - \gamma x_i\Big)dt + \sigma\,dW_i,\quad
               i = 0, \dots, m-1 \ (\text{indices mod } m)

    (Elowitz & Leibler, Nature 403, 2000; defaults :math:`\beta = 10, n = 3, k = 1, \gamma = 1` as in the
    benchmarks of Shen et al., AISTATS 2025).
    """

    def __init__(
        self,
        beta: float = 10.0,
        n: float = 3.0,
        k: float = 1.0,
        gamma: float = 1.0,
        *,
        n_genes: int = 3,
        sigma: float = 0.1,
    ) -> None:
        if int(n_genes) != n_genes or n_genes < 2:
            raise BadInputError(f"n_genes must be an integer >= 2, got {n_genes!r}")
        super().__init__(diffusion=check_positive(sigma, "sigma"))
        for name, value in {"beta": beta, "n": n, "k": k, "gamma": gamma}.items():
            check_positive(value, name)
            self.register_buffer(name, torch.tensor(float(value)))
        self.n_genes = int(n_genes)

    def _required_dim(self) -> int:
        return self.n_genes

    def drift(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Hill repression by the previous gene minus linear degradation."""
        if x.shape[-1] != self.n_genes:
            raise BadInputError(f"x must have {self.n_genes} columns (one per gene), got {x.shape[-1]}")
        prev = torch.roll(x, shifts=1, dims=-1)
        hill = self.beta.to(x) / (1 + (prev.abs() / self.k.to(x)) ** self.n.to(x))
        return hill - self.gamma.to(x) * x


class DoubleWell(SDE):
    r"""Overdamped Langevin dynamics in a double-well potential.

    .. math::  U(x) = h\,(x_1^2 - 1)^2 + \tfrac{\kappa}{2}\sum_{i \ge 2} x_i^2,\qquad
               dX = -\nabla U(X)\,dt + \sqrt{2 k_B T}\,dW,

    with stationary density :math:`\propto e^{-U/k_BT}` (Gardiner, *Stochastic Methods*, sec. 5.2).
    """

    def __init__(self, barrier: float = 1.0, *, kT: float = 0.5, stiffness: float = 1.0, dim: int = 1) -> None:
        if int(dim) != dim or dim < 1:
            raise BadInputError(f"dim must be a positive integer, got {dim!r}")
        super().__init__(diffusion=math.sqrt(2 * check_positive(kT, "kT")))
        for name, value in {"barrier": barrier, "kT": kT, "stiffness": stiffness}.items():
            check_positive(value, name)
            self.register_buffer(name, torch.tensor(float(value)))
        self.dim = int(dim)

    def _required_dim(self) -> int:
        return self.dim

    def potential(self, x: torch.Tensor) -> torch.Tensor:
        """The potential :math:`U(x)`, shape ``(n,)``."""
        h, kap = self.barrier.to(x), self.stiffness.to(x)
        return h * (x[..., 0] ** 2 - 1) ** 2 + 0.5 * kap * (x[..., 1:] ** 2).sum(-1)

    def drift(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r"""Force :math:`-\nabla U(x)`."""
        h, kap = self.barrier.to(x), self.stiffness.to(x)
        first = -4 * h * x[..., :1] * (x[..., :1] ** 2 - 1)
        return torch.cat((first, -kap * x[..., 1:]), dim=-1)
