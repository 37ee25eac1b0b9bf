"""The forms of each family of distrax and numpyro, read into our containers.

Probabilities or logits (the parameter given is the one read), numpyro's Geometric
counting failures, the multivariate normals' forms (covariance, precision, Cholesky,
low rank, diagonal plus low rank), ``Independent`` / ``to_event``, mixtures
(converted; no closed-form KL).

distrax 0.1.9 needs ``tfp-nightly``, which replaces the ``tensorflow-probability``
release of the main environment: these tests run in ``nox -s jax_distributions``
(``KL_BACKENDS_REQUIRE=distrax,numpyro`` makes a missing library an error there)
and skip elsewhere.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest

# The fixtures jax, distrax and numpyro (requested by name).
from _interop_jax_fixtures import distrax_module, jax_module, numpyro_module  # noqa: F401
from _interop_jax_refs import N, container

import kl_backends.distributions as D

# --- the forms of each family ---------------------------------------------------------------


def test_probs_and_logits(jax, distrax, numpyro) -> None:
    """Built from logits, read as logits (the parameter given); same KL as from probs."""
    jnp = jax.numpy
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(2, N))
    lx, ly = jnp.asarray(x), jnp.asarray(y)
    sig = jax.nn.sigmoid
    cases = [
        (distrax.Bernoulli(logits=lx), distrax.Bernoulli(probs=sig(ly)), D.Bernoulli),
        (numpyro.Bernoulli(logits=lx), numpyro.BernoulliProbs(sig(ly)), D.Bernoulli),
        (numpyro.Geometric(logits=lx), numpyro.GeometricProbs(sig(ly)), D.Geometric),
        (numpyro.Binomial(5, logits=lx), numpyro.BinomialProbs(sig(ly), 5), D.Binomial),
    ]
    for p, q, cls in cases:
        cp, cq = container(p), container(q)
        assert type(cp) is cls and type(cq) is cls
        assert cp.probs is None and bool(jnp.array_equal(cp.logits, lx))
        assert cq.logits is None
        make = functools.partial(cls, 5) if cls is D.Binomial else cls
        ours = D.kl(make(logits=x), make(probs=1 / (1 + np.exp(-y))))
        np.testing.assert_allclose(D.kl(p, q), ours, rtol=1e-12)
    logits = jnp.asarray(rng.normal(size=(N, 5)))
    probs = jax.nn.softmax(jnp.asarray(rng.normal(size=(N, 5))))
    for p, q in [
        (distrax.Categorical(logits=logits), distrax.Categorical(probs=probs)),
        (distrax.OneHotCategorical(logits=logits), distrax.OneHotCategorical(probs=probs)),
        (numpyro.CategoricalLogits(logits), numpyro.CategoricalProbs(probs)),
    ]:
        got = D.kl(p, q)
        if hasattr(p, "kl_divergence"):
            expected = p.kl_divergence(q)
        else:  # numpyro has CategoricalProbs-CategoricalProbs only
            expected = numpyro.kl_divergence(numpyro.CategoricalProbs(jax.nn.softmax(logits)), q)
        np.testing.assert_allclose(got, expected, rtol=1e-10)
        assert container(p).logits is not None and container(q).probs is not None


def test_geometric_counts_failures(jax, numpyro) -> None:
    """numpyro's Geometric is the number of failures before the first success, as ours."""
    d = numpyro.Geometric(probs=jax.numpy.asarray(0.3))
    np.testing.assert_allclose(d.log_prob(0), math.log(0.3), rtol=1e-14)
    np.testing.assert_allclose(d.mean, 0.7 / 0.3, rtol=1e-14)


def _mvn_reference(loc_p, cov_p, loc_q, cov_q) -> np.ndarray:
    return np.asarray(
        D.kl(
            D.MultivariateNormal(np.asarray(loc_p), covariance_matrix=np.asarray(cov_p)),
            D.MultivariateNormal(np.asarray(loc_q), covariance_matrix=np.asarray(cov_q)),
        )
    )


def _spd(rng: Any, d: int = 4) -> np.ndarray:
    a = rng.normal(size=(N, d, d))
    return a @ np.swapaxes(a, -1, -2) + d * np.eye(d)


