"""Light parameter containers: a distribution family and its parameters, nothing else.

Each is a frozen dataclass holding arrays of any supported library (or Python
numbers), with the parameter names that ``torch.distributions`` uses.  They
do no computation and read no values.  Each family declares the domain of
each parameter once (``domains``, a ``Domain`` per name; ``ordered`` for
``Uniform``'s ``low < high``), the constraints of ``torch.distributions``
(``VonMises`` also takes ``concentration = 0``, the uniform distribution on
the circle, as TFP does).  ``kl``, ``entropy`` and ``cross_entropy`` give NaN
for a batch element where a parameter of p or q lies outside its domain,
and raise ``ValueError`` naming the parameter with ``validate=True``.

Batch shapes are the broadcast of the parameters' shapes less their event
axes (``Domain.event_ndims``): the last axis for ``Dirichlet``,
``Categorical``, ``OneHotCategorical`` and the multivariate normals' ``loc``
and ``cov_diag``, the last two for their matrices and ``cov_factor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

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


@dataclass(frozen=True)
class Domain:
    """The set a parameter's values must lie in.

    Attributes
    ----------
    kind
        The test (``kl_backends.distributions._domains.CHECKS``): ``"real"``
        (not NaN), ``"positive"``, ``"nonnegative"``, ``"unit_interval"``
        ([0, 1]), ``"half_open_unit_interval"`` ((0, 1]),
        ``"nonnegative_integer"``, ``"probability_vector"`` (finite, >= 0,
        with a positive sum: probabilities up to normalisation),
        ``"logits_vector"`` (unnormalised log-probabilities: no NaN, no +inf,
        not all -inf),
        ``"lower_cholesky"`` or ``"positive_definite"``.
    text
        How an error message states it: ``"> 0"``, ``"in [0, 1]"``, ...
    event_ndims
        The number of trailing axes that hold one event's values (1 for a
        vector, 2 for a matrix); the others are batch axes.
    """

    kind: str
    text: str
    event_ndims: int = 0


REAL = Domain("real", "real (not NaN)")
POSITIVE = Domain("positive", "> 0")
NONNEGATIVE = Domain("nonnegative", ">= 0")
UNIT_INTERVAL = Domain("unit_interval", "in [0, 1]")
HALF_OPEN_UNIT_INTERVAL = Domain("half_open_unit_interval", "in (0, 1]")
NONNEGATIVE_INTEGER = Domain("nonnegative_integer", "a whole number >= 0")
REAL_VECTOR = Domain("real", "real (not NaN)", 1)
POSITIVE_VECTOR = Domain("positive", "> 0", 1)
REAL_MATRIX = Domain("real", "real (not NaN)", 2)
LOGITS_VECTOR = Domain(
    "logits_vector",
    "real (not NaN) and below +inf, with an entry above -inf, over the last axis",
    1,
)
PROBABILITY_VECTOR = Domain(
    "probability_vector", ">= 0 and finite, with a positive sum over the last axis", 1
)
LOWER_CHOLESKY = Domain("lower_cholesky", "lower-triangular with a positive diagonal", 2)
POSITIVE_DEFINITE = Domain("positive_definite", "symmetric positive-definite", 2)


def _domains(**domains: Domain) -> Mapping[str, Domain]:
    return MappingProxyType(domains)


class Distribution:
    """Base of the containers: ``params()`` gives the parameters given, by name.

    ``domains`` maps each parameter's name to its ``Domain``; ``ordered``
    lists pairs ``(a, b)`` of parameters with ``a < b`` required.
    """

    domains: Mapping[str, Domain] = MappingProxyType({})
    ordered: tuple[tuple[str, str], ...] = ()

    def params(self) -> dict[str, Any]:
        names = [f.name for f in fields(self)]  # type: ignore[arg-type]
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True)
class Normal(Distribution):
    """N(loc, scale**2); ``scale`` is the standard deviation."""

    domains = _domains(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any


@dataclass(frozen=True)
class LogNormal(Distribution):
    """exp(N(loc, scale**2))."""

    domains = _domains(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any


@dataclass(frozen=True)
class HalfNormal(Distribution):
    """|N(0, scale**2)|."""

    domains = _domains(scale=POSITIVE)

    scale: Any


@dataclass(frozen=True)
class Laplace(Distribution):
    """Density exp(-|x - loc| / scale) / (2 scale)."""

    domains = _domains(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any


@dataclass(frozen=True)
class Gumbel(Distribution):
    """Gumbel (maximum) with density exp(-(z + exp(-z))) / scale, z = (x - loc) / scale."""

    domains = _domains(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on [low, high)."""

    domains = _domains(low=REAL, high=REAL)
    ordered = (("low", "high"),)

    low: Any
    high: Any


