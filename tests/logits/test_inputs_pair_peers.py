"""``inputs=(of p, of q)`` against peers' losses with probability targets.

PyTorch's ``F.cross_entropy`` and ``F.kl_div`` (values, reductions, gradients, log
targets), optax's ``softmax_cross_entropy`` and ``kl_divergence``, TensorFlow's
``tf.nn.softmax_cross_entropy_with_logits``; a pair under
``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _inputs_pair_refs import soft_targets
from _logits_refs import log_softmax

from conftest import need
from kl_backends import cross_entropy, kl_divergence

# --- peers with probability targets ---------------------------------------------------


def test_against_torch_cross_entropy_and_kl_div() -> None:
    torch = need("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    p, z = soft_targets(rng, (5, 9)), rng.normal(size=(5, 9)) * 3
    z[0, 0] = -1e4  # far below the rest (torch's cross-entropy gives NaN for -inf)
    pt = torch.tensor(p, requires_grad=True)
    zt = torch.tensor(z, requires_grad=True)
    ce_ref = F.cross_entropy(zt, pt, reduction="none")
    kl_ref = F.kl_div(F.log_softmax(zt, -1), pt, reduction="none").sum(-1)
    for red in ("none", "sum", "mean"):
        ce = cross_entropy(pt, zt, inputs=("probs", "logits"), reduction=red)
        kl = kl_divergence(pt, zt, inputs=("probs", "logits"), reduction=red)
        # PyTorch's "mean" of kl_div is per element: "batchmean" is ours.
        ce_want = {"none": ce_ref, "sum": ce_ref.sum(), "mean": ce_ref.mean()}[red]
        kl_want = {
            "none": kl_ref,
            "sum": F.kl_div(F.log_softmax(zt, -1), pt, reduction="sum"),
            "mean": F.kl_div(F.log_softmax(zt, -1), pt, reduction="batchmean"),
        }[red]
        np.testing.assert_allclose(ce.detach().numpy(), ce_want.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(kl.detach().numpy(), kl_want.detach().numpy(), rtol=1e-12)
    # Gradients (both arguments) against PyTorch's autodiff of its own losses.
    for ours, theirs in (
        (cross_entropy(pt, zt, inputs=("probs", "logits"), reduction="mean"), ce_ref.mean()),
        (
            kl_divergence(pt, zt, inputs=("probs", "logits"), reduction="mean"),
            F.kl_div(F.log_softmax(zt, -1), pt, reduction="batchmean"),
        ),
    ):
        g = torch.autograd.grad(ours, (pt, zt))
        h = torch.autograd.grad(theirs, (pt, zt))
        for x, y in zip(g, h):
            assert torch.isfinite(x).all()
            # F.kl_div's gradient wrt a zero target is NaN (the derivative of
            # p log p there is -inf); elsewhere the two agree.
            ok = torch.isfinite(y)
            assert ok[p > 0].all()
            np.testing.assert_allclose(x[ok].numpy(), y[ok].numpy(), rtol=1e-10, atol=1e-14)
    # Log-probability predictions against probability targets: F.kl_div(input, target),
    # as Liger-Kernel's LigerKLDIVLoss(log_target=False) takes them.
    lq = F.log_softmax(zt, -1).detach()
    np.testing.assert_allclose(
        kl_divergence(pt, lq, inputs=("probs", "log_probs"), reduction="mean").detach(),
        F.kl_div(lq, pt, reduction="batchmean").detach(),
        rtol=1e-12,
    )
    # log-probability targets: F.kl_div(..., log_target=True).
    lp = torch.tensor(log_softmax(rng.normal(size=(5, 9))))
    np.testing.assert_allclose(
        kl_divergence(lp, zt, inputs=("log_probs", "logits"), reduction="sum").detach(),
        F.kl_div(F.log_softmax(zt, -1), lp, reduction="sum", log_target=True).detach(),
        rtol=1e-12,
    )


def test_against_optax() -> None:
    jax = need("jax")
    optax = need("optax")
    jnp = jax.numpy
    rng = np.random.default_rng(7)
    p, z = jnp.asarray(soft_targets(rng, (2, 3, 8))), jnp.asarray(rng.normal(size=(2, 3, 8)) * 3)
    np.testing.assert_allclose(
        cross_entropy(p, z, inputs=("probs", "logits")),
        optax.softmax_cross_entropy(z, p),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        kl_divergence(p, z, inputs=("probs", "logits")),
        optax.kl_divergence(jax.nn.log_softmax(z), p),
        rtol=1e-12,
    )

    def ours(p, z):
        return cross_entropy(p, z, inputs=("probs", "logits"), reduction="sum")

    def theirs(p, z):
        return optax.softmax_cross_entropy(z, p).sum()

    for g, h in zip(
        jax.jit(jax.grad(ours, argnums=(0, 1)))(p, z), jax.grad(theirs, argnums=(0, 1))(p, z)
    ):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-14)


def test_against_tensorflow() -> None:
    tf = need("tensorflow")
    rng = np.random.default_rng(8)
    p = tf.constant(soft_targets(rng, (4, 7)))
    z = tf.constant(rng.normal(size=(4, 7)) * 3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        ours = cross_entropy(p, z, inputs=("probs", "logits"))
        theirs = tf.nn.softmax_cross_entropy_with_logits(labels=p, logits=z)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        tape.gradient(ours, z).numpy(), tape.gradient(theirs, z).numpy(), rtol=1e-10, atol=1e-14
    )


@pytest.mark.slow
def test_torch_compile_fullgraph() -> None:
    """A pair under torch.compile(fullgraph=True): F.cross_entropy's value and gradient."""
    torch = need("torch")
    F = torch.nn.functional
    torch._dynamo.reset()
    rng = np.random.default_rng(10)
    p = torch.tensor(soft_targets(rng, (4, 9)))
    z = torch.tensor(rng.normal(size=(4, 9)) * 2, requires_grad=True)
    mask = torch.tensor([True, False, True, True])

    def f(a, b):
        return cross_entropy(
            a, b, inputs=("probs", "logits"), where=mask, reduction="mean", temperature=2.0
        )

    out = torch.compile(f, fullgraph=True, dynamic=False)(p, z)
    ref = F.cross_entropy(z[mask] / 2.0, p[mask])
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    g = torch.autograd.grad(out, z)[0]
    h = torch.autograd.grad(ref, z)[0]
    np.testing.assert_allclose(g.numpy(), h.numpy(), rtol=1e-10, atol=1e-14)
