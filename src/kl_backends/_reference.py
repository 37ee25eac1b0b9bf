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
