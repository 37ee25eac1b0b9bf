"""Reading the frameworks' own distribution objects into containers.

The converters are framework-specific and live in each framework's backend
(``Backend.read_distribution`` in ``kl_backends/backends/torch.py`` for
``torch.distributions``, ``backends/tensorflow.py`` for ``tfp.distributions``,
``backends/jax.py`` for distrax and numpyro);
a framework is consulted only when it is already imported, so nothing here
imports one.  The parameters stay tensors of their framework, so the closed
forms compute there: the result, its dtype, device and gradient stay in that
framework.  This module holds what the converters share: the families whose
parameter names match ours.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from typing import Any

from kl_backends.distributions import _containers as C

__all__ = ["PROBS_OR_LOGITS", "SAME_NAMES", "fields_of", "to_container"]

#: Families whose class and parameter names are the same in torch.distributions and here
#: (TFP: the same, except the renames in its converter).
SAME_NAMES: dict[str, Any] = {
    "Normal": C.Normal,
    "LogNormal": C.LogNormal,
    "HalfNormal": C.HalfNormal,
    "Laplace": C.Laplace,
    "Gumbel": C.Gumbel,
    "Cauchy": C.Cauchy,
    "Uniform": C.Uniform,
    "Exponential": C.Exponential,
    "Gamma": C.Gamma,
    "Chi2": C.Chi2,
    "InverseGamma": C.InverseGamma,
    "Beta": C.Beta,
    "Pareto": C.Pareto,
    "Weibull": C.Weibull,
    "VonMises": C.VonMises,
    "Poisson": C.Poisson,
    "Dirichlet": C.Dirichlet,
    "LowRankMultivariateNormal": C.LowRankMultivariateNormal,
}
#: Families given by ``probs`` or ``logits``.
PROBS_OR_LOGITS: dict[str, Any] = {
    "Bernoulli": C.Bernoulli,
    "Geometric": C.Geometric,
    "ContinuousBernoulli": C.ContinuousBernoulli,
    "Categorical": C.Categorical,
    "OneHotCategorical": C.OneHotCategorical,
}


def fields_of(cls: Any) -> list[str]:
    return [f.name for f in fields(cls)]


def to_container(obj: Any) -> Any:
    """A kl_backends container for ``obj``, or ``None`` if no imported framework knows it."""
    if isinstance(obj, C.Distribution):
        return obj
    from kl_backends.backends import BACKENDS

    for backend in BACKENDS.values():
        if backend.module.split(".")[0] in sys.modules:
            found = backend.read_distribution(obj)
            if found is not None:
                return found
    return None
