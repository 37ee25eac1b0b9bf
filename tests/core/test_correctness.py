"""Issue 10, the generic math: accuracy for nearly equal distributions, conventions at the
edges of the domain, and inputs that must be refused.

References are independent: SciPy's and TFP's own published test vectors, and sums
computed in 60-digit ``decimal`` arithmetic from the very float64 values the backend
holds.  The generic array-API code is checked here with the fast paths off
(``KL_BACKENDS_FASTPATHS=0``); the fast paths' agreement on the same inputs is in
``tests/core/test_edge_cases.py``.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest
from scipy.special import kl_div

from _gradients import grad
from kl_backends import (
    cross_entropy,
    entropy,
    generalized_kl_divergence,
    js_divergence,
    kl_divergence,
    kl_from_counts,
    kl_from_densities,
    kl_from_samples_knn,
    kl_multivariate_normal,
    kl_standard_normal,
)

RNG = np.random.default_rng(20710)


@pytest.fixture
def generic(monkeypatch):
    """The generic array-API code only: no fast path, no quick front end."""
    monkeypatch.setenv("KL_BACKENDS_FASTPATHS", "0")


# --- exact references ---------------------------------------------------------------------


def _dec(x: float) -> Decimal:
    return Decimal(float(x))  # exact: every float64 is a finite decimal


def exact_kl(p: np.ndarray, q: np.ndarray) -> float:
    """sum p log(p / q) over the last axis of float64 rows, in 60-digit decimal."""
    out = []
    with localcontext() as ctx:
        ctx.prec = 60
        for pr, qr in zip(np.atleast_2d(p), np.atleast_2d(q)):
            total = Decimal(0)
            for a, b in zip(pr.tolist(), qr.tolist()):
                if a:
                    total += _dec(a) * (_dec(a) / _dec(b)).ln()
            out.append(float(total))
    return np.array(out)


def exact_generalized(p: np.ndarray, q: np.ndarray) -> float:
    with localcontext() as ctx:
        ctx.prec = 60
        total = Decimal(0)
        for a, b in zip(p.tolist(), q.tolist()):
            A, B = _dec(a), _dec(b)
            total += (A * (A / B).ln() if a else 0) - A + B
        return float(total)


def exact_js(p: np.ndarray, q: np.ndarray) -> float:
    with localcontext() as ctx:
        ctx.prec = 60
        total = Decimal(0)
        for a, b in zip(p.tolist(), q.tolist()):
            A, B = _dec(a), _dec(b)
            m = (A + B) / 2
            total += (A * (A / m).ln() if a else 0) + (B * (B / m).ln() if b else 0)
        return float(total / 2)


def nearly_equal(delta: float, n: int = 100, rows: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Rows of q and of p = q perturbed by ``delta`` relative, both summing to 1 in float64."""
    q = RNG.dirichlet(np.ones(n), size=rows)
    e = RNG.normal(size=(rows, n)) * delta * q
    p = q + e - q * e.sum(-1, keepdims=True)
    return p, q


# --- item 3: nearly equal distributions --------------------------------------------------------


# SciPy's own test (scipy/special/tests/test_basic.py, gh-20710): rel_entr at x close to y,
# expected values from mpmath with 30 digits, rtol 1e-13.
GH_20710 = [
    (0.9456657713430001, 0.9456657713430094, -9.325873406851269e-15),
    (0.48066098564791515, 0.48066098564794774, -3.258504577274724e-14),
    (0.786048657854401, 0.7860486578542367, 1.6431300764454033e-13),
]


def test_scipy_gh20710_vectors(backend, generic) -> None:
    p = np.array([[x] for x, _, _ in GH_20710])
    q = np.array([[y] for _, y, _ in GH_20710])
    out = backend.to_numpy(kl_divergence(backend.asarray(p), backend.asarray(q)))
    np.testing.assert_allclose(out, [e for _, _, e in GH_20710], rtol=1e-13, atol=0)


