"""Gradients of ``monte_carlo_kl`` on every autodiff backend.

Pathwise (reparameterised p) and score-function (discrete p) gradients against the
closed forms' gradients; the gradient in a mixture's weights against central finite
differences of a quadrature KL.

Every random test uses fixed seeds: the outcomes are deterministic, and the
tolerances (5 standard errors) are wide enough that a correct implementation
passes for any seed while a bias of a few percent fails.
"""

from __future__ import annotations

import functools

import numpy as np
from _monte_carlo_refs import mixture_pdf, quad_kl
from scipy import stats

import kl_backends.distributions as D

# --- gradients ---------------------------------------------------------------------------


def _mc_grads(ad, dtype, build, values, n, seed=0, estimator="k1"):
    from _gradients import grad

    arrays = [ad.asarray(np.asarray(v, float), dtype) for v in values]

    def fn(*xs):
        p, q = build(*xs)
        return D.monte_carlo_kl(p, q, num_samples=n, seed=seed, estimator=estimator).estimate

    return grad(ad, fn, arrays)


def _exact_grads(ad, build, values):
    from _gradients import grad

    arrays = [ad.asarray(np.asarray(v, float), "float64") for v in values]
    return grad(ad, lambda *xs: D.kl(*build(*xs)), arrays)


def _close(got, exact, rtol, atol):
    for g, e in zip(got, exact):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def test_pathwise_gradients(ad, dtype: str) -> None:
    """Reparameterised p (normal; gamma through the implicit-gradient samplers)."""
    normal = lambda m, s, mq: (D.Normal(m, s), D.Normal(mq, 2.0))  # noqa: E731
    values = ([0.0, 0.5], [1.0, 1.5], [1.0, -1.0])
    _close(
        _mc_grads(ad, dtype, normal, values, 100_000), _exact_grads(ad, normal, values), 0.05, 0.02
    )
    gamma = lambda a, b: (D.Gamma(a, b), D.Gamma(3.0, 2.0))  # noqa: E731
    values = ([2.0, 0.8], [1.0, 2.0])
    _close(
        _mc_grads(ad, dtype, gamma, values, 100_000), _exact_grads(ad, gamma, values), 0.05, 0.02
    )


def test_score_function_gradients(ad, dtype: str) -> None:
    """Discrete p: the score-function term gives the closed form's gradient."""
    bern = lambda lg: (D.Bernoulli(logits=lg), D.Bernoulli(probs=0.5))  # noqa: E731
    values = ([0.3, -2.0],)
    _close(_mc_grads(ad, dtype, bern, values, 200_000), _exact_grads(ad, bern, values), 0.05, 0.01)
    pois = lambda r: (D.Poisson(r), D.Poisson(2.0))  # noqa: E731
    values = ([1.0, 4.0],)
    _close(_mc_grads(ad, dtype, pois, values, 200_000), _exact_grads(ad, pois, values), 0.05, 0.01)


@functools.cache  # the oracle does not depend on the backend or dtype: computed once
def _mixture_weight_fd(logits: tuple, locs: tuple, scales: tuple) -> list[float]:
    """Central finite differences of KL(mixture || N(1, 2)) by quadrature, per logit."""

    def kl_of(lg):
        return quad_kl(mixture_pdf(lg, locs, scales), stats.norm(1, 2).logpdf)

    h = 1e-5
    at = np.asarray(logits)
    return [(kl_of(at + h * e) - kl_of(at - h * e)) / (2 * h) for e in np.eye(2)]


def test_mixture_weight_gradient_against_finite_differences(ad, dtype: str) -> None:
    """d KL(mixture || N(1, 2)) / d logits: score function for the component choice."""
    locs, scales = (-1.0, 2.0), (0.5, 1.0)
    logits = np.array([0.1, -0.3])
    fd = _mixture_weight_fd(tuple(logits), locs, scales)

    def build(lg):
        comp = D.Normal(ad.asarray(np.array(locs), dtype), ad.asarray(np.array(scales), dtype))
        return D.MixtureSameFamily(D.Categorical(logits=lg), comp), D.Normal(1.0, 2.0)

    (g,) = _mc_grads(ad, dtype, build, (logits,), 200_000, seed=1)
    np.testing.assert_allclose(g, fd, atol=0.02)
