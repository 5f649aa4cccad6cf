r"""Time-homogeneous drifts :math:`b(x)` with their divergence, as objects that an estimator can store.

An SDE :math:`dX = b(X)\,dt + \sqrt{2D}\,dW` is given to the entropy-production estimator by its drift and its
diffusion matrix. The drift is a :class:`Drift`:

* ``drift(x)`` returns :math:`b(x)` with the shape of ``x``: states of shape ``(n, d)`` (``event_dims = 1``) or
  particle states of shape ``(n, N, c)`` (``event_dims = 2``: N particles with c coordinates each, positions
  first);
* ``drift.divergence(x, coords)`` returns :math:`\sum_{k \in \text{coords}} \partial b_k / \partial x_k` per
  sample, shape ``(n,)`` (for particle states the sum runs over every particle's coordinates ``coords``);
* ``drift.config()`` returns its parameters as plain data, and :meth:`Drift.from_config` rebuilds it, so the
  AnnData store and :meth:`dynfer.estimators.Estimator.save` keep a drift exactly (the codec encodes any
  registered :class:`Drift` subclass).

Built in: :class:`LinearDrift` (:math:`b(x) = -A x`, the Ornstein–Uhlenbeck family) and :class:`CallableDrift`
(a user function; it works everywhere but cannot be stored). The interacting active-particle drift lives in
:mod:`dynfer.processes.particles`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from dynfer._errors import BadInputError

__all__ = ["CallableDrift", "Drift", "LinearDrift", "as_drift", "get_drift_class"]


class Drift:
    """Base class of drifts :math:`b(x)` (see the module docstring).

    Subclasses implement :meth:`__call__` and :meth:`config`; they may override :meth:`divergence` with a closed
    form (the default differentiates ``__call__`` with autograd, one coordinate at a time, exactly).

    Attributes
    ----------
    event_dims
        1 for states of shape ``(n, d)``, 2 for particle states ``(n, N, c)``.
    """

    event_dims: ClassVar[int] = 1
    _registry: ClassVar[dict[str, type[Drift]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Drift._registry[cls.__name__] = cls

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The drift :math:`b(x)`, with the shape of ``x``."""
        raise NotImplementedError

    def divergence(self, x: torch.Tensor, coords: Sequence[int] | None = None) -> torch.Tensor:
        r"""Partial divergence :math:`\sum_{k \in \text{coords}} \partial_{x_k} b_k(x)` per sample, shape ``(n,)``.

        Parameters
        ----------
        x
            States, shape ``(n, d)`` (or ``(n, N, c)`` for particle drifts, which must override this method).
        coords
            Indices along the last axis (``None``: all).

        Notes
        -----
        The default takes one autograd pass per coordinate: exact, costing ``len(coords)`` drift evaluations.
        """
        if self.event_dims != 1:
            raise NotImplementedError(f"{type(self).__name__} must implement divergence for particle states")
        d = x.shape[-1]
        ks = range(d) if coords is None else [int(k) for k in coords]
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            b = self(xg)
            total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for k in ks:
                (g,) = torch.autograd.grad(b[:, k].sum(), xg, retain_graph=True)
                total = total + g[:, k]
        return total.detach()

    def config(self) -> dict[str, Any]:
        """The parameters as plain data (numbers, strings, lists, arrays), enough for :meth:`from_config`."""
        raise NotImplementedError(f"{type(self).__name__} has no plain-data configuration")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Drift:
        """Rebuild the drift from :meth:`config`."""
        return cls(**dict(config))

    def __eq__(self, other: object) -> bool:
        """Same class and the same configuration (arrays compared exactly); drifts without one by identity."""
        if type(other) is not type(self):
            return NotImplemented
        try:
            a, b = self.config(), other.config()  # type: ignore[attr-defined]
        except NotImplementedError:
            return self is other
        return _same_config(a, b)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        try:
            body = ", ".join(f"{k}={_short(v)}" for k, v in self.config().items())
        except NotImplementedError:
            body = "..."
        return f"{type(self).__name__}({body})"


def _same_config(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same_config(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, torch.Tensor)) or isinstance(b, (np.ndarray, torch.Tensor)):
        x, y = np.asarray(a), np.asarray(b)
        return x.shape == y.shape and bool(np.array_equal(x, y))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_config(u, v) for u, v in zip(a, b, strict=True))
    return bool(a == b)


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.size > 6:
        return f"array(shape={value.shape})"
    return repr(value)


def get_drift_class(name: str) -> type[Drift]:
    """The :class:`Drift` subclass called ``name`` (importing the particle drifts first)."""
    import dynfer.processes.particles  # noqa: F401  (registers the particle drifts)

    try:
        return Drift._registry[name]
    except KeyError:
        raise BadInputError("drift", f"an unknown drift class {name!r}",
                            f"one of {sorted(Drift._registry)}") from None


