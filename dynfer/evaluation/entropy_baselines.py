r"""Model-free entropy-production baselines from trajectories: NEEP and the short-time TUR bound.

Both read only the increments of discretely observed stationary paths ``(T + 1, n_paths, d)`` at a lag ``dt`` and
need neither the drift nor the diffusion matrix:

* :func:`neep_rate` — the neural estimator of entropy production (Kim, Bae, Lee & Jeong, PRL 125, 140604, 2020):
  an antisymmetric :math:`\Delta S_\theta(x, x') = h_\theta(x, x') - h_\theta(x', x)` maximising
  :math:`E[\Delta S_\theta - e^{-\Delta S_\theta}]`, whose maximiser is the log-ratio of the forward and reversed
  pair densities; rate :math:`E[\Delta S_\theta]/dt`;
* :func:`tur_rate` — the short-time thermodynamic uncertainty relation (Manikandan, Gupta & Krishnamurthy, PRL 124,
  120603, 2020; Otsubo, Ito, Dechant & Sagawa, PRE 101, 062106, 2020; Van Vu, Vo, Hasegawa, PRE 101, 042138, 2020):
  a generalised current :math:`J = d_\theta(\bar x)\cdot\Delta x` (Stratonovich midpoint
  :math:`\bar x = (x_t + x_{t+1})/2`) maximising :math:`\hat\sigma_{TUR} = 2\langle J\rangle^2/(\mathrm{Var}\,J\,dt)`.

**Both are exact only as dt → 0.** At a finite lag NEEP converges to the pair Kullback–Leibler rate
:math:`D_{KL}(p(x_t, x_{t+1})\,\|\,p(x_{t+1}, x_t))/dt \le \sigma`, and the TUR value is a lower bound on
:math:`\sigma` that is tight as dt → 0 when the optimal current :math:`D^{-1}v(x)` lies in the basis (it does for
linear :math:`d` on an Ornstein–Uhlenbeck process). Coarse lags bias both downwards. A network fitted on finitely
many pairs is not the maximiser: :math:`E[\Delta S_\theta]` of a learned NEEP is then neither a bound nor unbiased
(on the closed-form OU systems with 4e5 training pairs its population mean was off by 10–15 %, either way), so
report its error against the closed form, not only its standard error. For a given set of held-out pairs, the
squared mean makes the TUR value's standard error about twice that of the NEEP mean.

Every coordinate is first rescaled to O(1) (an affine change of coordinates leaves the rate unchanged), so the
paths may come in any units.

**Held-out estimates.** The pairs are grouped into *units*: whole paths when there are at least
:data:`TARGET_UNITS` of them, else contiguous time blocks of each path (so that there are about
:data:`TARGET_UNITS`). A fraction ``val_fraction`` of the units (at least 2) is held out; the network is fitted on
the others (with :func:`dynfer.training.fit`, early stopping on the held-out objective), and the rate is evaluated
on the held-out pairs. Its standard error is a batch-means (cluster) standard error over the held-out units of the
estimator's influence function (the delta method for the ratios of the TUR), which accounts for the correlation of
pairs within a path. Time blocks of one path are nearly, not exactly, independent. Early stopping looks at the
held-out objective (one scalar choice among the validations), a small optimistic bias that is neglected.

Validation: paths must be finite, have at least 2 observed times and :data:`MIN_PAIRS` pairs in all; ``dt > 0``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import check_int, check_positive, resolve_seed
from dynfer.nn.mlp import MLP
from dynfer.training.loop import NonFiniteLossError, fit

__all__ = ["MIN_PAIRS", "TARGET_UNITS", "CurrentField", "EntropyRateEstimate", "PairEntropy", "neep_rate", "tur_rate"]

#: The fewest (x_t, x_{t+1}) pairs the estimators accept.
MIN_PAIRS = 20
#: About how many units (paths or time blocks) the pairs are grouped into for the split and the standard error.
TARGET_UNITS = 40
#: The linear TUR basis is solved in closed form up to this many basis currents d(d + 1) (d <= 63), else trained.
MAX_CLOSED_FORM_FEATURES = 4096
_CHUNK = 65536  # rows per evaluation chunk


@dataclass(frozen=True)
class EntropyRateEstimate:
    r"""An entropy-production rate estimated from trajectories.

    Attributes
    ----------
    rate
        The estimate :math:`\hat\sigma` (k_B = 1, nats per unit time).
    stderr
        Its standard error (batch means over held-out units; see the module docstring).
    method
        ``"neep"``, ``"tur-linear"`` or ``"tur-mlp"``.
    seconds
        Wall time of the whole call.
    n_pairs
        Held-out pairs the rate was evaluated on.
    details
        Method-specific extras (training summary, split sizes, the TUR's ``"simple"`` estimate ...).
    """

    rate: float
    stderr: float
    method: str
    seconds: float
    n_pairs: int
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- input
@dataclass
class _Pairs:
    x0: np.ndarray  # (N, d)
    x1: np.ndarray  # (N, d)
    unit: np.ndarray  # (N,) unit index
    n_units: int


def _as_paths(paths: Any) -> list[np.ndarray]:
    items = list(paths) if isinstance(paths, (list, tuple)) else [paths]
    if not items:
        raise BadInputError("paths", "an empty list", "an array (T + 1, n_paths, d) or a list of such arrays")
    out = []
    for i, item in enumerate(items):
        where = "paths" if len(items) == 1 and not isinstance(paths, (list, tuple)) else f"paths[{i}]"
        if isinstance(item, torch.Tensor):
            item = item.detach().cpu().numpy()
        try:
            arr = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise BadInputError(where, f"a {type(item).__name__}", "a numeric array (T + 1, n_paths, d)") from None
        if arr.ndim != 3:
            raise BadInputError(where, f"an array of shape {arr.shape}",
                                "shape (T + 1, n_paths, d): time first, then paths, then coordinates")
        if arr.shape[0] < 2 or arr.shape[1] < 1 or arr.shape[2] < 1:
            raise BadInputError(where, f"shape {arr.shape}", "at least 2 observed times, 1 path and 1 coordinate")
        if not np.isfinite(arr).all():
            raise BadInputError(where, f"{int((~np.isfinite(arr)).sum())} NaN or infinite value(s)", "finite paths")
        out.append(arr)
    dims = {a.shape[2] for a in out}
    if len(dims) > 1:
        raise BadInputError("paths", f"arrays with different dimensions {sorted(dims)}", "one state dimension d")
    return out


def _pairs(paths: Any) -> _Pairs:
    arrays = _as_paths(paths)
    n_pairs = sum((a.shape[0] - 1) * a.shape[1] for a in arrays)
    if n_pairs < MIN_PAIRS:
        raise BadInputError("paths", f"{n_pairs} pairs (x_t, x_t+1)", f"at least {MIN_PAIRS} pairs")
    n_paths = sum(a.shape[1] for a in arrays)
    blocks = max(1, math.ceil(TARGET_UNITS / n_paths))
    x0, x1, unit, next_unit = [], [], [], 0
    for a in arrays:
        steps = a.shape[0] - 1
        chunks = np.array_split(np.arange(steps), min(steps, blocks))
        block_of_step = np.concatenate([np.full(len(c), j) for j, c in enumerate(chunks)])
        # unit of (step t, path p) = next_unit + p * len(chunks) + block(t)
        ids = next_unit + np.arange(a.shape[1])[None, :] * len(chunks) + block_of_step[:, None]
        x0.append(a[:-1].reshape(-1, a.shape[2]))
        x1.append(a[1:].reshape(-1, a.shape[2]))
        unit.append(ids.reshape(-1))
        next_unit += a.shape[1] * len(chunks)
    a0, a1 = np.concatenate(x0), np.concatenate(x1)
    # the rate is invariant under an affine change of each coordinate: work with O(1) numbers whatever the units
    peak = np.maximum(np.abs(a0).max(0), np.abs(a1).max(0))
    peak = np.where(peak > 0, peak, 1.0)
    a0, a1 = a0 / peak, a1 / peak
    centre, spread = a0.mean(0), a0.std(0)
    spread = np.where(spread > 0, spread, 1.0)
    return _Pairs((a0 - centre) / spread, (a1 - centre) / spread, np.concatenate(unit), next_unit)


def _split(pairs: _Pairs, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, held-out) of the pairs, drawing whole units."""
    rng = np.random.default_rng(seed)
    n_held = min(pairs.n_units - 1, max(2, int(round(val_fraction * pairs.n_units))))
    held_units = rng.permutation(pairs.n_units)[:n_held]
    held = np.isin(pairs.unit, held_units)
    return ~held, held


def _check_common(dt: Any, val_fraction: Any, seed: Any, dtype: Any, device: Any) -> tuple:
    if isinstance(dt, (bool, np.bool_)):
        raise BadInputError("dt", f"{dt!r}", "a positive number")
    dt = check_positive(dt, "dt")
    if isinstance(val_fraction, (bool, np.bool_)) or not isinstance(val_fraction, (int, float, np.floating)) or not (
            0.0 < float(val_fraction) < 1.0):
        raise BadInputError("val_fraction", f"{val_fraction!r}", "a fraction strictly between 0 and 1")
    used_seed = resolve_seed(seed)
    if dtype is None:
        tdtype = settings.dtype
    elif dtype in (torch.float32, torch.float64):
        tdtype = dtype
    elif isinstance(dtype, str) and dtype.strip().lower().removeprefix("torch.") in ("float32", "float64"):
        tdtype = getattr(torch, dtype.strip().lower().removeprefix("torch."))
    else:
        raise BadInputError("dtype", f"{dtype!r}", "None, torch.float32 or torch.float64")
    try:
        dev = settings.resolve_device(device)
    except (RuntimeError, TypeError):
        raise BadInputError("device", f"{device!r}", "'cpu', 'cuda[:i]' or None") from None
    return dt, float(val_fraction), used_seed, tdtype, dev


def _check_budget(n_steps: Any, batch_size: Any, lr: Any, patience: Any) -> tuple[int, int, float, int | None]:
    n_steps = check_int(n_steps, "n_steps")
    batch_size = check_int(batch_size, "batch_size")
    if isinstance(lr, (bool, np.bool_)):
        raise BadInputError("lr", f"{lr!r}", "a positive learning rate")
    lr = check_positive(lr, "lr")
    patience = None if patience is None else check_int(patience, "patience")
    return n_steps, batch_size, lr, patience


def _check_hidden(hidden: Any) -> tuple[int, ...]:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or not all(
            isinstance(h, (int, np.integer)) and not isinstance(h, (bool, np.bool_)) and h >= 1 for h in hidden):
        raise BadInputError("hidden", f"{hidden!r}", "a sequence of positive layer widths such as (64, 64)")
    return tuple(int(h) for h in hidden)


def _cluster_stderr(psi: np.ndarray, unit: np.ndarray) -> float:
    r"""Batch-means standard error of a mean of influence values :math:`\psi_i`, clustered by unit.

    :math:`\mathrm{se}^2 = \frac{U}{U-1}\sum_u \big(\sum_{i \in u}\psi_i\big)^2 / N^2` (the sandwich variance of a
    mean of clustered terms; Cameron & Miller, *J. Hum. Resour.* 50, 317, 2015).
    """
    _, inverse = np.unique(unit, return_inverse=True)
    sums = np.bincount(inverse, weights=psi)
    u = len(sums)
    if u < 2:
        return math.nan
    return float(math.sqrt(u / (u - 1) * float(np.sum(sums**2))) / len(psi))


def _tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(a, dtype=dtype)


def _fit_summary(res: Any) -> dict[str, Any]:
    return {"steps_run": res.steps_run, "best_step": res.best_step, "best_val_loss": res.best_val_loss,
            "stopped_early": res.stopped_early}


def _fit(model: nn.Module, loss: Any, train: tuple, val: tuple, batch_size: int, n_steps: int, lr: float,
         patience: int | None, seed: int, dev: torch.device, desc: str) -> Any:
    """:func:`dynfer.training.fit` with 50 validations, early stopping on the held-out loss and best weights kept."""
    try:
        return fit(model, loss, train, val_data=val, batch_size=min(batch_size, len(train[0])), max_steps=n_steps,
                   lr=lr, eval_every=max(1, n_steps // 50), eval_batch_size=_CHUNK, patience=patience,
                   grad_clip=10.0, seed=seed, device=dev, distributed=False, desc=desc)
    except NonFiniteLossError as err:
        raise BadInputError("lr", f"a training loss that became NaN or infinite ({err})",
                            "a smaller learning rate") from None


def _init_model(factory: Any, seed: int) -> nn.Module:
    """Build a module with its initial weights drawn from ``seed`` (the caller's global RNG is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


# ---------------------------------------------------------------------- NEEP
class PairEntropy(nn.Module):
    r"""The antisymmetric entropy increment :math:`\Delta S_\theta(x, x') = h_\theta(x, x') - h_\theta(x', x)`.

    :math:`h_\theta` is an :class:`dynfer.nn.MLP` of the pair, read through a fixed invertible linear map: the
    standardised midpoint :math:`((x + x')/2 - m)/s` and the standardised increment :math:`(x' - x)/s_\Delta`.
    Since the first layer is linear this is the same function class as an MLP of the concatenated pair, but the
    :math:`O(\sqrt{dt})` increments are not lost against the :math:`O(1)` states. Swapping the pair flips the
    increment only, so :math:`\Delta S_\theta` is antisymmetric by construction.

    Parameters
    ----------
    mean, scale, increment_scale
        ``(d,)`` arrays: state mean and standard deviation, increment standard deviation (from the training pairs).
    hidden
        Hidden widths of :math:`h_\theta`.
    dtype
        Parameter dtype.
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, increment_scale: np.ndarray, hidden: Sequence[int],
                 dtype: torch.dtype) -> None:
        super().__init__()
        d = len(mean)
        self.h = MLP(2 * d, 1, hidden, zero_last=True, dtype=dtype, device="cpu")
        self.register_buffer("mean", _tensor(mean, dtype))
        self.register_buffer("scale", _tensor(scale, dtype))
        self.register_buffer("increment_scale", _tensor(increment_scale, dtype))

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        r""":math:`\Delta S_\theta(x_0, x_1)`, shape ``(n,)``."""
        mid = (0.5 * (x0 + x1) - self.mean) / self.scale
        inc = (x1 - x0) / self.increment_scale
        return (self.h(torch.cat([mid, inc], -1)) - self.h(torch.cat([mid, -inc], -1)))[..., 0]


def _neep_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    r"""Minus the NEEP objective, :math:`-E[\Delta S_\theta - e^{-\Delta S_\theta}]` (exponent capped at 30)."""
    ds = model(batch[0], batch[1])
    return -(ds - torch.exp(torch.clamp(-ds, max=30.0))).mean()


def _evaluate(fn: Any, arrays: Sequence[np.ndarray], dtype: torch.dtype, dev: torch.device) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(arrays[0]), _CHUNK):
            parts = [_tensor(a[start:start + _CHUNK], dtype).to(dev) for a in arrays]
            out.append(fn(*parts).double().cpu().numpy())
    return np.concatenate(out)


