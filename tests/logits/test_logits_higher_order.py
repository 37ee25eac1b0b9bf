"""Higher-order and transformed derivatives of the logits path.

Every custom gradient of the project (PyTorch's ``autograd.Function``s for logits
and probabilities, JAX's ``custom_jvp``s, TensorFlow's ``custom_gradient``s) is
checked under second derivatives (Hessians, Hessian- and Fisher-vector products,
nested tapes), forward mode and ``vmap``.  Oracles, all computed here:

* closed forms: for ``KL(t || softmax(z / T))`` and ``H(softmax(t / T),
  softmax(z / T))`` the Hessian in ``z`` is ``(diag(q) - q q^T) / T^2`` per row
  times the reduction weight, the gradient ``(q - p) / T``; for
  ``KL(p || q)`` in probabilities ``d2/dp2 = diag(1/p)``,
  ``d2/dq2 = diag(p / q^2)``, ``d2/dpdq = -diag(1/q)``;
* the generic block code (``KL_BACKENDS_FASTPATHS=0``) differentiated by the
  framework's own autodiff, for what has no short closed form (teacher side,
  the generalised JSD, ``-inf`` logits, masks).
"""

from __future__ import annotations

import numpy as np
import pytest
from _logits_refs import KINDS, log_softmax, random_logits, ref_js, ref_kl, softmax

from conftest import need
from kl_backends import kl_divergence


def hessian_student(s, temperature=1.0, weight=1.0):
    """Block-diagonal Hessian ``[N, V, N, V]`` of sum_rows KL(t || softmax(s / T)) in s."""
    n, v = s.shape
    out = np.zeros((n, v, n, v))
    for i, q in enumerate(softmax(s / temperature)):
        out[i, :, i, :] = (np.diag(q) - np.outer(q, q)) * weight / temperature**2
    return out


def _special():
    """Row 1: -inf logits (teacher and one in the student); row 3: NaN and inf, masked."""
    t, s = random_logits(5, 7, seed=3)
    t[1, :3] = -np.inf
    s[1, 0] = -np.inf
    t[3, 4] = np.nan
    s[3, 2] = np.inf
    return t, s, np.array([True, True, True, False, True])


#: PyTorch's forward mode loads its decompositions with torch.jit.script on first use.
FORWARD_AD = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


@pytest.fixture
def generic(monkeypatch):
    """A context switching the fast paths off (the generic block code)."""
    import contextlib

    @contextlib.contextmanager
    def off():
        with monkeypatch.context() as m:
            m.setenv("KL_BACKENDS_FASTPATHS", "0")
            yield

    return off


# --- PyTorch ------------------------------------------------------------------------


@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("kind", ["kl", "ce"])
def test_torch_hessian_closed_form(kind, vectorize) -> None:
    """torch.autograd.functional.hessian of the eager CPU kernel (whose first gradient is
    computed in the forward): (diag(q) - q q^T) / T^2 / N, not zeros."""
    torch = need("torch")
    t, s = random_logits()
    tt = torch.tensor(t)

    def f(z):
        return KINDS[kind](tt, z, temperature=2.0, reduction="mean")

    h = torch.autograd.functional.hessian(f, torch.tensor(s), vectorize=vectorize)
    expected = hessian_student(s, 2.0, 1 / len(s))
    assert np.abs(expected).max() > 0.01
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("temperature", [None, 2.0])
@pytest.mark.parametrize("kind", list(KINDS))
def test_torch_double_backward_matches_generic(kind, temperature, generic) -> None:
    """create_graph=True, then a Hessian-vector product in both inputs: as autograd through
    the generic code, with -inf logits and a masked row holding NaN and inf."""
    torch = need("torch")
    t, s, keep = _special()
    mask = torch.tensor(keep)
    v = torch.tensor(np.random.default_rng(1).normal(size=t.shape))

    def hvp():
        a, b = torch.tensor(t, requires_grad=True), torch.tensor(s, requires_grad=True)
        y = KINDS[kind](a, b, temperature=temperature, where=mask, reduction="mean")
        ga, gb = torch.autograd.grad(y, (a, b), create_graph=True)
        # Rows 1 (-inf) is finite; the masked row has exactly zero gradient.
        ha, hb = torch.autograd.grad((ga * v).sum() + (gb * v).sum(), (a, b))
        return [x.detach().numpy() for x in (ga, gb, ha, hb)]

    got = hvp()
    with generic():
        expected = hvp()
    finite = np.isfinite(ref_kl(np.where(keep[:, None], t, 0), np.where(keep[:, None], s, 0)))
    for g, e in zip(got, expected):
        assert np.isfinite(g[finite]).all() and np.abs(g).max() > 0
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-13)
        assert np.all(g[~keep] == 0)