@pytest.mark.parametrize("delta", [1e-1, 1e-3, 1e-6, 1e-9])
def test_nearly_equal_distributions_to_1e12(backend, generic, delta) -> None:
    p, q = nearly_equal(delta)
    pb, qb = backend.asarray(p), backend.asarray(q)
    ref = exact_kl(p, q)
    np.testing.assert_allclose(backend.to_numpy(kl_divergence(pb, qb)), ref, rtol=1e-12, atol=0)
    # The same through the other generic routes: a reduction, a tuple axis, broadcasting.
    np.testing.assert_allclose(
        backend.to_numpy(kl_divergence(pb, qb, reduction="sum")), ref.sum(), rtol=1e-12
    )
    np.testing.assert_allclose(
        backend.to_numpy(
            kl_divergence(backend.asarray(p[:1]), backend.asarray(q[:1]), axis=(0, 1))
        ),
        ref[0],
        rtol=1e-12,
    )


@pytest.mark.parametrize("delta", [1e-2, 1e-6, 1e-9])
def test_family_nearly_equal_to_1e12(backend, delta) -> None:
    p, q = nearly_equal(delta, rows=1)
    p, q = p[0], q[0]
    pb, qb = backend.asarray(p), backend.asarray(q)
    got = backend.to_numpy(generalized_kl_divergence(pb, qb))
    np.testing.assert_allclose(got, exact_generalized(p, q), rtol=1e-12, atol=0)
    got = backend.to_numpy(js_divergence(pb, qb))
    np.testing.assert_allclose(got, exact_js(p, q), rtol=1e-12, atol=0)
    # Unnormalised measures too (generalized_kl_divergence's domain).
    got = backend.to_numpy(
        generalized_kl_divergence(backend.asarray(7 * p), backend.asarray(7 * q))
    )
    np.testing.assert_allclose(got, exact_generalized(7 * p, 7 * q), rtol=1e-12, atol=0)


def test_split_keeps_every_ratio_exact(generic) -> None:
    """Per term, far from and near 1, against decimal: p/q from 1e-300 to 1e300."""
    q = np.full(13, 0.3)
    p = q * np.array([1e-300, 1e-9, 0.5, 0.9, 0.99, 1 - 1e-9, 1, 1 + 1e-12, 1.01, 1.1, 2, 1e9, 1e5])
    p[-1] = 4.0
    q[-1] = 2.2250738585072014e-308  # p / q overflows; the log difference does not
    for a, b in zip(p, q):
        got = kl_divergence(np.array([a]), np.array([b]))
        np.testing.assert_allclose(got, exact_kl(np.array([a]), np.array([b])), rtol=2e-15)


