"""Closed-form KL and entropy of univariate continuous families, same family.

Every formula is arranged so that identical distributions give exactly 0 (the
cancellation happens in ``expm1`` / ``log1p`` or between equal terms; for
Gumbel and Weibull, whose formulas go through ``lgamma(2)``, an explicit
equality test), and support mismatches give ``+inf``:

* ``Uniform``: +inf unless [low_p, high_p] lies inside [low_q, high_q];
* ``Pareto``: +inf where scale_p < scale_q (p has mass below q's support).

References: Gil, Alajaji & Linder, "Renyi divergence measures for commonly
used univariate continuous distributions" (2013) for Laplace, Pareto, Gumbel
and Weibull; Kurt (2013) for Beta.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends._math.closed_forms import kl_normal
from kl_backends.distributions import _containers as C
from kl_backends.distributions import special as S
from kl_backends.distributions._helpers import (
    EULER,
    expm1_minus,
    finish,
    inf_where,
    log_ratio,
    nonnegative,
    prep,
    scalar,
    zero_where_equal,
)
from kl_backends.distributions._registry import register_entropy, register_kl

_LOG_2PI = math.log(2 * math.pi)


# --- normal-based ------------------------------------------------------------------------


@register_kl(C.Normal, C.Normal)
@register_kl(C.LogNormal, C.LogNormal)
@nonnegative
def kl_normal_normal(p: Any, q: Any) -> Any:
    """Normal: log(s_q/s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2 (LogNormal: the same)."""
    return kl_normal(p.loc, p.scale, q.loc, q.scale)


@register_kl(C.HalfNormal, C.HalfNormal)
@nonnegative
def kl_halfnormal_halfnormal(p: Any, q: Any) -> Any:
    """HalfNormal: log(s_q/s_p) + s_p^2 / (2 s_q^2) - 1/2."""
    return kl_normal(0.0, p.scale, 0.0, q.scale)


@register_entropy(C.Normal)
def entropy_normal(d: Any) -> Any:
    xp, (m, s), dtype = prep(loc=d.loc, scale=d.scale)
    return finish(xp, 0.5 * (1 + _LOG_2PI) + xp.log(s) + 0.0 * m, dtype)


@register_entropy(C.LogNormal)
def entropy_lognormal(d: Any) -> Any:
    xp, (m, s), dtype = prep(loc=d.loc, scale=d.scale)
    return finish(xp, m + 0.5 * (1 + _LOG_2PI) + xp.log(s), dtype)


@register_entropy(C.HalfNormal)
def entropy_halfnormal(d: Any) -> Any:
    xp, (s,), dtype = prep(scale=d.scale)
    return finish(xp, 0.5 * math.log(math.pi / 2) + 0.5 + xp.log(s), dtype)


# --- location-scale ------------------------------------------------------------------------


@register_kl(C.Laplace, C.Laplace)
@nonnegative
def kl_laplace_laplace(p: Any, q: Any) -> Any:
    """Laplace: (r - 1 - log r) + |m_p - m_q| / b_q + r (exp(-|m_p - m_q| / b_p) - 1), r = b_p/b_q."""
    xp, (mp, bp, mq, bq), dtype = prep(loc_p=p.loc, scale_p=p.scale, loc_q=q.loc, scale_q=q.scale)
    d = xp.abs(mp - mq)
    r = bp / bq
    out = expm1_minus(xp, log_ratio(xp, bp, bq)) + d / bq + r * xp.expm1(-d / bp)
    # r beyond the float range (float32: 1e30 || 1e-30): the KL (>= r e^(-d/b_p) + d/b_q) is too
    return finish(xp, inf_where(xp, r == math.inf, out), dtype)


@register_entropy(C.Laplace)
def entropy_laplace(d: Any) -> Any:
    xp, (m, b), dtype = prep(loc=d.loc, scale=d.scale)
    return finish(xp, 1 + math.log(2) + xp.log(b) + 0.0 * m, dtype)


@register_kl(C.Gumbel, C.Gumbel)
@nonnegative
def kl_gumbel_gumbel(p: Any, q: Any) -> Any:
    """Gumbel: -log r + d + gamma (r - 1) + exp(-d + lgamma(1 + r)) - 1, r = b_p/b_q, d = (m_p - m_q)/b_q."""
    xp, (mp, bp, mq, bq), dtype = prep(loc_p=p.loc, scale_p=p.scale, loc_q=q.loc, scale_q=q.scale)
    r = bp / bq
    d = (mp - mq) / bq
    out = -log_ratio(xp, bp, bq) + d + EULER * (r - 1) + xp.expm1(S.lgamma(1 + r) - d)
    out = zero_where_equal(xp, out, [(mp, mq), (bp, bq)])
    # beyond the float range (float32 at ratios of 1e60): exp(lgamma(1 + r) - d) dominates
    out = inf_where(xp, (r == math.inf) | (d == -math.inf), out)
    return finish(xp, out, dtype)


@register_entropy(C.Gumbel)
def entropy_gumbel(d: Any) -> Any:
    xp, (m, b), dtype = prep(loc=d.loc, scale=d.scale)
    return finish(xp, xp.log(b) + (1 + EULER) + 0.0 * m, dtype)


@register_kl(C.Uniform, C.Uniform)
@nonnegative
def kl_uniform_uniform(p: Any, q: Any) -> Any:
    """Uniform: log((high_q - low_q) / (high_p - low_p)); +inf unless p's interval lies in q's."""
    xp, (lp, hp, lq, hq), dtype = prep(low_p=p.low, high_p=p.high, low_q=q.low, high_q=q.high)
    out = log_ratio(xp, hq - lq, hp - lp)
    out = inf_where(xp, (lq > lp) | (hq < hp), out)
    return finish(xp, out, dtype)


@register_entropy(C.Uniform)
def entropy_uniform(d: Any) -> Any:
    xp, (lo, hi), dtype = prep(low=d.low, high=d.high)
    return finish(xp, xp.log(hi - lo), dtype)


# --- gamma family -----------------------------------------------------------------------


def _kl_gamma(xp: Any, ap: Any, bp: Any, aq: Any, bq: Any) -> Any:
    r"""KL(Gamma(a_p, rate b_p) || Gamma(a_q, rate b_q)).

    .. math:: a_p (e^t - 1 - t) + (a_p - a_q)(\psi(a_p) + t) - \log\Gamma(a_p) + \log\Gamma(a_q),
              \quad t = \log(b_q / b_p)
    """
    t = log_ratio(xp, bq, bp)
    return ap * expm1_minus(xp, t) + (ap - aq) * (S.digamma(ap) + t) - (S.lgamma(ap) - S.lgamma(aq))


def _entropy_gamma(xp: Any, a: Any, b: Any) -> Any:
    return a - xp.log(b) + S.lgamma(a) + (1 - a) * S.digamma(a)


@register_kl(C.Gamma, C.Gamma)
@nonnegative
def kl_gamma_gamma(p: Any, q: Any) -> Any:
    """Gamma (concentration a, rate b): see ``_kl_gamma``."""
    xp, (ap, bp, aq, bq), dtype = prep(
        concentration_p=p.concentration,
        rate_p=p.rate,
        concentration_q=q.concentration,
        rate_q=q.rate,
    )
    return finish(xp, _kl_gamma(xp, ap, bp, aq, bq), dtype)


@register_kl(C.InverseGamma, C.InverseGamma)
@nonnegative
def kl_inversegamma_inversegamma(p: Any, q: Any) -> Any:
    """InverseGamma: equal to the Gamma KL of the same parameters (x -> 1/x keeps the KL)."""
    return kl_gamma_gamma(p, q)


@register_kl(C.Chi2, C.Chi2)
@nonnegative
def kl_chi2_chi2(p: Any, q: Any) -> Any:
    """Chi2(k) = Gamma(k/2, rate 1/2)."""
    xp, (kp, kq), dtype = prep(df_p=p.df, df_q=q.df)
    half = 0.5 + 0.0 * kp
    return finish(xp, _kl_gamma(xp, kp / 2, half, kq / 2, 0.5 + 0.0 * kq), dtype)


@register_kl(C.Exponential, C.Exponential)
@nonnegative
def kl_exponential_exponential(p: Any, q: Any) -> Any:
    """Exponential: r - 1 - log r, r = rate_q / rate_p."""
    from kl_backends._math.closed_forms import kl_exponential

    return kl_exponential(p.rate, q.rate)


@register_entropy(C.Gamma)
def entropy_gamma(d: Any) -> Any:
    xp, (a, b), dtype = prep(concentration=d.concentration, rate=d.rate)
    return finish(xp, _entropy_gamma(xp, a, b), dtype)


@register_entropy(C.Chi2)
def entropy_chi2(d: Any) -> Any:
    xp, (k,), dtype = prep(df=d.df)
    return finish(xp, _entropy_gamma(xp, k / 2, 0.5 + 0.0 * k), dtype)


@register_entropy(C.InverseGamma)
def entropy_inversegamma(d: Any) -> Any:
    xp, (a, b), dtype = prep(concentration=d.concentration, rate=d.rate)
    return finish(xp, a + xp.log(b) + S.lgamma(a) - (1 + a) * S.digamma(a), dtype)


@register_entropy(C.Exponential)
def entropy_exponential(d: Any) -> Any:
    xp, (r,), dtype = prep(rate=d.rate)
    return finish(xp, 1 - xp.log(r), dtype)


# --- beta -------------------------------------------------------------------------------


@register_kl(C.Beta, C.Beta)
@nonnegative
def kl_beta_beta(p: Any, q: Any) -> Any:
    r"""Beta:

    .. math:: \log\frac{B(a_q, b_q)}{B(a_p, b_p)} + (a_p - a_q)\psi(a_p) + (b_p - b_q)\psi(b_p)
              + (a_q - a_p + b_q - b_p)\psi(a_p + b_p)
    """
    xp, (ap, bp, aq, bq), dtype = prep(
        concentration1_p=p.concentration1,
        concentration0_p=p.concentration0,
        concentration1_q=q.concentration1,
        concentration0_q=q.concentration0,
    )
    sp, sq = ap + bp, aq + bq
    out = (
        (S.lgamma(aq) - S.lgamma(ap))
        + (S.lgamma(bq) - S.lgamma(bp))
        + (S.lgamma(sp) - S.lgamma(sq))
        + (ap - aq) * S.digamma(ap)
        + (bp - bq) * S.digamma(bp)
        + (sq - sp) * S.digamma(sp)
    )
    return finish(xp, out, dtype)


def _entropy_beta(xp: Any, a: Any, b: Any) -> Any:
    s = a + b
    return S.betaln(a, b) - (a - 1) * S.digamma(a) - (b - 1) * S.digamma(b) + (s - 2) * S.digamma(s)


@register_entropy(C.Beta)
def entropy_beta(d: Any) -> Any:
    xp, (a, b), dtype = prep(concentration1=d.concentration1, concentration0=d.concentration0)
    return finish(xp, _entropy_beta(xp, a, b), dtype)


# --- heavy tails and shapes --------------------------------------------------------------


@register_kl(C.Pareto, C.Pareto)
@nonnegative
def kl_pareto_pareto(p: Any, q: Any) -> Any:
    """Pareto: a_q log(s_p / s_q) + (r - 1 - log r), r = a_q / a_p; +inf where s_p < s_q."""
    xp, (sp, ap, sq, aq), dtype = prep(
        scale_p=p.scale, alpha_p=p.alpha, scale_q=q.scale, alpha_q=q.alpha
    )
    out = aq * log_ratio(xp, sp, sq) + expm1_minus(xp, log_ratio(xp, aq, ap))
    return finish(xp, inf_where(xp, sp < sq, out), dtype)


@register_entropy(C.Pareto)
def entropy_pareto(d: Any) -> Any:
    xp, (s, a), dtype = prep(scale=d.scale, alpha=d.alpha)
    return finish(xp, xp.log(s / a) + 1 / a + 1, dtype)


@register_kl(C.Weibull, C.Weibull)
@nonnegative
def kl_weibull_weibull(p: Any, q: Any) -> Any:
    r"""Weibull (scale l, concentration k):

    .. math:: \log\frac{k_p}{k_q} + k_q \log\frac{l_q}{l_p} - \gamma\,(1 - k_q/k_p)
              + \exp\!\big(k_q \log(l_p/l_q) + \log\Gamma(1 + k_q/k_p)\big) - 1
    """
    xp, (lp, kp, lq, kq), dtype = prep(
        scale_p=p.scale,
        concentration_p=p.concentration,
        scale_q=q.scale,
        concentration_q=q.concentration,
    )
    t = log_ratio(xp, lp, lq)
    r = kq / kp
    out = log_ratio(xp, kp, kq) - kq * t - EULER * (1 - r) + xp.expm1(kq * t + S.lgamma(1 + r))
    out = zero_where_equal(xp, out, [(lp, lq), (kp, kq)])
    return finish(xp, out, dtype)


@register_entropy(C.Weibull)
def entropy_weibull(d: Any) -> Any:
    xp, (s, k), dtype = prep(scale=d.scale, concentration=d.concentration)
    return finish(xp, EULER * (1 - 1 / k) + xp.log(s / k) + 1, dtype)


@register_kl(C.VonMises, C.VonMises)
@nonnegative
def kl_vonmises_vonmises(p: Any, q: Any) -> Any:
    r"""VonMises (loc m, concentration k), with A(k) = I1(k) / I0(k):

    .. math:: \log I_0(k_q) - \log I_0(k_p) + A(k_p)\,(k_p - k_q \cos(m_p - m_q))

    computed with the scaled ``i0e``/``i1e`` (no overflow for large k) as
    ``log i0e(k_q) - log i0e(k_p) + (k_q - k_p)(1 - A(k_p)) + A(k_p) k_q (1 - cos(m_p - m_q))``,
    with ``1 - A`` from ``one_minus_bessel_ratio`` (``1 - A ~ 1/(2k)``: no cancellation
    of ``k_p - A k_p`` at k = 1e15).
    """
    xp, (mp, kp, mq, kq), dtype = prep(
        loc_p=p.loc, concentration_p=p.concentration, loc_q=q.loc, concentration_q=q.concentration
    )
    a = S.i1e(kp) / S.i0e(kp)
    g = S.one_minus_bessel_ratio(kp)
    out = (S.log_i0e(kq) - S.log_i0e(kp)) + (kq - kp) * g + a * kq * (1 - S.cos(mp - mq))
    return finish(xp, out, dtype)


@register_entropy(C.VonMises)
def entropy_vonmises(d: Any) -> Any:
    xp, (m, k), dtype = prep(loc=d.loc, concentration=d.concentration)
    g = S.one_minus_bessel_ratio(k)
    return finish(xp, _LOG_2PI + S.log_i0e(k) + k * g + 0.0 * m, dtype)


@register_kl(C.Cauchy, C.Cauchy)
@nonnegative
def kl_cauchy_cauchy(p: Any, q: Any) -> Any:
    """Cauchy: log(((s_p + s_q)^2 + (m_p - m_q)^2) / (4 s_p s_q)).

    As ``log1p(x)``, ``x = ((ds/s_p)(ds/s_q) + (dm/s_p)(dm/s_q)) / 4`` (exact 0 when equal;
    quotients before products, so scales of 1e30 in float32 neither overflow nor
    underflow); where ``x`` itself overflows, from logs:
    ``2 log M + log(((s_p + s_q)/M)^2 + (dm/M)^2) - log 4 - log s_p - log s_q``,
    ``M = max(s_p + s_q, |dm|)``.
    """
    xp, (mp, sp, mq, sq), dtype = prep(loc_p=p.loc, scale_p=p.scale, loc_q=q.loc, scale_q=q.scale)
    ds, dm = sp - sq, mp - mq
    x = 0.25 * ((ds / sp) * (ds / sq) + (dm / sp) * (dm / sq))
    small = x < 1e30  # also False for NaN
    near = xp.log1p(xp.where(small, x, scalar(xp, 0.0, x)))
    big = xp.maximum(sp + sq, xp.abs(dm))
    h = ((sp + sq) / big) ** 2 + (dm / big) ** 2
    far = 2 * xp.log(big) + xp.log(h) - math.log(4) - xp.log(sp) - xp.log(sq)
    return finish(xp, xp.where(small, near, far), dtype)


@register_entropy(C.Cauchy)
def entropy_cauchy(d: Any) -> Any:
    xp, (m, s), dtype = prep(loc=d.loc, scale=d.scale)
    return finish(xp, math.log(4 * math.pi) + xp.log(s) + 0.0 * m, dtype)


# --- ContinuousBernoulli ----------------------------------------------------------------

# Taylor series in x = 1 - 2 lambda, used for |x| < 0.05 (the closed forms cancel there).
_CB_LOGC = (1 / 3, 13 / 90, 251 / 2835, 3551 / 56700, 22417 / 467775)  # x^2, x^4, ...
_CB_MEAN = (-1 / 6, -2 / 45, -22 / 945, -214 / 14175, -5098 / 467775)  # x, x^3, ...
_CB_VAR = (1 / 12, -1 / 60, -8 / 945, -76 / 14175, -592 / 155925)  # 1, x^2, ...
_CB_NEAR = 0.05


def _poly(coefs: tuple[float, ...], x2: Any) -> Any:
    out = 0.0 * x2 + coefs[-1]
    for c in coefs[-2::-1]:
        out = out * x2 + c
    return out


def cb_stats(xp: Any, lam: Any) -> tuple[Any, Any, Any, Any]:
    """(log C, mean, variance, logit) of ContinuousBernoulli(lam).

    log C = log(2 artanh(x) / x), mean = -(1 - x)/(2x) + 1/(2 artanh x),
    variance = lam (lam - 1) / x^2 + 1 / (2 artanh x)^2, with x = 1 - 2 lam
    (series near x = 0, where these are 0/0).
    """
    x = 1 - 2 * lam
    near = xp.abs(x) < _CB_NEAR
    xs = xp.where(near, 0.0 * x + 0.5, x)
    ls = xp.where(near, 0.0 * x + 0.25, lam)  # (1 - xs) / 2, from lam itself (tiny lam exact)
    logit = xp.log(lam) - xp.log1p(-lam)
    # 2 artanh(x) = log((1 + x) / (1 - x)) = log((1 - lam) / lam): no 1 - x rounding
    two_atanh = xp.log1p(-ls) - xp.log(ls)
    x2 = x * x
    log_c = xp.where(near, math.log(2) + x2 * _poly(_CB_LOGC, x2), xp.log(two_atanh / xs))
    mean = xp.where(near, 0.5 + x * _poly(_CB_MEAN, x2), -ls / xs + 1 / two_atanh)
    var = xp.where(
        near, _poly(_CB_VAR, x2), ls * (ls - 1) / (xs * xs) + 1 / (two_atanh * two_atanh)
    )
    return log_c, mean, var, logit


def cb_param(d: Any) -> Any:
    """The parameter a ContinuousBernoulli was given (``probs`` or ``logits``)."""
    return d.probs if d.probs is not None else d.logits


def cb_lambda(xp: Any, d: Any, x: Any) -> Any:
    """lambda from the prepared ``cb_param(d)`` (the sigmoid of logits, without overflow)."""
    if d.probs is not None:
        return x
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def cb_entropy(xp: Any, lam: Any) -> Any:
    log_c, mean, _, logit = cb_stats(xp, lam)
    return -log_c - xp.log1p(-lam) - mean * logit


@register_kl(C.ContinuousBernoulli, C.ContinuousBernoulli)
@nonnegative
def kl_cb_cb(p: Any, q: Any) -> Any:
    """ContinuousBernoulli: E_p[x](logit_p - logit_q) + log C_p - log C_q + log((1 - l_p)/(1 - l_q))."""
    xp, (a, b), dtype = prep(p=cb_param(p), q=cb_param(q))
    lp, lq = cb_lambda(xp, p, a), cb_lambda(xp, q, b)
    cp, mp, _, gp = cb_stats(xp, lp)
    cq, _, _, gq = cb_stats(xp, lq)
    out = mp * (gp - gq) + (cp - cq) + (xp.log1p(-lp) - xp.log1p(-lq))
    return finish(xp, out, dtype)


@register_entropy(C.ContinuousBernoulli)
def entropy_cb(d: Any) -> Any:
    xp, (x,), dtype = prep(probs=cb_param(d))
    lam = cb_lambda(xp, d, x)
    return finish(xp, cb_entropy(xp, lam), dtype)
