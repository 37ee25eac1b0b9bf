"""Helpers shared by the public functions: dtypes, constants, reductions, terms.

Written against the array API only, like the math that uses them.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib import arrays as _arrays
from kl_backends._lib.arrays import finish, log_softmax, reduce
from kl_backends._lib.policy import NEAR

__all__ = [
    "broadcast_to",
    "family_end",
    "family_setup",
    "finish",
    "generalized_terms",
    "js_near",
    "kl_parts",
    "kl_sum",
    "log_probs_terms",
    "log_softmax",
    "prepare",
    "probs_terms",
    "reduce",
    "reduce_in_base",
    "scalar",
]


def scalar(be: Any, value: float, like: Any) -> Any:
    """A 0-d array of ``like``'s dtype and device (``be``: its backend)."""
    return _arrays.scalar(be.xp, value, like, be.device(like))


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
        _check_dtype(xp, name, x.dtype)
    dtype = xp.result_type(*arrays)
    if not is_float(xp, dtype):
        dtype = xp.__array_namespace_info__().default_dtypes(device=be.device(arrays[0]))[
            "real floating"
        ]
    work = xp.float32 if upcast and is_half(xp, dtype) else dtype
    # copy=False: no copy when the dtype is already right (the standard's default copies).
    return be, xp, [xp.astype(x, work, copy=False) for x in arrays], dtype


def _check_dtype(xp: Any, name: str, dtype: Any) -> None:
    """``TypeError`` unless ``dtype`` is real floating or integral (integers promote).

    Booleans are refused (a boolean array is a mask, not probabilities: a cast
    says what is meant), and so are complex numbers, strings and objects, on
    every library, before the library's own cast could fail with its own error
    (TensorFlow's ``Cast string to float is not supported``) or parse strings
    (Dask).
    """
    if xp.isdtype(dtype, "complex floating"):
        raise TypeError(f"{name} has complex dtype {dtype}; real inputs are needed")
    if xp.isdtype(dtype, "bool"):
        raise TypeError(
            f"{name} has boolean dtype {dtype}; probabilities are numbers. Cast it to a "
            "floating dtype if that is what is meant (a boolean mask of distributions "
            "goes to where=, with inputs='logits' or 'log_probs')"
        )
    if not xp.isdtype(dtype, ("real floating", "integral")):
        raise TypeError(
            f"{name} must hold real numbers (a floating or integer dtype); got dtype "
            f"{dtype}. Strings and other objects are not converted: convert them first."
        )


def is_float(xp: Any, dtype: Any) -> bool:
    return bool(xp.isdtype(dtype, "real floating"))


def is_half(xp: Any, dtype: Any) -> bool:
    """float16 or bfloat16 (by size: not every namespace names them)."""
    return is_float(xp, dtype) and int(xp.finfo(dtype).bits) < 32


def broadcast_to(xp: Any, x: Any, shape: tuple[int | None, ...]) -> Any:
    if _args.shape_of(x) == shape or None in shape:
        return x
    return xp.broadcast_to(x, shape)


def reduce_in_base(
    xp: Any, out: Any, reduction: str, keepdims: bool, log_base: float | None
) -> Any:
    """``reduce`` the per-distribution values, then convert nats to ``log_base``."""
    out = reduce(xp, out, reduction, keepdims)
    return out / log_base if log_base is not None else out


#: Below ``small`` the series' ``v = (p - q) / (p + q)`` divides ``(p - q) * big`` by
#: ``(p + q) * big`` (powers of two: exact), so that its derivative, which JAX forms
#: through ``(p + q)**-2``, neither overflows nor gives ``0 * inf = NaN``, down to the
#: smallest subnormal ``p + q``.  Keyed by the dtype's bits.
_SCALE = {64: (2.0**-500, 2.0**600), 32: (2.0**-60, 2.0**90)}


def _ratio_v(be: Any, near: Any, d: Any, s: Any) -> tuple[Any, Any]:
    """``(v, s_n)``: ``v = d / s`` where ``near`` (else 0) and ``s_n`` (``s`` there, else 1).

    Small sums are scaled by a power of two first (``_SCALE``), which changes no digit.
    """
    xp = be.xp
    one = scalar(be, 1, d)
    small, big = _SCALE[64 if int(xp.finfo(d.dtype).bits) >= 64 else 32]
    s_n = xp.where(near, s, one)
    c = xp.where(s_n < small, scalar(be, big, d), one)
    v = (xp.where(near, d, scalar(be, 0, d)) * c) / (s_n * c)
    return v, s_n


def kl_parts(be: Any, p: Any, q: Any) -> tuple[Any, Any]:
    """``(a, b)`` with ``a + b = p log(p / q)`` elementwise: see ``_parts``."""
    a, b, _, _ = _parts(be, p, q)
    return a, b


