"""The former public names still work, warn with ``DeprecationWarning`` naming the new
name (at the caller's line), give the new function's values, and stay out of ``__all__``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import kl_backends
from kl_backends import (
    generalized_kl_divergence,
    kl_divergence,
    kl_from_densities,
    kl_from_samples_knn,
)

X = np.linspace(-10.0, 12.0, 2201)
P, Q = stats.norm.pdf(X, 0, 2), stats.norm.pdf(X, 2, 2)


def test_all_lists_the_new_names_only() -> None:
    for name in ("kl_from_densities", "generalized_kl_divergence", "kl_from_samples_knn"):
        assert name in kl_backends.__all__
        assert callable(getattr(kl_backends, name))
    for name in ("generalized_kl", "kl_knn"):
        assert name not in kl_backends.__all__
        assert callable(getattr(kl_backends, name))  # still importable


def test_generalized_kl_warns_and_gives_the_same_values() -> None:
    m, n = (
        np.array([[2.0, 0.0, 1.5], [0.3, 0.2, 4.0]]),
        np.array([[1.0, 3.0, 1.5], [0.1, 1.0, 2.0]]),
    )
    with pytest.warns(DeprecationWarning, match="generalized_kl_divergence") as caught:
        old = kl_backends.generalized_kl(m, n, base=2)
    assert caught[0].filename == __file__  # points at the caller
    np.testing.assert_array_equal(old, generalized_kl_divergence(m, n, base=2))


def test_kl_knn_warns_and_gives_the_same_values() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + 0.3
    with pytest.warns(DeprecationWarning, match="kl_from_samples_knn") as caught:
        old = kl_backends.kl_knn(a, b, k=2, chunk_size=64)
    assert caught[0].filename == __file__
    np.testing.assert_array_equal(old, kl_from_samples_knn(a, b, k=2, chunk_size=64))


@pytest.mark.parametrize(
    "grid",
    [{"dx": float(X[1] - X[0])}, {"x": X}, {"dx": float(X[1] - X[0]), "normalize": True}],
    ids=["dx", "x", "normalize"],
)
def test_kl_divergence_with_a_grid_warns_and_gives_kl_from_densities(grid) -> None:
    with pytest.warns(DeprecationWarning, match="kl_from_densities") as caught:
        old = kl_divergence(P, Q, **grid)
    assert caught[0].filename == __file__
    np.testing.assert_array_equal(old, kl_from_densities(P, Q, **grid))
    assert float(old) == pytest.approx(0.5, abs=1e-5)  # (2 - 0)^2 / (2 * 2^2), closed form


def test_kl_divergence_with_a_grid_and_temperature_is_refused() -> None:
    with pytest.raises(ValueError, match="temperature= and where="):
        kl_divergence(P, Q, dx=0.01, temperature=2.0)
