"""``inputs=(of p, of q)``: the values, each distribution in its own kind.

Every pair of kinds (probs, log_probs, logits), function, backend and dtype against
float64 NumPy formulas (log-softmax by max and log-sum-exp; KL, cross-entropy and
the generalised JSD from log-probabilities with 0 log 0 = 0); logits of +-1000
against mpmath at 50 digits; the routing (a pair of one kind is the single value,
a mixed pair never reaches a backend's logits kernel), rows in blocks, event axes,
batch axes and ``keepdims``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _inputs_pair_refs import (
    FUNCS,
    NEW_PAIRS,
    T,
    as_kind,
    base_logits,
    call_pair,
    masked_ok,
    ref_value,
)
from _logits_refs import MASK, log_softmax

from conftest import need
from kl_backends import cross_entropy, js_divergence, kl_divergence
from kl_backends._math import logits as _logits


def _tol(dtype: str) -> dict:
    return {
        "float64": {"rtol": 1e-10, "atol": 1e-12},
        "float32": {"rtol": 2e-5, "atol": 2e-5},
        "float16": {"rtol": 2e-2, "atol": 2e-2},
        "bfloat16": {"rtol": 5e-2, "atol": 5e-2},
    }[dtype]


# --- values: every pair, kind, backend and dtype -------------------------------------


REDUCTIONS = ("none", "sum", "mean")


VALUE_NAMES = ["kl", "ce", "js-0.3", "js-1.0"]


@pytest.mark.parametrize("name", VALUE_NAMES)
def test_values_every_pair_against_float64(combo, name) -> None:
    """Temperature on the logits sides only, ``where``, each reduction; zeros in p."""
    on, dtype = combo
    zp, zq = base_logits()
    for i, kinds in enumerate(NEW_PAIRS):
        if kinds == ("probs", "probs") and not name.startswith("js"):
            continue  # kl_divergence and cross_entropy of probabilities: their own path
        a, b = as_kind(zp, kinds[0]), as_kind(zq, kinds[1], seed=2)
        ta, tb = on.asarray(a, dtype), on.asarray(b, dtype)
        a64, b64 = on.to_numpy(ta), on.to_numpy(tb)  # the values as stored in ``dtype``
        temperature = T if "logits" in kinds else None
        masked = masked_ok(name, kinds)
        rows = ref_value(name, a64, b64, kinds, temperature)
        expected = np.where(MASK, rows, 0.0) if masked else rows
        # One reduction per pair, each pair a different one for each function.
        for reduction in [REDUCTIONS[(i + VALUE_NAMES.index(name)) % 3]]:
            out = call_pair(on, name, kinds, ta, tb, dtype, reduction, masked)
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


# --- routing: the single-kind path is unchanged; pairs go to the generic blocks ------


def test_same_kind_pair_is_the_single_value(backend, monkeypatch) -> None:
    """("logits", "logits") is inputs="logits", bit for bit, through the same kernel;
    a mixed pair never reaches a backend's logits kernel."""
    zp, zq = base_logits()
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
