"""The (K+1)-bucket distributions of a top-k teacher and of its student, against the array API.

The buckets are the K saved tokens and one tail bucket holding the rest of the
vocabulary.  ``teacher_buckets`` turns saved log-probabilities into the
teacher's K+1 log-probabilities; ``student_buckets`` reads the student's
through two methods, ``take(ids, temperature)`` (tempered logits at the ids)
and ``log_normalizer(temperature)`` (their log-sum-exp over the vocabulary),
and, where the student offers it, ``log_normalizer_outside(exclude,
temperature)`` (the log-sum-exp over the ids *not* in ``exclude``), which
``DenseStudent`` implements for a logits array.  Everything is written with
``where`` so that gradients stay finite at padded ids and empty tails.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends._lib.arrays import temper
from kl_backends._math import common as _common

__all__ = ["DenseStudent", "dedupe", "log1mexp", "safe_logsumexp", "student_buckets",
           "teacher_buckets"]  # fmt: skip


def safe_logsumexp(be: Any, x: Any) -> Any:
    """``log(sum(exp(x)))`` over the last axis (kept), ``-inf`` for a row of ``-inf``.

    Unlike a plain log-sum-exp, a row of ``-inf`` gives ``-inf`` with a zero
    (not NaN) gradient; ``+inf`` gives ``+inf`` and NaN gives NaN.
    """
    xp = be.xp
    m = xp.max(x, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    s = xp.sum(xp.exp(x - m), axis=-1, keepdims=True)
    pos = s > 0
    one = _common.scalar(be, 1, s)
    out = xp.log(xp.where(pos, s, one)) + m
    return xp.where(pos | xp.isnan(s), out, _common.scalar(be, -math.inf, s))


def log1mexp(be: Any, x: Any) -> Any:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate everywhere (Maechler's switch at ``-log 2``).

    ``log(-expm1(x))`` near 0 (where ``1 - exp(x)`` cancels), ``log1p(-exp(x))``
    below; ``x == 0`` gives ``-inf`` and ``x == -inf`` gives 0, both with finite
    gradients.
    """
    xp = be.xp
    near = x > -math.log(2.0)
    half = _common.scalar(be, -1.0, x)
    a = -xp.expm1(xp.where(near, x, half))
    pos = a > 0
    ninf = _common.scalar(be, -math.inf, a)
    la = xp.where(pos, xp.log(xp.where(pos, a, _common.scalar(be, 1, a))), ninf)
    lb = xp.log1p(-xp.exp(xp.where(near, half, x)))
    return xp.where(near, la, lb)


def dedupe(be: Any, ids: Any, valid: Any) -> tuple[Any, Any]:
    """``(same, first)``: ``same[..., k, j]``, entries ``k`` and ``j`` are the same valid id;
    ``first[..., k]``, entry ``k`` is valid and no earlier entry holds its id."""
    xp = be.xp
    k = ids.shape[-1]
    same = (ids[..., :, None] == ids[..., None, :]) & valid[..., :, None] & valid[..., None, :]
    r = xp.arange(k, device=be.device(ids))
    earlier = r[None, :] < r[:, None]  # [k, j]: j < k
    first = valid & ~xp.any(same & earlier, axis=-1)
    return same, first


def teacher_buckets(
    be: Any, lp: Any, same: Any, first: Any, snap: float, tol: float
) -> tuple[Any, Any]:
    """The teacher's K+1 log-probabilities ``[..., K+1]`` and the rows it makes NaN.

    Entries holding one id are merged (their probabilities added, on the
    first); the others are ``-inf``.  The tail is ``log(1 - sum p)``.  A total
    within ``snap`` of 1 (below: the rounding of the sum) or above 1 within
    ``exp(tol)`` (the rounding of the saved values) is renormalised, with an
    empty tail; above that the row is invalid (NaN).
    """
    xp = be.xp
    ninf = _common.scalar(be, -math.inf, lp)
    merged = safe_logsumexp(be, xp.where(same, lp[..., None, :], ninf))[..., 0]
    merged = xp.where(first, merged, ninf)
    total = safe_logsumexp(be, merged)  # [..., 1]
    full = total > -snap
    zero = _common.scalar(be, 0, total)
    tail = xp.where(full, ninf, log1mexp(be, xp.where(full, zero, total)))
    merged = xp.where(full, merged - xp.where(full, total, zero), merged)
    return xp.concat([merged, tail], axis=-1), total[..., 0] > tol


