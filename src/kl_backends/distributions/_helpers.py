"""Small helpers shared by the families' closed forms, log-densities and samplers (array API only).

One home each: ``xlogx`` / ``xlog1mx`` / ``xlogy`` (0 log 0 = 0), ``sigmoid``,
``logsumexp``, ``sum_last``, the parameters' preparation (``prep``, ``params``)
and the shapes of parameters (``value_shape``, ``broadcast_named``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math.closed_forms import _expm1_minus, _log_ratio

__all__ = [
    "EULER",
    "LOG_2PI",
    "as_like",
    "backend",
    "broadcast_named",
    "broadcast_shapes",
    "done",
    "expm1_minus",
    "finish",
    "inf_where",
    "log_ratio",
    "logsumexp",
    "nonnegative",
    "params",
    "prep",
    "sample_shape",
    "scalar",
    "sigmoid",
    "sum_last",
    "value_shape",
    "where_support",
    "xlog1mx",
    "xlogx",
    "xlogy",
    "zero_where_equal",
]

#: The Euler-Mascheroni constant.
EULER = 0.57721566490153286060651209008240243
#: log(2 pi).
LOG_2PI = math.log(2 * math.pi)

expm1_minus = _expm1_minus  # exp(s) - 1 - s, accurate near 0
log_ratio = _log_ratio  # log(a / b) as log1p((a - b) / b)


def prep(**params: Any) -> tuple[Any, list[Any], Any]:
    """Namespace, the parameters in one working dtype, and the output dtype.

    The keyword names (``loc_p``, ``scale_q`` ...) are used in error messages.
    """
    _, xp, arrays, dtype = _common.prepare(*params.values(), names=tuple(params))
    return xp, arrays, dtype


def params(d: Any, *names: str) -> tuple[Any, list[Any], Any]:
    """Namespace, the named parameters of ``d`` broadcast together in the working dtype, output dtype."""
    xp, arrays, dtype = prep(**{n: getattr(d, n) for n in names})
    return xp, list(xp.broadcast_arrays(*arrays)) if len(arrays) > 1 else arrays, dtype


def finish(xp: Any, out: Any, dtype: Any) -> Any:
    return _common.finish(xp, out, dtype)


def backend(x: Any) -> Any:
    """The ``Backend`` of an array (its device, linear algebra, quiet log, special functions)."""
    be = _dispatch.backend_of(x)
    if be is None:
        raise TypeError(f"expected an array; got {type(x).__name__}")
    return be


def scalar(xp: Any, value: float, like: Any) -> Any:
    return _common.scalar(backend(like), value, like)


def inf_where(xp: Any, condition: Any, out: Any) -> Any:
    """``+inf`` where ``condition`` (a support mismatch), ``out`` elsewhere."""
    return xp.where(condition, scalar(xp, math.inf, out), out)


def zero_where_equal(xp: Any, out: Any, pairs: list[tuple[Any, Any]]) -> Any:
    """Exactly 0 where every parameter of p equals q's (where rounding would leave ~eps).

    Used only for smooth families, where 0 is also the exact gradient there.
    """
    same = None
    for a, b in pairs:
        eq = a == b
        same = eq if same is None else same & eq
    return xp.where(same, scalar(xp, 0.0, out), out)


def nonnegative(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A closed-form KL that never returns a negative value.

    Rounding leaves ~ -1e-16 where p is (nearly) q and the terms cancel; those
    become 0 (their gradient too).  NaN and ``+inf`` pass through.
    """

    @functools.wraps(fn)
    def kl(p: Any, q: Any) -> Any:
        out = fn(p, q)
        xp = backend(out).xp
        return xp.where(out < 0, scalar(xp, 0.0, out), out)

    return kl


def xlogx(xp: Any, x: Any) -> Any:
    """``x log x`` with 0 log 0 = 0 and a finite gradient there."""
    zero = x == 0
    safe = xp.where(zero, scalar(xp, 1.0, x), x)
    return xp.where(zero, scalar(xp, 0.0, x), safe * xp.log(safe))


