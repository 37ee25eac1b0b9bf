"""Heavy tails: the Pareto k-hat diagnostic of ``monte_carlo_kl``.

A warning where the terms are heavy-tailed (the standard error cannot be trusted)
and none where they are light, with calibrated z-scores against quadrature; the
shape of ``pareto_k``, NaN where undefined; no warning and the same k-hat under
``jax.jit`` and ``tf.function``.

Every random test uses fixed seeds: the outcomes are deterministic, and the
tolerances (5 standard errors) are wide enough that a correct implementation
passes for any seed while a bias of a few percent fails.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _monte_carlo_refs import quad_kl
from scipy import stats

import kl_backends.distributions as D
from conftest import need

# --- heavy tails: the Pareto k-hat diagnostic ------------------------------------------------

_P_MIX = ((0.3, 0.7), (-2.0, 1.0), (1.0, 0.5))
_Q_MIX = ((0.5, 0.5), (-1.0, 1.5), (1.0, 1.0))


def _probs_mixture(w, locs, scales, conv=np.asarray):
    return D.MixtureSameFamily(
        D.Categorical(probs=conv(np.array(w))),
        D.Normal(conv(np.array(locs)), conv(np.array(scales))),
    )


def _probs_mixture_pdf(w, locs, scales):
    return lambda x: sum(wi * stats.norm.pdf(x, m, s) for wi, m, s in zip(w, locs, scales))


def _z_scores(p, q, kl, estimator, seeds, n, expect_warning):
    z, k = [], []
    for seed in seeds:
        if expect_warning:
            with pytest.warns(D.MonteCarloWarning, match="heavy-tailed"):
                r = D.monte_carlo_kl(p, q, num_samples=n, seed=seed, estimator=estimator)
        else:
            r = D.monte_carlo_kl(p, q, num_samples=n, seed=seed, estimator=estimator)
        z.append((float(r.estimate) - kl) / float(r.standard_error))
        k.append(float(r.pareto_k))
    return np.array(z), np.array(k)


def test_heavy_tailed_k3_warns_on_a_mixture() -> None:
    """p = 0.3 N(-2, 1) + 0.7 N(1, 0.5), q = 0.5 N(-1, 1) + 0.5 N(1.5, 1): k3's terms
    q/p - 1 - log(q/p) have a Pareto-like tail (q/p grows fast in p's right flank), the
    standard error underestimates the error (z-scores against quadrature spread ~1.7)
    and every estimate warns; k1 on the same pair is calibrated and does not warn."""
    pdf_p, pdf_q = _probs_mixture_pdf(*_P_MIX), _probs_mixture_pdf(*_Q_MIX)
    kl = quad_kl(pdf_p, lambda x: math.log(pdf_q(x)))
    assert abs(kl - 0.41318) < 1e-5
    p, q = _probs_mixture(*_P_MIX), _probs_mixture(*_Q_MIX)
    z, k = _z_scores(p, q, kl, "k3", range(8), 100_000, expect_warning=True)
    assert np.all(k > 0.7), k
    assert np.std(z) > 1.3 or abs(np.mean(z)) > 1.0, z  # the reason for the warning
    z, _ = _z_scores(p, q, kl, "k1", range(8), 100_000, expect_warning=False)
    assert abs(np.mean(z)) < 1.0 and np.std(z) < 1.3, z


def test_light_tails_do_not_warn() -> None:
    """Light-tailed terms: no warning, k-hat below 0.5, calibrated z-scores (quadrature KL)."""
    cases = [  # k3's variance is finite for normals while scale_q^2 < 2 scale_p^2
        (D.Normal(0.0, 1.0), D.Normal(1.0, 0.8), stats.norm(0, 1).pdf, stats.norm(1, 0.8).logpdf),
        (
            D.Gamma(2.0, 1.0),
            D.Gamma(3.0, 1.5),
            stats.gamma(2).pdf,
            stats.gamma(3, scale=1 / 1.5).logpdf,
        ),
    ]
    for p, q, pdf, q_logpdf in cases:
        kl = quad_kl(pdf, q_logpdf, lo=-30.0 if isinstance(p, D.Normal) else 0.0, hi=60.0)
        for estimator in ("k1", "k3"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", D.MonteCarloWarning)
                z, k = _z_scores(p, q, kl, estimator, range(12), 20_000, expect_warning=False)
            assert np.all(k < 0.5), (estimator, k)
            assert abs(np.mean(z)) < 0.8 and 0.6 < np.std(z) < 1.4, (estimator, z)


def test_cauchy_against_normal_warns_for_both_estimators() -> None:
    # log p - log q ~ x^2 / 2 with x Cauchy: a Pareto tail of index 1/2 (k = 2).
    for estimator in ("k1", "k3"):
        with pytest.warns(D.MonteCarloWarning):
            r = D.monte_carlo_kl(D.Cauchy(0.0, 1.0), D.Normal(0.0, 1.0), num_samples=10_000,
                                 seed=0, estimator=estimator)  # fmt: skip
        assert 1.5 < float(r.pareto_k) < 2.5


def test_pareto_k_shape_nan_and_compiled(backend) -> None:
    """pareto_k: batch-shaped, NaN where undefined, no warning and no host sync when traced."""
    conv = lambda a: backend.asarray(np.asarray(a, float), "float64")  # noqa: E731
    p = D.Normal(conv([0.0, 0.0, 0.0]), conv([1.0, 1.0, 1.0]))
    q = D.Normal(conv([0.0, 1.0, 0.0]), conv([1.0, 0.8, 1e-3]))
    r = D.monte_carlo_kl(p, q, num_samples=2000, seed=0)
    k = backend.to_numpy(r.pareto_k)
    assert k.shape == (3,)
    assert np.isnan(k[0])  # p == q: every term is 0, no tail
    assert k[1] < 0.5 and np.isfinite(k[2])
    tiny = backend.to_numpy(D.monte_carlo_kl(p, q, num_samples=20, seed=0).pareto_k)
    assert np.all(np.isnan(tiny))  # too few samples for a tail fit
    inf = D.monte_carlo_kl(
        D.Uniform(conv(0.0), conv(2.0)), D.Uniform(conv(0.0), conv(1.0)), num_samples=100, seed=0
    )
    assert backend.to_numpy(inf.estimate) == np.inf and np.isnan(backend.to_numpy(inf.pareto_k))


def test_no_warning_and_same_k_under_jit_and_tf_function() -> None:
    jax = need("jax")
    cauchy = lambda loc: (D.Cauchy(loc, 1.0), D.Normal(0.0, 1.0))  # noqa: E731

    @jax.jit
    def f(loc):
        return D.monte_carlo_kl(*cauchy(loc), num_samples=5000, seed=jax.random.key(0)).pareto_k

    with warnings.catch_warnings():
        warnings.simplefilter("error", D.MonteCarloWarning)
        k = float(f(jax.numpy.asarray(0.0)))
    with pytest.warns(D.MonteCarloWarning):
        eager = D.monte_carlo_kl(
            *cauchy(jax.numpy.asarray(0.0)), num_samples=5000, seed=jax.random.key(0)
        )
    assert abs(k - float(eager.pareto_k)) < 1e-9 and k > 0.7
    tf = need("tensorflow")

    @tf.function
    def g(loc):
        return D.monte_carlo_kl(*cauchy(loc), num_samples=5000, seed=tf.constant([1, 2])).pareto_k

    with warnings.catch_warnings():
        warnings.simplefilter("error", D.MonteCarloWarning)
        assert float(g(tf.constant(0.0, tf.float64))) > 0.7
