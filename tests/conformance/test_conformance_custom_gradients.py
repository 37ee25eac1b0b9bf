"""Second derivatives, forward mode and vmap of every custom gradient, against closed forms.

The custom-gradient kernels (torch ``autograd.Function`` in backends/torch.py and
backends/_torch_functions.py, JAX ``custom_jvp`` / ``custom_vjp`` in backends/jax.py,
TF ``custom_gradient`` in backends/tensorflow.py) are checked through the frameworks'
own transforms, for probabilities and for ``inputs="logits"``:

* Hessians: of KL(p || q) in q, ``diag(p / q^2)``; in p, ``diag(1 / p)``; of
  KL(softmax(a) || softmax(z)) in z, ``diag(s) - s s^T`` with ``s = softmax(z)``;
* forward mode (jvp): ``sum (log(p / q) + 1) dp - (p / q) dq``; for logits
  ``d/dz = softmax(z) - softmax(a)``;
* vmap over rows: the values and gradients of a loop over the rows;

and each one against the generic array-API code (``KL_BACKENDS_FASTPATHS=0``, as in
tests/test_fastpaths.py), whose derivatives are the framework's own autodiff.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from kl_backends import kl_divergence

V = 5


def _rows(n=3, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(V), n)
    q = rng.dirichlet(np.ones(V), n)
    a, z = rng.normal(size=(n, V)) * 2, rng.normal(size=(n, V)) * 2
    return p, q, a, z


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _tol(dtype):
    return {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}


@pytest.fixture(params=["fast", "generic"])
def path(request, monkeypatch):
    """The fast path (custom gradients) or the generic array-API code."""
    if request.param == "generic":
        monkeypatch.setenv("KL_BACKENDS_FASTPATHS", "0")
    return request.param


# --- the frameworks' transforms ------------------------------------------------------------


def hessian(name, f, x):
    if name == "torch":
        torch = need("torch")
        return torch.autograd.functional.hessian(f, x).detach().numpy()
    if name == "jax":
        jax = need("jax")
        return np.asarray(jax.hessian(f)(x))
    tf = need("tensorflow")
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x)
    return outer.jacobian(g, x).numpy()


def jvp(name, f, x, v):
    if name == "torch":
        torch = need("torch")
        return torch.func.jvp(f, (x,), (v,))[1].detach().numpy()
    if name == "jax":
        jax = need("jax")
        return np.asarray(jax.jvp(f, (x,), (v,))[1])
    tf = need("tensorflow")
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        y = f(x)
    return acc.jvp(y).numpy()


def vmap_value_and_grad(name, f, xs):
    """vmap of f and of its gradient over the leading axis."""
    if name == "torch":
        torch = need("torch")
        fn = torch.func
        return (fn.vmap(f)(xs).detach().numpy(), fn.vmap(fn.grad(f))(xs).detach().numpy())
    if name == "jax":
        jax = need("jax")
        return np.asarray(jax.vmap(f)(xs)), np.asarray(jax.vmap(jax.grad(f))(xs))
    tf = need("tensorflow")

    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return y, tape.gradient(y, x)

    y, g = tf.vectorized_map(value_and_grad, xs)
    return y.numpy(), g.numpy()


# --- probabilities ---------------------------------------------------------------------------


def test_hessian_probs(ad, dtype, path) -> None:
    p, q, _, _ = _rows()
    for i in range(len(p)):
        P, Q = ad.asarray(p[i], dtype), ad.asarray(q[i], dtype)
        h_q = hessian(ad.name, lambda x, P=P: kl_divergence(P, x), Q)
        np.testing.assert_allclose(h_q, np.diag(p[i] / q[i] ** 2), **_tol(dtype))
        h_p = hessian(ad.name, lambda x, Q=Q: kl_divergence(x, Q), P)
        np.testing.assert_allclose(h_p, np.diag(1 / p[i]), **_tol(dtype))


def test_jvp_probs(ad, dtype, path) -> None:
    p, q, _, _ = _rows(seed=1)
    rng = np.random.default_rng(2)
    for i in range(len(p)):
        dp, dq = rng.normal(size=V), rng.normal(size=V)
        P, Q = ad.asarray(p[i], dtype), ad.asarray(q[i], dtype)
        got = jvp(ad.name, lambda x, P=P: kl_divergence(P, x), Q, ad.asarray(dq, dtype))
        np.testing.assert_allclose(got, np.sum(-(p[i] / q[i]) * dq), **_tol(dtype))
        got = jvp(ad.name, lambda x, Q=Q: kl_divergence(x, Q), P, ad.asarray(dp, dtype))
        expected = np.sum((np.log(p[i] / q[i]) + 1) * dp)
        np.testing.assert_allclose(got, expected, **_tol(dtype))


def test_vmap_probs(ad, dtype, path) -> None:
    p, q, _, _ = _rows(n=4, seed=3)
    for i in range(len(p)):  # the same p row against every q row
        P = ad.asarray(p[i], dtype)
        value, grad = vmap_value_and_grad(
            ad.name, lambda x, P=P: kl_divergence(P, x), ad.asarray(q, dtype)
        )
        np.testing.assert_allclose(value, np.sum(p[i] * np.log(p[i] / q), -1), **_tol(dtype))
        np.testing.assert_allclose(grad, -p[i] / q, **_tol(dtype))


# --- logits ----------------------------------------------------------------------------------


def test_hessian_logits(ad, dtype, path) -> None:
    _, _, a, z = _rows(seed=4)
    for i in range(len(a)):
        A, Z = ad.asarray(a[i], dtype), ad.asarray(z[i], dtype)
        got = hessian(ad.name, lambda x, A=A: kl_divergence(A, x, inputs="logits"), Z)
        s = _softmax(z[i])
        np.testing.assert_allclose(got, np.diag(s) - np.outer(s, s), **_tol(dtype))


def test_jvp_logits(ad, dtype, path) -> None:
    _, _, a, z = _rows(seed=5)
    rng = np.random.default_rng(6)
    for i in range(len(a)):
        u, v = rng.normal(size=V), rng.normal(size=V)
        A, Z = ad.asarray(a[i], dtype), ad.asarray(z[i], dtype)
        sa, sz = _softmax(a[i]), _softmax(z[i])
        got = jvp(ad.name, lambda x, A=A: kl_divergence(A, x, inputs="logits"), Z,
                  ad.asarray(v, dtype))  # fmt: skip
        np.testing.assert_allclose(got, np.sum((sz - sa) * v), **_tol(dtype))
        # d/da KL(softmax(a) || softmax(z)) = sa * (d - sum(sa d)), d = log sa - log sz
        d = np.log(sa) - np.log(sz)
        got = jvp(ad.name, lambda x, Z=Z: kl_divergence(x, Z, inputs="logits"), A,
                  ad.asarray(u, dtype))  # fmt: skip
        np.testing.assert_allclose(got, np.sum(u * sa * (d - np.sum(sa * d))), **_tol(dtype))


def test_vmap_logits(ad, dtype, path) -> None:
    _, _, a, z = _rows(n=4, seed=7)
    for i in range(len(a)):
        A = ad.asarray(a[i], dtype)
        value, grad = vmap_value_and_grad(
            ad.name, lambda x, A=A: kl_divergence(A, x, inputs="logits"), ad.asarray(z, dtype)
        )
        sa, sz = _softmax(a[i]), _softmax(z)
        np.testing.assert_allclose(value, np.sum(sa * (np.log(sa) - np.log(sz)), -1), **_tol(dtype))
        np.testing.assert_allclose(grad, sz - sa, **_tol(dtype))
