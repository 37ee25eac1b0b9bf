"""Distribution families: KL, entropy and cross-entropy in closed form, on every array library.

Light parameter containers (``Normal(loc, scale)``, ``Beta(concentration1,
concentration0)``, ... with ``torch.distributions``' parameter names) hold
arrays of any supported library; ``kl(p, q)``, ``entropy(d)`` and
``cross_entropy(p, q)`` compute in that library, written once against the
array API.  ``kl`` (also ``kl_divergence``, torch's and TFP's name) takes
``torch.distributions``, ``tfp.distributions``, distrax and numpyro objects
too.  ``register_kl`` adds a pair; ``monte_carlo_kl`` estimates the pairs
without a closed form (mixtures), with a standard error; ``log_prob`` and
``sample`` score and draw.

Conventions: results have the broadcast batch shape of the parameters, in
nats, in their library, dtype and device; ``+inf`` where p puts mass where q
has none; exactly 0 for identical distributions; NaN for a batch element
whose parameter lies outside its domain (``validate=True`` raises
``ValueError`` instead).

Examples
--------
>>> import numpy as np
>>> from kl_backends.distributions import kl, Beta
>>> print(np.round(kl(Beta(2.0, 3.0), Beta(np.array([2.0, 1.0]), 3.0)), 6))
[0.       0.302961]
"""

from __future__ import annotations

from types import FunctionType as _FunctionType

from kl_backends.backends import mark_public as _mark_public
from kl_backends.distributions import _interop, _registry, families, pairs  # noqa: F401  (registers the pairs)
from kl_backends.distributions._api import cross_entropy, entropy, kl
from kl_backends.distributions._api import kl as kl_divergence  # torch's and TFP's name
from kl_backends.distributions._base import Distribution
from kl_backends.distributions._monte_carlo import MonteCarloKL, MonteCarloWarning, monte_carlo_kl
from kl_backends.distributions._registry import register_entropy, register_kl, registered_pairs
from kl_backends.distributions._sampling import log_prob, sample
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

_registry.register_reader(_interop.to_container)  # torch, TFP, distrax and numpyro objects

# Error messages, reprs and pickles name each class by its public home.
for _cls in (Distribution, *(globals()[n] for n in families.__all__)):
    _cls.__module__ = __name__

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
    "MonteCarloKL",
    "MonteCarloWarning",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "Pareto",
    "Poisson",
    "Uniform",
    "VonMises",
    "Weibull",
    "cross_entropy",
    "entropy",
    "kl",
    "kl_divergence",
    "log_prob",
    "monte_carlo_kl",
    "register_entropy",
    "register_kl",
    "registered_pairs",
    "sample",
]

# Tracers take the public functions as they are (``Backend.function_attributes``).
_mark_public(
    *(
        _f
        for _f in globals().values()
        if isinstance(_f, _FunctionType) and _f.__module__.startswith("kl_backends")
    )
)
