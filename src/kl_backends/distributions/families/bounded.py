"""Families on a bounded support: Uniform, Beta, ContinuousBernoulli, and VonMises on the circle.

Each family's entropy, log-density and sampler, with its same-family KL beside
it.  Identical distributions give exactly 0; ``Uniform`` gives +inf unless
[low_p, high_p] lies inside [low_q, high_q].

References: Kurt (2013) for Beta; Loaiza-Ganem & Cunningham (2019) for the
continuous Bernoulli.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kl_backends.distributions import special as S
from kl_backends.distributions._base import (
    NONNEGATIVE,
    POSITIVE,
    REAL,
    UNIT_INTERVAL,
    Distribution,
    ProbsOrLogits,
    declare,
)
from kl_backends.distributions._helpers import (
    LOG_2PI,
    as_like,
    done,
    finish,
    inf_where,
    log_ratio,
    nonnegative,
    params,
    prep,
    sample_shape,
    scalar,
    where_support,
    xlogy,
)
from kl_backends.distributions._registry import family, register_kl

if TYPE_CHECKING:
    from kl_backends.distributions._sampling import Stream

__all__ = [
    "Beta",
    "ContinuousBernoulli",
    "Uniform",
    "VonMises",
    "beta_entropy",
    "cb_entropy",
    "cb_stats",
]


@family
@dataclass(frozen=True)
class Uniform(Distribution):
    r"""The continuous uniform distribution on :math:`[a, b)`.

    Parameters
    ----------
    low : array_like
        The lower end :math:`a`, real.
    high : array_like
        The upper end :math:`b`, real, > ``low``.

    Notes
    -----
    .. math:: p(x) = \frac{1}{b - a}, \quad a \le x < b

    The KL is ``+inf`` where p's interval is not inside q's support.

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Uniform, kl
    >>> print(np.round(kl(Uniform(0.0, 1.0), Uniform(-1.0, 2.0)), 6))  # log 3
    1.098612
    """

    domains = declare(low=REAL, high=REAL)
    ordered = (("low", "high"),)

    low: Any
    high: Any

    def _entropy(self) -> Any:
        xp, (lo, hi), dtype = prep(low=self.low, high=self.high)
        return finish(xp, xp.log(hi - lo), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (lo, hi), dtype = params(self, "low", "high")
        x = as_like(xp, x, lo)
        lp = -xp.log(hi - lo) + 0.0 * x
        return finish(xp, where_support(xp, (x >= lo) & (x < hi), lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (lo, hi), dtype = params(self, "low", "high")
        return done(xp, lo + (hi - lo) * rs.uniform(sample_shape(n, lo)), dtype)


@register_kl(Uniform, Uniform)
@nonnegative
def kl_uniform_uniform(p: Any, q: Any) -> Any:
    """Uniform: log((high_q - low_q) / (high_p - low_p)); +inf unless p's interval lies in q's."""
    xp, (lp, hp, lq, hq), dtype = prep(low_p=p.low, high_p=p.high, low_q=q.low, high_q=q.high)
    out = log_ratio(xp, hq - lq, hp - lp)
    out = inf_where(xp, (lq > lp) | (hq < hp), out)
    return finish(xp, out, dtype)


def beta_entropy(xp: Any, a: Any, b: Any) -> Any:
    s = a + b
    return S.betaln(a, b) - (a - 1) * S.digamma(a) - (b - 1) * S.digamma(b) + (s - 2) * S.digamma(s)


@family
@dataclass(frozen=True)
class Beta(Distribution):
    r"""The beta distribution on :math:`(0, 1)`.

    Parameters
    ----------
    concentration1 : array_like
        :math:`\alpha`, > 0 (the exponent of :math:`x`, plus one).
    concentration0 : array_like
        :math:`\beta`, > 0 (the exponent of :math:`1 - x`, plus one).

    Notes
    -----
    .. math:: p(x) = \frac{x^{\alpha - 1} (1 - x)^{\beta - 1}}{B(\alpha, \beta)},
        \quad 0 < x < 1

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Beta, kl
    >>> print(np.round(kl(Beta(2.0, 3.0), Beta(3.0, 2.0)), 6))
    0.5
    """

    domains = declare(concentration1=POSITIVE, concentration0=POSITIVE)

    concentration1: Any
    concentration0: Any

    def _entropy(self) -> Any:
        xp, (a, b), dtype = prep(
            concentration1=self.concentration1, concentration0=self.concentration0
        )
        return finish(xp, beta_entropy(xp, a, b), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a, b), dtype = params(self, "concentration1", "concentration0")
        x = as_like(xp, x, a)
        inside = (x > 0) & (x < 1)
        safe = xp.where(inside, x, scalar(xp, 0.5, x))
        lp = xlogy(xp, a - 1, safe) + (b - 1) * xp.log1p(-safe) - S.betaln(a, b)
        return finish(xp, where_support(xp, inside, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (a, b), dtype = params(self, "concentration1", "concentration0")
        ga, gb = rs.gamma(a, sample_shape(n, a)), rs.gamma(b, sample_shape(n, b))
        return done(xp, ga / (ga + gb), dtype)


@register_kl(Beta, Beta)
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


@family
@dataclass(frozen=True)
class VonMises(Distribution):
    r"""The von Mises distribution on the circle.

    Parameters
    ----------
    loc : array_like
        The mean direction :math:`\mu` (radians), real.
    concentration : array_like
        :math:`\kappa`, >= 0 (0: the uniform distribution on the circle).

    Notes
    -----
    .. math:: p(x) = \frac{e^{\kappa \cos(x - \mu)}}{2\pi I_0(\kappa)},
        \quad x \in [-\pi, \pi)

    No sampler here (so no ``sample`` or ``monte_carlo_kl`` with p a ``VonMises``).

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import VonMises, kl
    >>> print(np.round(kl(VonMises(0.0, 1.0), VonMises(1.0, 2.0)), 6))
    0.552098
    """

    domains = declare(loc=REAL, concentration=NONNEGATIVE)

    loc: Any
    concentration: Any

    def _entropy(self) -> Any:
        xp, (m, k), dtype = prep(loc=self.loc, concentration=self.concentration)
        g = S.one_minus_bessel_ratio(k)
        return finish(xp, LOG_2PI + S.log_i0e(k) + k * g + 0.0 * m, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (m, k), dtype = params(self, "loc", "concentration")
        x = as_like(xp, x, m)
        lp = k * (xp.cos(x - m) - 1) - LOG_2PI - S.log_i0e(k)
        return finish(xp, lp, dtype)


@register_kl(VonMises, VonMises)
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


# --- ContinuousBernoulli ------------------------------------------------------------------------

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


def cb_entropy(xp: Any, lam: Any) -> Any:
    log_c, mean, _, logit = cb_stats(xp, lam)
    return -log_c - xp.log1p(-lam) - mean * logit


@family
@dataclass(frozen=True)
class ContinuousBernoulli(ProbsOrLogits):
    r"""The continuous Bernoulli distribution on :math:`[0, 1]` (Loaiza-Ganem and Cunningham, 2019).

    Parameters
    ----------
    probs : array_like, optional
        :math:`\lambda`, in [0, 1].
    logits : array_like, optional
        :math:`\log\frac{\lambda}{1 - \lambda}`, real.  Give exactly one of
        ``probs`` and ``logits`` (``ValueError`` otherwise).

    Notes
    -----
    .. math:: p(x) = C(\lambda)\, \lambda^x (1 - \lambda)^{1 - x}, \quad 0 \le x \le 1,
        \qquad C(\lambda) = \frac{2\,\operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda}
        \;(C(1/2) = 2)

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import ContinuousBernoulli, kl
    >>> print(np.round(kl(ContinuousBernoulli(0.3), ContinuousBernoulli(0.6)), 6))
    0.064519
    """

    domains = declare(probs=UNIT_INTERVAL, logits=REAL)

    def _entropy(self) -> Any:
        xp, (x,), dtype = prep(probs=self._param())
        lam = self._probs_from(xp, x)
        return finish(xp, cb_entropy(xp, lam), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a,), dtype = prep(probs=self._param())
        lam = self._probs_from(xp, a)
        x = as_like(xp, x, lam)
        log_c = cb_stats(xp, lam)[0]
        lp = log_c + xlogy(xp, x, lam) + xlogy(xp, 1 - x, 1 - lam)
        return finish(xp, where_support(xp, (x >= 0) & (x <= 1), lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        """Inverse CDF: log1p(u (2 l - 1) / (1 - l)) / log(l / (1 - l)); u itself near l = 1/2."""
        xp, (a,), dtype = prep(probs=self._param())
        lam = self._probs_from(xp, a)
        u = rs.uniform(sample_shape(n, lam))
        near = xp.abs(lam - 0.5) < 1e-3
        safe = xp.where(near, scalar(xp, 0.25, lam), lam)
        x = xp.log1p(u * (2 * safe - 1) / (1 - safe)) / (xp.log(safe) - xp.log1p(-safe))
        # second order in (l - 1/2): x = u + 2 u (1 - u) (l - 1/2) + O((l - 1/2)^2)
        x = xp.where(near, u + 2 * u * (1 - u) * (lam - 0.5), x)
        return done(xp, x, dtype)


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
@nonnegative
def kl_cb_cb(p: Any, q: Any) -> Any:
    """ContinuousBernoulli: E_p[x](logit_p - logit_q) + log C_p - log C_q + log((1 - l_p)/(1 - l_q))."""
    xp, (a, b), dtype = prep(p=p._param(), q=q._param())
    lp, lq = p._probs_from(xp, a), q._probs_from(xp, b)
    cp, mp, _, gp = cb_stats(xp, lp)
    cq, _, _, gq = cb_stats(xp, lq)
    out = mp * (gp - gq) + (cp - cq) + (xp.log1p(-lp) - xp.log1p(-lq))
    return finish(xp, out, dtype)
