"""The oracle of the extreme-value tests of kl_backends.distributions: KL in mpmath.

``mp_kl(p, q)`` at 50 digits, written here: ``-H(p) - E_p[log q]`` from p's entropy
and the moments that ``log q`` needs (Cauchy and Poisson pairs in closed form);
``float_kl`` (our KL as a float, warnings as errors) and ``check_value`` (a float is
the exact value rounded, ``+inf`` beyond the dtype's range, never NaN or negative).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import mpmath as mp
import numpy as np

import kl_backends.distributions as D

mp.mp.dps = 50
EG = mp.euler


# --- the families in mpmath: entropy and the moments that log q needs ------------------------


class Moments:
    """Entropy and moments of p in mpmath (only those a pair needs)."""

    def __init__(self, h: Any, mean: Any = None, var: Any = None, **more: Any) -> None:
        self.h, self.mean, self.var = h, mean, var
        self.elog = more.get("elog")  # E[log x]
        self.mexp = more.get("mexp")  # t -> E[exp(-t x)]
        self.mabs = more.get("mabs")  # c -> E|x - c|
        self.mpow = more.get("mpow")  # k -> E[x^k]
        self.einv = more.get("einv")  # E[1/x]
        self.support = more.get("support", (-mp.inf, mp.inf))


def m_normal(m: Any, s: Any) -> Moments:
    def mabs(c: Any) -> Any:
        d = m - c
        return s * mp.sqrt(2 / mp.pi) * mp.exp(-(d**2) / (2 * s**2)) + d * mp.erf(
            d / (s * mp.sqrt(2))
        )

    return Moments(
        mp.log(2 * mp.pi * mp.e * s**2) / 2,
        m,
        s**2,
        mexp=lambda t: mp.exp(-t * m + t**2 * s**2 / 2),
        mabs=mabs,
    )


def m_laplace(m: Any, b: Any) -> Moments:
    return Moments(
        1 + mp.log(2 * b),
        m,
        2 * b**2,
        mabs=lambda c: abs(m - c) + b * mp.exp(-abs(m - c) / b),
    )


def m_gumbel(m: Any, s: Any) -> Moments:
    return Moments(
        mp.log(s) + 1 + EG,
        m + s * EG,
        mp.pi**2 * s**2 / 6,
        mexp=lambda t: mp.exp(-t * m) * mp.gamma(1 + t * s),
    )


def m_uniform(lo: Any, hi: Any) -> Moments:
    w = hi - lo

    def xlogx(x: Any) -> Any:
        return 0 if x == 0 else x * mp.log(x)

    return Moments(
        mp.log(w),
        (lo + hi) / 2,
        w**2 / 12,
        elog=(xlogx(hi) - xlogx(lo)) / w - 1 if lo >= 0 else None,
        mexp=lambda t: mp.exp(-t * lo) * -mp.expm1(-t * w) / (t * w),
        support=(lo, hi),
    )


def m_gamma(a: Any, b: Any) -> Moments:
    return Moments(
        a - mp.log(b) + mp.loggamma(a) + (1 - a) * mp.digamma(a),
        a / b,
        a / b**2,
        elog=mp.digamma(a) - mp.log(b),
        mexp=lambda t: (1 + t / b) ** (-a),
        support=(0, mp.inf),
    )


def m_exponential(r: Any) -> Moments:
    return m_gamma(mp.mpf(1), r)


def m_inversegamma(a: Any, b: Any) -> Moments:
    return Moments(
        a + mp.log(b) + mp.loggamma(a) - (1 + a) * mp.digamma(a),
        elog=mp.log(b) - mp.digamma(a),
        einv=a / b,
        support=(0, mp.inf),
    )


def m_pareto(s: Any, a: Any) -> Moments:
    return Moments(
        mp.log(s / a) + 1 / a + 1,
        a * s / (a - 1),
        s**2 * a / ((a - 1) ** 2 * (a - 2)),
        elog=mp.log(s) + 1 / a,
        support=(s, mp.inf),
    )


def m_weibull(lam: Any, k: Any) -> Moments:
    return Moments(
        EG * (1 - 1 / k) + mp.log(lam / k) + 1,
        lam * mp.gamma(1 + 1 / k),
        elog=mp.log(lam) - EG / k,
        mpow=lambda j: lam**j * mp.gamma(1 + j / k),
        support=(0, mp.inf),
    )


def m_beta(a: Any, b: Any) -> Moments:
    s = a + b
    return Moments(
        mp.log(mp.beta(a, b)) - (a - 1) * mp.digamma(a) - (b - 1) * mp.digamma(b)
        + (s - 2) * mp.digamma(s),
        a / s,
        a * b / (s**2 * (s + 1)),
        elog=mp.digamma(a) - mp.digamma(s),
        support=(0, 1),
    )  # fmt: skip


def m_halfnormal(s: Any) -> Moments:
    return Moments(mp.log(mp.pi * mp.e * s**2 / 2) / 2, mpow=lambda j: s**2 if j == 2 else None)


# -E_p[log q(x)] for each q family, from p's moments.
def ce_normal(p: Moments, loc: Any, s: Any) -> Any:
    return mp.log(2 * mp.pi) / 2 + mp.log(s) + ((p.mean - loc) ** 2 + p.var) / (2 * s**2)


def ce_laplace(p: Moments, loc: Any, b: Any) -> Any:
    return mp.log(2 * b) + p.mabs(loc) / b


def ce_gumbel(p: Moments, loc: Any, s: Any) -> Any:
    return mp.log(s) + (p.mean - loc) / s + mp.exp(loc / s) * p.mexp(1 / s)


def ce_gamma(p: Moments, a: Any, b: Any) -> Any:
    if p.support[0] < 0:
        return mp.inf
    return mp.loggamma(a) - a * mp.log(b) - (a - 1) * p.elog + b * p.mean


def ce_exponential(p: Moments, r: Any) -> Any:
    if p.support[0] < 0:
        return mp.inf
    return r * p.mean - mp.log(r)


def ce_inversegamma(p: Moments, a: Any, b: Any) -> Any:
    return mp.loggamma(a) - a * mp.log(b) + (a + 1) * p.elog + b * p.einv


def ce_pareto(p: Moments, s: Any, a: Any) -> Any:
    if p.support[0] < s:
        return mp.inf
    return -mp.log(a) - a * mp.log(s) + (a + 1) * p.elog


def ce_uniform(p: Moments, lo: Any, hi: Any) -> Any:
    if p.support[0] < lo or p.support[1] > hi:
        return mp.inf
    return mp.log(hi - lo)


def ce_weibull(p: Moments, lam: Any, k: Any) -> Any:
    return -mp.log(k / lam) - (k - 1) * (p.elog - mp.log(lam)) + p.mpow(k) / lam**k


def ce_halfnormal(p: Moments, s: Any) -> Any:
    return -mp.log(mp.sqrt(2 / mp.pi) / s) + p.mpow(2) / (2 * s**2)


def _cauchy(pp: tuple, qq: tuple) -> Any:
    (mp_, sp), (mq, sq) = pp, qq
    return mp.log(((sp + sq) ** 2 + (mp_ - mq) ** 2) / (4 * sp * sq))


def _poisson(pp: tuple, qq: tuple) -> Any:
    (a,), (b,) = pp, qq
    return a * mp.log(a / b) - a + b


MOMENTS: dict[str, Callable[..., Moments]] = {
    "Normal": m_normal,
    "LogNormal": m_normal,  # the KL of the logs
    "Laplace": m_laplace,
    "Gumbel": m_gumbel,
    "Uniform": m_uniform,
    "Gamma": m_gamma,
    "Exponential": m_exponential,
    "InverseGamma": m_inversegamma,
    "Pareto": m_pareto,
    "Weibull": m_weibull,
    "Beta": m_beta,
    "HalfNormal": m_halfnormal,
}
CROSS_ENTROPY: dict[str, Callable[..., Any]] = {
    "Normal": ce_normal,
    "LogNormal": ce_normal,
    "Laplace": ce_laplace,
    "Gumbel": ce_gumbel,
    "Gamma": ce_gamma,
    "Exponential": ce_exponential,
    "InverseGamma": ce_inversegamma,
    "Pareto": ce_pareto,
    "Uniform": ce_uniform,
    "Weibull": ce_weibull,
    "HalfNormal": ce_halfnormal,
}


def mp_kl(pname: str, qname: str, pp: tuple, qq: tuple) -> Any:
    """KL(p || q) in mpmath at 50 digits."""
    if pname == qname == "Cauchy":
        return _cauchy(pp, qq)
    if pname == qname == "Poisson":
        return _poisson(pp, qq)
    p = MOMENTS[pname](*pp)
    return CROSS_ENTROPY[qname](p, *qq) - p.h


def float_kl(p: Any, q: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return float(D.kl(p, q))


def check_value(got: float, exact: Any, dtype: Any, rtol: float, what: str) -> None:
    """``got`` is ``exact`` rounded (``+inf`` beyond the dtype's range), within ``rtol``."""
    big = float(np.finfo(dtype).max)
    if exact == mp.inf or exact > big:
        assert got == math.inf, f"{what}: {got!r}, exact {mp.nstr(exact, 17)} (+inf in {dtype})"
        return
    assert math.isfinite(got), f"{what}: {got!r}, exact {mp.nstr(exact, 17)}"
    assert got >= 0, f"{what}: negative {got!r}"
    err = abs(mp.mpf(got) - exact)
    assert err <= rtol * abs(exact) + 1e-300, (
        f"{what}: {got!r}, exact {mp.nstr(exact, 17)}, relative error {mp.nstr(err / exact, 3)}"
    )
