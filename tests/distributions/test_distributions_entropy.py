"""``entropy`` and ``cross_entropy`` of kl_backends.distributions.

Entropy of every family against SciPy's (numerical integration where SciPy has
none), the multivariate families, and cross-entropy against the integral.
"""

from __future__ import annotations

import numpy as np
import pytest
from _distributions_refs import N
from scipy import integrate, stats

import kl_backends.distributions as D
from _families import FAMILIES, element

# --- entropy and cross-entropy ------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in sorted(FAMILIES) if FAMILIES[n].scipy is not None])
def test_entropy_against_scipy(name: str) -> None:
    fam = FAMILIES[name]
    pp = fam.gen(np.random.default_rng(7), N)
    try:
        got = D.entropy(fam.ours(pp))
    except NotImplementedError:
        assert name in ("Poisson", "Binomial")
        return
    for i in range(N):
        d = fam.scipy(element(pp, i))
        if hasattr(d, "entropy"):
            expected = float(d.entropy())
        else:  # the ContinuousBernoulli density of _families
            expected = -integrate.quad(lambda x, d=d: d.pdf(x) * d.logpdf(x), 0, 1, epsabs=1e-14)[0]
        assert got[i] == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, i)


def test_entropy_multivariate_and_cross_entropy() -> None:
    rng = np.random.default_rng(8)
    fam = FAMILIES["LowRankMultivariateNormal"]
    pp = fam.gen(rng, 3)
    cov = pp["cov_factor"] @ np.swapaxes(pp["cov_factor"], -1, -2) + pp["cov_diag"][
        ..., None
    ] * np.eye(4)
    expected = [stats.multivariate_normal(pp["loc"][i], cov[i]).entropy() for i in range(3)]
    np.testing.assert_allclose(D.entropy(fam.ours(pp)), expected, rtol=1e-12)
    np.testing.assert_allclose(
        D.entropy(D.MultivariateNormal(pp["loc"], cov)), expected, rtol=1e-12
    )
    a = rng.uniform(0.5, 3, (3, 4))
    np.testing.assert_allclose(
        D.entropy(D.Dirichlet(a)), [stats.dirichlet(x).entropy() for x in a], rtol=1e-12
    )
    np.testing.assert_allclose(
        D.entropy(D.VonMises(0.0, a[0])), [stats.vonmises(k).entropy() for k in a[0]], rtol=1e-10
    )
    # Cross-entropy: -int p log q, against the integral.
    p, q = D.Gamma(2.0, 1.5), D.Normal(1.0, 2.0)
    exact = -integrate.quad(
        lambda x: stats.gamma(2.0, scale=1 / 1.5).pdf(x) * stats.norm(1, 2).logpdf(x), 0, np.inf
    )[0]
    assert D.cross_entropy(p, q) == pytest.approx(exact, rel=1e-10)
