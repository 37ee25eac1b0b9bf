"""Float64 NumPy references for rows of logits, written here and never by the library.

Log-softmax by max and log-sum-exp; KL, cross-entropy and the generalised JSD of
``softmax(t / T)`` and ``softmax(s / T)`` with ``0 log 0 = 0``; the mask of the
test inputs (row 3 holds NaN and inf and is masked out); random rows of logits, and
the four losses under test on logits (``KINDS``).
"""

from __future__ import annotations

import numpy as np

from kl_backends import cross_entropy, js_divergence, kl_divergence

#: ``where=`` of the ``[6, V]`` test inputs: row 3 (NaN and inf) is left out.
MASK = np.array([True, True, True, False, True, True])


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        return x - (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.exp(log_softmax(x, axis))


def xlogy_diff(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    """sum p (lp - lq) with 0 where p = 0 and +inf where q = 0 < p."""
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(np.isneginf(lp), 0.0, np.exp(lp) * (lp - lq))
    return terms.sum(-1)


def ref_kl(t: np.ndarray, s: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return xlogy_diff(log_softmax(t / temperature), log_softmax(s / temperature))


def ref_ce(t: np.ndarray, s: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    lp, lq = log_softmax(t / temperature), log_softmax(s / temperature)
    with np.errstate(invalid="ignore"):
        return np.where(np.isneginf(lp), 0.0, -np.exp(lp) * lq).sum(-1)


def ref_js(t: np.ndarray, s: np.ndarray, beta: float | None, temperature: float = 1.0):
    """The library's convention: (beta KL(t||m) + (1-beta) KL(s||m)) / (beta (1-beta)),
    the limits at 0 and 1, a quarter of that for ``beta=None`` (the symmetric JSD)."""
    lp, lq = log_softmax(t / temperature), log_softmax(s / temperature)
    if beta == 0.0:
        return xlogy_diff(lp, lq)
    if beta == 1.0:
        return xlogy_diff(lq, lp)
    b = 0.5 if beta is None else beta
    with np.errstate(divide="ignore"):
        lm = np.log(b * np.exp(lp) + (1 - b) * np.exp(lq))
    value = (b * xlogy_diff(lp, lm) + (1 - b) * xlogy_diff(lq, lm)) / (b * (1 - b))
    return value / 4 if beta is None else value


def random_logits(n: int = 4, v: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, v)) * 2, rng.normal(size=(n, v)) * 2


KINDS = {
    "kl": lambda a, b, **k: kl_divergence(a, b, inputs="logits", **k),
    "ce": lambda a, b, **k: cross_entropy(a, b, inputs="logits", **k),
    "js-0.3": lambda a, b, **k: js_divergence(a, b, inputs="logits", beta=0.3, **k),
    "js-None": lambda a, b, **k: js_divergence(a, b, inputs="logits", **k),
}
