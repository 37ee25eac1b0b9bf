"""numpyro distributions as containers (their JAX arrays; tracers under ``jax.jit``).

Parameterisations are checked against numpyro's ``log_prob`` and KL in
tests/distributions/test_interop_jax_*.py.
"""

from __future__ import annotations

import sys
from typing import Any

from kl_backends.distributions._readers import fields_of
from kl_backends.distributions._readers.distrax import as_jax, mixture

__all__ = ["read"]

#: numpyro classes whose parameter names are ours (``Pareto(scale, alpha)``,
#: ``Weibull(scale, concentration)``; ``InverseGamma``'s ``rate`` is the scale of
#: its density, as ours).
_SAME = (
    "Normal",
    "LogNormal",
    "HalfNormal",
    "Laplace",
    "Gumbel",
    "Cauchy",
    "Uniform",
    "Exponential",
    "Gamma",
    "InverseGamma",
    "Beta",
    "Pareto",
    "Weibull",
    "VonMises",
    "Poisson",
    "Dirichlet",
    "LowRankMultivariateNormal",
)


def read(obj: Any) -> Any:
    """A container for a numpyro distribution, or ``None``."""
    numpyro = sys.modules.get("numpyro.distributions")
    if (
        numpyro is None
        or not isinstance(obj, numpyro.Distribution)
        or not type(obj).__module__.startswith("numpyro.")
    ):
        return None
    return as_jax(_read(obj))


def _read(obj: Any) -> Any:
    import kl_backends.distributions as D

    name = type(obj).__name__
    if name == "Chi2":  # a Gamma subclass
        return D.Chi2(obj.df)
    if name == "BetaProportion":  # a Beta given by its mean and concentration
        name = "Beta"
    if name in _SAME:
        cls = getattr(D, name)
        return cls(**{f: getattr(obj, f) for f in fields_of(cls)})
    for family in ("Bernoulli", "Geometric", "Categorical", "Binomial"):
        for kind in ("Probs", "Logits"):
            if name == family + kind:
                given = {kind.lower(): getattr(obj, kind.lower())}
                if family == "Binomial":
                    return D.Binomial(obj.total_count, **given)
                return getattr(D, family)(**given)
    if name == "MultivariateNormal":
        # numpyro computes scale_tril from whichever of the three forms it was given.
        return D.MultivariateNormal(obj.loc, scale_tril=obj.scale_tril)
    if name == "Independent":
        base = read(obj.base_dist)
        return None if base is None else D.Independent(base, int(obj.reinterpreted_batch_ndims))
    if name == "MixtureSameFamily":
        return mixture(read(obj.mixing_distribution), read(obj.component_distribution))
    return None
