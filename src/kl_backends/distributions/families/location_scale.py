"""Location-scale families on the real line: Normal, LogNormal, HalfNormal, Laplace, Gumbel, Cauchy.

Each family's entropy, log-density and sampler, with its same-family KL beside
it.  Every KL is arranged so that identical distributions give exactly 0 (the
cancellation happens in ``expm1`` / ``log1p`` or between equal terms; for
Gumbel, whose formula goes through ``lgamma(2)``, an explicit equality test).

References: Gil, Alajaji & Linder, "Renyi divergence measures for commonly
used univariate continuous distributions" (2013) for Laplace and Gumbel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kl_backends._math.closed_forms import kl_normal
from kl_backends.distributions import special as S
from kl_backends.distributions._base import POSITIVE, REAL, Distribution, declare
from kl_backends.distributions._helpers import (
    EULER,
    LOG_2PI,
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
    zero_where_equal,
)
from kl_backends.distributions._registry import family, register_kl

if TYPE_CHECKING:
    from kl_backends.distributions._sampling import Stream

__all__ = ["Cauchy", "Gumbel", "HalfNormal", "Laplace", "LogNormal", "Normal"]


def _lp_normal_z(xp: Any, z: Any, log_scale: Any) -> Any:
    return -0.5 * z * z - log_scale - 0.5 * LOG_2PI


@family
@dataclass(frozen=True)
class Normal(Distribution):
    r"""The normal distribution :math:`\mathcal N(\mu, \sigma^2)`.

    Parameters
    ----------
    loc : array_like
        The mean :math:`\mu`, real.
    scale : array_like
        The standard deviation :math:`\sigma`, > 0.

    Notes
    -----
    .. math:: p(x) = \frac{1}{\sigma\sqrt{2\pi}}
        \exp\left(-\frac{(x - \mu)^2}{2\sigma^2}\right), \quad x \in \mathbb R

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Normal, kl
    >>> print(np.round(kl(Normal(np.array([0.0, 1.0]), 1.0), Normal(0.0, 2.0)), 6))
    [0.318147 0.443147]
    """

    domains = declare(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any

    def _entropy(self) -> Any:
        xp, (m, s), dtype = prep(loc=self.loc, scale=self.scale)
        return finish(xp, 0.5 * (1 + LOG_2PI) + xp.log(s) + 0.0 * m, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (m, s), dtype = params(self, "loc", "scale")
        x = as_like(xp, x, m)
        return finish(xp, _lp_normal_z(xp, (x - m) / s, xp.log(s)), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (m, s), dtype = params(self, "loc", "scale")
        return done(xp, m + s * rs.normal(sample_shape(n, m)), dtype)


@family
@dataclass(frozen=True)
class LogNormal(Distribution):
    r"""The log-normal distribution: :math:`e^Y` for :math:`Y \sim \mathcal N(\mu, \sigma^2)`.

    Parameters
    ----------
    loc : array_like
        The mean :math:`\mu` of :math:`\log x`, real.
    scale : array_like
        The standard deviation :math:`\sigma` of :math:`\log x`, > 0.

    Notes
    -----
    .. math:: p(x) = \frac{1}{x \sigma\sqrt{2\pi}}
        \exp\left(-\frac{(\log x - \mu)^2}{2\sigma^2}\right), \quad x > 0

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import LogNormal, kl
    >>> print(np.round(kl(LogNormal(0.0, 1.0), LogNormal(0.5, 2.0)), 6))
    0.349397
    """

    domains = declare(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any

    def _entropy(self) -> Any:
        xp, (m, s), dtype = prep(loc=self.loc, scale=self.scale)
        return finish(xp, m + 0.5 * (1 + LOG_2PI) + xp.log(s), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (m, s), dtype = params(self, "loc", "scale")
        x = as_like(xp, x, m)
        pos = x > 0
        lx = xp.log(xp.where(pos, x, scalar(xp, 1.0, x)))
        return finish(
            xp, where_support(xp, pos, _lp_normal_z(xp, (lx - m) / s, xp.log(s)) - lx), dtype
        )

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (m, s), dtype = params(self, "loc", "scale")
        return done(xp, xp.exp(m + s * rs.normal(sample_shape(n, m))), dtype)


@register_kl(Normal, Normal)
@register_kl(LogNormal, LogNormal)
@nonnegative
def kl_normal_normal(p: Any, q: Any) -> Any:
    """Normal: log(s_q/s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2 (LogNormal: the same)."""
    return kl_normal(p.loc, p.scale, q.loc, q.scale)


@family
@dataclass(frozen=True)
class HalfNormal(Distribution):
    r"""The half-normal distribution: :math:`|Y|` for :math:`Y \sim \mathcal N(0, \sigma^2)`.

    Parameters
    ----------
    scale : array_like
        The scale :math:`\sigma` of the underlying normal, > 0.

    Notes
    -----
    .. math:: p(x) = \frac{\sqrt 2}{\sigma\sqrt{\pi}}
        \exp\left(-\frac{x^2}{2\sigma^2}\right), \quad x \ge 0

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import HalfNormal, kl
    >>> print(np.round(kl(HalfNormal(1.0), HalfNormal(2.0)), 6))
    0.318147
    """

    domains = declare(scale=POSITIVE)

    scale: Any

    def _entropy(self) -> Any:
        xp, (s,), dtype = prep(scale=self.scale)
        return finish(xp, 0.5 * math.log(math.pi / 2) + 0.5 + xp.log(s), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (s,), dtype = params(self, "scale")
        x = as_like(xp, x, s)
        lp = math.log(2) + _lp_normal_z(xp, x / s, xp.log(s))
        return finish(xp, where_support(xp, x >= 0, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (s,), dtype = params(self, "scale")
        return done(xp, s * xp.abs(rs.normal(sample_shape(n, s))), dtype)


@register_kl(HalfNormal, HalfNormal)
@nonnegative
def kl_halfnormal_halfnormal(p: Any, q: Any) -> Any:
    """HalfNormal: log(s_q/s_p) + s_p^2 / (2 s_q^2) - 1/2."""
    return kl_normal(0.0, p.scale, 0.0, q.scale)


@family
@dataclass(frozen=True)
class Laplace(Distribution):
    r"""The Laplace (double exponential) distribution.

    Parameters
    ----------
    loc : array_like
        The location (mean and median) :math:`\mu`, real.
    scale : array_like
        The scale :math:`b`, > 0 (the standard deviation is :math:`\sqrt 2\, b`).

    Notes
    -----
    .. math:: p(x) = \frac{1}{2b} \exp\left(-\frac{|x - \mu|}{b}\right),
        \quad x \in \mathbb R

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Laplace, kl
    >>> print(np.round(kl(Laplace(0.0, 1.0), Laplace(1.0, 2.0)), 6))
    0.377087
    """

    domains = declare(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any

    def _entropy(self) -> Any:
        xp, (m, b), dtype = prep(loc=self.loc, scale=self.scale)
        return finish(xp, 1 + math.log(2) + xp.log(b) + 0.0 * m, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (m, b), dtype = params(self, "loc", "scale")
        x = as_like(xp, x, m)
        return finish(xp, -xp.abs(x - m) / b - xp.log(2 * b), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (m, b), dtype = params(self, "loc", "scale")
        v = 2 * rs.uniform(sample_shape(n, m)) - 1  # (-1, 1)
        return done(xp, m - b * xp.sign(v) * xp.log1p(-xp.abs(v)), dtype)


@register_kl(Laplace, Laplace)
@nonnegative
def kl_laplace_laplace(p: Any, q: Any) -> Any:
    """Laplace: (r - 1 - log r) + |m_p - m_q| / b_q + r (exp(-|m_p - m_q| / b_p) - 1), r = b_p/b_q."""
    xp, (mp, bp, mq, bq), dtype = prep(loc_p=p.loc, scale_p=p.scale, loc_q=q.loc, scale_q=q.scale)
    d = xp.abs(mp - mq)
    r = bp / bq
    out = expm1_minus(xp, log_ratio(xp, bp, bq)) + d / bq + r * xp.expm1(-d / bp)
    # r beyond the float range (float32: 1e30 || 1e-30): the KL (>= r e^(-d/b_p) + d/b_q) is too
    return finish(xp, inf_where(xp, r == math.inf, out), dtype)


@family
@dataclass(frozen=True)
class Gumbel(Distribution):
    r"""The Gumbel distribution (of the maximum).

    Parameters
    ----------
    loc : array_like
        The location (mode) :math:`\mu`, real.
    scale : array_like
        The scale :math:`\beta`, > 0.

    Notes
    -----
    .. math:: p(x) = \frac{1}{\beta} e^{-(z + e^{-z})}, \quad
        z = \frac{x - \mu}{\beta}, \quad x \in \mathbb R

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Gumbel, kl
    >>> print(np.round(kl(Gumbel(0.0, 1.0), Gumbel(1.0, 2.0)), 6))
    0.365681
    """

    domains = declare(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any

    def _entropy(self) -> Any:
        xp, (m, b), dtype = prep(loc=self.loc, scale=self.scale)
        return finish(xp, xp.log(b) + (1 + EULER) + 0.0 * m, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (m, b), dtype = params(self, "loc", "scale")
        z = (as_like(xp, x, m) - m) / b
        return finish(xp, -(z + xp.exp(-z)) - xp.log(b), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (m, b), dtype = params(self, "loc", "scale")
        return done(xp, m - b * xp.log(-xp.log(rs.uniform(sample_shape(n, m)))), dtype)


@register_kl(Gumbel, Gumbel)
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


@family
@dataclass(frozen=True)
class Cauchy(Distribution):
    r"""The Cauchy distribution.

    Parameters
    ----------
    loc : array_like
        The location (median) :math:`\mu`, real.
    scale : array_like
        The scale (half width at half maximum) :math:`\gamma`, > 0.

    Notes
    -----
    .. math:: p(x) = \frac{1}{\pi\gamma\left(1 + \left(\frac{x - \mu}{\gamma}\right)^2\right)},
        \quad x \in \mathbb R

    It has no mean; its KL is finite,
    :math:`\log\frac{(\gamma_p + \gamma_q)^2 + (\mu_p - \mu_q)^2}{4\gamma_p\gamma_q}`.

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Cauchy, kl
    >>> print(np.round(kl(Cauchy(0.0, 1.0), Cauchy(1.0, 2.0)), 6))
    0.223144
    """

    domains = declare(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any

    def _entropy(self) -> Any:
        xp, (m, s), dtype = prep(loc=self.loc, scale=self.scale)
        return finish(xp, math.log(4 * math.pi) + xp.log(s) + 0.0 * m, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (m, b), dtype = params(self, "loc", "scale")
        z = (as_like(xp, x, m) - m) / b
        return finish(xp, -math.log(math.pi) - xp.log(b) - xp.log1p(z * z), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (m, b), dtype = params(self, "loc", "scale")
        return done(xp, m + b * xp.tan(math.pi * (rs.uniform(sample_shape(n, m)) - 0.5)), dtype)


@register_kl(Cauchy, Cauchy)
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
