"""An independent float64 reference for KL, in plain Python ``math``.

It shares no code with the array-API implementation: it walks each
distribution element by element with ``math.log`` and sums with
``math.fsum`` (exactly rounded), following ``scipy.special.rel_entr``'s
conventions.  Slow, and meant only for checking.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["reference_kl"]

_NAN = math.nan
_INF = math.inf


def _kl_probs(p: list[float], q: list[float]) -> float:
    terms = []
    for pi, qi in zip(p, q):
        if math.isnan(pi) or math.isnan(qi) or pi < 0 or qi < 0:
            return _NAN
        if pi == 0:
            continue
        terms.append(_INF if qi == 0 else pi * math.log(pi / qi))
    return math.fsum(terms)


def _kl_log_probs(lp: list[float], lq: list[float]) -> float:
    terms = []
    for a, b in zip(lp, lq):
        if math.isnan(a) or math.isnan(b):
            return _NAN
        if a == -_INF:
            continue
        terms.append(_INF if b == -_INF else math.exp(a) * (a - b))
    return math.fsum(terms)


def _log_softmax(x: list[float]) -> list[float]:
    if any(math.isnan(v) for v in x):
        return [_NAN] * len(x)
    m = max(x)
    if not math.isfinite(m):
        return [_NAN] * len(x)
    lse = m + math.log(math.fsum(math.exp(v - m) for v in x))
    return [v - lse for v in x]


def reference_kl(
    p: Any,
    q: Any,
    *,
    axis: int | tuple[int, ...] = -1,
    inputs: str = "probs",
    base: float | None = None,
    reduction: str = "none",
    keepdims: bool = False,
) -> np.ndarray:
    """KL(p || q) in float64 with the same keywords as ``kl_divergence``."""
    p, q = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(q, np.float64))
    ndim = p.ndim
    axes = tuple(sorted(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))))
    batch_axes = [a for a in range(ndim) if a not in axes]
    order = batch_axes + list(axes)
    batch_shape = tuple(p.shape[a] for a in batch_axes)
    n = math.prod(p.shape[a] for a in axes)
    rows_p = np.transpose(p, order).reshape(-1, n).tolist()
    rows_q = np.transpose(q, order).reshape(-1, n).tolist()

    values = []
    for rp, rq in zip(rows_p, rows_q):
        if inputs == "probs":
            v = _kl_probs(rp, rq)
        elif inputs == "log_probs":
            v = _kl_log_probs(rp, rq)
        elif inputs == "logits":
            v = _kl_log_probs(_log_softmax(rp), _log_softmax(rq))
        else:
            raise ValueError(inputs)
        values.append(v / math.log(base) if base is not None else v)

    if reduction == "none":
        out = np.array(values, dtype=np.float64).reshape(batch_shape)
        if keepdims:
            out = np.expand_dims(out, axes)
        return out
    total = _fsum_nan(values)
    if reduction == "mean":
        total = total / len(values) if values else _NAN
    out = np.array(total, dtype=np.float64)
    return out.reshape((1,) * ndim) if keepdims else out


def _fsum_nan(values: list[float]) -> float:
    if any(math.isnan(v) for v in values):
        return _NAN
    return math.fsum(values)


# --- closed forms, in float64 NumPy with textbook formulas ----------------------------
# (explicit inverses and determinants are fine in a reference; the library uses
# Cholesky factors and expm1/log1p, so these share no code or arrangement with it)


def reference_normal(mp: Any, sp: Any, mq: Any, sq: Any) -> np.ndarray:
    return np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5


def reference_mvn(mp: Any, mq: Any, cp: Any, cq: Any) -> np.ndarray:
    d = np.shape(mp)[-1]
    iq = np.linalg.inv(cq)
    dm = (np.asarray(mq) - mp)[..., None]
    quad = (np.swapaxes(dm, -1, -2) @ iq @ dm)[..., 0, 0]
    tr = np.trace(iq @ cp, axis1=-2, axis2=-1)
    return 0.5 * (tr + quad - d + np.linalg.slogdet(cq)[1] - np.linalg.slogdet(cp)[1])


def reference_vae(mu: Any, log_var: Any) -> np.ndarray:
    return -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)


def reference_bernoulli(p: Any, q: Any) -> np.ndarray:
    return reference_kl(np.stack([p, 1 - p], -1), np.stack([q, 1 - q], -1))


def reference_exponential(rp: Any, rq: Any) -> np.ndarray:
    return np.log(rp / rq) + rq / rp - 1


def reference_poisson(rp: Any, rq: Any) -> np.ndarray:
    return np.where(rp == 0, rq, rp * np.log(np.where(rp == 0, 1, rp) / rq) - rp + rq)


def reference_js(p: Any, q: Any) -> np.ndarray:
    m = 0.5 * (np.asarray(p) + q)
    return 0.5 * (reference_kl(p, m) + reference_kl(q, m))


def reference_grid(p: Any, q: Any, dx: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p == 0, 0.0, p * np.log(p / q))
    weights = np.full(np.shape(p)[-1], dx)
    weights[[0, -1]] = dx / 2  # the trapezoid rule
    return (terms * weights).sum(-1)


def _log_softmax_rows(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return x - (m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)))


def _rows_kl(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isneginf(lp), 0.0, np.exp(lp) * (lp - lq)).sum(-1)


def reference_logits(
    t: Any,
    s: Any,
    *,
    kind: str,
    inputs: str = "logits",
    temperature: float | None = None,
    where: Any = None,
    beta: float | None = None,
    reduction: str = "none",
) -> np.ndarray:
    """KL(t || s), H(t, s) or the generalised JSD J_beta(t, s) of rows of logits, float64.

    ``J_beta = (beta KL(t || m) + (1 - beta) KL(s || m)) / (beta (1 - beta))`` with
    ``m = beta t + (1 - beta) s`` (``J_0 = KL(t || s)``, ``J_1 = KL(s || t)``;
    ``beta=None``: the ordinary JSD, ``J_{1/2} / 4``).  Rows where ``where`` is
    False count 0 and are left out of the mean.
    """
    t, s = np.asarray(t, np.float64), np.asarray(s, np.float64)
    keep = np.ones(t.shape[:-1], bool) if where is None else np.asarray(where).astype(bool)
    t = np.where(keep[..., None], t, 0.0)
    s = np.where(keep[..., None], s, 0.0)
    if temperature is not None:
        t, s = t / temperature, s / temperature
    lp = _log_softmax_rows(t) if inputs == "logits" else t
    lq = _log_softmax_rows(s) if inputs == "logits" else s
    if kind == "kl":
        vals = _rows_kl(lp, lq)
    elif kind == "ce":
        with np.errstate(invalid="ignore"):
            vals = np.where(np.isneginf(lp), 0.0, -np.exp(lp) * lq).sum(-1)
    elif beta == 0.0:
        vals = _rows_kl(lp, lq)
    elif beta == 1.0:
        vals = _rows_kl(lq, lp)
    else:
        b = 0.5 if beta is None else beta
        with np.errstate(divide="ignore"):
            lm = np.log(b * np.exp(lp) + (1 - b) * np.exp(lq))
        vals = (b * _rows_kl(lp, lm) + (1 - b) * _rows_kl(lq, lm)) / (b * (1 - b))
        vals = vals / 4 if beta is None else vals
    vals = np.where(keep, vals, 0.0)
    if reduction == "sum":
        return np.asarray(vals.sum())
    if reduction == "mean":
        return np.asarray(vals.sum() / keep.sum())
    return vals
