"""distrax and numpyro objects in ``kl_backends.distributions.kl``, ``entropy``, ``cross_entropy``.

The readers in ``kl_backends/distributions/_readers/`` (distrax.py, numpyro.py) read them into
containers; the closed forms then compute in JAX.  Checked on random batches of
every registered pair whose two families the library offers:

* float64: equal to the library's own KL (``distrax.kl_divergence`` /
  ``numpyro.distributions.kl_divergence``, rtol 1e-10) where it has the pair, and
  always to our NumPy float64 containers on the same parameters (rtol 1e-12);
* the parameterisations (names, rate or scale, failures or trials) against each
  library's ``log_prob`` and SciPy's densities;
* a JAX array of the parameters' dtype (float32 too), under ``jax.jit`` and with
  ``jax.grad`` equal to our containers' gradients;
* ``Independent`` / ``to_event``, the multivariate normals' forms, mixtures
  (converted; no closed-form KL), unsupported pairs and user subclasses.

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
from scipy import stats

import kl_backends.distributions as D
from _families import FAMILIES, element, pairs
from conftest import need, need_optional

N = 4


@pytest.fixture(scope="module")
def jax() -> Any:
    return need("jax")


@pytest.fixture(scope="module")
def distrax(jax) -> Any:
    return need_optional("distrax")


@pytest.fixture(scope="module")
def numpyro(jax) -> Any:
    return need_optional("numpyro.distributions")


def _int(x: Any) -> Any:
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
    "Binomial": lambda m, d: m.Binomial(_int(d["total_count"]), probs=d["probs"]),
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


def _params(pname: str, qname: str, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng([seed, *map(ord, pname + qname)])
    pp, qq = FAMILIES[pname].gen(rng, N), FAMILIES[qname].gen(rng, N)
    if qname == "Uniform" and pname == "Beta":
        # q must cover [0, 1]: the exact cover, wider ones, and one that does not.
        qq = {"low": np.array([0.0, -0.3, -1.0, 0.1]), "high": np.array([1.0, 1.2, 1.0, 2.0])}
    if pname == "Uniform" and qname == "Beta":
        pp["low"][0], pp["high"][0] = 0.0, 1.0  # the whole of [0, 1]
    return pp, qq


def _jax_params(jax: Any, params: dict, dtype: str) -> dict:
    jnp = jax.numpy
    # total_count stays float64 (ours takes any real; the builders make it an integer).
    return {
        k: jnp.asarray(v, "float64" if k == "total_count" else dtype) for k, v in params.items()
    }


def _ours(pname: str, qname: str, pp: dict, qq: dict) -> np.ndarray:
    """Our closed form on NumPy float64 containers."""
    return np.asarray(D.kl(FAMILIES[pname].ours(pp), FAMILIES[qname].ours(qq)))


def _library_kl(lib: str, mod: Any, p: Any, q: Any) -> Any:
    if lib == "distrax":
        return p.kl_divergence(q)
    return mod.kl_divergence(p, q)


def _assert_kl(got: Any, expected: Any, rtol: float, atol: float = 0.0) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=atol)


def _module(request: pytest.FixtureRequest, lib: str) -> Any:
    return request.getfixturevalue(lib)


# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(("lib", "pname", "qname"), CASES)
def test_pair_float64(request, jax, lib: str, pname: str, qname: str) -> None:
    mod = _module(request, lib)
    pp, qq = _params(pname, qname, seed=4)
    p = BUILD[lib][pname](mod, _jax_params(jax, pp, "float64"))
    q = BUILD[lib][qname](mod, _jax_params(jax, qq, "float64"))
    got = D.kl(p, q)
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float64
    assert got.shape == (N,)
    # atol: JAX's lgamma and digamma differ from SciPy's by a few ulps.
    _assert_kl(got, _ours(pname, qname, pp, qq), rtol=1e-12, atol=1e-14)
    try:
        expected = _library_kl(lib, mod, p, q)
    except NotImplementedError:
        assert (pname, qname) not in IN_LIBRARY[lib]
        return
    assert (pname, qname) in IN_LIBRARY[lib]
    _assert_kl(got, expected, rtol=1e-10, atol=1e-13)


def _round(params: dict, dtype: str) -> dict:
    return {k: np.asarray(v, dtype).astype(np.float64) for k, v in params.items()}


@pytest.mark.parametrize(("lib", "pname", "qname"), CASES)
def test_pair_float32(request, jax, lib: str, pname: str, qname: str) -> None:
    mod = _module(request, lib)
    pp, qq = _params(pname, qname, seed=5)
    p = BUILD[lib][pname](mod, _jax_params(jax, pp, "float32"))
    q = BUILD[lib][qname](mod, _jax_params(jax, qq, "float32"))
    got = D.kl(p, q)
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float32
    # The reference: float64 on the float32 values.
    expected = _ours(pname, qname, _round(pp, "float32"), _round(qq, "float32"))
    _assert_kl(got, expected, rtol=1e-4, atol=1e-6)


def _differentiable(params: dict) -> list[str]:
    return sorted(k for k in params if k != "total_count")


@pytest.mark.parametrize(("lib", "pname", "qname"), CASES)
def test_pair_jit_and_grad(request, jax, lib: str, pname: str, qname: str) -> None:
    """Under jax.jit, value and gradient equal our containers' (built from the same arrays)."""
    mod = _module(request, lib)
    jnp = jax.numpy
    pp, qq = _params(pname, qname, seed=6)
    kp, kq = _differentiable(pp), _differentiable(qq)
    jp, jq = _jax_params(jax, pp, "float64"), _jax_params(jax, qq, "float64")

    def total(build_p: Any, build_q: Any) -> Any:
        def f(xp: dict, xq: dict) -> Any:
            return jnp.sum(D.kl(build_p({**jp, **xp}), build_q({**jq, **xq})))

        return f

    args = ({k: jp[k] for k in kp}, {k: jq[k] for k in kq})
    lib_fn = total(lambda d: BUILD[lib][pname](mod, d), lambda d: BUILD[lib][qname](mod, d))
    ours_fn = total(FAMILIES[pname].ours, FAMILIES[qname].ours)
    value, grads = jax.jit(jax.value_and_grad(lib_fn, argnums=(0, 1)))(*args)
    value_ours, grads_ours = jax.value_and_grad(ours_fn, argnums=(0, 1))(*args)
    if not math.isfinite(value_ours):
        assert value == value_ours
        return
    np.testing.assert_allclose(value, value_ours, rtol=1e-12)
    for g, g_ours in zip(grads, grads_ours):
        for k in g:
            assert np.isfinite(g[k]).all(), (k, g[k])
            a, b = np.asarray(g[k]), np.asarray(g_ours[k])
            if k == "scale_tril":  # the libraries ignore (mask) the upper triangle
                a, b = np.tril(a), np.tril(b)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=k)


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
    mod = _module(request, lib)
    fam = FAMILIES[name]
    params = fam.gen(np.random.default_rng(7), N)
    d = BUILD[lib][name](mod, _jax_params(jax, params, "float64"))
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
            d = BUILD[lib][name](mod, _jax_params(jax, params, "float64"))
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