def student_buckets(be: Any, student: Any, ids: Any, first: Any, temperature: Any) -> Any:
    """The student's K+1 log-probabilities ``[..., K+1]`` at the teacher's (valid, first) ids.

    ``ids``: in range everywhere (padded and invalid entries replaced).  The
    tail: ``log_normalizer_outside`` where the student has it (exact for any
    tail mass), else ``lse_all + log1p(-sum exp(ls_K))`` (accurate while the
    tail mass is well above the rounding of the K probabilities).
    """
    xp = be.xp
    s = student.take(ids, temperature)
    lse = student.log_normalizer(temperature)[..., None]
    ninf = _common.scalar(be, -math.inf, s)
    ls = xp.where(first, s - lse, ninf)
    outside = getattr(student, "log_normalizer_outside", None)
    if outside is not None:
        exclude = xp.where(first, ids, ids * 0 - 1)
        tail = outside(exclude, temperature)[..., None] - lse
    else:
        total = safe_logsumexp(be, ls)
        short = total < 0
        zero = _common.scalar(be, 0, total)
        tail = xp.where(short, log1mexp(be, xp.where(short, total, zero)), ninf)
    return xp.concat([ls, tail], axis=-1)


def _gather(be: Any, x: Any, ids: Any) -> Any:
    """``x[..., ids]`` along the last axis: ``take_along_axis``, else one-hot sums."""
    xp = be.xp
    take = getattr(xp, "take_along_axis", None)
    if take is not None:
        return take(x, ids, axis=-1)
    iota = xp.arange(x.shape[-1], dtype=ids.dtype, device=be.device(ids))
    hit = ids[..., :, None] == iota
    return xp.sum(xp.where(hit, x[..., None, :], _common.scalar(be, 0, x)), axis=-1)


class DenseStudent:
    """A student given as an array of logits (or log-probabilities) ``[..., V]``.

    The same two methods as a projection (``take``, ``log_normalizer``) and the
    exact tail, ``log_normalizer_outside`` (the log-sum-exp of the logits whose
    ids are not in ``exclude``; ``-1`` excludes nothing).  ``normalized``: the
    values are log-probabilities, used as given (their normaliser is 0).
    """

    def __init__(self, be: Any, logits: Any, normalized: bool) -> None:
        self.be, self.z, self.normalized = be, logits, normalized
        self.vocab_size = logits.shape[-1]

    def _tempered(self, temperature: Any) -> Any:
        return temper(self.be.xp, self.z, temperature, self.be.device(self.z))

    def take(self, ids: Any, temperature: Any = None) -> Any:
        return _gather(self.be, self._tempered(temperature), ids)

    def log_normalizer(self, temperature: Any = None) -> Any:
        z = self._tempered(temperature)
        if self.normalized:
            return self.be.xp.zeros_like(z[..., 0])
        return safe_logsumexp(self.be, z)[..., 0]

    def log_normalizer_outside(self, exclude: Any, temperature: Any = None) -> Any:
        xp = self.be.xp
        z = self._tempered(temperature)
        iota = xp.arange(self.vocab_size, dtype=exclude.dtype, device=self.be.device(exclude))
        hit = None
        for k in range(exclude.shape[-1]):  # no scatter in the array API: one pass per id
            h = exclude[..., k : k + 1] == iota
            hit = h if hit is None else hit | h
        if hit is not None:
            z = xp.where(hit, _common.scalar(self.be, -math.inf, z), z)
        return safe_logsumexp(self.be, z)[..., 0]