@dataclass(frozen=True)
class Exponential(Distribution):
    """Density rate * exp(-rate x) on x >= 0."""

    domains = _domains(rate=POSITIVE)

    rate: Any


@dataclass(frozen=True)
class Gamma(Distribution):
    """Shape ``concentration``, ``rate`` (= 1 / scale)."""

    domains = _domains(concentration=POSITIVE, rate=POSITIVE)

    concentration: Any
    rate: Any


@dataclass(frozen=True)
class Chi2(Distribution):
    """Chi-squared with ``df`` degrees of freedom = Gamma(df / 2, rate=1/2)."""

    domains = _domains(df=POSITIVE)

    df: Any


@dataclass(frozen=True)
class InverseGamma(Distribution):
    """1 / X for X ~ Gamma(concentration, rate); density has ``rate`` as its scale."""

    domains = _domains(concentration=POSITIVE, rate=POSITIVE)

    concentration: Any
    rate: Any


@dataclass(frozen=True)
class Beta(Distribution):
    """Density x**(concentration1 - 1) (1 - x)**(concentration0 - 1) / B on (0, 1)."""

    domains = _domains(concentration1=POSITIVE, concentration0=POSITIVE)

    concentration1: Any
    concentration0: Any


@dataclass(frozen=True)
class Pareto(Distribution):
    """Density alpha scale**alpha / x**(alpha + 1) on x >= scale."""

    domains = _domains(scale=POSITIVE, alpha=POSITIVE)

    scale: Any
    alpha: Any


@dataclass(frozen=True)
class Weibull(Distribution):
    """CDF 1 - exp(-(x / scale)**concentration) on x >= 0."""

    domains = _domains(scale=POSITIVE, concentration=POSITIVE)

    scale: Any
    concentration: Any


@dataclass(frozen=True)
class VonMises(Distribution):
    """Circular density exp(concentration cos(x - loc)) / (2 pi I0(concentration))."""

    domains = _domains(loc=REAL, concentration=NONNEGATIVE)

    loc: Any
    concentration: Any


@dataclass(frozen=True)
class Poisson(Distribution):
    """Poisson with mean ``rate``."""

    domains = _domains(rate=NONNEGATIVE)

    rate: Any


@dataclass(frozen=True)
class _ProbsOrLogits(Distribution):
    """Exactly one of ``probs`` and ``logits`` (log-odds, or unnormalised log-probs)."""

    probs: Any = None
    logits: Any = None

    def __post_init__(self) -> None:
        if (self.probs is None) == (self.logits is None):
            given = "both" if self.probs is not None else "neither"
            raise ValueError(
                f"{type(self).__name__} takes exactly one of probs and logits; got {given}"
            )


@dataclass(frozen=True)
class Bernoulli(_ProbsOrLogits):
    """P(1) = probs = sigmoid(logits)."""

    domains = _domains(probs=UNIT_INTERVAL, logits=REAL)


@dataclass(frozen=True)
class Geometric(_ProbsOrLogits):
    """Number of failures before the first success: P(k) = (1 - probs)**k probs, k >= 0."""

    domains = _domains(probs=HALF_OPEN_UNIT_INTERVAL, logits=REAL)


@dataclass(frozen=True)
class ContinuousBernoulli(_ProbsOrLogits):
    """Density C(probs) probs**x (1 - probs)**(1 - x) on [0, 1] (Loaiza-Ganem & Cunningham)."""

    domains = _domains(probs=UNIT_INTERVAL, logits=REAL)


