"""Cross-family KL pairs: those ``torch.distributions`` registers, plus TFP's Chi2/Weibull-Gamma.

Each finite pair is ``-H(p) - E_p[log q(x)]`` with the moments of p that
``log q`` needs (``E[x]``, ``E[x^2]``, ``E[log x]``, ``E[exp(-x/b)]``),
written out below.  Where p puts mass outside q's support the KL is
``+inf``:

* always, for p with unbounded support against q with bounded or
  half-bounded support (Normal, Laplace, Gumbel against Beta,
  ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform; Exponential and
  Gamma against Beta, ContinuousBernoulli, Pareto, Uniform; Pareto against
  Beta, ContinuousBernoulli, Uniform; Beta and ContinuousBernoulli against
  Pareto; Poisson against Bernoulli and Binomial);
* depending on the parameters: ``Uniform(low, high)`` against ``Beta`` or
  ``ContinuousBernoulli`` unless 0 <= low and high <= 1; against
  ``Exponential``/``Gamma`` where low < 0; against ``Pareto`` where
  low < scale; ``Beta``/``ContinuousBernoulli`` against ``Uniform`` unless
  low <= 0 and 1 <= high; ``Pareto`` against ``Exponential``/``Gamma`` where
  alpha <= 1 (infinite mean), against ``Normal`` where alpha <= 2.

Differences from torch (bugs there, not copied): ``KL(Uniform(0, 1) ||
Beta(1, 1))`` is 0 here (torch #144279: NaN from ``0 * log 0``), and
``KL(ContinuousBernoulli || Uniform(0, 1))`` and ``KL(Uniform(0, 1) ||
ContinuousBernoulli)`` are finite here (torch compares the support bounds
with ``>=`` / ``<=`` and returns +inf for the exact cover [0, 1]).
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends.distributions import _containers as C
from kl_backends.distributions import special as S
from kl_backends.distributions._continuous import (
    _entropy_beta,
    _entropy_gamma,
    _kl_gamma,
    cb_entropy,
    cb_lambda,
    cb_param,
    cb_stats,
)
from kl_backends.distributions._discrete import _param, probs_of
from kl_backends.distributions._helpers import EULER, finish, inf_where, prep, scalar, xlogx
from kl_backends.distributions._registry import register_kl

_LOG_2PI = math.log(2 * math.pi)
_INF_SOURCES: dict[type, tuple[type, ...]] = {
    C.Normal: (C.Beta, C.ContinuousBernoulli, C.Exponential, C.Gamma, C.Pareto, C.Uniform),
    C.Laplace: (C.Beta, C.ContinuousBernoulli, C.Exponential, C.Gamma, C.Pareto, C.Uniform),
    C.Gumbel: (C.Beta, C.ContinuousBernoulli, C.Exponential, C.Gamma, C.Pareto, C.Uniform),
    C.Exponential: (C.Beta, C.ContinuousBernoulli, C.Pareto, C.Uniform),
    C.Gamma: (C.Beta, C.ContinuousBernoulli, C.Pareto, C.Uniform),
    C.Pareto: (C.Beta, C.ContinuousBernoulli, C.Uniform),
    C.Beta: (C.Pareto,),
    C.ContinuousBernoulli: (C.Pareto,),
    C.Poisson: (C.Bernoulli, C.Binomial),
}


def _infinite(p: Any, q: Any) -> Any:
    """+inf with p's batch shape: p has mass where q has none, whatever the parameters."""
    xp, (x,), dtype = prep(p=next(iter(p.params().values())))
    return finish(xp, 0.0 * x + math.inf, dtype)


for _p, _qs in _INF_SOURCES.items():
    for _q in _qs:
        register_kl(_p, _q)(_infinite)


# --- p's moments against q's log-density --------------------------------------------------


