"""``inputs=(of p, of q)``: gradients wrt both arguments, every pair of kinds.

The reference is each framework's autodiff of a float64 reference formula written
here with that framework's operations (``F.kl_div``'s convention: a KL term
``p log(p / r)`` has zero gradient wrt ``p`` where ``p == 0``; cross-entropy
``-sum p log q`` is linear in ``p``, so its gradient ``-log q`` holds at ``p == 0``
too); JSD of probabilities with zeros and ``beta``: finite gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from _inputs_pair_refs import NEW_PAIRS, T, as_kind, base_logits, call_pair, masked_ok, ref_value
from _logits_refs import MASK

from _gradients import grad
from conftest import need
from kl_backends import js_divergence

# --- gradients: autodiff of a float64 reference in each framework ---------------------


def ref_loss(xp, name, kinds, a, b, temperature, keep, count):
    """The float64 reference written with the array-API namespace ``xp``: the sum over the
    rows ``keep`` (a boolean array) / ``count``.

    KL terms follow ``F.kl_div``: ``where(p > 0, p (log p - log r), 0)`` with the
    logs of zeros replaced by 0 inside the ``where`` (a finite discarded branch).
    Rows left out are replaced by uniform ones first (their NaN would reach every
    gradient through the sum) and weighted 0.
    """
    where, exp, log = xp.where, xp.exp, xp.log

    def rsum(x):
        return xp.sum(x, axis=-1)

    def lsm(x):
        m = xp.max(x, axis=-1, keepdims=True)
        return x - (m + log(xp.sum(exp(x - m), axis=-1, keepdims=True)))

    def side(x, kind):
        if kind == "probs":
            zero = x == 0
            return x, log(where(zero, x * 0 + 1, x)), zero
        lx = x if kind == "log_probs" else lsm(x / temperature)
        px = exp(lx)
        return px, where(px == 0, px * 0, lx), px == 0

    rows = xp.expand_dims(keep, axis=-1)
    a, b = where(rows, a, xp.zeros_like(a) + 0.5), where(rows, b, xp.zeros_like(b) + 0.5)
    p, lp, pz = side(a, kinds[0])
    q, lq, qz = side(b, kinds[1])

    def kl(x, lx, xz, lr):
        return rsum(where(xz, x * 0, x * (lx - lr)))

    if name == "kl":
        vals = kl(p, lp, pz, lq)
    elif name == "ce":
        vals = rsum(-p * lq)
    elif name == "js-0.0":
        vals = kl(p, lp, pz, lq)
    elif name == "js-1.0":
        vals = kl(q, lq, qz, lp)
    else:
        beta = 0.5 if name == "js-None" else 0.3
        m = beta * p + (1 - beta) * q
        lm = log(where(m == 0, m * 0 + 1, m))
        vals = kl(p, lp, pz, lm) / (1 - beta) + kl(q, lq, qz, lm) / beta
        if name == "js-None":
            vals = vals / 4
    return xp.sum(where(keep, vals, xp.zeros_like(vals))) / count


#: Compiled (jax.jit, tf.function): one of these pairs per function (a compile
#: takes a while); JAX and TensorFlow eager: every other pair, in turns.
COMPILED_PAIRS = [("probs", "logits"), ("logits", "log_probs")]
GRAD_NAMES = ["kl", "ce", "js-None", "js-1.0"]


def _grad_pairs(ad, compiled: bool, name: str) -> list[tuple[str, str]]:
    turn = GRAD_NAMES.index(name)
    if compiled:
        return [COMPILED_PAIRS[turn % 2]]
    if not ad.impl.compiled_in_matrix:  # eager only: every pair
        return NEW_PAIRS
    return [k for i, k in enumerate(NEW_PAIRS) if (i + turn) % 2 == 0]


@pytest.mark.parametrize("name", GRAD_NAMES)
def test_gradients_every_pair(ad, dtype, compiled, name) -> None:
    """Both arguments, every pair, T = 2, ``where``, mean; finite at zeros of p.

    The single kinds (logits, log-probabilities) are tests/logits/test_logits.py's;
    probabilities on both sides are here for cross-entropy and JSD.  Every pair
    on PyTorch; on JAX and TensorFlow each pair with two of the four functions.
    """
    zp, zq = base_logits()
    xp = ad.impl.xp
    for kinds in _grad_pairs(ad, compiled, name):
        if kinds == ("probs", "probs") and name == "kl":
            continue
        masked = masked_ok(name, kinds)
        a, b = as_kind(zp, kinds[0]), as_kind(zq, kinds[1], seed=2)
        ta, tb = ad.asarray(a, dtype), ad.asarray(b, dtype)
        a64, b64 = ad.to_numpy(ta), ad.to_numpy(tb)
        rows = ref_value(name, a64, b64, kinds, T)
        keep = np.isfinite(rows) & (MASK if masked else True)
        count = MASK.sum() if masked else len(MASK)
        if not masked:  # no mask: the masked-out row's NaN would reach every gradient
            a64, b64 = np.where(MASK[:, None], a64, 0.5), np.where(MASK[:, None], b64, 0.5)
            ta, tb = ad.asarray(a64, dtype), ad.asarray(b64, dtype)
            keep = MASK & np.isfinite(ref_value(name, a64, b64, kinds, T))

        def ours(x, y, kinds=kinds, masked=masked):
            return call_pair(ad, name, kinds, x, y, dtype, "mean", masked)

        ga, gb = grad(ad, ours, [ta, tb], compiled)
        ra, rb = ad.asarray(a64, "float64"), ad.asarray(b64, "float64")
        kept = xp.asarray(ad.asarray(keep.astype(float), "float64") > 0)

        def ref(x, y, kinds=kinds, kept=kept, count=count):
            return ref_loss(xp, name, kinds, x, y, T, kept, float(count))

        ea, eb = grad(ad, ref, [ra, rb])
        tol = 1e-9 if dtype == "float64" else 1e-5
        msg = f"{kinds}"
        # Finite wherever the loss is, zeros of p included; masked rows exactly 0.
        assert np.isfinite(ga[keep]).all() and np.isfinite(gb[keep]).all(), msg
        if masked:
            assert np.all(ga[~MASK] == 0) and np.all(gb[~MASK] == 0), msg
        scale = 1.0 if dtype == "float64" else max(1.0, np.abs(ea[keep]).max())
        np.testing.assert_allclose(ga[keep], ea[keep], atol=tol * scale, rtol=tol, err_msg=msg)
        np.testing.assert_allclose(gb[keep], eb[keep], atol=tol * scale, rtol=tol, err_msg=msg)


def test_js_probabilities_with_beta_have_finite_gradients_at_zeros() -> None:
    """JSD of probabilities with zeros and beta: finite gradients, not NaN.

    The reference is autodiff of ``KL(p || m) / (1 - beta) + KL(q || m) / beta``
    with each KL term ``where(x > 0, x (log x - log m), 0)`` (logs of zeros
    replaced by 0 inside the ``where``): exact except the ``-inf`` derivative
    of ``x log x`` at ``x == 0``, which is 0 there.
    """
    torch = need("torch")
    p = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([[0.1, 0.0, 0.9], [0.6, 0.1, 0.3]], dtype=torch.float64, requires_grad=True)
    beta = 0.3
    ours = js_divergence(p, q, beta=beta, reduction="sum")
    m = beta * p + (1 - beta) * q
    lm = torch.log(torch.where(m == 0, torch.ones_like(m), m))

    def kl(x):
        lx = torch.log(torch.where(x == 0, torch.ones_like(x), x))
        return torch.where(x == 0, torch.zeros_like(x), x * (lx - lm)).sum()

    ref = kl(p) / (1 - beta) + kl(q) / beta
    np.testing.assert_allclose(ours.detach(), ref.detach(), rtol=1e-12)
    g = torch.autograd.grad(ours, (p, q))
    h = torch.autograd.grad(ref, (p, q))
    for x, y in zip(g, h):
        assert torch.isfinite(x).all()
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-10, atol=1e-14)