@dataclass(frozen=True)
class Categorical(_ProbsOrLogits):
    """Over the last axis: ``probs`` (normalised there) or unnormalised ``logits``."""

    domains = _domains(probs=PROBABILITY_VECTOR, logits=LOGITS_VECTOR)


@dataclass(frozen=True)
class OneHotCategorical(_ProbsOrLogits):
    """A ``Categorical`` whose samples are one-hot vectors (same KL)."""

    domains = Categorical.domains


@dataclass(frozen=True)
class Binomial(Distribution):
    """Successes in ``total_count`` trials of probability ``probs`` (or ``logits``)."""

    domains = _domains(total_count=NONNEGATIVE_INTEGER, probs=UNIT_INTERVAL, logits=REAL)

    total_count: Any = 1
    probs: Any = None
    logits: Any = None

    def __post_init__(self) -> None:
        _ProbsOrLogits.__post_init__(self)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MultivariateNormal(Distribution):
    """N(loc, Sigma) over the last axis; Sigma from exactly one of the three forms."""

    domains = _domains(
        loc=REAL_VECTOR,
        covariance_matrix=POSITIVE_DEFINITE,
        precision_matrix=POSITIVE_DEFINITE,
        scale_tril=LOWER_CHOLESKY,
    )

    loc: Any
    covariance_matrix: Any = None
    precision_matrix: Any = None
    scale_tril: Any = None

    def __post_init__(self) -> None:
        given = [
            n
            for n in ("covariance_matrix", "precision_matrix", "scale_tril")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "MultivariateNormal takes exactly one of covariance_matrix, precision_matrix "
                f"or scale_tril; got {given or 'none'}"
            )


@dataclass(frozen=True)
class LowRankMultivariateNormal(Distribution):
    """N(loc, cov_factor cov_factor^T + diag(cov_diag)); ``cov_factor`` is ``[..., d, k]``."""

    domains = _domains(loc=REAL_VECTOR, cov_factor=REAL_MATRIX, cov_diag=POSITIVE_VECTOR)

    loc: Any
    cov_factor: Any
    cov_diag: Any


@dataclass(frozen=True)
class Independent(Distribution):
    """``base_dist`` with its rightmost ``reinterpreted_batch_ndims`` batch axes as event axes."""

    base_dist: Any
    reinterpreted_batch_ndims: int = 1

    def __post_init__(self) -> None:
        n = self.reinterpreted_batch_ndims
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"reinterpreted_batch_ndims must be an int >= 0; got {n!r}")


@dataclass(frozen=True)
class Dirichlet(Distribution):
    """Dirichlet over the last axis."""

    domains = _domains(concentration=POSITIVE_VECTOR)

    concentration: Any


@dataclass(frozen=True)
class Cauchy(Distribution):
    """Density 1 / (pi scale (1 + ((x - loc) / scale)**2))."""

    domains = _domains(loc=REAL, scale=POSITIVE)

    loc: Any
    scale: Any


@dataclass(frozen=True)
class MixtureSameFamily(Distribution):
    """A mixture over the rightmost batch axis of ``component_distribution``.

    ``mixture_distribution`` is a ``Categorical`` over K components (its
    ``probs`` or ``logits`` have shape ``[..., K]``) and ``component_distribution``
    any container whose batch shape ends in K, as ``torch.distributions`` and
    TFP's ``MixtureSameFamily``.  No closed-form KL exists between mixtures:
    ``kl_backends.distributions.monte_carlo_kl`` estimates it.
    """

    mixture_distribution: Any
    component_distribution: Any

    def __post_init__(self) -> None:
        if not isinstance(self.mixture_distribution, Categorical) or isinstance(
            self.mixture_distribution, OneHotCategorical
        ):
            raise TypeError(
                "MixtureSameFamily's mixture_distribution must be a Categorical; got "
                f"{type(self.mixture_distribution).__name__}"
            )
        if not isinstance(self.component_distribution, Distribution):
            raise TypeError(
                "MixtureSameFamily's component_distribution must be a kl_backends "
                f"distribution; got {type(self.component_distribution).__name__}"
            )
