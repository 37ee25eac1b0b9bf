"""Helpers shared by the public functions: dtypes, constants, reductions, terms.

Written against the array API only, like the math that uses them.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from kl_backends import _compat
from kl_backends._math import args as _args

__all__ = [
    "broadcast_to",
    "generalized_terms",
    "kl_parts",
    "kl_sum",
    "log_probs_terms",
    "prepare",
    "probs_terms",
    "quiet",
    "reduce",
    "reduce_in_base",
    "scalar",
]


def quiet(fn: Any) -> Any:
    """Decorator: NumPy's divide/invalid warnings off while ``fn`` runs on NumPy-backed inputs.

    (log(0) = -inf and NaN are defined results here, not accidents.)
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _compat.quiet_numpy(*args, *kwargs.values()):
            return fn(*args, **kwargs)

    return wrapper


def scalar(xp: Any, value: float, like: Any) -> Any:
    """A 0-d array of ``like``'s dtype and device."""
    return xp.asarray(value, dtype=like.dtype, device=_compat.device_of(like))


def prepare(*args: Any, names: tuple[str, ...]) -> tuple[Any, list[Any], Any]:
    """Namespace, the arguments cast to the working dtype, and the output dtype.

    The output dtype is the arguments' floating result type (integers promote
    to the library's default float); float16 and bfloat16 work in float32.
    """
    xp, arrays = _compat.namespace_and_arrays(*args, names=names)
    dtype = arrays[0].dtype
    if all(x.dtype == dtype for x in arrays[1:]) and (
        dtype == xp.float32 or dtype == xp.float64
    ):  # the common case, without the dtype machinery below
        return xp, arrays, dtype
    for name, x in zip(names, arrays):
        if xp.isdtype(x.dtype, "complex floating"):
            raise TypeError(f"{name} has complex dtype {x.dtype}; real inputs are needed")
    dtype = xp.result_type(*arrays)
    if not is_float(xp, dtype):
        dtype = xp.__array_namespace_info__().default_dtypes(device=_compat.device_of(arrays[0]))[
            "real floating"
        ]
    work = xp.float32 if is_half(xp, dtype) else dtype
    # copy=False: no copy when the dtype is already right (the standard's default copies).
    return xp, [xp.astype(x, work, copy=False) for x in arrays], dtype


def finish(xp: Any, out: Any, dtype: Any) -> Any:
    """Cast a result back to the output dtype."""
    return xp.astype(out, dtype) if out.dtype != dtype else out


def is_float(xp: Any, dtype: Any) -> bool:
    return bool(xp.isdtype(dtype, "real floating"))


def is_half(xp: Any, dtype: Any) -> bool:
    """float16 or bfloat16 (by size: not every namespace names them)."""
    return is_float(xp, dtype) and int(xp.finfo(dtype).bits) < 32


def broadcast_to(xp: Any, x: Any, shape: tuple[int | None, ...]) -> Any:
    if _args.shape_of(x) == shape or None in shape:
        return x
    return xp.broadcast_to(x, shape)


def reduce(xp: Any, out: Any, reduction: str, keepdims: bool = False) -> Any:
    """Apply ``reduction`` ("none", "sum", "mean") over all remaining axes.

    ``"mean"`` over no elements (an empty batch) is NaN, with no warning.
    """
    if reduction == "none" or out.ndim == 0:
        return out
    if reduction == "sum":
        return xp.sum(out, keepdims=keepdims)
    if 0 in _args.shape_of(out):  # (unknown sizes, None, are not 0)
        # The mean of no distributions is NaN, as torch.mean's, without NumPy's
        # "Mean of empty slice" warning (an error under -W error).
        return xp.sum(out, keepdims=keepdims) * math.nan
    return xp.mean(out, keepdims=keepdims)


def reduce_in_base(
    xp: Any, out: Any, reduction: str, keepdims: bool, log_base: float | None
) -> Any:
    """``reduce`` the per-distribution values, then convert nats to ``log_base``."""
    out = reduce(xp, out, reduction, keepdims)
    return out / log_base if log_base is not None else out


#: Below this ``q`` (the square root of the smallest normal number) the
#: divisions by ``q`` below are avoided: JAX differentiates ``a / q`` through
#: ``q**-2``, which overflows there.
_SQRT_TINY = {64: 2.0**-511, 32: 2.0**-63}

#: Where ``|p - q| < NEAR * (p + q)`` (``p / q`` within about 4% of 1) a term
#: is split as below; elsewhere ``p log(p / q)`` is accurate on its own.
NEAR = 0.02


def kl_parts(xp: Any, p: Any, q: Any) -> tuple[Any, Any]:
    """``(a, b)`` with ``a + b = p log(p / q)``: see ``_parts``."""
    a, b, _, _ = _parts(xp, p, q)
    return a, b