def test_nearly_equal_gradients_exact(ad, dtype, generic) -> None:
    """d/dq = -p/q and d/dp = log(p/q) + 1 through the series branch; finite at p == q tiny."""
    p, q = nearly_equal(1e-4, n=6, rows=1)
    p = np.concatenate([p[0], [1e-30, 0.0]])
    q = np.concatenate([q[0], [1e-30, 0.5]])
    gp, gq = grad(ad, kl_divergence, [ad.asarray(p, dtype), ad.asarray(q, dtype)])
    rtol = 1e-12 if dtype == "float64" else 2e-5
    pr, qr = ad.to_numpy(ad.asarray(p, dtype)), ad.to_numpy(ad.asarray(q, dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        want_q = np.where(pr == 0, 0.0, -pr / qr)
        want_p = np.where(pr == 0, 0.0, np.log(pr / qr) + 1)
    np.testing.assert_allclose(gq, want_q, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(gp, want_p, rtol=rtol, atol=5e-6 if dtype == "float32" else 1e-13)


# --- item 5: the family's domain ------------------------------------------------------------


EDGES = [0.0, -0.0, 0.5, 2.0, -0.5, math.inf, math.nan]


def test_generalized_kl_follows_kl_div_everywhere(backend) -> None:
    """Elementwise, scipy.special.kl_div's definition: inf for negative arguments."""
    for a in EDGES:
        for b in EDGES:
            out = generalized_kl_divergence(backend.asarray([a, 0.25]), backend.asarray([b, 0.25]))
            # Dask computes later, outside the library's np.errstate: inf - inf warns
            # there (a known limitation for infinite inputs on Dask, see the report).
            with np.errstate(invalid="ignore"):
                got = backend.to_numpy(out)
            want = kl_div(a, b)
            if math.isnan(want) or math.isinf(want):
                assert got == want or (math.isnan(got) and math.isnan(want)), (a, b, got)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-15, err_msg=f"{a}, {b}")
    # The case.
    assert backend.to_numpy(
        generalized_kl_divergence(backend.asarray([0.0]), backend.asarray([-0.5]))
    ) == (math.inf)


def test_negative_probabilities_are_nan_in_the_family(backend) -> None:
    p, q = backend.asarray([-0.5, 1.5]), backend.asarray([0.5, 0.5])
    assert np.isnan(backend.to_numpy(cross_entropy(p, q)))
    assert np.isnan(backend.to_numpy(entropy(p)))
    assert np.isnan(backend.to_numpy(js_divergence(p, q)))
    assert np.isnan(backend.to_numpy(js_divergence(q, p)))
    # q < 0 under p > 0 too; q = -0.0 under p > 0 is +inf, as q = 0.
    assert np.isnan(backend.to_numpy(cross_entropy(q, p)))
    out = cross_entropy(backend.asarray([0.5, 0.5]), backend.asarray([-0.0, 1.0]))
    assert backend.to_numpy(out) == math.inf


# --- item 6: scale_tril with negative diagonal entries ----------------------------------------


def _mvn_reference(mp, mq, lp, lq):
    """TFP's own test reference (_compute_non_batch_kl): inverse and determinants."""
    sp, sq = lp @ lp.T, lq @ lq.T
    inv = np.linalg.inv(sq)
    dm = mq - mp
    return 0.5 * (
        np.trace(inv @ sp) + dm @ inv @ dm - len(mp) + np.log(np.linalg.det(sq) / np.linalg.det(sp))
    )


def test_scale_tril_negative_diagonal_tfp_vector(backend) -> None:
    # TFP mvn_tril_test.testSampleLarge: scale_tril [[1, 0], [1/3, -2/3]] against
    # MultivariateNormalTriL([0.5, 1.2], [[3, 0], [1, 2]]): 1.4445856884.
    lp = np.array([[3.0, 0.0], [1.0, -2.0]]) / 3
    lq = np.array([[3.0, 0.0], [1.0, 2.0]])
    mp, mq = np.array([-1.0, 1.0]), np.array([0.5, 1.2])
    b = backend.asarray
    got = backend.to_numpy(
        kl_multivariate_normal(b(mp), b(mq), scale_tril_p=b(lp), scale_tril_q=b(lq))
    )
    np.testing.assert_allclose(got, 1.4445856884, atol=1e-10)
    np.testing.assert_allclose(got, _mvn_reference(mp, mq, lp, lq), rtol=1e-13)
    # Negative entries on both sides, and mixed with cov / var: L L^T is what counts.
    rng = np.random.default_rng(6)
    for _ in range(3):
        lp = np.tril(rng.normal(size=(3, 3))) + 2 * np.diag(rng.choice([-1, 1], 3))
        lq = np.tril(rng.normal(size=(3, 3))) + 2 * np.diag(rng.choice([-1, 1], 3))
        mp, mq = rng.normal(size=3), rng.normal(size=3)
        ref = _mvn_reference(mp, mq, lp, lq)
        got = kl_multivariate_normal(b(mp), b(mq), scale_tril_p=b(lp), scale_tril_q=b(lq))
        np.testing.assert_allclose(backend.to_numpy(got), ref, rtol=1e-11)
        got = kl_multivariate_normal(b(mp), b(mq), scale_tril_p=b(lp), cov_q=b(lq @ lq.T))
        np.testing.assert_allclose(backend.to_numpy(got), ref, rtol=1e-10)


# --- item 7: grids -------------------------------------------------------------------------


P_GRID = np.array([0.1, 0.4, 0.4, 0.1])
Q_GRID = np.array([0.25, 0.25, 0.25, 0.25])


@pytest.mark.parametrize("dx", [-0.1, 0.0, math.inf, math.nan, -math.inf])
def test_bad_dx_is_refused(backend, dx) -> None:
    with pytest.raises(ValueError, match="dx must be a positive finite number"):
        kl_from_densities(backend.asarray(P_GRID), backend.asarray(Q_GRID), dx=dx)


@pytest.mark.parametrize("dx", [True, "0.1", [0.1]], ids=repr)
def test_dx_of_the_wrong_type_is_refused(dx) -> None:
    with pytest.raises(TypeError, match="dx must be a positive finite number"):
        kl_from_densities(P_GRID, Q_GRID, dx=dx)


def test_dx_as_a_0d_array(backend) -> None:
    b = backend.asarray
    ref = math.fsum(np.array([0.05, 0.1, 0.1, 0.05]) * P_GRID * np.log(P_GRID / Q_GRID))
    got = backend.to_numpy(kl_from_densities(b(P_GRID), b(Q_GRID), dx=b(0.1)))
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    if backend.impl.lazy:  # no values to read: not checked (documented)
        return
    with pytest.raises(ValueError, match="dx must be a positive finite number"):
        kl_from_densities(b(P_GRID), b(Q_GRID), dx=b(-0.1))
    with pytest.raises(ValueError, match=r"dx must be .* or a 0-d array; got shape \(2,\)"):
        kl_from_densities(b(P_GRID), b(Q_GRID), dx=b([0.1, 0.1]))


@pytest.mark.parametrize(
    "x",
    [[0.0, 0.1, 0.1, 0.3], [0.3, 0.2, 0.1, 0.0], [0.0, math.nan, 0.2, 0.3], [0, 1, 2, math.inf]],
    ids=["repeated", "decreasing", "nan", "inf"],
)
def test_bad_grid_is_refused_eagerly(backend, x) -> None:
    p, q, grid = backend.asarray(P_GRID), backend.asarray(Q_GRID), backend.asarray(x)
    if backend.impl.lazy:  # no values to read, documented as unchecked
        kl_from_densities(p, q, x=grid)
        return
    with pytest.raises(ValueError, match="x must be finite and strictly increasing"):
        kl_from_densities(p, q, x=grid)


def test_good_grids_agree(backend) -> None:
    x = np.array([0.0, 0.1, 0.2, 0.3])
    b = backend.asarray
    by_x = backend.to_numpy(kl_from_densities(b(P_GRID), b(Q_GRID), x=b(x)))
    by_dx = backend.to_numpy(kl_from_densities(b(P_GRID), b(Q_GRID), dx=0.1))
    w = np.array([0.05, 0.1, 0.1, 0.05])
    ref = math.fsum(w * P_GRID * np.log(P_GRID / Q_GRID))
    np.testing.assert_allclose([by_x, by_dx], [ref, ref], rtol=1e-14)


# --- booleans, 0-d inputs, empty batches and event axes ---------------------------------------


@pytest.mark.parametrize("name", ["keepdims", "validate"])
@pytest.mark.parametrize("value", ["no", 0, 1, None, "False"], ids=repr)
def test_booleans_must_be_booleans(name, value) -> None:
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        kl_divergence(P_GRID, Q_GRID, **{name: value})


@pytest.mark.parametrize("name", ["keepdims", "validate", "normalize"])
@pytest.mark.parametrize("value", ["no", 0, 1, None, "False"], ids=repr)
def test_density_booleans_must_be_booleans(name, value) -> None:
    with pytest.raises(TypeError, match=f"{name} must be True or False"):
        kl_from_densities(P_GRID, Q_GRID, dx=0.1, **{name: value})


@pytest.mark.parametrize(
    "call",
    [
        lambda: entropy(P_GRID, keepdims="no"),
        lambda: cross_entropy(P_GRID, Q_GRID, keepdims="no"),
        lambda: js_divergence(P_GRID, Q_GRID, keepdims="no"),
        lambda: generalized_kl_divergence(P_GRID, Q_GRID, keepdims=1),
        lambda: kl_from_counts([1, 2], [2, 1], keepdims="yes"),
    ],
    ids=[
        "entropy",
        "cross_entropy",
        "js_divergence",
        "generalized_kl_divergence",
        "kl_from_counts",
    ],
)
def test_family_booleans_must_be_booleans(call) -> None:
    with pytest.raises(TypeError, match="keepdims must be True or False"):
        call()


def test_numpy_booleans_are_booleans() -> None:
    out = kl_divergence(P_GRID, Q_GRID, keepdims=np.bool_(True), validate=np.True_)
    assert out.shape == (1,)


@pytest.mark.parametrize("k", [True, 0, 1.0])
def test_knn_k_must_be_a_positive_int(k) -> None:
    with pytest.raises(ValueError, match="k must be a positive int"):
        kl_from_samples_knn(np.zeros((5, 1)), np.ones((5, 1)), k=k)


@pytest.mark.parametrize(
    "call",
    [
        lambda: kl_divergence(0.5, 0.5),
        lambda: kl_divergence(np.float64(0.5), np.array(0.25)),
        lambda: entropy(0.5),
        lambda: generalized_kl_divergence(0.0, -0.5),
        lambda: kl_standard_normal(0.0, 0.0),
    ],
    ids=["kl", "kl-numpy-0d", "entropy", "generalized_kl_divergence", "kl_standard_normal"],
)
def test_zero_d_inputs_say_a_distribution_needs_an_axis(call) -> None:
    with pytest.raises(ValueError, match=r"needs at least one axis.*0-d"):
        call()


def test_mean_over_an_empty_batch_is_nan_without_warning(backend) -> None:
    p = backend.asarray(np.full((0, 3), 1 / 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = backend.to_numpy(kl_divergence(p, p, reduction="mean"))
        assert out.shape == () and np.isnan(out)
        out = backend.to_numpy(kl_divergence(p, p, reduction="mean", keepdims=True))
        assert out.shape == (1, 1) and np.isnan(out).all()
        assert backend.to_numpy(kl_divergence(p, p, reduction="sum")) == 0
        assert np.isnan(backend.to_numpy(entropy(p, reduction="mean")))
        assert np.isnan(backend.to_numpy(js_divergence(p, p, reduction="mean")))


@pytest.mark.parametrize("shape", [(0,), (3, 0)])
def test_empty_logits_axis_is_a_value_error(backend, generic, shape) -> None:
    a = backend.asarray(np.zeros(shape))
    for call in (
        lambda: kl_divergence(a, a, inputs="logits"),
        lambda: cross_entropy(a, a, inputs="logits"),
        lambda: entropy(a, inputs="logits"),
    ):
        with pytest.raises(ValueError, match="at least one logit per distribution"):
            call()
    # Probabilities over no events: the empty sum, documented.
    assert (backend.to_numpy(kl_divergence(a, a)) == 0).all()


# --- the same class in the closed forms: parameters outside their domain -------------------


def test_closed_forms_outside_their_domain_are_nan(backend) -> None:
    """log1p((a - b) / b) cannot tell two negative parameters from two positive ones."""
    from kl_backends import kl_bernoulli, kl_exponential, kl_normal, kl_poisson

    b = backend.asarray
    cases = {
        "normal, two negative scales": kl_normal(b([0.0]), b([-1.0]), b([0.0]), b([-1.0])),
        "normal, zero scale": kl_normal(b([0.0]), b([0.0]), b([0.0]), b([1.0])),
        "exponential, two negative rates": kl_exponential(b([-1.0]), b([-2.0])),
        "poisson, rate_p 0 and rate_q negative": kl_poisson(b([0.0]), b([-0.5])),
        "poisson, two negative rates": kl_poisson(b([-1.0]), b([-1.0])),
        "bernoulli, q negative": kl_bernoulli(b([0.0]), b([-0.5])),
        "bernoulli, p above 1": kl_bernoulli(b([1.5]), b([0.5])),
        "mvn, two negative variances": kl_multivariate_normal(
            b([0.0, 0.0]), b([0.0, 0.0]), var_p=b([-1.0, 1.0]), var_q=b([-1.0, 1.0])
        ),
    }
    for name, out in cases.items():
        with np.errstate(divide="ignore", invalid="ignore"):  # Dask computes here (see above)
            assert np.isnan(backend.to_numpy(out)).all(), name
    # The valid edges stay exact: Poisson(0) against Poisson(0.5) is 0.5.
    assert backend.to_numpy(kl_poisson(b([0.0]), b([0.5]))) == 0.5
    assert backend.to_numpy(kl_bernoulli(b([0.0]), b([0.5]))) == pytest.approx(math.log(2))


@pytest.mark.parametrize("pseudocount", [-0.5, math.nan, True, "0.5"], ids=repr)
def test_pseudocount_is_a_finite_non_negative_number(pseudocount) -> None:
    with pytest.raises(ValueError, match="pseudocount must be a finite number >= 0"):
        kl_from_counts([1, 2], [2, 1], pseudocount=pseudocount)
