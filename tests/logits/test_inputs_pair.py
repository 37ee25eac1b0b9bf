"""``inputs=(of p, of q)``: each distribution in its own kind (probs, log_probs, logits).

Oracles, computed here and never by the library:

* float64 NumPy formulas (log-softmax by max and log-sum-exp; KL, cross-entropy
  and the generalised JSD from log-probabilities with 0 log 0 = 0);
* peers' losses with probability targets: PyTorch's ``F.cross_entropy`` and
  ``F.kl_div``, optax's ``softmax_cross_entropy`` and ``kl_divergence``,
  TensorFlow's ``tf.nn.softmax_cross_entropy_with_logits``;
* mpmath at 50 digits for logits of +-1000;
* gradients: each framework's autodiff of a float64 reference formula written
  here with that framework's operations (``F.kl_div``'s convention: a KL term
  ``p log(p / r)`` has zero gradient wrt ``p`` where ``p == 0``; cross-entropy
  ``-sum p log q`` is linear in ``p``, so its gradient ``-log q`` holds at
  ``p == 0`` too).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from _logits_refs import MASK, log_softmax

from conftest import need
from kl_backends import (
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    kl_from_densities,
)
from kl_backends._math import logits as _logits

KINDS = ("probs", "log_probs", "logits")
PAIRS = list(itertools.product(KINDS, KINDS))
T = 2.0


# --- float64 references --------------------------------------------------------------


def _base(n: int = 6, v: int = 11, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of p and of q (float64) with the cases that matter:

    row 1: p has zeros, q a zero where p is 0; row 2: p one-hot; row 3: NaN in p,
    +inf in q (masked); row 4: q has a zero where p > 0; row 5: logits of size 20.
    """
    rng = np.random.default_rng(seed)
    zp, zq = rng.normal(size=(n, v)) * 2, rng.normal(size=(n, v)) * 2
    zp[1, :4] = -np.inf
    zq[1, 0] = -np.inf
    zp[2, :] = -np.inf
    zp[2, 5] = 0.0
    zp[3, 2] = np.nan
    zq[3, 4] = np.inf
    zq[4, 7] = -np.inf
    zp[5] *= 4  # (no probability below float32's smallest normal: XLA flushes those to 0)
    zq[5] *= 4
    return zp, zq


def as_kind(z: np.ndarray, kind: str, seed: int = 1) -> np.ndarray:
    """The distribution softmax(z) as ``kind`` (logits: z plus a shift per row)."""
    if kind == "logits":
        return z + np.random.default_rng(seed).normal(size=(*z.shape[:-1], 1)) * 5
    lz = log_softmax(z)
    return lz if kind == "log_probs" else np.exp(lz)


