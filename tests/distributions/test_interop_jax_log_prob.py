"""The parameterisations of distrax and numpyro objects, pinned by their densities.

Each library's ``log_prob`` under the parameters we read against SciPy's density
under the same names (a rate read as a scale, or trials read as failures, would
fail); their mixtures: our ``log_prob`` equal to theirs and the Monte Carlo KL
against numerical integration.

distrax 0.1.9 needs ``tfp-nightly``, which replaces the ``tensorflow-probability``
release of the main environment: these tests run in ``nox -s jax_distributions``
(``KL_BACKENDS_REQUIRE=distrax,numpyro`` makes a missing library an error there)
and skip elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

# The fixtures jax, distrax and numpyro (requested by name).
from _interop_jax_fixtures import distrax_module, jax_module, numpyro_module  # noqa: F401
from _interop_jax_refs import BUILD, N, jax_params, library_module
from scipy import stats

import kl_backends.distributions as D
from _families import FAMILIES, element

# --- the parameterisations, against the libraries' densities -------------------------------

# SciPy's distribution for a family not in tests/_families.py's table.
_SCIPY_EXTRA = {"VonMises": lambda d: stats.vonmises(d["concentration"], loc=d["loc"])}
UNIVARIATE = [
    pytest.param(lib, name, id=f"{lib}-{name}")
    for lib, table in BUILD.items()
    for name in sorted(table)
    if FAMILIES[name].event == 0 and (FAMILIES[name].scipy or name in _SCIPY_EXTRA)
]


@pytest.mark.parametrize(("lib", "name"), UNIVARIATE)
def test_log_prob_matches_scipy(request, jax, lib: str, name: str) -> None:
    """The library's density under the parameters we read = SciPy's under the same names.

    With the KL against the library's own (where it has the pair), this pins the
    meaning of each parameter: a rate read as a scale, or trials read as failures,
    would fail here.
    """
    mod = library_module(request, lib)
    fam = FAMILIES[name]
    params = fam.gen(np.random.default_rng(7), N)
    d = BUILD[lib][name](mod, jax_params(jax, params, "float64"))
    scipy_of = _SCIPY_EXTRA.get(name, fam.scipy)
    # Points in the support of each batch element (column i for element i).
    refs = [scipy_of(element(params, i)) for i in range(N)]
    if fam.discrete:
        xs = np.broadcast_to(np.arange(min(3.0, fam.discrete))[:, None], (min(3, fam.discrete), N))
        expected = np.stack([ref.logpmf(xs[:, i]) for i, ref in enumerate(refs)], axis=1)
    else:
        xs = np.stack([ref.ppf([0.2, 0.5, 0.8]) for ref in refs], axis=1)
        if name == "VonMises":  # into numpyro's support [-pi, pi) (SciPy's is periodic)
            xs = (xs + np.pi) % (2 * np.pi) - np.pi
        expected = np.stack([ref.logpdf(xs[:, i]) for i, ref in enumerate(refs)], axis=1)
    got = d.log_prob(jax.numpy.asarray(xs))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_multivariate_log_prob_matches_scipy(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    for name in ("Dirichlet", "MultivariateNormal", "LowRankMultivariateNormal"):
        params = FAMILIES[name].gen(np.random.default_rng(8), N)
        for lib, mod in (("distrax", distrax), ("numpyro", numpyro)):
            if name not in BUILD[lib]:
                continue
            d = BUILD[lib][name](mod, jax_params(jax, params, "float64"))
            for i in range(N):
                e = element(params, i)
                if name == "Dirichlet":
                    ref = stats.dirichlet(e["concentration"])
                    x = ref.mean()
                else:
                    cov = (
                        e["scale_tril"] @ e["scale_tril"].T
                        if "scale_tril" in e
                        else e["cov_factor"] @ e["cov_factor"].T + np.diag(e["cov_diag"])
                    )
                    ref = stats.multivariate_normal(e["loc"], cov)
                    x = e["loc"] + 0.3
                got = d.log_prob(jnp.broadcast_to(jnp.asarray(x), (N, len(x))))[i]
                np.testing.assert_allclose(got, ref.logpdf(x), rtol=1e-10, err_msg=(lib, name))


def test_monte_carlo_kl_and_log_prob_of_their_mixtures(jax, distrax, numpyro) -> None:
    """distrax / numpyro mixtures: kl_backends' log_prob equals theirs, the Monte Carlo KL
    agrees with numerical integration (SciPy), in JAX."""
    from scipy import integrate, stats

    jnp = jax.numpy
    nd = numpyro  # the fixture is numpyro.distributions
    w = np.exp([0.1, -0.3]) / np.exp([0.1, -0.3]).sum()

    def f(x: float) -> float:
        px = w[0] * stats.norm.pdf(x, -1, 0.5) + w[1] * stats.norm.pdf(x, 2, 1)
        return px * (np.log(px) - stats.norm.logpdf(x, 1, 2)) if px > 1e-300 else 0.0

    exact = integrate.quad(f, -30, 30, epsabs=1e-13, limit=400)[0]
    logits, locs, scales = (
        jnp.asarray([0.1, -0.3]),
        jnp.asarray([-1.0, 2.0]),
        jnp.asarray([0.5, 1.0]),
    )
    mixtures = [
        (
            distrax.MixtureSameFamily(
                distrax.Categorical(logits=logits), distrax.Normal(locs, scales)
            ),
            distrax.Normal(jnp.asarray(1.0), jnp.asarray(2.0)),
        ),
        (
            nd.MixtureSameFamily(nd.Categorical(logits=logits), nd.Normal(locs, scales)),
            nd.Normal(jnp.asarray(1.0), jnp.asarray(2.0)),
        ),
    ]
    x = jnp.linspace(-4.0, 4.0, 9)
    for p, q in mixtures:
        np.testing.assert_allclose(D.log_prob(p, x), p.log_prob(x), rtol=1e-12)
        r = D.monte_carlo_kl(p, q, num_samples=20_000, seed=jax.random.key(0))
        assert isinstance(r.estimate, jax.Array)
        assert abs(float(r.estimate) - exact) < 5 * float(r.standard_error)
