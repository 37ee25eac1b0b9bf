"""Pairs whose KL is +inf whatever the parameters: p has mass where q has none.

For p with unbounded support against q with bounded or half-bounded support
(Normal, Laplace, Gumbel against Beta, ContinuousBernoulli, Exponential,
Gamma, Pareto, Uniform; Exponential and Gamma against Beta,
ContinuousBernoulli, Pareto, Uniform; Pareto against Beta,
ContinuousBernoulli, Uniform; Beta and ContinuousBernoulli against Pareto;
Poisson against Bernoulli and Binomial).
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends.distributions._helpers import finish, prep
from kl_backends.distributions._registry import register_kl
from kl_backends.distributions.families import (
    Bernoulli,
    Beta,
    Binomial,
    ContinuousBernoulli,
    Exponential,
    Gamma,
    Gumbel,
    Laplace,
    Normal,
    Pareto,
    Poisson,
    Uniform,
)

_INF_SOURCES: dict[type, tuple[type, ...]] = {
    Normal: (Beta, ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform),
    Laplace: (Beta, ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform),
    Gumbel: (Beta, ContinuousBernoulli, Exponential, Gamma, Pareto, Uniform),
    Exponential: (Beta, ContinuousBernoulli, Pareto, Uniform),
    Gamma: (Beta, ContinuousBernoulli, Pareto, Uniform),
    Pareto: (Beta, ContinuousBernoulli, Uniform),
    Beta: (Pareto,),
    ContinuousBernoulli: (Pareto,),
    Poisson: (Bernoulli, Binomial),
}


def _infinite(p: Any, q: Any) -> Any:
    """+inf with p's batch shape: p has mass where q has none, whatever the parameters."""
    xp, (x,), dtype = prep(p=next(iter(p.params().values())))
    return finish(xp, 0.0 * x + math.inf, dtype)


for _p, _qs in _INF_SOURCES.items():
    for _q in _qs:
        register_kl(_p, _q)(_infinite)
