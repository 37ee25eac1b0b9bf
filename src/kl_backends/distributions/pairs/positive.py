"""Cross-family pairs with p on the positive half-line: Exponential, Gamma, Chi2, Weibull, Pareto.

``Pareto`` p gives +inf against ``Exponential``/``Gamma`` where alpha <= 1 (infinite mean),
against ``Normal`` where alpha <= 2.
"""

from __future__ import annotations

from typing import Any

from kl_backends.distributions import special as S
from kl_backends.distributions._helpers import (
    EULER,
    finish,
    inf_where,
    log_ratio,
    nonnegative,
    prep,
    scalar,
)
from kl_backends.distributions._registry import register_kl
from kl_backends.distributions.families import (
    Chi2,
    Exponential,
    Gamma,
    Gumbel,
    Normal,
    Pareto,
    Weibull,
)
from kl_backends.distributions.families.positive import gamma_entropy, gamma_kl
from kl_backends.distributions.pairs.moments import (
    kl_gumbel_q,
    kl_normal_q,
    neg_log_exponential,
    neg_log_gamma,
)


@register_kl(Exponential, Gamma)
@nonnegative
def kl_exponential_gamma(p: Any, q: Any) -> Any:
    """Exp(l) = Gamma(1, l): the Gamma-Gamma form."""
    xp, (r, a, b), dtype = prep(rate=p.rate, concentration=q.concentration, rate_q=q.rate)
    return finish(xp, gamma_kl(xp, 1 + 0.0 * r, r, a, b), dtype)


@register_kl(Exponential, Gumbel)
@nonnegative
def kl_exponential_gumbel(p: Any, q: Any) -> Any:
    xp, (r, loc, scale), dtype = prep(rate=p.rate, loc=q.loc, scale=q.scale)
    s = 1 / r  # H(p) = 1 + log s
    log_e = loc / scale - xp.log1p(s / scale)  # E[exp(-x/b)] = r / (r + 1/b)
    return finish(xp, kl_gumbel_q(xp, 1.0, s, s, log_e, loc, scale), dtype)


@register_kl(Exponential, Normal)
@nonnegative
def kl_exponential_normal(p: Any, q: Any) -> Any:
    xp, (r, loc, scale), dtype = prep(rate=p.rate, loc=q.loc, scale=q.scale)
    s = 1 / r  # H(p) = 1 + log s, mean = standard deviation = s
    return finish(xp, kl_normal_q(xp, 1.0, s, s, s, loc, scale), dtype)


def _gamma(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (a, b, *rest), dtype = prep(concentration=p.concentration, rate=p.rate, **q)
    return xp, dtype, a, b, -gamma_entropy(xp, a, b), rest


@register_kl(Gamma, Exponential)
@nonnegative
def kl_gamma_exponential(p: Any, q: Any) -> Any:
    xp, dtype, a, b, _, (r,) = _gamma(p, rate_q=q.rate)
    return finish(xp, gamma_kl(xp, a, b, 1 + 0.0 * r, r), dtype)


@register_kl(Gamma, Gumbel)
@nonnegative
def kl_gamma_gumbel(p: Any, q: Any) -> Any:
    xp, dtype, a, b, _, (loc, scale) = _gamma(p, loc=q.loc, scale=q.scale)
    s = 1 / b  # H(p) = h0 + log s
    h0 = gamma_entropy(xp, a, 1 + 0.0 * b)
    log_e = loc / scale - a * xp.log1p(s / scale)  # E[exp(-x/c)] = (1 + s/c)^-a
    return finish(xp, kl_gumbel_q(xp, h0, s, a * s, log_e, loc, scale), dtype)


@register_kl(Gamma, Normal)
@nonnegative
def kl_gamma_normal(p: Any, q: Any) -> Any:
    xp, dtype, a, b, _, (loc, scale) = _gamma(p, loc=q.loc, scale=q.scale)
    s = 1 / b  # H(p) = h0 + log s, mean a s, standard deviation sqrt(a) s
    h0 = gamma_entropy(xp, a, 1 + 0.0 * b)
    return finish(xp, kl_normal_q(xp, h0, s, a * s, xp.sqrt(a) * s, loc, scale), dtype)


@register_kl(Chi2, Gamma)
@nonnegative
def kl_chi2_gamma(p: Any, q: Any) -> Any:
    """Chi2(k) = Gamma(k/2, rate 1/2) (TFP registers this pair)."""
    xp, (k, a, b), dtype = prep(df=p.df, concentration=q.concentration, rate=q.rate)
    return finish(xp, gamma_kl(xp, k / 2, 0.5 + 0.0 * k, a, b), dtype)


@register_kl(Gamma, Chi2)
@nonnegative
def kl_gamma_chi2(p: Any, q: Any) -> Any:
    xp, (a, b, k), dtype = prep(concentration=p.concentration, rate=p.rate, df=q.df)
    return finish(xp, gamma_kl(xp, a, b, k / 2, 0.5 + 0.0 * k), dtype)


@register_kl(Weibull, Gamma)
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


def _pareto(p: Any, **q: Any) -> tuple[Any, Any, Any, Any, Any, list[Any]]:
    xp, (s, a, *rest), dtype = prep(scale=p.scale, alpha=p.alpha, **q)
    return xp, dtype, s, a, -(xp.log(s / a) + 1 / a + 1), rest


def _pareto_mean(xp: Any, s: Any, a: Any) -> Any:
    """a s / (a - 1), with alpha <= 1 kept finite here (the caller puts +inf there)."""
    a_safe = xp.where(a > 1, a, scalar(xp, 2.0, a))
    return a_safe * s / (a_safe - 1)


@register_kl(Pareto, Exponential)
@nonnegative
def kl_pareto_exponential(p: Any, q: Any) -> Any:
    xp, dtype, s, a, neg_h, (r,) = _pareto(p, rate_q=q.rate)
    out = neg_h + neg_log_exponential(xp, _pareto_mean(xp, s, a), r)
    return finish(xp, inf_where(xp, a <= 1, out), dtype)


@register_kl(Pareto, Gamma)
@nonnegative
def kl_pareto_gamma(p: Any, q: Any) -> Any:
    xp, dtype, s, a, neg_h, (ca, rb) = _pareto(p, concentration=q.concentration, rate_q=q.rate)
    mlog = xp.log(s) + 1 / a
    out = neg_h + neg_log_gamma(xp, _pareto_mean(xp, s, a), mlog, ca, rb)
    return finish(xp, inf_where(xp, a <= 1, out), dtype)


@register_kl(Pareto, Normal)
@nonnegative
def kl_pareto_normal(p: Any, q: Any) -> Any:
    xp, dtype, s, a, _, (loc, scale) = _pareto(p, loc=q.loc, scale_q=q.scale)
    a_safe = xp.where(a > 2, a, scalar(xp, 3.0, a))
    h0 = 1 / a_safe + 1 - xp.log(a_safe)  # H(p) = h0 + log s
    sd = s * (xp.sqrt(a_safe / (a_safe - 2)) / (a_safe - 1))
    out = kl_normal_q(xp, h0, s, _pareto_mean(xp, s, a_safe), sd, loc, scale)
    return finish(xp, inf_where(xp, a <= 2, out), dtype)
