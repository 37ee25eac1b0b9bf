"""Discrete families on the integers: Bernoulli, Geometric, Binomial, Poisson.

Each family's entropy (where it has a closed form), log-mass and sampler, with
its same-family KL beside it.  Conventions of ``scipy.special.rel_entr``: a
zero-probability outcome of p contributes 0 (``0 log 0 = 0``, with a finite
gradient: torch #15288's NaN gradient of the Bernoulli KL is not reproduced),
an outcome with mass under p and none under q gives ``+inf``.

* ``Binomial``: equal ``total_count`` gives ``n * KL(Bernoulli)``; a larger
  ``total_count`` in p than in q gives ``+inf`` (p has outcomes q cannot
  produce); a smaller one has no closed form and gives NaN
  (torch raises ``NotImplementedError`` there, which would need to read values).
* ``Geometric`` counts failures before the first success (torch's convention).

The samplers stop the gradient at their draws and return the log-mass of the
draws as their score (``monte_carlo_kl``'s score-function term).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kl_backends._math.closed_forms import _softplus, kl_bernoulli, kl_poisson
from kl_backends.distributions import special as S
from kl_backends.distributions._base import (
    HALF_OPEN_UNIT_INTERVAL,
    NONNEGATIVE,
    NONNEGATIVE_INTEGER,
    REAL,
    UNIT_INTERVAL,
    Distribution,
    GivenByProbsOrLogits,
    ProbsOrLogits,
    declare,
)
from kl_backends.distributions._helpers import (
    as_like,
    backend,
    done,
    finish,
    inf_where,
    nonnegative,
    params,
    prep,
    sample_shape,
    scalar,
    where_support,
    xlog1mx,
    xlogx,
    xlogy,
)
from kl_backends.distributions._registry import family, log_prob_of, register_kl

if TYPE_CHECKING:
    from kl_backends.distributions._sampling import Stream

__all__ = ["Bernoulli", "Binomial", "Geometric", "Poisson", "discrete_draws", "integer_support"]


def integer_support(xp: Any, x: Any, low: Any = 0.0) -> Any:
    """Where ``x`` is a whole number >= ``low``."""
    return (x >= low) & (x == xp.floor(x))


def _log_p_and_1mp(xp: Any, d: Any, a: Any) -> tuple[Any, Any]:
    """(log p, log(1 - p)) of a probs-or-logits container from its prepared parameter."""
    if d.probs is not None:
        return xp.log(a), xp.log1p(-a)
    sp = _softplus(backend(a), -a)  # log(1 + exp(-a)) = -log p
    return -sp, -sp - a


def discrete_draws(d: Any, xp: Any, x: Any, dtype: Any) -> tuple[Any, Any]:
    """``(samples, score)`` of discrete draws ``x``: no gradient through them, their log-mass."""
    x = backend(x).stop_gradient(x)
    return done(xp, x, dtype, log_prob_of(d, x))


# --- binary outcomes -------------------------------------------------------------------------


@family
@dataclass(frozen=True)
class Bernoulli(ProbsOrLogits):
    r"""The Bernoulli distribution on :math:`\{0, 1\}`.

    Parameters
    ----------
    probs : array_like, optional
        The probability :math:`\pi` of 1, in [0, 1].
    logits : array_like, optional
        The log-odds :math:`\log\frac{\pi}{1 - \pi}`, real.

        Give exactly one of ``probs`` and ``logits`` (``ValueError``
        otherwise).

    Notes
    -----
    .. math:: P(x) = \pi^x (1 - \pi)^{1 - x}, \quad x \in \{0, 1\}

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Bernoulli, kl
    >>> print(np.round(kl(Bernoulli(0.3), Bernoulli(0.6)), 6))
    0.183787
    """

    domains = declare(probs=UNIT_INTERVAL, logits=REAL)

    def _entropy(self) -> Any:
        xp, (a,), dtype = prep(probs=self._param())
        pr = self._probs_from(xp, a)
        return finish(xp, -(xlogx(xp, pr) + xlog1mx(xp, pr)), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a,), dtype = prep(param=self._param())
        x = as_like(xp, x, a)
        lp1, lp0 = _log_p_and_1mp(xp, self, a)
        lp = xp.where(x == 1, lp1 + 0.0 * x, xp.where(x == 0, lp0 + 0.0 * x, -math.inf + 0.0 * x))
        return finish(xp, lp, dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (a,), dtype = prep(param=self._param())
        pr = self._probs_from(xp, a)
        x = xp.astype(rs.uniform(sample_shape(n, pr)) < pr, pr.dtype)
        return discrete_draws(self, xp, x, dtype)


@register_kl(Bernoulli, Bernoulli)
@nonnegative
def kl_bernoulli_bernoulli(p: Any, q: Any) -> Any:
    """Bernoulli: p log(p/q) + (1-p) log((1-p)/(1-q)), from logits when both have them."""
    if p.logits is not None and q.logits is not None:
        return kl_bernoulli(p.logits, q.logits, inputs="logits")
    xp, (a, b), dtype = prep(p=p._param(), q=q._param())
    return finish(xp, kl_bernoulli(p._probs_from(xp, a), q._probs_from(xp, b)), dtype)


@family
@dataclass(frozen=True)
class Geometric(ProbsOrLogits):
    r"""The geometric distribution: the number of failures before the first success.

    Parameters
    ----------
    probs : array_like, optional
        The success probability :math:`\pi`, in (0, 1].
    logits : array_like, optional
        The log-odds of success, real.

        Give exactly one of ``probs`` and ``logits`` (``ValueError``
        otherwise).

    Notes
    -----
    .. math:: P(k) = (1 - \pi)^k \pi, \quad k = 0, 1, 2, \dots

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Geometric, kl
    >>> print(np.round(kl(Geometric(0.3), Geometric(0.6)), 6))
    0.612623
    """

    domains = declare(probs=HALF_OPEN_UNIT_INTERVAL, logits=REAL)

    def _entropy(self) -> Any:
        xp, (a,), dtype = prep(probs=self._param())
        pr = self._probs_from(xp, a)
        return finish(xp, -(xlogx(xp, pr) + xlog1mx(xp, pr)) / pr, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a,), dtype = prep(param=self._param())
        x = as_like(xp, x, a)
        lp1, lp0 = _log_p_and_1mp(xp, self, a)
        ok = integer_support(xp, x)
        k = xp.where(ok, x, scalar(xp, 0.0, x))
        if self.probs is None:  # k log(1 - p) from the logits, without rounding 1 - p
            lp = k * lp0 + lp1
        else:  # 0 log 0 = 0 at p = 1
            lp = xlogy(xp, k, 1 - a) + lp1
        return finish(xp, where_support(xp, ok, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (a,), dtype = prep(param=self._param())
        lp0 = _log_p_and_1mp(xp, self, a)[1]
        u = rs.uniform(sample_shape(n, a))
        x = xp.where(lp0 == -math.inf, 0.0 * u, xp.floor(xp.log(u) / lp0))
        return discrete_draws(self, xp, x, dtype)


@register_kl(Geometric, Geometric)
@nonnegative
def kl_geometric_geometric(p: Any, q: Any) -> Any:
    """Geometric: log(p/q) + (1-p)/p log((1-p)/(1-q)) = KL(Bernoulli(p) || Bernoulli(q)) / p.

    The Bernoulli form keeps tiny probabilities accurate; 0 log 0 = 0 at p = 1,
    +inf at q = 1 > p.
    """
    xp, (a, b), dtype = prep(p=p._param(), q=q._param())
    pp, pq = p._probs_from(xp, a), q._probs_from(xp, b)
    return finish(xp, kl_bernoulli(pp, pq) / pp, dtype)


@family
@dataclass(frozen=True)
class Binomial(GivenByProbsOrLogits, Distribution):
    r"""The binomial distribution: successes in :math:`n` independent trials.

    Parameters
    ----------
    total_count : array_like, default 1
        The number of trials :math:`n`, a whole number >= 0.
    probs : array_like, optional
        The success probability :math:`\pi`, in [0, 1].
    logits : array_like, optional
        The log-odds of success, real.

        Give exactly one of ``probs`` and ``logits`` (``ValueError``
        otherwise).

    Notes
    -----
    .. math:: P(k) = \binom{n}{k} \pi^k (1 - \pi)^{n - k}, \quad k = 0, \dots, n

    No closed-form entropy.  The KL between two binomials is ``+inf`` where
    p's ``total_count`` exceeds q's (q has no mass there).

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Binomial, kl
    >>> print(np.round(kl(Binomial(10, 0.3), Binomial(10, 0.6)), 6))
    1.837869
    """

    domains = declare(total_count=NONNEGATIVE_INTEGER, probs=UNIT_INTERVAL, logits=REAL)

    total_count: Any = 1
    probs: Any = None
    logits: Any = None

    def _log_prob(self, x: Any) -> Any:
        xp, (n, a), dtype = prep(total_count=self.total_count, param=self._param())
        x = as_like(xp, x, a)
        ok = integer_support(xp, x) & (x <= n)
        k = xp.where(ok, x, scalar(xp, 0.0, x))
        comb = S.lgamma(n + 1) - S.lgamma(k + 1) - S.lgamma(n - k + 1)
        if self.probs is None:
            lp1, lp0 = _log_p_and_1mp(xp, self, a)
            lp = comb + k * lp1 + (n - k) * lp0
        else:  # 0 log 0 = 0 at p = 0 and p = 1
            lp = comb + xlogy(xp, k, a) + xlogy(xp, n - k, 1 - a)
        return finish(xp, where_support(xp, ok, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (c, a), dtype = prep(total_count=self.total_count, param=self._param())
        c, a = xp.broadcast_arrays(c, a)
        pr = self._probs_from(xp, a)
        x = xp.astype(rs.binomial(c, pr, sample_shape(n, pr)), pr.dtype)
        return discrete_draws(self, xp, x, dtype)


@register_kl(Binomial, Binomial)
@nonnegative
def kl_binomial_binomial(p: Any, q: Any) -> Any:
    """Binomial: n KL(Bernoulli) for equal n; +inf where n_p > n_q; NaN where n_p < n_q."""
    xp, (n_p, n_q, a, b), dtype = prep(
        total_count_p=p.total_count, total_count_q=q.total_count, p=p._param(), q=q._param()
    )
    out = n_p * kl_bernoulli(p._probs_from(xp, a), q._probs_from(xp, b))
    out = inf_where(xp, n_p > n_q, out)
    out = xp.where(n_p < n_q, scalar(xp, math.nan, out), out)
    return finish(xp, out, dtype)


@family
@dataclass(frozen=True)
class Poisson(Distribution):
    r"""The Poisson distribution.

    Parameters
    ----------
    rate : array_like
        The mean :math:`\lambda`, >= 0 (0: all mass at 0).

    Notes
    -----
    .. math:: P(k) = \frac{\lambda^k e^{-\lambda}}{k!}, \quad k = 0, 1, 2, \dots

    No closed-form entropy.

    Batch shape: the broadcast of the parameters' shapes; each event is a
    scalar.  Parameters outside their domain give NaN in ``kl``, ``entropy``
    and ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Poisson, kl
    >>> print(np.round(kl(Poisson(2.0), Poisson(3.0)), 6))
    0.18907
    """

    domains = declare(rate=NONNEGATIVE)

    rate: Any

    def _log_prob(self, x: Any) -> Any:
        xp, (r,), dtype = params(self, "rate")
        x = as_like(xp, x, r)
        ok = integer_support(xp, x)
        safe = xp.where(ok, x, scalar(xp, 0.0, x))
        lp = xlogy(xp, safe, r) - r - S.lgamma(safe + 1)
        return finish(xp, where_support(xp, ok, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (r,), dtype = params(self, "rate")
        return discrete_draws(
            self, xp, xp.astype(rs.poisson(r, sample_shape(n, r)), r.dtype), dtype
        )


@register_kl(Poisson, Poisson)
@nonnegative
def kl_poisson_poisson(p: Any, q: Any) -> Any:
    """Poisson: rate_p log(rate_p / rate_q) - rate_p + rate_q."""
    return kl_poisson(p.rate, q.rate)


# --- categories --------------------------------------------------------------------------------
