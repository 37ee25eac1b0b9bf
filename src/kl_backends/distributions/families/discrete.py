"""Discrete families: Bernoulli, Geometric, Binomial, Poisson, Categorical, OneHotCategorical.

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

from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math.categorical import kl_divergence
from kl_backends._math.closed_forms import _softplus, kl_bernoulli, kl_poisson
from kl_backends._math.family import entropy as _categorical_entropy
from kl_backends.distributions import special as S
from kl_backends.distributions._base import (
    HALF_OPEN_UNIT_INTERVAL,
    LOGITS_VECTOR,
    NONNEGATIVE,
    NONNEGATIVE_INTEGER,
    PROBABILITY_VECTOR,
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

__all__ = [
    "Bernoulli",
    "Binomial",
    "Categorical",
    "Geometric",
    "OneHotCategorical",
    "Poisson",
    "categorical_log_probs",
    "gumbel_max",
    "one_hot",
]


def _integer_support(xp: Any, x: Any, low: Any = 0.0) -> Any:
    return (x >= low) & (x == xp.floor(x))


def _log_p_and_1mp(xp: Any, d: Any, a: Any) -> tuple[Any, Any]:
    """(log p, log(1 - p)) of a probs-or-logits container from its prepared parameter."""
    if d.probs is not None:
        return xp.log(a), xp.log1p(-a)
    sp = _softplus(backend(a), -a)  # log(1 + exp(-a)) = -log p
    return -sp, -sp - a


def _discrete(d: Any, xp: Any, x: Any, dtype: Any) -> tuple[Any, Any]:
    x = backend(x).stop_gradient(x)
    return done(xp, x, dtype, log_prob_of(d, x))


# --- binary outcomes -------------------------------------------------------------------------


@family
@dataclass(frozen=True)
class Bernoulli(ProbsOrLogits):
    """P(1) = probs = sigmoid(logits)."""

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
        return _discrete(self, xp, x, dtype)


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
    """Number of failures before the first success: P(k) = (1 - probs)**k probs, k >= 0."""

    domains = declare(probs=HALF_OPEN_UNIT_INTERVAL, logits=REAL)

    def _entropy(self) -> Any:
        xp, (a,), dtype = prep(probs=self._param())
        pr = self._probs_from(xp, a)
        return finish(xp, -(xlogx(xp, pr) + xlog1mx(xp, pr)) / pr, dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, (a,), dtype = prep(param=self._param())
        x = as_like(xp, x, a)
        lp1, lp0 = _log_p_and_1mp(xp, self, a)
        ok = _integer_support(xp, x)
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
        return _discrete(self, xp, x, dtype)


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
    """Successes in ``total_count`` trials of probability ``probs`` (or ``logits``)."""

    domains = declare(total_count=NONNEGATIVE_INTEGER, probs=UNIT_INTERVAL, logits=REAL)

    total_count: Any = 1
    probs: Any = None
    logits: Any = None

    def _log_prob(self, x: Any) -> Any:
        xp, (n, a), dtype = prep(total_count=self.total_count, param=self._param())
        x = as_like(xp, x, a)
        ok = _integer_support(xp, x) & (x <= n)
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
        return _discrete(self, xp, x, dtype)


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
    """Poisson with mean ``rate``."""

    domains = declare(rate=NONNEGATIVE)

    rate: Any

    def _log_prob(self, x: Any) -> Any:
        xp, (r,), dtype = params(self, "rate")
        x = as_like(xp, x, r)
        ok = _integer_support(xp, x)
        safe = xp.where(ok, x, scalar(xp, 0.0, x))
        lp = xlogy(xp, safe, r) - r - S.lgamma(safe + 1)
        return finish(xp, where_support(xp, ok, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, (r,), dtype = params(self, "rate")
        return _discrete(self, xp, xp.astype(rs.poisson(r, sample_shape(n, r)), r.dtype), dtype)


@register_kl(Poisson, Poisson)
@nonnegative
def kl_poisson_poisson(p: Any, q: Any) -> Any:
    """Poisson: rate_p log(rate_p / rate_q) - rate_p + rate_q."""
    return kl_poisson(p.rate, q.rate)


# --- categories --------------------------------------------------------------------------------


def _log_probs(xp: Any, d: Any, x: Any) -> Any:
    """Normalised log-probabilities over the last axis (probs renormalised, as torch does)."""
    if d.probs is not None:
        return backend(x).log(x / xp.sum(x, axis=-1, keepdims=True))
    return _common.log_softmax(xp, x, (-1 % x.ndim,))


def categorical_log_probs(d: Any) -> tuple[Any, Any, Any]:
    xp, (a,), dtype = prep(param=d._param())
    return xp, _log_probs(xp, d, a), dtype


def one_hot(xp: Any, index: Any, k: Any, like: Any) -> Any:
    be = backend(like)
    arange = xp.arange(k, dtype=like.dtype, device=be.device(like))
    return xp.expand_dims(xp.astype(index, like.dtype), axis=-1) == arange


def gumbel_max(xp: Any, logp: Any, rs: Stream, n: int) -> Any:
    """Category indices by the Gumbel-max trick: argmax(log p + Gumbel noise)."""
    g = -xp.log(-xp.log(rs.uniform(sample_shape(n, logp))))
    return xp.argmax(logp + g, axis=-1)


@family
@dataclass(frozen=True)
class Categorical(ProbsOrLogits):
    """Over the last axis: ``probs`` (normalised there) or unnormalised ``logits``."""

    domains = declare(probs=PROBABILITY_VECTOR, logits=LOGITS_VECTOR)

    def _entropy(self) -> Any:
        if self.logits is not None:
            return _categorical_entropy(self.logits, inputs="logits")
        xp, (a,), dtype = prep(probs=self.probs)
        return finish(xp, _categorical_entropy(a / xp.sum(a, axis=-1, keepdims=True)), dtype)

    def _log_prob(self, x: Any) -> Any:
        xp, logp, dtype = categorical_log_probs(self)
        k = _args.shape_of(logp)[-1]
        x = as_like(xp, x, logp)
        hit = one_hot(xp, x, k, logp)
        lp = xp.sum(xp.where(hit, logp, scalar(xp, 0.0, logp)), axis=-1)
        ok = _integer_support(xp, x) & (x < k)
        return finish(xp, where_support(xp, ok, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, logp, _ = categorical_log_probs(self)
        index = gumbel_max(xp, logp, rs, n)
        x = backend(index).stop_gradient(index)
        return x, log_prob_of(self, x)


@family
@dataclass(frozen=True)
class OneHotCategorical(ProbsOrLogits):
    """A ``Categorical`` whose samples are one-hot vectors (same KL)."""

    domains = Categorical.domains

    _entropy = Categorical._entropy

    def _event_ndims(self) -> int:
        return 1

    def _log_prob(self, x: Any) -> Any:
        xp, logp, dtype = categorical_log_probs(self)
        x = as_like(xp, x, logp)
        hit = x == 1
        lp = xp.sum(xp.where(hit, logp, scalar(xp, 0.0, logp)), axis=-1)
        ok = xp.all((x == 0) | hit, axis=-1) & (xp.sum(x, axis=-1) == 1)
        return finish(xp, where_support(xp, ok, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, logp, dtype = categorical_log_probs(self)
        k = _args.shape_of(logp)[-1]
        x = xp.astype(one_hot(xp, gumbel_max(xp, logp, rs, n), k, logp), logp.dtype)
        return _discrete(self, xp, x, dtype)


@register_kl(Categorical, Categorical)
@register_kl(OneHotCategorical, OneHotCategorical)
@nonnegative
def kl_categorical_categorical(p: Any, q: Any) -> Any:
    """Categorical over the last axis: sum p log(p / q) with rel_entr's conventions."""
    if p.logits is not None and q.logits is not None:
        return kl_divergence(p.logits, q.logits, inputs="logits", axis=-1)
    if p.probs is not None and q.probs is not None:
        xp, (a, b), dtype = prep(p=p.probs, q=q.probs)
        a = a / xp.sum(a, axis=-1, keepdims=True)
        b = b / xp.sum(b, axis=-1, keepdims=True)
        return finish(xp, kl_divergence(a, b, axis=-1), dtype)
    xp, (a, b), dtype = prep(p=p._param(), q=q._param())
    return finish(
        xp, kl_divergence(_log_probs(xp, p, a), _log_probs(xp, q, b), inputs="log_probs"), dtype
    )
