"""Shared by the distrax and numpyro tests (tests/distributions/test_interop_jax_*.py).

How each library builds the families of tests/_families.py; the pairs each library computes
itself; random parameters of a pair; our closed form on NumPy float64 containers.

distrax 0.1.9 needs ``tfp-nightly``, which replaces the ``tensorflow-probability``
release of the main environment: these tests run in ``nox -s jax_distributions``
(``KL_BACKENDS_REQUIRE=distrax,numpyro`` makes a missing library an error there)
and skip elsewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import kl_backends.distributions as D
from _families import FAMILIES, pairs

N = 4


def as_int(x: Any) -> Any:
    return np.asarray(x).astype(np.int64)


# How each library builds the families of tests/_families.py from the same parameters
# (``m``: the module, ``d``: the parameters as JAX arrays).
DISTRAX: dict[str, Any] = {
    "Normal": lambda m, d: m.Normal(d["loc"], d["scale"]),
    "Laplace": lambda m, d: m.Laplace(d["loc"], d["scale"]),
    "Gumbel": lambda m, d: m.Gumbel(d["loc"], d["scale"]),
    "Uniform": lambda m, d: m.Uniform(d["low"], d["high"]),
    "Gamma": lambda m, d: m.Gamma(d["concentration"], d["rate"]),
    "Beta": lambda m, d: m.Beta(alpha=d["concentration1"], beta=d["concentration0"]),
    "VonMises": lambda m, d: m.VonMises(d["loc"], d["concentration"]),
    "Dirichlet": lambda m, d: m.Dirichlet(d["concentration"]),
    "Bernoulli": lambda m, d: m.Bernoulli(probs=d["probs"]),
    "Categorical": lambda m, d: m.Categorical(probs=d["probs"]),
    "OneHotCategorical": lambda m, d: m.OneHotCategorical(logits=d["logits"]),
    "MultivariateNormal": lambda m, d: m.MultivariateNormalTri(d["loc"], d["scale_tril"]),
    "Independent": lambda m, d: m.Independent(m.Normal(d["loc"], d["scale"]), 1),
}
NUMPYRO: dict[str, Any] = {
    "Normal": lambda m, d: m.Normal(d["loc"], d["scale"]),
    "LogNormal": lambda m, d: m.LogNormal(d["loc"], d["scale"]),
    "HalfNormal": lambda m, d: m.HalfNormal(d["scale"]),
    "Laplace": lambda m, d: m.Laplace(d["loc"], d["scale"]),
    "Gumbel": lambda m, d: m.Gumbel(d["loc"], d["scale"]),
    "Cauchy": lambda m, d: m.Cauchy(d["loc"], d["scale"]),
    "Uniform": lambda m, d: m.Uniform(d["low"], d["high"]),
    "Exponential": lambda m, d: m.Exponential(d["rate"]),
    "Gamma": lambda m, d: m.Gamma(d["concentration"], d["rate"]),
    "Chi2": lambda m, d: m.Chi2(d["df"]),
    "InverseGamma": lambda m, d: m.InverseGamma(d["concentration"], d["rate"]),
    "Beta": lambda m, d: m.Beta(d["concentration1"], d["concentration0"]),
    "Pareto": lambda m, d: m.Pareto(d["scale"], d["alpha"]),
    "Weibull": lambda m, d: m.Weibull(d["scale"], d["concentration"]),
    "VonMises": lambda m, d: m.VonMises(d["loc"], d["concentration"]),
    "Poisson": lambda m, d: m.Poisson(d["rate"]),
    "Bernoulli": lambda m, d: m.Bernoulli(probs=d["probs"]),
    "Binomial": lambda m, d: m.Binomial(as_int(d["total_count"]), probs=d["probs"]),
    "Geometric": lambda m, d: m.Geometric(probs=d["probs"]),
    "Categorical": lambda m, d: m.Categorical(probs=d["probs"]),
    "Dirichlet": lambda m, d: m.Dirichlet(d["concentration"]),
    "MultivariateNormal": lambda m, d: m.MultivariateNormal(d["loc"], scale_tril=d["scale_tril"]),
    "LowRankMultivariateNormal": lambda m, d: m.LowRankMultivariateNormal(
        d["loc"], d["cov_factor"], d["cov_diag"]
    ),
    "Independent": lambda m, d: m.Normal(d["loc"], d["scale"]).to_event(1),
}
BUILD = {"distrax": DISTRAX, "numpyro": NUMPYRO}

# The pairs each library computes itself (the others: our closed forms only).
_SAME_DISTRAX = (
    "Bernoulli", "Beta", "Categorical", "Dirichlet", "Gamma", "Gumbel", "Independent", "Laplace",
    "MultivariateNormal", "Normal", "OneHotCategorical", "Uniform", "VonMises",
)  # fmt: skip
_SAME_NUMPYRO = ("Beta", "Categorical", "Chi2", "Dirichlet", "Gamma", "Independent",
                 "MultivariateNormal", "Normal")  # fmt: skip
IN_LIBRARY: dict[str, set[tuple[str, str]]] = {
    "distrax": {(a, a) for a in _SAME_DISTRAX},
    "numpyro": {(a, a) for a in _SAME_NUMPYRO}
    | {("Chi2", "Gamma"), ("Gamma", "Chi2"), ("Weibull", "Gamma")},
}

CASES = [
    pytest.param(lib, a, b, id=f"{lib}-{a}-{b}")
    for lib, table in BUILD.items()
    for a, b in pairs()
    if a in table and b in table
]


def pair_params(pname: str, qname: str, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng([seed, *map(ord, pname + qname)])
    pp, qq = FAMILIES[pname].gen(rng, N), FAMILIES[qname].gen(rng, N)
    if qname == "Uniform" and pname == "Beta":
        # q must cover [0, 1]: the exact cover, wider ones, and one that does not.
        qq = {"low": np.array([0.0, -0.3, -1.0, 0.1]), "high": np.array([1.0, 1.2, 1.0, 2.0])}
    if pname == "Uniform" and qname == "Beta":
        pp["low"][0], pp["high"][0] = 0.0, 1.0  # the whole of [0, 1]
    return pp, qq


def jax_params(jax: Any, params: dict, dtype: str) -> dict:
    jnp = jax.numpy
    # total_count stays float64 (ours takes any real; the builders make it an integer).
    return {
        k: jnp.asarray(v, "float64" if k == "total_count" else dtype) for k, v in params.items()
    }


def ours_kl(pname: str, qname: str, pp: dict, qq: dict) -> np.ndarray:
    """Our closed form on NumPy float64 containers."""
    return np.asarray(D.kl(FAMILIES[pname].ours(pp), FAMILIES[qname].ours(qq)))


def library_kl(lib: str, mod: Any, p: Any, q: Any) -> Any:
    if lib == "distrax":
        return p.kl_divergence(q)
    return mod.kl_divergence(p, q)


def assert_kl(got: Any, expected: Any, rtol: float, atol: float = 0.0) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=atol)


def library_module(request: pytest.FixtureRequest, lib: str) -> Any:
    return request.getfixturevalue(lib)


def container(obj: Any) -> Any:
    from kl_backends.distributions._interop import to_container

    return to_container(obj)
