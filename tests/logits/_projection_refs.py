"""float64 NumPy references for logits given as a projection, materialised.

``logits64`` is the formula of ``ProjectedLogits`` written out (matmul, scale,
soft-cap), padded with ``-inf`` to a larger vocabulary; ``kl64``, ``ce64`` and
``js64`` are the textbook formulas on ``log_softmax`` of two logits arrays.
"""

from __future__ import annotations

import numpy as np


def logits64(h, w, b=None, scale=None, cap=None, vocab=None):
    """``cap tanh((h @ w.T + b) scale / cap)``, then ``-inf`` up to ``vocab`` ids."""
    z = np.asarray(h, np.float64) @ np.asarray(w, np.float64).T
    if b is not None:
        z = z + np.asarray(b, np.float64)
    if scale is not None:
        z = z * scale
    if cap is not None:
        z = cap * np.tanh(z / cap)
    if vocab is not None and vocab > z.shape[-1]:
        pad = np.full((*z.shape[:-1], vocab - z.shape[-1]), -np.inf)
        z = np.concatenate([z, pad], axis=-1)
    return z


def log_softmax64(z, temperature=None):
    z = np.asarray(z, np.float64) / (1.0 if temperature is None else temperature)
    m = np.max(z, axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def _xlogy_terms(lx, ly):
    """``exp(lx) (lx - ly)`` with 0 where ``lx == -inf`` and ``+inf`` where only ``ly`` is."""
    with np.errstate(invalid="ignore"):
        t = np.exp(lx) * (lx - ly)
    t = np.where(np.isneginf(ly) & ~np.isneginf(lx), np.inf, t)
    return np.where(np.isneginf(lx), 0.0, t)


def kl64(zp, zq, temperature=None):
    lp, lq = log_softmax64(zp, temperature), log_softmax64(zq, temperature)
    return np.sum(_xlogy_terms(lp, lq), axis=-1)


def ce64(zp, zq, temperature=None):
    lp, lq = log_softmax64(zp, temperature), log_softmax64(zq, temperature)
    with np.errstate(invalid="ignore"):
        t = -np.exp(lp) * lq
    t = np.where(np.isneginf(lq) & ~np.isneginf(lp), np.inf, t)
    return np.sum(np.where(np.isneginf(lp), 0.0, t), axis=-1)


def js64(zp, zq, beta=None, temperature=None):
    """``(beta KL(p || m) + (1 - beta) KL(q || m)) / (beta (1 - beta))``, ``m = beta p +
    (1 - beta) q``; ``beta=None``: the ordinary JSD, ``(KL(p || m) + KL(q || m)) / 2``."""
    lp, lq = log_softmax64(zp, temperature), log_softmax64(zq, temperature)
    if beta == 0:
        return kl64(zp, zq, temperature)
    if beta == 1:
        return kl64(zq, zp, temperature)
    b = 0.5 if beta is None else beta
    lm = np.log(b * np.exp(lp) + (1 - b) * np.exp(lq))
    kp = np.sum(_xlogy_terms(lp, lm), axis=-1)
    kq = np.sum(_xlogy_terms(lq, lm), axis=-1)
    if beta is None:
        return (kp + kq) / 2
    return (b * kp + (1 - b) * kq) / (b * (1 - b))