def test_torch_fisher_vector_product() -> None:
    """TRPO's Fisher-vector product for a linear policy, logits = x W: the Hessian of
    KL(stop_gradient(pi) || pi) at pi, J^T F J v / N with F = diag(q) - q q^T."""
    torch = need("torch")
    rng = np.random.default_rng(4)
    x, w, v = rng.normal(size=(5, 3)), rng.normal(size=(3, 8)), rng.normal(size=(3, 8))
    weights = torch.tensor(w, requires_grad=True)
    logits = torch.tensor(x) @ weights
    kl = kl_divergence(logits.detach(), logits, inputs="logits", reduction="mean")
    (g,) = torch.autograd.grad(kl, weights, create_graph=True)
    (fvp,) = torch.autograd.grad((g * torch.tensor(v)).sum(), weights)
    expected = np.zeros_like(w)
    for xi, q in zip(x, softmax(x @ w)):
        expected += np.outer(xi, (np.diag(q) - np.outer(q, q)) @ (xi @ v)) / len(x)
    assert np.abs(expected).max() > 0.01
    np.testing.assert_allclose(fvp.numpy(), expected, rtol=1e-10, atol=1e-14)


@FORWARD_AD
@pytest.mark.parametrize("kind", list(KINDS))
def test_torch_func_vmap_grad_hessian_jvp(kind, generic) -> None:
    """torch.func: vmap over rows, per-sample gradients (vmap(grad)), hessian, jvp."""
    torch = need("torch")
    t, s = random_logits()
    tt, ss = torch.tensor(t), torch.tensor(s)

    def one(a, b):  # one distribution: a [V] row
        return KINDS[kind](a, b, temperature=2.0)

    vals = torch.func.vmap(one)(tt, ss)
    if kind == "js-0.3":
        expected = ref_js(t, s, 0.3, 2.0)
    elif kind == "js-None":
        expected = ref_js(t, s, 0.5, 2.0) / 4
    else:
        expected = ref_kl(t, s, 2.0) + (
            0 if kind == "kl" else -(softmax(t / 2) * log_softmax(t / 2)).sum(-1)
        )
    np.testing.assert_allclose(vals.numpy(), expected, rtol=1e-12)
    per_sample = torch.func.vmap(torch.func.grad(one, argnums=1))(tt, ss)
    hess = torch.func.hessian(lambda b: one(tt[0], b))(ss[0])
    v = torch.tensor(np.random.default_rng(2).normal(size=s.shape))
    _, tangent = torch.func.jvp(lambda b: KINDS[kind](tt, b, temperature=2.0), (ss,), (v,))
    if kind in ("kl", "ce"):
        grad = (softmax(s / 2) - softmax(t / 2)) / 2
        np.testing.assert_allclose(per_sample.numpy(), grad, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(hess.numpy(), hessian_student(s[:1], 2.0)[0, :, 0], atol=1e-14)
        np.testing.assert_allclose(tangent.numpy(), (grad * v.numpy()).sum(-1), atol=1e-13)
    with generic():
        b = ss.clone().requires_grad_(True)
        y = KINDS[kind](tt, b, temperature=2.0).sum()
        (g_ref,) = torch.autograd.grad(y, b, create_graph=True)
        (h_ref,) = torch.autograd.grad(g_ref[0, 0], b)
    np.testing.assert_allclose(per_sample.numpy(), g_ref.detach().numpy(), atol=1e-13)
    np.testing.assert_allclose(tangent.numpy(), (g_ref.detach() * v).sum(-1).numpy(), atol=1e-13)
    np.testing.assert_allclose(hess[0].numpy(), h_ref[0].numpy(), atol=1e-13)


@FORWARD_AD
def test_torch_forward_mode_dual_numbers() -> None:
    """torch.autograd.forward_ad (outside torch.func): the closed-form directional derivative."""
    torch = need("torch")
    import torch.autograd.forward_ad as fwad

    t, s = random_logits()
    v = np.random.default_rng(5).normal(size=s.shape)
    with fwad.dual_level():
        out = kl_divergence(
            torch.tensor(t), fwad.make_dual(torch.tensor(s), torch.tensor(v)), inputs="logits"
        )
        tangent = fwad.unpack_dual(out).tangent
    expected = ((softmax(s) - softmax(t)) * v).sum(-1)
    np.testing.assert_allclose(tangent.numpy(), expected, rtol=1e-10, atol=1e-14)


@FORWARD_AD
@pytest.mark.parametrize("vectorize", [False, True])
def test_torch_probs_kernel_second_derivatives(vectorize) -> None:
    """The probabilities kernel (EagerKL): Hessian in (p, q) and forward mode, closed forms."""
    torch = need("torch")
    import torch.autograd.forward_ad as fwad

    t, s = random_logits()
    p, q = softmax(t), softmax(s)
    h = torch.autograd.functional.hessian(
        lambda a, b: kl_divergence(a, b).sum(),
        (torch.tensor(p), torch.tensor(q)),
        vectorize=vectorize,
    )
    eye = np.eye(len(p))[:, None, :, None] * np.eye(p.shape[1])[None, :, None, :]
    np.testing.assert_allclose(h[0][0].numpy(), eye * (1 / p)[:, :, None, None], rtol=1e-10)
    np.testing.assert_allclose(h[1][1].numpy(), eye * (p / q**2)[:, :, None, None], rtol=1e-10)
    np.testing.assert_allclose(h[0][1].numpy(), eye * (-1 / q)[:, :, None, None], rtol=1e-10)
    v = np.random.default_rng(6).normal(size=q.shape)
    with fwad.dual_level():
        out = kl_divergence(torch.tensor(p), fwad.make_dual(torch.tensor(q), torch.tensor(v)))
        tangent = fwad.unpack_dual(out).tangent
    np.testing.assert_allclose(tangent.numpy(), (-p / q * v).sum(-1), rtol=1e-10)


# --- JAX ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_jax_hessian_jvp_vmap(kind, generic) -> None:
    """jax.hessian (jacfwd of jacrev), jacrev twice in the teacher, jax.jvp, jax.vmap and
    per-sample gradients, eager and under jax.jit."""
    jax = need("jax")
    jnp = jax.numpy
    t, s, keep = _special()
    tt, ss, mask = jnp.asarray(t), jnp.asarray(s), jnp.asarray(keep)
    v = jnp.asarray(np.random.default_rng(1).normal(size=s.shape))

    def student(b):
        return KINDS[kind](tt, b, temperature=2.0, where=mask, reduction="mean")

    def teacher(a):
        return KINDS[kind](a, ss, temperature=2.0, where=mask, reduction="sum")

    def one(a, b):
        return KINDS[kind](a, b, temperature=2.0)

    def everything():
        return [
            jax.hessian(student)(ss),
            jax.jit(jax.jacrev(jax.jacrev(teacher)))(tt),
            jax.jvp(student, (ss,), (v,))[1],
            jax.jit(jax.vmap(one))(tt[keep], ss[keep]),
            jax.vmap(jax.grad(one, argnums=1))(tt[keep], ss[keep]),
        ]

    got = [np.asarray(x) for x in everything()]
    with generic():
        expected = [np.asarray(x) for x in everything()]
    for g, e in zip(got, expected):
        assert np.abs(g).max() > 0
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-13)
    if kind in ("kl", "ce"):  # the closed forms on the rows kept (row 1 has -inf logits)
        rows = np.flatnonzero(keep)
        t, s = np.where(keep[:, None], t, 0), np.where(keep[:, None], s, 0)
        h = hessian_student(s, 2.0, 1 / keep.sum())
        np.testing.assert_allclose(got[0][rows][:, :, rows], h[rows][:, :, rows], atol=1e-14)
        assert np.all(got[0][~keep] == 0)
        grad = (softmax(s / 2) - softmax(t / 2)) / 2 / keep.sum()
        tangent = (grad[rows] * np.asarray(v)[rows]).sum()
        np.testing.assert_allclose(got[2], tangent, rtol=1e-10, atol=1e-14)


