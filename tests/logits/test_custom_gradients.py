"""Second derivatives, forward mode and vmap of every custom gradient, against closed forms.

The custom-gradient kernels (torch ``autograd.Function`` in backends/torch/kernels.py
and logits.py, JAX ``custom_jvp`` / ``custom_vjp`` in backends/jax/, TF
``custom_gradient`` in backends/tensorflow/) are checked through the frameworks'
own transforms, for probabilities and for ``inputs="logits"``:

* Hessians: of KL(p || q) in q, ``diag(p / q^2)``; in p, ``diag(1 / p)``; of
  KL(softmax(a) || softmax(z)) in z, ``diag(s) - s s^T`` with ``s = softmax(z)``;
* forward mode (jvp): ``sum (log(p / q) + 1) dp - (p / q) dq``; for logits
  ``d/dz = softmax(z) - softmax(a)``;
* vmap over rows: the values and gradients of a loop over the rows;

and each one against the generic array-API code (``KL_BACKENDS_FASTPATHS=0``, as in
tests/core/test_fastpaths.py), whose derivatives are the framework's own autodiff.
"""

from __future__ import annotations

import numpy as np
import pytest
from _logits_refs import softmax

from kl_backends import kl_divergence

V = 5


def _rows(n=3, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(V), n)
    q = rng.dirichlet(np.ones(V), n)
    a, z = rng.normal(size=(n, V)) * 2, rng.normal(size=(n, V)) * 2
    return p, q, a, z


def _tol(dtype):
    return {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}


@pytest.fixture(params=["fast", "generic"])
def path(request, monkeypatch):
    """The fast path (custom gradients) or the generic array-API code."""
    if request.param == "generic":
        monkeypatch.setenv("KL_BACKENDS_FASTPATHS", "0")
    return request.param


# --- the frameworks' transforms ------------------------------------------------------------


def hessian(ad, f, x):
    return ad.to_numpy(ad.impl.transforms.hessian(f, x))


def jvp(ad, f, x, v):
    return ad.to_numpy(ad.impl.transforms.jvp(f, x, v))


def vmap_value_and_grad(ad, f, xs):
    """vmap of f and of its gradient over the leading axis."""
    value, grad = ad.impl.transforms.vmap_value_and_grad(f, xs)
    return ad.to_numpy(value), ad.to_numpy(grad)


# --- probabilities ---------------------------------------------------------------------------

# torch.func's forward mode imports a module that calls torch.jit.script (torch's own
# deprecation warning, not ours).
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _block_diag(blocks):
    """[n, V, V] blocks -> the [n, V, n, V] Hessian of a sum over independent rows."""
    n = len(blocks)
    out = np.zeros((n, V, n, V))
    for i in range(n):
        out[i, :, i, :] = blocks[i]
    return out


def test_hessian_probs(ad, dtype, path) -> None:
    p, q, _, _ = _rows()
    P, Q = ad.asarray(p, dtype), ad.asarray(q, dtype)
    xp_sum = ad.namespace.sum
    h_q = hessian(ad, lambda x: xp_sum(kl_divergence(P, x)), Q)
    np.testing.assert_allclose(h_q, _block_diag([np.diag(a / b**2) for a, b in zip(p, q)]),
                               **_tol(dtype))  # fmt: skip
    h_p = hessian(ad, lambda x: xp_sum(kl_divergence(x, Q)), P)
    np.testing.assert_allclose(h_p, _block_diag([np.diag(1 / a) for a in p]), **_tol(dtype))


def test_jvp_probs(ad, dtype, path) -> None:
    p, q, _, _ = _rows(seed=1)
    rng = np.random.default_rng(2)
    dp, dq = rng.normal(size=p.shape), rng.normal(size=q.shape)
    P, Q = ad.asarray(p, dtype), ad.asarray(q, dtype)
    got = jvp(ad, lambda x: kl_divergence(P, x), Q, ad.asarray(dq, dtype))
    np.testing.assert_allclose(got, np.sum(-(p / q) * dq, -1), **_tol(dtype))
    got = jvp(ad, lambda x: kl_divergence(x, Q), P, ad.asarray(dp, dtype))
    np.testing.assert_allclose(got, np.sum((np.log(p / q) + 1) * dp, -1), **_tol(dtype))


def test_vmap_probs(ad, dtype, path) -> None:
    p, q, _, _ = _rows(n=4, seed=3)
    P = ad.asarray(p[0], dtype)  # one p row against every q row
    value, grad = vmap_value_and_grad(ad, lambda x: kl_divergence(P, x), ad.asarray(q, dtype))
    np.testing.assert_allclose(value, np.sum(p[0] * np.log(p[0] / q), -1), **_tol(dtype))
    np.testing.assert_allclose(grad, -p[0] / q, **_tol(dtype))


# --- logits ----------------------------------------------------------------------------------


def test_hessian_logits(ad, dtype, path) -> None:
    _, _, a, z = _rows(seed=4)
    A, Z = ad.asarray(a, dtype), ad.asarray(z, dtype)
    xp_sum = ad.namespace.sum
    got = hessian(ad, lambda x: xp_sum(kl_divergence(A, x, inputs="logits")), Z)
    s = softmax(z)
    np.testing.assert_allclose(got, _block_diag([np.diag(r) - np.outer(r, r) for r in s]),
                               **_tol(dtype))  # fmt: skip


def test_jvp_logits(ad, dtype, path) -> None:
    _, _, a, z = _rows(seed=5)
    rng = np.random.default_rng(6)
    u, v = rng.normal(size=a.shape), rng.normal(size=z.shape)
    A, Z = ad.asarray(a, dtype), ad.asarray(z, dtype)
    sa, sz = softmax(a), softmax(z)
    got = jvp(ad, lambda x: kl_divergence(A, x, inputs="logits"), Z, ad.asarray(v, dtype))
    np.testing.assert_allclose(got, np.sum((sz - sa) * v, -1), **_tol(dtype))
    # d/da KL(softmax(a) || softmax(z)) = sa * (d - sum(sa d)), d = log sa - log sz
    d = np.log(sa) - np.log(sz)
    got = jvp(ad, lambda x: kl_divergence(x, Z, inputs="logits"), A, ad.asarray(u, dtype))
    expected = np.sum(u * sa * (d - np.sum(sa * d, -1, keepdims=True)), -1)
    np.testing.assert_allclose(got, expected, **_tol(dtype))


def test_vmap_logits(ad, dtype, path) -> None:
    _, _, a, z = _rows(n=4, seed=7)
    A = ad.asarray(a[0], dtype)
    value, grad = vmap_value_and_grad(
        ad, lambda x: kl_divergence(A, x, inputs="logits"), ad.asarray(z, dtype)
    )
    sa, sz = softmax(a[0]), softmax(z)
    np.testing.assert_allclose(value, np.sum(sa * (np.log(sa) - np.log(sz)), -1), **_tol(dtype))
    np.testing.assert_allclose(grad, sz - sa, **_tol(dtype))