# --- the forms of each family ---------------------------------------------------------------


def _container(obj: Any) -> Any:
    from kl_backends.distributions._interop import to_container

    return to_container(obj)


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
        cp, cq = _container(p), _container(q)
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
        assert _container(p).logits is not None and _container(q).probs is not None


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
    assert type(_container(low)) is D.LowRankMultivariateNormal


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
        assert type(_container(p)) is D.MultivariateNormal, label
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
        c = _container(p)
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
    assert _container(numpyro.StudentT(3.0, loc, scale).to_event(1)) is None


def test_mixture_same_family_converts(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    rng = np.random.default_rng(13)
    w = jax.nn.softmax(jnp.asarray(rng.normal(size=(N, 3))))
    logits = jnp.asarray(rng.normal(size=(N, 3)))
    loc, scale = jnp.asarray(rng.normal(size=(N, 3))), jnp.asarray(rng.uniform(0.5, 2, (N, 3)))
    m_np = numpyro.MixtureSameFamily(numpyro.Categorical(probs=w), numpyro.Normal(loc, scale))
    m_dx = distrax.MixtureSameFamily(distrax.Categorical(logits=logits), distrax.Normal(loc, scale))
    c = _container(m_np)
    assert type(c) is D.MixtureSameFamily
    assert type(c.mixture_distribution) is D.Categorical
    assert c.mixture_distribution.logits is None
    np.testing.assert_array_equal(c.mixture_distribution.probs, w)
    assert type(c.component_distribution) is D.Normal
    np.testing.assert_array_equal(c.component_distribution.loc, loc)
    np.testing.assert_array_equal(c.component_distribution.scale, scale)
    c = _container(m_dx)
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
    c = _container(mv)
    assert type(c.component_distribution) is D.Independent
    assert c.component_distribution.base_dist.loc.shape == (N, 3, 2)
    # Components we cannot read: no container.
    bad = numpyro.MixtureSameFamily(numpyro.Categorical(probs=w), numpyro.StudentT(3.0, loc))
    assert _container(bad) is None
    # No closed form between mixtures: the error names both types.
    for p in (m_np, m_dx):
        name = f"{type(p).__module__}.{type(p).__qualname__}"
        with pytest.raises(NotImplementedError, match=rf"p: {name} and q: {name}"):
            D.kl(p, p)


# --- errors, subclasses, mixing, entropy ------------------------------------------------------


def test_unsupported_pairs_name_both_types(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    x = jnp.asarray([0.5, 2.0])
    cases = [
        (numpyro.StudentT(3.0, x), numpyro.Normal(x, 1.0), "StudentT", "Normal"),  # not read
        (numpyro.VonMises(x, 1.0), numpyro.Normal(x, 1.0), "VonMises", "Normal"),  # no pair
        (distrax.Logistic(x, 1.0), distrax.Normal(x, 1.0), "Logistic", "Normal"),
        (distrax.VonMises(x, 1.0), numpyro.Normal(x, 1.0), "VonMises", "Normal"),
    ]
    for p, q, a, b in cases:
        with pytest.raises(NotImplementedError) as info:
            D.kl(p, q)
        message = str(info.value)
        assert f"p: {type(p).__module__}.{a}" in message
        assert f"q: {type(q).__module__}.{b}" in message
    with pytest.raises(NotImplementedError, match=r"no closed-form entropy for numpyro\."):
        D.entropy(numpyro.StudentT(3.0, x))


def test_user_subclass_is_not_read(jax, distrax, numpyro) -> None:
    class MyNormal(numpyro.Normal):
        pass

    class MyDistraxNormal(distrax.Normal):
        pass

    x = jax.numpy.asarray([0.5, 2.0])
    for cls in (MyNormal, MyDistraxNormal):
        assert _container(cls(x, 1.0)) is None
        with pytest.raises(NotImplementedError, match=cls.__qualname__):
            D.kl(cls(x, 1.0), cls(x, 2.0))


def test_library_subclasses_read(jax, distrax, numpyro) -> None:
    jnp = jax.numpy
    c = _container(
        distrax.LogStddevNormal(jnp.asarray([0.0, 1.0]), jnp.log(jnp.asarray([1.0, 2.0])))
    )
    assert type(c) is D.Normal
    np.testing.assert_allclose(c.scale, [1.0, 2.0], rtol=1e-15)
    p = numpyro.BetaProportion(jnp.asarray([0.3, 0.6]), jnp.asarray([5.0, 10.0]))
    q = numpyro.Beta(2.0, 3.0)
    assert type(_container(p)) is D.Beta
    np.testing.assert_allclose(D.kl(p, q), numpyro.kl_divergence(p, q), rtol=1e-10)
    c = _container(numpyro.Chi2(jnp.asarray(3.0)))
    assert type(c) is D.Chi2


def test_numpy_and_python_parameters_give_jax(jax, distrax, numpyro) -> None:
    """The libraries keep NumPy arrays and Python numbers as given; the result is JAX."""
    pairs_ = [
        (numpyro.Normal(0.0, 1.0), numpyro.Normal(np.array([1.0, 2.0]), 2.0)),
        (distrax.Normal(np.array([0.0, 1.0]), np.array([1.0, 2.0])), distrax.Normal(1.0, 2.0)),
        (numpyro.Binomial(7, probs=np.array([0.3, 0.6])), numpyro.Binomial(7, probs=0.5)),
    ]
    for p, q in pairs_:
        got = D.kl(p, q)
        assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float64, (p, got)
    np.testing.assert_allclose(
        D.kl(*pairs_[2]),
        D.kl(D.Binomial(7.0, np.array([0.3, 0.6])), D.Binomial(7.0, 0.5)),
        rtol=1e-12,
    )


def test_libraries_mix(jax, distrax, numpyro) -> None:
    x = jax.numpy.asarray([0.5, 2.0])
    got = D.kl(numpyro.Normal(x, 1.0), distrax.Normal(1.0, x))
    np.testing.assert_allclose(
        got, numpyro.kl_divergence(numpyro.Normal(x, 1.0), numpyro.Normal(1.0, x))
    )


ENTROPY = [
    pytest.param(lib, name, id=f"{lib}-{name}")
    for lib, table in BUILD.items()
    for name in sorted(table)
    if name not in ("Poisson", "Binomial")
]


@pytest.mark.parametrize(("lib", "name"), ENTROPY)
def test_entropy_and_cross_entropy(request, jax, lib: str, name: str) -> None:
    mod = _module(request, lib)
    params = FAMILIES[name].gen(np.random.default_rng(14), N)
    d = BUILD[lib][name](mod, _jax_params(jax, params, "float64"))
    got = D.entropy(d)
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float64
    np.testing.assert_allclose(got, D.entropy(FAMILIES[name].ours(params)), rtol=1e-12, atol=1e-14)
    try:
        theirs = d.entropy()
    except NotImplementedError:
        pass
    else:
        np.testing.assert_allclose(got, theirs, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(D.cross_entropy(d, d), got, rtol=1e-12, atol=1e-14)


def test_import_reads_nothing(jax) -> None:
    """``import kl_backends`` and reading a non-distribution import no framework."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import kl_backends, kl_backends.distributions
        from kl_backends.distributions._interop import to_container
        assert to_container(object()) is None
        print(sorted(m for m in ("jax", "distrax", "numpyro", "tensorflow_probability")
                     if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_block(jax, distrax, numpyro) -> None:
    """README's distrax/numpyro block (skipped by test_docs.py) runs and says what it claims."""
    import re
    from pathlib import Path

    blocks = re.findall(
        r"```python\n(.*?)```", (Path(__file__).parents[2] / "README.md").read_text(), re.S
    )
    (code,) = [b for b in blocks if b.startswith("# needs: distrax, numpyro")]
    before = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", False)  # as in a fresh interpreter
    try:
        checked = 0
        namespace: dict = {}
        for line in code.splitlines():
            statement, sep, comment = line.partition("  # ")
            value = re.match(r"(\[[^\]]*\])", comment.strip()) if sep else None
            if value:
                got = eval(statement, namespace)
                assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float32, line
                np.testing.assert_allclose(got, eval(value.group(1)), atol=5e-5, err_msg=line)
                checked += 1
            else:
                exec(line, namespace)
    finally:
        jax.config.update("jax_enable_x64", before)
    assert checked == 3


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