def ref_side(x: np.ndarray, kind: str, temperature: float | None) -> tuple:
    """(probabilities, log-probabilities) of one side given as ``kind``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "probs":
            return x, np.log(x)
        lx = x if kind == "log_probs" else log_softmax(x / (temperature or 1.0))
        return np.exp(lx), lx


def _kl_terms(p: np.ndarray, lp: np.ndarray, lr: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(p == 0, 0.0, p * (lp - lr)).sum(-1)


def ref_value(name: str, a, b, kinds, temperature=None) -> np.ndarray:
    p, lp = ref_side(a, kinds[0], temperature)
    q, lq = ref_side(b, kinds[1], temperature)
    if name == "kl":
        return _kl_terms(p, lp, lq)
    if name == "ce":
        with np.errstate(invalid="ignore"):
            return np.where(p == 0, 0.0, -p * lq).sum(-1)
    beta = name.split("-", 1)[1]
    beta = None if beta == "None" else float(beta)
    if beta == 0.0:
        return _kl_terms(p, lp, lq)
    if beta == 1.0:
        return _kl_terms(q, lq, lp)
    b_ = 0.5 if beta is None else beta
    with np.errstate(divide="ignore"):
        lm = np.log(b_ * p + (1 - b_) * q)
    j = _kl_terms(p, lp, lm) / (1 - b_) + _kl_terms(q, lq, lm) / b_
    return j / 4 if beta is None else j


FUNCS = {
    "kl": (kl_divergence, {}),
    "ce": (cross_entropy, {}),
    "js-None": (js_divergence, {}),
    "js-0.3": (js_divergence, {"beta": 0.3}),
    "js-0.0": (js_divergence, {"beta": 0.0}),
    "js-1.0": (js_divergence, {"beta": 1.0}),
}


def _tol(dtype: str) -> dict:
    return {
        "float64": {"rtol": 1e-10, "atol": 1e-12},
        "float32": {"rtol": 2e-5, "atol": 2e-5},
        "float16": {"rtol": 2e-2, "atol": 2e-2},
        "bfloat16": {"rtol": 5e-2, "atol": 5e-2},
    }[dtype]


def _masked_ok(name: str, kinds: tuple[str, str]) -> bool:
    """``where=`` is for rows of logits or log-probabilities and for every pair but
    probabilities on both sides of KL and cross-entropy (their own path)."""
    return not (kinds == ("probs", "probs") and name in ("kl", "ce"))


def _call(on, name, kinds, a, b, dtype, reduction="none", mask=True):
    fn, kw = FUNCS[name]
    kw = dict(kw)
    if "logits" in kinds:
        kw["temperature"] = T
    if mask:
        kw["where"] = on.impl.asarray(MASK.astype(np.float64), "float64", on.device) > 0
    return fn(a, b, inputs=kinds, reduction=reduction, **kw)


# --- values: every pair, kind, backend and dtype -------------------------------------


#: The pairs of two kinds, and probabilities on both sides (JSD with beta or where);
#: a pair of one other kind is the single value (test_same_kind_pair_is_the_single_value).
NEW_PAIRS = [k for k in PAIRS if k[0] != k[1] or k[0] == "probs"]
REDUCTIONS = ("none", "sum", "mean")


VALUE_NAMES = ["kl", "ce", "js-0.3", "js-1.0"]


@pytest.mark.parametrize("name", VALUE_NAMES)
def test_values_every_pair_against_float64(combo, name) -> None:
    """Temperature on the logits sides only, ``where``, each reduction; zeros in p."""
    on, dtype = combo
    zp, zq = _base()
    for i, kinds in enumerate(NEW_PAIRS):
        if kinds == ("probs", "probs") and not name.startswith("js"):
            continue  # kl_divergence and cross_entropy of probabilities: their own path
        a, b = as_kind(zp, kinds[0]), as_kind(zq, kinds[1], seed=2)
        ta, tb = on.asarray(a, dtype), on.asarray(b, dtype)
        a64, b64 = on.to_numpy(ta), on.to_numpy(tb)  # the values as stored in ``dtype``
        temperature = T if "logits" in kinds else None
        masked = _masked_ok(name, kinds)
        rows = ref_value(name, a64, b64, kinds, temperature)
        expected = np.where(MASK, rows, 0.0) if masked else rows
        # One reduction per pair, each pair a different one for each function.
        for reduction in [REDUCTIONS[(i + VALUE_NAMES.index(name)) % 3]]:
            out = _call(on, name, kinds, ta, tb, dtype, reduction, masked)
            assert on.impl.dtype_name(out) == dtype, (kinds, reduction)
            want = {
                "none": expected,
                "sum": expected.sum(),
                "mean": expected.sum() / (MASK.sum() if masked else len(MASK)),
            }[reduction]
            np.testing.assert_allclose(
                on.to_numpy(out), want, **_tol(dtype), err_msg=f"{kinds} {reduction}"
            )


def test_issue_example_one_hot_labels_against_logits(backend) -> None:
    """One-hot labels against logits: the soft-label cross-entropy of PyTorch and optax."""
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(4, 5)) * 2
    one_hot = np.eye(5)[[1, 0, 4, 2]]
    # The cross-entropy with integer targets: -log_softmax at the label.
    expected = -log_softmax(logits)[np.arange(4), [1, 0, 4, 2]]
    out = cross_entropy(
        backend.asarray(one_hot), backend.asarray(logits), inputs=("probs", "logits")
    )
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-12)
    # A single value applies to both: softmax(one_hot) is then the target.
    both = cross_entropy(backend.asarray(one_hot), backend.asarray(logits), inputs="logits")
    assert not np.allclose(backend.to_numpy(both), expected)


# --- peers with probability targets ---------------------------------------------------


def _soft(rng, shape, zeros=True):
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:
        p[..., :2] = 0.0
        p /= p.sum(-1, keepdims=True)
    return p


def test_against_torch_cross_entropy_and_kl_div() -> None:
    torch = need("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    p, z = _soft(rng, (5, 9)), rng.normal(size=(5, 9)) * 3
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
    p, z = jnp.asarray(_soft(rng, (2, 3, 8))), jnp.asarray(rng.normal(size=(2, 3, 8)) * 3)
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
    p = tf.constant(_soft(rng, (4, 7)))
    z = tf.constant(rng.normal(size=(4, 7)) * 3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        ours = cross_entropy(p, z, inputs=("probs", "logits"))
        theirs = tf.nn.softmax_cross_entropy_with_logits(labels=p, logits=z)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        tape.gradient(ours, z).numpy(), tape.gradient(theirs, z).numpy(), rtol=1e-10, atol=1e-14
    )


def test_extreme_logits_against_mpmath(backend) -> None:
    """Logits of +-1000 against probabilities with a zero, at 50 digits."""
    mpmath = need("mpmath")
    p = np.array([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]])
    z = np.array([[1000.0, -1000.0, 999.0], [-1000.0, -999.5, 1000.0]])
    kl_want, ce_want = [], []
    for pr, zr in zip(p, z):
        mpmath.mp.dps = 50
        lse = mpmath.log(sum(mpmath.exp(mpmath.mpf(v)) for v in zr))
        lq = [mpmath.mpf(v) - lse for v in zr]
        ce_want.append(float(-sum(mpmath.mpf(a) * b for a, b in zip(pr, lq) if a > 0)))
        kl_want.append(
            float(sum(mpmath.mpf(a) * (mpmath.log(a) - b) for a, b in zip(pr, lq) if a > 0))
        )
    pa, za = backend.asarray(p), backend.asarray(z)
    ce = cross_entropy(pa, za, inputs=("probs", "logits"))
    kl = kl_divergence(pa, za, inputs=("probs", "logits"))
    np.testing.assert_allclose(backend.to_numpy(ce), ce_want, rtol=1e-13)
    np.testing.assert_allclose(backend.to_numpy(kl), kl_want, rtol=1e-13)


# --- gradients: autodiff of a float64 reference in each framework ---------------------


def _ops(name: str):
    """where, exp, log, sum over the last axis, log-softmax, rows by index: one framework's."""
    if name == "torch":
        import torch

        return (
            torch.where,
            torch.exp,
            torch.log,
            lambda x: x.sum(-1),
            lambda x: torch.log_softmax(x, -1),
            lambda x, i: x[torch.as_tensor(i, device=x.device)],
        )
    if name == "jax":
        import jax

        jnp = jax.numpy
        return (
            jnp.where,
            jnp.exp,
            jnp.log,
            lambda x: x.sum(-1),
            jax.nn.log_softmax,
            lambda x, i: x[i],
        )
    import tensorflow as tf

    return (
        tf.where,
        tf.exp,
        tf.math.log,
        lambda x: tf.reduce_sum(x, -1),
        lambda x: tf.nn.log_softmax(x, -1),
        lambda x, i: tf.gather(x, i),
    )


