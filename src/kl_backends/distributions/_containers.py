"""The containers by name: every family's class, ``Distribution`` and ``Domain``.

The classes live in ``families`` (one class per family, with its closed
forms); this module names them all in one place for the readers of other
libraries' distribution objects (``_interop`` and the backends' converters).
Error messages and pickles name a class by this module, as before the
families had their own modules: ``kl_backends.distributions._containers.Normal``.
"""

from __future__ import annotations

from kl_backends.distributions._base import Distribution, Domain
from kl_backends.distributions.families import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Cauchy,
    Chi2,
    ContinuousBernoulli,
    Dirichlet,
    Exponential,
    Gamma,
    Geometric,
    Gumbel,
    HalfNormal,
    Independent,
    InverseGamma,
    Laplace,
    LogNormal,
    LowRankMultivariateNormal,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    Pareto,
    Poisson,
    Uniform,
    VonMises,
    Weibull,
)
from kl_backends.distributions.families import __all__ as _FAMILIES

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ContinuousBernoulli",
    "Dirichlet",
    "Distribution",
    "Domain",
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

for _name in (*_FAMILIES, "Distribution", "Domain"):
    globals()[_name].__module__ = __name__
