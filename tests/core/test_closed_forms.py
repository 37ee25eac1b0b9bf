"""Closed forms, continuous KL on a grid, KL from samples, and the divergence family.

Each is checked on every backend against published values and an independent
float64 formula written here with NumPy/SciPy (inverses and determinants are
fine in a reference), and against torch.distributions and TFP.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import kl_div, rel_entr
from scipy.stats import norm

from conftest import need
from kl_backends import (
    cross_entropy,
    entropy,
    generalized_kl_divergence,
    js_divergence,
    kl_bernoulli,
    kl_divergence,
    kl_exponential,
    kl_from_counts,
    kl_from_densities,
    kl_from_samples,
    kl_from_samples_knn,
    kl_multivariate_normal,
    kl_normal,
    kl_poisson,
    kl_standard_normal,
)
from kl_backends._dispatch import backend_of

RNG = np.random.default_rng(42)


def _spd(rng, batch, d, cond=10.0):
    """Random SPD matrices with eigenvalues from 1 down to 1/cond."""
    q, _ = np.linalg.qr(rng.normal(size=(*batch, d, d)))
    eig = np.logspace(0, -np.log10(cond), d)
    return (q * eig) @ np.swapaxes(q, -1, -2)


def ref_mvn(mp, mq, cp, cq):
    """Textbook formula with an explicit inverse and determinants (float64)."""
    d = mp.shape[-1]
    iq = np.linalg.inv(cq)
    dm = (mq - mp)[..., None]
    quad = (np.swapaxes(dm, -1, -2) @ iq @ dm)[..., 0, 0]
    tr = np.trace(iq @ cp, axis1=-2, axis2=-1)
    return 0.5 * (tr + quad - d + np.linalg.slogdet(cq)[1] - np.linalg.slogdet(cp)[1])


def ref_normal(mp, sp, mq, sq):
    return np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5


def _np(on, x):
    assert backend_of(x).name == on.name
    return on.to_numpy(x)


# --- published values, every backend ------------------------------------------------


def test_published_values(backend) -> None:
    f = backend.asarray
    assert _np(backend, kl_normal(f(0.0), f(1.0), f(1.0), f(2.0))) == pytest.approx(
        0.4431471806, abs=1e-10
    )
    # TFP's NormalNormal test vector.
    got = _np(
        backend,
        kl_normal(f(3.0), f([1, 2, 3, 1.5, 2.5, 3.5]), f(-3.0), f([0.5, 1, 1.5, 2, 2.5, 3])),
    )
    np.testing.assert_allclose(
        got, [72.80685282, 18.80685282, 8.80685282, 4.56893207, 2.88, 2.02640488], atol=5e-9
    )
    c = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert _np(
        backend,
        kl_multivariate_normal(f(np.zeros(2)), f(np.ones(2)), cov_p=f(np.eye(2)), cov_q=f(c)),
    ) == pytest.approx(0.7083793225, abs=1e-10)
    assert _np(
        backend,
        kl_multivariate_normal(f(np.ones(2)), f(np.zeros(2)), cov_p=f(c), cov_q=f(np.eye(2))),
    ) == pytest.approx(1.2201921060, abs=1e-10)
    for kw in (
        {"cov_q": f(2 * np.eye(3))},
        {"var_q": f(2 * np.ones(3))},
        {"scale_tril_q": f(math.sqrt(2) * np.eye(3))},
    ):
        got = kl_multivariate_normal(f(np.zeros(3)), f(np.ones(3)), var_p=f([1.0, 2.0, 3.0]), **kw)
        assert _np(backend, got) == pytest.approx(0.8938410362, abs=1e-10)
    assert _np(backend, kl_exponential(f(0.2), f(0.4))) == pytest.approx(1 - math.log(2), abs=1e-12)
    assert _np(backend, js_divergence(f([1.0, 0.0]), f([0.5, 0.5]))) == pytest.approx(
        0.4645014040**2, abs=1e-10
    )
    assert _np(backend, js_divergence(f([1.0, 0.0]), f([0.0, 1.0]), base=2)) == 1.0
    assert _np(backend, kl_from_counts(f([2, 2, 1]), f([5, 1, 4]), base=2)) == pytest.approx(
        0.4712, abs=5e-5
    )


def test_samples_and_grid_examples(backend) -> None:
    f = backend.asarray
    if not backend.impl.lazy:  # the support's size depends on the values: eager only
        got = kl_from_samples(f([1, 1, 2, 2, 3]), f([1, 1, 1, 1, 1, 2, 3, 3, 3, 3]), base=2)
        assert _np(backend, got) == pytest.approx(0.4712, abs=5e-5)
    x = np.arange(-10, 10, 0.001)
    p, q = f(norm.pdf(x, 0, 2)), f(norm.pdf(x, 2, 2))
    # The example's 500 is the sum of pdf values; with dx it is the integral, 0.5.
    assert _np(backend, kl_divergence(p, q)) == pytest.approx(500.0, abs=5e-4)
    assert _np(backend, kl_from_densities(p, q, dx=0.001)) == pytest.approx(0.5, abs=1e-6)
    xs = np.sort(RNG.uniform(-12, 12, 3000))
    got = kl_from_densities(f(norm.pdf(xs, 0, 2)), f(norm.pdf(xs, 2, 2)), x=f(xs))
    assert _np(backend, got) == pytest.approx(0.5, abs=1e-4)
    # Log densities, renormalised on the grid (truncation at -10, 10).
    got = kl_from_densities(
        f(norm.logpdf(x, 0, 2)),
        f(norm.logpdf(x, 2, 2)),
        dx=0.001,
        inputs="log_probs",
        normalize=True,
    )
    pn, qn = norm.pdf(x, 0, 2), norm.pdf(x, 2, 2)
    pn, qn = pn / np.trapezoid(pn, x), qn / np.trapezoid(qn, x)
    assert _np(backend, got) == pytest.approx(np.trapezoid(rel_entr(pn, qn), x), rel=1e-9)


# --- random batches against the float64 formulas ----------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_batches_against_formulas(backend, dtype) -> None:
    rtol = {"float32": 2e-4, "float64": 1e-9}[dtype]
    f = lambda a: backend.asarray(a, dtype)  # noqa: E731
    r = lambda a: backend.to_numpy(f(a))  # noqa: E731  (the values the backend holds)
    mp, mq = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))
    sp, sq = RNG.uniform(0.5, 2, (5, 3)), RNG.uniform(0.5, 2, (5, 3))
    got = kl_normal(f(mp), f(sp), f(mq), f(sq))
    np.testing.assert_allclose(_np(backend, got), ref_normal(r(mp), r(sp), r(mq), r(sq)), rtol=rtol)
    cp, cq = _spd(RNG, (4,), 3), _spd(RNG, (4,), 3)
    lm, lq_ = RNG.normal(size=(4, 3)), RNG.normal(size=(3,))
    got = kl_multivariate_normal(f(lm), f(lq_), cov_p=f(cp), cov_q=f(cq))
    np.testing.assert_allclose(_np(backend, got), ref_mvn(r(lm), r(lq_), r(cp), r(cq)), rtol=rtol)
    got = kl_multivariate_normal(
        f(lm),
        f(lq_),
        scale_tril_p=f(np.linalg.cholesky(cp)),
        var_q=f(np.diagonal(cq, axis1=-2, axis2=-1)),
    )
    dq = np.diagonal(r(cq), axis1=-2, axis2=-1)
    np.testing.assert_allclose(
        _np(backend, got),
        ref_mvn(
            r(lm),
            r(lq_),
            r(np.linalg.cholesky(cp)) @ np.swapaxes(r(np.linalg.cholesky(cp)), -1, -2),
            dq[..., None] * np.eye(3),
        ),
        rtol=rtol * 10,
    )
    mu, lv = RNG.normal(size=(6, 4)), RNG.normal(size=(6, 4))
    usual_form = -0.5 * np.sum(1 + r(lv) - r(mu) ** 2 - np.exp(r(lv)), axis=1)
    np.testing.assert_allclose(
        _np(backend, kl_standard_normal(f(mu), f(lv))), usual_form, rtol=rtol
    )
    np.testing.assert_allclose(
        _np(backend, kl_standard_normal(f(mu), f(lv), reduction="mean")),
        usual_form.mean(),
        rtol=rtol,
    )
    bp, bq = RNG.uniform(size=7), RNG.uniform(size=7)
    expected = rel_entr(r(bp), r(bq)) + rel_entr(1 - r(bp), 1 - r(bq))
    np.testing.assert_allclose(_np(backend, kl_bernoulli(f(bp), f(bq))), expected, rtol=rtol)
    la, lb = np.log(bp / (1 - bp)), np.log(bq / (1 - bq))
    pa, pb = 1 / (1 + np.exp(-r(la))), 1 / (1 + np.exp(-r(lb)))
    np.testing.assert_allclose(
        _np(backend, kl_bernoulli(f(la), f(lb), inputs="logits")),
        rel_entr(pa, pb) + rel_entr(1 - pa, 1 - pb),
        rtol=rtol * 10,
    )
    ra, rb = RNG.uniform(0.1, 5, 6), RNG.uniform(0.1, 5, 6)
    np.testing.assert_allclose(
        _np(backend, kl_exponential(f(ra), f(rb))),
        np.log(r(ra) / r(rb)) + r(rb) / r(ra) - 1,
        rtol=rtol,
    )
    np.testing.assert_allclose(
        _np(backend, kl_poisson(f(ra), f(rb))), kl_div(r(ra), r(rb)), rtol=rtol
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_family_against_scipy(backend, dtype) -> None:
    rtol = {"float32": 1e-5, "float64": 1e-12}[dtype]
    f = lambda a: backend.asarray(a, dtype)  # noqa: E731
    p = RNG.dirichlet(np.ones(9), size=5)
    q = RNG.dirichlet(np.ones(9), size=5)
    p[0, :3] = 0
    p[0] /= p[0].sum()
    q[1, :2] = 0
    q[1] /= q[1].sum()
    pr, qr = backend.to_numpy(f(p)), backend.to_numpy(f(q))
    np.testing.assert_allclose(
        _np(backend, js_divergence(f(p), f(q))),
        jensenshannon(pr, qr, axis=-1) ** 2,
        rtol=rtol * 10,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        _np(backend, entropy(f(p), base=2)),
        -np.sum(rel_entr(pr, 1.0), axis=-1) / math.log(2),
        rtol=rtol,
    )
    with np.errstate(divide="ignore"):
        ce = -np.sum(np.where(pr > 0, pr * np.log(qr), 0.0), axis=-1)
    np.testing.assert_allclose(_np(backend, cross_entropy(f(p), f(q))), ce, rtol=rtol)
    np.testing.assert_allclose(
        _np(backend, cross_entropy(f(p), f(q))),
        _np(backend, kl_divergence(f(p), f(q))) + _np(backend, entropy(f(p))),
        rtol=rtol * 10,
    )
    lp, lq = np.log(p + 1e-300), RNG.normal(size=(5, 9))
    np.testing.assert_allclose(
        _np(backend, cross_entropy(f(lp), f(lq), inputs="logits")),
        -np.sum(
            pr
            * (
                backend.to_numpy(f(lq))
                - np.log(np.exp(backend.to_numpy(f(lq))).sum(-1, keepdims=True))
            ),
            axis=-1,
        ),
        rtol=rtol * 10,
        atol=1e-6,
    )
    m, n = RNG.uniform(0, 3, (4, 6)), RNG.uniform(0.1, 3, (4, 6))
    m[0, 0] = 0
    np.testing.assert_allclose(
        _np(backend, generalized_kl_divergence(f(m), f(n))),
        kl_div(backend.to_numpy(f(m)), backend.to_numpy(f(n))).sum(-1),
        rtol=rtol,
    )


# --- accuracy --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nearly_equal_normals_keep_relative_accuracy(dtype) -> None:
    mpmath = need("mpmath")
    mpmath.mp.dps = 50
    eps = float(np.finfo(dtype).eps)
    for delta in (1e-2, 1e-3, 1e-4):
        sp, sq = np.asarray(1.0, dtype), np.asarray(1.0 + delta, dtype)
        mq = np.asarray(delta, dtype)
        S, Q, M = (mpmath.mpf(float(v)) for v in (sp, sq, mq))
        exact = float(mpmath.log(Q / S) + (S**2 + M**2) / (2 * Q**2) - mpmath.mpf(1) / 2)
        got = float(kl_normal(np.asarray(0, dtype), sp, mq, sq))
        # The textbook formula loses about eps / KL ~ eps / delta**2 relative.
        assert abs(got - exact) / exact < 40 * eps / delta, (delta, got, exact)
        naive = float(np.log(sq / sp) + (sp**2 + mq**2) / (2 * sq**2) - np.asarray(0.5, dtype))
        if dtype == "float32" and delta <= 1e-3:
            assert abs(naive - exact) / exact > abs(got - exact) / exact


def test_mvn_float32_d64_condition_1e4(backend) -> None:
    rng = np.random.default_rng(1)
    cp, cq = _spd(rng, (), 64, cond=1e4), _spd(rng, (), 64, cond=1e4)
    mp, mq = rng.normal(size=64) * 0.1, rng.normal(size=64) * 0.1
    ref = ref_mvn(mp, mq, cp, cq)
    f32 = lambda a: backend.asarray(a, "float32")  # noqa: E731
    got = backend.to_numpy(kl_multivariate_normal(f32(mp), f32(mq), cov_p=f32(cp), cov_q=f32(cq)))
    # Against float64 on the same float32-rounded inputs.
    r = lambda a: backend.to_numpy(f32(a))  # noqa: E731
    ref32in = ref_mvn(r(mp), r(mq), r(cp), r(cq))
    assert abs(got - ref32in) / ref32in < 1e-4, (got, ref32in, ref)


# --- torch.distributions and TFP -----------------------------------------------------------


def _pairs(rng):
    mp, mq = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    sp, sq = rng.uniform(0.5, 2, (4, 3)), rng.uniform(0.5, 2, (4, 3))
    cp, cq = _spd(rng, (4,), 3), _spd(rng, (4,), 3)
    bp, bq = rng.uniform(0.05, 0.95, 5), rng.uniform(0.05, 0.95, 5)
    ra, rb = rng.uniform(0.1, 5, 5), rng.uniform(0.1, 5, 5)
    return mp, mq, sp, sq, cp, cq, bp, bq, ra, rb


def test_against_torch_distributions() -> None:
    torch = need("torch")
    D = torch.distributions
    mp, mq, sp, sq, cp, cq, bp, bq, ra, rb = (torch.tensor(a) for a in _pairs(RNG))
    kl = D.kl_divergence
    cases = [
        (kl(D.Normal(mp, sp), D.Normal(mq, sq)), kl_normal(mp, sp, mq, sq)),
        (
            kl(D.MultivariateNormal(mp, cp), D.MultivariateNormal(mq, cq)),
            kl_multivariate_normal(mp, mq, cov_p=cp, cov_q=cq),
        ),
        (
            kl(
                D.MultivariateNormal(mp, scale_tril=torch.linalg.cholesky(cp)),
                D.MultivariateNormal(mq, scale_tril=torch.linalg.cholesky(cq)),
            ),
            kl_multivariate_normal(
                mp,
                mq,
                scale_tril_p=torch.linalg.cholesky(cp),
                scale_tril_q=torch.linalg.cholesky(cq),
            ),
        ),
        (
            kl(D.Independent(D.Normal(mp, sp), 1), D.Independent(D.Normal(mq, sq), 1)),
            kl_multivariate_normal(mp, mq, var_p=sp**2, var_q=sq**2),
        ),
        (kl(D.Bernoulli(probs=bp), D.Bernoulli(probs=bq)), kl_bernoulli(bp, bq)),
        (kl(D.Exponential(ra), D.Exponential(rb)), kl_exponential(ra, rb)),
        (kl(D.Poisson(ra), D.Poisson(rb)), kl_poisson(ra, rb)),
    ]
    for expected, got in cases:
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_against_tfp() -> None:
    tf = need("tensorflow")
    tfp = need("tensorflow_probability")
    tfd = tfp.distributions
    mp, mq, sp, sq, cp, cq, bp, bq, ra, rb = (tf.constant(a) for a in _pairs(RNG))
    kl = tfd.kl_divergence
    lp, lq = tf.linalg.cholesky(cp), tf.linalg.cholesky(cq)
    cases = [
        (kl(tfd.Normal(mp, sp), tfd.Normal(mq, sq)), kl_normal(mp, sp, mq, sq)),
        (
            kl(tfd.MultivariateNormalTriL(mp, lp), tfd.MultivariateNormalTriL(mq, lq)),
            kl_multivariate_normal(mp, mq, cov_p=cp, cov_q=cq),
        ),
        (
            kl(tfd.MultivariateNormalDiag(mp, sp), tfd.MultivariateNormalDiag(mq, sq)),
            kl_multivariate_normal(mp, mq, var_p=sp**2, var_q=sq**2),
        ),
        (
            kl(tfd.Independent(tfd.Normal(mp, sp), 1), tfd.Independent(tfd.Normal(mq, sq), 1)),
            kl_multivariate_normal(mp, mq, var_p=sp**2, var_q=sq**2),
        ),
        (kl(tfd.Bernoulli(probs=bp), tfd.Bernoulli(probs=bq)), kl_bernoulli(bp, bq)),
        (kl(tfd.Exponential(ra), tfd.Exponential(rb)), kl_exponential(ra, rb)),
    ]
    for expected, got in cases:
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
    # TFP registers no Poisson-Poisson KL: ours is the one to use (vs the formula above).
    with pytest.raises(NotImplementedError):
        kl(tfd.Poisson(ra), tfd.Poisson(rb))


# --- edges, errors, gradients, laziness ---------------------------------------------------


def test_bernoulli_and_poisson_edges() -> None:
    np.testing.assert_allclose(
        kl_bernoulli([0.0, 1.0, 1.0, 0.0], [0.5, 0.5, 1.0, 1.0]),
        [math.log(2), math.log(2), 0.0, math.inf],
    )
    np.testing.assert_allclose(
        kl_bernoulli([-np.inf, np.inf, 40.0], [0.0, 0.0, -40.0], inputs="logits"),
        [math.log(2), math.log(2), 40.0 + math.log1p(math.exp(-40.0))],
        rtol=1e-12,
    )
    np.testing.assert_allclose(kl_poisson([0.0, 2.0], [3.0, 0.0]), [3.0, math.inf])


def test_mvn_errors() -> None:
    with pytest.raises(ValueError, match="exactly one of cov_p, scale_tril_p or var_p"):
        kl_multivariate_normal(np.zeros(2), np.zeros(2), cov_q=np.eye(2))
    with pytest.raises(ValueError, match="exactly one of cov_q"):
        kl_multivariate_normal(
            np.zeros(2), np.zeros(2), cov_p=np.eye(2), cov_q=np.eye(2), var_q=np.ones(2)
        )
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="cov_q is not positive definite"):
        kl_multivariate_normal(np.zeros(2), np.zeros(2), cov_p=np.eye(2), cov_q=bad)


def test_mvn_not_pd_backends(backend) -> None:
    bad = backend.asarray([[1.0, 2.0], [2.0, 1.0]])
    z = backend.asarray([0.0, 0.0])
    if backend.impl.lazy:
        out = kl_multivariate_normal(z, z, cov_p=backend.asarray(np.eye(2)), cov_q=bad)
        with pytest.raises(np.linalg.LinAlgError):  # lazy: NumPy's own error at compute
            out.compute()
        return
    with pytest.raises(ValueError, match="not positive definite"):
        kl_multivariate_normal(z, z, cov_p=backend.asarray(np.eye(2)), cov_q=bad)


def test_mvn_not_pd_under_jit_is_nan() -> None:
    jax = need("jax")
    f = jax.jit(
        lambda c: kl_multivariate_normal(
            jax.numpy.zeros(2), jax.numpy.zeros(2), cov_p=jax.numpy.eye(2), cov_q=c
        )
    )
    assert math.isnan(float(f(jax.numpy.asarray([[1.0, 2.0], [2.0, 1.0]]))))


def test_self_kl_is_zero_with_finite_gradient(ad, dtype) -> None:
    from test_gradients import grad

    c = ad.asarray(_spd(RNG, (), 3), dtype)
    m = ad.asarray(RNG.normal(size=3), dtype)
    out = ad.to_numpy(kl_multivariate_normal(m, m, cov_p=c, cov_q=c))
    assert abs(out) < 50 * float(np.finfo(dtype).eps)
    gm, gc = grad(ad, lambda a, b: kl_multivariate_normal(a, a, cov_p=b, cov_q=b), [m, c])
    assert np.isfinite(gm).all() and np.isfinite(gc).all()
    s = ad.asarray([1.0, 2.0], dtype)
    gl, gs = grad(ad, lambda a, b: kl_normal(a, b, a, b), [s, s])
    assert np.isfinite(gl).all() and np.isfinite(gs).all()
    assert np.abs(gs).max() < 1e-6
    gp, gq = grad(
        ad,
        js_divergence,
        [ad.asarray([[0.5, 0.5, 0.0]], dtype), ad.asarray([[0.0, 0.5, 0.5]], dtype)],
    )
    assert np.isfinite(gp).all() and np.isfinite(gq).all()


def test_closed_forms_stay_lazy_on_dask() -> None:
    dask = need("dask")
    da = need("dask.array")

    def forbid(*args, **kwargs):
        raise AssertionError("computed")

    mp = da.from_array(RNG.normal(size=(40, 3)), chunks=(10, 3))
    cp = da.from_array(_spd(RNG, (40,), 3), chunks=(10, 3, 3))
    sp = da.from_array(RNG.uniform(0.5, 2, (40, 3)), chunks=(10, 3))
    with dask.config.set(scheduler=forbid):
        outs = [
            kl_multivariate_normal(mp, mp[::-1], cov_p=cp, cov_q=cp[::-1]),
            kl_normal(mp, sp, 0.0, 1.0),
            kl_standard_normal(mp, sp),
            js_divergence(sp, sp[::-1]),
        ]
    assert [o.chunks[0] for o in outs] == [(10,) * 4] * 4
    np.testing.assert_allclose(
        outs[0].compute(),
        ref_mvn(mp.compute(), mp.compute()[::-1], cp.compute(), cp.compute()[::-1]),
        rtol=1e-10,
    )


# --- kNN estimator ----------------------------------------------------------------------


def test_knn_two_gaussians_within_005() -> None:
    mp, mq = np.zeros(2), np.array([0.5, -0.3])
    cp, cq = np.array([[1, 0.3], [0.3, 1]]), np.array([[1.2, 0], [0, 0.8]])
    true = float(kl_multivariate_normal(mp, mq, cov_p=cp, cov_q=cq))
    for seed in range(3):
        rng = np.random.default_rng(seed)
        a, b = rng.multivariate_normal(mp, cp, 5000), rng.multivariate_normal(mq, cq, 5000)
        assert abs(float(kl_from_samples_knn(a, b, k=3)) - true) < 0.05
    # Chunking changes memory, not the result.
    a, b = a[:700], b[:900]
    np.testing.assert_allclose(
        kl_from_samples_knn(a, b, chunk_size=64),
        kl_from_samples_knn(a, b, chunk_size=10_000),
        rtol=1e-12,
    )


def test_knn_backends_agree(backend) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(250, 2)) + 0.5
    got = backend.to_numpy(
        kl_from_samples_knn(backend.asarray(a), backend.asarray(b), k=2, chunk_size=128)
    )
    np.testing.assert_allclose(got, kl_from_samples_knn(a, b, k=2), rtol=1e-9)


def test_knn_under_jax_jit() -> None:
    jax = need("jax")
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(200, 3)), rng.normal(size=(220, 3))
    got = jax.jit(lambda x, y: kl_from_samples_knn(x, y, chunk_size=64))(a, b)
    np.testing.assert_allclose(float(got), float(kl_from_samples_knn(a, b)), rtol=1e-6)
