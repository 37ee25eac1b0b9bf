"""Cross-family pairs of discrete families (the +inf ones: ``support``)."""

from __future__ import annotations

from typing import Any

from kl_backends.distributions._helpers import (
    finish,
    nonnegative,
    prep,
    xlog1mx,
    xlogx,
    xlogy,
)
from kl_backends.distributions._registry import register_kl
from kl_backends.distributions.families import Bernoulli, Poisson


@register_kl(Bernoulli, Poisson)
@nonnegative
def kl_bernoulli_poisson(p: Any, q: Any) -> Any:
    """sum over {0, 1}: (1-p) log((1-p) / e^-r) + p log(p / (r e^-r)) = -H(p) + r - p log r."""
    xp, (a, r), dtype = prep(p=p._param(), rate=q.rate)
    pr = p._probs_from(xp, a)
    out = xlogx(xp, pr) + xlog1mx(xp, pr) + r - xlogy(xp, pr, r)
    return finish(xp, out, dtype)