def ref_loss(ops, name, kinds, a, b, temperature, rows, count):
    """The float64 reference written with ``ops``: sum over ``rows`` (indices) / ``count``.

    KL terms follow ``F.kl_div``: ``where(p > 0, p (log p - log r), 0)`` with the
    logs of zeros replaced by 0 inside the ``where`` (a finite discarded branch).
    """
    where, exp, log, rsum, lsm, take = ops

    def side(x, kind):
        if kind == "probs":
            zero = x == 0
            return x, log(where(zero, x * 0 + 1, x)), zero
        lx = x if kind == "log_probs" else lsm(x / temperature)
        px = exp(lx)
        return px, where(px == 0, px * 0, lx), px == 0

    a, b = take(a, rows), take(b, rows)
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
    return rsum(vals) / count


def _grads(ad, f, a, b, compiled):
    name = ad.name
    if name == "torch":
        a = a.clone().requires_grad_(True)
        b = b.clone().requires_grad_(True)
        ga, gb = ad.impl.load().autograd.grad(f(a, b), (a, b))
        return ad.to_numpy(ga), ad.to_numpy(gb)
    if name == "jax":
        jax = ad.impl.load()
        g = jax.grad(f, argnums=(0, 1))
        ga, gb = (jax.jit(g) if compiled else g)(a, b)
        return ad.to_numpy(ga), ad.to_numpy(gb)
    tf = ad.impl.load()

    def g(a, b):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            y = f(a, b)
        return tape.gradient(y, [a, b])

    ga, gb = (tf.function(g) if compiled else g)(a, b)
    return ad.to_numpy(tf.convert_to_tensor(ga)), ad.to_numpy(tf.convert_to_tensor(gb))


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

    The single kinds (logits, log-probabilities) are tests/test_logits.py's;
    probabilities on both sides are here for cross-entropy and JSD.  Every pair
    on PyTorch; on JAX and TensorFlow each pair with two of the four functions.
    """
    zp, zq = _base()
    ops = _ops(ad.name)
    for kinds in _grad_pairs(ad, compiled, name):
        if kinds == ("probs", "probs") and name == "kl":
            continue
        masked = _masked_ok(name, kinds)
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
            return _call(ad, name, kinds, x, y, dtype, "mean", masked)

        ga, gb = _grads(ad, ours, ta, tb, compiled)
        ra, rb = ad.asarray(a64, "float64"), ad.asarray(b64, "float64")
        rows_kept = np.flatnonzero(keep)

        def ref(x, y, kinds=kinds, rows_kept=rows_kept, count=count):
            return ref_loss(ops, name, kinds, x, y, T, rows_kept, float(count))

        ea, eb = _grads(ad, ref, ra, rb, False)
        tol = 1e-9 if dtype == "float64" else 1e-5
        msg = f"{kinds}"
        # Finite wherever the loss is, zeros of p included; masked rows exactly 0.
        assert np.isfinite(ga[keep]).all() and np.isfinite(gb[keep]).all(), msg
        if masked:
            assert np.all(ga[~MASK] == 0) and np.all(gb[~MASK] == 0), msg
        scale = 1.0 if dtype == "float64" else max(1.0, np.abs(ea[keep]).max())
        np.testing.assert_allclose(ga[keep], ea[keep], atol=tol * scale, rtol=tol, err_msg=msg)
        np.testing.assert_allclose(gb[keep], eb[keep], atol=tol * scale, rtol=tol, err_msg=msg)


# --- routing: the single-kind path is unchanged; pairs go to the generic blocks ------


def test_same_kind_pair_is_the_single_value(backend, monkeypatch) -> None:
    """("logits", "logits") is inputs="logits", bit for bit, through the same kernel;
    a mixed pair never reaches a backend's logits kernel."""
    zp, zq = _base()
    rows = [0, 1, 2, 4, 5]  # (row 3 holds NaN)
    a, b = backend.asarray(zp[rows]), backend.asarray(zq[rows])
    calls = []
    impl = type(backend.impl)
    original = impl.logits_rows

    def spy(self, *args, **kw):
        calls.append(args[0])
        return original(self, *args, **kw)

    monkeypatch.setattr(impl, "logits_rows", spy)
    for fn, kw in FUNCS.values():
        for kind in ("logits", "log_probs"):
            one = fn(a, b, inputs=kind, **kw)
            pair = fn(a, b, inputs=(kind, kind), **kw)
            np.testing.assert_array_equal(backend.to_numpy(pair), backend.to_numpy(one))
    n_single = len(calls)
    assert n_single == 2 * len(FUNCS)  # each logits call (single and pair) asked the hook
    p = backend.asarray(np.exp(log_softmax(zp[rows])))
    kl_divergence(p, b, inputs=("probs", "logits"))
    kl_divergence(b, p, inputs=["logits", "probs"])
    js_divergence(a, b, inputs=("logits", "log_probs"), beta=0.2)
    assert len(calls) == n_single


