"""Peers' own tests, ported: SciPy's ``rel_entr`` / ``kl_div`` and torch's ``TestKL``.

* SciPy (scipy/special/tests/test_basic.py: ``test_rel_entr``, ``test_kl_div``,
  ``test_rel_entr_gh_20710_near_zero``, ``test_rel_entr_gh_20710_overflow``): the
  elementwise ``rel_entr(x, y)`` is ``kl_divergence`` of one-element distributions
  (``reduction="none"`` over a length-1 event axis), ``kl_div(x, y)`` is
  ``generalized_kl_divergence``'s; on every backend.  Their expected values are SciPy's own
  (``xlogy`` formulas and mpmath values at 30 digits), with one documented
  difference: ``kl_divergence`` gives NaN, not ``+inf``, for a negative probability
  (p's, or q's where p > 0) and 0 for ``p == 0`` whatever ``q``, while ``generalized_kl_divergence`` follows ``kl_div``.
* torch (test/distributions/test_distributions.py, ``TestKL``): its finite examples
  (4 x 4 parameter grids, ``pairwise``) against torch's ``kl_divergence`` in float64,
  its infinite examples (+inf) and its edge cases (0 for identical point masses).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import rel_entr

import kl_backends.distributions as D
from conftest import need
from kl_backends import generalized_kl_divergence, kl_divergence

# --- SciPy ----------------------------------------------------------------------------------


def _grid():
    values = (0, 0.5, 1.0)
    signs = [-1, 1]
    z = [(sa * va, sb * vb) for sa, va, sb, vb in itertools.product(signs, values, signs, values)]
    return np.array(z, dtype=float)


def _xlogy(x, y):
    from scipy.special import xlogy

    return xlogy(x, y)


def _scipy_rel_entr(x, y):  # SciPy's test's own reference function
    if x > 0 and y > 0:
        return _xlogy(x, x / y)
    if x == 0 and y >= 0:
        return 0.0
    return math.inf


def _scipy_kl_div(x, y):  # SciPy's test's own reference function
    if x < 0 or y < 0 or (y == 0 and x != 0):
        return math.inf
    if np.isposinf(x) or np.isposinf(y):
        return math.inf
    if x == 0:
        return y
    return _xlogy(x, x / y) - x + y


def _elementwise(fn, backend, dtype, x, y):
    a = backend.asarray(np.asarray(x, float)[:, None], dtype)
    b = backend.asarray(np.asarray(y, float)[:, None], dtype)
    return backend.to_numpy(fn(a, b, reduction="none"))


def _dtypes(backend):
    return [d for d in ("float64", "float32") if d in backend.dtypes]


def test_rel_entr_grid(backend) -> None:
    z = _grid()
    expected = np.array([_scipy_rel_entr(x, y) for x, y in z])
    # Documented: a negative probability gives NaN (not rel_entr's +inf), p's or q's where
    # p > 0, and a term with p == 0 is 0 whatever q is (rel_entr: +inf for q < 0).
    p, q = z[:, 0], z[:, 1]
    expected = np.where((p < 0) | ((p > 0) & (q < 0)), np.nan, expected)
    expected = np.where(p == 0, 0.0, expected)
    for dtype in _dtypes(backend):
        got = _elementwise(kl_divergence, backend, dtype, z[:, 0], z[:, 1])
        np.testing.assert_allclose(got, expected, rtol=1e-13 if dtype == "float64" else 1e-6,
                                   atol=1e-13, err_msg=dtype)  # fmt: skip


def test_kl_div_grid(backend) -> None:
    z = _grid()
    expected = np.array([_scipy_kl_div(x, y) for x, y in z])
    for dtype in _dtypes(backend):
        got = _elementwise(generalized_kl_divergence, backend, dtype, z[:, 0], z[:, 1])
        np.testing.assert_allclose(got, expected, rtol=1e-13 if dtype == "float64" else 1e-6,
                                   atol=1e-13, err_msg=dtype)  # fmt: skip


#: Backends whose CPU kernels flush subnormals to zero (README, conventions).
FLUSHING = ("jax", "tensorflow")

GH_20710 = {
    "near_zero": (
        [(0.9456657713430001, 0.9456657713430094), (0.48066098564791515, 0.48066098564794774),
         (0.786048657854401, 0.7860486578542367)],
        [-9.325873406851269e-15, -3.258504577274724e-14, 1.6431300764454033e-13],
    ),
    "overflow": (
        [(4, 2.22e-308), (1e-200, 1e200), (2.22e-308, 1e15)],
        [2839.139983229607, -9.210340371976183e-198, -1.6493212008074475e-305],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(GH_20710))
def test_rel_entr_gh_20710(backend, case) -> None:
    """SciPy gh-20710 (x log(x / y) with x / y overflowing, underflowing, subnormal, and
    x ~ y): SciPy's mpmath values at rtol 1e-13, float64."""
    if "float64" not in backend.dtypes:
        pytest.skip(f"{backend} has no float64")
    inputs, expected = GH_20710[case]
    x, y = np.array(inputs).T
    expected = np.array(expected)
    if backend.name in FLUSHING:
        # XLA and TensorFlow's CPU kernels flush subnormals to zero (README, conventions):
        # where an input is subnormal the oracle is rel_entr of the flushed inputs.
        tiny = np.finfo(np.float64).tiny
        xf, yf = (np.where(np.abs(v) < tiny, 0.0, v) for v in (x, y))
        flushed = (xf != x) | (yf != y)
        expected = np.where(flushed, rel_entr(xf, yf), expected)
    got = _elementwise(kl_divergence, backend, "float64", x, y)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    # kl_div(x, y) = rel_entr(x, y) - x + y, computed here in mpmath
    import mpmath

    mpmath.mp.dps = 40
    ref = [float(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b)) - a + b)
           for a, b in inputs]  # fmt: skip
    if backend.name in FLUSHING:  # as above: the flushed inputs' value, from SciPy
        ref = np.where(flushed, rel_entr(xf, yf) - xf + yf, ref)
    got = _elementwise(generalized_kl_divergence, backend, "float64", x, y)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)


