"""``sample`` of kl_backends.distributions: samples against their distributions.

Kolmogorov-Smirnov against SciPy's CDF where there is one, else moments; shapes,
batch shape and event rank; the errors; the continuous Bernoulli sampler near 1/2.

Every random test uses fixed seeds: the outcomes are deterministic, and the
tolerances (5 standard errors) are wide enough that a correct implementation
passes for any seed while a bias of a few percent fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _monte_carlo_refs import N, family_params
from scipy import stats
from scipy.special import log_softmax

import kl_backends.distributions as D
from _families import FAMILIES, element
from kl_backends.distributions._sampling import batch_shape, event_ndims

SAMPLEABLE = [name for name in FAMILIES if name != "VonMises"]


# --- samples against their distributions ---------------------------------------------------


@pytest.mark.parametrize("name", SAMPLEABLE)
def test_samples_follow_the_distribution(name: str) -> None:
    params = family_params(name)
    d = FAMILIES[name].ours(params)
    x = np.asarray(D.sample(d, 4000, seed=7))
    assert x.shape[:2] == (4000, N) and event_ndims(d) == x.ndim - 2
    assert batch_shape(d) == (N,)
    fam = FAMILIES[name]
    for i in range(N):
        e, xi = element(params, i), x[:, i]
        if fam.scipy is not None and not fam.discrete:
            ref = fam.scipy(e)
            cdf = ref.cdf if hasattr(ref, "cdf") else None
            if cdf is not None:
                assert stats.kstest(xi, cdf).pvalue > 1e-4, (name, i)
                continue
        # Moments: the sample mean within 5 standard errors of the mean.
        if fam.discrete:
            ref = fam.scipy(e)
            mean, sd = ref.mean(), ref.std()
        elif name == "ContinuousBernoulli":
            lam = e["probs"]
            mean = lam / (2 * lam - 1) + 1 / (2 * math.atanh(1 - 2 * lam))
            t = np.linspace(0, 1, 20001)
            pdf = np.exp(fam.scipy(e).logpdf(t))
            sd = math.sqrt(np.trapezoid(pdf * (t - mean) ** 2, t))
        elif name == "Categorical":
            pr = e["probs"] / e["probs"].sum()
            k = np.arange(len(pr))
            mean, sd = (pr * k).sum(), math.sqrt((pr * k**2).sum() - (pr * k).sum() ** 2)
        elif name == "OneHotCategorical":
            pr = np.exp(log_softmax(e["logits"]))
            np.testing.assert_allclose(xi.mean(0), pr, atol=5 * np.sqrt(pr * (1 - pr) / 4000).max())
            assert ((xi == 0) | (xi == 1)).all() and (xi.sum(-1) == 1).all()
            continue
        elif name == "Dirichlet":
            a = e["concentration"]
            np.testing.assert_allclose(xi.mean(0), a / a.sum(), atol=0.02)
            np.testing.assert_allclose(xi.sum(-1), 1.0, rtol=1e-12)
            continue
        elif name in ("MultivariateNormal", "LowRankMultivariateNormal", "Independent"):
            if name == "Independent":
                cov = np.diag(e["scale"] ** 2)
            elif name == "MultivariateNormal":
                cov = e["scale_tril"] @ e["scale_tril"].T
            else:
                cov = e["cov_factor"] @ e["cov_factor"].T + np.diag(e["cov_diag"])
            np.testing.assert_allclose(
                xi.mean(0), e["loc"], atol=5 * np.sqrt(np.diag(cov).max() / 4000)
            )
            np.testing.assert_allclose(np.cov(xi.T), cov, atol=0.15 * np.abs(cov).max())
            continue
        else:
            raise AssertionError(f"no check for {name}")
        assert abs(xi.mean() - mean) < 5 * sd / math.sqrt(4000), (name, i, xi.mean(), mean)


def test_sample_shapes_and_errors() -> None:
    assert np.asarray(D.sample(D.Normal(0.0, 1.0), 3, seed=0)).shape == (3,)
    assert np.asarray(D.sample(D.Normal(np.zeros((2, 3)), 1.0), 5, seed=0)).shape == (5, 2, 3)
    mix = D.MixtureSameFamily(
        D.Categorical(logits=np.zeros(3)), D.Independent(D.Normal(np.zeros((2, 3, 4)), 1.0), 1)
    )
    assert np.asarray(D.sample(mix, 6, seed=0)).shape == (6, 2, 4)
    assert batch_shape(mix) == (2,) and event_ndims(mix) == 1
    with pytest.raises(NotImplementedError, match="no sampler for VonMises"):
        D.sample(D.VonMises(0.0, 1.0), 3, seed=0)
    for n in (0, 1.5, True):
        with pytest.raises(ValueError, match="int >= 1"):
            D.sample(D.Normal(0.0, 1.0), n, seed=0)
    with pytest.raises(TypeError, match="seed must be"):
        D.sample(D.Normal(0.0, 1.0), 3, seed="a")


def test_continuous_bernoulli_sampler_near_one_half() -> None:
    # The inverse CDF is 0/0 at 1/2: the series branch must join the closed form smoothly.
    for lam in (0.5, 0.5 + 5e-4, 0.5 - 5e-4, 0.5 + 2e-3):
        x = np.asarray(D.sample(D.ContinuousBernoulli(np.array([lam])), 200_000, seed=2))[:, 0]
        ref = FAMILIES["ContinuousBernoulli"].scipy({"probs": lam})
        t = np.linspace(0, 1, 2001)
        cdf = np.cumsum(np.exp([ref.logpdf(v) for v in t])) / 2000
        emp = np.searchsorted(np.sort(x), t) / len(x)
        assert np.max(np.abs(emp - cdf / cdf[-1])) < 0.01
