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
        arrays = [a for a in (*args, *kwargs.values()) if not isinstance(a, str)]
        with _compat.quiet_numpy(*arrays):
            return fn(*args, **kwargs)

    return wrapper


def scalar(xp: Any, value: float, like: Any) -> Any:
    """A 0-d array of ``like``'s dtype and device."""
    return xp.asarray(value, dtype=like.dtype, device=_compat.device_of(like))


def prepare(*args: Any, names: tuple[str, ...], upcast: bool = True) -> tuple[Any, list[Any], Any]:
    """Namespace, the arguments cast to the working dtype, and the output dtype.

    The output dtype is the arguments' floating result type (integers promote
    to the library's default float); float16 and bfloat16 work in float32
    (with ``upcast=False`` they stay in their dtype: the caller upcasts blocks).
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
    work = xp.float32 if upcast and is_half(xp, dtype) else dtype
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


def probs_terms(xp: Any, p: Any, q: Any) -> Any:
    """``p * log(p / q)`` with ``rel_entr``'s conventions and safe gradients.

    Where ``p == 0`` both arguments are replaced by 1 *before* the logs, so
    the discarded branch of the final ``where`` is finite and its gradient is
    0 (not ``0 * inf = NaN``).  ``p * (log p - log q)`` rather than
    ``p * log(p / q)`` makes autodiff return exactly ``-p / q`` for the
    gradient with respect to ``q``; ``p / q`` would go through ``q**2``,
    which underflows for small ``q``.
    """
    zero = p == 0
    one = scalar(xp, 1, p)
    p_safe = xp.where(zero, one, p)
    q_safe = xp.where(zero, one, q)
    terms = p_safe * (_compat.quiet_log(xp, p_safe) - _compat.quiet_log(xp, q_safe))
    return xp.where(zero, scalar(xp, 0, p), terms)


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