# --- torch's TestKL -------------------------------------------------------------------------


def _pairwise(torch, dist, *params):
    """torch's ``pairwise``: p's parameters vary along columns, q's along rows (4 x 4)."""
    p1 = [torch.tensor([p] * len(p), dtype=torch.float64) for p in params]
    p2 = [p.transpose(0, 1) for p in p1]
    return dist(*p1), dist(*p2)


def _torch_examples(torch):
    T = torch.distributions
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    pw = lambda d, *ps: _pairwise(torch, d, *ps)  # noqa: E731
    bernoulli = pw(T.Bernoulli, [0.1, 0.2, 0.6, 0.9])
    # torch uses a subclass Binomial30 (total_count fixed at 30); a user's subclass is not
    # read by kl_backends, so the same distributions are built as Binomial(30, probs).
    binomial30 = pw(lambda p: T.Binomial(30, p), [0.1, 0.2, 0.6, 0.9])
    binomial_vectorized_count = (
        T.Binomial(f64([3, 4]), f64([0.4, 0.6])),
        T.Binomial(f64([3, 4]), f64([0.5, 0.8])),
    )
    beta = pw(T.Beta, [1.0, 2.5, 1.0, 2.5], [1.5, 1.5, 3.5, 3.5])
    simplex = [[0.4, 0.3, 0.3], [0.2, 0.7, 0.1], [0.33, 0.33, 0.34], [0.2, 0.2, 0.6]]
    categorical = pw(T.Categorical, simplex)
    cauchy = pw(T.Cauchy, [-2.0, 2.0, -3.0, 3.0], [1.0, 2.0, 1.0, 2.0])
    chi2 = pw(T.Chi2, [1.0, 2.0, 2.5, 5.0])
    dirichlet = pw(T.Dirichlet, [[0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.33, 0.33, 0.34],
                                 [0.2, 0.2, 0.4]])  # fmt: skip
    exponential = pw(T.Exponential, [1.0, 2.5, 5.0, 10.0])
    gamma = pw(T.Gamma, [1.0, 2.5, 1.0, 2.5], [1.5, 1.5, 3.5, 3.5])
    gumbel = pw(T.Gumbel, [-2.0, 4.0, -3.0, 6.0], [1.0, 2.5, 1.0, 2.5])
    halfnormal = pw(T.HalfNormal, [1.0, 2.0, 1.0, 2.0])
    inversegamma = pw(T.InverseGamma, [1.0, 2.5, 1.0, 2.5], [1.5, 1.5, 3.5, 3.5])
    laplace = pw(T.Laplace, [-2.0, 4.0, -3.0, 6.0], [1.0, 2.5, 1.0, 2.5])
    lognormal = pw(T.LogNormal, [-2.0, 2.0, -3.0, 3.0], [1.0, 2.0, 1.0, 2.0])
    normal = pw(T.Normal, [-2.0, 2.0, -3.0, 3.0], [1.0, 2.0, 1.0, 2.0])
    independent = (T.Independent(normal[0], 1), T.Independent(normal[1], 1))
    onehotcategorical = pw(T.OneHotCategorical, simplex)
    pareto = (
        T.Pareto(f64([2.5, 4.0, 2.5, 4.0]).expand(4, 4), f64([2.25, 3.75, 2.25, 3.75]).expand(4, 4)),
        T.Pareto(f64([2.25, 3.75, 2.25, 3.8]).expand(4, 4), f64([2.25, 3.75, 2.25, 3.75]).expand(4, 4)),
    )  # fmt: skip
    poisson = pw(T.Poisson, [0.3, 1.0, 5.0, 10.0])
    uniform_within_unit = pw(T.Uniform, [0.1, 0.9, 0.2, 0.75], [0.15, 0.95, 0.25, 0.8])
    uniform_positive = pw(T.Uniform, [1, 1.5, 2, 4], [1.2, 2.0, 3, 7])
    uniform_real = pw(T.Uniform, [-2.0, -1, 0, 2], [-1.0, 1, 1, 4])
    uniform_pareto = pw(T.Uniform, [6.5, 7.5, 6.5, 8.5], [7.5, 8.5, 9.5, 9.5])
    continuous_bernoulli = pw(T.ContinuousBernoulli, [0.1, 0.2, 0.5, 0.9])
    finite = {
        "bernoulli-bernoulli": (bernoulli, bernoulli),
        "bernoulli-poisson": (bernoulli, poisson),
        "beta-beta": (beta, beta),
        "beta-chi2": (beta, chi2),
        "beta-exponential": (beta, exponential),
        "beta-gamma": (beta, gamma),
        "beta-normal": (beta, normal),
        "binomial30-binomial30": (binomial30, binomial30),
        "binomial_vectorized_count": (binomial_vectorized_count, binomial_vectorized_count),
        "categorical-categorical": (categorical, categorical),
        "cauchy-cauchy": (cauchy, cauchy),
        "chi2-chi2": (chi2, chi2),
        "chi2-exponential": (chi2, exponential),
        "chi2-gamma": (chi2, gamma),
        "chi2-normal": (chi2, normal),
        "dirichlet-dirichlet": (dirichlet, dirichlet),
        "exponential-chi2": (exponential, chi2),
        "exponential-exponential": (exponential, exponential),
        "exponential-gamma": (exponential, gamma),
        "exponential-gumbel": (exponential, gumbel),
        "exponential-normal": (exponential, normal),
        "gamma-chi2": (gamma, chi2),
        "gamma-exponential": (gamma, exponential),
        "gamma-gamma": (gamma, gamma),
        "gamma-gumbel": (gamma, gumbel),
        "gamma-normal": (gamma, normal),
        "gumbel-gumbel": (gumbel, gumbel),
        "gumbel-normal": (gumbel, normal),
        "halfnormal-halfnormal": (halfnormal, halfnormal),
        "independent-independent": (independent, independent),
        "inversegamma-inversegamma": (inversegamma, inversegamma),
        "laplace-laplace": (laplace, laplace),
        "lognormal-lognormal": (lognormal, lognormal),
        "laplace-normal": (laplace, normal),
        "normal-gumbel": (normal, gumbel),
        "normal-laplace": (normal, laplace),
        "normal-normal": (normal, normal),
        "onehotcategorical-onehotcategorical": (onehotcategorical, onehotcategorical),
        "pareto-chi2": (pareto, chi2),
        "pareto-pareto": (pareto, pareto),
        "pareto-exponential": (pareto, exponential),
        "pareto-gamma": (pareto, gamma),
        "poisson-poisson": (poisson, poisson),
        "uniform_within_unit-beta": (uniform_within_unit, beta),
        "uniform_positive-chi2": (uniform_positive, chi2),
        "uniform_positive-exponential": (uniform_positive, exponential),
        "uniform_positive-gamma": (uniform_positive, gamma),
        "uniform_real-gumbel": (uniform_real, gumbel),
        "uniform_real-normal": (uniform_real, normal),
        "uniform_pareto-pareto": (uniform_pareto, pareto),
        "continuous_bernoulli-continuous_bernoulli": (continuous_bernoulli, continuous_bernoulli),
        "continuous_bernoulli-exponential": (continuous_bernoulli, exponential),
        "continuous_bernoulli-normal": (continuous_bernoulli, normal),
        "beta-continuous_bernoulli": (beta, continuous_bernoulli),
    }
    return {k: (a[0], b[1]) for k, (a, b) in finite.items()}


