"""Cross-family pairs with p on a bounded support: Beta, ContinuousBernoulli, Uniform.

Where p puts mass outside q's support the KL is +inf, depending on the
parameters: ``Uniform(low, high)`` against ``Beta`` or ``ContinuousBernoulli``
unless 0 <= low and high <= 1; against ``Exponential``/``Gamma`` where
low < 0; against ``Pareto`` where low < scale; ``Beta``/``ContinuousBernoulli``
against ``Uniform`` unless low <= 0 and 1 <= high.

Differences from torch (bugs there, not copied): ``KL(Uniform(0, 1) ||
Beta(1, 1))`` is 0 here (torch #144279: NaN from ``0 * log 0``), and
``KL(ContinuousBernoulli || Uniform(0, 1))`` and ``KL(Uniform(0, 1) ||
ContinuousBernoulli)`` are finite here (torch compares the support bounds
with ``>=`` / ``<=`` and returns +inf for the exact cover [0, 1]).
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends.distributions import special as S
from kl_backends.distributions._helpers import (
    finish,
    inf_where,
    log_ratio,
    nonnegative,
    prep,
    scalar,
    xlogx,
)
from kl_backends.distributions._registry import register_kl
from kl_backends.distributions.families import (
    Beta,
    ContinuousBernoulli,
    Exponential,
    Gamma,
    Gumbel,
    Normal,
    Pareto,
    Uniform,
)
from kl_backends.distributions.families.bounded import beta_entropy, cb_entropy, cb_stats
from kl_backends.distributions.pairs.moments import (
    kl_gumbel_q,
    kl_normal_q,
    neg_log_exponential,
    neg_log_gamma,
)


def _beta(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    """xp, dtype, a, b, -H(p), and q's parameters, all prepared together."""
    xp, (a, b, *rest), dtype = prep(
        concentration1=p.concentration1, concentration0=p.concentration0, **q
    )
    return xp, dtype, a, b, -beta_entropy(xp, a, b), rest