def test_numpyro_multivariate_normal_forms(jax, numpyro) -> None:
    jnp = jax.numpy
    rng = np.random.default_rng(10)
    loc_p, loc_q = rng.normal(size=(2, N, 4))
    cov_p, cov_q = _spd(rng), _spd(rng)
    expected = _mvn_reference(loc_p, cov_p, loc_q, cov_q)
    q = numpyro.MultivariateNormal(jnp.asarray(loc_q), covariance_matrix=jnp.asarray(cov_q))
    for p in (
        numpyro.MultivariateNormal(jnp.asarray(loc_p), covariance_matrix=jnp.asarray(cov_p)),
        numpyro.MultivariateNormal(jnp.asarray(loc_p), precision_matrix=jnp.linalg.inv(cov_p)),
        numpyro.MultivariateNormal(jnp.asarray(loc_p), scale_tril=np.linalg.cholesky(cov_p)),
    ):
        got = D.kl(p, q)
        assert isinstance(got, jax.Array) and got.shape == (N,)
        np.testing.assert_allclose(got, expected, rtol=1e-10)
        np.testing.assert_allclose(got, numpyro.kl_divergence(p, q), rtol=1e-10)
    # A loc broadcast against a batch of covariances, and the low-rank form.
    p = numpyro.MultivariateNormal(jnp.zeros(4), covariance_matrix=jnp.asarray(cov_p))
    np.testing.assert_allclose(
        D.kl(p, q), _mvn_reference(np.zeros((N, 4)), cov_p, loc_q, cov_q), rtol=1e-10
    )
    w, diag = rng.normal(size=(N, 4, 2)), rng.uniform(0.5, 2, (N, 4))
    low = numpyro.LowRankMultivariateNormal(jnp.asarray(loc_p), jnp.asarray(w), jnp.asarray(diag))
    cov_low = w @ np.swapaxes(w, -1, -2) + diag[..., None] * np.eye(4)
    np.testing.assert_allclose(
        D.kl(low, q), _mvn_reference(loc_p, cov_low, loc_q, cov_q), rtol=1e-10
    )
    assert type(container(low)) is D.LowRankMultivariateNormal


def test_distrax_multivariate_normal_forms(jax, distrax) -> None:
    jnp = jax.numpy
    rng = np.random.default_rng(11)
    loc_p, loc_q = rng.normal(size=(2, N, 4))
    cov_q = _spd(rng)
    q = distrax.MultivariateNormalFullCovariance(jnp.asarray(loc_q), jnp.asarray(cov_q))
    diag = rng.uniform(0.5, 2, (N, 4))
    upper = np.triu(rng.normal(size=(N, 4, 4)) * 0.3, 1) + np.eye(4) * rng.uniform(
        0.5, 1.5, (N, 1, 4)
    )
    u, v = rng.normal(size=(2, N, 4, 2)) * 0.3
    scale_dlr = diag[..., None] * np.eye(4) + u @ np.swapaxes(v, -1, -2)
    cov_full = _spd(rng)
    cases = {
        "Diag": (
            distrax.MultivariateNormalDiag(jnp.asarray(loc_p), jnp.asarray(diag)),
            diag[..., None] ** 2 * np.eye(4),
        ),
        "Tri upper": (
            distrax.MultivariateNormalTri(jnp.asarray(loc_p), jnp.asarray(upper), is_lower=False),
            upper @ np.swapaxes(upper, -1, -2),
        ),
        "FullCovariance": (
            distrax.MultivariateNormalFullCovariance(jnp.asarray(loc_p), jnp.asarray(cov_full)),
            cov_full,
        ),
        "DiagPlusLowRank": (
            distrax.MultivariateNormalDiagPlusLowRank(
                jnp.asarray(loc_p), jnp.asarray(diag), jnp.asarray(u), jnp.asarray(v)
            ),
            scale_dlr @ np.swapaxes(scale_dlr, -1, -2),
        ),
    }
    for label, (p, cov_p) in cases.items():
        assert type(container(p)) is D.MultivariateNormal, label
        got = D.kl(p, q)
        assert isinstance(got, jax.Array) and got.shape == (N,), label
        np.testing.assert_allclose(got, _mvn_reference(loc_p, cov_p, loc_q, cov_q), rtol=1e-10,
                                   err_msg=label)  # fmt: skip
        np.testing.assert_allclose(got, p.kl_divergence(q), rtol=1e-10, err_msg=label)
        np.testing.assert_allclose(D.kl(q, p), q.kl_divergence(p), rtol=1e-10, err_msg=label)


