r"""Interacting active particles as a :class:`~dynfer.processes.drifts.Drift` of particle states ``(n, N, c)``.

Each particle i carries its position :math:`x_i \in \mathbb{R}^d` (the first d coordinates) and its active
coordinates:

* AOUP (active Ornstein–Uhlenbeck particles, any d in 1–3): the active velocity :math:`g_i \in \mathbb{R}^d`,
  :math:`c = 2d`;
* ABP (active Brownian particles, d = 2): the orientation angle :math:`\theta_i`, :math:`c = 3`.

The dynamics (Fily & Marchetti, PRL 108, 235702, 2012; Boffi & Vanden-Eijnden, PNAS 121, e2318106121, 2024):

.. math::

    dx_i = \big[v_0 e_i + \mu\big(k \textstyle\sum_{j \ne i} F(x_i - x_j) - A x_i\big)\big] dt + \sqrt{2\epsilon}\,dW_i,

with :math:`e_i = g_i` (AOUP) or :math:`(\cos\theta_i, \sin\theta_i)` (ABP); :math:`dg_i = -\gamma g_i\,dt +
\sqrt{2\gamma}\,dB_i` (AOUP, stationary :math:`g \sim N(0, I)`) or :math:`d\theta_i = \sqrt{2 D_r}\,dB_i` (ABP).
:math:`F(x) = f(|x|)\hat x` is a repulsive pair force (:mod:`~dynfer.processes.particles.forces`) with minimum-image
displacements in a periodic box :math:`[-L/2, L/2)^d`, :math:`A \ge 0` a harmonic trap centred at the origin (with
a trap the box may be ``None``: free space), :math:`\mu` the mobility (it multiplies the forces, not the
self-propulsion) and :math:`\epsilon \ge 0` the translational diffusivity (:math:`\epsilon = 0` is the hypoelliptic
MIPS setting). The diffusion matrix is diagonal: :math:`D = \mathrm{diag}(\epsilon I_d, \gamma I_d)` per AOUP
particle, :math:`\mathrm{diag}(\epsilon, \epsilon, D_r)` per ABP particle.

Sign of :math:`v_0`: any finite value is accepted; :math:`v_0 < 0` is the same model as :math:`|v_0|` with the
director reversed (:math:`g \to -g`, :math:`\theta \to \theta + \pi`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import check_finite, check_real
from dynfer.processes.drifts import Drift
from dynfer.processes.particles.forces import PairForce, make_force
from dynfer.processes.particles.interactions import interaction_divergence, interaction_forces

__all__ = ["ActiveParticles"]

KINDS = ("aoup", "abp")


def _number(value: Any, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """``float(value)`` after checking it is a finite real number (``> minimum`` if strict, else ``>=``)."""
    v = check_real(value, name)
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise BadInputError(name, f"{value!r}", f"a finite number {'>' if strict else '>='} {minimum:g}")
    return v


class ActiveParticles(Drift):
    r"""Interacting AOUP or ABP particles: drift, divergence and diffusion of states ``(n, N, c)``.

    See the module docstring for the equations.

    Parameters
    ----------
    kind
        ``"aoup"`` (state per particle: position, active velocity g; ``c = 2 * dim``) or ``"abp"`` (position,
        angle θ; ``c = 3``, 2-D only).
    box
        Edge lengths of the periodic box ``[-L/2, L/2)^dim`` (a tuple of ``dim`` numbers), or ``None`` for free
        space (only with a trap, ``trap > 0``). Every edge must exceed twice the force cutoff.
    dim
        Spatial dimension (1, 2 or 3 for AOUP; 2 for ABP); defaults to ``len(box)``, else 2.
    v0
        Self-propulsion speed (any finite number; see the module docstring for its sign).
    gamma
        AOUP relaxation rate :math:`\gamma > 0` of g (unused for ABP).
    rotational_diffusion
        ABP rotational diffusivity :math:`D_r > 0` (unused for AOUP).
    epsilon
        Translational diffusivity :math:`\epsilon \ge 0`.
    interaction_strength
        :math:`k \ge 0`, the factor of the pair force.
    force
        ``"softplus"``, ``"harmonic"``, ``"wca"`` or ``"none"``.
    force_params
        Parameters of the force (see :func:`~dynfer.processes.particles.forces.make_force`); defaults filled in.
    trap
        Trap stiffness :math:`A \ge 0` (force :math:`-A x` times the mobility).
    mobility
        :math:`\mu > 0`.

    Raises
    ------
    BadInputError
        Naming the argument: unknown kind or force, NaN or infinite numbers, negative rates, a box that is too
        small for the cutoff, free space without a trap.

    Examples
    --------
    >>> model = ActiveParticles("aoup", box=(20.0, 20.0), v0=1.0, gamma=0.1)
    >>> model.n_coords, model.active_coords
    (4, (2, 3))
    """

    event_dims = 2

    def __init__(self, kind: str = "aoup", *, box: Sequence[float] | None = None, dim: int | None = None,
                 v0: float = 1.0, gamma: float = 1.0, rotational_diffusion: float = 1.0, epsilon: float = 0.0,
                 interaction_strength: float = 1.0, force: str = "softplus",
                 force_params: Mapping[str, Any] | None = None, trap: float = 0.0, mobility: float = 1.0) -> None:
        if not isinstance(kind, str) or kind.lower() not in KINDS:
            raise BadInputError("kind", f"{kind!r}", f"one of {list(KINDS)}")
        self.kind = kind.lower()
        self.v0 = _number(v0, "v0")
        self.gamma = _number(gamma, "gamma", minimum=0.0, strict=True)
        self.rotational_diffusion = _number(rotational_diffusion, "rotational_diffusion", minimum=0.0, strict=True)
        self.epsilon = _number(epsilon, "epsilon", minimum=0.0)
        self.interaction_strength = _number(interaction_strength, "interaction_strength", minimum=0.0)
        self.trap = _number(trap, "trap", minimum=0.0)
        self.mobility = _number(mobility, "mobility", minimum=0.0, strict=True)
        self.pair_force: PairForce = make_force(force, force_params)
        self.force = self.pair_force.name
        self.force_params = dict(self.pair_force.params)
        self.box = self._check_box(box)
        if dim is None:
            dim = len(self.box) if self.box is not None else 2
        if isinstance(dim, bool) or not isinstance(dim, int) or dim not in ((2,) if self.kind == "abp" else (1, 2, 3)):
            raise BadInputError("dim", f"{dim!r}", "2 for ABP" if self.kind == "abp" else "1, 2 or 3")
        self.dim = dim
        if self.box is not None and len(self.box) != dim:
            raise BadInputError("box", f"{len(self.box)} edge lengths", f"{dim} (one per axis, dim = {dim})")
        if self.box is None and self.trap == 0:
            raise BadInputError("box", "None (free space) without a trap",
                                "a periodic box, or trap > 0 for free space")
        if self.box is not None and self.interacting:
            cut = self.pair_force.cutoff
            if min(self.box) <= 2 * cut:
                raise BadInputError("box", f"edges {self.box}",
                                    f"every edge > 2 x the cutoff of force {self.force!r} ({2 * cut:.4g}), so that "
                                    "the minimum image is unique")

    @staticmethod
    def _check_box(box: Any) -> tuple[float, ...] | None:
        if box is None:
            return None
        if isinstance(box, (str, bytes)) or not hasattr(box, "__len__"):
            raise BadInputError("box", f"{box!r}", "a sequence of edge lengths, or None")
        try:
            edges = tuple(float(b) for b in (box.tolist() if hasattr(box, "tolist") else box))
        except (TypeError, ValueError):
            raise BadInputError("box", f"{box!r}", "a sequence of numbers (edge lengths)") from None
        if not 1 <= len(edges) <= 3 or not all(math.isfinite(e) and e > 0 for e in edges):
            raise BadInputError("box", f"{box!r}", "1 to 3 finite edge lengths > 0")
        return edges

    # ------------------------------------------------------------------ layout
    @property
    def interacting(self) -> bool:
        """Whether pair forces act (a force other than ``"none"`` and k > 0)."""
        return self.pair_force.cutoff > 0 and self.interaction_strength > 0

    @property
    def n_active(self) -> int:
        """Active coordinates per particle: ``dim`` (AOUP g) or 1 (ABP θ)."""
        return self.dim if self.kind == "aoup" else 1

    @property
    def n_coords(self) -> int:
        """Coordinates per particle, c = dim + n_active."""
        return self.dim + self.n_active

    @property
    def position_coords(self) -> tuple[int, ...]:
        """Indices of the position coordinates along the last state axis: ``(0, ..., dim - 1)``."""
        return tuple(range(self.dim))

    @property
    def active_coords(self) -> tuple[int, ...]:
        """Indices of the active coordinates: g (AOUP) or θ (ABP)."""
        return tuple(range(self.dim, self.n_coords))

    @property
    def angular_coords(self) -> tuple[int, ...]:
        """Indices of the coordinates that are angles (θ of ABP; none for AOUP): networks embed them as cos, sin."""
        return (self.dim,) if self.kind == "abp" else ()

    @property
    def rates(self) -> tuple[float, ...]:
        """The relaxation rates that set the default burn-in: γ or D_r, and ε and μA where positive."""
        rates = [self.gamma if self.kind == "aoup" else self.rotational_diffusion]
        rates += [r for r in (self.epsilon, self.mobility * self.trap) if r > 0]
        return tuple(rates)

    def diffusion(self, *, dtype: torch.dtype | None = None,
                  device: str | torch.device | None = None) -> torch.Tensor:
        """The diagonal of D per particle coordinate, shape ``(c,)``: ``[ε]*dim + [γ]*dim`` or ``[ε, ε, D_r]``."""
        active = [self.gamma] * self.dim if self.kind == "aoup" else [self.rotational_diffusion]
        return torch.tensor([self.epsilon] * self.dim + active, dtype=dtype or settings.dtype,
                            device=settings.resolve_device(device))

    def box_tensor(self, like: torch.Tensor) -> torch.Tensor | None:
        """The box as a tensor of ``like``'s dtype and device (``None`` in free space)."""
        return None if self.box is None else torch.tensor(self.box, dtype=like.dtype, device=like.device)

    # ------------------------------------------------------------------ checks
    def check_state(self, state: Any, name: str = "state") -> torch.Tensor:
        """``state`` as a floating tensor of shape ``(n, N, c)``, finite; a BadInputError naming the shape else."""
        if not isinstance(state, torch.Tensor):
            from dynfer._validation import as_tensor

            state = as_tensor(state, name, finite=False)
        if not state.is_floating_point():
            state = state.to(settings.dtype)
        if state.ndim != 3 or state.shape[-1] != self.n_coords or state.shape[1] == 0:
            raise BadInputError(name, f"a tensor of shape {tuple(state.shape)}",
                                f"shape (n, N, c) = (n, N, {self.n_coords}) for {self.kind.upper()} in "
                                f"{self.dim}-D (positions then {'g' if self.kind == 'aoup' else 'θ'})")
        check_finite(state, name)
        return state

    # ------------------------------------------------------------------ drift
    def __call__(self, state: torch.Tensor) -> torch.Tensor:
        """The drift :math:`b` of states ``(n, N, c)``, same shape (see the module docstring)."""
        return self._drift(self.check_state(state))

    def self_propulsion(self, state: torch.Tensor) -> torch.Tensor:
        r""":math:`e_i`: g (AOUP) or :math:`(\cos\theta, \sin\theta)` (ABP), shape ``(n, N, dim)``."""
        active = state[..., self.dim:]
        if self.kind == "aoup":
            return active
        return torch.cat([torch.cos(active), torch.sin(active)], dim=-1)

    def position_drift(self, state: torch.Tensor, *, method: str = "auto") -> torch.Tensor:
        r""":math:`b_x = v_0 e_i + \mu(k \sum_j F(x_i - x_j) - A x_i)`, shape ``(n, N, dim)`` (no shape checks).

        ``method`` is the neighbour search (see :func:`~dynfer.processes.particles.interaction_forces`).
        """
        x = state[..., : self.dim]
        b = self.v0 * self.self_propulsion(state)
        box = self.box_tensor(state)
        forces = torch.zeros_like(x)
        if self.interacting:
            forces = forces + self.interaction_strength * interaction_forces(x, box, self.pair_force, method=method)
        if self.trap > 0:
            wrapped = x if box is None else x - box * torch.round(x / box)
            forces = forces - self.trap * wrapped
        return b + self.mobility * forces

    def _drift(self, state: torch.Tensor, method: str = "auto") -> torch.Tensor:
        bx = self.position_drift(state, method=method)
        active = state[..., self.dim:]
        b_active = -self.gamma * active if self.kind == "aoup" else torch.zeros_like(active)
        return torch.cat([bx, b_active], dim=-1)

    def divergence(self, state: torch.Tensor, coords: Sequence[int] | None = None) -> torch.Tensor:
        r"""Partial divergence :math:`\sum_i \sum_{k \in \text{coords}} \partial b_{i,k}/\partial x_{i,k}`, ``(n,)``.

        Position axes a contribute :math:`\mu k \sum_{i,j} [f'(r) u_a^2 + f(r)(1 - u_a^2)/r] - \mu A N` (summed
        over all axes: :math:`\mu k \sum_{i,j}[f'(r) + (d-1) f(r)/r] - \mu A N d`); each AOUP g axis
        contributes :math:`-\gamma N`; θ contributes 0.

        Parameters
        ----------
        state
            States ``(n, N, c)``.
        coords
            Indices along the last axis (``None``: all ``c``), without repeats.
        """
        state = self.check_state(state)
        ks = self._check_coords(coords)
        n, n_particles, _ = state.shape
        axes = [k for k in ks if k < self.dim]
        total = state.new_zeros((n,))
        if axes and self.interacting:
            box = self.box_tensor(state)
            total = total + self.mobility * self.interaction_strength * interaction_divergence(
                state[..., : self.dim], box, self.pair_force, axes)
        constant = -self.mobility * self.trap * len(axes) * n_particles
        if self.kind == "aoup":
            constant -= self.gamma * (len(ks) - len(axes)) * n_particles
        return total + constant

    def _check_coords(self, coords: Sequence[int] | None) -> list[int]:
        if coords is None:
            return list(range(self.n_coords))
        try:
            ks = [int(k) for k in coords]
        except (TypeError, ValueError):
            raise BadInputError("coords", f"{coords!r}", f"indices in range({self.n_coords}) or None") from None
        if any(k < 0 or k >= self.n_coords for k in ks) or len(set(ks)) != len(ks):
            raise BadInputError("coords", f"{coords!r}", f"distinct indices in range({self.n_coords}) or None")
        return ks

    # ------------------------------------------------------------------ storage
    def config(self) -> dict[str, Any]:
        """The constructor arguments as plain data (numbers, strings, a tuple box or None, a dict of floats)."""
        return {"kind": self.kind, "box": self.box, "dim": self.dim, "v0": self.v0, "gamma": self.gamma,
                "rotational_diffusion": self.rotational_diffusion, "epsilon": self.epsilon,
                "interaction_strength": self.interaction_strength, "force": self.force,
                "force_params": dict(self.force_params), "trap": self.trap, "mobility": self.mobility}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ActiveParticles:
        """Rebuild from :meth:`config` (a list box, as read back from a file, is accepted)."""
        if not isinstance(config, Mapping):
            raise BadInputError("config", f"a {type(config).__name__}", "a mapping from ActiveParticles.config()")
        kwargs = dict(config)
        kind = kwargs.pop("kind", "aoup")
        return cls(kind, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActiveParticles) and self.config() == other.config()

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ simulation
    def simulate(self, initial: Any = None, n_steps: int = 1, dt: float = 1e-3, **kwargs: Any) -> torch.Tensor:
        """Simulate; see :func:`dynfer.processes.particles.simulate.simulate`."""
        from dynfer.processes.particles.simulate import simulate

        return simulate(self, initial, n_steps, dt, **kwargs)

    def sample_stationary(self, n_particles: int, n_samples: int, **kwargs: Any) -> Any:
        """Stationary frames as AnnData; see :func:`dynfer.processes.particles.simulate.sample_stationary`."""
        from dynfer.processes.particles.simulate import sample_stationary

        return sample_stationary(self, n_particles, n_samples, **kwargs)
