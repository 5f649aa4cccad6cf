r"""``tl.entropy_production``: the AnnData face of :class:`~dynfer.estimators.entropy.ScoreEntropyProduction`.

Two data models are read:

* **samples**: states in ``X`` or ``obsm[use_rep]``, shape ``(n, d)``, with a drift on ``(n, d)``;
* **particles** (:mod:`dynfer._keys`: one row per frame, ``obsm['positions']`` ``(frames, N·dim)``), with a
  particle drift such as :class:`~dynfer.processes.particles.ActiveParticles`: each particle's state is its
  position followed by its active coordinates, read from ``obsm['active']`` (what
  :meth:`ActiveParticles.sample_stationary` writes) or, for active Brownian particles, the angle
  :math:`\theta = \mathrm{atan2}(\mu_y, \mu_x)` of ``obsm['orientations']`` (what the LAMMPS and GSD readers
  write).

The fitted estimator is stored with :func:`dynfer.tl.store_estimator` (the fingerprint covers every ``obsm`` block
read), the results are copied to the top level of ``uns[key_added]``, and the per-sample outputs go to ``obsm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer.estimators._base import check_param_names
from dynfer.estimators.entropy import ScoreEntropyProduction
from dynfer.io._model import particle_state_blocks
from dynfer.processes.drifts import as_drift
from dynfer.tl._inputs import as_actual, representation
from dynfer.tl._store import results_to_top_level, store_estimator

__all__ = ["entropy_production", "particle_states"]

DEFAULT_KEY = "entropy_production"
FACE = "dynfer.tl.entropy_production"


def _is_particles(adata: AnnData) -> bool:
    return K.N_PARTICLES in adata.uns and K.POSITIONS in adata.obsm


def particle_states(adata: AnnData, drift: Any, *, active_key: str | None = None) -> tuple[np.ndarray, str]:
    r"""Particle states ``(frames, N, c)`` for a particle drift, and the ``obsm`` keys they were read from.

    Parameters
    ----------
    adata
        Particle data (``obsm['positions']``, ``uns['n_particles']``, ``uns['dim']``).
    drift
        The particle drift; its ``position_coords`` and ``active_coords`` say how many coordinates of each kind a
        particle has (``angular_coords``: those that are angles).
    active_key
        ``obsm`` key of the active coordinates (``None``: ``'active'`` when present, else the angle of
        ``'orientations'`` for one angular coordinate).

    Returns
    -------
    (numpy.ndarray, str)
        The states and the representation read, e.g. ``"positions+active"``.
    """
    dim = adata.uns.get(K.DIM)
    n_pos = len(tuple(getattr(drift, "position_coords", ())))
    if isinstance(dim, (int, np.integer)) and n_pos and n_pos != dim:
        raise BadInputError("drift", f"a particle model with {n_pos} position coordinates",
                            f"{dim}, the dimension of this data (uns['dim'])")
    return particle_state_blocks(adata, len(tuple(getattr(drift, "active_coords", ()))), active_key=active_key,
                                 angle=len(tuple(getattr(drift, "angular_coords", ()))) == 1)


def entropy_production(
    adata: AnnData,
    *,
    drift: Any,
    diffusion: Any = None,
    use_rep: str | None = None,
    model: str = "auto",
    active_key: str | None = None,
    key_added: str = DEFAULT_KEY,
    copy: bool = False,
    **params: Any,
) -> AnnData | None:
    r"""Entropy production rate, probability-flow velocity and local production from stationary samples.

    For :math:`dX = b(X)\,dt + \sqrt{2D}\,dW` with known :math:`b` and :math:`D`, a score
    :math:`\hat s \approx \nabla\log\rho` of the stationary law is learned from the samples (Boffi &
    Vanden-Eijnden 2024), and

    .. math:: v = b - D\hat s, \qquad \hat\sigma = E_\rho\big[(b^{irr} - D\hat s)^\top D^{-1}
              (b^{irr} - D\hat s)\big], \qquad
              \hat\sigma_{LB} = E\big[|b^{irr}|^2_{D^{-1}} + 2\nabla\cdot b^{irr}\big] - J(\hat s) \le \sigma,

    with :math:`J(\hat s) = E[|\hat s|^2_D + 2\nabla\cdot(D\hat s)]` (the gap between the two diagnoses the score
    error). Beside them, on the same samples: the score-free identity
    :math:`\sigma = E[|b^{irr}_g|^2_{D_g^{-1}} + 2\nabla_g\cdot b^{irr}_g - \nabla\cdot b]` (exact for the total
    with the true drift: the oracle), the Gaussian plug-in score and the equilibrium score (rate 0). With
    degenerate noise every quantity is that of the noisy block.

    Parameters
    ----------
    adata
        Stationary samples (``X`` or ``obsm[use_rep]``, one row each) or particle frames (see the module
        docstring). A view is made actual first.
    drift
        :math:`b`: a :class:`~dynfer.processes.drifts.Drift` (e.g. ``LinearDrift(A)`` or an
        :class:`~dynfer.processes.particles.ActiveParticles` model, stored exactly), a matrix ``A``
        (:math:`b = -Ax`) or a callable (not storable: pass it again to :func:`dynfer.tl.load_estimator`).
    diffusion
        :math:`D`: a number, per-coordinate diffusivities or a matrix (``None``: the drift's own).
    use_rep
        ``None`` (``X``) or an ``obsm`` key, for sample data.
    model
        ``"auto"``, ``"mlp"``, ``"transformer"``, ``"gaussian"`` or ``"equilibrium"`` (see
        :class:`~dynfer.estimators.entropy.ScoreEntropyProduction`).
    active_key
        For particle data: the ``obsm`` key of the active coordinates (default ``'active'``, else the angle of
        ``'orientations'``).
    key_added
        ``uns[key_added]`` gets the stored estimator and the results; ``obsm[key_added + '_velocity']`` the
        velocity :math:`v` (the shape of the states, flattened per row); ``obsm[key_added + '_local']`` the local
        production (``(n, 1)``, or ``(frames, N)`` per particle).
    copy
        Return a modified copy instead of writing into ``adata``.
    **params
        Every other parameter of :class:`~dynfer.estimators.entropy.ScoreEntropyProduction` (``parity``,
        ``objective``, ``n_steps``, ``seed``, ...). All are stored.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``. ``uns[key_added]`` holds at its top level ``rate``, ``rate_stderr``,
        ``rate_lower_bound``, ``rate_lower_bound_stderr``, ``baselines`` (``score_free``, ``gaussian``,
        ``equilibrium``), ``diagnostics`` (FPE residual, gap, counts), ``per_coordinate``, ``per_particle``.

    Raises
    ------
    BadInputError
        An unknown parameter; a diffusion that is not positive semi-definite (block-degenerate at most); a drift
        of the wrong shape or with NaN; fewer than 20 samples; missing ``obsm`` keys.

    References
    ----------
    Boffi, N. M. & Vanden-Eijnden, E. (2024). Deep learning probability flows and entropy production rates in
    active matter. *PNAS* 121, e2318106121.

    Examples
    --------
    >>> import numpy as np, anndata as ad, dynfer
    >>> A = np.array([[1.3, -0.7], [0.7, 1.3]])                       # rotational OU: sigma = 2 w^2 / mu
    >>> x = np.random.default_rng(0).normal(size=(2000, 2)) / np.sqrt(1.3)
    >>> adata = ad.AnnData(x)
    >>> dynfer.tl.entropy_production(adata, drift=A, diffusion=1.0)    # doctest: +SKIP
    >>> adata.uns["entropy_production"]["rate"]                        # doctest: +SKIP
    0.75...
    """
    if not isinstance(adata, AnnData):
        raise BadInputError("adata", f"a {type(adata).__name__}", "an AnnData")
    check_param_names(ScoreEntropyProduction, {"diffusion": diffusion, "model": model, **params}, FACE)
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise BadInputError("key_added", repr(key_added), "a non-empty string without '/'")
    model_drift = as_drift(drift)
    particles = model_drift.event_dims == 2
    if particles:
        if not _is_particles(adata):
            raise BadInputError("adata", "no particle data (uns['n_particles'], obsm['positions'])",
                                "particle frames for a particle drift (see dynfer.io.read_lammps_dump)")
        if use_rep is not None:
            raise BadInputError("use_rep", repr(use_rep), "None for particle data (use active_key=)")
        states, rep = particle_states(adata, model_drift, active_key=active_key)
    else:
        states = representation(adata, use_rep)
        rep = "X" if use_rep is None else use_rep
    est = ScoreEntropyProduction(drift=drift, diffusion=diffusion, model=model, **params).fit(states)
    terms = est._last_terms

    out = adata.copy() if copy else adata
    as_actual(out)
    store_estimator(out, est, key_added=key_added, use_rep=rep, obs_keys=())
    entry = out.uns[key_added]
    results_to_top_level(entry)
    entry["use_rep"] = rep
    out.obsm[f"{key_added}_velocity"] = terms.velocity.reshape(out.n_obs, -1)
    out.obsm[f"{key_added}_local"] = terms.local.reshape(out.n_obs, -1)
    return out if copy else None
