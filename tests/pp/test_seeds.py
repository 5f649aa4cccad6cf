"""The seed rule of ``dynfer.datasets`` and ``dynfer.pp`` (DESIGN): ``seed=None`` means ``dynfer.settings.seed``.

For every seeded generator and preprocessing function: the default ``seed=None`` draws exactly as the integer
``settings.seed``; with ``settings.seed = None`` too a fresh seed is drawn and recorded (an int, never ``"none"``),
so re-running with the recorded seed gives the same data; a :class:`torch.Generator` stands for one int drawn from
it; a bad seed raises ``ValueError`` naming ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import dynfer
from dynfer import _keys as K
from dynfer.datasets import flashing_ratchet_paths, ion_channel, vortex_snapshots
from dynfer.io import make_snapshots
from dynfer.pp import idealize, pca, subsample_per_time, trajectories_to_snapshots
from dynfer.pp._idealize import idealize_trace


def _cells() -> Any:
    rng = np.random.default_rng(0)
    t = np.repeat(np.arange(3.0), 30)
    return make_snapshots(rng.normal(size=(90, 4)) * [1.0, 5.0, 0.1, 2.0] + t[:, None], t)


def _paths() -> Any:
    t = np.tile(np.arange(3.0), 30)
    traj = np.repeat(np.arange(30), 3)
    return make_snapshots(np.c_[traj.astype(float), t], t, trajectory=traj)


def _currents() -> Any:
    return ion_channel(n_traces=2, duration=0.2, sampling_rate=2000.0, noise_sd=0.3, seed=1)


def _source(adata: Any) -> Any:
    return adata.uns[K.SOURCE]["parameters"]["seed"]


# name: (run(**seed kwarg) -> result, data(result) -> array, recorded(result) -> recorded seed)
CASES: dict[str, tuple[Callable[..., Any], Callable[[Any], Any], Callable[[Any], Any]]] = {
    "vortex_snapshots": (
        lambda **kw: vortex_snapshots(n_per_time=10, times=[0.0, 1.0], **kw), lambda a: a.X, _source),
    "flashing_ratchet_paths": (
        lambda **kw: flashing_ratchet_paths(n_paths=5, n_times=4, label_noise=0.2, grid="irregular", **kw),
        lambda a: np.c_[a.obs[K.STATE], a.obs[K.TIME]], _source),
    "ion_channel": (
        lambda **kw: ion_channel(n_traces=2, duration=0.05, sampling_rate=2000.0, **kw),
        lambda a: np.c_[a.X, a.obs[K.STATE]], lambda a: a.uns[K.SOURCE]["seed"]),
    "subsample_per_time": (
        lambda **kw: subsample_per_time(_cells(), 5, copy=True, **kw), lambda a: a.X,
        lambda a: a.uns["subsample_per_time"]["seed"]),
    "trajectories_to_snapshots": (
        lambda **kw: trajectories_to_snapshots(_paths(), copy=True, **kw), lambda a: a.X,
        lambda a: a.uns["trajectories_to_snapshots"]["seed"]),
    "pca": (
        lambda **kw: pca(_cells(), 2, copy=True, **kw), lambda a: a.obsm["X_pca"],
        lambda a: a.uns["pca"]["params"]["seed"]),
    "idealize": (
        lambda **kw: idealize(_currents(), 3, n_iter=2, copy=True, **kw), lambda a: a.obs[K.STATE],
        lambda a: a.uns[f"{K.STATE}_params"]["seed"]),
    "idealize_trace": (
        lambda **kw: idealize_trace(_currents().X[:, 0], 3, method="gmm", max_fit_samples=200, **kw),
        lambda r: r[0], lambda r: r[1]["seed"]),
}
PARAMS = [pytest.param(*case, id=name) for name, case in CASES.items()]


@pytest.mark.parametrize(("run", "data", "recorded"), PARAMS)
def test_seed_none_means_settings_seed_and_is_recorded(run, data, recorded):
    with dynfer.settings.override(seed=7):
        default, none = run(), run(seed=None)
    explicit = run(seed=7)
    np.testing.assert_array_equal(data(default), data(explicit))
    np.testing.assert_array_equal(data(none), data(explicit))
    assert recorded(default) == recorded(none) == recorded(explicit) == 7


@pytest.mark.parametrize(("run", "data", "recorded"), PARAMS)
def test_fresh_entropy_records_the_seed_it_drew(run, data, recorded):
    with dynfer.settings.override(seed=None):
        fresh = run()
    seed = recorded(fresh)
    assert isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
    np.testing.assert_array_equal(data(fresh), data(run(seed=seed)))


@pytest.mark.parametrize(("run", "data", "recorded"), PARAMS)
def test_a_generator_stands_for_one_drawn_int(run, data, recorded):
    drawn = int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(3)))
    result = run(seed=torch.Generator().manual_seed(3))
    assert recorded(result) == drawn
    np.testing.assert_array_equal(data(result), data(run(seed=drawn)))


@pytest.mark.parametrize("bad", ["a", -1, 1.5, True])
@pytest.mark.parametrize(("run", "data", "recorded"), PARAMS)
def test_bad_seed_raises_naming_seed(run, data, recorded, bad):
    with pytest.raises(ValueError, match="seed"):
        run(seed=bad)


def test_the_test_run_is_deterministic_by_default():
    """The autouse fixture sets ``settings.seed = 0``: a call without ``seed`` is the ``seed=0`` call."""
    assert dynfer.settings.seed == 0
    a = vortex_snapshots(n_per_time=5, times=[0.0, 1.0])
    np.testing.assert_array_equal(a.X, vortex_snapshots(n_per_time=5, times=[0.0, 1.0], seed=0).X)
    assert _source(a) == 0
