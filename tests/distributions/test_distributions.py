"""kl_backends.distributions: every registered pair, on every backend, against independent references.

* values: numerical integration / sums with SciPy's densities (``_families.reference``),
  torch.distributions and TFP (rtol 1e-10 in float64), on random batches;
* every backend in float32 and float64 (float32 within 1e-4 of float64 on the same inputs);
* exact zeros for identical distributions, documented infinities, torch's defects not copied;
* gradients finite at identical distributions and at the edges of the parameter domains.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

import kl_backends.distributions as D
from _families import FAMILIES, INFINITE, element, pairs, reference
from conftest import need
from kl_backends._dispatch import backend_of

PAIRS = pairs()
SAME = [(a, b) for a, b in PAIRS if a == b]
N = 4


def _params(pname: str, qname: str, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng([seed, *map(ord, pname + qname)])
    pp, qq = FAMILIES[pname].gen(rng, N), FAMILIES[qname].gen(rng, N)
    if qname == "Uniform" and pname in ("Beta", "ContinuousBernoulli"):
        # q must cover [0, 1]: the exact cover, wider ones, and one that does not.
        qq = {"low": np.array([0.0, -0.3, -1.0, 0.1]), "high": np.array([1.0, 1.2, 1.0, 2.0])}
    if pname == "Uniform" and qname in ("Beta", "ContinuousBernoulli"):
        pp["low"][0], pp["high"][0] = 0.0, 1.0  # the whole of [0, 1]
    return pp, qq


def _convert(params: dict, f) -> dict:
    return {k: f(v) for k, v in params.items()}


def _assert_kl(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float = 0.0) -> None:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=rtol, atol=atol)


def test_pair_count() -> None:
    # 26 families; 93 registered pairs, all covered by the table of _families.
    assert len(D.registered_pairs()) == 93
    assert len(PAIRS) == 93


# --- independent float64 references -----------------------------------------------------


@pytest.mark.parametrize(("pname", "qname"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_pair_against_numerical_integration(pname: str, qname: str) -> None:
    pp, qq = _params(pname, qname)
    got = D.kl(FAMILIES[pname].ours(pp), FAMILIES[qname].ours(qq))
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    expected = reference(pname, qname, pp, qq)
    _assert_kl(got, expected, rtol=1e-8, atol=1e-12)
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
    pp, qq = _params(pname, qname, seed=1)
    tp = FAMILIES[pname].torch(T, _convert(pp, torch.tensor))
    tq = FAMILIES[qname].torch(T, _convert(qq, torch.tensor))
    got = D.kl(tp, tq)  # torch objects in, torch tensor out
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    try:
        expected = T.kl_divergence(tp, tq)
    except NotImplementedError:
        assert (pname, qname) in NOT_IN_TORCH
        _assert_kl(got.numpy(), reference(pname, qname, pp, qq), rtol=1e-8, atol=1e-12)
        return
    assert (pname, qname) not in NOT_IN_TORCH
    expected = expected.numpy()
    if (pname, qname) in TORCH_BOUNDARY_DEFECT:
        # torch: +inf where the Uniform's bounds touch [0, 1] exactly; the KL is finite.
        touch = qq if qname == "Uniform" else pp
        exact = (touch["low"] == 0) | (touch["high"] == 1)
        assert np.isinf(expected[exact]).all()
        expected = np.where(exact, reference(pname, qname, pp, qq), expected)
    _assert_kl(got.numpy(), expected, rtol=1e-10, atol=1e-13)


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
    pp, qq = _params(pname, qname, seed=2)
    tp = FAMILIES[pname].tfp(tfd, _convert(pp, tf.constant))
    tq = FAMILIES[qname].tfp(tfd, _convert(qq, tf.constant))
    got = D.kl(tp, tq)
    assert backend_of(got).name == "tensorflow" and got.dtype == tf.float64
    expected = tfd.kl_divergence(tp, tq).numpy()
    # TFP's ContinuousBernoulli KL is accurate to ~1e-4 only (ours: 1e-12 against the
    # integral, test_continuous_bernoulli_against_quadrature).
    rtol = 1e-3 if pname == "ContinuousBernoulli" else 1e-10
    _assert_kl(got.numpy(), expected, rtol=rtol, atol=1e-13)


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


# --- every backend, float32 and float64 -----------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_pair_on_backend(backend, dtype: str) -> None:
    rtol = {"float32": 1e-4, "float64": 1e-12}[dtype]
    for pname, qname in PAIRS:
        pp, qq = _params(pname, qname, seed=3)
        # The reference: float64 NumPy on the values the backend holds (rounded to dtype).
        pr = _convert(pp, lambda a: backend.impl.round_trip(a, dtype))
        qr = _convert(qq, lambda a: backend.impl.round_trip(a, dtype))
        expected = D.kl(FAMILIES[pname].ours(pr), FAMILIES[qname].ours(qr))
        got = D.kl(
            FAMILIES[pname].ours(_convert(pp, lambda a: backend.asarray(a, dtype))),
            FAMILIES[qname].ours(_convert(qq, lambda a: backend.asarray(a, dtype))),
        )
        assert backend_of(got).name == backend.name, (pname, qname)
        assert backend.impl.dtype_name(got) == dtype, (pname, qname)
        try:
            _assert_kl(
                backend.to_numpy(got),
                expected,
                rtol=rtol,
                atol=1e-6 if dtype == "float32" else 1e-14,
            )
        except AssertionError as exc:
            raise AssertionError(f"{pname}-{qname} on {backend} {dtype}: {exc}") from None


def test_python_numbers_and_broadcasting() -> None:
    got = D.kl(D.Beta(2.0, 3.0), D.Beta(np.array([[2.0], [1.0]]), np.array([3.0, 1.0])))
    assert got.shape == (2, 2)
    assert got[0, 0] == 0.0
    expected = reference("Beta", "Beta", {"concentration1": np.full(2, 2.0), "concentration0": np.full(2, 3.0)},
                         {"concentration1": np.array([1.0, 1.0]), "concentration0": np.array([3.0, 1.0])})  # fmt: skip
    np.testing.assert_allclose(got[1], expected, rtol=1e-9)


# --- exact zeros, infinities, torch's defects -------------------------------------------------


@pytest.mark.parametrize(("pname", "qname"), SAME, ids=[a for a, _ in SAME])
def test_identical_distributions_give_zero(pname: str, qname: str) -> None:
    pp, _ = _params(pname, qname)
    d = FAMILIES[pname].ours(pp)
    got = np.asarray(D.kl(d, d))
    if pname in ("MultivariateNormal", "LowRankMultivariateNormal"):  # Cholesky round-off
        assert np.all(np.abs(got) < 1e-14)
    else:
        np.testing.assert_array_equal(got, 0.0)


def test_documented_infinities_and_conventions() -> None:
    inf, nan = math.inf, math.nan
    # Support mismatch.
    np.testing.assert_array_equal(
        D.kl(
            D.Uniform([0.0, 0.0, 0.0], [1.0, 1.0, 2.0]), D.Uniform([0.0, 0.1, 0.0], [1.0, 1.0, 1.0])
        ),
        [0.0, inf, inf],
    )
    assert D.kl(D.Pareto(1.0, 2.0), D.Pareto(2.0, 2.0)) == inf
    assert D.kl(D.Pareto(2.0, 2.0), D.Pareto(1.0, 2.0)) == pytest.approx(2 * math.log(2))
    assert D.kl(D.Pareto(1.0, 1.0), D.Exponential(1.0)) == inf  # infinite mean
    assert D.kl(D.Pareto(1.0, 2.0), D.Normal(0.0, 1.0)) == inf  # infinite variance
    assert D.kl(D.Normal(0.0, 1.0), D.Uniform(-100.0, 100.0)) == inf
    assert D.kl(D.Uniform(-0.5, 0.5), D.Exponential(1.0)) == inf
    # Binomial: more trials in p than q: +inf; fewer: no closed form (NaN).
    got = D.kl(D.Binomial(np.array([5.0, 6.0, 4.0]), 0.5), D.Binomial(5.0, 0.3))
    assert got[1] == inf and math.isnan(got[2])
    np.testing.assert_allclose(got[0], 5 * (0.5 * math.log(0.5 / 0.3) + 0.5 * math.log(0.5 / 0.7)))
    # 0 log 0 = 0, q = 0 under p > 0 is +inf.
    np.testing.assert_allclose(
        D.kl(D.Bernoulli([0.0, 1.0, 0.5]), D.Bernoulli([0.5, 0.5, 0.0])),
        [math.log(2), math.log(2), inf],
    )
    np.testing.assert_allclose(
        D.kl(D.Geometric([1.0, 1.0, 0.5]), D.Geometric([0.5, 1.0, 1.0])), [math.log(2), 0.0, inf]
    )
    np.testing.assert_allclose(
        D.kl(
            D.Categorical([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]),
            D.Categorical([[0.25, 0.25, 0.5], [1.0, 0.0, 0.0]]),
        ),
        [math.log(2), inf],
    )
    np.testing.assert_allclose(D.kl(D.Poisson([0.0, 2.0]), D.Poisson([3.0, 0.0])), [3.0, inf])
    assert D.kl(D.VonMises(1.0, 0.0), D.VonMises(-1.0, 0.0)) == 0.0  # both uniform on the circle
    assert math.isnan(float(D.kl(D.Normal(0.0, -1.0), D.Normal(0.0, 1.0))))
    del nan


def test_torch_defects_not_copied() -> None:
    torch = need("torch")
    T = torch.distributions
    # torch #144279: KL(Uniform(0, 1) || Beta(1, 1)) was NaN in torch (0 * log 0); it is 0.
    one = torch.tensor(1.0, dtype=torch.float64)
    zero = torch.tensor(0.0, dtype=torch.float64)
    assert D.kl(T.Uniform(zero, one), T.Beta(one, one)) == 0.0
    assert D.kl(D.Uniform(0.0, np.array([1.0, 0.5])), D.Beta(1.0, 1.0))[0] == 0.0
    assert D.kl(D.Uniform(0.0, 1.0), D.Beta(2.0, 1.0)) == pytest.approx(1 - math.log(2), abs=1e-15)
    # torch returns +inf for the exact cover [0, 1] in both directions; the KL is finite.
    lam = torch.tensor([0.3], dtype=torch.float64)
    assert torch.isinf(T.kl_divergence(T.ContinuousBernoulli(lam), T.Uniform(zero, one))).all()
    got = D.kl(D.ContinuousBernoulli(np.array([0.3])), D.Uniform(0.0, 1.0))
    h = integrate.quad(lambda x: -FAMILIES["ContinuousBernoulli"].scipy({"probs": 0.3}).pdf(x)
                       * FAMILIES["ContinuousBernoulli"].scipy({"probs": 0.3}).logpdf(x), 0, 1)[0]  # fmt: skip
    np.testing.assert_allclose(got, [-h], rtol=1e-10)
    assert np.isfinite(D.kl(D.Uniform(0.0, 1.0), D.ContinuousBernoulli(0.3)))
    # torch #15288: NaN gradient of the Bernoulli KL at p in {0, 1}.
    p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
    D.kl(T.Bernoulli(probs=p), T.Bernoulli(probs=q)).sum().backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


# --- gradients ------------------------------------------------------------------------------

# Parameters at the edges of their domains (and ordinary ones) per same-family pair.
EDGES = {
    "Bernoulli": ({"probs": [0.0, 1.0, 0.3]}, {"probs": [0.5, 0.5, 0.3]}),
    "Geometric": ({"probs": [1.0, 0.5, 0.3]}, {"probs": [0.5, 0.5, 0.3]}),
    "Categorical": ({"probs": [[0.5, 0.5, 0.0]]}, {"probs": [[0.25, 0.25, 0.5]]}),
    "Poisson": ({"rate": [0.0, 2.0]}, {"rate": [3.0, 2.0]}),
    "VonMises": ({"loc": [0.0, 1.0], "concentration": [0.0, 1e-3]}, {"loc": [1.0, 1.0], "concentration": [0.0, 50.0]}),
    "ContinuousBernoulli": ({"probs": [0.5, 0.5 + 1e-9, 0.3]}, {"probs": [0.5, 0.5, 0.5]}),
    "Uniform": ({"low": [0.0, 0.2], "high": [1.0, 0.5]}, {"low": [0.0, 0.0], "high": [1.0, 1.0]}),
    "Beta": ({"concentration1": [1e-3, 1.0], "concentration0": [1.0, 1e3]}, {"concentration1": [1.0, 1.0], "concentration0": [1.0, 1.0]}),
    "Gamma": ({"concentration": [1e-3, 1e3], "rate": [1.0, 1.0]}, {"concentration": [1.0, 1.0], "rate": [1.0, 1.0]}),
}  # fmt: skip
_SMOOTH = {"Normal", "LogNormal", "HalfNormal", "Gumbel", "Gamma", "Chi2", "InverseGamma", "Beta",
           "Weibull", "VonMises", "Exponential", "Poisson", "Bernoulli", "Geometric", "Binomial",
           "Categorical", "OneHotCategorical", "Dirichlet", "Independent", "Cauchy",
           "ContinuousBernoulli"}  # fmt: skip


def _grads(ad, dtype, pname, qname, pp, qq):
    from test_gradients import grad

    keys_p, keys_q = list(pp), list(qq)
    arrays = [ad.asarray(np.asarray(v, float), dtype) for v in (*pp.values(), *qq.values())]

    def fn(*xs):
        dp = FAMILIES[pname].ours(dict(zip(keys_p, xs[: len(keys_p)])))
        dq = FAMILIES[qname].ours(dict(zip(keys_q, xs[len(keys_p) :])))
        return D.kl(dp, dq)

    return grad(ad, fn, arrays)


@pytest.mark.parametrize(("pname", "qname"), SAME, ids=[a for a, _ in SAME])
def test_gradients_finite_at_identical(ad, dtype: str, pname: str, qname: str) -> None:
    if pname == "Binomial":  # total_count is not differentiable
        _binomial_grads(ad, dtype)
        return
    pp, _ = _params(pname, qname)
    grads = _grads(ad, dtype, pname, qname, pp, pp)
    for g in grads:
        assert np.isfinite(g).all(), (pname, g)
        if pname in _SMOOTH:  # KL has its minimum at q = p: zero gradient there
            np.testing.assert_allclose(g, 0.0, atol=1e-4 if dtype == "float32" else 1e-10)


def _binomial_grads(ad, dtype):
    from test_gradients import grad

    p = ad.asarray([0.3, 0.0, 1.0], dtype)
    (g,) = grad(
        ad,
        lambda a: D.kl(D.Binomial(7.0, a), D.Binomial(7.0, ad.asarray([0.3, 0.5, 0.5], dtype))),
        [p],
    )
    assert np.isfinite(g).all()


@pytest.mark.parametrize("name", sorted(EDGES))
def test_gradients_finite_at_edges(ad, dtype: str, name: str) -> None:
    pp, qq = EDGES[name]
    for g in _grads(ad, dtype, name, name, pp, qq):
        assert np.isfinite(g).all(), (name, g)


def test_gradients_finite_uniform_beta_edge(ad, dtype: str) -> None:
    from test_gradients import grad

    args = [ad.asarray(v, dtype) for v in ([0.0, 0.2], [1.0, 0.5], [1.0, 2.0], [1.0, 3.0])]
    for g in grad(ad, lambda lo, hi, a, b: D.kl(D.Uniform(lo, hi), D.Beta(a, b)), args):
        assert np.isfinite(g).all()


# --- registry, errors, containers --------------------------------------------------------------


def test_unsupported_pair_names_both_types_and_lists_pairs() -> None:
    with pytest.raises(
        NotImplementedError,
        match=r"p: kl_backends\.distributions\.VonMises and q: .*Normal.*Beta-Beta",
    ):
        D.kl(D.VonMises(0.0, 1.0), D.Normal(0.0, 1.0))
    with pytest.raises(NotImplementedError, match=r"no closed-form entropy for .*Poisson"):
        D.entropy(D.Poisson(1.0))
    with pytest.raises(NotImplementedError, match="reinterpreted_batch_ndims"):
        D.kl(
            D.Independent(D.Normal(np.zeros((2, 2)), 1.0), 1),
            D.Independent(D.Normal(np.zeros((2, 2)), 1.0), 2),
        )


def test_register_kl_user_pair_and_subclass_dispatch() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class PointMass:
        loc: float

    @D.register_kl(PointMass, D.Normal)
    def _point_normal(p, q):
        return float("inf")

    try:
        assert D.kl(PointMass(0.0), D.Normal(0.0, 1.0)) == math.inf
        assert ("PointMass", "Normal") in D.registered_pairs()

        @dataclass(frozen=True)
        class MyNormal(D.Normal):
            pass

        # A subclass uses its parent's pair until it registers a more specific one.
        assert D.kl(MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)) == pytest.approx(0.4431471806)

        @D.register_kl(MyNormal, D.Normal)
        def _mine(p, q):
            return -1.0

        assert D.kl(MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)) == -1.0
    finally:
        from kl_backends.distributions import _registry

        for key in [k for k in _registry._KL if k[0].__name__ in ("PointMass", "MyNormal")]:
            del _registry._KL[key]
        _registry._MEMO.clear()
    assert len(D.registered_pairs()) == 93


def test_container_errors() -> None:
    with pytest.raises(ValueError, match="exactly one of probs and logits; got both"):
        D.Bernoulli(0.5, 0.0)
    with pytest.raises(ValueError, match="exactly one of probs and logits; got neither"):
        D.Categorical()
    with pytest.raises(ValueError, match="exactly one of covariance_matrix"):
        D.MultivariateNormal(np.zeros(2))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims must be an int"):
        D.Independent(D.Normal(0.0, 1.0), -1)
    with pytest.raises(TypeError, match="must come from one array library"):
        D.kl(D.Normal(np.zeros(2), 1.0), D.Normal(_torch_zeros(), 1.0))


def _torch_zeros():
    return need("torch").zeros(2, dtype=need("torch").float64)


def test_import_touches_no_framework() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import kl_backends.distributions as D
        import numpy as np
        D.kl(D.Beta(np.array([2.0]), 3.0), D.Beta(1.0, 1.0))
        heavy = ("torch", "tensorflow", "jax", "dask", "cupy", "keras", "array_api_strict",
                 "tensorflow_probability")
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- entropy and cross-entropy ------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in sorted(FAMILIES) if FAMILIES[n].scipy is not None])
def test_entropy_against_scipy(name: str) -> None:
    fam = FAMILIES[name]
    pp = fam.gen(np.random.default_rng(7), N)
    try:
        got = D.entropy(fam.ours(pp))
    except NotImplementedError:
        assert name in ("Poisson", "Binomial")
        return
    for i in range(N):
        d = fam.scipy(element(pp, i))
        if hasattr(d, "entropy"):
            expected = float(d.entropy())
        else:  # the ContinuousBernoulli density of _families
            expected = -integrate.quad(lambda x, d=d: d.pdf(x) * d.logpdf(x), 0, 1, epsabs=1e-14)[0]
        assert got[i] == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, i)


def test_entropy_multivariate_and_cross_entropy() -> None:
    rng = np.random.default_rng(8)
    fam = FAMILIES["LowRankMultivariateNormal"]
    pp = fam.gen(rng, 3)
    cov = pp["cov_factor"] @ np.swapaxes(pp["cov_factor"], -1, -2) + pp["cov_diag"][
        ..., None
    ] * np.eye(4)
    expected = [stats.multivariate_normal(pp["loc"][i], cov[i]).entropy() for i in range(3)]
    np.testing.assert_allclose(D.entropy(fam.ours(pp)), expected, rtol=1e-12)
    np.testing.assert_allclose(
        D.entropy(D.MultivariateNormal(pp["loc"], cov)), expected, rtol=1e-12
    )
    a = rng.uniform(0.5, 3, (3, 4))
    np.testing.assert_allclose(
        D.entropy(D.Dirichlet(a)), [stats.dirichlet(x).entropy() for x in a], rtol=1e-12
    )
    np.testing.assert_allclose(
        D.entropy(D.VonMises(0.0, a[0])), [stats.vonmises(k).entropy() for k in a[0]], rtol=1e-10
    )
    # Cross-entropy: -int p log q, against the integral.
    p, q = D.Gamma(2.0, 1.5), D.Normal(1.0, 2.0)
    exact = -integrate.quad(
        lambda x: stats.gamma(2.0, scale=1 / 1.5).pdf(x) * stats.norm(1, 2).logpdf(x), 0, np.inf
    )[0]
    assert D.cross_entropy(p, q) == pytest.approx(exact, rel=1e-10)


# --- laziness and compilation ------------------------------------------------------------------


def test_dask_stays_lazy() -> None:
    dask = need("dask")
    da = need("dask.array")

    def forbid(*args, **kwargs):
        raise AssertionError("computed")

    rng = np.random.default_rng(9)
    a, b = rng.uniform(0.5, 3, 40), rng.uniform(0.5, 3, 40)
    x, y = da.from_array(a, chunks=10), da.from_array(b, chunks=10)
    with dask.config.set(scheduler=forbid):
        outs = [
            D.kl(D.Beta(x, y), D.Beta(y, x)),
            D.kl(D.VonMises(x, y), D.VonMises(y, x)),
            D.kl(D.Uniform(x * 0.1, x), D.Gamma(y, x)),
        ]
    np.testing.assert_allclose(
        outs[0].compute(), D.kl(D.Beta(a, b), D.Beta(b, a)), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        outs[1].compute(), D.kl(D.VonMises(a, b), D.VonMises(b, a)), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("name", ["jax", "tensorflow"])
def test_same_family_pairs_compiled(name: str) -> None:
    from kl_backends.backends import BACKENDS

    backend = BACKENDS[name]
    need(backend.module)
    for pname, qname in SAME:
        pp, qq = _params(pname, qname, seed=4)
        keys_p, keys_q = list(pp), list(qq)

        def fn(*xs, pname=pname, keys_p=keys_p, keys_q=keys_q):
            return D.kl(
                FAMILIES[pname].ours(dict(zip(keys_p, xs[: len(keys_p)]))),
                FAMILIES[pname].ours(dict(zip(keys_q, xs[len(keys_p) :]))),
            )

        args = [backend.asarray(v, "float64") for v in (*pp.values(), *qq.values())]
        got = backend.to_numpy(backend.compile(fn)(*args))
        _assert_kl(
            got, D.kl(FAMILIES[pname].ours(pp), FAMILIES[qname].ours(qq)), rtol=1e-12, atol=1e-14
        )


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


def test_docstring_examples() -> None:
    import doctest

    from kl_backends.distributions import _monte_carlo, _registry

    saved = dict(_registry._KL)
    try:
        for module in (D, _registry, _monte_carlo):
            result = doctest.testmod(module)
            assert result.attempted >= 1 and result.failed == 0, module
    finally:  # the register_kl example registers a pair
        _registry._KL.clear()
        _registry._KL.update(saved)
        _registry._MEMO.clear()


def test_torch_testkl_edge_cases() -> None:
    """torch's TestKL.test_kl_edgecases and its infinite_examples, on our containers."""
    assert D.kl(D.Bernoulli(0.0), D.Bernoulli(0.0)) == 0.0
    assert D.kl(D.Bernoulli(1.0), D.Bernoulli(1.0)) == 0.0
    assert D.kl(D.Categorical(np.array([0.0, 1.0])), D.Categorical(np.array([0.0, 1.0]))) == 0.0
    assert D.kl(D.Bernoulli(0.0), D.Bernoulli(1.0)) == math.inf
    assert D.kl(D.Bernoulli(1.0), D.Bernoulli(0.0)) == math.inf
    # ... and the same through torch's own objects, gradients included.
    torch = need("torch")
    T = torch.distributions
    p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    out = D.kl(T.Bernoulli(probs=p), T.Bernoulli(probs=p.detach()))
    assert out.tolist() == [0.0, 0.0]
    out.sum().backward()
    assert torch.isfinite(p.grad).all()