def _parts(be: Any, p: Any, q: Any) -> tuple[Any, Any, Any, Any]:
    """``p log(p / q)`` split so that sums over an axis stay accurate.

    Returns ``a``, ``b``, the nearly-equal mask and ``p - q`` (where
    ``p == 0``: 0), with ``a + b = p log(p / q)`` and ``rel_entr``'s
    conventions (0 where ``p == 0``, ``+inf`` where ``p > 0 = q``, NaN for
    NaN, for a negative ``p`` and for a negative ``q`` under ``p > 0``):

    * nearly equal (``|p - q| < NEAR * (p + q)``, ``p / q`` within about 4%
      of 1): ``a = p log(p / q) - (p - q) >= 0``, the generalised KL term,
      and ``b = p - q``, exact (Sterbenz).  With ``v = (p - q) / (p + q)``,
      ``log(p / q) = 2 atanh(v)`` and
      ``a = (p - q) v (1 + v (1 + v) B(v^2))``,
      ``B(x) = 1/3 + x/5 + x^2/7 + x^3/9`` (the series of
      ``((1 + v) atanh(v) - v - v^2) / v^3``; for ``|v| < NEAR`` the next
      term is below ``1e-19`` relative), so ``a`` keeps its relative
      accuracy however close ``p`` is to ``q``.  Summing ``a`` and ``b``
      separately is what makes nearly equal distributions exact: summing
      ``p log(p / q)`` directly loses ``eps * sum |p - q|`` to cancellation
      (the terms are ``p - q`` to first order and sum to about 0), which is
      the whole result when KL ~ ``sum (p - q)**2 / q`` is below
      ``eps * sum |p - q|``.  The differences ``p - q`` of probabilities lie
      on one fine binary grid, so their sum is exact in practice.
    * otherwise ``a = p (log p - log q)`` (no ratio: ``p = 4, q = 2.2e-308``
      is 2839.14, not an overflow) and ``b = 0``: accurate to
      ``eps (|log p| + |log q|) / |log(p / q)|`` relative, with
      ``|log(p / q)| > 0.04`` here.

    The inputs of each branch are replaced by harmless values where it is
    not taken (``p = q = 1`` where ``p == 0``; ``v = 0`` outside the nearly
    equal region), so gradients are finite and exact: ``-p / q`` for ``q``,
    ``log(p / q) + 1`` for ``p``, 0 where ``p == 0``.
    """
    xp = be.xp
    zero = p == 0
    one = scalar(be, 1, p)
    nought = scalar(be, 0, p)
    p1 = xp.where(zero, one, p)
    q1 = xp.where(zero, one, q)
    d = p1 - q1
    s = p1 + q1
    # False for NaN, inf, negative inputs, s == 0 and s overflowing (p = 1e308, q = 0.99e308)
    near = (xp.abs(d) < NEAR * s) & (s < math.inf)
    b = xp.where(near, d, nought)  # where p == 0: 1 - 1 = 0
    v, _ = _ratio_v(be, near, d, s)
    x = v * v
    series = 1 / 3 + x * (1 / 5 + x * (1 / 7 + x * (1 / 9)))
    general = b * v * (1 + v * (1 + v) * series)
    far = p1 * (be.log(p1) - be.log(q1))
    return xp.where(near, general, far), b, near, d


def js_near(be: Any, p: Any, q: Any, far: Any) -> Any:
    """Jensen-Shannon terms: the series below where ``p`` and ``q`` are nearly equal, else ``far``.

    ``(s / 4) x (1 + x/6 + x^2/15 + x^3/28)`` with ``s = p + q``,
    ``x = v^2``, ``v = (p - q) / s`` (next term ``x^4/45``: below ``1e-15``
    relative for ``|v| < NEAR``); same region and substitutions as ``_parts``.
    """
    xp = be.xp
    d = p - q
    s = p + q
    near = (xp.abs(d) < NEAR * s) & (s < math.inf)
    v, s_n = _ratio_v(be, near, d, s)
    x = v * v
    series = 0.25 * s_n * x * (1 + x * (1 / 6 + x * (1 / 15 + x * (1 / 28))))
    return xp.where(near, series, far)


def probs_terms(be: Any, p: Any, q: Any) -> Any:
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
    a, b = kl_parts(be, p, q)
    return a + b


def kl_sum(be: Any, p: Any, q: Any, axes: Any, keepdims: bool, weights: Any = None) -> Any:
    """``sum(p log(p / q))`` over ``axes`` (times ``weights``), from ``kl_parts``' two sums."""
    xp = be.xp
    a, b = kl_parts(be, p, q)
    if weights is not None:
        a, b = a * weights, b * weights
    return xp.sum(a, axis=axes, keepdims=keepdims) + xp.sum(b, axis=axes, keepdims=keepdims)


