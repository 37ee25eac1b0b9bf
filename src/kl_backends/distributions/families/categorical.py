"""Categorical families over K categories: Categorical (an index) and OneHotCategorical.

Entropy, log-mass and sampler (the Gumbel-max trick), with the same-family KL
(``kl_backends.kl_divergence`` over the last axis: ``scipy.special.rel_entr``'s
conventions, ``0 log 0 = 0``).  ``categorical_log_probs``, ``one_hot`` and
``gumbel_max`` serve ``MixtureSameFamily`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kl_backends._lib import args as _args
from kl_backends._math import common as _common
from kl_backends._math.categorical import kl_divergence
from kl_backends._math.family import entropy as _categorical_entropy
from kl_backends.distributions._base import (
    LOGITS_VECTOR,
    PROBABILITY_VECTOR,
    ProbsOrLogits,
    declare,
)
from kl_backends.distributions._helpers import (
    as_like,
    backend,
    finish,
    nonnegative,
    prep,
    sample_shape,
    scalar,
    where_support,
)
from kl_backends.distributions._registry import family, log_prob_of, register_kl
from kl_backends.distributions.families.discrete import discrete_draws, integer_support

if TYPE_CHECKING:
    from kl_backends.distributions._sampling import Stream

__all__ = ["Categorical", "OneHotCategorical", "categorical_log_probs", "gumbel_max", "one_hot"]


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
    r"""The categorical distribution over K categories, indexed 0 to K - 1.

    Parameters
    ----------
    probs : array_like, optional
        Shape ``[..., K]``: the probabilities of the K categories over the last
        axis, >= 0 and finite with a positive sum (normalised here).
    logits : array_like, optional
        Shape ``[..., K]``: unnormalised log-probabilities, not NaN, below
        +inf, not all -inf.  Give exactly one of ``probs`` and ``logits``
        (``ValueError`` otherwise).

    Notes
    -----
    .. math:: P(k) = \pi_k = \frac{e^{\ell_k}}{\sum_j e^{\ell_j}}, \quad k = 0, \dots, K - 1

    Batch shape: the parameter's shape less its last axis; each event is a
    category index (a scalar).
    Parameters outside their domain give NaN in ``kl``, ``entropy`` and
    ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import Categorical, kl
    >>> print(np.round(kl(Categorical(probs=np.array([0.2, 0.3, 0.5])),
    ...                   Categorical(logits=np.zeros(3))), 6))
    0.068959
    """

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
        ok = integer_support(xp, x) & (x < k)
        return finish(xp, where_support(xp, ok, lp), dtype)

    def _sample(self, rs: Stream, n: int) -> tuple[Any, Any]:
        xp, logp, _ = categorical_log_probs(self)
        index = gumbel_max(xp, logp, rs, n)
        x = backend(index).stop_gradient(index)
        return x, log_prob_of(self, x)


@family
@dataclass(frozen=True)
class OneHotCategorical(ProbsOrLogits):
    r"""The categorical distribution with one-hot samples (same KL and entropy as ``Categorical``).

    Parameters
    ----------
    probs : array_like, optional
        Shape ``[..., K]``: the probabilities of the K categories over the last
        axis, >= 0 and finite with a positive sum (normalised here).
    logits : array_like, optional
        Shape ``[..., K]``: unnormalised log-probabilities, not NaN, below
        +inf, not all -inf.  Give exactly one of ``probs`` and ``logits``
        (``ValueError`` otherwise).

    Notes
    -----
    .. math:: P(x) = \prod_k \pi_k^{x_k}, \quad x \in \{0, 1\}^K, \ \textstyle\sum_k x_k = 1

    Batch shape: the parameter's shape less its last axis; each event is a
    one-hot vector of length K.
    Parameters outside their domain give NaN in ``kl``, ``entropy`` and
    ``log_prob`` (``validate=True``: ``ValueError``).

    See Also
    --------
    kl, entropy, cross_entropy, log_prob, sample, monte_carlo_kl

    Examples
    --------
    >>> import numpy as np
    >>> from kl_backends.distributions import OneHotCategorical, kl
    >>> print(np.round(kl(OneHotCategorical(probs=np.array([0.2, 0.3, 0.5])),
    ...                   OneHotCategorical(probs=np.array([0.5, 0.3, 0.2]))), 6))
    0.274887
    """

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
        return discrete_draws(self, xp, x, dtype)


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
