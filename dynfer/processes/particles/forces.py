r"""Radial, repulsive pair forces :math:`F(x) = f(|x|)\,\hat x` with a finite cutoff.

A pair force acts on particle i from particle j along :math:`\hat x_{ij} = (x_i - x_j)/|x_i - x_j|`; a positive
magnitude :math:`f(r)` pushes i away from j. Each force gives its magnitude :math:`f(r)`, its derivative
:math:`f'(r)` and its cutoff :math:`r_c` (:math:`f = 0` for :math:`r \ge r_c`). The divergence of the radial field
:math:`f(r)\hat x` in d dimensions is :math:`f'(r) + (d-1) f(r)/r` (:func:`radial_divergence`).

Built in (:func:`make_force`):

* ``"softplus"``: :math:`f(r) = \mathrm{softplus}_\beta(2a - r) = \log(1 + e^{\beta(2a - r)})/\beta`, radius
  :math:`a` (default 1), :math:`\beta` (default 7.5), the soft disks of Boffi & Vanden-Eijnden (PNAS 121,
  e2318106121, 2024). It never vanishes exactly, so it is truncated where it falls below ``tol`` (default 1e-6)
  times :math:`f(0)`: :math:`r_c = 2a + \log(1/(\beta\,\mathrm{tol}\,f(0)))/\beta` (3.48 for the defaults);
  the force is not shifted, so it jumps by at most ``tol * f(0)`` there.
* ``"harmonic"``: :math:`f(r) = (2a - r)_+`, the :math:`\beta \to \infty` limit (Fily & Marchetti, PRL 108,
  235702, 2012), cutoff :math:`2a`.
* ``"wca"``: Weeks–Chandler–Andersen, :math:`U(r) = 4\epsilon[(\sigma/r)^{12} - (\sigma/r)^6] + \epsilon` for
  :math:`r < 2^{1/6}\sigma`, :math:`f = -U'(r) = (24\epsilon/r)[2(\sigma/r)^{12} - (\sigma/r)^6]` (Weeks,
  Chandler & Andersen, J. Chem. Phys. 54, 5237, 1971), continuous and zero at the cutoff :math:`2^{1/6}\sigma`.
* ``"none"``: no interaction (cutoff 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from dynfer._errors import BadInputError

__all__ = ["FORCES", "PairForce", "make_force", "radial_divergence"]


class PairForce:
    r"""A radial pair force: magnitude :math:`f(r)`, derivative :math:`f'(r)` and cutoff (see the module docstring).

    Attributes
    ----------
    name
        ``"softplus"``, ``"harmonic"``, ``"wca"`` or ``"none"``.
    params
        The resolved parameters (plain floats), enough for :func:`make_force`.
    cutoff
        :math:`r_c`: the force is zero for :math:`r \ge r_c`.
    """

    name: str = "none"

    def __init__(self, **params: float) -> None:
        self.params = dict(params)
        self.cutoff = 0.0

    def magnitude(self, r: torch.Tensor) -> torch.Tensor:
        """:math:`f(r)` (positive = repulsive), zero at and beyond the cutoff."""
        return torch.zeros_like(r)

    def derivative(self, r: torch.Tensor) -> torch.Tensor:
        """:math:`f'(r)`, zero at and beyond the cutoff."""
        return torch.zeros_like(r)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({body})"


class SoftplusForce(PairForce):
    r""":math:`f(r) = \log(1 + e^{\beta(2a - r)})/\beta` for :math:`r < r_c`, truncated at relative level ``tol``."""

    name = "softplus"

    def __init__(self, radius: float = 1.0, beta: float = 7.5, tol: float = 1e-6) -> None:
        super().__init__(radius=radius, beta=beta, tol=tol)
        self.radius, self.beta, self.tol = radius, beta, tol
        z0 = 2 * beta * radius
        f0 = (z0 + math.log1p(math.exp(-z0))) / beta  # softplus(2 beta a) / beta, overflow-free
        # e^{beta (2a - r)} / beta = tol * f(0)  <=>  r = 2a + log(1 / (beta tol f(0))) / beta
        self.cutoff = 2 * radius + max(0.0, math.log(1.0 / (beta * tol * f0))) / beta

    def magnitude(self, r: torch.Tensor) -> torch.Tensor:
        r""":math:`\mathrm{softplus}_\beta(2a - r)` inside the cutoff, else 0."""
        z = self.beta * (2 * self.radius - r)
        return torch.where(r < self.cutoff, torch.nn.functional.softplus(z) / self.beta, torch.zeros_like(r))

    def derivative(self, r: torch.Tensor) -> torch.Tensor:
        r""":math:`-\mathrm{sigmoid}(\beta(2a - r))` inside the cutoff, else 0."""
        z = self.beta * (2 * self.radius - r)
        return torch.where(r < self.cutoff, -torch.sigmoid(z), torch.zeros_like(r))


class HarmonicForce(PairForce):
    """:math:`f(r) = (2a - r)_+` (soft disks of radius ``a``)."""

    name = "harmonic"

    def __init__(self, radius: float = 1.0) -> None:
        super().__init__(radius=radius)
        self.radius = radius
        self.cutoff = 2 * radius

    def magnitude(self, r: torch.Tensor) -> torch.Tensor:
        """:math:`(2a - r)_+`."""
        return torch.clamp(2 * self.radius - r, min=0)

    def derivative(self, r: torch.Tensor) -> torch.Tensor:
        """:math:`-1` for :math:`r < 2a`, else 0."""
        return torch.where(r < self.cutoff, -torch.ones_like(r), torch.zeros_like(r))


class WCAForce(PairForce):
    r"""Weeks–Chandler–Andersen, :math:`f(r) = (24\epsilon/r)[2(\sigma/r)^{12} - (\sigma/r)^6]` inside the cutoff.

    The cutoff is :math:`2^{1/6}\sigma` by default, where the force vanishes continuously; another ``cutoff`` at
    most :math:`2^{1/6}\sigma` truncates it (e.g. 1.122 in the LAMMPS ABP example of AMEP, ``lj/cut`` with
    cutoff 1.122).
    """

    name = "wca"

    def __init__(self, epsilon: float = 1.0, sigma: float = 1.0, cutoff: float | None = None) -> None:
        cutoff = 2 ** (1 / 6) * sigma if cutoff is None else cutoff
        super().__init__(epsilon=epsilon, sigma=sigma, cutoff=cutoff)
        self.epsilon, self.sigma = epsilon, sigma
        self.cutoff = cutoff

    def magnitude(self, r: torch.Tensor) -> torch.Tensor:
        """:math:`-U'(r)` inside the cutoff, else 0."""
        s6 = (self.sigma / r) ** 6
        f = 24 * self.epsilon * (2 * s6 * s6 - s6) / r
        return torch.where(r < self.cutoff, f, torch.zeros_like(r))

    def derivative(self, r: torch.Tensor) -> torch.Tensor:
        r""":math:`f'(r) = \epsilon[168(\sigma/r)^6 - 624(\sigma/r)^{12}]/r^2` inside the cutoff, else 0."""
        s6 = (self.sigma / r) ** 6
        df = self.epsilon * (168 * s6 - 624 * s6 * s6) / (r * r)
        return torch.where(r < self.cutoff, df, torch.zeros_like(r))


FORCES: dict[str, type[PairForce]] = {"softplus": SoftplusForce, "harmonic": HarmonicForce, "wca": WCAForce,
                                      "none": PairForce}
"""The pair forces by name."""

_PARAMS = {"softplus": {"radius": 1.0, "beta": 7.5, "tol": 1e-6}, "harmonic": {"radius": 1.0},
           "wca": {"epsilon": 1.0, "sigma": 1.0, "cutoff": None}, "none": {}}


def make_force(name: str, params: Mapping[str, Any] | None = None) -> PairForce:
    """The pair force ``name`` with ``params`` (defaults filled in), after checking them.

    Parameters
    ----------
    name
        ``"softplus"`` (``radius``, ``beta``, ``tol``), ``"harmonic"`` (``radius``), ``"wca"`` (``epsilon``,
        ``sigma``, ``cutoff``: at most 2^(1/6) sigma, the default) or ``"none"``.
    params
        Parameter overrides; every value must be finite and > 0 (``tol`` in (0, 1)).

    Raises
    ------
    BadInputError
        For an unknown name, an unknown parameter or a value that is not finite and positive.
    """
    if not isinstance(name, str) or name not in FORCES:
        raise BadInputError("force", f"{name!r}", f"one of {sorted(FORCES)}")
    given = {} if params is None else params
    if not isinstance(given, Mapping):
        raise BadInputError("force_params", f"a {type(given).__name__}", "a dict of force parameters or None")
    allowed = _PARAMS[name]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise BadInputError("force_params", f"unknown key(s) {unknown} for force {name!r}",
                            f"keys among {sorted(allowed)}")
    resolved: dict[str, float] = {}
    for key, default in allowed.items():
        value = given.get(key, default)
        if value is None:  # the WCA cutoff: 2^(1/6) sigma
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise BadInputError(f"force_params[{key!r}]", f"{value!r}", "a number") from None
        if not math.isfinite(v) or v <= 0 or (key == "tol" and v >= 1):
            raise BadInputError(f"force_params[{key!r}]", f"{value!r}",
                                "a number in (0, 1)" if key == "tol" else "a finite number > 0")
        resolved[key] = v
    if name == "wca" and resolved.get("cutoff", 0.0) > 2 ** (1 / 6) * resolved["sigma"] * (1 + 1e-12):
        raise BadInputError("force_params['cutoff']", f"{resolved['cutoff']!r}",
                            f"at most 2^(1/6) sigma = {2 ** (1 / 6) * resolved['sigma']:.6g} (beyond it WCA attracts)")
    if name == "softplus" and resolved["beta"] * resolved["radius"] > 300:
        raise BadInputError("force_params", f"beta * radius = {resolved['beta'] * resolved['radius']:.3g}",
                            "at most 300 (use force='harmonic', the beta -> infinity limit)")
    return FORCES[name](**resolved)


def radial_divergence(force: PairForce, r: torch.Tensor, dim: int) -> torch.Tensor:
    r"""Divergence of the radial field :math:`f(r)\hat x` in ``dim`` dimensions: :math:`f'(r) + (d-1) f(r)/r`."""
    return force.derivative(r) + (dim - 1) * force.magnitude(r) / r
