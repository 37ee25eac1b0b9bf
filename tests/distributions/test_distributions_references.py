"""kl_backends.distributions: every registered pair against independent float64 references.

Numerical integration / sums with SciPy's densities (``_families.reference``),
torch.distributions and TFP (rtol 1e-10 in float64), on random batches; the
continuous Bernoulli against mpmath's quadrature; the low-rank normal at a
dimension where no d x d matrix fits, against the diagonal limit.
"""

from __future__ import annotations

import numpy as np
import pytest
from _distributions_refs import PAIRS, assert_kl, convert, pair_params

import kl_backends.distributions as D
from _families import FAMILIES, INFINITE, reference
from conftest import need
from kl_backends._dispatch import backend_of


def test_pair_count() -> None:
    # 26 families; 93 registered pairs, all covered by the table of _families.
    assert len(D.registered_pairs()) == 93
    assert len(PAIRS) == 93


# --- independent float64 references -----------------------------------------------------


@pytest.mark.parametrize(("pname", "qname"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_pair_against_numerical_integration(pname: str, qname: str) -> None:
    pp, qq = pair_params(pname, qname)
    got = D.kl(FAMILIES[pname].ours(pp), FAMILIES[qname].ours(qq))
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    expected = reference(pname, qname, pp, qq)
    assert_kl(got, expected, rtol=1e-8, atol=1e-12)
    if (pname, qname) not in INFINITE:
        assert np.isfinite(got).any()  # the parameter ranges make most pairs finite


# --- torch.distributions and TFP -----------------------------------------------------------

# Pairs torch does not register (TFP's or ours).
# (torch's Chi2 is a Gamma and its InverseGamma a transformed Gamma: those pairs it has.)
NOT_IN_TORCH = {
    ("Weibull", "Gamma"),
    ("Weibull", "Weibull"),
    ("VonMises", "VonMises"),
}


@pytest.mark.parametrize(("pname", "qname"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_pair_against_torch(pname: str, qname: str) -> None:
    torch = need("torch")
    T = torch.distributions
    pp, qq = pair_params(pname, qname, seed=1)
    tp = FAMILIES[pname].torch(T, convert(pp, torch.tensor))
    tq = FAMILIES[qname].torch(T, convert(qq, torch.tensor))
    got = D.kl(tp, tq)  # torch objects in, torch tensor out
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    try:
        expected = T.kl_divergence(tp, tq)
    except NotImplementedError:
        assert (pname, qname) in NOT_IN_TORCH
        assert_kl(got.numpy(), reference(pname, qname, pp, qq), rtol=1e-8, atol=1e-12)
        return
    assert (pname, qname) not in NOT_IN_TORCH
    expected = expected.numpy()
    if (pname, qname) in TORCH_BOUNDARY_DEFECT:
        # torch: +inf where the Uniform's bounds touch [0, 1] exactly; the KL is finite.
        touch = qq if qname == "Uniform" else pp
        exact = (touch["low"] == 0) | (touch["high"] == 1)
        assert np.isinf(expected[exact]).all()
        expected = np.where(exact, reference(pname, qname, pp, qq), expected)
    assert_kl(got.numpy(), expected, rtol=1e-10, atol=1e-13)


TORCH_BOUNDARY_DEFECT = {("ContinuousBernoulli", "Uniform"), ("Uniform", "ContinuousBernoulli")}


# TFP registers these; the rest are ours or torch's.
IN_TFP = {
    (a, a)
    for a in (
        "Normal", "LogNormal", "HalfNormal", "Laplace", "Gumbel", "Cauchy", "Uniform",
        "Exponential", "Gamma", "Chi2", "Beta", "Pareto", "Weibull", "VonMises",
        "ContinuousBernoulli", "Bernoulli", "Categorical", "OneHotCategorical", "Dirichlet",
        "MultivariateNormal", "Independent",
    )
} | {("Chi2", "Gamma"), ("Gamma", "Chi2"), ("Weibull", "Gamma"), ("Exponential", "Gamma"),
     ("Gamma", "Exponential")}  # fmt: skip


@pytest.mark.parametrize(
    ("pname", "qname"), sorted(IN_TFP), ids=[f"{a}-{b}" for a, b in sorted(IN_TFP)]
)
def test_pair_against_tfp(pname: str, qname: str) -> None:
    tf = need("tensorflow")
    tfd = need("tensorflow_probability").distributions
    pp, qq = pair_params(pname, qname, seed=2)
    tp = FAMILIES[pname].tfp(tfd, convert(pp, tf.constant))
    tq = FAMILIES[qname].tfp(tfd, convert(qq, tf.constant))
    got = D.kl(tp, tq)
    assert backend_of(got).name == "tensorflow" and got.dtype == tf.float64
    expected = tfd.kl_divergence(tp, tq).numpy()
    # TFP's ContinuousBernoulli KL is accurate to ~1e-4 only (ours: 1e-12 against the
    # integral, test_continuous_bernoulli_against_quadrature).
    rtol = 1e-3 if pname == "ContinuousBernoulli" else 1e-10
    assert_kl(got.numpy(), expected, rtol=rtol, atol=1e-13)


def test_tfp_lacks_these_pairs() -> None:
    """Pairs TFP registers nothing for (ours: the tests above check them)."""
    tf = need("tensorflow")
    tfd = need("tensorflow_probability").distributions
    x = tf.constant([0.5, 2.0], tf.float64)
    for p in (tfd.Poisson(x), tfd.Geometric(probs=x / 3), tfd.InverseGamma(x, x)):
        with pytest.raises(NotImplementedError):
            tfd.kl_divergence(p, p)


def test_continuous_bernoulli_against_quadrature() -> None:
    mpmath = need("mpmath")
    mpmath.mp.dps = 30

    def log_c(lam):
        lam = mpmath.mpf(lam)
        return (
            mpmath.log(2)
            if lam == 0.5
            else mpmath.log(2 * mpmath.atanh(1 - 2 * lam) / (1 - 2 * lam))
        )

    def exact(a, b):
        def lp(x, lam):
            return log_c(lam) + x * mpmath.log(lam) + (1 - x) * mpmath.log(1 - mpmath.mpf(lam))

        return float(mpmath.quad(lambda x: mpmath.exp(lp(x, a)) * (lp(x, a) - lp(x, b)), [0, 1]))

    cases = [
        (0.3, 0.7),
        (0.49, 0.51),
        (0.499, 0.3),
        (0.5, 0.6),
        (0.2, 0.21),
        (0.52, 0.55),
        (0.05, 0.9),
    ]
    a, b = np.array(cases).T
    got = D.kl(D.ContinuousBernoulli(a), D.ContinuousBernoulli(b))
    np.testing.assert_allclose(got, [exact(*c) for c in cases], rtol=1e-12)


# --- low-rank normal without d x d matrices -------------------------------------------------------


def test_lowrank_large_d_matches_diagonal_limit() -> None:
    rng = np.random.default_rng(10)
    d, k = 50_000, 3  # a full covariance would take 20 GB
    loc_p, loc_q = rng.normal(size=d), rng.normal(size=d)
    dp, dq = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    tiny = np.full((d, k), 1e-9)
    got = D.kl(
        D.LowRankMultivariateNormal(loc_p, tiny, dp), D.LowRankMultivariateNormal(loc_q, tiny, dq)
    )
    diag = D.kl(
        D.Independent(D.Normal(loc_p, np.sqrt(dp)), 1),
        D.Independent(D.Normal(loc_q, np.sqrt(dq)), 1),
    )
    assert got == pytest.approx(diag, rel=1e-9)
