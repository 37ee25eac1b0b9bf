"""distrax distributions as containers (their JAX arrays; tracers under ``jax.jit``).

Each class is mapped by name, reading the parameter the object was built from
where distrax keeps it (``probs`` or ``logits``).  Parameterisations are checked
against distrax's ``log_prob`` and KL in tests/distributions/test_interop_jax_*.py.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

__all__ = ["as_jax", "read"]


def as_jax(container: Any) -> Any:
    """``container`` with its NumPy arrays and Python numbers as JAX arrays.

    distrax and numpyro keep some parameters as given (distrax a NumPy array,
    numpyro also Python numbers, and a Binomial's ``total_count`` as a NumPy
    array): the closed forms would compute in NumPy, or refuse to mix the two.
    """
    if container is None:
        return None
    import kl_backends.distributions as D
    from kl_backends.backends import BACKENDS

    jax = BACKENDS["jax"]
    changes = {}
    for field in dataclasses.fields(container):
        value = getattr(container, field.name)
        if value is None or field.name == "reinterpreted_batch_ndims":
            continue
        if isinstance(value, D.Distribution):
            changes[field.name] = as_jax(value)
        elif not jax.owns(value):
            changes[field.name] = jax.xp.asarray(value)
    return dataclasses.replace(container, **changes) if changes else container


def read(obj: Any) -> Any:
    """A container for a distrax distribution, or ``None``."""
    distrax = sys.modules.get("distrax")
    if (
        distrax is None
        or not isinstance(obj, distrax.Distribution)
        or not type(obj).__module__.startswith("distrax.")
    ):
        return None
    return as_jax(_read(obj))


def _read(obj: Any) -> Any:
    import kl_backends.distributions as D

    name = type(obj).__name__
    if name in ("Normal", "LogStddevNormal", "Laplace", "Gumbel"):
        return getattr(D, name.replace("LogStddev", ""))(obj.loc, obj.scale)
    if name == "Uniform":
        return D.Uniform(obj.low, obj.high)
    if name == "Gamma":
        return D.Gamma(obj.concentration, obj.rate)
    if name == "Beta":
        return D.Beta(obj.alpha, obj.beta)  # alpha: the exponent of x, beta: of 1 - x
    if name == "VonMises":
        return D.VonMises(obj.loc, obj.concentration)
    if name == "Dirichlet":
        return D.Dirichlet(obj.concentration)
    if name in ("Bernoulli", "Categorical", "OneHotCategorical"):
        # The one given (the other is computed on each access).
        given = {"logits": obj._logits} if obj._probs is None else {"probs": obj._probs}
        return getattr(D, name)(**given)
    if name.startswith("MultivariateNormal"):
        return _normal(D, obj, name)
    if name == "Independent":
        base = read(obj.distribution)
        return None if base is None else D.Independent(base, int(obj.reinterpreted_batch_ndims))
    if name == "MixtureSameFamily":
        return mixture(read(obj.mixture_distribution), read(obj.components_distribution))
    return None


def _normal(D: Any, obj: Any, name: str) -> Any:
    from kl_backends.backends import BACKENDS

    if name in (
        "MultivariateNormalDiag",
        "MultivariateNormalTri",
        "MultivariateNormalFullCovariance",
    ):
        if name == "MultivariateNormalDiag":
            jnp = BACKENDS["jax"].xp
            tril = jnp.vectorize(jnp.diag, signature="(d)->(d,d)")(obj.scale_diag)
        elif obj.is_lower:  # FullCovariance keeps the Cholesky factor of its covariance
            tril = obj.scale_tri
        else:
            return D.MultivariateNormal(obj.loc, covariance_matrix=obj.covariance())
        return D.MultivariateNormal(obj.loc, scale_tril=tril)
    if name in ("MultivariateNormalDiagPlusLowRank", "MultivariateNormalFromBijector"):
        # scale = diag + U V^T (or any linear bijector): no triangular factor at hand.
        return D.MultivariateNormal(obj.loc, covariance_matrix=obj.covariance())
    return None


def mixture(mix: Any, comp: Any) -> Any:
    """A ``MixtureSameFamily`` of two read containers, or ``None``."""
    import kl_backends.distributions as D

    if type(mix) is not D.Categorical or comp is None:
        return None
    return D.MixtureSameFamily(mixture_distribution=mix, component_distribution=comp)
