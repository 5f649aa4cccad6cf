r"""The two-state protein-folding toy of VAMPnets: 5-D Brownian dynamics in a radial potential, labelled by radius.

Mardt, Pasquali, Wu & Noé (2018) built a "protein folding model" whose kinetics are those of a two-state folder: a
particle in :math:`\mathbb R^5` under overdamped Langevin dynamics in the radial potential

.. math::

    U(x) = \begin{cases} -2.5\, s^2, & s < 0 \\ 0.5\,(s - 2)\, s^2, & s \ge 0 \end{cases}, \qquad
    s = \lVert x \rVert - r_c,\ r_c = 3,

    X_{k+1} = X_k - \nabla U(X_k)\, \Delta t + \sqrt{2 k_B T\, \Delta t}\;\xi_k, \qquad \xi_k \sim \mathcal N(0, I_5),

with :math:`k_B T = 1` and :math:`\Delta t = 0.1` (the Brownian-dynamics integrator of their data generator, i.e.
Euler--Maruyama at step :math:`\Delta t`), :math:`\nabla U = U'(s)\, x / \lVert x\rVert` and
:math:`U'(s) = -5 s` (:math:`s < 0`), :math:`1.5 s^2 - 2 s` (:math:`s \ge 0`).

**Labels.** State 0 is :math:`s < 0` (the compact region :math:`\lVert x \rVert < 3`, "folded"), state 1 is
:math:`s \ge 0` ("unfolded"). Measured with this generator (1,000 paths, :math:`10^4` steps after a burn-in of
:math:`10^3`): state 0 holds 0.729 of the stationary mass, the (0.73, 0.27) of Mardt et al. and NeuralMJP's
(0.74, 0.26) with its "low" state first. The other labelling gives (0.27, 0.73).

**The step is part of the model.** The inner branch is a downward parabola: in continuous time the particle falls
to the centre, and as :math:`\Delta t \to 0` the compact state takes nearly all the mass (0.990 measured at
:math:`\Delta t = 0.02`). The 0.73/0.27 split is that of the chain at :math:`\Delta t = 0.1`,
whose centre is unstable (a deterministic step from radius :math:`r < 1` lands at :math:`1.5 - 1.5r`), so ``dt`` is
kept fixed at 0.1 by default and recorded. Note also that the VAMPnets generator code (``folding_model_gradient``
in markovmodel's ``data_generator.py``) writes the outer gradient as :math:`(1.5 s - 2)\,x/\lVert x\rVert`, which
is not the derivative of its own energy; with that gradient the split is about 0.47/0.53, so the published
0.73/0.27 matches the energy as written here.

**Rates.** Transition-matrix rates :math:`\log P(\tau) / \tau` of the labels fall with the lag :math:`\tau` as fast
recrossings of the sharp boundary :math:`s = 0` average out (at :math:`\tau` = 0.1, 1, 10: folded → unfolded
0.056, 0.023, 0.017; unfolded → folded 0.150, 0.061, 0.046 per unit time; measured on 400 paths of
:math:`2 \cdot 10^4` steps), so no single rate matrix is "the truth": NeuralMJP's 0.028 (low → high) is the lag-0.5
rate here and its 0.085 (high → low) lies between the lag-0.2 and lag-0.5 ones (0.110, 0.076).

References
----------
Mardt, A., Pasquali, L., Wu, H. & Noé, F. (2018). VAMPnets for deep learning of molecular kinetics. *Nat. Commun.*
9, 5. Seifner, P. & Sánchez, R. J. (2023). Neural Markov jump processes. *ICML*. Kloeden, P. E. & Platen, E.
(1992). *Numerical Solution of Stochastic Differential Equations*, Springer (Euler--Maruyama).
"""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import torch

from dynfer._errors import BadInputError
from dynfer._settings import settings
from dynfer._validation import check_int, check_positive, resolve_seed
from dynfer.io._model import make_states

__all__ = ["FOLDING_STATIONARY", "folding_drift", "folding_potential", "protein_folding_sde"]

#: Stationary law (state 0 = compact / folded, state 1 = unfolded) reported by Mardt et al. (2018).
FOLDING_STATIONARY = (0.73, 0.27)


def folding_potential(x: torch.Tensor, r_cut: float = 3.0) -> torch.Tensor:
    r"""The radial potential :math:`U(x)` (module docstring) of states ``x`` of shape ``(n, d)``; returns ``(n,)``."""
    s = x.norm(dim=-1) - r_cut
    return torch.where(s < 0, -2.5 * s**2, 0.5 * (s - 2.0) * s**2)


def folding_drift(x: torch.Tensor, r_cut: float = 3.0) -> torch.Tensor:
    r"""The force :math:`-\nabla U(x) = -U'(s)\, x / \lVert x \rVert` (zero at the origin), shape ``(n, d)``."""
    r = x.norm(dim=-1, keepdim=True)
    s = r - r_cut
    du = torch.where(s < 0, -5.0 * s, 1.5 * s**2 - 2.0 * s)
    return -du * x / r.clamp_min(torch.finfo(x.dtype).tiny)


