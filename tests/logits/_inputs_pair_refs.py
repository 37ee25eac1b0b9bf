"""Shared by the tests of ``inputs=(of p, of q)`` (tests/logits/test_inputs_pair_*.py).

The test rows of logits and each side in its kind; the float64 NumPy references
(log-softmax by max and log-sum-exp; KL, cross-entropy and the generalised JSD from
log-probabilities with 0 log 0 = 0), computed here and never by the library; the
functions under test and how they are called with a pair of kinds.
"""

from __future__ import annotations

import itertools

import numpy as np
from _logits_refs import MASK, log_softmax

from kl_backends import cross_entropy, js_divergence, kl_divergence

KINDS = ("probs", "log_probs", "logits")
PAIRS = list(itertools.product(KINDS, KINDS))
T = 2.0


# --- float64 references --------------------------------------------------------------


def base_logits(n: int = 6, v: int = 11, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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


def masked_ok(name: str, kinds: tuple[str, str]) -> bool:
    """``where=`` is for rows of logits or log-probabilities and for every pair but
    probabilities on both sides of KL and cross-entropy (their own path)."""
    return not (kinds == ("probs", "probs") and name in ("kl", "ce"))


def call_pair(on, name, kinds, a, b, dtype, reduction="none", mask=True):
    fn, kw = FUNCS[name]
    kw = dict(kw)
    if "logits" in kinds:
        kw["temperature"] = T
    if mask:
        kw["where"] = on.impl.asarray(MASK.astype(np.float64), "float64", on.device) > 0
    return fn(a, b, inputs=kinds, reduction=reduction, **kw)


#: The pairs of two kinds, and probabilities on both sides (JSD with beta or where);
#: a pair of one other kind is the single value (test_same_kind_pair_is_the_single_value).
NEW_PAIRS = [k for k in PAIRS if k[0] != k[1] or k[0] == "probs"]


def soft_targets(rng, shape, zeros=True):
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:
        p[..., :2] = 0.0
        p /= p.sum(-1, keepdims=True)
    return p