# --- TensorFlow ---------------------------------------------------------------------


def _tf_hvp(tf, fn, x, v, compiled):
    """Nested tapes: the gradient and the Hessian-vector product of ``fn`` at ``x``."""

    def h(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = fn(x)
            g = inner.gradient(y, x)
            gv = tf.reduce_sum(g * v)
        return g, outer.gradient(gv, x)

    return [r.numpy() for r in (tf.function(h) if compiled else h)(x)]


@pytest.mark.parametrize(
    ("kind", "compiled"),
    # tf.function for each of the two custom gradients (fused KL/CE, generic JSD blocks).
    [(k, False) for k in KINDS] + [("kl", True), ("js-0.3", True)],
)
def test_tf_nested_tapes(kind, compiled, generic) -> None:
    """Second derivatives through tf.custom_gradient with nested GradientTapes (eager and
    tf.function), in both inputs, -inf logits and a masked row holding NaN and inf: the
    closed form (student, KL and CE) and the generic code."""
    tf = need("tensorflow")
    t, s, keep = _special()
    tt, ss, mask = tf.constant(t), tf.constant(s), tf.constant(keep)
    v = np.random.default_rng(1).normal(size=t.shape)

    def student(b):
        return KINDS[kind](tt, b, temperature=2.0, where=mask, reduction="sum")

    def teacher(a):
        return KINDS[kind](a, ss, temperature=2.0, where=mask, reduction="sum")

    def both():
        return _tf_hvp(tf, student, ss, v, compiled) + _tf_hvp(tf, teacher, tt, v, compiled)

    got = both()
    with generic():
        expected = both()
    for g, e in zip(got, expected):
        assert np.isfinite(g).all() and np.abs(g).max() > 0.01
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-13)
    if kind in ("kl", "ce"):  # masked row: zero
        h = hessian_student(np.where(keep[:, None], s, 0), 2.0) * keep[:, None, None, None]
        np.testing.assert_allclose(got[1], np.einsum("ijkl,kl->ij", h, v), atol=1e-14)


def test_tf_probs_kernel_nested_tapes() -> None:
    """The probabilities kernel's custom_gradient (large enough not to take the small path):
    Hessian-vector products in p and in q, closed forms diag(1/p) and diag(p / q^2)."""
    tf = need("tensorflow")
    rng = np.random.default_rng(7)
    p, q = softmax(rng.normal(size=(40, 30))), softmax(rng.normal(size=(40, 30)))
    v = rng.normal(size=p.shape)
    _, hp = _tf_hvp(
        tf, lambda x: tf.reduce_sum(kl_divergence(x, tf.constant(q))), tf.constant(p), v, False
    )
    _, hq = _tf_hvp(
        tf, lambda x: tf.reduce_sum(kl_divergence(tf.constant(p), x)), tf.constant(q), v, False
    )
    np.testing.assert_allclose(hp, v / p, rtol=1e-10)
    np.testing.assert_allclose(hq, v * p / q**2, rtol=1e-10)
