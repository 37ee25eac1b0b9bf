"""kl_penalty: the per-token KL estimators k1, k2, k3 of reinforcement learning.

References: float64 NumPy and mpmath formulas written here, the exact KL of categorical
distributions (for the bias, the variance and the expected gradients), and the peers'
own formulas transcribed in ``_penalty_peers.py`` (verl, OpenRLHF, TRL, NeMo-RL).

Gradients with respect to log_probs: k1: 1; k2: r; k3: 1 - exp(-r); those with respect
to ref_log_probs are their negatives (r = log_probs - ref_log_probs).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import _penalty_peers as peers
import mpmath
import numpy as np
import pytest

from _gradients import grad
from conftest import need
from kl_backends import kl_penalty

# r from -30 to 25: tiny ratios (where e^-r - 1 + r loses digits), moderate, and beyond
# verl's and NeMo-RL's input clamp (|r| > 20) and output clamp (k3 > 10 for r < -2.4).
R = np.array([[-30.0, -3.0, -0.7, -1e-3], [2e-7, 0.4, 1.5, 25.0]])
REF = np.log(np.array([[0.3, 0.05, 0.5, 0.2], [0.9, 0.01, 0.25, 1e-12]]))
LP = REF + R
W = np.array([[1.0, 0.5, 2.0, 1.2], [0.8, 1.0, 0.3, 1.5]])
MASK = np.array([[True, True, False, True], [True, False, True, True]])


def _k(estimator: str, r: np.ndarray) -> np.ndarray:
    """The estimator in float64; k3 through mpmath at 50 digits."""
    if estimator == "k1":
        return np.array(r, dtype=np.float64)
    if estimator == "k2":
        return r * r / 2
    with mpmath.workdps(50):
        return np.vectorize(lambda x: float(mpmath.expm1(-mpmath.mpf(float(x))) + float(x)))(r)


def _reference(lp, ref, estimator, clamp_log_ratio=None, clamp=None, w=None, mask=None,
               reduction="none", base=None):  # fmt: skip
    r = lp - ref
    if clamp_log_ratio is not None:
        r = np.clip(r, *clamp_log_ratio)
    v = _k(estimator, r) * (1.0 if w is None else w)
    if base is not None:
        v = v / np.log(base)
    if clamp is not None:
        v = np.clip(v, *clamp)
    if mask is not None:
        v = np.where(mask, v, 0.0)
    if reduction == "sum":
        return v.sum()
    if reduction == "mean":
        return v.sum() / (v.size if mask is None else mask.sum())
    return v


def _eps(dtype: str) -> float:
    return float(np.finfo(dtype).eps)


# -- values on every backend -------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_values_on_every_backend(backend, estimator: str) -> None:
    lp, ref = backend.asarray(LP), backend.asarray(REF)
    lp64, ref64 = backend.to_numpy(lp), backend.to_numpy(ref)
    out = backend.to_numpy(kl_penalty(lp, ref, estimator=estimator))
    np.testing.assert_allclose(out, _reference(lp64, ref64, estimator), rtol=4e-15, atol=0)
    # Every option at once: the clamps, weights, where, a base, each reduction.
    kw = {"clamp_log_ratio": (-20, 3), "clamp": (None, 6.0), "base": 2}
    w, mask = backend.asarray(W), backend.namespace.asarray(MASK)
    for reduction in ("none", "sum", "mean"):
        got = kl_penalty(lp, ref, estimator=estimator, weights=w, where=mask,
                         reduction=reduction, **kw)  # fmt: skip
        expected = _reference(lp64, ref64, estimator, (-20, 3), (-np.inf, 6.0), W, MASK,
                              reduction, 2)  # fmt: skip
        np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_k3_accurate_for_every_ratio(backend, dtype: str) -> None:
    """A few ulps from r = 1e-8 (where exp(-r) - 1 + r loses every digit in float32) to
    the overflow threshold; +inf beyond it, the true value rounded, without a warning."""
    big = math.log(float(np.finfo(dtype).max))
    mags = np.geomspace(1e-8, 0.97 * big, 30)
    beyond = [-1.02 * big, -1e30, -np.inf]
    r = np.concatenate([mags, -mags, [0.0, 1.0, -1.0], beyond]).reshape(3, 22)
    r = backend.to_numpy(backend.asarray(r, dtype))  # the values the backend holds
    lp = backend.asarray(r, dtype)
    out = backend.to_numpy(kl_penalty(lp, backend.asarray(np.zeros_like(r), dtype)))
    finite = np.isfinite(r) & (r > -big)
    np.testing.assert_allclose(out[finite], _k("k3", r[finite]), rtol=6 * _eps(dtype), atol=0)
    assert (out[~finite] == np.inf).all() and (~finite).sum() == 3


# -- the estimators' statistics ----------------------------------------------------------

PI = np.array([0.3, 0.25, 0.2, 0.15, 0.07, 0.03])


def _sample(pi: np.ndarray, pi_ref: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(12345).choice(len(pi), size=n, p=pi)
    return np.log(pi)[x], np.log(pi_ref)[x]


@pytest.mark.parametrize("far", [False, True], ids=["close", "far"])
def test_bias_and_variance_against_exact_kl(far: bool) -> None:
    """k1 and k3 unbiased, k2 biased (its mean is E[r^2 / 2]); k3 has the lower variance
    for close distributions (Schulman 2020), the sample variances match the exact ones."""
    tilt = np.array([1.0, -0.5, 0.8, -1.0, 0.4, -0.3]) * (2.0 if far else 0.15)
    pi_ref = PI * np.exp(tilt)
    pi_ref /= pi_ref.sum()
    r_all = np.log(PI) - np.log(pi_ref)
    kl = float(np.sum(PI * r_all))  # exact KL(pi || pi_ref)
    n = 200_000
    lp, ref = _sample(PI, pi_ref, n)
    for estimator, exact_mean in (("k1", kl), ("k3", kl), ("k2", float(np.sum(PI * r_all**2 / 2)))):
        k = kl_penalty(lp, ref, estimator=estimator)
        se = k.std() / math.sqrt(n)
        assert abs(k.mean() - exact_mean) < 4 * se, (estimator, k.mean(), exact_mean, se)
        k_all = _k(estimator, r_all)
        exact_var = float(np.sum(PI * (k_all - exact_mean) ** 2))
        np.testing.assert_allclose(k.var(), exact_var, rtol=0.05)
        if estimator == "k2":
            assert abs(exact_mean - kl) > 10 * se  # biased, measurably
    var = {e: float(np.sum(PI * (_k(e, r_all) - kl) ** 2)) for e in ("k1", "k3")}
    if not far:
        assert var["k3"] < 0.1 * var["k1"]


# -- gradients -------------------------------------------------------------------------

GR = np.array([[-1.7, -0.3, 0.05, -0.8], [0.6, 1.1, 2.4, -2.2]])  # away from the bounds
GREF = np.log(np.array([[0.2, 0.4, 0.1, 0.3], [0.3, 0.05, 0.6, 0.01]]))
DK = {
    "k1": lambda r: np.ones_like(r),
    "k2": lambda r: r,
    "k3": lambda r: -np.expm1(-r),
}


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_gradients_analytic(ad, dtype: str, estimator: str) -> None:
    lp, ref = ad.asarray(GREF + GR, dtype), ad.asarray(GREF, dtype)
    r = ad.to_numpy(lp) - ad.to_numpy(ref)
    rtol = 16 * _eps(dtype)
    cases = (
        ({}, DK[estimator](r)),
        ({"clamp_log_ratio": (-1.0, 1.0)}, DK[estimator](r) * (np.abs(r) <= 1)),
        ({"gradient": "k2", "clamp_log_ratio": 1.0}, r * (np.abs(r) <= 1)),
        (  # the value clamped in bits
            {"clamp": (-0.5, 0.5), "base": 2},
            DK[estimator](r) / np.log(2) * (np.abs(_k(estimator, r) / np.log(2)) <= 0.5),
        ),
    )
    for kw, expected in cases:
        f = functools.partial(kl_penalty, estimator=estimator, **kw)
        glp, gref = grad(ad, f, [lp, ref])
        np.testing.assert_allclose(glp, expected, rtol=rtol, atol=rtol, err_msg=str(kw))
        np.testing.assert_allclose(gref, -expected, rtol=rtol, atol=rtol, err_msg=str(kw))


def test_k3_gradient_at_the_extremes(ad, dtype: str) -> None:
    """1 - e^-r also where the value overflows (-inf there, as its true value), at +-inf
    and for tiny r; no NaN reaches a neighbouring token."""
    lp = np.array([-1000.0, -np.inf, np.inf, 800.0, 1e-9, -0.5])
    args = [ad.asarray(lp, dtype), ad.asarray(np.zeros(6), dtype)]
    glp, gref = grad(ad, kl_penalty, args)
    r = ad.to_numpy(args[0])
    with np.errstate(over="ignore"):
        expected = -np.expm1(-r)
    np.testing.assert_allclose(glp, expected, rtol=4 * _eps(dtype))
    np.testing.assert_allclose(gref, -expected, rtol=4 * _eps(dtype))


def test_gradients_of_weights_and_masked_tokens(ad, dtype: str) -> None:
    """Weights are differentiated as given (d/dw = k), except where the input clamp acts
    and under gradient="k2"; masked tokens (-inf, NaN) give 0 with a 0 gradient."""
    lp = np.array([[-1.0, -np.inf, -0.5, -3.0], [np.nan, -2.0, -0.1, -0.7]])
    ref = np.array([[-0.4, -1.0, -2.9, -2.0], [-1.0, -0.2, -0.3, -0.6]])
    mask = np.isfinite(lp)
    w = np.array([[1.5, 0.2, 0.7, 0.5], [np.nan, 1.1, 0.9, 2.0]])
    args = [ad.asarray(a, dtype) for a in (lp, ref, w)]
    xmask = ad.namespace.asarray(mask)
    r = np.where(mask, ad.to_numpy(args[0]) - ad.to_numpy(args[1]), 0.0)
    wv = np.where(mask, ad.to_numpy(args[2]), 0.0)
    tol = 16 * _eps(dtype)

    def k3(gradient: str, clamp: Any) -> Any:
        return lambda a, b, c: kl_penalty(a, b, weights=c, where=xmask, gradient=gradient,
                                          clamp_log_ratio=clamp, reduction="sum")  # fmt: skip

    inside = np.abs(r) <= 1.5  # r = -0.6, 2.4, -1 | -1.8, 0.2, -0.1 (0 where masked)
    for gradient, clamp, dlp, dw in (
        ("estimator", None, wv * DK["k3"](r), _k("k3", r)),
        ("estimator", 1.5, wv * DK["k3"](r) * inside, _k("k3", np.clip(r, -1.5, 1.5)) * inside),
        ("k2", None, wv * r, None),  # (no gradient reaches the weights)
    ):
        f = k3(gradient, clamp)
        if dw is None:  # differentiate log_probs and ref_log_probs only
            got = grad(ad, functools.partial(f, c=args[2]), args[:2])
        else:
            got = grad(ad, f, args)
        for g, expected in zip(got, (dlp, -dlp, dw)):
            np.testing.assert_allclose(g, np.where(mask, expected, 0.0), rtol=tol, atol=tol)
    value = kl_penalty(*args[:2], weights=args[2], where=xmask)
    np.testing.assert_allclose(ad.to_numpy(value), np.where(mask, wv * _k("k3", r), 0.0),
                               rtol=tol)  # fmt: skip


def test_expected_gradients_exact(ad, dtype: str) -> None:
    """E_pi[grad k] summed exactly over a categorical pi_theta (theta: logits):
    k1 -> 0, k3 -> grad KL(pi_ref || pi) = pi - pi_ref, k2 and gradient="k2" ->
    grad KL(pi || pi_ref) = pi (r - KL); a weight exp(lp - stop(lp)) (value 1) adds the
    score-function term, giving grad KL(pi || pi_ref) for k1 and k3."""
    xp, sg = ad.namespace, ad.impl.stop_gradient
    theta = np.array([0.3, -1.2, 0.8, 0.0, -0.4])
    pi = np.exp(theta) / np.exp(theta).sum()
    pi_ref = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    r = np.log(pi) - np.log(pi_ref)
    grad_kl = pi * (r - np.sum(pi * r))

    def expected_loss(estimator: str, gradient: str, weighted: bool) -> Any:
        def f(t: Any, ref: Any) -> Any:
            lp = t - xp.log(xp.sum(xp.exp(t)))
            w = xp.exp(lp - sg(lp)) if weighted else None
            k = kl_penalty(lp, ref, estimator=estimator, gradient=gradient, weights=w)
            return xp.sum(sg(xp.exp(lp)) * k)

        return f

    args = [ad.asarray(theta, dtype), ad.asarray(np.log(pi_ref), dtype)]
    tol = 64 * _eps(dtype)
    for estimator, gradient, weighted, expected in (
        ("k1", "estimator", False, 0 * pi),
        ("k3", "estimator", False, pi - pi_ref),
        ("k2", "estimator", False, grad_kl),
        ("k3", "k2", False, grad_kl),
        ("k1", "estimator", True, grad_kl),
        ("k3", "estimator", True, grad_kl),
    ):
        g = grad(ad, expected_loss(estimator, gradient, weighted), args)[0]
        np.testing.assert_allclose(g, expected, rtol=tol, atol=tol,
                                   err_msg=f"{estimator} {gradient} {weighted}")  # fmt: skip


# -- the peers ---------------------------------------------------------------------------


def test_agrees_with_peers_where_they_agree() -> None:
    """Equal to rounding (the peers' e^-r - 1 + r carries an absolute error of a few
    ulps of 1, all of the value for tiny r: test_differs_from_peers_where_documented)."""
    lp, ref = LP, REF
    assert_close = functools.partial(np.testing.assert_allclose, rtol=1e-13, atol=1e-15)
    with peers.quiet():
        for est in ("k1", "k2"):  # verl: no clamp but on k3
            assert_close(
                kl_penalty(lp, ref, estimator=est), peers.verl_kl_penalty(np, lp, ref, est)
            )
        # verl's and NeMo-RL's k3: r in [-20, 20], the value in [-10, 10].
        ours = kl_penalty(lp, ref, clamp_log_ratio=20, clamp=10)
        assert_close(ours, peers.verl_kl_penalty(np, lp, ref, "low_var_kl"))
        assert_close(ours, peers.verl_kl_penalty(np, lp, ref, "k3+"))
        for est in ("k1", "k2", "k3"):  # NeMo-RL: both clamps on every estimator, weights
            assert_close(
                kl_penalty(lp, ref, estimator=est, clamp_log_ratio=20, clamp=10, weights=W),
                peers.nemo_rl_calculate_kl(np, lp, ref, est, importance_sampling_weights=W),
            )
            # OpenRLHF: the value in [-10, 10], in float32.
            got = kl_penalty(lp.astype(np.float32), ref.astype(np.float32), estimator=est,
                             clamp=10)  # fmt: skip
            np.testing.assert_allclose(
                got, peers.openrlhf_compute_approx_kl(np, lp, ref, est), rtol=4e-6, atol=1e-6
            )
        # TRL's GRPO: k3, no clamp, the bias-correction weight.
        assert_close(kl_penalty(lp, ref, weights=W), peers.trl_grpo_per_token_kl(np, lp, ref, W))


def test_differs_from_peers_where_documented() -> None:
    with peers.quiet():
        # verl clamps only k3; NeMo-RL clamps k2 too.
        r5 = np.array([5.0])
        assert peers.verl_kl_penalty(np, r5, 0 * r5, "k2")[0] == 12.5
        assert peers.nemo_rl_calculate_kl(np, r5, 0 * r5, "k2")[0] == 10.0
        # TRL's unclamped k3 in float32 is +inf for r < -88.7: the true value rounded, ours
        # too; clamp_log_ratio keeps it finite.
        lp, ref = np.float32([-100.0]), np.float32([-2.0])
        assert np.isinf(peers.trl_grpo_per_token_kl(np, lp, ref))
        assert np.isinf(kl_penalty(lp, ref))
        np.testing.assert_allclose(kl_penalty(lp, ref, clamp_log_ratio=20), math.exp(20) - 21,
                                   rtol=2e-7)  # fmt: skip
        # exp(-r) - 1 + r in float32 loses every digit for tiny r; the series does not.
        r = np.float32([1e-4, -3e-4, 2e-3])
        exact = _k("k3", r.astype(np.float64))
        trl = peers.trl_grpo_per_token_kl(np, r, np.zeros_like(r))
        orlhf = peers.openrlhf_compute_approx_kl(np, r, np.zeros_like(r), "k3")
        assert (np.abs(trl / exact - 1) > 0.05).any() and (np.abs(orlhf / exact - 1) > 0.05).any()
        np.testing.assert_allclose(kl_penalty(r, np.zeros_like(r)), exact, rtol=4 * _eps("float32"))


def test_gradients_against_peers() -> None:
    """The peers' PyTorch code, differentiated by PyTorch.  verl's "k3+" takes k2's
    gradient of the unclamped r: r also where its input clamp acts, where ours
    (gradient="k2", clamp_log_ratio=20) gives 0.  NeMo-RL's weights are differentiated
    except where the input clamp acts, as ours."""
    torch = need("torch")
    r = np.array([-25.0, -1.5, 0.3, 22.0])
    ref = np.full(4, np.log(0.2))

    def grads(fn: Any, *arrays: np.ndarray) -> list[np.ndarray]:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        return [g.numpy() for g in torch.autograd.grad(fn(*ts).sum(), ts)]

    def verl(a: Any, b: Any) -> Any:
        return peers.verl_kl_penalty(torch, a, b, "k3+", torch.Tensor.detach)

    def ours(a: Any, b: Any) -> Any:
        return kl_penalty(a, b, gradient="k2", clamp_log_ratio=20, clamp=10)

    np.testing.assert_allclose(grads(verl, ref + r, ref)[0], r, rtol=1e-14)
    np.testing.assert_allclose(grads(ours, ref + r, ref)[0], np.where(np.abs(r) <= 20, r, 0.0),
                               rtol=1e-14)  # fmt: skip

    def nemo(a: Any, b: Any, c: Any) -> Any:
        return peers.nemo_rl_calculate_kl(torch, a, b, "k3", 20.0, None, c, torch.Tensor.detach)

    def ours_w(a: Any, b: Any, c: Any) -> Any:
        return kl_penalty(a, b, clamp_log_ratio=20, weights=c)

    w = np.array([1.3, 0.7, 2.0, 0.4])
    for g1, g2 in zip(grads(nemo, ref + r, ref, w), grads(ours_w, ref + r, ref, w)):
        np.testing.assert_allclose(g2, g1, rtol=1e-14)


# -- compiled ----------------------------------------------------------------------------


def test_compiled(jit_combo) -> None:
    """jax.jit and tf.function: every dtype, the options, where as an argument; the
    gradients (straight-through, clamped) in float32 and float64."""
    on, dtype = jit_combo
    lp, ref, w = (on.asarray(a, dtype) for a in (LP, REF, W))
    mask = on.namespace.asarray(MASK)
    lp64, ref64, w64 = (on.to_numpy(a) for a in (lp, ref, w))
    tol = {"float64": 4e-15, "float32": 4e-6}.get(dtype, 2e-2)
    for est in ("k1", "k2", "k3"):
        kw = {"estimator": est, "clamp_log_ratio": 20.0, "clamp": 50.0, "gradient": "k2"}
        for reduction in ("none", "mean"):
            fn = functools.partial(kl_penalty, reduction=reduction, **kw)
            got = on.impl.compile(fn, convert=dtype == "float64")(lp, ref, weights=w, where=mask)
            assert on.impl.dtype_name(got) == dtype
            expected = _reference(lp64, ref64, est, (-20, 20), (-50, 50), w64, MASK, reduction)
            np.testing.assert_allclose(on.to_numpy(got), expected, rtol=tol, atol=tol)
    if on.impl.autodiff and dtype in ("float32", "float64"):
        f = functools.partial(kl_penalty, gradient="k2", clamp_log_ratio=20, where=mask)
        glp, gref = grad(on, f, [lp, ref], compiled=True)
        r = lp64 - ref64
        expected = np.where(MASK & (np.abs(r) <= 20) & (_k("k3", np.clip(r, -20, 20)) >= 0), r, 0)
        np.testing.assert_allclose(glp, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(gref, -expected, rtol=tol, atol=tol)


@pytest.mark.slow
def test_torch_compile_fullgraph() -> None:
    torch = need("torch")
    torch._dynamo.reset()

    def f(lp: Any, ref: Any, w: Any, mask: Any) -> Any:
        return kl_penalty(lp, ref, gradient="k2", clamp_log_ratio=20, clamp=10, weights=w,
                          where=mask, reduction="mean")  # fmt: skip

    args = [torch.tensor(a, requires_grad=True) for a in (LP, REF, W)]
    mask = torch.tensor(MASK)
    compiled = torch.compile(f, fullgraph=True, dynamic=False)
    out = compiled(*args, mask)
    grads = torch.autograd.grad(out, args[:2])  # (none reaches the weights under "k2")
    eager = f(*args, mask)
    eager_grads = torch.autograd.grad(eager, args[:2])
    torch.testing.assert_close(out, eager, rtol=1e-12, atol=1e-12)
    for g, e in zip(grads, eager_grads):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)
    expected = _reference(LP, REF, "k3", (-20, 20), (-10, 10), W, MASK, "mean")
    np.testing.assert_allclose(out.item(), expected, rtol=1e-14)
    r = LP - REF  # straight-through: w r / (number of tokens) where no clamp acts
    keep = MASK & (np.abs(r) <= 20) & (np.abs(W * _k("k3", np.clip(r, -20, 20))) <= 10)
    np.testing.assert_allclose(grads[0].numpy(), np.where(keep, W * r, 0) / MASK.sum(),
                               rtol=1e-14)  # fmt: skip


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"estimator": "k4"}, ValueError, "estimator must be one of"),
        ({"estimator": "low_var_kl"}, ValueError, "estimator must be one of"),
        ({"gradient": "k3"}, ValueError, "gradient must be one of"),
        ({"reduction": "batchmean"}, ValueError, "reduction must be one of"),
        ({"clamp_log_ratio": -1.0}, ValueError, "clamp_log_ratio must be"),
        ({"clamp_log_ratio": (2.0, 1.0)}, ValueError, "clamp_log_ratio must be"),
        ({"clamp_log_ratio": (math.nan, 1.0)}, ValueError, "clamp_log_ratio must be"),
        ({"clamp_log_ratio": True}, ValueError, "clamp_log_ratio must be"),
        ({"clamp": "10"}, ValueError, "clamp must be"),
        ({"clamp": (0, 1, 2)}, ValueError, "clamp must be"),
        ({"base": 1}, ValueError, "base must be"),
        ({"weights": np.ones((3, 2, 4))}, ValueError, "weights must broadcast"),
        ({"where": np.ones((2, 4))}, TypeError, "where must be a boolean"),
        ({"where": np.ones((3, 4), dtype=bool)}, ValueError, "where must broadcast"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        kl_penalty(LP, REF, **kwargs)


def test_shapes_and_edges() -> None:
    # Broadcasting, a 0-d token, identical inputs (exactly 0), the empty mean (NaN).
    assert kl_penalty(LP, REF[0]).shape == (2, 4)
    assert kl_penalty(np.float64(-1.0), np.float64(-1.0)) == 0.0
    assert (kl_penalty(REF, REF) == 0).all() and (kl_penalty(REF, REF, estimator="k2") == 0).all()
    assert np.isnan(kl_penalty(np.zeros(0), np.zeros(0), reduction="mean"))
    assert np.isnan(kl_penalty(LP, REF, where=np.zeros((2, 4), bool), reduction="mean"))
    assert np.isnan(kl_penalty(np.array([np.nan]), np.array([0.0]), clamp=1.0))[0]
    half = kl_penalty(LP.astype(np.float16), REF.astype(np.float16), clamp_log_ratio=20)
    assert half.dtype == np.float16
