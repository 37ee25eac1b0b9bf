"""``log_prob`` of kl_backends.distributions against independent densities.

SciPy's densities and torch.distributions' / TFP's own ``log_prob`` for every family;
minus infinity outside the support and the density's limits on its closure; the
covariance, precision and Cholesky forms of the multivariate normal; mixtures, far
into the tails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _monte_carlo_refs import N, family_params, mixture, mixture_pdf
from scipy import stats
from scipy.special import log_softmax, logsumexp

import kl_backends.distributions as D
from _families import FAMILIES, element
from conftest import need

# --- log_prob against independent densities --------------------------------------------------


def _scipy_logpdf(name: str, params: dict, x: np.ndarray) -> np.ndarray:
    """SciPy's log-density per batch element (x: [n, N, *event])."""
    out = np.empty(x.shape[:2])
    for i in range(N):
        e = element(params, i)
        xi = x[:, i]
        if name == "VonMises":
            out[:, i] = stats.vonmises(e["concentration"], loc=e["loc"]).logpdf(xi)
        elif name == "Categorical":
            out[:, i] = np.log(e["probs"] / e["probs"].sum())[xi.astype(int)]
        elif name == "OneHotCategorical":
            out[:, i] = (log_softmax(e["logits"]) * xi).sum(-1)
        elif name == "Dirichlet":
            out[:, i] = [stats.dirichlet(e["concentration"]).logpdf(v) for v in xi]
        elif name == "MultivariateNormal":
            out[:, i] = stats.multivariate_normal(
                e["loc"], e["scale_tril"] @ e["scale_tril"].T
            ).logpdf(xi)
        elif name == "LowRankMultivariateNormal":
            cov = e["cov_factor"] @ e["cov_factor"].T + np.diag(e["cov_diag"])
            out[:, i] = stats.multivariate_normal(e["loc"], cov).logpdf(xi)
        elif name == "Independent":
            out[:, i] = stats.norm(e["loc"], e["scale"]).logpdf(xi).sum(-1)
        else:
            ref = FAMILIES[name].scipy(e)
            out[:, i] = ref.logpmf(xi) if FAMILIES[name].discrete else ref.logpdf(xi)
    return out


def _points(name: str, params: dict) -> np.ndarray:
    if name == "VonMises":
        return np.random.default_rng(1).uniform(-math.pi, math.pi, (50, N))
    return np.asarray(D.sample(FAMILIES[name].ours(params), 50, seed=1))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_log_prob_against_scipy(name: str) -> None:
    params = family_params(name)
    x = _points(name, params)
    got = np.asarray(D.log_prob(FAMILIES[name].ours(params), x))
    assert got.shape == x.shape[:2]
    np.testing.assert_allclose(got, _scipy_logpdf(name, params, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_log_prob_against_torch_and_tfp(name: str) -> None:
    torch = need("torch")
    tfp = need("tensorflow_probability")
    params = family_params(name)
    x = _points(name, params)
    ours = np.asarray(D.log_prob(FAMILIES[name].ours(params), x))
    to_t = {k: torch.tensor(v) for k, v in params.items()}
    theirs = FAMILIES[name].torch(torch.distributions, to_t).log_prob(torch.tensor(x))
    # torch's VonMises log I0 is a polynomial approximation good to ~1e-7 (ours: SciPy's 1e-10)
    atol = 1e-7 if name == "VonMises" else 1e-12
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=atol)
    if FAMILIES[name].tfp is not None:
        d = FAMILIES[name].tfp(tfp.distributions, params)
        theirs = np.asarray(d.log_prob(x.astype(int) if name == "Categorical" else x))
        # TFP computes some discrete families in float32 whatever their parameters' dtype
        rtol = 1e-9 if theirs.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-12 if rtol < 1e-6 else 1e-6)


def test_log_prob_outside_the_support_is_minus_inf() -> None:
    cases = [
        (D.Exponential(1.0), -0.5),
        (D.Gamma(2.0, 1.0), -1.0),
        (D.Beta(2.0, 2.0), 1.5),
        (D.Uniform(0.0, 1.0), 1.0),  # [low, high): high is outside
        (D.Pareto(1.0, 2.0), 0.5),
        (D.LogNormal(0.0, 1.0), 0.0),
        (D.Poisson(2.0), 1.5),
        (D.Poisson(2.0), -1.0),
        (D.Binomial(3.0, probs=0.5), 4.0),
        (D.Bernoulli(probs=0.5), 0.5),
        (D.Geometric(probs=0.5), -1.0),
        (D.Categorical(probs=np.array([0.5, 0.5])), 2.0),
    ]
    for d, x in cases:
        assert D.log_prob(d, np.array(x)) == -np.inf, (d, x)
    # ... and on the closure of the support, the density's limits.
    assert D.log_prob(D.Exponential(2.0), np.array(0.0)) == pytest.approx(math.log(2.0))
    assert D.log_prob(D.Gamma(1.0, 3.0), np.array(0.0)) == pytest.approx(math.log(3.0))
    assert D.log_prob(D.Gamma(0.5, 1.0), np.array(0.0)) == np.inf
    assert D.log_prob(D.Poisson(0.0), np.array(0.0)) == 0.0  # all mass at 0


def test_log_prob_of_the_covariance_and_precision_forms() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    loc = rng.normal(size=3)
    x = rng.normal(size=(10, 3))
    expected = stats.multivariate_normal(loc, cov).logpdf(x)
    for d in (
        D.MultivariateNormal(loc, covariance_matrix=cov),
        D.MultivariateNormal(loc, precision_matrix=np.linalg.inv(cov)),
        D.MultivariateNormal(loc, scale_tril=np.linalg.cholesky(cov)),
    ):
        np.testing.assert_allclose(D.log_prob(d, x), expected, rtol=1e-12)
        s = np.asarray(D.sample(d, 20_000, seed=4))
        np.testing.assert_allclose(np.cov(s.T), cov, atol=0.1 * np.abs(cov).max())


def test_log_prob_of_a_mixture() -> None:
    logits, locs, scales = (0.1, -0.3, 0.5), (-1.0, 2.0, 0.0), (0.5, 1.0, 3.0)
    mix = mixture(logits=logits, locs=locs, scales=scales)
    x = np.linspace(-5, 5, 21)
    expected = np.log(mixture_pdf(logits, locs, scales)(x))
    np.testing.assert_allclose(D.log_prob(mix, x), expected, rtol=1e-12)
    # far out in the tails every component underflows in the linear domain, not in ours
    far = D.log_prob(mix, np.array([-300.0]))
    w = log_softmax(np.array(logits))
    ref = logsumexp(w + stats.norm(np.array(locs), np.array(scales)).logpdf(-300.0))
    np.testing.assert_allclose(far, ref, rtol=1e-12)
