"""Reading ``torch.distributions`` and ``tfp.distributions`` objects into containers.

One converter per framework, each a single function that can move into that
framework's ``backends/<framework>.py`` module; a framework is consulted only
when it is already imported (``sys.modules``), so nothing here imports one.
The parameters stay tensors of their framework (no copies, no host
transfers), so the closed forms compute there: the result, its dtype, device
and gradient stay in that framework.

Covered: every family of ``_containers`` under its own name (TFP's
``MultivariateNormalTriL`` and ``MultivariateNormalDiag`` become a
``MultivariateNormal``), and ``Independent``.  Anything else is ``None``,
which ``kl`` reports as an unsupported pair.
"""

from __future__ import annotations

import sys
from typing import Any

from kl_backends.distributions import _containers as C

__all__ = ["tfp_to_container", "to_container", "torch_to_container"]


def to_container(obj: Any) -> Any:
    """A kl_backends container for ``obj``, or ``None`` if it is not a known distribution."""
    if isinstance(obj, C.Distribution):
        return obj
    for module, converter in _CONVERTERS:
        if module in sys.modules:
            found = converter(obj)
            if found is not None:
                return found
    return None


# Families whose parameters have the same names in torch.distributions and here.
_SAME_NAMES: dict[str, Any] = {
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
_PROBS_OR_LOGITS: dict[str, Any] = {
    "Bernoulli": C.Bernoulli,
    "Geometric": C.Geometric,
    "ContinuousBernoulli": C.ContinuousBernoulli,
    "Categorical": C.Categorical,
    "OneHotCategorical": C.OneHotCategorical,
}


def torch_to_container(obj: Any) -> Any:
    """A container for a ``torch.distributions`` object (its tensors, not copies), else ``None``."""
    torch_distributions = sys.modules.get("torch.distributions")
    if torch_distributions is None or not isinstance(obj, torch_distributions.Distribution):
        return None
    name = type(obj).__name__
    if type(obj).__module__.split(".")[:2] != ["torch", "distributions"]:
        return None  # a user's subclass: its own registration, not ours
    if name in _SAME_NAMES:
        cls = _SAME_NAMES[name]
        if name == "Chi2":
            return cls(obj.df)
        return cls(**{f: getattr(obj, f) for f in cls.__dataclass_fields__})
    if name == "Binomial":
        return C.Binomial(obj.total_count, **_torch_probs_or_logits(obj))
    if name in _PROBS_OR_LOGITS:
        if name == "OneHotCategorical":
            obj = obj._categorical
        return _PROBS_OR_LOGITS[name](**_torch_probs_or_logits(obj))
    if name == "MultivariateNormal":
        return C.MultivariateNormal(obj.loc, scale_tril=obj._unbroadcasted_scale_tril)
    if name == "Independent":
        base = torch_to_container(obj.base_dist)
        return None if base is None else C.Independent(base, obj.reinterpreted_batch_ndims)
    return None


def _torch_probs_or_logits(obj: Any) -> dict[str, Any]:
    """The parameter the object was built from (torch computes the other one lazily)."""
    if "logits" in vars(obj):
        return {"logits": obj.logits}
    return {"probs": obj.probs}


# TFP names that differ from ours: (our field, TFP parameter).
_TFP_RENAMES: dict[str, dict[str, str]] = {
    "Pareto": {"alpha": "concentration"},
    "InverseGamma": {"rate": "scale"},
    "LowRankMultivariateNormal": {},
}


def tfp_to_container(obj: Any) -> Any:
    """A container for a ``tfp.distributions`` object, else ``None``."""
    tfp_distributions = sys.modules.get("tensorflow_probability.python.distributions")
    if tfp_distributions is None or not isinstance(obj, tfp_distributions.Distribution):
        return None
    if not type(obj).__module__.startswith("tensorflow_probability."):
        return None
    import tensorflow as tf

    name = type(obj).__name__
    params = obj.parameters

    def get(key: str) -> Any:
        value = params.get(key)
        return None if value is None else tf.convert_to_tensor(value)

    if name in ("Gamma", "Poisson", "Exponential") and params.get("rate") is None:
        rate = tf.exp(get("log_rate"))
        if name == "Gamma":
            return C.Gamma(get("concentration"), rate)
        return (C.Poisson if name == "Poisson" else C.Exponential)(rate)
    if name in _SAME_NAMES and name != "LowRankMultivariateNormal":
        cls = _SAME_NAMES[name]
        renames = _TFP_RENAMES.get(name, {})
        return cls(**{f: get(renames.get(f, f)) for f in cls.__dataclass_fields__})
    if name in _PROBS_OR_LOGITS or name == "Binomial":
        kind = "logits" if params.get("logits") is not None else "probs"
        if name == "Binomial":
            return C.Binomial(get("total_count"), **{kind: get(kind)})
        return _PROBS_OR_LOGITS[name](**{kind: get(kind)})
    if name == "MultivariateNormalTriL":
        return C.MultivariateNormal(get("loc"), scale_tril=get("scale_tril"))
    if name == "MultivariateNormalDiag":
        diag = get("scale_diag")
        loc = get("loc")
        if diag is None:
            return None
        if loc is None:
            loc = tf.zeros_like(diag)
        return C.MultivariateNormal(loc, scale_tril=tf.linalg.diag(diag))
    if name == "Independent":
        base = tfp_to_container(obj.distribution)
        n = params.get("reinterpreted_batch_ndims")
        if base is None:
            return None
        if n is None:
            n = len(obj.distribution.batch_shape)
        return C.Independent(base, int(n))
    return None


_CONVERTERS: list[tuple[str, Any]] = [
    ("torch.distributions", torch_to_container),
    ("tensorflow_probability", tfp_to_container),
]