def generalized_terms(be: Any, p: Any, q: Any) -> Any:
    """``p log(p / q) - p + q`` elementwise, as ``scipy.special.kl_div``.

    ``q`` where ``p == 0`` and ``q >= 0``; ``+inf`` where ``p > 0 = q`` and
    wherever ``p`` or ``q`` is negative (``kl_div``'s convention: these
    arguments are outside its domain); NaN where either is NaN, and for
    ``inf - inf`` (``p = q = inf``, finite ``p`` against ``q = inf``).  Every term is >= 0
    and keeps its relative accuracy when ``p`` is close to ``q``
    (``kl_parts``' first part).
    """
    xp = be.xp
    a, _, near, d = _parts(be, p, q)
    terms = xp.where(near, a, a - d)  # a is p log(p/q) - (p - q) or p log(p/q)
    terms = xp.where(p == 0, q, terms)
    infinite = ((p < 0) | (q < 0) | ((q == 0) & (p > 0))) & ~(xp.isnan(p) | xp.isnan(q))
    return xp.where(infinite, scalar(be, math.inf, p), terms)


def log_probs_terms(be: Any, log_p: Any, log_q: Any) -> Any:
    """``exp(log_p) * (log_p - log_q)``; terms with ``log_p == -inf`` are 0.

    A term with ``log_q == -inf`` (and ``log_p`` finite) is ``+inf`` even
    when ``exp(log_p)`` underflows to 0, where the product would be NaN.  Where
    ``exp(log_p) > 0`` that ``+inf`` is the product itself, so that autodiff
    gives the limit as ``log_q -> -inf`` of the gradient (``-exp(log_p)`` wrt
    ``log_q``), as the closed-form gradients of the kernels do.
    """
    xp = be.xp
    impossible = log_p == -math.inf
    zero = scalar(be, 0, log_p)
    lp = xp.where(impossible, zero, log_p)
    lq = xp.where(impossible, zero, log_q)
    p = xp.exp(lp)
    under = (lq == -math.inf) & (p == 0)  # p underflowed: 0 * inf would be NaN
    terms = xp.where(under, scalar(be, math.inf, lp), p * (lp - xp.where(under, zero, lq)))
    return xp.where(impossible, zero, terms)


def family_setup(
    args: tuple[Any, ...],
    names: tuple[str, ...],
    axis: Any,
    inputs: str,
    allowed: tuple[str, ...],
    reduction: str,
) -> tuple[Any, Any, list[Any], Any, tuple]:
    """Checks, backend, arrays in the working dtype (log-softmaxed for logits), axes."""
    _args.check_choice("inputs", inputs, allowed)
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    be, xp, arrays, dtype = prepare(*args, names=names)
    shape = _args.shape_of(arrays[0])
    for a in arrays[1:]:
        shape = _args.broadcast_shape(shape, _args.shape_of(a), (names[0], names[-1]))
    axes = _args.normalize_axis(axis, len(shape))
    _args.check_event_axes(shape, axes, inputs)
    if inputs == "logits":
        with be.quiet():
            arrays = [log_softmax(xp, broadcast_to(xp, a, shape), axes) for a in arrays]
    return be, xp, arrays, dtype, axes


def family_end(
    xp: Any, terms: Any, axes: tuple, keepdims: bool, reduction: str, base: Any, dtype: Any
) -> Any:
    """Sum ``terms`` over ``axes``, reduce, convert to ``base`` and cast to ``dtype``."""
    keepdims = _args.check_bool("keepdims", keepdims)
    out = reduce(xp, xp.sum(terms, axis=axes, keepdims=keepdims), reduction, keepdims)
    return finish(xp, out, dtype, _args.log_of_base(base))


def where_array(be: Any, where: Any, like: Any, per: str, example: str) -> Any:
    """``where`` as a boolean array of the inputs' library on ``like``'s device.

    A ``TypeError`` for an array of another library (Python booleans and lists are
    taken) and for a dtype other than bool; the message names what one flag stands
    for (``per``) and an ``example`` of how to make the mask.
    """
    xp = be.xp
    wbe, (mask,) = _dispatch.resolve(where, names=("where",))
    if wbe.name != be.name and not isinstance(where, (bool, list, tuple)):
        raise TypeError(
            f"where must come from the inputs' library ({be.name}); "
            f"got {type(where).__module__}.{type(where).__qualname__}"
        )
    mask = xp.asarray(mask, device=be.device(like))
    if not xp.isdtype(mask.dtype, "bool"):
        raise TypeError(
            f"where must be a boolean array (one flag per {per}); got dtype "
            f"{mask.dtype}. Use for example {example}"
        )
    return mask