def neep_rate(paths: Any, dt: float, *, hidden: Sequence[int] = (256, 256), n_steps: int = 2000,
              batch_size: int = 1024, lr: float = 1e-3, val_fraction: float = 0.2, patience: int | None = 10,
              seed: int | torch.Generator | None = None, dtype: torch.dtype | str | None = None,
              device: str | torch.device | None = None) -> EntropyRateEstimate:
    r"""The NEEP entropy-production rate :math:`\hat\sigma = E[\Delta S_\theta(x_t, x_{t+1})]/dt` on held-out pairs.

    :math:`\Delta S_\theta = h_\theta(x_t, x_{t+1}) - h_\theta(x_{t+1}, x_t)` (:class:`PairEntropy`) maximises
    :math:`E[\Delta S_\theta - e^{-\Delta S_\theta}]` over the training pairs (Adam-W through
    :func:`dynfer.training.fit`, 50 validations, early stopping on the held-out objective, best weights kept).
    Kim, Bae, Lee & Jeong, PRL 125, 140604 (2020).

    Parameters
    ----------
    paths
        Stationary paths ``(T + 1, n_paths, d)`` observed every ``dt`` (numpy or torch), or a list of such arrays
        with the same ``d`` and ``dt``.
    dt
        Observation interval, > 0.
    hidden
        Hidden widths of :math:`h_\theta`.
    n_steps, batch_size, lr
        Optimisation steps, pairs per step (capped at the training pairs) and learning rate.
    val_fraction
        Fraction of the units held out (see the module docstring).
    patience
        Validations without improvement before stopping (``None``: never stop early).
    seed
        Seed of the split, the initial weights and the batches (``None``: ``dynfer.settings.seed``).
    dtype, device
        Training dtype and device (default ``dynfer.settings``).

    Returns
    -------
    EntropyRateEstimate
        ``method="neep"``; ``details``: ``"objective"`` (held-out :math:`E[\Delta S - e^{-\Delta S}]`), the split
        sizes, ``"dt"`` and the :class:`dynfer.training.FitResult` summary.

    Notes
    -----
    The maximiser is :math:`\Delta S^* = \log p(x_t, x_{t+1})/p(x_{t+1}, x_t)`; :math:`E[\Delta S^*]/dt` is the pair
    Kullback–Leibler rate, which tends to :math:`\sigma` only as dt → 0 (see the module docstring).
    """
    start = time.perf_counter()
    dt, val_fraction, used_seed, tdtype, dev = _check_common(dt, val_fraction, seed, dtype, device)
    n_steps, batch_size, lr, patience = _check_budget(n_steps, batch_size, lr, patience)
    hidden = _check_hidden(hidden)
    pairs = _pairs(paths)
    train, held = _split(pairs, val_fraction, used_seed)
    x0t, x1t = pairs.x0[train], pairs.x1[train]
    inc = x1t - x0t
    scale = np.where(x0t.std(0) > 0, x0t.std(0), 1.0)
    inc_scale = np.where(inc.std(0) > 0, inc.std(0), 1.0)
    model = _init_model(lambda: PairEntropy(x0t.mean(0), scale, inc_scale, hidden, tdtype), used_seed)
    val = (_tensor(pairs.x0[held], tdtype), _tensor(pairs.x1[held], tdtype))
    res = _fit(model, _neep_loss, (_tensor(x0t, tdtype), _tensor(x1t, tdtype)), val, batch_size, n_steps, lr,
               patience, used_seed, dev, "neep")
    model.eval()
    ds = _evaluate(model, [pairs.x0[held], pairs.x1[held]], tdtype, dev)
    unit = pairs.unit[held]
    mean = float(ds.mean())
    details = {"objective": float(np.mean(ds - np.exp(np.minimum(-ds, 30.0)))), "dt": dt,
               "n_train_pairs": int(train.sum()), "n_units": pairs.n_units,
               "n_heldout_units": len(np.unique(unit)), "fit": _fit_summary(res), "seed": used_seed,
               "stderr_method": "batch means over held-out units"}
    return EntropyRateEstimate(mean / dt, _cluster_stderr((ds - mean) / dt, unit), "neep",
                               time.perf_counter() - start, int(held.sum()), details)