def protein_folding_sde(
    *,
    n_paths: int = 200,
    n_times: int = 100,
    stride: int = 10,
    dt: float = 0.1,
    kT: float = 1.0,
    r_cut: float = 3.0,
    dim: int = 5,
    burn_in: int = 1000,
    seed: int | torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> ad.AnnData:
    r"""Simulate the VAMPnets folding toy (module docstring) and label each observation folded (0) or unfolded (1).

    Each path starts uniform in :math:`[-1, 1]^d` (inside the compact region), runs ``burn_in`` steps that are
    discarded, then is observed every ``stride`` steps, ``n_times`` times, with the Euler--Maruyama solver of
    :class:`dynfer.processes.SDE` (exactly ``stride`` steps of ``dt`` per observation interval). Observation
    :math:`k` is at time :math:`k \cdot \text{stride} \cdot \Delta t` (from 0 in each path).

    Parameters
    ----------
    n_paths
        Independent paths.
    n_times
        Observations per path (>= 2).
    stride
        Integrator steps between observations (default 10: one time unit at ``dt = 0.1``).
    dt
        Integrator step :math:`\Delta t` (0.1 in the published model; it changes the stationary law, see the
        module docstring).
    kT
        Temperature :math:`k_B T`.
    r_cut
        Radius :math:`r_c` of the boundary between the states.
    dim
        Dimension :math:`d` (5 in the published model).
    burn_in
        Steps simulated before the first observation (default 1,000 = 100 time units, about six relaxation times).
    seed
        Seed of the start points and the Brownian increments (one :class:`torch.Generator`). ``None``:
        ``dynfer.settings.seed`` (fresh entropy when that is ``None``); the seed used is recorded in
        ``uns['dynfer_source']['parameters']['seed']``.
    device
        Torch device of the simulation (default ``settings.device``); the result is on the host.

    Returns
    -------
    AnnData
        ``n_paths * n_times`` rows, discrete-state data model (:func:`dynfer.io.make_states`): ``obs['state']``
        (0 folded, 1 unfolded), ``obs['time']``, ``obs['trajectory']``; ``obs['radius']`` :math:`\lVert x\rVert`;
        ``obsm['coordinates']`` the continuous :math:`(n, d)` positions; ``uns['dynfer_source']`` the parameters,
        the state names and the reference stationary law (0.73, 0.27); ``uns['n_states'] = 2``.

    Examples
    --------
    >>> from dynfer.datasets import protein_folding_sde
    >>> adata = protein_folding_sde(n_paths=4, n_times=5, burn_in=10, seed=0)
    >>> adata.n_obs, adata.obsm["coordinates"].shape
    (20, (20, 5))
    """
    from dynfer.processes import SDE

    seed = resolve_seed(seed)
    n_paths = check_int(n_paths, "n_paths")
    n_times = check_int(n_times, "n_times", 2)
    stride = check_int(stride, "stride")
    burn_in = check_int(burn_in, "burn_in", 0)
    dim = check_int(dim, "dim")
    h = check_positive(dt, "dt")
    temp = check_positive(kT, "kT")
    rc = check_positive(r_cut, "r_cut")
    if not math.isfinite(h * stride * (n_times + burn_in)):
        raise BadInputError("dt", f"{dt!r}", "a step whose total simulated time is finite")
    dev = settings.resolve_device(device)
    gen = settings.generator(seed, dev)
    x0 = 2.0 * torch.rand((n_paths, dim), generator=gen, dtype=torch.float64, device=dev) - 1.0
    sde = SDE(drift=lambda t, x: folding_drift(x, rc), diffusion=math.sqrt(2.0 * temp))
    span = h * stride
    obs_times = burn_in * h + span * torch.arange(n_times, dtype=torch.float64)
    grid = torch.cat([torch.zeros(1, dtype=torch.float64), obs_times]) if burn_in > 0 else obs_times
    paths = sde.simulate(x0, grid.to(dev), dt=h, seed=gen)
    if burn_in > 0:
        paths = paths[1:]
    xs = paths.permute(1, 0, 2).cpu().numpy()  # (n_paths, n_times, dim)
    radius = np.linalg.norm(xs, axis=-1)
    states = (radius - rc >= 0).astype(np.int64)
    times = np.tile(span * np.arange(n_times), n_paths)
    source = {
        "name": "protein_folding_sde",
        "generator": "dynfer.datasets.protein_folding_sde",
        "parameters": {"n_paths": n_paths, "n_times": n_times, "stride": stride, "dt": h, "kT": temp,
                       "r_cut": rc, "dim": dim, "burn_in": burn_in, "seed": seed},
        "potential": "U = -2.5 s^2 (s < 0), 0.5 (s - 2) s^2 (s >= 0), s = |x| - r_cut (Mardt et al. 2018)",
        "state_names": ["folded (|x| < r_cut)", "unfolded (|x| >= r_cut)"],
        "reference_stationary_distribution": np.asarray(FOLDING_STATIONARY),
        "n_states": 2,
    }
    adata = make_states(states.reshape(-1), times, np.repeat(np.arange(n_paths), n_times), source=source)
    # rows are already in (trajectory, time) order, which make_states keeps
    adata.obsm["coordinates"] = xs.reshape(-1, dim)
    adata.obs["radius"] = radius.reshape(-1)
    adata.uns["n_states"] = 2
    return adata
