r"""Synthetic single-channel patch-clamp recordings with known gating kinetics.

The default gating scheme is a 3-state Markov model of the viral K\ :sup:`+` channel KcvMT325 recorded at 5 kHz
(Köhs et al. 2021, as used by NeuralMJP and FIM-MJP). Its rates (1/s, row = from state) are the unique generator whose
mean first-passage times equal the published Köhs et al. table
:math:`\tau = [[0, .068, .054], [.133, 0, .033], [.181, .092, 0]]` s, rounded to three significant digits:

.. math::

    Q = \begin{pmatrix} -29.9 & 18.7 & 11.2 \\ 24.0 & -69.5 & 45.5 \\ 2.84 & 10.1 & -12.94 \end{pmatrix}
        \ \mathrm{s}^{-1}.

Its stationary law is :math:`\pi \approx (0.181, 0.147, 0.672)`, against the published (0.180, 0.150, 0.671); the mean
dwell times :math:`1/|q_{ii}|` are 33.4, 14.4 and 77.3 ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import torch

from dynfer import _keys as K
from dynfer._errors import BadInputError
from dynfer._validation import resolve_seed
from dynfer.io._model import make_states

__all__ = ["DEFAULT_ION_CHANNEL_Q", "ion_channel"]

#: Default gating generator (1/s): fitted to the Köhs et al. (2021) MFPT table of KcvMT325, see the module docstring.
DEFAULT_ION_CHANNEL_Q = np.array([
    [-29.9, 18.7, 11.2],
    [24.0, -69.5, 45.5],
    [2.84, 10.1, -12.94],
])

# Gaussian low-pass filter: sigma of the impulse response = 0.1325 / f_c (Colquhoun & Sigworth 1995)
_GAUSS_FILTER_CONST = 0.1325


def _positive(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise BadInputError(f"{name} must be a positive finite number, got {value!r}")
    return v


def ion_channel(
    n_traces: int = 10,
    duration: float = 1.0,
    sampling_rate: float = 5000.0,
    Q: Any = None,
    levels: Sequence[float] | np.ndarray | None = None,
    noise_sd: float = 0.3,
    *,
    filter_cutoff: float | None = None,
    seed: int | torch.Generator | None = None,
) -> ad.AnnData:
    r"""Simulate noisy single-channel currents from a Markov gating scheme.

    The gating path :math:`s(t)` is simulated exactly (batched Gillespie, :meth:`RateMatrix.simulate`) from the
    stationary law and read on the sampling grid :math:`t_k = k / f_s`. The current is

    .. math:: I_k = \ell_{s(t_k)} + \varepsilon_k, \qquad \varepsilon_k \sim \mathcal N(0, \sigma^2)\ \text{i.i.d.},

    optionally passed through a digital Gaussian low-pass filter with cutoff :math:`f_c` (impulse response a Gaussian
    of standard deviation :math:`0.1325 / f_c` seconds, Colquhoun & Sigworth 1995), applied to the whole current, so
    the noise after filtering has a smaller standard deviation (recorded as ``filtered_noise_sd``) and jumps are
    smoothed over a few samples.

    Parameters
    ----------
    n_traces
        Number of independent recordings (``obs['trajectory']`` = ``"0"``, ``"1"``, ...).
    duration
        Length of each recording in seconds.
    sampling_rate
        Samples per second :math:`f_s` (Hz).
    Q
        Gating generator in 1/s, ``(n, n)``; default :data:`DEFAULT_ION_CHANNEL_Q` (3 states).
    levels
        Current of each state (pA), default ``0, 1, ..., n - 1``.
    noise_sd
        Standard deviation :math:`\sigma` of the white recording noise (pA), >= 0.
    filter_cutoff
        Cutoff :math:`f_c` (Hz) of the Gaussian low-pass filter; ``None`` for no filter. Must be below
        ``sampling_rate / 2``.
    seed
        Seeds both the gating paths (torch) and the noise (numpy); a :class:`torch.Generator` stands for one int drawn
        from it. ``None``: ``dynfer.settings.seed`` (fresh entropy when that is ``None``); the seed used is recorded in
        ``uns['dynfer_source']['seed']``.

    Returns
    -------
    AnnData
        ``X`` = current ``(n_traces * n_samples, 1)`` (var ``"current"``), ``obs['state']`` = true state,
        ``obs['time']`` (s, from 0 in each trace), ``obs['trajectory']``; ``uns['dynfer_source']`` holds every
        generating parameter (``Q``, ``levels``, ``noise_sd``, ``sampling_rate``, ``stationary``, ...).

    References
    ----------
    Köhs, L., Alt, B. & Koeppl, H. (2021). Variational inference for continuous-time switching dynamical systems.
    *NeurIPS* 34.
    Colquhoun, D. & Sigworth, F. J. (1995). Fitting and statistical analysis of single-channel records. In
    *Single-Channel Recording*, 2nd ed., Sakmann & Neher (eds.), Plenum, 483-587.
    Gillespie, D. T. (1977). *J. Phys. Chem.* 81, 2340-2361.
    """
    from dynfer.processes.jumps import RateMatrix

    seed = resolve_seed(seed)
    if isinstance(n_traces, bool) or not isinstance(n_traces, int | np.integer) or n_traces < 1:
        raise BadInputError(f"n_traces must be a positive int, got {n_traces!r}")
    duration = _positive(duration, "duration")
    fs = _positive(sampling_rate, "sampling_rate")
    n_samples = int(round(duration * fs))
    if n_samples < 1:
        raise BadInputError(f"duration * sampling_rate = {duration * fs:.3g} gives no sample")
    q = np.array(DEFAULT_ION_CHANNEL_Q if Q is None else Q, dtype=np.float64)
    rm = RateMatrix(q)  # validates Q
    n = rm.n_states
    lv = np.arange(n, dtype=np.float64) if levels is None else np.asarray(levels, dtype=np.float64).reshape(-1)
    if lv.shape != (n,) or not np.isfinite(lv).all():
        raise BadInputError(f"levels must hold {n} finite currents (one per state), got {levels!r}")
    sigma = float(noise_sd)
    if not np.isfinite(sigma) or sigma < 0:
        raise BadInputError(f"noise_sd must be >= 0, got {noise_sd!r}")
    if filter_cutoff is not None:
        fc = _positive(filter_cutoff, "filter_cutoff")
        if fc >= fs / 2:
            raise BadInputError(f"filter_cutoff must be below the Nyquist frequency {fs / 2:g} Hz, got {fc:g}")

    times = np.arange(n_samples) / fs
    paths = rm.simulate(int(n_traces), times, seed=seed, device="cpu").cpu().numpy().astype(np.int64)
    rng = np.random.default_rng([seed, 1])
    current = lv[paths] + sigma * rng.standard_normal(paths.shape)
    filtered_sd = sigma
    if filter_cutoff is not None:
        from scipy.ndimage import gaussian_filter1d

        width = _GAUSS_FILTER_CONST / fc * fs  # impulse-response sd in samples
        current = gaussian_filter1d(current, width, axis=1, mode="nearest")
        half = int(np.ceil(6 * width)) + 1
        impulse = np.zeros(2 * half + 1)
        impulse[half] = 1.0
        kernel = gaussian_filter1d(impulse, width, mode="constant")  # the filter's impulse response
        filtered_sd = sigma * float(np.sqrt((kernel**2).sum()))

    source = {
        "name": "synthetic_ion_channel",
        "Q": q,
        "rate_unit": "1/s",
        "levels": lv,
        "current_unit": "pA",
        "noise_sd": sigma,
        "filter_cutoff": float(filter_cutoff) if filter_cutoff is not None else 0.0,
        "filtered_noise_sd": filtered_sd,
        "sampling_rate": fs,
        "duration": n_samples / fs,
        "n_traces": int(n_traces),
        "n_states": n,
        "stationary": rm.stationary_distribution().cpu().numpy().astype(np.float64),
        "seed": seed,
    }
    adata = make_states(
        paths.reshape(-1),
        np.tile(times, n_traces),
        np.repeat(np.arange(n_traces), n_samples),
        signal=current.reshape(-1, 1),
        source=source,
    )
    adata.var_names = [K.CURRENT]
    return adata