@register_kl(Beta, Exponential)
@nonnegative
def kl_beta_exponential(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (r,) = _beta(p, rate=q.rate)
    return finish(xp, neg_h + neg_log_exponential(xp, a / (a + b), r), dtype)


@register_kl(Beta, Gamma)
@nonnegative
def kl_beta_gamma(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (ca, rb) = _beta(p, concentration=q.concentration, rate=q.rate)
    mlog = S.digamma(a) - S.digamma(a + b)
    return finish(xp, neg_h + neg_log_gamma(xp, a / (a + b), mlog, ca, rb), dtype)


@register_kl(Beta, Normal)
@nonnegative
def kl_beta_normal(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (loc, scale) = _beta(p, loc=q.loc, scale=q.scale)
    s = a + b
    m = a / s
    sd = xp.sqrt(m * (1 - m) / (s + 1))
    return finish(xp, kl_normal_q(xp, -neg_h, None, m, sd, loc, scale), dtype)


@register_kl(Beta, Uniform)
@nonnegative
def kl_beta_uniform(p: Any, q: Any) -> Any:
    """-H(p) + log(high - low); +inf unless low <= 0 and 1 <= high."""
    xp, dtype, _, _, neg_h, (lo, hi) = _beta(p, low=q.low, high=q.high)
    out = neg_h + xp.log(hi - lo)
    return finish(xp, inf_where(xp, (lo > 0) | (hi < 1), out), dtype)


@register_kl(Beta, ContinuousBernoulli)
@nonnegative
def kl_beta_cb(p: Any, q: Any) -> Any:
    xp, dtype, a, b, neg_h, (x,) = _beta(p, lam=q._param())
    lam = q._probs_from(xp, x)
    log_c, _, _, logit = cb_stats(xp, lam)
    return finish(xp, neg_h - (a / (a + b)) * logit - xp.log1p(-lam) - log_c, dtype)


def _cb(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    """xp, dtype, mean, variance, -H(p), q's parameters."""
    xp, (x, *rest), dtype = prep(lam=p._param(), **q)
    lam = p._probs_from(xp, x)
    _, mean, var, _ = cb_stats(xp, lam)
    return xp, dtype, mean, var, -cb_entropy(xp, lam), rest


@register_kl(ContinuousBernoulli, Exponential)
@nonnegative
def kl_cb_exponential(p: Any, q: Any) -> Any:
    xp, dtype, mean, _, neg_h, (r,) = _cb(p, rate=q.rate)
    return finish(xp, neg_h + neg_log_exponential(xp, mean, r), dtype)


@register_kl(ContinuousBernoulli, Normal)
@nonnegative
def kl_cb_normal(p: Any, q: Any) -> Any:
    xp, dtype, mean, var, neg_h, (loc, scale) = _cb(p, loc=q.loc, scale=q.scale)
    return finish(xp, kl_normal_q(xp, -neg_h, None, mean, xp.sqrt(var), loc, scale), dtype)


@register_kl(ContinuousBernoulli, Uniform)
@nonnegative
def kl_cb_uniform(p: Any, q: Any) -> Any:
    """-H(p) + log(high - low); +inf unless low <= 0 and 1 <= high (torch: also at the bounds)."""
    xp, dtype, _, _, neg_h, (lo, hi) = _cb(p, low=q.low, high=q.high)
    out = neg_h + xp.log(hi - lo)
    return finish(xp, inf_where(xp, (lo > 0) | (hi < 1), out), dtype)


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


@register_kl(Uniform, Beta)
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


@register_kl(Uniform, ContinuousBernoulli)
@nonnegative
def kl_uniform_cb(p: Any, q: Any) -> Any:
    """-H(p) - E[x] logit(l) - log(1 - l) - log C(l); +inf outside [0, 1] (finite on [0, 1] itself)."""
    xp, dtype, lo, hi, neg_h, (x,) = _uniform(p, lam=q._param())
    lam = q._probs_from(xp, x)
    log_c, _, _, logit = cb_stats(xp, lam)
    out = neg_h - 0.5 * (lo + hi) * logit - xp.log1p(-lam) - log_c
    return finish(xp, inf_where(xp, (lo < 0) | (hi > 1), out), dtype)


@register_kl(Uniform, Exponential)
@nonnegative
def kl_uniform_exponential(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (r,) = _uniform(p, rate=q.rate)
    out = neg_h + neg_log_exponential(xp, 0.5 * (lo + hi), r)
    return finish(xp, inf_where(xp, lo < 0, out), dtype)


@register_kl(Uniform, Gamma)
@nonnegative
def kl_uniform_gamma(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, neg_h, (a, b) = _uniform(p, concentration=q.concentration, rate=q.rate)
    outside = lo < 0
    lo_c = xp.where(outside, scalar(xp, 1.0, lo), lo)
    hi_c = xp.where(outside, scalar(xp, 2.0, hi), hi)
    out = neg_h + neg_log_gamma(xp, 0.5 * (lo + hi), _uniform_mean_log(xp, lo_c, hi_c), a, b)
    return finish(xp, inf_where(xp, outside, out), dtype)


@register_kl(Uniform, Gumbel)
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
    return finish(xp, kl_gumbel_q(xp, 0.0, w, mean, log_e, loc, scale), dtype)


@register_kl(Uniform, Normal)
@nonnegative
def kl_uniform_normal(p: Any, q: Any) -> Any:
    xp, dtype, lo, hi, _, (loc, scale) = _uniform(p, loc=q.loc, scale=q.scale)
    w = hi - lo  # H(p) = log w, standard deviation w / sqrt(12)
    m = 0.5 * lo + 0.5 * hi
    return finish(xp, kl_normal_q(xp, 0.0, w, m, w / math.sqrt(12), loc, scale), dtype)


@register_kl(Uniform, Pareto)
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
