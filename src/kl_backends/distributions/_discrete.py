"""Closed-form KL and entropy of discrete families, same family.

Conventions of ``scipy.special.rel_entr``: a zero-probability outcome of p
contributes 0 (``0 log 0 = 0``, with a finite gradient: torch #15288's NaN
gradient of the Bernoulli KL is not reproduced), an outcome with mass under
p and none under q gives ``+inf``.

* ``Binomial``: equal ``total_count`` gives ``n * KL(Bernoulli)``; a larger
  ``total_count`` in p than in q gives ``+inf`` (p has outcomes q cannot
  produce); a smaller one has no closed form and gives NaN
  (torch raises ``NotImplementedError`` there, which would need to read values).
* ``Geometric`` counts failures before the first success (torch's convention).
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends._math import common as _common
from kl_backends._math.categorical import kl_divergence
from kl_backends._math.closed_forms import kl_bernoulli, kl_poisson
from kl_backends._math.family import entropy as _categorical_entropy
from kl_backends.distributions import _containers as C
from kl_backends.distributions._helpers import (
    backend,
    finish,
    inf_where,
    nonnegative,
    prep,
    scalar,
    xlog1mx,
    xlogx,
)
from kl_backends.distributions._registry import register_entropy, register_kl


def _sigmoid(xp: Any, a: Any) -> Any:
    """1 / (1 + exp(-a)) without overflow; exact 0 and 1 at -inf and +inf."""
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


def probs_of(d: Any, xp: Any, x: Any) -> Any:
    """The probabilities of a probs-or-logits container, given its prepared parameter ``x``."""
    return x if d.probs is not None else _sigmoid(xp, x)


def _param(d: Any) -> Any:
    return d.probs if d.probs is not None else d.logits


@register_kl(C.Bernoulli, C.Bernoulli)
@nonnegative
def kl_bernoulli_bernoulli(p: Any, q: Any) -> Any:
    """Bernoulli: p log(p/q) + (1-p) log((1-p)/(1-q)), from logits when both have them."""
    if p.logits is not None and q.logits is not None:
        return kl_bernoulli(p.logits, q.logits, inputs="logits")
    xp, (a, b), dtype = prep(p=_param(p), q=_param(q))
    return finish(xp, kl_bernoulli(probs_of(p, xp, a), probs_of(q, xp, b)), dtype)


@register_entropy(C.Bernoulli)
def entropy_bernoulli(d: Any) -> Any:
    xp, (a,), dtype = prep(probs=_param(d))
    pr = probs_of(d, xp, a)
    return finish(xp, -(xlogx(xp, pr) + xlog1mx(xp, pr)), dtype)


@register_kl(C.Binomial, C.Binomial)
@nonnegative
def kl_binomial_binomial(p: Any, q: Any) -> Any:
    """Binomial: n KL(Bernoulli) for equal n; +inf where n_p > n_q; NaN where n_p < n_q."""
    xp, (n_p, n_q, a, b), dtype = prep(
        total_count_p=p.total_count, total_count_q=q.total_count, p=_param(p), q=_param(q)
    )
    out = n_p * kl_bernoulli(probs_of(p, xp, a), probs_of(q, xp, b))
    out = inf_where(xp, n_p > n_q, out)
    out = xp.where(n_p < n_q, scalar(xp, math.nan, out), out)
    return finish(xp, out, dtype)


@register_kl(C.Geometric, C.Geometric)
@nonnegative
def kl_geometric_geometric(p: Any, q: Any) -> Any:
    """Geometric: log(p/q) + (1-p)/p log((1-p)/(1-q)) = KL(Bernoulli(p) || Bernoulli(q)) / p.

    The Bernoulli form keeps tiny probabilities accurate; 0 log 0 = 0 at p = 1,
    +inf at q = 1 > p.
    """
    xp, (a, b), dtype = prep(p=_param(p), q=_param(q))
    pp, pq = probs_of(p, xp, a), probs_of(q, xp, b)
    return finish(xp, kl_bernoulli(pp, pq) / pp, dtype)


@register_entropy(C.Geometric)
def entropy_geometric(d: Any) -> Any:
    xp, (a,), dtype = prep(probs=_param(d))
    pr = probs_of(d, xp, a)
    return finish(xp, -(xlogx(xp, pr) + xlog1mx(xp, pr)) / pr, dtype)


@register_kl(C.Poisson, C.Poisson)
@nonnegative
def kl_poisson_poisson(p: Any, q: Any) -> Any:
    """Poisson: rate_p log(rate_p / rate_q) - rate_p + rate_q."""
    return kl_poisson(p.rate, q.rate)


def _log_probs(xp: Any, d: Any, x: Any) -> Any:
    """Normalised log-probabilities over the last axis (probs renormalised, as torch does)."""
    if d.probs is not None:
        return backend(x).log(x / xp.sum(x, axis=-1, keepdims=True))
    return _common.log_softmax(xp, x, (-1 % x.ndim,))


@register_kl(C.Categorical, C.Categorical)
@register_kl(C.OneHotCategorical, C.OneHotCategorical)
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
    xp, (a, b), dtype = prep(p=_param(p), q=_param(q))
    return finish(
        xp, kl_divergence(_log_probs(xp, p, a), _log_probs(xp, q, b), inputs="log_probs"), dtype
    )


@register_entropy(C.Categorical)
@register_entropy(C.OneHotCategorical)
def entropy_categorical(d: Any) -> Any:
    if d.logits is not None:
        return _categorical_entropy(d.logits, inputs="logits")
    xp, (a,), dtype = prep(probs=d.probs)
    return finish(xp, _categorical_entropy(a / xp.sum(a, axis=-1, keepdims=True)), dtype)
