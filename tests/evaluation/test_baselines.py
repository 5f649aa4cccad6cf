import numpy as np
import pytest

from dynfer.evaluation import ot_midpoint, persistence


def test_ot_midpoint_of_a_translation_is_the_translated_sample():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    y = x + np.array([2.0, -1.0])  # the optimal map of a translation is the translation
    mid = ot_midpoint(x, y[rng.permutation(50)], 0.25)
    np.testing.assert_allclose(np.sort(mid, axis=0), np.sort(x + 0.25 * np.array([2.0, -1.0]), axis=0), atol=1e-12)


def test_ot_midpoint_1d_is_quantile_interpolation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=40), rng.normal(3.0, 2.0, size=40)
    mid = ot_midpoint(a[:, None], b[:, None], 0.5)[:, 0]
    np.testing.assert_allclose(np.sort(mid), 0.5 * np.sort(a) + 0.5 * np.sort(b), atol=1e-12)


def test_persistence_and_errors():
    snaps = [np.zeros((3, 1)), np.ones((3, 1))]
    assert persistence(snaps, np.array([0.0, 2.0]), 1.5)[0, 0] == 0.0
    assert persistence(snaps, np.array([0.0, 2.0]), 2.0)[0, 0] == 1.0
    with pytest.raises(ValueError, match="before"):
        persistence(snaps, np.array([0.0, 2.0]), -1.0)
    with pytest.raises(ValueError, match="s must"):
        ot_midpoint(np.zeros((2, 1)), np.zeros((2, 1)), 1.5)