def _parts(xp: Any, p: Any, q: Any) -> tuple[Any, Any, Any, Any]:
    """``(a, b)`` with ``a + b = p log(p / q)`` elementwise and ``sum(a) + sum(b)`` accurate.

    ``rel_entr``'s conventions and safe gradients (see ``probs_terms``).  The
    three regions, by how close ``p`` is to ``q`` (for ``p > 0``,
    ``q > sqrt(tiny)``; else the last one):

    * nearly equal, ``|v| < NEAR`` with ``v = (p - q) / (p + q)``:
      ``a = p log(p / q) - p + q``, ``b = p - q``.  ``a`` is the generalised
      KL term, >= 0, computed from ``log(p / q) = 2 atanh(v)`` as
      ``(p - q) v (1 + v (1 + v) B(v^2))`` with
      ``B(x) = 1/3 + x/5 + x^2/7 + x^3/9`` (the series of
      ``((1 + v) atanh(v) - v) / v^2``, truncated where its next term is
      below ``2**-60`` relative), so ``a`` keeps its relative accuracy
      however close ``p`` is to ``q``; ``b = p - q`` is exact (Sterbenz), and
      the sum of such differences of probabilities is exact in practice
      (they lie on one fine binary grid).  Summing ``p log(p / q)`` directly
      instead loses ``eps * sum |p - q|`` to cancellation, which is the
      whole result when the distributions are nearly equal (KL is of order
      ``sum (p - q)**2 / q``).
    * ``p / q`` in (0.5, 1.5): ``a = p * log1p((p - q) / q)`` (``p - q`` exact,
      one rounding in the division; ``log(p) - log(q)`` would lose
      ``eps |log p| / |log(p / q)|`` relative), ``b = 0``.
    * otherwise ``a = p * (log p - log q)`` (no overflow or underflow of a
      ratio: ``p = 4, q = 2.2e-308`` is 2839.14, not inf), ``b = 0``.

    Returns ``a``, ``b``, the nearly-equal mask and ``p - q`` (0 where ``p == 0``).
    Where ``p == 0`` both parts are 0.  Every branch's inputs are replaced by
    harmless values where the branch is not taken, so gradients are finite:
    ``-p / q`` for ``q``, ``log(p / q) + 1`` for ``p``, 0 where ``p == 0``.
    """
    zero = p == 0
    one = scalar(xp, 1, p)
    nought = scalar(xp, 0, p)
    p1 = xp.where(zero, one, p)
    q1 = xp.where(zero, one, q)
    d = p1 - q1
    s = p1 + q1
    ok = q1 > _SQRT_TINY[64 if int(xp.finfo(p.dtype).bits) >= 64 else 32]  # False for NaN
    near = ok & (xp.abs(d) < NEAR * s)
    mid = ok & (xp.abs(d) < 0.5 * q1)
    v = xp.where(near, d, nought) / xp.where(near, s, one)
    x = v * v
    series = 1 / 3 + x * (1 / 5 + x * (1 / 7 + x * (1 / 9)))
    general = xp.where(near, d, nought) * v * (1 + v * (1 + v) * series)
    u = xp.where(mid, d, nought) / xp.where(mid, q1, one)
    log_ratio = xp.where(mid, xp.log1p(u), _compat.quiet_log(xp, p1) - _compat.quiet_log(xp, q1))
    a = xp.where(near, general, xp.where(zero, nought, p1 * log_ratio))
    b = xp.where(near, d, nought)  # 0 where p == 0 (d = 1 - 1)
    return a, b, near, d


def probs_terms(xp: Any, p: Any, q: Any) -> Any:
    """``p * log(p / q)`` elementwise, with ``rel_entr``'s conventions and safe gradients.

    A term with ``p == 0`` is 0 (``q == 0`` included); ``p > 0`` with
    ``q == 0`` (or ``-0.0``) is ``+inf``; NaN propagates; a negative ``p``, or
    a negative ``q`` under ``p > 0``, gives NaN.  Where ``p == 0`` the
    arguments are replaced by 1 *before* the logs, so the discarded branch
    of the final ``where`` is finite and its gradient is 0 (not
    ``0 * inf = NaN``).  Accurate to a few ulps relative for every ratio
    (``kl_parts``); to sum terms over an axis, sum ``kl_parts``' two parts
    separately, which also keeps nearly equal distributions accurate.
    """
    a, b = kl_parts(xp, p, q)
    return a + b


def kl_sum(xp: Any, p: Any, q: Any, axes: Any, keepdims: bool, weights: Any = None) -> Any:
    """``sum(p log(p / q))`` over ``axes`` (times ``weights``), from ``kl_parts``' two sums."""
    a, b = kl_parts(xp, p, q)
    if weights is not None:
        a, b = a * weights, b * weights
    return xp.sum(a, axis=axes, keepdims=keepdims) + xp.sum(b, axis=axes, keepdims=keepdims)


def generalized_terms(xp: Any, p: Any, q: Any) -> Any:
    """``p log(p / q) - p + q`` elementwise, as ``scipy.special.kl_div``.

    ``q`` where ``p == 0`` and ``q >= 0``; ``+inf`` where ``p > 0 = q`` and
    wherever ``p`` or ``q`` is negative (``kl_div``'s convention: these
    arguments are outside its domain); NaN propagates.  Every term is >= 0
    and keeps its relative accuracy when ``p`` is close to ``q``
    (``kl_parts``' first part).
    """
    a, _, near, d = _parts(xp, p, q)
    terms = xp.where(near, a, a - d)  # a is p log(p/q) - (p - q) or p log(p/q)
    terms = xp.where(p == 0, q, terms)
    return xp.where((p < 0) | (q < 0), scalar(xp, math.inf, p), terms)


def log_probs_terms(xp: Any, log_p: Any, log_q: Any) -> Any:
    """``exp(log_p) * (log_p - log_q)``; terms with ``log_p == -inf`` are 0.

    A term with ``log_q == -inf`` (and ``log_p`` finite) is ``+inf`` even
    when ``exp(log_p)`` underflows to 0, where the product would be NaN.
    """
    impossible = log_p == -math.inf
    zero = scalar(xp, 0, log_p)
    lp = xp.where(impossible, zero, log_p)
    lq = xp.where(impossible, zero, log_q)
    terms = xp.where(lq == -math.inf, scalar(xp, math.inf, lp), xp.exp(lp) * (lp - lq))
    return xp.where(impossible, zero, terms)


def log_softmax(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x - logsumexp(x)`` over ``axes``, shifted by the maximum for stability."""
    shifted = x - xp.max(x, axis=axes, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axes, keepdims=True))
