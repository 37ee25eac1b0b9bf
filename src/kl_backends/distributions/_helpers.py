"""Small helpers shared by the closed forms of the families (array API only)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from kl_backends import _dispatch
from kl_backends._math import common as _common
from kl_backends._math.closed_forms import _expm1_minus, _log_ratio

__all__ = [
    "EULER",
    "backend",
    "expm1_minus",
    "finish",
    "inf_where",
    "log_ratio",
    "nonnegative",
    "prep",
    "xlog1mx",
    "xlogx",
    "zero_where_equal",
]

#: The Euler-Mascheroni constant.
EULER = 0.57721566490153286060651209008240243

expm1_minus = _expm1_minus  # exp(s) - 1 - s, accurate near 0
log_ratio = _log_ratio  # log(a / b) as log1p((a - b) / b)


def prep(**params: Any) -> tuple[Any, list[Any], Any]:
    """Namespace, the parameters in one working dtype, and the output dtype.

    The keyword names (``loc_p``, ``scale_q`` ...) are used in error messages.
    """
    _, xp, arrays, dtype = _common.prepare(*params.values(), names=tuple(params))
    return xp, arrays, dtype


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