@pytest.mark.parametrize("v", [1, 7, 300])
def test_many_row_blocks(monkeypatch, backend, v) -> None:
    """Rows in blocks (ragged last block) give the same values as the float64 formula."""
    monkeypatch.setattr(_logits, "ROW_ELEMENTS", 3 * v + 1)
    rng = np.random.default_rng(v)
    zp, zq = rng.normal(size=(11, v)) * 3, rng.normal(size=(11, v)) * 3
    if v > 1:  # zeros of p (a single event cannot be impossible)
        zp[::3, 0] = -np.inf
    for kinds, names in [
        (("probs", "logits"), ("kl", "ce")),
        (("logits", "probs"), ("js-0.3",)),
        (("log_probs", "logits"), ("ce",)),
    ]:
        a, b = as_kind(zp, kinds[0]), as_kind(zq, kinds[1], seed=3)
        for name in names:
            fn, kw = FUNCS[name]
            out = fn(backend.asarray(a), backend.asarray(b), inputs=kinds, temperature=1.5, **kw)
            np.testing.assert_allclose(
                backend.to_numpy(out),
                ref_value(name, a, b, kinds, 1.5),
                rtol=1e-10,
                atol=1e-13,
                err_msg=f"{kinds} {name}",
            )


def test_event_axes_batch_axes_and_keepdims(backend) -> None:
    """axis=0 (moved, or in place on TensorFlow), two event axes, two batch axes."""
    rng = np.random.default_rng(9)
    zp, zq = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5))
    zp[0, 1, 0, :2] = -np.inf
    kinds = ("probs", "logits")
    flat = lambda x: x.reshape(6, 20)  # noqa: E731
    p = np.exp(log_softmax(flat(zp))).reshape(zp.shape)
    want = {
        n: ref_value(n, flat(p), flat(zq), kinds, 2.0).reshape(2, 3) for n in ("kl", "ce", "js-0.3")
    }
    mask = np.array([[True, False, True], [True, True, False]])
    w = backend.impl.asarray(mask.astype(np.float64), "float64", backend.device) > 0
    for name, expected in want.items():
        fn, kw = FUNCS[name]
        pa, qa = backend.asarray(p), backend.asarray(zq)
        out = fn(pa, qa, inputs=kinds, axis=(-2, -1), temperature=2.0, **kw)
        np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-10)
        # Event axes first.
        pm, qm = (backend.asarray(np.moveaxis(x, (2, 3), (0, 1))) for x in (p, zq))
        out0 = fn(pm, qm, inputs=kinds, axis=(0, 1), temperature=2.0, **kw)
        np.testing.assert_allclose(backend.to_numpy(out0), expected, rtol=1e-10)
        kept = fn(
            pa, qa, inputs=kinds, axis=(2, 3), temperature=2.0, where=w, keepdims=True,
            reduction="mean", **kw,
        )  # fmt: skip
        assert tuple(kept.shape) == (1, 1, 1, 1)
        np.testing.assert_allclose(backend.to_numpy(kept).ravel(), expected[mask].mean())
        one = fn(pa, qa, inputs=kinds, axis=(2, 3), keepdims=True, temperature=2.0, **kw)
        assert tuple(one.shape) == (2, 3, 1, 1)


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


