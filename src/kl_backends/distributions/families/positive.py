"""Families on the positive half-line: Exponential, Gamma, Chi2, InverseGamma, Pareto, Weibull.

Each family's entropy, log-density and sampler, with its same-family KL beside
it.  ``Chi2`` and ``Exponential`` are ``Gamma`` distributions, as torch and TFP
make them subclasses (``register_view``): pairs registered for ``Gamma`` serve
them unless a more specific pair is registered.  Identical distributions give
exactly 0 (Weibull, whose formula goes through ``lgamma(2)``: an explicit
equality test); ``Pareto`` gives +inf where scale_p < scale_q (p has mass below
q's support).

References: Gil, Alajaji & Linder, "Renyi divergence measures for commonly
used univariate continuous distributions" (2013) for Pareto and Weibull.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kl_backends._math.closed_forms import kl_exponential
from kl_backends.distributions import special as S
from kl_backends.distributions._base import POSITIVE, Distribution, declare
from kl_backends.distributions._helpers import (
    EULER,
    as_like,
    done,
    expm1_minus,
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
    zero_where_equal,
)
from kl_backends.distributions._registry import family, register_kl, register_view

if TYPE_CHECKING:
    from kl_backends.distributions._sampling import Stream

__all__ = [
    "Chi2",
    "Exponential",
    "Gamma",
    "InverseGamma",
    "Pareto",
    "Weibull",
    "gamma_entropy",
    "gamma_kl",
]


# --- the gamma family ------------------------------------------------------------------------


def gamma_kl(xp: Any, ap: Any, bp: Any, aq: Any, bq: Any) -> Any:
    r"""KL(Gamma(a_p, rate b_p) || Gamma(a_q, rate b_q)).

    .. math:: a_p (e^t - 1 - t) + (a_p - a_q)(\psi(a_p) + t) - \log\Gamma(a_p) + \log\Gamma(a_q),
              \quad t = \log(b_q / b_p)
    """
    t = log_ratio(xp, bq, bp)
    return ap * expm1_minus(xp, t) + (ap - aq) * (S.digamma(ap) + t) - (S.lgamma(ap) - S.lgamma(aq))


def gamma_entropy(xp: Any, a: Any, b: Any) -> Any:
    return a - xp.log(b) + S.lgamma(a) + (1 - a) * S.digamma(a)


def _gamma_log_prob(xp: Any, a: Any, r: Any, x: Any) -> Any:
    pos = x > 0
    safe = xp.where(pos, x, scalar(xp, 1.0, x))
    lp = xlogy(xp, a, r) + xlogy(xp, a - 1, safe) - r * safe - S.lgamma(a)
    # x == 0 is in the support's closure: finite for a == 1, +inf for a < 1.
    at0 = xp.where(
        a == 1, xp.log(r), xp.where(a < 1, scalar(xp, math.inf, r), scalar(xp, -math.inf, r))
    )
    return xp.where(pos, lp, xp.where(x == 0, at0, scalar(xp, -math.inf, lp)))


@family
@dataclass(frozen=True)
class Gamma(Distribution):
    r"""The gamma distribution with shape :math:`\alpha` and rate :math:`\beta`.

    Parameters
    ----------
    concentration : array_like
        The shape :math:`\alpha`, > 0.
    rate : array_like
        The rate :math:`\beta` (1 / scale), > 0.

    Notes
    -----
    .. math:: p(x) = \frac{\beta^\alpha}{\Gamma(\alpha)} x^{\alpha - 1} e^{-\beta x},
        \quad x > 0

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Gamma, kl
    >>> print(np.round(kl(Gamma(2.0, 1.0), Gamma(3.0, 2.0)), 6))
    0.190921
    """

    domains = declare(concentration=POSITIVE, rate=POSITIVE)

    concentration: Any
    rate: Any

    def _entropy(self) -> Any:
        xp, (a, b), dtype = prep(concentration=self.concentration, rate=self.rate)
        return finish(xp, gamma_entropy(xp, a, b), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a, r), dtype = params(self, "concentration", "rate")
        return finish(xp, _gamma_log_prob(xp, a, r, as_like(xp, x, a)), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (a, r), dtype = params(self, "concentration", "rate")
        return done(xp, rs.gamma(a, sample_shape(n, a)) / r, dtype)


@register_kl(Gamma, Gamma)
@nonnegative
def kl_gamma_gamma(p: Any, q: Any) -> Any:
    """Gamma (concentration a, rate b): see ``gamma_kl``."""
    xp, (ap, bp, aq, bq), dtype = prep(
        concentration_p=p.concentration,
        rate_p=p.rate,
        concentration_q=q.concentration,
        rate_q=q.rate,
    )
    return finish(xp, gamma_kl(xp, ap, bp, aq, bq), dtype)


@family
@dataclass(frozen=True)
class Chi2(Distribution):
    r"""The chi-squared distribution, :math:`\mathrm{Gamma}(k/2, 1/2)`.

    Parameters
    ----------
    df : array_like
        The degrees of freedom :math:`k`, > 0 (need not be whole).

    Notes
    -----
    .. math:: p(x) = \frac{x^{k/2 - 1} e^{-x/2}}{2^{k/2}\,\Gamma(k/2)}, \quad x > 0

    Pairs registered for ``Gamma`` serve it too (as torch's subclass).

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Chi2, kl
    >>> print(np.round(kl(Chi2(3.0), Chi2(5.0)), 6))
    0.368975
    """

    domains = declare(df=POSITIVE)

    df: Any

    def _entropy(self) -> Any:
        xp, (k,), dtype = prep(df=self.df)
        return finish(xp, gamma_entropy(xp, k / 2, 0.5 + 0.0 * k), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (k,), dtype = params(self, "df")
        return finish(xp, _gamma_log_prob(xp, k / 2, 0.0 * k + 0.5, as_like(xp, x, k)), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (k,), dtype = params(self, "df")
        return done(xp, 2 * rs.gamma(k / 2, sample_shape(n, k)), dtype)


@register_kl(Chi2, Chi2)
@nonnegative
def kl_chi2_chi2(p: Any, q: Any) -> Any:
    """Chi2(k) = Gamma(k/2, rate 1/2)."""
    xp, (kp, kq), dtype = prep(df_p=p.df, df_q=q.df)
    half = 0.5 + 0.0 * kp
    return finish(xp, gamma_kl(xp, kp / 2, half, kq / 2, 0.5 + 0.0 * kq), dtype)


@family
@dataclass(frozen=True)
class Exponential(Distribution):
    r"""The exponential distribution, :math:`\mathrm{Gamma}(1, \lambda)`.

    Parameters
    ----------
    rate : array_like
        The rate :math:`\lambda` (1 / mean), > 0.

    Notes
    -----
    .. math:: p(x) = \lambda e^{-\lambda x}, \quad x \ge 0

    Pairs registered for ``Gamma`` serve it too (as torch's subclass).

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Exponential, kl
    >>> print(np.round(kl(Exponential(1.0), Exponential(2.0)), 6))
    0.306853
    """

    domains = declare(rate=POSITIVE)

    rate: Any

    def _entropy(self) -> Any:
        xp, (r,), dtype = prep(rate=self.rate)
        return finish(xp, 1 - xp.log(r), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (r,), dtype = params(self, "rate")
        x = as_like(xp, x, r)
        return finish(xp, where_support(xp, x >= 0, xp.log(r) - r * x), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (r,), dtype = params(self, "rate")
        return done(xp, -xp.log(rs.uniform(sample_shape(n, r))) / r, dtype)


@register_kl(Exponential, Exponential)
@nonnegative
def kl_exponential_exponential(p: Any, q: Any) -> Any:
    """Exponential: r - 1 - log r, r = rate_q / rate_p."""
    return kl_exponential(p.rate, q.rate)


def _times(x: Any, c: float) -> Any:
    """``x * c`` for an array, a Python number or a (nested) list of numbers."""
    if isinstance(x, (list, tuple)):
        return [_times(v, c) for v in x]
    return x * c


# torch's Chi2 and TFP's Exponential are Gamma distributions: Gamma's pairs serve them.
register_view(Chi2, Gamma, lambda d: Gamma(_times(d.df, 0.5), 0.5))
register_view(Exponential, Gamma, lambda d: Gamma(1.0, d.rate))


@family
@dataclass(frozen=True)
class InverseGamma(Distribution):
    r"""The inverse-gamma distribution: of :math:`1/X` for a gamma-distributed :math:`X`.

    Parameters
    ----------
    concentration : array_like
        The shape :math:`\alpha`, > 0.
    rate : array_like
        :math:`\beta`, > 0: the rate of :math:`X`, the scale of :math:`1/X`.

    Notes
    -----
    .. math:: p(x) = \frac{\beta^\alpha}{\Gamma(\alpha)} x^{-\alpha - 1} e^{-\beta / x},
        \quad x > 0

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import InverseGamma, kl
    >>> print(np.round(kl(InverseGamma(2.0, 1.0), InverseGamma(3.0, 2.0)), 6))
    0.190921
    """

    domains = declare(concentration=POSITIVE, rate=POSITIVE)

    concentration: Any
    rate: Any

    def _entropy(self) -> Any:
        xp, (a, b), dtype = prep(concentration=self.concentration, rate=self.rate)
        return finish(xp, a + xp.log(b) + S.lgamma(a) - (1 + a) * S.digamma(a), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a, b), dtype = params(self, "concentration", "rate")
        x = as_like(xp, x, a)
        pos = x > 0
        safe = xp.where(pos, x, scalar(xp, 1.0, x))
        lp = a * xp.log(b) - S.lgamma(a) - (a + 1) * xp.log(safe) - b / safe
        return finish(xp, where_support(xp, pos, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (a, b), dtype = params(self, "concentration", "rate")
        return done(xp, b / rs.gamma(a, sample_shape(n, a)), dtype)


@register_kl(InverseGamma, InverseGamma)
@nonnegative
def kl_inversegamma_inversegamma(p: Any, q: Any) -> Any:
    """InverseGamma: equal to the Gamma KL of the same parameters (x -> 1/x keeps the KL)."""
    return kl_gamma_gamma(p, q)


# --- heavy tails and shapes ------------------------------------------------------------------


@family
@dataclass(frozen=True)
class Pareto(Distribution):
    r"""The Pareto (type I) distribution.

    Parameters
    ----------
    scale : array_like
        The minimum :math:`x_m`, > 0.
    alpha : array_like
        The tail index :math:`\alpha`, > 0.

    Notes
    -----
    .. math:: p(x) = \frac{\alpha\, x_m^\alpha}{x^{\alpha + 1}}, \quad x \ge x_m

    The KL is ``+inf`` where p's support starts below q's.

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Pareto, kl
    >>> print(np.round(kl(Pareto(1.0, 3.0), Pareto(1.0, 2.0)), 6))
    0.072132
    """

    domains = declare(scale=POSITIVE, alpha=POSITIVE)

    scale: Any
    alpha: Any

    def _entropy(self) -> Any:
        xp, (s, a), dtype = prep(scale=self.scale, alpha=self.alpha)
        return finish(xp, xp.log(s / a) + 1 / a + 1, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (s, al), dtype = params(self, "scale", "alpha")
        x = as_like(xp, x, s)
        inside = x >= s
        safe = xp.where(inside, x, s)
        lp = xp.log(al) + al * xp.log(s) - (al + 1) * xp.log(safe)
        return finish(xp, where_support(xp, inside, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (s, al), dtype = params(self, "scale", "alpha")
        return done(xp, s * xp.exp(-xp.log(rs.uniform(sample_shape(n, s))) / al), dtype)


@register_kl(Pareto, Pareto)
@nonnegative
def kl_pareto_pareto(p: Any, q: Any) -> Any:
    """Pareto: a_q log(s_p / s_q) + (r - 1 - log r), r = a_q / a_p; +inf where s_p < s_q."""
    xp, (sp, ap, sq, aq), dtype = prep(
        scale_p=p.scale, alpha_p=p.alpha, scale_q=q.scale, alpha_q=q.alpha
    )
    out = aq * log_ratio(xp, sp, sq) + expm1_minus(xp, log_ratio(xp, aq, ap))
    return finish(xp, inf_where(xp, sp < sq, out), dtype)


@family
@dataclass(frozen=True)
class Weibull(Distribution):
    r"""The Weibull distribution.

    Parameters
    ----------
    scale : array_like
        The scale :math:`\lambda`, > 0.
    concentration : array_like
        The shape :math:`k`, > 0.

    Notes
    -----
    .. math:: p(x) = \frac{k}{\lambda}\left(\frac{x}{\lambda}\right)^{k - 1}
        e^{-(x/\lambda)^k}, \quad x \ge 0

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Weibull, kl
    >>> print(np.round(kl(Weibull(1.0, 2.0), Weibull(2.0, 1.5)), 6))
    0.508037
    """

    domains = declare(scale=POSITIVE, concentration=POSITIVE)

    scale: Any
    concentration: Any

    def _entropy(self) -> Any:
        xp, (s, k), dtype = prep(scale=self.scale, concentration=self.concentration)
        return finish(xp, EULER * (1 - 1 / k) + xp.log(s / k) + 1, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (lam, k), dtype = params(self, "scale", "concentration")
        x = as_like(xp, x, lam)
        inside = x >= 0
        z = xp.where(inside, x, scalar(xp, 0.0, x)) / lam
        lp = xp.log(k) - xp.log(lam) + xlogy(xp, k - 1, z) - z**k
        return finish(xp, where_support(xp, inside, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (lam, k), dtype = params(self, "scale", "concentration")
        return done(xp, lam * (-xp.log(rs.uniform(sample_shape(n, lam)))) ** (1 / k), dtype)


@register_kl(Weibull, Weibull)
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