def _torch_infinite(torch):
    T = torch.distributions
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    B, U, P, G = T.Bernoulli, T.Uniform, T.Pareto, T.Gamma
    return [
        (B(t(0.0)), B(t(1.0))), (B(t(1.0)), B(t(0.0))),
        (T.Categorical(t([0.9, 0.1])), T.Categorical(t([1.0, 0.0]))),
        (T.Categorical(t([[0.9, 0.1], [0.9, 0.1]])), T.Categorical(t([1.0, 0.0]))),
        (T.Beta(t(1.0), t(2.0)), U(t(0.25), t(1.0))), (T.Beta(t(1.0), t(2.0)), U(t(0.0), t(0.75))),
        (T.Beta(t(1.0), t(2.0)), U(t(0.25), t(0.75))), (T.Beta(t(1.0), t(2.0)), P(t(1.0), t(2.0))),
        (T.Binomial(31, t(0.7)), T.Binomial(30, t(0.3))),
        (T.Binomial(t([3.0, 4.0]), t([0.4, 0.6])), T.Binomial(t([2.0, 3.0]), t([0.5, 0.8]))),
        (T.Chi2(t(1.0)), T.Beta(t(2.0), t(3.0))), (T.Chi2(t(1.0)), P(t(2.0), t(3.0))),
        (T.Chi2(t(1.0)), U(t(-2.0), t(3.0))),
        (T.Exponential(t(1.0)), T.Beta(t(2.0), t(3.0))), (T.Exponential(t(1.0)), P(t(2.0), t(3.0))),
        (T.Exponential(t(1.0)), U(t(-2.0), t(3.0))),
        (G(t(1.0), t(2.0)), T.Beta(t(3.0), t(4.0))), (G(t(1.0), t(2.0)), P(t(3.0), t(4.0))),
        (G(t(1.0), t(2.0)), U(t(-3.0), t(4.0))),
        (T.Gumbel(t(-1.0), t(2.0)), T.Beta(t(3.0), t(4.0))), (T.Gumbel(t(-1.0), t(2.0)), T.Chi2(t(3.0))),
        (T.Gumbel(t(-1.0), t(2.0)), T.Exponential(t(3.0))), (T.Gumbel(t(-1.0), t(2.0)), G(t(3.0), t(4.0))),
        (T.Gumbel(t(-1.0), t(2.0)), P(t(3.0), t(4.0))), (T.Gumbel(t(-1.0), t(2.0)), U(t(-3.0), t(4.0))),
        (T.Laplace(t(-1.0), t(2.0)), T.Beta(t(3.0), t(4.0))), (T.Laplace(t(-1.0), t(2.0)), T.Chi2(t(3.0))),
        (T.Laplace(t(-1.0), t(2.0)), T.Exponential(t(3.0))), (T.Laplace(t(-1.0), t(2.0)), G(t(3.0), t(4.0))),
        (T.Laplace(t(-1.0), t(2.0)), P(t(3.0), t(4.0))), (T.Laplace(t(-1.0), t(2.0)), U(t(-3.0), t(4.0))),
        (T.Normal(t(-1.0), t(2.0)), T.Beta(t(3.0), t(4.0))), (T.Normal(t(-1.0), t(2.0)), T.Chi2(t(3.0))),
        (T.Normal(t(-1.0), t(2.0)), T.Exponential(t(3.0))), (T.Normal(t(-1.0), t(2.0)), G(t(3.0), t(4.0))),
        (T.Normal(t(-1.0), t(2.0)), P(t(3.0), t(4.0))), (T.Normal(t(-1.0), t(2.0)), U(t(-3.0), t(4.0))),
        (P(t(2.0), t(1.0)), T.Chi2(t(3.0))), (P(t(2.0), t(1.0)), T.Exponential(t(3.0))),
        (P(t(2.0), t(1.0)), G(t(3.0), t(4.0))), (P(t(1.0), t(2.0)), T.Normal(t(-3.0), t(4.0))),
        (P(t(1.0), t(2.0)), P(t(3.0), t(4.0))),
        (T.Poisson(t(2.0)), B(t(0.5))), (T.Poisson(t(2.3)), T.Binomial(10, t(0.2))),
        (U(t(-1.0), t(1.0)), T.Beta(t(2.0), t(2.0))), (U(t(0.0), t(2.0)), T.Beta(t(3.0), t(4.0))),
        (U(t(-1.0), t(2.0)), T.Beta(t(3.0), t(4.0))), (U(t(-1.0), t(2.0)), T.Chi2(t(3.0))),
        (U(t(-1.0), t(2.0)), T.Exponential(t(3.0))), (U(t(-1.0), t(2.0)), G(t(3.0), t(4.0))),
        (U(t(-1.0), t(2.0)), P(t(3.0), t(4.0))),
        (T.ContinuousBernoulli(t(0.25)), U(t(0.25), t(1.0))),
        (T.ContinuousBernoulli(t(0.25)), U(t(0.0), t(0.75))),
        (T.ContinuousBernoulli(t(0.25)), U(t(0.25), t(0.75))),
        (T.ContinuousBernoulli(t(0.25)), P(t(1.0), t(2.0))),
        (T.Exponential(t(1.0)), T.ContinuousBernoulli(t(0.75))),
        (G(t(1.0), t(2.0)), T.ContinuousBernoulli(t(0.75))),
        (T.Gumbel(t(-1.0), t(2.0)), T.ContinuousBernoulli(t(0.75))),
        (T.Laplace(t(-1.0), t(2.0)), T.ContinuousBernoulli(t(0.75))),
        (T.Normal(t(-1.0), t(2.0)), T.ContinuousBernoulli(t(0.75))),
        (U(t(-1.0), t(1.0)), T.ContinuousBernoulli(t(0.75))),
        (U(t(0.0), t(2.0)), T.ContinuousBernoulli(t(0.75))),
        (U(t(-1.0), t(2.0)), T.ContinuousBernoulli(t(0.75))),
    ]  # fmt: skip


