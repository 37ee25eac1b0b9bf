"""``monte_carlo_kl`` on every backend and on the frameworks' own objects.

Every backend in float32 and float64 (result on the input's backend and dtype,
within 5 standard errors, reproducible from the seed); the frameworks' generators
and keys as seeds; under ``jax.jit`` and ``tf.function``; torch.distributions and
TFP mixtures read, and an unsupported family of theirs named in the error.

Every random test uses fixed seeds: the outcomes are deterministic, and the
tolerances (5 standard errors) are wide enough that a correct implementation
passes for any seed while a bias of a few percent fails.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from _monte_carlo_refs import mixture, mixture_pdf, quad_kl
from scipy import stats

import kl_backends.distributions as D
from conftest import need
from kl_backends._dispatch import backend_of

# --- every backend -----------------------------------------------------------------------

BACKEND_CASES = {
    "Normal": (lambda a: D.Normal(a(np.array([0.0, 0.5])), a(np.array([1.0, 2.0]))),
               lambda a: D.Normal(a(np.array([1.0, 0.0])), a(np.array([2.0, 1.5])))),
    "Gamma": (lambda a: D.Gamma(a(np.array([2.0, 0.7])), a(np.array([1.0, 2.0]))),
              lambda a: D.Gamma(a(np.array([3.0, 1.0])), a(np.array([2.0, 1.0])))),
    "Beta": (lambda a: D.Beta(a(np.array([2.0, 0.8])), a(np.array([3.0, 1.5]))),
             lambda a: D.Beta(a(np.array([1.0, 2.0])), a(np.array([1.0, 2.0])))),
    "Dirichlet": (lambda a: D.Dirichlet(a(np.array([[1.0, 2.0, 3.0]]))),
                  lambda a: D.Dirichlet(a(np.array([[2.0, 2.0, 2.0]])))),
    "Poisson": (lambda a: D.Poisson(a(np.array([1.0, 4.0]))),
                lambda a: D.Poisson(a(np.array([2.0, 3.0])))),
    "Binomial": (lambda a: D.Binomial(a(np.array([5.0, 10.0])), probs=a(np.array([0.3, 0.6]))),
                 lambda a: D.Binomial(a(np.array([5.0, 10.0])), probs=a(np.array([0.5, 0.5])))),
    "Geometric": (lambda a: D.Geometric(probs=a(np.array([0.3, 0.6]))),
                  lambda a: D.Geometric(probs=a(np.array([0.5, 0.2])))),
    "Bernoulli": (lambda a: D.Bernoulli(logits=a(np.array([0.3, -2.0]))),
                  lambda a: D.Bernoulli(logits=a(np.array([0.0, 1.0])))),
    "Categorical": (lambda a: D.Categorical(probs=a(np.array([[0.2, 0.3, 0.5]]))),
                    lambda a: D.Categorical(probs=a(np.array([[0.4, 0.4, 0.2]])))),
    "MultivariateNormal": (
        lambda a: D.MultivariateNormal(a(np.array([0.0, 1.0])), scale_tril=a(np.array([[1.0, 0.0], [0.5, 2.0]]))),
        lambda a: D.MultivariateNormal(a(np.array([1.0, 0.0])), scale_tril=a(np.array([[2.0, 0.0], [0.0, 1.0]])))),
}  # fmt: skip


@functools.cache  # the oracle does not depend on the backend or dtype: computed once
def _closed_form_or_quad(name: str):
    if name == "Mixture":
        return np.array(
            quad_kl(mixture_pdf((0.1, -0.3), (-1, 2), (0.5, 1)), stats.norm(1, 2).logpdf)
        )
    p, q = BACKEND_CASES[name]
    return np.asarray(D.kl(p(np.asarray), q(np.asarray)), dtype=float)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_backend(backend, dtype: str) -> None:
    conv = lambda a: backend.asarray(a, dtype)  # noqa: E731
    for name in [*BACKEND_CASES, "Mixture"]:
        if name == "Mixture":
            p, q = mixture(conv), D.Normal(conv(np.array(1.0)), conv(np.array(2.0)))
        else:
            p, q = (f(conv) for f in BACKEND_CASES[name])
        r = D.monte_carlo_kl(p, q, num_samples=20_000, seed=2)
        assert backend_of(r.estimate).name == backend.name, name
        assert backend.impl.dtype_name(r.estimate) == dtype, name
        got, se = backend.to_numpy(r.estimate), backend.to_numpy(r.standard_error)
        exact = _closed_form_or_quad(name)
        slack = 1e-4 * np.abs(exact) if dtype == "float32" else 0.0
        assert np.all(np.abs(got - exact) <= 5 * se + slack + 1e-12), (name, got, exact, se)
        # reproducible from the seed, and another seed gives other samples (as many as
        # the estimate drew: the shapes JAX has already compiled its operations for)
        once = backend.to_numpy(D.sample(p, 20_000, seed=2))
        np.testing.assert_array_equal(backend.to_numpy(D.sample(p, 20_000, seed=2)), once)
        assert not np.array_equal(backend.to_numpy(D.sample(p, 20_000, seed=3)), once), name


def test_framework_generators_are_accepted() -> None:
    p, q = D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)
    a = D.monte_carlo_kl(p, q, num_samples=1000, seed=np.random.default_rng(5))
    b = D.monte_carlo_kl(p, q, num_samples=1000, seed=5)
    assert float(a.estimate) == float(b.estimate)
    torch = need("torch")
    tp, tq = D.Normal(torch.tensor(0.0), 1.0), D.Normal(torch.tensor(1.0), 2.0)
    g = torch.Generator().manual_seed(5)
    assert float(D.monte_carlo_kl(tp, tq, num_samples=1000, seed=g).estimate) == float(
        D.monte_carlo_kl(tp, tq, num_samples=1000, seed=5).estimate
    )
    jax = need("jax")
    jp = D.Normal(jax.numpy.asarray(0.0), 1.0)
    for key in (jax.random.key(5), jax.random.PRNGKey(5)):
        assert float(D.monte_carlo_kl(jp, q, num_samples=1000, seed=key).estimate) == float(
            D.monte_carlo_kl(jp, q, num_samples=1000, seed=5).estimate
        )
    tf = need("tensorflow")
    fp = D.Normal(tf.constant(0.0), 1.0)
    assert float(D.monte_carlo_kl(fp, q, num_samples=1000, seed=tf.constant([5, 0])).estimate) == (
        float(D.monte_carlo_kl(fp, q, num_samples=1000, seed=5).estimate)
    )
    with pytest.raises(TypeError, match="shape \\[2\\]"):
        D.monte_carlo_kl(fp, q, seed=tf.constant([1, 2, 3]))


def test_under_jit_and_tf_function() -> None:
    jax = need("jax")
    jnp = jax.numpy

    @jax.jit
    def f(loc, key):
        return D.monte_carlo_kl(
            D.Normal(loc, 1.0), D.Normal(1.0, 2.0), num_samples=20_000, seed=key
        )

    r = f(jnp.asarray([0.0, 0.5]), jax.random.key(0))
    exact = np.asarray(D.kl(D.Normal(np.array([0.0, 0.5]), 1.0), D.Normal(1.0, 2.0)))
    assert np.all(np.abs(np.asarray(r.estimate) - exact) < 5 * np.asarray(r.standard_error))
    tf = need("tensorflow")

    @tf.function
    def g(loc, seed):
        r = D.monte_carlo_kl(mixture(lambda a: tf.constant(a, tf.float64)), D.Normal(loc, 2.0),
                             num_samples=20_000, seed=seed)  # fmt: skip
        return r.estimate, r.standard_error

    est, se = g(tf.constant(1.0, tf.float64), tf.constant([3, 4], tf.int64))
    kl = _closed_form_or_quad("Mixture")
    assert abs(float(est) - kl) < 5 * float(se)


# --- the frameworks' own distribution objects ------------------------------------------------


def test_torch_and_tfp_mixtures_are_read() -> None:
    torch = need("torch")
    T = torch.distributions
    tmix = T.MixtureSameFamily(
        T.Categorical(logits=torch.tensor([0.1, -0.3], dtype=torch.float64)),
        T.Normal(torch.tensor([-1.0, 2.0], dtype=torch.float64), torch.tensor([0.5, 1.0], dtype=torch.float64)),
    )  # fmt: skip
    q = T.Normal(torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    r = D.monte_carlo_kl(tmix, q, num_samples=20_000, seed=4)
    assert isinstance(r.estimate, torch.Tensor) and r.estimate.dtype == torch.float64
    kl = _closed_form_or_quad("Mixture")
    assert abs(float(r.estimate) - kl) < 5 * float(r.standard_error)
    x = torch.linspace(-4, 4, 9, dtype=torch.float64)
    np.testing.assert_allclose(D.log_prob(tmix, x), tmix.log_prob(x), rtol=1e-12)
    tfp = need("tensorflow_probability")
    tfd = tfp.distributions
    fmix = tfd.MixtureSameFamily(
        tfd.Categorical(logits=np.array([0.1, -0.3])),
        tfd.Normal(np.array([-1.0, 2.0]), np.array([0.5, 1.0])),
    )
    r = D.monte_carlo_kl(
        fmix, tfd.Normal(np.float64(1.0), np.float64(2.0)), num_samples=20_000, seed=4
    )
    assert abs(float(r.estimate) - kl) < 5 * float(r.standard_error)
    np.testing.assert_allclose(D.log_prob(fmix, x.numpy()), fmix.log_prob(x.numpy()), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="MixtureSameFamily"):
        D.kl(tmix, q)  # no closed form: the message names the types


def test_an_unsupported_family_of_a_framework_is_named() -> None:
    """A torch.distributions family without a sampler here: the message says so, not 'type'."""
    torch = need("torch")
    T = torch.distributions
    t, n = T.StudentT(torch.tensor(3.0)), T.Normal(torch.tensor(0.0), torch.tensor(1.0))
    for p, q, which in ((t, n, "p"), (n, t, "q")):
        with pytest.raises(NotImplementedError) as info:
            D.monte_carlo_kl(p, q, seed=0)
        msg = str(info.value)
        assert f"{which} is a torch.distributions.studentT.StudentT" in msg
        assert "family is not supported" in msg and "register_kl" in msg
        # every family with a sampler and a log-density is listed
        for name in ("Normal", "Gamma", "MixtureSameFamily", "Categorical", "Dirichlet"):
            assert name in msg
        assert "VonMises" not in msg  # no sampler
    tfp = need("tensorflow_probability")
    with pytest.raises(NotImplementedError, match="StudentT: its family is not supported"):
        D.monte_carlo_kl(tfp.distributions.StudentT(3.0, 0.0, 1.0), D.Normal(0.0, 1.0), seed=0)
