"""``tfp.distributions`` objects as containers (their tensors)."""

from __future__ import annotations

import sys
from typing import Any

from kl_backends.distributions._readers import PROBS_OR_LOGITS, SAME_NAMES, fields_of

__all__ = ["read"]

#: TFP's parameter names that differ from ours, per family.
_RENAMES = {"Pareto": {"alpha": "concentration"}, "InverseGamma": {"rate": "scale"}}


def _diag(xp: Any, d: Any) -> Any:
    """The diagonal matrices with ``d`` (``[..., n]``) on their diagonals, ``[..., n, n]``."""
    n = d.shape[-1]
    eye = xp.eye(n, dtype=d.dtype) == 1
    return xp.where(eye, xp.expand_dims(d, axis=-1), xp.zeros_like(eye, dtype=d.dtype))


def read(obj: Any) -> Any:
    """A container for a ``tfp.distributions`` object, or ``None``."""
    import kl_backends.distributions as D
    from kl_backends.backends import BACKENDS

    dists = sys.modules.get("tensorflow_probability.python.distributions")
    if dists is None or not isinstance(obj, dists.Distribution):
        return None
    if not type(obj).__module__.startswith("tensorflow_probability."):
        return None
    be = BACKENDS["tensorflow"]
    xp = be.xp
    name = type(obj).__name__
    params = obj.parameters

    def get(key: str) -> Any:
        value = params.get(key)
        return None if value is None else be.coerce(key, xp.asarray(value))

    if name in ("Gamma", "Poisson", "Exponential") and params.get("rate") is None:
        rate = xp.exp(get("log_rate"))
        if name == "Gamma":
            return D.Gamma(get("concentration"), rate)
        return (D.Poisson if name == "Poisson" else D.Exponential)(rate)
    if name in SAME_NAMES and name != "LowRankMultivariateNormal":
        cls = getattr(D, name)
        rename = _RENAMES.get(name, {})
        return cls(**{f: get(rename.get(f, f)) for f in fields_of(cls)})
    if name in PROBS_OR_LOGITS or name == "Binomial":
        kind = "logits" if params.get("logits") is not None else "probs"
        if name == "Binomial":
            return D.Binomial(get("total_count"), **{kind: get(kind)})
        return getattr(D, name)(**{kind: get(kind)})
    return _read_structured(D, xp, dists, obj, name, get)


def _read_structured(D: Any, xp: Any, dists: Any, obj: Any, name: str, get: Any) -> Any:
    """The multivariate normals, ``Independent`` and ``MixtureSameFamily``."""
    params = obj.parameters

    def loc() -> Any:  # TFP's normals take loc=None for zeros
        given = get("loc")
        return obj.mean() if given is None else given

    if name == "MultivariateNormalTriL":
        return D.MultivariateNormal(loc(), scale_tril=get("scale_tril"))
    if name == "MultivariateNormalFullCovariance":
        return D.MultivariateNormal(loc(), covariance_matrix=get("covariance_matrix"))
    if name == "MultivariateNormalDiag" and params.get("scale_diag") is not None:
        return D.MultivariateNormal(loc(), scale_tril=_diag(xp, get("scale_diag")))
    if name == "MultivariateNormalDiagPlusLowRankCovariance":
        return D.LowRankMultivariateNormal(loc(), get("cov_perturb_factor"), get("cov_diag_factor"))
    if isinstance(obj, dists.MultivariateNormalLinearOperator):
        # MultivariateNormalDiagPlusLowRank (scale = D + U diag(s) U^T, not a covariance
        # factor), MultivariateNormalLinearOperator: the covariance, as TFP's KL uses.
        return D.MultivariateNormal(obj.mean(), covariance_matrix=obj.covariance())
    if name == "Independent":
        base = read(obj.distribution)
        if base is None:
            return None
        n = params.get("reinterpreted_batch_ndims")
        return D.Independent(base, len(obj.distribution.batch_shape) if n is None else int(n))
    if name == "MixtureSameFamily":
        mix = read(obj.mixture_distribution)
        comp = read(obj.components_distribution)
        return None if mix is None or comp is None else D.MixtureSameFamily(mix, comp)
    return None
