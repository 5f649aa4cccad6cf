"""Argument checks and graph helpers shared by the Markov-jump-process modules.

Kept apart from :mod:`dynfer.processes.jumps.rate_matrix` so that the simulator and the likelihood can use them
without a circular import. Every check raises :class:`ValueError` naming the argument and the offending entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import check_finite

__all__ = [
    "as_labels",
    "as_rate_tensor",
    "check_distribution",
    "check_rate_matrix",
    "check_states",
    "closed_classes",
    "reachability",
    "resolve_initial",
]


def as_rate_tensor(
    Q: Any, name: str = "Q", *, device: str | torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Convert ``Q`` to a floating tensor.

    A tensor keeps its device and floating dtype; anything else goes to ``settings.device`` as float64 (rate matrices
    feed eigen-solvers and matrix exponentials).
    """
    if isinstance(Q, torch.Tensor):
        target = dtype or (Q.dtype if Q.is_floating_point() else torch.float64)
        dev = None if device is None else settings.resolve_device(device)
        return Q.to(device=dev, dtype=target)
    try:
        arr = np.asarray(Q, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be a numeric (n, n) array or tensor, got {type(Q).__name__}") from None
    return torch.as_tensor(arr, dtype=dtype or torch.float64, device=settings.resolve_device(device))


def as_labels(value: Any, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """``value`` as a tensor on ``device`` (its dtype kept), refusing what is not a real numeric array.

    For arguments that hold integer state labels (or, for ``initial``, possibly probabilities): the caller checks the
    dtype it needs; this only turns lists, numpy arrays of any real dtype and tensors into a tensor, and anything
    else (strings, objects, ragged lists, complex numbers) into a :class:`BadInputError` naming ``name``.
    """
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):
            arr = np.asarray(None)
        if arr.dtype.kind not in "biuf":
            raise BadInputError(name, f"a {type(value).__name__} of dtype {arr.dtype}", "integer state labels")
        t = torch.as_tensor(arr)
    if t.is_complex():
        raise BadInputError(name, f"complex dtype {t.dtype}", "integer state labels")
    return t if device is None else t.to(device)


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def check_rate_matrix(Q: torch.Tensor, name: str = "Q", *, rtol: float | None = None, batched: bool = False) -> None:
    r"""Raise ``ValueError`` unless ``Q`` is a valid generator (or a batch ``(B, n, n)`` of them when ``batched``).

    Valid means: square, finite, :math:`q_{ij} \ge 0` for :math:`i \ne j`, and every row sums to zero within
    ``rtol`` times the row scale :math:`\sum_j |q_{ij}|` (default ``rtol``: :math:`\sqrt{\varepsilon}` of the dtype,
    1.5e-8 in float64 and 3.5e-4 in float32).
    """
    want = "(B, n, n)" if batched else "(n, n)"
    if Q.ndim != (3 if batched else 2) or Q.shape[-1] != Q.shape[-2] or Q.shape[-1] == 0:
        raise BadInputError(f"{name} must be a square {want} rate matrix with n >= 1, got shape {tuple(Q.shape)}")
    check_finite(Q, name)
    with torch.no_grad():
        n = Q.shape[-1]
        off = ~torch.eye(n, dtype=torch.bool, device=Q.device)
        neg = (Q < 0) & off
        if bool(neg.any()):
            where = _index(int(torch.nonzero(neg.reshape(-1))[0]), tuple(Q.shape))
            raise BadInputError(
                f"{name} has a negative off-diagonal rate {name}[{', '.join(map(str, where))}] = "
                f"{float(Q[where]):.6g}; off-diagonal rates q_ij (i != j) must be >= 0 "
                f"({int(neg.sum())} negative entr{'y' if int(neg.sum()) == 1 else 'ies'} in all)"
            )
        tol = float(np.sqrt(torch.finfo(Q.dtype).eps)) if rtol is None else rtol
        row_sum = Q.sum(-1)
        scale = Q.abs().sum(-1)
        bad = row_sum.abs() > tol * scale
        if bool(bad.any()):
            where = _index(int(torch.nonzero(bad.reshape(-1))[0]), tuple(row_sum.shape))
            label = f"row {where[-1]}" + (f" of matrix {where[0]}" if batched else "")
            raise BadInputError(
                f"{label} of {name} sums to {float(row_sum[where]):.6g}, not 0 (tolerance {tol:.2g} x row scale "
                f"{float(scale[where]):.6g}); the diagonal must be minus the sum of the off-diagonal rates "
                f"(RateMatrix.from_rates builds it for you)"
            )


def check_distribution(p: Any, n: int, name: str, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Return ``p`` as a tensor ``(n,)`` or ``(B, n)`` after checking it is a probability vector (or batch of them)."""
    if isinstance(p, torch.Tensor):
        t = p.to(device=device, dtype=dtype if not p.is_floating_point() else p.dtype)
    else:
        try:
            t = torch.as_tensor(np.asarray(p, dtype=np.float64), device=device, dtype=dtype)
        except (TypeError, ValueError):
            raise BadInputError(f"{name} must be a numeric probability vector, got {type(p).__name__}") from None
    if t.ndim not in (1, 2) or t.shape[-1] != n:
        raise BadInputError(f"{name} must have shape ({n},) or (B, {n}) for {n} states, got {tuple(t.shape)}")
    check_finite(t, name)
    if bool((t < 0).any()):
        raise BadInputError(f"{name} has negative entries (smallest {float(t.min()):.4g}); probabilities must be >= 0")
    total = t.detach().sum(-1)
    tol = float(np.sqrt(torch.finfo(t.dtype).eps))
    if bool(((total - 1).abs() > tol).any()):
        raise BadInputError(f"{name} must sum to 1 (within {tol:.1g}), got sum(s) {total.flatten()[:5].tolist()}")
    return t


def check_states(states: torch.Tensor, n: int, name: str, mask: torch.Tensor | None = None) -> None:
    """Raise ``ValueError`` unless every (unmasked) entry of the integer tensor ``states`` lies in ``0 .. n-1``."""
    if states.dtype.is_floating_point or states.dtype.is_complex or states.dtype == torch.bool:
        raise BadInputError(f"{name} must hold integer state labels, got dtype {states.dtype}")
    bad = (states < 0) | (states >= n)
    if mask is not None:
        bad = bad & mask
    if bool(bad.any()):
        where = _index(int(torch.nonzero(bad.reshape(-1))[0]), tuple(states.shape))
        raise BadInputError(
            f"{name} has state {int(states[where])} at index {where} outside 0..{n - 1} "
            f"({int(bad.sum())} out-of-range entr{'y' if int(bad.sum()) == 1 else 'ies'})"
        )


def resolve_initial(
    initial: Any,
    n_paths: int,
    n: int,
    *,
    stationary: torch.Tensor | None,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """Initial states ``(n_paths,)`` (long) from ``initial``.

    ``initial`` is ``None`` (draw from ``stationary``), a probability vector ``(n,)`` (float), or integer start
    states (an int, or an integer array/tensor ``(n_paths,)``).
    """
    if initial is None:
        if stationary is None:
            raise BadInputError("initial=None (stationary start) needs a single shared rate matrix; pass "
                                "initial states")
        probs = stationary
    elif isinstance(initial, (int, np.integer)) and not isinstance(initial, bool):
        states = torch.full((n_paths,), int(initial), dtype=torch.long, device=device)
        check_states(states, n, "initial")
        return states
    else:
        init = as_labels(initial, "initial", device)
        if init.dtype == torch.bool:
            raise BadInputError("initial", "a boolean array", "integer start states or a probability vector")
        if not init.is_floating_point():
            states = init.long()
            if states.ndim == 0:
                states = states.expand(n_paths)
            if states.shape != (n_paths,):
                raise BadInputError(f"integer initial states must have shape ({n_paths},), got {tuple(states.shape)}")
            check_states(states, n, "initial")
            return states.contiguous()
        probs = check_distribution(init, n, "initial", device=device, dtype=torch.float64)
        if probs.ndim != 1:
            raise BadInputError(f"initial probability vector must have shape ({n},), got {tuple(probs.shape)}")
    probs = probs.to(device=device, dtype=torch.float64).clamp_min(0)
    return torch.multinomial(probs, n_paths, replacement=True, generator=generator)


def reachability(adjacency: torch.Tensor) -> torch.Tensor:
    """Reachability ``R[..., i, j]``: ``j`` can be reached from ``i`` (``i`` itself included) along ``adjacency``.

    Computed by repeated squaring of ``I + A`` (log2 n boolean matrix products); batched over leading dimensions.
    """
    n = adjacency.shape[-1]
    reach = (adjacency.bool() | torch.eye(n, dtype=torch.bool, device=adjacency.device)).double()
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2)))))):
        reach = ((reach @ reach) > 0).double()
    return reach > 0


def closed_classes(Q: torch.Tensor) -> list[list[int]]:
    """The closed communicating classes of the chain with generator ``Q`` (each a sorted list of states).

    A stationary distribution is unique exactly when there is one closed class (Norris 1997, thm 3.5.2).
    """
    n = Q.shape[-1]
    adj = (Q.detach() > 0) & ~torch.eye(n, dtype=torch.bool, device=Q.device)
    reach = reachability(adj).cpu().numpy()
    mutual = reach & reach.T
    classes, seen = [], set()
    for i in range(n):
        if i in seen:
            continue
        members = np.flatnonzero(mutual[i])
        seen.update(members.tolist())
        # closed: nothing outside the class is reachable from it
        if not reach[members][:, [j for j in range(n) if j not in set(members.tolist())]].any():
            classes.append(sorted(members.tolist()))
    return classes
