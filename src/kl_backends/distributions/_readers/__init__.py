"""Readers of other libraries' distribution objects, one module per library.

``reader_for(type(obj))`` picks the reader by the root of the object's module
(``torch`` for ``torch.distributions``, ``tensorflow_probability``, ``distrax``,
``numpyro``) and caches it by type; each reader's ``read(obj)`` returns a
``kl_backends.distributions`` container holding the object's own arrays (not
copies), or ``None`` for a class it does not know (a user's subclass included).
A reader module is imported only for an object of its library, which is then
already imported; readers build containers from the public names of
``kl_backends.distributions`` and reach a framework only through its public
``Backend`` (``kl_backends.backends.BACKENDS``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import fields
from typing import Any

__all__ = ["PROBS_OR_LOGITS", "READERS", "SAME_NAMES", "fields_of", "reader_for"]

#: The root of a distribution class's module -> its reader module here.
READERS = {
    "torch": "torch",
    "tensorflow_probability": "tfp",
    "distrax": "distrax",
    "numpyro": "numpyro",
}

#: Families whose class and parameter names are the same in torch.distributions and here
#: (TFP: the same, except the renames in its reader).
SAME_NAMES = (
    "Normal",
    "LogNormal",
    "HalfNormal",
    "Laplace",
    "Gumbel",
    "Cauchy",
    "Uniform",
    "Exponential",
    "Gamma",
    "Chi2",
    "InverseGamma",
    "Beta",
    "Pareto",
    "Weibull",
    "VonMises",
    "Poisson",
    "Dirichlet",
    "LowRankMultivariateNormal",
)
#: Families given by ``probs`` or ``logits``.
PROBS_OR_LOGITS = (
    "Bernoulli",
    "Geometric",
    "ContinuousBernoulli",
    "Categorical",
    "OneHotCategorical",
)

_BY_TYPE: dict[type, Callable[[Any], Any] | None] = {}


def fields_of(cls: Any) -> list[str]:
    """The parameter names of a container class, in order.

    >>> from kl_backends.distributions import Normal
    >>> fields_of(Normal)
    ['loc', 'scale']
    """
    return [f.name for f in fields(cls)]


def reader_for(cls: type) -> Callable[[Any], Any] | None:
    """The ``read`` function for objects of ``cls`` (by its module's root), or ``None``.

    >>> reader_for(dict) is None
    True
    """
    try:
        return _BY_TYPE[cls]
    except KeyError:
        pass
    name = READERS.get(cls.__module__.split(".")[0])
    found = None
    if name is not None:
        found = importlib.import_module(f"{__name__}.{name}").read
    _BY_TYPE[cls] = found
    return found
