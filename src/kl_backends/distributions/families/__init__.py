"""The families, one class each, grouped by kind of support.

A family is a frozen dataclass of its parameters (``_base.Distribution``)
with its parameter domains, batch shape and event rank, and its closed forms
as methods (``_entropy``, ``_log_prob``, ``_sample``); its same-family KL is
registered beside it.  Pairs of two families are in ``pairs``.  Import the
classes from ``kl_backends.distributions``.

* ``location_scale``: Normal, LogNormal, HalfNormal, Laplace, Gumbel, Cauchy;
* ``positive``: Exponential, Gamma, Chi2, InverseGamma, Pareto, Weibull;
* ``bounded``: Uniform, Beta, ContinuousBernoulli, VonMises;
* ``discrete``: Bernoulli, Geometric, Binomial, Poisson;
* ``categorical``: Categorical, OneHotCategorical;
* ``multivariate``: Dirichlet, MultivariateNormal, LowRankMultivariateNormal;
* ``composite``: Independent, MixtureSameFamily.
"""

from __future__ import annotations

from kl_backends.distributions.families.bounded import Beta, ContinuousBernoulli, Uniform, VonMises
from kl_backends.distributions.families.categorical import Categorical, OneHotCategorical
from kl_backends.distributions.families.composite import Independent, MixtureSameFamily
from kl_backends.distributions.families.discrete import Bernoulli, Binomial, Geometric, Poisson
from kl_backends.distributions.families.location_scale import (
    Cauchy,
    Gumbel,
    HalfNormal,
    Laplace,
    LogNormal,
    Normal,
)
from kl_backends.distributions.families.multivariate import (
    Dirichlet,
    LowRankMultivariateNormal,
    MultivariateNormal,
)
from kl_backends.distributions.families.positive import (
    Chi2,
    Exponential,
    Gamma,
    InverseGamma,
    Pareto,
    Weibull,
)

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ContinuousBernoulli",
    "Dirichlet",
    "Exponential",
    "Gamma",
    "Geometric",
    "Gumbel",
    "HalfNormal",
    "Independent",
    "InverseGamma",
    "Laplace",
    "LogNormal",
    "LowRankMultivariateNormal",
    "MixtureSameFamily",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "Pareto",
    "Poisson",
    "Uniform",
    "VonMises",
    "Weibull",
]
