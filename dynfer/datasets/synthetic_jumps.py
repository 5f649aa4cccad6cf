r"""Seeded synthetic Markov-jump-process data: flashing ratchet, alanine-dipeptide surrogate, protein folding.

Each generator simulates all paths at once with :meth:`dynfer.processes.RateMatrix.simulate` (batched Gillespie),
observes them on a regular grid shared by all paths or on per-path irregular grids, optionally flips a fraction of
the observed labels, and returns discrete-state AnnData (``obs['state']``, ``obs['time']``, ``obs['trajectory']``)
built with :func:`dynfer.io.make_states`. The generating parameters, the rate matrix and its stationary law are
recorded in ``uns['dynfer_source']``. ``seed=None`` means ``dynfer.settings.seed`` (fresh entropy when that is
``None``); the seed actually used is recorded in ``uns['dynfer_source']['parameters']['seed']``.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import resolve_seed
from dynfer.io._model import make_states
from dynfer.processes import RateMatrix, flashing_ratchet

__all__ = [
    "ADP_RATES",
    "PROTEIN_FOLDING_RATES",
    "alanine_dipeptide_surrogate",
    "flashing_ratchet_paths",
    "jump_paths",
    "protein_folding",
]

#: NeuralMJP off-diagonal rates of the 6-state alanine-dipeptide model (row = from; diagonal ignored).
#: Source: Seifner & Sanchez, NeuralMJP (ICML 2023), as cited in OpenFIM's ``evaluate_FIMMJP.py``.
ADP_RATES = np.array(
    [
        [0.0, 53.0, 0.19, 7.9, 0.06, 0.02],
        [47.0, 0.0, 0.05, 12.0, 0.04, 0.01],
        [0.28, 0.13, 0.0, 17.0, 0.02, 0.04],
        [36.0, 26.9, 41.0, 0.0, 0.3, 0.01],
        [0.17, 0.2, 0.4, 0.2, 0.0, 3.0],
        [1.2, 1.8, 0.5, 0.7, 19.0, 0.0],
    ]
)

#: Two-state protein-folding rates (NeuralMJP fit of the VAMPnets 5-D toy): state 0 = "low", 1 = "high";
#: low -> high 0.028, high -> low 0.085 (stationary law (0.752, 0.248)).
PROTEIN_FOLDING_RATES = np.array([[0.0, 0.028], [0.085, 0.0]])


def _check_fraction(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= v < 1.0:
        raise BadInputError(f"{name} must be in [0, 1), got {value!r}")
    return v


def _grid(
    n_paths: int,
    times: Any,
    grid: str,
    n_times: int,
    t_max: float,
    gen: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """Observation times: given ``times`` ((T,) or (n_paths, T)), a regular grid, or per-path sorted uniforms."""
    if times is not None:
        try:
            tm = torch.as_tensor(np.asarray(times, dtype=np.float64), device=device)
        except (TypeError, ValueError):
            raise BadInputError("times", f"{times!r}", "an array of observation times, (T,) or (n_paths, T)") from None
        if tm.ndim not in (1, 2) or tm.shape[-1] < 1:
            raise BadInputError(f"times must have shape (T,) or (n_paths, T), got {tuple(tm.shape)}")
        return tm
    if isinstance(n_times, bool) or not isinstance(n_times, int) or n_times < 2:
        raise BadInputError(f"n_times must be an int >= 2, got {n_times!r}")
    if not float(t_max) > 0:
        raise BadInputError(f"t_max must be > 0, got {t_max!r}")
    if grid == "regular":
        return torch.linspace(0.0, float(t_max), n_times, dtype=torch.float64, device=device)
    if grid == "irregular":
        u = torch.rand((n_paths, n_times), generator=gen, dtype=torch.float64, device=device) * float(t_max)
        return torch.sort(u, dim=1).values
    raise BadInputError(f"grid must be 'regular' or 'irregular', got {grid!r}")


def _flip_labels(
    states: torch.Tensor, n_states: int, fraction: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each label with probability ``fraction`` to one of the other ``n_states - 1`` states, uniformly."""
    flip = torch.rand(states.shape, generator=gen, dtype=torch.float64, device=states.device) < fraction
    shift = torch.randint(1, n_states, states.shape, generator=gen, device=states.device)
    noisy = torch.where(flip, (states + shift) % n_states, states)
    return noisy, flip