# --- other keywords: grid, validate; errors -------------------------------------------


def test_grid_with_densities_and_log_densities() -> None:
    x = np.linspace(-6, 8, 2001)
    p = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    lq = -0.5 * ((x - 2) / 1.5) ** 2 - math.log(1.5 * math.sqrt(2 * math.pi))
    # Trapezoid rule of p log(p / q) on the grid, and the closed form for normals.
    want = np.trapezoid(p * (np.log(p) - lq), x)
    for kinds, a, b in (
        (("probs", "log_probs"), p, lq),
        (("log_probs", "probs"), np.log(p), np.exp(lq)),
    ):
        out = kl_from_densities(a, b, inputs=kinds, x=x)
        np.testing.assert_allclose(out, want, rtol=1e-12)
        np.testing.assert_allclose(
            kl_from_densities(a, b, inputs=kinds, dx=x[1] - x[0]), want, rtol=1e-10
        )
    closed = math.log(1.5) + (1 + 4) / (2 * 1.5**2) - 0.5
    np.testing.assert_allclose(want, closed, rtol=1e-4)
    with pytest.raises(ValueError, match="kl_from_densities takes inputs='probs'"):
        kl_from_densities(p, lq, inputs=("probs", "logits"), x=x)


def test_validate_checks_each_side_in_its_kind() -> None:
    zp, zq = _base()
    p, z = np.exp(log_softmax(zp[[0, 5]])), zq[[0, 5]]
    out = kl_divergence(p, z, inputs=("probs", "logits"), validate=True)
    np.testing.assert_allclose(out, ref_value("kl", p, z, ("probs", "logits")), rtol=1e-12)
    with pytest.raises(ValueError, match="p does not sum to 1"):
        kl_divergence(p * 2, z, inputs=("probs", "logits"), validate=True)
    with pytest.raises(ValueError, match="q has log-probabilities above 0"):
        kl_divergence(p, z, inputs=("probs", "log_probs"), validate=True)