def test_independent_and_to_event(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    rng = np.random.default_rng(12)
    loc, scale = (
        jnp.asarray(rng.normal(size=(2, 3, 5))),
        jnp.asarray(rng.uniform(0.5, 2, (2, 3, 5))),
    )
    loc2 = loc + 0.5
    # numpyro: to_event(n) and Independent(base, n); distrax: Independent (n=None: all but
    # the first batch axis).
    for p, q, n in [
        (numpyro.Normal(loc, scale).to_event(1), numpyro.Normal(loc2, scale).to_event(1), 1),
        (numpyro.Independent(numpyro.Normal(loc, scale), 2),
         numpyro.Normal(loc2, scale).to_event(2), 2),
        (distrax.Independent(distrax.Normal(loc, scale), 1),
         distrax.Independent(distrax.Normal(loc2, scale), 1), 1),
        (distrax.Independent(distrax.Normal(loc, scale)),
         distrax.Independent(distrax.Normal(loc2, scale)), 2),
    ]:  # fmt: skip
        c = container(p)
        assert type(c) is D.Independent and c.reinterpreted_batch_ndims == n
        assert type(c.base_dist) is D.Normal
        got = D.kl(p, q)
        assert got.shape == p.batch_shape == (2, 3, 5)[: 3 - n]
        expected = np.sum(
            D.kl(
                D.Normal(np.asarray(loc), np.asarray(scale)),
                D.Normal(np.asarray(loc2), np.asarray(scale)),
            ),
            axis=tuple(range(-n, 0)),
        )
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        np.testing.assert_allclose(D.entropy(p), p.entropy(), rtol=1e-12)
    # An Independent of a family we lack: not read.
    assert container(numpyro.StudentT(3.0, loc, scale).to_event(1)) is None


def test_mixture_same_family_converts(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    rng = np.random.default_rng(13)
    w = jax.nn.softmax(jnp.asarray(rng.normal(size=(N, 3))))
    logits = jnp.asarray(rng.normal(size=(N, 3)))
    loc, scale = jnp.asarray(rng.normal(size=(N, 3))), jnp.asarray(rng.uniform(0.5, 2, (N, 3)))
    m_np = numpyro.MixtureSameFamily(numpyro.Categorical(probs=w), numpyro.Normal(loc, scale))
    m_dx = distrax.MixtureSameFamily(distrax.Categorical(logits=logits), distrax.Normal(loc, scale))
    c = container(m_np)
    assert type(c) is D.MixtureSameFamily
    assert type(c.mixture_distribution) is D.Categorical
    assert c.mixture_distribution.logits is None
    np.testing.assert_array_equal(c.mixture_distribution.probs, w)
    assert type(c.component_distribution) is D.Normal
    np.testing.assert_array_equal(c.component_distribution.loc, loc)
    np.testing.assert_array_equal(c.component_distribution.scale, scale)
    c = container(m_dx)
    assert type(c) is D.MixtureSameFamily
    assert c.mixture_distribution.probs is None
    # distrax keeps its logits normalised (log-softmax): the same distribution.
    np.testing.assert_allclose(
        c.mixture_distribution.logits, jax.nn.log_softmax(logits), rtol=1e-14
    )
    np.testing.assert_array_equal(c.component_distribution.scale, scale)
    # Multivariate components, with an Independent.
    mv = numpyro.MixtureSameFamily(
        numpyro.CategoricalLogits(logits),
        numpyro.Normal(jnp.zeros((N, 3, 2)), 1.0).to_event(1),
    )
    c = container(mv)
    assert type(c.component_distribution) is D.Independent
    assert c.component_distribution.base_dist.loc.shape == (N, 3, 2)
    # Components we cannot read: no container.
    bad = numpyro.MixtureSameFamily(numpyro.Categorical(probs=w), numpyro.StudentT(3.0, loc))
    assert container(bad) is None
    # No closed form between mixtures: the error names both types.
    for p in (m_np, m_dx):
        name = f"{type(p).__module__}.{type(p).__qualname__}"
        with pytest.raises(NotImplementedError, match=rf"p: {name} and q: {name}"):
            D.kl(p, p)