def jump_paths(
    Q: Any,
    *,
    name: str,
    n_paths: int,
    times: Any = None,
    grid: str = "regular",
    n_times: int = 100,
    t_max: float = 1.0,
    label_noise: float = 0.0,
    initial: Any = None,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
    parameters: dict[str, Any] | None = None,
) -> ad.AnnData:
    r"""Simulate ``n_paths`` paths of the jump process with generator ``Q`` and return discrete-state AnnData.

    Parameters
    ----------
    Q
        Generator (``(n, n)``, rows = from, rows summing to 0) or a :class:`~dynfer.processes.RateMatrix`.
    name
        Name recorded in ``uns['dynfer_source']['name']``.
    n_paths
        Number of independent paths.
    times
        Explicit observation times, shared ``(T,)`` or per path ``(n_paths, T)``; overrides ``grid``.
    grid
        ``"regular"``: ``n_times`` equally spaced points on ``[0, t_max]`` shared by all paths; ``"irregular"``: per
        path, ``n_times`` sorted independent uniform times on ``[0, t_max]``.
    label_noise
        Fraction :math:`p` of observed labels replaced by one of the other states chosen uniformly:
        :math:`P(\tilde s = j \mid s = i) = (1 - p)\,\delta_{ij} + p\,(1 - \delta_{ij})/(n - 1)`.
        The clean labels stay in ``obs['state_clean']``.
    initial
        ``None``: start from the stationary law; a probability vector, or integer start states.
    seed
        Seed of the one :class:`torch.Generator` used for the grid, the paths and the label noise (a
        :class:`torch.Generator` stands for one int drawn from it). ``None``: ``dynfer.settings.seed`` (fresh entropy
        when that is ``None``); the seed used is recorded in ``uns['dynfer_source']['parameters']['seed']``.
    """
    seed = resolve_seed(seed)
    rm = Q if isinstance(Q, RateMatrix) else RateMatrix(np.asarray(Q, dtype=np.float64))
    if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1:
        raise BadInputError(f"n_paths must be a positive int, got {n_paths!r}")
    noise = _check_fraction(label_noise, "label_noise")
    dev = settings.resolve_device(device)
    rm = rm.to(dev, torch.float64)
    gen = settings.generator(seed, dev)
    tm = _grid(n_paths, times, grid, n_times, t_max, gen, dev)
    clean = rm.simulate(n_paths, tm, initial=initial, seed=gen)
    observed, flipped = _flip_labels(clean, rm.n_states, noise, gen) if noise > 0 else (clean, None)
    n_t = clean.shape[1]
    time_mat = (tm if tm.ndim == 2 else tm.expand(n_paths, n_t)).cpu().numpy()
    traj = np.repeat(np.arange(n_paths), n_t)
    q = rm.Q.detach().cpu().numpy()
    source = {
        "name": name,
        "generator": f"dynfer.datasets.{name}",
        "parameters": {
            **(parameters or {}),
            "n_paths": n_paths,
            "grid": "explicit" if times is not None else grid,
            "n_times": int(n_t),
            "t_max": float(time_mat.max()),
            "label_noise": noise,
            "seed": seed,
        },
        "rate_matrix": q,
        "stationary_distribution": rm.stationary_distribution().detach().cpu().numpy(),
        "n_states": int(rm.n_states),
    }
    adata = make_states(observed.cpu().numpy().reshape(-1).astype(np.int64), time_mat.reshape(-1), traj, source=source)
    # make_states orders rows by (trajectory, time); our rows already are (times sorted within each path), except
    # for ties on explicit grids, where lexsort keeps the original order: the clean labels line up.
    adata.obs["state_clean"] = clean.cpu().numpy().reshape(-1).astype(np.int64)
    if flipped is not None:
        adata.obs["label_flipped"] = flipped.cpu().numpy().reshape(-1)
    adata.uns["n_states"] = int(rm.n_states)
    return adata


