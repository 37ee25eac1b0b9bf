"""Special functions for the closed forms, written once against the array API.

``lgamma``, ``digamma``, ``betaln``, ``erf``, ``i0e`` / ``i1e`` (the
exponentially scaled modified Bessel functions, ``I_nu(x) * exp(-|x|)``) and
their logs ``log_i0e`` / ``log_i1e``.  Each uses the array library's own
function where it has one (``native_special``: torch, ``jax.scipy.special``,
``tf.math``, ``scipy.special`` for NumPy when SciPy is installed and for
Dask block by block, ``cupyx.scipy.special``) and otherwise a generic
implementation that uses only array-API operations (``array_api_strict``,
any other library).  Both
differentiate in PyTorch, JAX and TensorFlow; the generic ones are checked
against ``scipy.special`` to about 1e-14 relative in float64 (``lgamma`` to
1e-14 absolute near its zeros at 1 and 2).

The generic forms, all elementwise with a fixed number of operations (no
data-dependent loops, so they run under ``jax.jit`` and ``tf.function``, and
lazily on Dask):

* ``lgamma``, ``digamma``: for x < 10 the recurrence moves the argument by 10
  (``lgamma(x) = lgamma(x + 10) - sum log(x + k)``), then Stirling's
  asymptotic series with seven Bernoulli terms (truncation below 1e-17 at
  x >= 10).  Defined for x > 0 (what the KLs need): x < 0 gives NaN,
  ``lgamma(0) = lgamma(inf) = inf``, ``digamma(0) = -inf``.
* ``erf``: the positive series ``2/sqrt(pi) exp(-x^2) sum 2^n x^(2n+1) /
  (2n+1)!!`` for |x| < 2.5, the continued fraction of ``erfc`` beyond.
* ``i0e``, ``i1e``: the power series for x < 20, Hankel's asymptotic series
  beyond (its smallest term is below exp(-2x) < 1e-17 there).

float32 inputs are evaluated in float64 by the generic forms (the libraries
that use them all have float64).  Each branch is evaluated on an argument
clamped into its own domain, so the branch that ``where`` discards is finite
and contributes zero gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kl_backends import _dispatch
from kl_backends.distributions._helpers import scalar as _s

__all__ = [
    "betaln",
    "cos",
    "digamma",
    "erf",
    "i0e",
    "i1e",
    "lgamma",
    "log_i0e",
    "log_i1e",
    "native_special",
    "one_minus_bessel_ratio",
]


def native_special(name: str, x: Any) -> Callable[[Any], Any] | None:
    """The array library's own special function ``name`` for ``x``, or ``None``.

    ``name`` is one of ``"lgamma"``, ``"digamma"``, ``"erf"``, ``"i0e"``,
    ``"i1e"`` (and ``"cos"`` on TensorFlow, whose array-API adapter lacks it).
    Each framework's backend answers (``Backend.special`` in
    ``kl_backends/backends/<framework>.py``): torch, ``jax.scipy.special``,
    ``tf.math``, SciPy for NumPy (when installed) and for Dask block by block
    (``map_blocks``, lazily), ``cupyx.scipy.special``.  ``None`` means: use
    the generic array-API implementation.
    """
    be = _dispatch.backend_of(x)
    return None if be is None else be.special(name)


def _dispatch_fn(name: str, generic: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
    def fn(x: Any, /) -> Any:
        be, (x,) = _dispatch.resolve(x, names=("x",))
        xp = be.xp
        native = be.special(name)
        if native is not None:
            return native(x)
        with be.quiet():
            if x.dtype == xp.float32:
                # float32 in float64: the recurrences cancel about 15 units of lgamma(x + 10),
                # which float32 would turn into 2e-6 absolute errors.
                return xp.astype(generic(xp, xp.astype(x, xp.float64)), xp.float32)
            return generic(xp, x)

    fn.__name__ = fn.__qualname__ = name
    return fn


# --- log-gamma and digamma ------------------------------------------------------------

_SHIFT = 10
# Stirling: lgamma(z) ~ (z - 1/2) log z - z + log(2 pi)/2 + sum B_2k / (2k (2k-1) z^(2k-1))
_B2K = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)


def _shifted(xp: Any, x: Any) -> tuple[Any, Any, Any]:
    """(small, z, x_safe): z = x + 10 where x < 10, else x; x_safe = x where small, else 1."""
    small = x < _SHIFT
    x_safe = xp.where(small, x, _s(xp, 1.0, x))
    z = xp.where(small, x + _SHIFT, x)
    return small, z, x_safe


def _lgamma(xp: Any, x: Any) -> Any:
    x0, bad = x, ~(x > 0) | (x == math.inf)  # x <= 0, NaN, +inf: set at the end
    x = xp.where(bad, _s(xp, 1.0, x), x)
    small, z, x_safe = _shifted(xp, x)
    r = 1 / z
    r2 = r * r
    series = _s(xp, 0.0, x)
    for k in range(len(_B2K) - 1, -1, -1):
        series = series * r2 + _B2K[k] / ((2 * k + 2) * (2 * k + 1))
    out = (z - 0.5) * xp.log(z) - z + 0.5 * math.log(2 * math.pi) + series * r
    prod = x_safe
    for k in range(1, _SHIFT):  # the product stays below 19**10: no overflow, even in float32
        prod = prod * (x_safe + k)
    out = xp.where(small, out - xp.log(prod), out)
    out = xp.where(bad, _s(xp, math.nan, x), out)
    return xp.where((x0 == 0) | (x0 == math.inf), _s(xp, math.inf, x), out)


def _digamma(xp: Any, x: Any) -> Any:
    x0, bad = x, ~(x > 0) | (x == math.inf)
    x = xp.where(bad, _s(xp, 1.0, x), x)
    small, z, x_safe = _shifted(xp, x)
    r = 1 / z
    r2 = r * r
    series = _s(xp, 0.0, x)
    for k in range(len(_B2K) - 1, -1, -1):
        series = series * r2 + _B2K[k] / (2 * k + 2)
    out = xp.log(z) - 0.5 * r - series * r2
    recip = 1 / x_safe
    for k in range(1, _SHIFT):
        recip = recip + 1 / (x_safe + k)
    out = xp.where(small, out - recip, out)
    out = xp.where(bad, _s(xp, math.nan, x), out)
    out = xp.where(x0 == math.inf, _s(xp, math.inf, x), out)
    return xp.where(x0 == 0, _s(xp, -math.inf, x), out)


# --- erf --------------------------------------------------------------------------------

_ERF_SPLIT = 2.5
_ERF_SERIES = 60
_ERFC_FRACTION = 70


def _erf(xp: Any, x: Any) -> Any:
    a = xp.abs(x)
    near = a < _ERF_SPLIT
    s = xp.where(near, x, _s(xp, 0.0, x))  # signed: the series is odd (and its slope at 0 right)
    s2 = s * s
    term, total = s, s
    for n in range(1, _ERF_SERIES):  # all terms of one sign: no cancellation
        term = term * (2 * s2) / (2 * n + 1)
        total = total + term
    series = (2 / math.sqrt(math.pi)) * xp.exp(-s2) * total
    t = xp.where(near, _s(xp, _ERF_SPLIT, a), a)
    t = xp.where(t == math.inf, _s(xp, 1e30, t), t)  # erfc(inf) = 0 without inf/inf
    frac = t
    for k in range(
        _ERFC_FRACTION, 0, -1
    ):  # erfc(t) = exp(-t^2)/sqrt(pi) / (t + (1/2)/(t + 1/(t + ...)))
        frac = t + (k / 2) / frac
    far = 1 - xp.exp(-t * t) / (math.sqrt(math.pi) * frac)
    return xp.where(near, series, xp.where(x < 0, -far, far))


# --- scaled modified Bessel functions ---------------------------------------------------

_BESSEL_SPLIT = 20.0
_BESSEL_SERIES = 60
_BESSEL_ASYMPTOTIC = 30


def _bessel_ie(xp: Any, x: Any, nu: int) -> Any:
    """``I_nu(|x|) exp(-|x|)`` for nu in {0, 1}, times sign(x) for nu = 1."""
    a = xp.abs(x)
    near = a < _BESSEL_SPLIT
    s = xp.where(near, x, _s(xp, 0.0, x))  # signed: I1's series is odd (slope 1/2 at 0)
    y = s * s / 4
    term = _s(xp, 1.0, s)
    total = term
    for k in range(1, _BESSEL_SERIES):  # sum (x^2/4)^k / (k! (k + nu)!)
        term = term * y / (k * (k + nu))
        total = total + term
    # exp(-|s|), with slope 0 at s = 0 (the symmetric subgradient, as the frameworks give)
    series = total * xp.where(s == 0, 1 + 0 * s, xp.exp(-xp.abs(s)))
    if nu == 1:
        series = series * (s / 2)
    t = xp.where(near, _s(xp, _BESSEL_SPLIT, a), a)
    infinite = t == math.inf
    t = xp.where(infinite, _s(xp, 1.0, t), t)
    mu = 4 * nu * nu
    r = 1 / (8 * t)
    term = _s(xp, 1.0, t)
    total = term
    for k in range(1, _BESSEL_ASYMPTOTIC):  # Hankel: sum (-1)^k prod (mu - (2j-1)^2) / (k! (8x)^k)
        term = term * (-(mu - (2 * k - 1) ** 2) / k) * r
        total = total + term
    asymptotic = xp.where(infinite, _s(xp, 0.0, t), total / xp.sqrt(2 * math.pi * t))
    if nu == 1:
        asymptotic = xp.where(x < 0, -asymptotic, asymptotic)
    return xp.where(near, series, asymptotic)


lgamma = _dispatch_fn("lgamma", _lgamma)
lgamma.__doc__ = "log |Gamma(x)| for x > 0 (NaN for x <= 0 in the generic form)."
digamma = _dispatch_fn("digamma", _digamma)
digamma.__doc__ = "The digamma function psi(x) = d/dx lgamma(x) for x > 0."
erf = _dispatch_fn("erf", _erf)
erf.__doc__ = "The error function 2/sqrt(pi) int_0^x exp(-t^2) dt."
i0e = _dispatch_fn("i0e", lambda xp, x: _bessel_ie(xp, x, 0))
i0e.__doc__ = "I_0(x) exp(-|x|), the exponentially scaled modified Bessel function of order 0."
i1e = _dispatch_fn("i1e", lambda xp, x: _bessel_ie(xp, x, 1))
i1e.__doc__ = "I_1(x) exp(-|x|), the exponentially scaled modified Bessel function of order 1."
cos = _dispatch_fn("cos", lambda xp, x: xp.cos(x))
cos.__doc__ = "The cosine (TensorFlow's own; the array API's elsewhere)."


def one_minus_bessel_ratio(x: Any, /) -> Any:
    """``1 - I_1(x) / I_0(x)`` for x >= 0, without the cancellation of ``1 - i1e/i0e``.

    About ``1/(2x)`` for large x (the von Mises ``k (1 - A(k))``): below 20 from
    ``i1e/i0e``, beyond as ``(S_0 - S_1) / S_0`` with Hankel's series
    ``S_nu = sum_k t_k(nu)`` (``i_nu e = S_nu / sqrt(2 pi x)``): their k = 0 terms
    (both 1) cancel exactly and are left out of the difference.
    """
    be, (x,) = _dispatch.resolve(x, names=("x",))
    xp = be.xp
    with be.quiet():
        near = x < _BESSEL_SPLIT
        small = 1 - i1e(x) / i0e(x)
        t = xp.where(near, _s(xp, _BESSEL_SPLIT, x), x)
        infinite = t == math.inf
        r = 1 / (8 * xp.where(infinite, _s(xp, 1.0, t), t))
        t0, t1 = _s(xp, 1.0, t), _s(xp, 1.0, t)
        s0, diff = t0, _s(xp, 0.0, t)
        for k in range(1, _BESSEL_ASYMPTOTIC):  # t_k = t_(k-1) (-(mu - (2k-1)^2) / k) r
            t0 = t0 * ((2 * k - 1) ** 2 / k) * r
            t1 = t1 * (-(4 - (2 * k - 1) ** 2) / k) * r
            s0 = s0 + t0
            diff = diff + (t0 - t1)
        far = xp.where(infinite, _s(xp, 0.0, t), diff / s0)
        return xp.where(near, small, far)


def _namespace(x: Any) -> Any:
    return _dispatch.resolve(x, names=("x",))[0].xp


def betaln(a: Any, b: Any, /) -> Any:
    """log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b), for a, b > 0."""
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def log_i0e(x: Any, /) -> Any:
    """log(I_0(x) exp(-|x|)); 0 at x = 0, about -log(2 pi x)/2 for large x."""
    return _namespace(x).log(i0e(x))


def log_i1e(x: Any, /) -> Any:
    """log(I_1(x) exp(-|x|)) for x > 0 (-inf at 0)."""
    return _namespace(x).log(i1e(x))