# ---------------------------------------------------------------------- TUR
def _linear_features(x0: np.ndarray, x1: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    r"""Basis currents of :math:`d(x) = Wx + c`: :math:`\Delta x_k \bar z_l` and :math:`\Delta x_k`, ``(n, d(d+1))``.

    :math:`\bar z = (\bar x - m)/s` is the standardised midpoint (an affine change of :math:`x` spans the same
    currents).
    """
    dx = x1 - x0
    z = (0.5 * (x0 + x1) - mean) / scale
    n, d = dx.shape
    return np.concatenate([(dx[:, :, None] * z[:, None, :]).reshape(n, d * d), dx], axis=1)


def _closed_form_coefficients(x0: np.ndarray, x1: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    r"""The maximiser :math:`\theta = C^{-1}\mu` of the quotient :math:`(\theta^\top\mu)^2/\theta^\top C\theta`.

    :math:`\mu` and :math:`C` are the mean and covariance of the basis currents, accumulated in chunks.

    Van Vu, Vo & Hasegawa, PRE 101, 042138 (2020).
    """
    d = x0.shape[1]
    p = d * (d + 1)
    total = np.zeros(p)
    gram = np.zeros((p, p))
    for start in range(0, len(x0), _CHUNK):
        f = _linear_features(x0[start:start + _CHUNK], x1[start:start + _CHUNK], mean, scale)
        total += f.sum(0)
        gram += f.T @ f
    n = len(x0)
    mu = total / n
    cov = gram / n - np.outer(mu, mu)
    return np.linalg.lstsq(cov, mu, rcond=1e-12)[0]


class CurrentField(nn.Module):
    r"""The weight field :math:`d_\theta(x) = W z + c + \mathrm{MLP}(z)`, :math:`z = (x - m)/s`, of a current.

    Parameters
    ----------
    mean, scale
        ``(d,)`` standardisation of the states.
    hidden
        Hidden widths of the MLP; ``None`` for the linear field :math:`Wz + c` only.
    linear_init
        Initial :math:`(W, c)` as ``(d, d)`` and ``(d,)`` arrays (the closed-form linear optimum); ``None``: the
        default initialisation of :class:`torch.nn.Linear`.
    dtype
        Parameter dtype.
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, hidden: Sequence[int] | None,
                 linear_init: tuple[np.ndarray, np.ndarray] | None, dtype: torch.dtype) -> None:
        super().__init__()
        d = len(mean)
        self.linear = nn.Linear(d, d, dtype=dtype)
        if linear_init is not None:
            with torch.no_grad():
                self.linear.weight.copy_(_tensor(linear_init[0], dtype))
                self.linear.bias.copy_(_tensor(linear_init[1], dtype))
        self.mlp = None if hidden is None else MLP(d, d, hidden, zero_last=True, dtype=dtype, device="cpu")
        self.register_buffer("mean", _tensor(mean, dtype))
        self.register_buffer("scale", _tensor(scale, dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`d_\theta(x)`, shape ``(n, d)``."""
        z = (x - self.mean) / self.scale
        out = self.linear(z)
        return out if self.mlp is None else out + self.mlp(z)

    def current(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        r""":math:`J = d_\theta((x_0 + x_1)/2)\cdot(x_1 - x_0)`, shape ``(n,)``."""
        return (self(0.5 * (x0 + x1)) * (x1 - x0)).sum(-1)


def _tur_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    r"""Minus :math:`\langle J\rangle^2/\mathrm{Var}\,J` on the batch (scale-free; times 2/dt it is the bound)."""
    j = model.current(batch[0], batch[1])
    return -(j.mean() ** 2) / (j.var(unbiased=False) + torch.finfo(j.dtype).tiny)


def tur_rate(paths: Any, dt: float, *, basis: str = "linear", hidden: Sequence[int] = (128, 128),
             n_steps: int = 2000, batch_size: int = 4096, lr: float = 1e-3, val_fraction: float = 0.2,
             patience: int | None = 10, seed: int | torch.Generator | None = None,
             dtype: torch.dtype | str | None = None, device: str | torch.device | None = None) -> EntropyRateEstimate:
    r"""The short-time TUR bound :math:`\hat\sigma_{TUR} = 2\langle J\rangle^2/(\mathrm{Var}\,J\,dt)` on held-out pairs.

    :math:`J = d_\theta(\bar x)\cdot(x_{t+1} - x_t)` with the Stratonovich midpoint :math:`\bar x`. Manikandan,
    Gupta & Krishnamurthy, PRL 124, 120603 (2020); Otsubo et al., PRE 101, 062106 (2020); Van Vu et al., PRE 101,
    042138 (2020).

    Parameters
    ----------
    paths, dt
        As in :func:`neep_rate`.
    basis
        ``"linear"``: :math:`d(x) = Wx + c`, optimal for Ornstein–Uhlenbeck processes; the maximiser over the
        training pairs is solved in closed form (a Rayleigh quotient, :math:`\theta = C^{-1}\mu`) when
        :math:`d(d+1) \le 4096`, else trained. ``"mlp"``: :math:`d_\theta = Wx + c + \mathrm{MLP}(x)`, starting
        from the closed-form linear optimum (when :math:`d(d+1) \le 4096`) with the MLP at zero, trained with
        :func:`dynfer.training.fit` on :math:`-\langle J\rangle^2/\mathrm{Var}\,J` per batch, early stopping on the
        held-out objective.
    hidden
        Hidden widths of the MLP (``basis="mlp"``).
    n_steps, batch_size, lr, val_fraction, patience, seed, dtype, device
        As in :func:`neep_rate` (the closed-form linear basis trains nothing and computes in float64).

    Returns
    -------
    EntropyRateEstimate
        ``method="tur-linear"`` or ``"tur-mlp"``. ``details["simple"]`` and ``details["simple_stderr"]``: the
        "Simple" estimate :math:`(2\langle cJ\rangle - \mathrm{Var}(cJ)/2)/dt` on the held-out pairs, with
        :math:`J` rescaled by the training-set factor :math:`c = 2\langle J\rangle/\mathrm{Var}\,J` (which turns
        :math:`J` into an estimate of the entropy increment; Simple is then at most the held-out TUR value).
        Also ``"train_rate"`` (the TUR value on the training pairs), split sizes, ``"dt"`` and the fit summary.

    Notes
    -----
    Standard errors: the delta method, :math:`\psi_i = \frac{4m}{v\,dt}(J_i - m) - \frac{2m^2}{v^2 dt}((J_i - m)^2
    - v)` for the TUR value (:math:`m`, :math:`v` the held-out mean and variance of :math:`J`), summed per held-out
    unit (batch means). Near equilibrium (:math:`m \approx 0`) the delta method understates the error of the
    TUR value; the held-out mean of :math:`J` is then the quantity to test (``details["mean_current"]`` and
    ``details["mean_current_stderr"]``).
    """
    start = time.perf_counter()
    dt, val_fraction, used_seed, tdtype, dev = _check_common(dt, val_fraction, seed, dtype, device)
    if basis not in ("linear", "mlp"):
        raise BadInputError("basis", f"{basis!r}", "'linear' or 'mlp'")
    n_steps, batch_size, lr, patience = _check_budget(n_steps, batch_size, lr, patience)
    hidden = _check_hidden(hidden)
    pairs = _pairs(paths)
    train, held = _split(pairs, val_fraction, used_seed)
    x0t, x1t = pairs.x0[train], pairs.x1[train]
    x0h, x1h = pairs.x0[held], pairs.x1[held]
    d = x0t.shape[1]
    mid = 0.5 * (x0t + x1t)
    mean, std = mid.mean(0), mid.std(0)
    scale = np.where(std > 0, std, 1.0)
    closed = d * (d + 1) <= MAX_CLOSED_FORM_FEATURES
    theta = _closed_form_coefficients(x0t, x1t, mean, scale) if closed else None
    details: dict[str, Any] = {"dt": dt, "n_train_pairs": int(train.sum()), "n_units": pairs.n_units,
                               "seed": used_seed, "basis": basis, "closed_form": bool(closed and basis == "linear"),
                               "stderr_method": "delta method, batch means over held-out units"}

    if basis == "linear" and closed:
        def current(a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
            return np.concatenate([_linear_features(a0[s:s + _CHUNK], a1[s:s + _CHUNK], mean, scale) @ theta
                                   for s in range(0, len(a0), _CHUNK)])
    else:
        init = None if theta is None else (theta[: d * d].reshape(d, d), theta[d * d:])
        model = _init_model(lambda: CurrentField(mean, scale, None if basis == "linear" else hidden, init, tdtype),
                            used_seed)
        val = (_tensor(x0h, tdtype), _tensor(x1h, tdtype))
        res = _fit(model, _tur_loss, (_tensor(x0t, tdtype), _tensor(x1t, tdtype)), val, batch_size, n_steps, lr,
                   patience, used_seed, dev, "tur")
        model.eval()
        details["fit"] = _fit_summary(res)

        def current(a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
            return _evaluate(model.current, [a0, a1], tdtype, dev)

    jt = current(x0t, x1t)
    mt, vt = float(jt.mean()), float(jt.var())
    details["train_rate"] = 2.0 * mt * mt / (vt * dt) if vt > 0 else 0.0
    c = 2.0 * mt / vt if vt > 0 else 0.0
    j = current(x0h, x1h)
    unit = pairs.unit[held]
    m, v = float(j.mean()), float(j.var())
    if v > 0:
        rate = 2.0 * m * m / (v * dt)
        psi = (4.0 * m / (v * dt)) * (j - m) - (2.0 * m * m / (v * v * dt)) * ((j - m) ** 2 - v)
        stderr = _cluster_stderr(psi, unit)
    else:  # a current that vanishes on every held-out pair
        rate, stderr = 0.0, 0.0
    details["simple"] = (2.0 * c * m - 0.5 * c * c * v) / dt
    details["simple_stderr"] = _cluster_stderr((2.0 * c * (j - m) - 0.5 * c * c * ((j - m) ** 2 - v)) / dt, unit)
    details["mean_current"] = m
    details["mean_current_stderr"] = _cluster_stderr(j - m, unit)
    details["n_heldout_units"] = len(np.unique(unit))
    method = "tur-linear" if basis == "linear" else "tur-mlp"
    return EntropyRateEstimate(rate, stderr, method, time.perf_counter() - start, int(held.sum()), details)
