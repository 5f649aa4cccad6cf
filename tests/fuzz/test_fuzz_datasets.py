"""Property-based fuzzing of the dataset entry points: the registry's ``load`` and the synthetic generators.

Bad names, sizes, times, rates and noise levels raise :class:`dynfer.BadInputError` naming the argument; good
arguments give finite data of the documented shape.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynfer
from dynfer import BadInputError
from dynfer.datasets import (
    flashing_ratchet_paths,
    ion_channel,
    lotka_volterra_snapshots,
    ou_snapshots,
    repressilator_snapshots,
    vortex_snapshots,
)

SNAPSHOTS = [lotka_volterra_snapshots, repressilator_snapshots, vortex_snapshots, ou_snapshots]
BAD_NUMBERS = [0, -1, 1.5, "3", None, float("nan"), True]
BAD_TIMES = [[], [1.0, 0.5], [0.0, float("nan")], "soon", [[0.0, 1.0]], [-1.0, float("inf")]]


@given(gen=st.sampled_from(SNAPSHOTS),
       bad=st.one_of(st.fixed_dictionaries({"n_per_time": st.sampled_from(BAD_NUMBERS)}),
                     st.fixed_dictionaries({"times": st.sampled_from(BAD_TIMES)}),
                     st.fixed_dictionaries({"sigma": st.sampled_from([-0.1, float("nan"), "x", float("inf")])}),
                     st.fixed_dictionaries({"seed": st.sampled_from(["a", -1, 1.5])})))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_snapshot_generators_refuse_bad_arguments(gen, bad):
    if gen is ou_snapshots and "sigma" in bad:  # the OU generator's noise is D
        bad = {"D": bad["sigma"]}
    name = next(iter(bad))
    with pytest.raises(BadInputError, match=name):
        gen(**{"n_per_time": 3, "times": [0.0, 0.5], **bad})


@given(gen=st.sampled_from(SNAPSHOTS), n=st.integers(1, 6),
       times=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=4, unique=True).map(sorted), seed=st.integers(0, 50))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_snapshot_generators_give_finite_data_of_the_asked_shape(gen, n, times, seed):
    adata = gen(n_per_time=n, times=times, seed=seed)
    assert adata.n_obs == n * len(times) and np.isfinite(np.asarray(adata.X)).all()
    np.testing.assert_allclose(np.unique(adata.obs["time"]), times)


@given(bad=st.one_of(st.fixed_dictionaries({"n_paths": st.sampled_from(BAD_NUMBERS)}),
                     st.fixed_dictionaries({"V": st.sampled_from([float("nan"), "x", float("inf")])}),
                     st.fixed_dictionaries({"label_noise": st.sampled_from([-0.1, 1.5, float("nan"), "x"])}),
                     st.fixed_dictionaries({"times": st.sampled_from(BAD_TIMES)})))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_jump_generator_refuses_bad_arguments(bad):
    name = next(iter(bad))
    with pytest.raises(BadInputError, match=name):
        flashing_ratchet_paths(**{"n_paths": 3, **bad})


@given(bad=st.one_of(st.fixed_dictionaries({"n_traces": st.sampled_from(BAD_NUMBERS)}),
                     st.fixed_dictionaries({"duration": st.sampled_from([0.0, -1.0, float("nan"), "x"])}),
                     st.fixed_dictionaries({"seed": st.sampled_from(["a", -2])})))
@settings(max_examples=20, deadline=None, derandomize=True)
def test_ion_channel_generator_refuses_bad_arguments(bad):
    name = next(iter(bad))
    with pytest.raises(BadInputError, match=name):
        ion_channel(**{"n_traces": 2, "duration": 0.01, **bad})


@given(name=st.one_of(st.text(max_size=12), st.sampled_from(["", "LV", "mmtraj", "pbmc", "../etc"])))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_load_refuses_unknown_names(name):
    if name in dynfer.datasets.list_datasets():
        return
    with pytest.raises(BadInputError, match="dataset"):
        dynfer.datasets.load(name)