def _neg_log_normal(xp: Any, m1: Any, m2: Any, loc: Any, scale: Any) -> Any:
    """-E[log N(x; loc, scale)] from E[x] = m1 and E[x^2] = m2."""
    return 0.5 * _LOG_2PI + xp.log(scale) + (m2 - 2 * loc * m1 + loc * loc) / (2 * scale * scale)


def _neg_log_gumbel(xp: Any, m1: Any, mexp: Any, loc: Any, scale: Any) -> Any:
    """-E[log Gumbel(x; loc, scale)] from E[x] = m1 and E[exp(-x/scale)] = mexp."""
    return xp.log(scale) + (m1 - loc) / scale + xp.exp(loc / scale) * mexp


def _neg_log_gamma(xp: Any, m1: Any, mlog: Any, a: Any, b: Any) -> Any:
    """-E[log Gamma(x; a, rate b)] from E[x] = m1 and E[log x] = mlog."""
    return S.lgamma(a) - a * xp.log(b) - (a - 1) * mlog + b * m1


def _neg_log_exponential(xp: Any, m1: Any, rate: Any) -> Any:
    return rate * m1 - xp.log(rate)


# --- Beta p -------------------------------------------------------------------------------


def _beta(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    """xp, dtype, a, b, -H(p), and q's parameters, all prepared together."""
    xp, (a, b, *rest), dtype = prep(
        concentration1=p.concentration1, concentration0=p.concentration0, **q
    )
    return xp, dtype, a, b, -_entropy_beta(xp, a, b), rest


@register_kl(C.Beta, C.Exponential)
def kl_beta_exponential(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (r,) = _beta(p, rate=q.rate)
    return finish(xp, neg_h + _neg_log_exponential(xp, a / (a + b), r), dtype)


@register_kl(C.Beta, C.Gamma)
def kl_beta_gamma(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (ca, rb) = _beta(p, concentration=q.concentration, rate=q.rate)
    mlog = S.digamma(a) - S.digamma(a + b)
    return finish(xp, neg_h + _neg_log_gamma(xp, a / (a + b), mlog, ca, rb), dtype)


@register_kl(C.Beta, C.Normal)
def kl_beta_normal(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (loc, scale) = _beta(p, loc=q.loc, scale=q.scale)
    s = a + b
    m = a / s
    m2 = m * (1 - m) / (s + 1) + m * m
    return finish(xp, neg_h + _neg_log_normal(xp, m, m2, loc, scale), dtype)


@register_kl(C.Beta, C.Uniform)
def kl_beta_uniform(p: Any, q: Any) -> Any:
    """-H(p) + log(high - low); +inf unless low <= 0 and 1 <= high."""
    xp, dtype, _, _, neg_h, (lo, hi) = _beta(p, low=q.low, high=q.high)
    out = neg_h + xp.log(hi - lo)
    return finish(xp, inf_where(xp, (lo > 0) | (hi < 1), out), dtype)


@register_kl(C.Beta, C.ContinuousBernoulli)
def kl_beta_cb(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (x,) = _beta(p, lam=cb_param(q))
    lam = cb_lambda(xp, q, x)
    log_c, _, _, logit = cb_stats(xp, lam)
    return finish(xp, neg_h - (a / (a + b)) * logit - xp.log1p(-lam) - log_c, dtype)


# --- ContinuousBernoulli p ----------------------------------------------------------------


def _cb(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    """xp, dtype, mean, variance, -H(p), q's parameters."""
    xp, (x, *rest), dtype = prep(lam=cb_param(p), **q)
    lam = cb_lambda(xp, p, x)
    _, mean, var, _ = cb_stats(xp, lam)
    return xp, dtype, mean, var, -cb_entropy(xp, lam), rest


@register_kl(C.ContinuousBernoulli, C.Exponential)
def kl_cb_exponential(p: Any, q: Any) -> Any:
    xp, dtype, mean, _, neg_h, (r,) = _cb(p, rate=q.rate)
    return finish(xp, neg_h + _neg_log_exponential(xp, mean, r), dtype)


@register_kl(C.ContinuousBernoulli, C.Normal)
def kl_cb_normal(p: Any, q: Any) -> Any:
    xp, dtype, mean, var, neg_h, (loc, scale) = _cb(p, loc=q.loc, scale=q.scale)
    return finish(xp, neg_h + _neg_log_normal(xp, mean, var + mean * mean, loc, scale), dtype)


@register_kl(C.ContinuousBernoulli, C.Uniform)
def kl_cb_uniform(p: Any, q: Any) -> Any:
    """-H(p) + log(high - low); +inf unless low <= 0 and 1 <= high (torch: also at the bounds)."""
    xp, dtype, _, _, neg_h, (lo, hi) = _cb(p, low=q.low, high=q.high)
    out = neg_h + xp.log(hi - lo)
    return finish(xp, inf_where(xp, (lo > 0) | (hi < 1), out), dtype)


# --- Exponential p --------------------------------------------------------------------------


@register_kl(C.Exponential, C.Gamma)
def kl_exponential_gamma(p: Any, q: Any) -> Any:
    """Exp(l) = Gamma(1, l): the Gamma-Gamma form."""
    xp, (r, a, b), dtype = prep(rate=p.rate, concentration=q.concentration, rate_q=q.rate)
    return finish(xp, _kl_gamma(xp, 1 + 0.0 * r, r, a, b), dtype)


@register_kl(C.Exponential, C.Gumbel)
def kl_exponential_gumbel(p: Any, q: Any) -> Any:
    xp, (r, loc, scale), dtype = prep(rate=p.rate, loc=q.loc, scale=q.scale)
    neg_h = xp.log(r) - 1
    mexp = r * scale / (r * scale + 1)  # E[exp(-x/b)] = r / (r + 1/b)
    return finish(xp, neg_h + _neg_log_gumbel(xp, 1 / r, mexp, loc, scale), dtype)


@register_kl(C.Exponential, C.Normal)
def kl_exponential_normal(p: Any, q: Any) -> Any:
    xp, (r, loc, scale), dtype = prep(rate=p.rate, loc=q.loc, scale=q.scale)
    neg_h = xp.log(r) - 1
    return finish(xp, neg_h + _neg_log_normal(xp, 1 / r, 2 / (r * r), loc, scale), dtype)


# --- Gamma p --------------------------------------------------------------------------------


def _gamma(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (a, b, *rest), dtype = prep(concentration=p.concentration, rate=p.rate, **q)
    return xp, dtype, a, b, -_entropy_gamma(xp, a, b), rest


@register_kl(C.Gamma, C.Exponential)
def kl_gamma_exponential(p: Any, q: Any) -> Any:
    xp, dtype, a, b, _, (r,) = _gamma(p, rate_q=q.rate)
    return finish(xp, _kl_gamma(xp, a, b, 1 + 0.0 * r, r), dtype)


@register_kl(C.Gamma, C.Gumbel)
def kl_gamma_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (loc, scale) = _gamma(p, loc=q.loc, scale=q.scale)
    mexp = xp.exp(-a * xp.log1p(1 / (b * scale)))  # (1 + 1/(b s))^-a
    return finish(xp, neg_h + _neg_log_gumbel(xp, a / b, mexp, loc, scale), dtype)


@register_kl(C.Gamma, C.Normal)
def kl_gamma_normal(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (loc, scale) = _gamma(p, loc=q.loc, scale=q.scale)
    m2 = a * (a + 1) / (b * b)
    return finish(xp, neg_h + _neg_log_normal(xp, a / b, m2, loc, scale), dtype)


@register_kl(C.Chi2, C.Gamma)
def kl_chi2_gamma(p: Any, q: Any) -> Any:
    """Chi2(k) = Gamma(k/2, rate 1/2) (TFP registers this pair)."""
    xp, (k, a, b), dtype = prep(df=p.df, concentration=q.concentration, rate=q.rate)
    return finish(xp, _kl_gamma(xp, k / 2, 0.5 + 0.0 * k, a, b), dtype)


@register_kl(C.Gamma, C.Chi2)
def kl_gamma_chi2(p: Any, q: Any) -> Any:
    xp, (a, b, k), dtype = prep(concentration=p.concentration, rate=p.rate, df=q.df)
    return finish(xp, _kl_gamma(xp, a, b, k / 2, 0.5 + 0.0 * k), dtype)


@register_kl(C.Weibull, C.Gamma)
def kl_weibull_gamma(p: Any, q: Any) -> Any:
    """TFP's pair: E[log x] = log l - gamma/k, E[x] = l Gamma(1 + 1/k)."""
    xp, (lam, k, a, b), dtype = prep(
        scale=p.scale, concentration=p.concentration, concentration_q=q.concentration, rate=q.rate
    )
    neg_h = -(EULER * (1 - 1 / k) + xp.log(lam / k) + 1)
    m1 = lam * xp.exp(S.lgamma(1 + 1 / k))
    mlog = xp.log(lam) - EULER / k
    return finish(xp, neg_h + _neg_log_gamma(xp, m1, mlog, a, b), dtype)


# --- Gumbel, Laplace, Normal p ------------------------------------------------------------


@register_kl(C.Gumbel, C.Normal)
def kl_gumbel_normal(p: Any, q: Any) -> Any:
    xp, (m, s, loc, scale), dtype = prep(loc=p.loc, scale=p.scale, loc_q=q.loc, scale_q=q.scale)
    neg_h = -(xp.log(s) + 1 + EULER)
    mean = m + s * EULER
    m2 = (math.pi * math.pi / 6) * s * s + mean * mean
    return finish(xp, neg_h + _neg_log_normal(xp, mean, m2, loc, scale), dtype)


@register_kl(C.Laplace, C.Normal)
def kl_laplace_normal(p: Any, q: Any) -> Any:
    xp, (m, s, loc, scale), dtype = prep(loc=p.loc, scale=p.scale, loc_q=q.loc, scale_q=q.scale)
    neg_h = -(1 + math.log(2) + xp.log(s))
    return finish(xp, neg_h + _neg_log_normal(xp, m, 2 * s * s + m * m, loc, scale), dtype)


def _normal(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (m, s, *rest), dtype = prep(loc=p.loc, scale=p.scale, **q)
    return xp, dtype, m, s, -(0.5 * (1 + _LOG_2PI) + xp.log(s)), rest


@register_kl(C.Normal, C.Gumbel)
def kl_normal_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, m, s, neg_h, (loc, scale) = _normal(p, loc_q=q.loc, scale_q=q.scale)
    z = s / scale
    mexp = xp.exp(0.5 * z * z - m / scale)  # E[exp(-x/b)] for x ~ N(m, s^2)
    return finish(xp, neg_h + _neg_log_gumbel(xp, m, mexp, loc, scale), dtype)


@register_kl(C.Normal, C.Laplace)
def kl_normal_laplace(p: Any, q: Any) -> Any:
    """-H(p) + log(2 b) + E|x - loc| / b, E|x - loc| = s sqrt(2/pi) exp(-d^2/2s^2) + d erf(d / s sqrt 2)."""
    xp, dtype, m, s, neg_h, (loc, scale) = _normal(p, loc_q=q.loc, scale_q=q.scale)
    d = m - loc
    z = d / s
    mabs = s * math.sqrt(2 / math.pi) * xp.exp(-0.5 * z * z) + d * S.erf(z / math.sqrt(2))
    return finish(xp, neg_h + math.log(2) + xp.log(scale) + mabs / scale, dtype)


# --- Pareto p -------------------------------------------------------------------------------


def _pareto(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (s, a, *rest), dtype = prep(scale=p.scale, alpha=p.alpha, **q)
    return xp, dtype, s, a, -(xp.log(s / a) + 1 / a + 1), rest


def _pareto_mean(xp: Any, s: Any, a: Any) -> Any:
    """a s / (a - 1), with alpha <= 1 kept finite here (the caller puts +inf there)."""
    a_safe = xp.where(a > 1, a, scalar(xp, 2.0, a))
    return a_safe * s / (a_safe - 1)


@register_kl(C.Pareto, C.Exponential)
def kl_pareto_exponential(p: Any, q: Any) -> Any:
    xp, dtype, s, a, neg_h, (r,) = _pareto(p, rate_q=q.rate)
    out = neg_h + _neg_log_exponential(xp, _pareto_mean(xp, s, a), r)
    return finish(xp, inf_where(xp, a <= 1, out), dtype)


@register_kl(C.Pareto, C.Gamma)
def kl_pareto_gamma(p: Any, q: Any) -> Any:
    xp, dtype, s, a, neg_h, (ca, rb) = _pareto(p, concentration=q.concentration, rate_q=q.rate)
    mlog = xp.log(s) + 1 / a
    out = neg_h + _neg_log_gamma(xp, _pareto_mean(xp, s, a), mlog, ca, rb)
    return finish(xp, inf_where(xp, a <= 1, out), dtype)


@register_kl(C.Pareto, C.Normal)
def kl_pareto_normal(p: Any, q: Any) -> Any:
    xp, dtype, s, a, neg_h, (loc, scale) = _pareto(p, loc=q.loc, scale_q=q.scale)
    a_safe = xp.where(a > 2, a, scalar(xp, 3.0, a))
    m2 = a_safe * s * s / (a_safe - 2)
    out = neg_h + _neg_log_normal(xp, _pareto_mean(xp, s, a_safe), m2, loc, scale)
    return finish(xp, inf_where(xp, a <= 2, out), dtype)


# --- Bernoulli p ----------------------------------------------------------------------------


@register_kl(C.Bernoulli, C.Poisson)
def kl_bernoulli_poisson(p: Any, q: Any) -> Any:
    """sum over {0, 1}: (1-p) log((1-p) / e^-r) + p log(p / (r e^-r)) = -H(p) + r - p log r."""
    xp, (a, r), dtype = prep(p=_param(p), rate=q.rate)
    pr = probs_of(p, xp, a)
    zero = pr == 0
    log_r = xp.log(xp.where(zero, scalar(xp, 1.0, r), r))
    out = xlogx(xp, pr) + xlogx(xp, 1 - pr) + r - xp.where(zero, scalar(xp, 0.0, pr), pr * log_r)
    return finish(xp, out, dtype)


# --- Uniform p ------------------------------------------------------------------------------


def _uniform(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (lo, hi, *rest), dtype = prep(low=p.low, high=p.high, **q)
    return xp, dtype, lo, hi, -xp.log(hi - lo), rest


def _uniform_mean_log(xp: Any, lo: Any, hi: Any) -> Any:
    """E[log x] on U(lo, hi), lo >= 0: (h log h - l log l) / (h - l) - 1 (0 log 0 = 0)."""
    return (xlogx(xp, hi) - xlogx(xp, lo)) / (hi - lo) - 1


def _uniform_mean_log1m(xp: Any, lo: Any, hi: Any) -> Any:
    """E[log(1 - x)] on U(lo, hi), hi <= 1."""
    return -(xlogx(xp, 1 - hi) - xlogx(xp, 1 - lo)) / (hi - lo) - 1


@register_kl(C.Uniform, C.Beta)
def kl_uniform_beta(p: Any, q: Any) -> Any:
    """-H(p) + log B(a, b) - (a-1) E[log x] - (b-1) E[log(1-x)]; +inf outside [0, 1].

    ``Uniform(0, 1)`` against ``Beta(1, 1)`` gives exactly 0 (torch #144279 gives NaN).
    """
    xp, dtype, lo, hi, neg_h, (a, b) = _uniform(
        p, concentration1=q.concentration1, concentration0=q.concentration0
    )
    outside = (lo < 0) | (hi > 1)
    lo_c = xp.where(outside, scalar(xp, 0.25, lo), lo)
    hi_c = xp.where(outside, scalar(xp, 0.75, hi), hi)
    out = (
        neg_h
        + S.betaln(a, b)
        - (a - 1) * _uniform_mean_log(xp, lo_c, hi_c)
        - (b - 1) * _uniform_mean_log1m(xp, lo_c, hi_c)
    )
    return finish(xp, inf_where(xp, outside, out), dtype)


@register_kl(C.Uniform, C.ContinuousBernoulli)
def kl_uniform_cb(p: Any, q: Any) -> Any:
    """-H(p) - E[x] logit(l) - log(1 - l) - log C(l); +inf outside [0, 1] (finite on [0, 1] itself)."""
    xp, dtype, lo, hi, neg_h, (x,) = _uniform(p, lam=cb_param(q))
    lam = cb_lambda(xp, q, x)
    log_c, _, _, logit = cb_stats(xp, lam)
    out = neg_h - 0.5 * (lo + hi) * logit - xp.log1p(-lam) - log_c
    return finish(xp, inf_where(xp, (lo < 0) | (hi > 1), out), dtype)


@register_kl(C.Uniform, C.Exponential)
def kl_uniform_exponential(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (r,) = _uniform(p, rate=q.rate)
    out = neg_h + _neg_log_exponential(xp, 0.5 * (lo + hi), r)
    return finish(xp, inf_where(xp, lo < 0, out), dtype)


@register_kl(C.Uniform, C.Gamma)
def kl_uniform_gamma(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (a, b) = _uniform(p, concentration=q.concentration, rate=q.rate)
    outside = lo < 0
    lo_c = xp.where(outside, scalar(xp, 1.0, lo), lo)
    hi_c = xp.where(outside, scalar(xp, 2.0, hi), hi)
    out = neg_h + _neg_log_gamma(xp, 0.5 * (lo + hi), _uniform_mean_log(xp, lo_c, hi_c), a, b)
    return finish(xp, inf_where(xp, outside, out), dtype)


@register_kl(C.Uniform, C.Gumbel)
def kl_uniform_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (loc, scale) = _uniform(p, loc=q.loc, scale=q.scale)
    # E[exp(-x/b)] = b (exp(-l/b) - exp(-h/b)) / (h - l)
    mexp = scale * (xp.exp(-lo / scale) - xp.exp(-hi / scale)) / (hi - lo)
    return finish(xp, neg_h + _neg_log_gumbel(xp, 0.5 * (lo + hi), mexp, loc, scale), dtype)


@register_kl(C.Uniform, C.Normal)
def kl_uniform_normal(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (loc, scale) = _uniform(p, loc=q.loc, scale=q.scale)
    m = 0.5 * (lo + hi)
    w = hi - lo
    return finish(xp, neg_h + _neg_log_normal(xp, m, w * w / 12 + m * m, loc, scale), dtype)


@register_kl(C.Uniform, C.Pareto)
def kl_uniform_pareto(p: Any, q: Any) -> Any:
    """-H(p) - log a - a log s + (a + 1) E[log x]; +inf where low < scale."""
    xp, dtype, lo, hi, neg_h, (s, a) = _uniform(p, scale_q=q.scale, alpha=q.alpha)
    outside = lo < s
    lo_c = xp.where(outside, s, lo)
    hi_c = xp.where(outside, s + 1, hi)
    out = neg_h - xp.log(a) - a * xp.log(s) + (a + 1) * _uniform_mean_log(xp, lo_c, hi_c)
    return finish(xp, inf_where(xp, outside, out), dtype)