def test_errors_name_the_allowed_values() -> None:
    p, z = np.full((2, 3), 1 / 3), np.zeros((2, 3))
    allowed = r"'probs', 'log_probs', 'logits'"
    for fn in (kl_divergence, cross_entropy, js_divergence):
        with pytest.raises(ValueError, match=r"or a pair of them.*length 3"):
            fn(p, z, inputs=("probs", "logits", "logits"))
        with pytest.raises(ValueError, match=r"or a pair of them.*length 1"):
            fn(p, z, inputs=("probs",))
        with pytest.raises(
            ValueError,
            match=f"inputs\\[1\\] \\(the inputs of q\\) must be one of {allowed}; got 'logit'",
        ):
            fn(p, z, inputs=("probs", "logit"))
        with pytest.raises(ValueError, match=f"inputs\\[0\\].*must be one of {allowed}; got 1"):
            fn(p, z, inputs=(1, "logits"))
        with pytest.raises(ValueError, match=f"inputs must be one of {allowed}"):
            fn(p, z, inputs="prob")
        with pytest.raises(ValueError, match="or a pair of them"):
            fn(p, z, inputs={"probs", "logits"})
        with pytest.raises(ValueError, match="temperature applies to logits"):
            fn(p, np.log(p), inputs=("probs", "log_probs"), temperature=2.0)
    with pytest.raises(ValueError, match=f"inputs must be one of {allowed}"):
        entropy(p, inputs=("probs", "logits"))
    with pytest.raises(ValueError, match="at least one logit per distribution"):
        kl_divergence(np.zeros((2, 0)), np.zeros((2, 0)), inputs=("probs", "logits"))


@pytest.mark.slow
def test_torch_compile_fullgraph() -> None:
    """A pair under torch.compile(fullgraph=True): F.cross_entropy's value and gradient."""
    torch = need("torch")
    F = torch.nn.functional
    torch._dynamo.reset()
    rng = np.random.default_rng(10)
    p = torch.tensor(_soft(rng, (4, 9)))
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
