"""``torch.distributions`` objects as containers (their tensors, not copies)."""

from __future__ import annotations

import sys
from typing import Any

from kl_backends.distributions._readers import PROBS_OR_LOGITS, SAME_NAMES, fields_of

__all__ = ["read"]

#: Families read by name besides ``SAME_NAMES`` and ``PROBS_OR_LOGITS``.
_KNOWN = ("Chi2", "Binomial", "MultivariateNormal", "Independent", "MixtureSameFamily")


def _family(obj: Any) -> str:
    """The nearest family of ``obj``'s class: torch's own subclasses
    (``OneHotCategoricalStraightThrough``) read as their base, as torch's KL registry
    reaches them."""
    return next(
        (
            c.__name__
            for c in type(obj).__mro__
            if c.__module__.startswith("torch.distributions")
            and (c.__name__ in SAME_NAMES or c.__name__ in PROBS_OR_LOGITS or c.__name__ in _KNOWN)
        ),
        type(obj).__name__,
    )


def _probs_or_logits(d: Any) -> dict[str, Any]:
    # The parameter it was built from (torch computes the other one lazily).
    return {"logits": d.logits} if "logits" in vars(d) else {"probs": d.probs}


def read(obj: Any) -> Any:
    """A container for a ``torch.distributions`` object, or ``None``."""
    import kl_backends.distributions as D

    dists = sys.modules.get("torch.distributions")
    if dists is None or not isinstance(obj, dists.Distribution):
        return None
    if type(obj).__module__.split(".")[:2] != ["torch", "distributions"]:
        return None  # a user's subclass: its own registration, not ours
    name = _family(obj)
    if name == "Chi2":
        return D.Chi2(obj.df)
    if name in SAME_NAMES:
        cls = getattr(D, name)
        return cls(**{f: getattr(obj, f) for f in fields_of(cls)})
    if name == "Binomial":
        return D.Binomial(obj.total_count, **_probs_or_logits(obj))
    if name in PROBS_OR_LOGITS:
        base = obj._categorical if name == "OneHotCategorical" else obj
        return getattr(D, name)(**_probs_or_logits(base))
    if name == "MultivariateNormal":
        return D.MultivariateNormal(obj.loc, scale_tril=obj._unbroadcasted_scale_tril)
    if name == "Independent":
        base = read(obj.base_dist)
        return None if base is None else D.Independent(base, obj.reinterpreted_batch_ndims)
    if name == "MixtureSameFamily":
        mix = read(obj.mixture_distribution)
        comp = read(obj.component_distribution)
        return None if mix is None or comp is None else D.MixtureSameFamily(mix, comp)
    return None
