"""kl_backends.distributions: exact zeros, documented infinities, torch's defects not copied.

Identical distributions give exactly 0; support mismatches, infinite moments and
``0 log 0 = 0`` as documented; torch's NaN and +inf defects (and its TestKL edge
cases) not copied, gradients included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _distributions_refs import SAME, pair_params
from scipy import integrate

import kl_backends.distributions as D
from _families import FAMILIES
from conftest import need

# --- exact zeros, infinities, torch's defects -------------------------------------------------


@pytest.mark.parametrize(("pname", "qname"), SAME, ids=[a for a, _ in SAME])
def test_identical_distributions_give_zero(pname: str, qname: str) -> None:
    pp, _ = pair_params(pname, qname)
    d = FAMILIES[pname].ours(pp)
    got = np.asarray(D.kl(d, d))
    if pname in ("MultivariateNormal", "LowRankMultivariateNormal"):  # Cholesky round-off
        assert np.all(np.abs(got) < 1e-14)
    else:
        np.testing.assert_array_equal(got, 0.0)


def test_documented_infinities_and_conventions() -> None:
    inf, nan = math.inf, math.nan
    # Support mismatch.
    np.testing.assert_array_equal(
        D.kl(
            D.Uniform([0.0, 0.0, 0.0], [1.0, 1.0, 2.0]), D.Uniform([0.0, 0.1, 0.0], [1.0, 1.0, 1.0])
        ),
        [0.0, inf, inf],
    )
    assert D.kl(D.Pareto(1.0, 2.0), D.Pareto(2.0, 2.0)) == inf
    assert D.kl(D.Pareto(2.0, 2.0), D.Pareto(1.0, 2.0)) == pytest.approx(2 * math.log(2))
    assert D.kl(D.Pareto(1.0, 1.0), D.Exponential(1.0)) == inf  # infinite mean
    assert D.kl(D.Pareto(1.0, 2.0), D.Normal(0.0, 1.0)) == inf  # infinite variance
    assert D.kl(D.Normal(0.0, 1.0), D.Uniform(-100.0, 100.0)) == inf
    assert D.kl(D.Uniform(-0.5, 0.5), D.Exponential(1.0)) == inf
    # Binomial: more trials in p than q: +inf; fewer: no closed form (NaN).
    got = D.kl(D.Binomial(np.array([5.0, 6.0, 4.0]), 0.5), D.Binomial(5.0, 0.3))
    assert got[1] == inf and math.isnan(got[2])
    np.testing.assert_allclose(got[0], 5 * (0.5 * math.log(0.5 / 0.3) + 0.5 * math.log(0.5 / 0.7)))
    # 0 log 0 = 0, q = 0 under p > 0 is +inf.
    np.testing.assert_allclose(
        D.kl(D.Bernoulli([0.0, 1.0, 0.5]), D.Bernoulli([0.5, 0.5, 0.0])),
        [math.log(2), math.log(2), inf],
    )
    np.testing.assert_allclose(
        D.kl(D.Geometric([1.0, 1.0, 0.5]), D.Geometric([0.5, 1.0, 1.0])), [math.log(2), 0.0, inf]
    )
    np.testing.assert_allclose(
        D.kl(
            D.Categorical([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]),
            D.Categorical([[0.25, 0.25, 0.5], [1.0, 0.0, 0.0]]),
        ),
        [math.log(2), inf],
    )
    np.testing.assert_allclose(D.kl(D.Poisson([0.0, 2.0]), D.Poisson([3.0, 0.0])), [3.0, inf])
    assert D.kl(D.VonMises(1.0, 0.0), D.VonMises(-1.0, 0.0)) == 0.0  # both uniform on the circle
    assert math.isnan(float(D.kl(D.Normal(0.0, -1.0), D.Normal(0.0, 1.0))))
    del nan


def test_torch_defects_not_copied() -> None:
    torch = need("torch")
    T = torch.distributions
    # torch #144279: KL(Uniform(0, 1) || Beta(1, 1)) was NaN in torch (0 * log 0); it is 0.
    one = torch.tensor(1.0, dtype=torch.float64)
    zero = torch.tensor(0.0, dtype=torch.float64)
    assert D.kl(T.Uniform(zero, one), T.Beta(one, one)) == 0.0
    assert D.kl(D.Uniform(0.0, np.array([1.0, 0.5])), D.Beta(1.0, 1.0))[0] == 0.0
    assert D.kl(D.Uniform(0.0, 1.0), D.Beta(2.0, 1.0)) == pytest.approx(1 - math.log(2), abs=1e-15)
    # torch returns +inf for the exact cover [0, 1] in both directions; the KL is finite.
    lam = torch.tensor([0.3], dtype=torch.float64)
    assert torch.isinf(T.kl_divergence(T.ContinuousBernoulli(lam), T.Uniform(zero, one))).all()
    got = D.kl(D.ContinuousBernoulli(np.array([0.3])), D.Uniform(0.0, 1.0))
    h = integrate.quad(lambda x: -FAMILIES["ContinuousBernoulli"].scipy({"probs": 0.3}).pdf(x)
                       * FAMILIES["ContinuousBernoulli"].scipy({"probs": 0.3}).logpdf(x), 0, 1)[0]  # fmt: skip
    np.testing.assert_allclose(got, [-h], rtol=1e-10)
    assert np.isfinite(D.kl(D.Uniform(0.0, 1.0), D.ContinuousBernoulli(0.3)))
    # torch #15288: NaN gradient of the Bernoulli KL at p in {0, 1}.
    p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
    D.kl(T.Bernoulli(probs=p), T.Bernoulli(probs=q)).sum().backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


def test_torch_testkl_edge_cases() -> None:
    """torch's TestKL.test_kl_edgecases and its infinite_examples, on our containers."""
    assert D.kl(D.Bernoulli(0.0), D.Bernoulli(0.0)) == 0.0
    assert D.kl(D.Bernoulli(1.0), D.Bernoulli(1.0)) == 0.0
    assert D.kl(D.Categorical(np.array([0.0, 1.0])), D.Categorical(np.array([0.0, 1.0]))) == 0.0
    assert D.kl(D.Bernoulli(0.0), D.Bernoulli(1.0)) == math.inf
    assert D.kl(D.Bernoulli(1.0), D.Bernoulli(0.0)) == math.inf
    # ... and the same through torch's own objects, gradients included.
    torch = need("torch")
    T = torch.distributions
    p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    out = D.kl(T.Bernoulli(probs=p), T.Bernoulli(probs=p.detach()))
    assert out.tolist() == [0.0, 0.0]
    out.sum().backward()
    assert torch.isfinite(p.grad).all()