class LinearDrift(Drift):
    r"""The linear drift :math:`b(x) = -A x` of an Ornstein–Uhlenbeck process (states of shape ``(n, d)``).

    Parameters
    ----------
    A
        Drift matrix, shape ``(d, d)``; not necessarily symmetric.
    """

    def __init__(self, A: np.ndarray | torch.Tensor | Sequence[Sequence[float]]) -> None:
        arr = np.asarray(A.detach().cpu() if isinstance(A, torch.Tensor) else A, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
            raise BadInputError("A", f"an array of shape {arr.shape}", "a square (d, d) drift matrix")
        if not np.isfinite(arr).all():
            raise BadInputError("A", "NaN or infinite entries", "a finite drift matrix")
        self.A = np.array(arr)  # an owned, writable copy: never a view of the caller's (or a read-only) array

    @property
    def dim(self) -> int:
        """The state dimension d."""
        return self.A.shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`b(x) = -A x` for states ``(n, d)``."""
        if x.ndim != 2 or x.shape[-1] != self.dim:
            raise BadInputError("x", f"states of shape {tuple(x.shape)}", f"(n, {self.dim}) for this LinearDrift")
        A = torch.as_tensor(self.A, dtype=x.dtype, device=x.device)
        return -x @ A.T

    def divergence(self, x: torch.Tensor, coords: Sequence[int] | None = None) -> torch.Tensor:
        r""":math:`-\sum_{k \in \text{coords}} A_{kk}` for every sample (a constant)."""
        if x.ndim != 2 or x.shape[-1] != self.dim:
            raise BadInputError("x", f"states of shape {tuple(x.shape)}", f"(n, {self.dim}) for this LinearDrift")
        diag = np.diag(self.A) if coords is None else np.diag(self.A)[np.asarray(coords, dtype=np.int64)]
        return torch.full((x.shape[0],), -float(diag.sum()), dtype=x.dtype, device=x.device)

    def config(self) -> dict[str, Any]:
        """``{"A": A}``."""
        return {"A": self.A.copy()}


class CallableDrift(Drift):
    """A user function ``fn(x) -> b(x)`` as a :class:`Drift` (it cannot be stored in AnnData or a file).

    Parameters
    ----------
    fn
        Maps states ``(n, d)`` to drifts ``(n, d)``, with torch operations (autograd gives the divergence).
    divergence
        Optional closed form ``divergence(x, coords) -> (n,)``.
    event_dims
        1 (states ``(n, d)``) or 2 (particle states ``(n, N, c)``, which need ``divergence``).
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor],
                 divergence: Callable[[torch.Tensor, Sequence[int] | None], torch.Tensor] | None = None,
                 event_dims: int = 1) -> None:
        if not callable(fn):
            raise BadInputError("drift", f"a {type(fn).__name__}", "a callable b(x) or a dynfer Drift")
        if event_dims not in (1, 2):
            raise BadInputError("event_dims", f"{event_dims!r}", "1 (states (n, d)) or 2 (particles (n, N, c))")
        if event_dims == 2 and divergence is None:
            raise BadInputError("divergence", "None for a particle drift",
                                "a function divergence(x, coords) -> (n,) for particle states")
        self.fn = fn
        self._divergence = divergence
        self._event_dims = event_dims

    @property
    def event_dims(self) -> int:  # type: ignore[override]
        """1 or 2, as given."""
        return self._event_dims

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``fn(x)``."""
        return self.fn(x)

    def divergence(self, x: torch.Tensor, coords: Sequence[int] | None = None) -> torch.Tensor:
        """The closed form when given, else autograd (see :meth:`Drift.divergence`)."""
        if self._divergence is not None:
            return self._divergence(x, coords)
        return super().divergence(x, coords)


def as_drift(drift: Any, name: str = "drift") -> Drift:
    """A :class:`Drift` from a drift, a dynfer SDE (time-homogeneous), a square matrix A (``b = -Ax``) or a callable."""
    if isinstance(drift, Drift):
        return drift
    from dynfer.processes.sde import SDE

    if isinstance(drift, SDE):
        sde = drift

        def fn(x: torch.Tensor) -> torch.Tensor:
            return sde.drift(torch.zeros((), dtype=x.dtype, device=x.device), x)

        return CallableDrift(fn)
    if isinstance(drift, (np.ndarray, torch.Tensor, list, tuple)):
        return LinearDrift(drift)
    if callable(drift):
        return CallableDrift(drift)
    raise BadInputError(name, f"a {type(drift).__name__}",
                        "a dynfer Drift, a square matrix A (b(x) = -A x), a time-homogeneous dynfer SDE or a callable")
