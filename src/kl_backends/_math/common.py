"""Helpers shared by the public functions: dtypes, constants, reductions, terms.

Written against the array API only, like the math that uses them.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends import _dispatch
from kl_backends._math import args as _args

__all__ = [
    "broadcast_to",
    "log_probs_terms",
    "prepare",
    "probs_terms",
    "reduce",
    "reduce_in_base",
    "scalar",
]


def scalar(be: Any, value: float, like: Any) -> Any:
    """A 0-d array of ``like``'s dtype and device (``be``: its backend)."""
    return be.xp.asarray(value, dtype=like.dtype, device=be.device(like))


def prepare(
    *args: Any, names: tuple[str, ...], upcast: bool = True
) -> tuple[Any, Any, list[Any], Any]:
    """Backend, namespace, the arguments cast to the working dtype, and the output dtype.

    The backend is found once here (``_dispatch.resolve``) and handed on.  The
    output dtype is the arguments' floating result type (integers promote to
    the library's default float); float16 and bfloat16 work in float32 (with
    ``upcast=False`` they stay in their dtype: the caller upcasts blocks).
    """
    be, arrays = _dispatch.resolve(*args, names=names)
    xp = be.xp
    dtype = arrays[0].dtype
    if all(x.dtype == dtype for x in arrays[1:]) and (
        dtype == xp.float32 or dtype == xp.float64
    ):  # the common case, without the dtype machinery below
        return be, xp, arrays, dtype
    for name, x in zip(names, arrays):
        if xp.isdtype(x.dtype, "complex floating"):
            raise TypeError(f"{name} has complex dtype {x.dtype}; real inputs are needed")
    dtype = xp.result_type(*arrays)
    if not is_float(xp, dtype):
        dtype = xp.__array_namespace_info__().default_dtypes(device=be.device(arrays[0]))[
            "real floating"
        ]
    work = xp.float32 if upcast and is_half(xp, dtype) else dtype
    # copy=False: no copy when the dtype is already right (the standard's default copies).
    return be, xp, [xp.astype(x, work, copy=False) for x in arrays], dtype


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
    """Apply ``reduction`` ("none", "sum", "mean") over all remaining axes."""
    if reduction == "none" or out.ndim == 0:
        return out
    if reduction == "sum":
        return xp.sum(out, keepdims=keepdims)
    return xp.mean(out, keepdims=keepdims)


def reduce_in_base(
    xp: Any, out: Any, reduction: str, keepdims: bool, log_base: float | None
) -> Any:
    """``reduce`` the per-distribution values, then convert nats to ``log_base``."""
    out = reduce(xp, out, reduction, keepdims)
    return out / log_base if log_base is not None else out


def probs_terms(be: Any, p: Any, q: Any) -> Any:
    """``p * log(p / q)`` with ``rel_entr``'s conventions and safe gradients.

    Where ``p == 0`` both arguments are replaced by 1 *before* the logs, so
    the discarded branch of the final ``where`` is finite and its gradient is
    0 (not ``0 * inf = NaN``).  ``p * (log p - log q)`` rather than
    ``p * log(p / q)`` makes autodiff return exactly ``-p / q`` for the
    gradient with respect to ``q``; ``p / q`` would go through ``q**2``,
    which underflows for small ``q``.
    """
    xp = be.xp
    zero = p == 0
    one = scalar(be, 1, p)
    p_safe = xp.where(zero, one, p)
    q_safe = xp.where(zero, one, q)
    terms = p_safe * (be.log(p_safe) - be.log(q_safe))
    return xp.where(zero, scalar(be, 0, p), terms)


def log_probs_terms(be: Any, log_p: Any, log_q: Any) -> Any:
    """``exp(log_p) * (log_p - log_q)``; terms with ``log_p == -inf`` are 0.

    A term with ``log_q == -inf`` (and ``log_p`` finite) is ``+inf`` even
    when ``exp(log_p)`` underflows to 0, where the product would be NaN.
    """
    xp = be.xp
    impossible = log_p == -math.inf
    zero = scalar(be, 0, log_p)
    lp = xp.where(impossible, zero, log_p)
    lq = xp.where(impossible, zero, log_q)
    terms = xp.where(lq == -math.inf, scalar(be, math.inf, lp), xp.exp(lp) * (lp - lq))
    return xp.where(impossible, zero, terms)


def log_softmax(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x - logsumexp(x)`` over ``axes``, shifted by the maximum for stability."""
    shifted = x - xp.max(x, axis=axes, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axes, keepdims=True))
