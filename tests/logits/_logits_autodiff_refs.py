"""Shared by the tests of the logits path's derivatives and array temperature/beta.

Float64 NumPy references written here (log-softmax by max and log-sum-exp, KL and
the generalised JSD of ``softmax(t / T)`` and ``softmax(s / T)`` with 0 log 0 = 0),
random rows of logits, and the four losses under test on logits.
"""

from __future__ import annotations

import numpy as np

from kl_backends import cross_entropy, js_divergence, kl_divergence

# --- float64 references ---------------------------------------------------------------


def log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return x - (m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)))


def ref_kl(t, s, temperature=1.0):
    lp, lq = log_softmax(t / temperature), log_softmax(s / temperature)
    with np.errstate(invalid="ignore"):
        return np.where(np.isneginf(lp), 0.0, np.exp(lp) * (lp - lq)).sum(-1)


def ref_js(t, s, beta, temperature=1.0):
    """(beta KL(t||m) + (1-beta) KL(s||m)) / (beta (1-beta)), the limits at 0 and 1."""
    if beta == 0:
        return ref_kl(t, s, temperature)
    if beta == 1:
        return ref_kl(s, t, temperature)
    p, q = np.exp(log_softmax(t / temperature)), np.exp(log_softmax(s / temperature))
    m = beta * p + (1 - beta) * q
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 log 0 = 0
        kl_pm = np.where(p == 0, 0, p * np.log(p / m)).sum(-1)
        kl_qm = np.where(q == 0, 0, q * np.log(q / m)).sum(-1)
    return (beta * kl_pm + (1 - beta) * kl_qm) / (beta * (1 - beta))


def softmax(x):
    return np.exp(log_softmax(x))


def random_logits(n=4, v=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, v)) * 2, rng.normal(size=(n, v)) * 2


KINDS = {
    "kl": lambda a, b, **k: kl_divergence(a, b, inputs="logits", **k),
    "ce": lambda a, b, **k: cross_entropy(a, b, inputs="logits", **k),
    "js-0.3": lambda a, b, **k: js_divergence(a, b, inputs="logits", beta=0.3, **k),
    "js-None": lambda a, b, **k: js_divergence(a, b, inputs="logits", **k),
}