def _finite_ids():
    try:
        import torch
    except ImportError:
        return ["torch-not-installed"]
    return sorted(_torch_examples(torch))


@pytest.mark.parametrize("name", _finite_ids())
def test_torch_testkl_finite_example(name) -> None:
    torch = need("torch")
    p, q = _torch_examples(torch)[name]
    expected = torch.distributions.kl_divergence(p, q)
    got = D.kl(p, q)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-13)
    assert torch.isfinite(got).all()


def test_torch_testkl_infinite_examples() -> None:
    torch = need("torch")
    wrong = []
    for p, q in _torch_infinite(torch):
        try:
            got = D.kl(p, q)
            if not bool((got == math.inf).all()):
                wrong.append(f"KL({type(p).__name__}, {type(q).__name__}) = {got}")
        except Exception as exc:
            wrong.append(f"KL({type(p).__name__}, {type(q).__name__}): {type(exc).__name__}")
    assert not wrong, "\n".join(wrong)


def test_torch_testkl_edge_cases() -> None:
    torch = need("torch")
    T = torch.distributions
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    assert D.kl(T.Bernoulli(t(0.0)), T.Bernoulli(t(0.0))) == 0
    assert D.kl(T.Bernoulli(t(1.0)), T.Bernoulli(t(1.0))) == 0
    assert D.kl(T.Categorical(t([0.0, 1.0])), T.Categorical(t([0.0, 1.0]))) == 0
