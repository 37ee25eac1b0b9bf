"""Helpers of the closed-form divergences: reductions, domains, and accurate pieces.

Written against the array API only.  ``expm1_minus`` and ``log_ratio`` arrange the
formulas so that the cancellation between nearly equal distributions happens in
``expm1`` / ``log1p`` rather than in a subtraction of nearly equal numbers.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib.arrays import finish, reduce
from kl_backends._math import common as _common

__all__ = [
    "check_reduction",
    "expm1_minus",
    "finish_reduced",
    "log_ratio",
    "nan_where",
    "softplus",
]


def finish_reduced(xp: Any, out: Any, dtype: Any, base: Any, reduction: str) -> Any:
    log_base = _args.log_of_base(base)
    return finish(xp, reduce(xp, out, reduction), dtype, log_base)


def nan_where(be: Any, out: Any, invalid: Any) -> Any:
    """``out`` with NaN where parameters are outside their domain.

    The ``log1p((a - b) / b)`` forms cannot tell two negative parameters from
    two positive ones (``kl_normal(0, -1, 0, -1)`` would be 0): the domain is
    checked explicitly, elementwise, without reading values.
    """
    return be.xp.where(invalid, _common.scalar(be, math.nan, out), out)


def check_reduction(reduction: str) -> None:
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)


def expm1_minus(xp: Any, s: Any) -> Any:
    """``exp(s) - 1 - s`` (>= 0), accurate near ``s = 0`` to ``eps / |s|`` relative."""
    return xp.expm1(s) - s


def log_ratio(xp: Any, a: Any, b: Any) -> Any:
    """``log(a / b)`` for positive ``a``, ``b``, accurate to a few ulps for every ratio.

    Near 1 (``b/2 < a < 2b``, where ``a - b`` is exact) as ``log1p((a - b) / b)``:
    exact cancellation when a ~ b; elsewhere ``log(a / b)`` while the ratio is a
    normal number, and ``log(a) - log(b)`` where it would overflow or underflow
    (``log(1e-200 / 1e200)``).  Each branch is evaluated on an argument kept
    inside its own domain, so the branches ``where`` discards have zero gradient.
    """
    bound = 1e300 if a.dtype == xp.float64 else 1e37
    r = a / b
    near = (r > 0.5) & (r < 2)
    mid = (r > 1 / bound) & (r < bound)
    one = _common.scalar(_dispatch.backend_of(r), 1.0, r)
    d = xp.where(near, a - b, 0 * one)
    out = xp.where(mid, xp.log(xp.where(mid, r, one)), xp.log(a) - xp.log(b))
    return xp.where(near, xp.log1p(d / b), out)


def softplus(be: Any, x: Any) -> Any:
    """``log(1 + exp(x))`` without overflow; ``softplus(+inf) = inf``, ``(-inf) = 0``."""
    xp = be.xp
    zero = _common.scalar(be, 0, x)
    return xp.where(x > 0, x, zero) + xp.log1p(xp.exp(-xp.abs(x)))
