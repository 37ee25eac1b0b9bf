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
from kl_backends.distributions._helpers import (
    EULER,
    finish,
    inf_where,
    log_ratio,
    nonnegative,
    prep,
    scalar,
    xlog1mx,
    xlogx,
)
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


def _log_scale(xp: Any, scale: Any, s: Any) -> Any:
    """log(scale / s); log(scale) where p has no scale (``s is None``)."""
    return xp.log(scale) if s is None else log_ratio(xp, scale, s)


def _kl_normal_q(xp: Any, h0: Any, s: Any, mean: Any, sd: Any, loc: Any, scale: Any) -> Any:
    """KL(p || N(loc, scale^2)) for p with entropy ``h0 + log s``, mean and standard deviation.

    ``-H(p) - E[log q] = -h0 + log(2 pi)/2 + log(scale / s) + (z^2 + v^2) / 2`` with
    ``z = (mean - loc) / scale``, ``v = sd / scale``: ratios first, so that scales near
    the ends of the float range (1e30 in float32) neither overflow nor cancel.
    """
    z = (mean - loc) / scale
    v = sd / scale
    return 0.5 * _LOG_2PI - h0 + _log_scale(xp, scale, s) + 0.5 * (z * z) + 0.5 * (v * v)


def _kl_gumbel_q(xp: Any, h0: Any, s: Any, mean: Any, log_e: Any, loc: Any, scale: Any) -> Any:
    """KL(p || Gumbel(loc, scale)) for p with entropy ``h0 + log s``, mean and
    ``log_e = log E[exp((loc - x) / scale)]`` (one exponent: no exp(loc/scale) to overflow alone).

    ``-H(p) - E[log q] = -h0 + log(scale / s) + (mean - loc) / scale + exp(log_e)``; +inf
    where ``exp(log_e)`` is (not ``inf - inf`` against a linear term of -inf).
    """
    e = xp.exp(log_e)
    out = -h0 + _log_scale(xp, scale, s) + (mean - loc) / scale + e
    return inf_where(xp, e == math.inf, out)


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
@nonnegative
def kl_beta_exponential(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (r,) = _beta(p, rate=q.rate)
    return finish(xp, neg_h + _neg_log_exponential(xp, a / (a + b), r), dtype)


@register_kl(C.Beta, C.Gamma)
@nonnegative
def kl_beta_gamma(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (ca, rb) = _beta(p, concentration=q.concentration, rate=q.rate)
    mlog = S.digamma(a) - S.digamma(a + b)
    return finish(xp, neg_h + _neg_log_gamma(xp, a / (a + b), mlog, ca, rb), dtype)


@register_kl(C.Beta, C.Normal)
@nonnegative
def kl_beta_normal(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (loc, scale) = _beta(p, loc=q.loc, scale=q.scale)
    s = a + b
    m = a / s
    sd = xp.sqrt(m * (1 - m) / (s + 1))
    return finish(xp, _kl_normal_q(xp, -neg_h, None, m, sd, loc, scale), dtype)


@register_kl(C.Beta, C.Uniform)
@nonnegative
def kl_beta_uniform(p: Any, q: Any) -> Any:
    """-H(p) + log(high - low); +inf unless low <= 0 and 1 <= high."""
    xp, dtype, _, _, neg_h, (lo, hi) = _beta(p, low=q.low, high=q.high)
    out = neg_h + xp.log(hi - lo)
    return finish(xp, inf_where(xp, (lo > 0) | (hi < 1), out), dtype)


@register_kl(C.Beta, C.ContinuousBernoulli)
@nonnegative
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
@nonnegative
def kl_cb_exponential(p: Any, q: Any) -> Any:
    xp, dtype, mean, _, neg_h, (r,) = _cb(p, rate=q.rate)
    return finish(xp, neg_h + _neg_log_exponential(xp, mean, r), dtype)


@register_kl(C.ContinuousBernoulli, C.Normal)
@nonnegative
def kl_cb_normal(p: Any, q: Any) -> Any:
    xp, dtype, mean, var, neg_h, (loc, scale) = _cb(p, loc=q.loc, scale=q.scale)
    return finish(xp, _kl_normal_q(xp, -neg_h, None, mean, xp.sqrt(var), loc, scale), dtype)


@register_kl(C.ContinuousBernoulli, C.Uniform)
@nonnegative
def kl_cb_uniform(p: Any, q: Any) -> Any:
    """-H(p) + log(high - low); +inf unless low <= 0 and 1 <= high (torch: also at the bounds)."""
    xp, dtype, _, _, neg_h, (lo, hi) = _cb(p, low=q.low, high=q.high)
    out = neg_h + xp.log(hi - lo)
    return finish(xp, inf_where(xp, (lo > 0) | (hi < 1), out), dtype)


# --- Exponential p --------------------------------------------------------------------------


@register_kl(C.Exponential, C.Gamma)
@nonnegative
def kl_exponential_gamma(p: Any, q: Any) -> Any:
    """Exp(l) = Gamma(1, l): the Gamma-Gamma form."""
    xp, (r, a, b), dtype = prep(rate=p.rate, concentration=q.concentration, rate_q=q.rate)
    return finish(xp, _kl_gamma(xp, 1 + 0.0 * r, r, a, b), dtype)


@register_kl(C.Exponential, C.Gumbel)
@nonnegative
def kl_exponential_gumbel(p: Any, q: Any) -> Any:
    xp, (r, loc, scale), dtype = prep(rate=p.rate, loc=q.loc, scale=q.scale)
    s = 1 / r  # H(p) = 1 + log s
    log_e = loc / scale - xp.log1p(s / scale)  # E[exp(-x/b)] = r / (r + 1/b)
    return finish(xp, _kl_gumbel_q(xp, 1.0, s, s, log_e, loc, scale), dtype)


@register_kl(C.Exponential, C.Normal)
@nonnegative
def kl_exponential_normal(p: Any, q: Any) -> Any:
    xp, (r, loc, scale), dtype = prep(rate=p.rate, loc=q.loc, scale=q.scale)
    s = 1 / r  # H(p) = 1 + log s, mean = standard deviation = s
    return finish(xp, _kl_normal_q(xp, 1.0, s, s, s, loc, scale), dtype)


# --- Gamma p --------------------------------------------------------------------------------


def _gamma(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (a, b, *rest), dtype = prep(concentration=p.concentration, rate=p.rate, **q)
    return xp, dtype, a, b, -_entropy_gamma(xp, a, b), rest


@register_kl(C.Gamma, C.Exponential)
@nonnegative
def kl_gamma_exponential(p: Any, q: Any) -> Any:
    xp, dtype, a, b, _, (r,) = _gamma(p, rate_q=q.rate)
    return finish(xp, _kl_gamma(xp, a, b, 1 + 0.0 * r, r), dtype)


@register_kl(C.Gamma, C.Gumbel)
@nonnegative
def kl_gamma_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, a, b, _, (loc, scale) = _gamma(p, loc=q.loc, scale=q.scale)
    s = 1 / b  # H(p) = h0 + log s
    h0 = _entropy_gamma(xp, a, 1 + 0.0 * b)
    log_e = loc / scale - a * xp.log1p(s / scale)  # E[exp(-x/c)] = (1 + s/c)^-a
    return finish(xp, _kl_gumbel_q(xp, h0, s, a * s, log_e, loc, scale), dtype)


@register_kl(C.Gamma, C.Normal)
@nonnegative
def kl_gamma_normal(p: Any, q: Any) -> Any:
    xp, dtype, a, b, _, (loc, scale) = _gamma(p, loc=q.loc, scale=q.scale)
    s = 1 / b  # H(p) = h0 + log s, mean a s, standard deviation sqrt(a) s
    h0 = _entropy_gamma(xp, a, 1 + 0.0 * b)
    return finish(xp, _kl_normal_q(xp, h0, s, a * s, xp.sqrt(a) * s, loc, scale), dtype)


@register_kl(C.Chi2, C.Gamma)
@nonnegative
def kl_chi2_gamma(p: Any, q: Any) -> Any:
    """Chi2(k) = Gamma(k/2, rate 1/2) (TFP registers this pair)."""
    xp, (k, a, b), dtype = prep(df=p.df, concentration=q.concentration, rate=q.rate)
    return finish(xp, _kl_gamma(xp, k / 2, 0.5 + 0.0 * k, a, b), dtype)


@register_kl(C.Gamma, C.Chi2)
@nonnegative
def kl_gamma_chi2(p: Any, q: Any) -> Any:
    xp, (a, b, k), dtype = prep(concentration=p.concentration, rate=p.rate, df=q.df)
    return finish(xp, _kl_gamma(xp, a, b, k / 2, 0.5 + 0.0 * k), dtype)


@register_kl(C.Weibull, C.Gamma)
@nonnegative
def kl_weibull_gamma(p: Any, q: Any) -> Any:
    """TFP's pair: E[log x] = log l - gamma/k, E[x] = l Gamma(1 + 1/k)."""
    xp, (lam, k, a, b), dtype = prep(
        scale=p.scale, concentration=p.concentration, concentration_q=q.concentration, rate=q.rate
    )
    # -H(p) - E[log q] with the logs of lam and b joined into t = log(b lam) (scale-free)
    t = log_ratio(xp, lam, 1 / b)
    out = (
        xp.log(k)
        - EULER * (1 - 1 / k)
        - 1
        + S.lgamma(a)
        - a * t
        + (a - 1) * (EULER / k)
        + xp.exp(t + S.lgamma(1 + 1 / k))
    )
    return finish(xp, out, dtype)


# --- Gumbel, Laplace, Normal p ------------------------------------------------------------


@register_kl(C.Gumbel, C.Normal)
@nonnegative
def kl_gumbel_normal(p: Any, q: Any) -> Any:
    xp, (m, s, loc, scale), dtype = prep(loc=p.loc, scale=p.scale, loc_q=q.loc, scale_q=q.scale)
    sd = (math.pi / math.sqrt(6)) * s
    return finish(xp, _kl_normal_q(xp, 1 + EULER, s, m + s * EULER, sd, loc, scale), dtype)


@register_kl(C.Laplace, C.Normal)
@nonnegative
def kl_laplace_normal(p: Any, q: Any) -> Any:
    xp, (m, s, loc, scale), dtype = prep(loc=p.loc, scale=p.scale, loc_q=q.loc, scale_q=q.scale)
    h0 = 1 + math.log(2)
    return finish(xp, _kl_normal_q(xp, h0, s, m, math.sqrt(2) * s, loc, scale), dtype)


def _normal(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (m, s, *rest), dtype = prep(loc=p.loc, scale=p.scale, **q)
    return xp, dtype, m, s, -(0.5 * (1 + _LOG_2PI) + xp.log(s)), rest


@register_kl(C.Normal, C.Gumbel)
@nonnegative
def kl_normal_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, m, s, _, (loc, scale) = _normal(p, loc_q=q.loc, scale_q=q.scale)
    z = s / scale
    # log E[exp((loc - x)/b)] = z^2/2 - (m - loc)/b for x ~ N(m, s^2); for z > 1 as
    # z (z/2 - (m - loc)/s), so that neither term overflows alone against the other
    log_e = xp.where(z < 1, 0.5 * (z * z) - (m - loc) / scale, z * (0.5 * z - (m - loc) / s))
    h0 = 0.5 * (1 + _LOG_2PI)
    return finish(xp, _kl_gumbel_q(xp, h0, s, m, log_e, loc, scale), dtype)


@register_kl(C.Normal, C.Laplace)
@nonnegative
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
@nonnegative
def kl_pareto_exponential(p: Any, q: Any) -> Any:
    xp, dtype, s, a, neg_h, (r,) = _pareto(p, rate_q=q.rate)
    out = neg_h + _neg_log_exponential(xp, _pareto_mean(xp, s, a), r)
    return finish(xp, inf_where(xp, a <= 1, out), dtype)


@register_kl(C.Pareto, C.Gamma)
@nonnegative
def kl_pareto_gamma(p: Any, q: Any) -> Any:
    xp, dtype, s, a, neg_h, (ca, rb) = _pareto(p, concentration=q.concentration, rate_q=q.rate)
    mlog = xp.log(s) + 1 / a
    out = neg_h + _neg_log_gamma(xp, _pareto_mean(xp, s, a), mlog, ca, rb)
    return finish(xp, inf_where(xp, a <= 1, out), dtype)


@register_kl(C.Pareto, C.Normal)
@nonnegative
def kl_pareto_normal(p: Any, q: Any) -> Any:
    xp, dtype, s, a, _, (loc, scale) = _pareto(p, loc=q.loc, scale_q=q.scale)
    a_safe = xp.where(a > 2, a, scalar(xp, 3.0, a))
    h0 = 1 / a_safe + 1 - xp.log(a_safe)  # H(p) = h0 + log s
    sd = s * (xp.sqrt(a_safe / (a_safe - 2)) / (a_safe - 1))
    out = _kl_normal_q(xp, h0, s, _pareto_mean(xp, s, a_safe), sd, loc, scale)
    return finish(xp, inf_where(xp, a <= 2, out), dtype)


# --- Bernoulli p ----------------------------------------------------------------------------


@register_kl(C.Bernoulli, C.Poisson)
@nonnegative
def kl_bernoulli_poisson(p: Any, q: Any) -> Any:
    """sum over {0, 1}: (1-p) log((1-p) / e^-r) + p log(p / (r e^-r)) = -H(p) + r - p log r."""
    xp, (a, r), dtype = prep(p=_param(p), rate=q.rate)
    pr = probs_of(p, xp, a)
    zero = pr == 0
    log_r = xp.log(xp.where(zero, scalar(xp, 1.0, r), r))
    out = xlogx(xp, pr) + xlog1mx(xp, pr) + r - xp.where(zero, scalar(xp, 0.0, pr), pr * log_r)
    return finish(xp, out, dtype)


# --- Uniform p ------------------------------------------------------------------------------


def _uniform(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (lo, hi, *rest), dtype = prep(low=p.low, high=p.high, **q)
    return xp, dtype, lo, hi, -xp.log(hi - lo), rest


def _uniform_mean_log(xp: Any, lo: Any, hi: Any) -> Any:
    """E[log x] on U(lo, hi), lo >= 0: (h log h - l log l) / (h - l) - 1 (0 log 0 = 0).

    As ``log h + E[log(x / h)] = log h - rho log rho / (1 - rho) - 1``, ``rho = l / h``:
    no ``h log h`` to overflow.
    """
    return xp.log(hi) + _uniform_mean_log_unit(xp, lo / hi)


def _uniform_mean_log_unit(xp: Any, rho: Any) -> Any:
    """E[log x] on U(rho, 1), 0 <= rho < 1."""
    return -xlogx(xp, rho) / (1 - rho) - 1


def _uniform_mean_log1m(xp: Any, lo: Any, hi: Any) -> Any:
    """E[log(1 - x)] on U(lo, hi), hi <= 1."""
    return -(xlogx(xp, 1 - hi) - xlogx(xp, 1 - lo)) / (hi - lo) - 1


@register_kl(C.Uniform, C.Beta)
@nonnegative
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
@nonnegative
def kl_uniform_cb(p: Any, q: Any) -> Any:
    """-H(p) - E[x] logit(l) - log(1 - l) - log C(l); +inf outside [0, 1] (finite on [0, 1] itself)."""
    xp, dtype, lo, hi, neg_h, (x,) = _uniform(p, lam=cb_param(q))
    lam = cb_lambda(xp, q, x)
    log_c, _, _, logit = cb_stats(xp, lam)
    out = neg_h - 0.5 * (lo + hi) * logit - xp.log1p(-lam) - log_c
    return finish(xp, inf_where(xp, (lo < 0) | (hi > 1), out), dtype)


@register_kl(C.Uniform, C.Exponential)
@nonnegative
def kl_uniform_exponential(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (r,) = _uniform(p, rate=q.rate)
    out = neg_h + _neg_log_exponential(xp, 0.5 * (lo + hi), r)
    return finish(xp, inf_where(xp, lo < 0, out), dtype)


@register_kl(C.Uniform, C.Gamma)
@nonnegative
def kl_uniform_gamma(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (a, b) = _uniform(p, concentration=q.concentration, rate=q.rate)
    outside = lo < 0
    lo_c = xp.where(outside, scalar(xp, 1.0, lo), lo)
    hi_c = xp.where(outside, scalar(xp, 2.0, hi), hi)
    out = neg_h + _neg_log_gamma(xp, 0.5 * (lo + hi), _uniform_mean_log(xp, lo_c, hi_c), a, b)
    return finish(xp, inf_where(xp, outside, out), dtype)


@register_kl(C.Uniform, C.Gumbel)
@nonnegative
def kl_uniform_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, _, (loc, scale) = _uniform(p, loc=q.loc, scale=q.scale)
    w = hi - lo  # H(p) = log w
    # E[exp(-x/b)] = exp(-l/b) g(w/b), g(u) = (1 - exp(-u)) / u (an expm1: no cancellation)
    u = w / scale
    zero = u == 0
    u_safe = xp.where(zero, scalar(xp, 1.0, u), u)
    log_g = xp.where(zero, scalar(xp, 0.0, u), xp.log(-xp.expm1(-u_safe) / u_safe))
    log_e = log_g + (loc - lo) / scale
    mean = 0.5 * lo + 0.5 * hi
    return finish(xp, _kl_gumbel_q(xp, 0.0, w, mean, log_e, loc, scale), dtype)


@register_kl(C.Uniform, C.Normal)
@nonnegative
def kl_uniform_normal(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, _, (loc, scale) = _uniform(p, loc=q.loc, scale=q.scale)
    w = hi - lo  # H(p) = log w, standard deviation w / sqrt(12)
    m = 0.5 * lo + 0.5 * hi
    return finish(xp, _kl_normal_q(xp, 0.0, w, m, w / math.sqrt(12), loc, scale), dtype)


@register_kl(C.Uniform, C.Pareto)
@nonnegative
def kl_uniform_pareto(p: Any, q: Any) -> Any:
    """-H(p) - log a - a log s + (a + 1) E[log x]; +inf where low < scale.

    In ratios (scale-free, no overflow): -log((high - low)/s) - log a + (a + 1) E[log(x/s)],
    E[log(x/s)] = log(high/s) + E[log(x/high)].
    """
    xp, dtype, lo, hi, _, (s, a) = _uniform(p, scale_q=q.scale, alpha=q.alpha)
    outside = lo < s
    lo_c = xp.where(outside, s, lo)
    hi_c = xp.where(outside, 2 * s, hi)
    mean_log = log_ratio(xp, hi_c, s) + _uniform_mean_log_unit(xp, lo_c / hi_c)
    out = -log_ratio(xp, hi_c - lo_c, s) - xp.log(a) + (a + 1) * mean_log
    return finish(xp, inf_where(xp, outside, out), dtype)