def xlog1mx(xp: Any, x: Any) -> Any:
    """``(1 - x) log(1 - x)`` as ``(1 - x) log1p(-x)`` (tiny ``x`` keeps its accuracy); 0 at x = 1."""
    one = x == 1
    safe = xp.where(one, scalar(xp, 0.0, x), x)
    return xp.where(one, scalar(xp, 0.0, x), (1 - safe) * xp.log1p(-safe))


def sum_last(xp: Any, x: Any, n: int) -> Any:
    """Sum over the last ``n`` axes (``n = 0``: unchanged)."""
    if n == 0:
        return x
    return xp.sum(x, axis=tuple(range(-n, 0)))


def xlogy(xp: Any, a: Any, b: Any) -> Any:
    """``a log b`` with 0 there where ``a == 0`` (also at ``b == 0``)."""
    zero = a == 0
    return xp.where(zero, scalar(xp, 0.0, b), a * xp.log(xp.where(zero, scalar(xp, 1.0, b), b)))


def sigmoid(xp: Any, a: Any) -> Any:
    """1 / (1 + exp(-a)) without overflow; exact 0 and 1 at -inf and +inf."""
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


def logsumexp(xp: Any, x: Any) -> Any:
    """log sum exp over the last axis; -inf where every term is -inf (no NaN)."""
    m = xp.max(x, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, scalar(xp, 0.0, m))
    return xp.log(xp.sum(xp.exp(x - m), axis=-1)) + m[..., 0]


def where_support(xp: Any, inside: Any, lp: Any) -> Any:
    """A log-density ``lp`` inside the support, ``-inf`` outside."""
    return xp.where(inside, lp, scalar(xp, -math.inf, lp))


def as_like(xp: Any, x: Any, like: Any) -> Any:
    """``x`` as an array of ``like``'s library and dtype."""
    if _dispatch.backend_of(x) is None:
        x = xp.asarray(x)
    return xp.astype(x, like.dtype, copy=False)


def sample_shape(n: int, x: Any, extra: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    """``(n, *x.shape, *extra)``: the shape of ``n`` draws for a parameter ``x``."""
    return (n, *_args.shape_of(x), *extra)


# --- shapes of parameters ----------------------------------------------------------------------


def value_shape(value: Any) -> tuple[int | None, ...]:
    """The shape of an array, a Python number or a (nested) list of numbers."""
    if hasattr(value, "shape"):
        return tuple(_args.shape_of(value))
    import numpy as np  # Python numbers and (nested) lists

    return tuple(np.shape(value))


def broadcast_shapes(*shapes: Any) -> tuple[Any, ...]:
    """The broadcast of shapes (a ``ValueError`` where they do not broadcast)."""
    out: tuple[Any, ...] = ()
    for shape in shapes:
        out = _args.broadcast_shape(out, tuple(shape), names=("a parameter", "another"))
    return out


def broadcast_named(items: list[tuple[str, tuple[int | None, ...]]], what: str) -> tuple[Any, ...]:
    """The broadcast of named shapes, or ``ValueError`` naming the two that clash."""
    out: tuple[int | None, ...] = ()
    seen: list[tuple[str, tuple[int | None, ...]]] = []
    for name, shape in items:
        try:
            out = _args.broadcast_shape(out, shape)
        except ValueError:
            clash = [(n, s) for n, s in seen if not _broadcastable(s, shape)]
            other = clash[0] if clash else ("the others together", out)
            raise ValueError(
                f"{what} must broadcast to one batch shape; got {other[0]} with batch shape "
                f"{other[1]} and {name} with batch shape {shape}. Give them equal sizes or "
                "size 1 on each batch axis (for example x[:, None] to add an axis)."
            ) from None
        seen.append((name, shape))
    return out


def _broadcastable(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> bool:
    try:
        _args.broadcast_shape(a, b)
    except ValueError:
        return False
    return True


def done(xp: Any, x: Any, dtype: Any, score: Any = None) -> tuple[Any, Any]:
    """A sampler's result: the samples in the output dtype, and their score (or ``None``)."""
    return finish(xp, x, dtype), score
