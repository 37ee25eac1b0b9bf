"""kl_backends.distributions: ``kl(p, p)`` is exactly 0 and no KL is negative from rounding.

Every same-family pair (and a few ulps apart: never below 0), the reported low-rank
normal, and pairs of two families describing one distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import kl_backends.distributions as D

# --- exact zeros and no negative values ------------------------------------------------------


def _families() -> Any:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from _families import FAMILIES

    return FAMILIES


SAME = [a for a, b in D.registered_pairs() if a == b]


@pytest.mark.parametrize("name", SAME)
def test_identical_exactly_zero_and_nearly_identical_not_negative(name: str) -> None:
    """kl(p, p) == 0 exactly (KL(p || p) = 0); a few ulps apart, KL >= 0 (never -1e-16)."""
    fam = _families()[name]
    rng = np.random.default_rng([7, *map(ord, name)])
    params = fam.gen(rng, 256)
    p = fam.ours(params)
    same = np.asarray(D.kl(p, fam.ours({k: v.copy() for k, v in params.items()})))
    assert np.all(same == 0), f"{name}: kl(p, p) = {same[same != 0][:5]}"
    for ulps in (1, 4, 64):
        moved = {
            k: v if k == "total_count" else v * (1 + ulps * 2.0**-52 * rng.standard_normal(v.shape))
            for k, v in params.items()
        }
        near = np.asarray(D.kl(p, fam.ours(moved)))
        assert np.all(near >= 0), f"{name}: negative KL {near[near < 0][:5]}"


def test_lowrank_identical_from_the_report() -> None:
    """The reported LowRankMultivariateNormal gave -1.78e-15 for kl(L, L); MultivariateNormal too."""
    loc = np.array([0.0, 0.0])
    w, dg = np.array([[0.3], [-1.7]]), np.array([2.0, 0.25])
    low = D.LowRankMultivariateNormal(loc, w, dg)
    assert float(D.kl(low, low)) == 0.0
    full = D.MultivariateNormal(loc, covariance_matrix=w @ w.T + np.diag(dg))
    assert float(D.kl(full, full)) == 0.0
    # the cross pairs between the two forms of one distribution: >= 0 and within rounding of 0
    for a, b in ((low, full), (full, low)):
        got = float(D.kl(a, b))
        assert 0.0 <= got < 1e-14


_R = np.random.default_rng(3).uniform(0.1, 5.0, 256)


@pytest.mark.parametrize(
    ("p", "q"),
    [
        (D.Exponential(_R), D.Gamma(1.0, _R)),
        (D.Gamma(1.0, _R), D.Exponential(_R)),
        (D.Chi2(2 * _R), D.Gamma(_R, 0.5)),
        (D.Gamma(_R, 0.5), D.Chi2(2 * _R)),
        (D.Weibull(_R, 1.0), D.Gamma(1.0, 1 / _R)),
        (D.Uniform(0.0, 1.0), D.Beta(1.0, 1.0)),
        (D.Uniform(0.0, 1.0), D.ContinuousBernoulli(0.5)),
        (D.ContinuousBernoulli(0.5), D.Uniform(0.0, 1.0)),
        (D.Beta(1.0, 1.0), D.ContinuousBernoulli(0.5)),
    ],
    ids=lambda d: type(d).__name__,
)
def test_cross_pairs_of_one_distribution_not_negative(p: Any, q: Any) -> None:
    """Two families describing one distribution: KL 0 (the identity) up to rounding, never < 0.

    (Weibull(l, 1) || Gamma(1, 1/l) gave -4.4e-16 for 109 of these 256 scales.)
    """
    got = np.asarray(D.kl(p, q))
    assert np.all(got >= 0) and np.all(got < 1e-14), got[got < 0][:5]
