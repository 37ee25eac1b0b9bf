"""Gradients in PyTorch, JAX and TensorFlow, eager and compiled.

(torch.compile's gradients are in test_compile.py: one compile takes ~15 s.)

d KL / d q_i = -p_i / q_i (0 where p_i = 0, -inf where q_i = 0 < p_i),
d KL / d p_i = log(p_i / q_i) + 1 where p_i > 0 (0 where p_i = 0: a finite
choice of subgradient), and for logits a, b:
d KL / d a_i = p_i (log p_i - log q_i - KL),  d KL / d b_i = q_i - p_i.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from _gradients import grad
from conftest import need
from kl_backends import kl_divergence

# Row 0: zeros in p (one with q = 0 too); row 1: no zeros.
P = np.array([[0.5, 0.3, 0.0, 0.2, 0.0], [0.1, 0.2, 0.3, 0.2, 0.2]])
Q = np.array([[0.25, 0.25, 0.3, 0.2, 0.0], [0.3, 0.1, 0.2, 0.2, 0.2]])


def _rtol(dtype: str) -> float:
    return 4 * float(np.finfo(dtype).eps)


def test_probs_gradients_exact_and_finite_at_zeros(ad, dtype: str, compiled: bool) -> None:
    p, q = ad.asarray(P, dtype), ad.asarray(Q, dtype)
    gp, gq = grad(ad, kl_divergence, [p, q], compiled)
    p64, q64 = ad.to_numpy(p), ad.to_numpy(q)
    pos = p64 > 0
    # Finite wherever p = 0, q = 0 included.
    assert np.isfinite(gp[~pos]).all() and np.isfinite(gq[~pos]).all()
    np.testing.assert_array_equal(gq[~pos], 0.0)
    np.testing.assert_array_equal(gp[~pos], 0.0)
    # -p / q wherever p > 0 (to a few ulps: TensorFlow multiplies by 1/q).
    both = pos & (q64 > 0)
    np.testing.assert_allclose(gq[both], -p64[both] / q64[both], rtol=_rtol(dtype))
    np.testing.assert_allclose(
        gp[both], np.log(p64[both] / q64[both]) + 1, rtol=_rtol(dtype) * 8, atol=_rtol(dtype) * 8
    )


def test_probs_gradient_q_zero_under_positive_p(ad, dtype: str) -> None:
    p = ad.asarray([[0.5, 0.5]], dtype)
    q = ad.asarray([[1.0, 0.0]], dtype)
    _, gq = grad(ad, kl_divergence, [p, q])
    assert gq[0, 0] == -0.5
    assert gq[0, 1] == -math.inf  # -p / q with q = 0: the loss is +inf there


def test_naive_formula_gives_nan_gradient(ad, dtype: str) -> None:
    """The pitfall this library exists for: where(p > 0, p log(p/q), 0) in autodiff."""
    xp = ad.namespace
    p, q = ad.asarray(P, dtype), ad.asarray(Q, dtype)

    def naive(p: Any, q: Any) -> Any:
        return xp.sum(xp.where(p > 0, p * xp.log(p / q), 0.0 * p), axis=-1)

    gp, gq = grad(ad, naive, [p, q])
    assert np.isnan(gq).any() or np.isnan(gp).any()
    gp2, gq2 = grad(ad, kl_divergence, [p, q])
    assert np.isfinite(gp2).all() and np.isfinite(gq2[:, :4]).all()


def test_log_probs_gradients_with_neg_inf(ad, dtype: str, compiled: bool) -> None:
    with np.errstate(divide="ignore"):
        lp, lq = np.log(P[:, :4]), np.log(Q[:, :4])  # row 0: log p = -inf at col 2
    lp_t, lq_t = ad.asarray(lp, dtype), ad.asarray(lq, dtype)

    def f(a: Any, b: Any) -> Any:
        return kl_divergence(a, b, inputs="log_probs")

    glp, glq = grad(ad, f, [lp_t, lq_t], compiled)
    assert np.isfinite(glp).all() and np.isfinite(glq).all()
    p64 = np.exp(ad.to_numpy(lp_t))
    np.testing.assert_allclose(glq, -p64, rtol=_rtol(dtype))


def test_logits_gradients_match_analytic(ad, dtype: str, compiled: bool) -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 6)) * 3
    b = rng.normal(size=(3, 6)) * 3
    a[0, 0] = 1000.0  # large logits stay exact
    b[1, 2] = -1000.0
    at, bt = ad.asarray(a, dtype), ad.asarray(b, dtype)

    def f(x: Any, y: Any) -> Any:
        return kl_divergence(x, y, inputs="logits")

    ga, gb = grad(ad, f, [at, bt], compiled)
    a64, b64 = ad.to_numpy(at), ad.to_numpy(bt)
    from scipy.special import log_softmax

    la, lb = log_softmax(a64, axis=-1), log_softmax(b64, axis=-1)
    p, q = np.exp(la), np.exp(lb)
    kl = (p * (la - lb)).sum(-1, keepdims=True)
    tol = 50 * float(np.finfo(dtype).eps)
    np.testing.assert_allclose(ga, p * (la - lb - kl), rtol=tol, atol=tol * 100)
    np.testing.assert_allclose(gb, q - p, rtol=tol, atol=tol * 10)


def test_gradient_of_kl_p_p_is_zero_and_finite(ad, dtype: str) -> None:
    p = ad.asarray(P, dtype)
    q = ad.asarray(P, dtype)
    gp, gq = grad(ad, kl_divergence, [p, q])
    pos = P > 0
    # d/dp at p = q: log 1 + 1 = 1; d/dq: -1 (both 0 where p = 0).
    np.testing.assert_allclose(gp[pos], 1.0, rtol=_rtol(dtype))
    np.testing.assert_allclose(gq[pos], -1.0, rtol=_rtol(dtype))
    assert np.isfinite(gp).all() and np.isfinite(gq).all()


def test_torch_func_transforms() -> None:
    """grad, jacrev, hessian (forward over reverse) and vmap, against the closed forms."""
    torch = need("torch")
    from torch.func import grad, hessian, jacrev, vmap

    P, Q = np.array([0.2, 0.3, 0.5]), np.array([0.3, 0.3, 0.4])
    p, q = torch.tensor(P), torch.tensor(Q)
    expected_grad = -P / Q  # d KL / dq
    np.testing.assert_allclose(grad(lambda q: kl_divergence(p, q))(q).numpy(), expected_grad)
    np.testing.assert_allclose(jacrev(lambda q: kl_divergence(p, q))(q).numpy(), expected_grad)
    with warnings.catch_warnings():  # torch's own forward-AD set-up uses torch.jit.script
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated")
        hess = hessian(lambda q: kl_divergence(p, q))(q).numpy()
    np.testing.assert_allclose(hess, np.diag(P / Q**2), rtol=1e-12)
    batch_p, batch_q = torch.stack([p, q]), torch.stack([q, p])
    np.testing.assert_allclose(
        vmap(kl_divergence)(batch_p, batch_q).numpy(),
        [np.sum(P * np.log(P / Q)), np.sum(Q * np.log(Q / P))],
        rtol=1e-12,
    )