def flashing_ratchet_paths(
    V: float = 1.0,
    r: float = 1.0,
    b: float = 1.0,
    *,
    n_paths: int = 1000,
    times: Any = None,
    grid: str = "regular",
    n_times: int = 100,
    t_max: float = 2.5,
    label_noise: float = 0.0,
    initial: Any = None,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Paths of the 6-state discrete flashing ratchet (Roldán & Parrondo 2010), as in the FIM-MJP DFR benchmark.

    States 0-2: potential on, position :math:`x` with energy :math:`(0, V, 2V)_x`; states 3-5: potential off.

    .. math:: q_{ij} = e^{-(V_j - V_i)/2}\ (i \ne j \in \{0,1,2\}),\quad q_{ij} = b\ (i \ne j \in \{3,4,5\}),\quad
              q_{i,i+3} = q_{i+3,i} = r.

    The defaults reproduce the staged ``fim_dfr`` design (V = r = b = 1, 100 regular points on [0, 2.5], initial
    state from the stationary law); ``grid="irregular"`` draws per-path sorted uniform times and ``label_noise``
    flips that fraction of labels (FIM's prior uses 1 %).

    The keywords, ``seed`` included (``None``: ``dynfer.settings.seed``, fresh entropy when that is ``None``; the
    seed used is recorded in ``uns['dynfer_source']['parameters']['seed']``), are those of :func:`jump_paths`.

    Returns
    -------
    AnnData
        ``n_paths * n_times`` rows with ``obs['state']`` (observed, possibly noisy), ``obs['state_clean']``,
        ``obs['time']``, ``obs['trajectory']``; ``uns['dynfer_source']`` holds the parameters, the rate matrix and the
        stationary law.

    Examples
    --------
    >>> from dynfer.datasets import flashing_ratchet_paths
    >>> adata = flashing_ratchet_paths(n_paths=10, n_times=5, seed=0)
    >>> adata.n_obs, adata.uns["dynfer_source"]["parameters"]["V"]
    (50, 1.0)
    """
    q = flashing_ratchet(V, r, b, device="cpu")
    return jump_paths(
        q,
        name="flashing_ratchet_paths",
        n_paths=n_paths,
        times=times,
        grid=grid,
        n_times=n_times,
        t_max=t_max,
        label_noise=label_noise,
        initial=initial,
        seed=seed,
        device=device,
        parameters={"V": float(V), "r": float(r), "b": float(b)},
    )


def alanine_dipeptide_surrogate(
    *,
    n_paths: int = 200,
    times: Any = None,
    grid: str = "regular",
    n_times: int = 100,
    t_max: float = 2.0,
    label_noise: float = 0.0,
    initial: Any = None,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Surrogate of alanine-dipeptide conformational dynamics: the 6-state NeuralMJP rate matrix :data:`ADP_RATES`.

    The off-diagonal rates (row = from) are those NeuralMJP inferred from ADP backbone dihedrals (Seifner & Sánchez,
    ICML 2023; the unit is the one in which FIM reports its ADP rates after multiplying by 1000). Stationary law
    :math:`\pi \approx (0.298, 0.312, 0.232, 0.097, 0.053, 0.008)`, slowest time scale 0.691. This stands in for
    the real trajectories (mdshare, CC BY 4.0), which are not staged. The default target-set size is 200 paths.

    The keywords, ``seed`` included (``None``: ``dynfer.settings.seed``, fresh entropy when that is ``None``; the
    seed used is recorded in ``uns['dynfer_source']['parameters']['seed']``), are those of :func:`jump_paths`.
    """
    return jump_paths(
        RateMatrix.from_rates(torch.as_tensor(ADP_RATES, dtype=torch.float64)),
        name="alanine_dipeptide_surrogate",
        n_paths=n_paths,
        times=times,
        grid=grid,
        n_times=n_times,
        t_max=t_max,
        label_noise=label_noise,
        initial=initial,
        seed=seed,
        device=device,
        parameters={"rates": "NeuralMJP ADP (ADP_RATES)"},
    )


def protein_folding(
    *,
    rate_up: float = 0.028,
    rate_down: float = 0.085,
    n_paths: int = 2000,
    times: Any = None,
    grid: str = "regular",
    n_times: int = 100,
    t_max: float = 100.0,
    label_noise: float = 0.0,
    initial: Any = None,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Two-state protein-folding model: state 0 ("low") :math:`\rightleftharpoons` state 1 ("high").

    .. math:: Q = \begin{pmatrix} -k_\uparrow & k_\uparrow \\ k_\downarrow & -k_\downarrow \end{pmatrix},\qquad
              \pi = \frac{(k_\downarrow,\ k_\uparrow)}{k_\uparrow + k_\downarrow},

    with the NeuralMJP rates :math:`k_\uparrow = 0.028` (low → high) and :math:`k_\downarrow = 0.085` (high → low)
    fitted to the VAMPnets 5-D folding toy (Mardt et al. 2018: stationary (0.73, 0.27)); relaxation time
    :math:`1/(k_\uparrow + k_\downarrow) \approx 8.85`. The default target-set size is 2000 paths.

    The keywords, ``seed`` included (``None``: ``dynfer.settings.seed``, fresh entropy when that is ``None``; the
    seed used is recorded in ``uns['dynfer_source']['parameters']['seed']``), are those of :func:`jump_paths`.
    """
    rates = np.array([[0.0, float(rate_up)], [float(rate_down), 0.0]])
    return jump_paths(
        RateMatrix.from_rates(torch.as_tensor(rates, dtype=torch.float64)),
        name="protein_folding",
        n_paths=n_paths,
        times=times,
        grid=grid,
        n_times=n_times,
        t_max=t_max,
        label_noise=label_noise,
        initial=initial,
        seed=seed,
        device=device,
        parameters={"rate_up": float(rate_up), "rate_down": float(rate_down)},
    )
