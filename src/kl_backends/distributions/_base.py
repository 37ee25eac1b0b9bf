"""The base of the families: ``Distribution``, parameter domains (``Domain``), probs-or-logits.

A family is one frozen dataclass (``kl_backends.distributions.families``) holding
arrays of any supported library (or Python numbers), with the parameter names
that ``torch.distributions`` uses.  Constructing one does no computation and
reads no values.  Each family declares the domain of each parameter once
(``domains``, a ``Domain`` per name; ``ordered`` for ``Uniform``'s
``low < high``), the constraints of ``torch.distributions`` (``VonMises`` also
takes ``concentration = 0``, the uniform distribution on the circle, as TFP
does).  ``kl``, ``entropy`` and ``cross_entropy`` give NaN for a batch element
where a parameter of p or q lies outside its domain, and raise ``ValueError``
naming the parameter with ``validate=True``.

Batch shapes are the broadcast of the parameters' shapes less their event
axes (``Domain.event_ndims``): the last axis for ``Dirichlet``,
``Categorical``, ``OneHotCategorical`` and the multivariate normals' ``loc``
and ``cov_diag``, the last two for their matrices and ``cov_factor``.

A family's closed forms are its methods, found by the free functions of
``kl_backends.distributions`` through the registry (``_registry.family``):
``_entropy()``, ``_log_prob(x)`` (``x`` already in the parameters' library)
and ``_sample(stream, n)`` (``(samples, score)``: the log-probability of the
discrete choices, or ``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from kl_backends.distributions._helpers import broadcast_named, sigmoid, value_shape

__all__ = [
    "HALF_OPEN_UNIT_INTERVAL",
    "LOGITS_VECTOR",
    "LOWER_CHOLESKY",
    "NONNEGATIVE",
    "NONNEGATIVE_INTEGER",
    "POSITIVE",
    "POSITIVE_DEFINITE",
    "POSITIVE_VECTOR",
    "PROBABILITY_VECTOR",
    "REAL",
    "REAL_MATRIX",
    "REAL_VECTOR",
    "UNIT_INTERVAL",
    "Distribution",
    "Domain",
    "GivenByProbsOrLogits",
    "ProbsOrLogits",
    "declare",
    "leaves",
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


def declare(**domains: Domain) -> Mapping[str, Domain]:
    """A family's ``domains``: each parameter's ``Domain``, by name (read-only)."""
    return MappingProxyType(domains)


class Distribution:
    """The base class of the distribution families.

    Every family (``Normal``, ``Beta``, ``Categorical``, ...) is a frozen
    dataclass deriving from it, holding its parameters as given: arrays of
    any supported library (NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy, any
    array-API library) or Python numbers, with ``torch.distributions``'
    parameter names.  Constructing one computes nothing and reads no values;
    ``kl``, ``entropy``, ``cross_entropy``, ``log_prob``, ``sample`` and
    ``monte_carlo_kl`` compute in the parameters' library and on their device.

    Attributes
    ----------
    domains : Mapping[str, Domain]
        Each parameter's domain, by name (class attribute): its test
        (``"positive"``, ``"unit_interval"``, ``"probability_vector"``, ...),
        how error messages state it (``"> 0"``), and its number of event axes.
    ordered : tuple of (str, str)
        Pairs ``(a, b)`` of parameters with ``a < b`` required (class
        attribute; ``Uniform``: ``low < high``).

    Notes
    -----
    Batch shape: the broadcast of the parameters' shapes less their event
    axes (the last axis of vector parameters such as ``Dirichlet``'s
    ``concentration``, the last two of matrices).  Results of ``kl`` and
    ``entropy`` have it; a batch element with a parameter outside its domain
    gives NaN (``validate=True``: ``ValueError``).  Subclass it (as a frozen
    dataclass) for a family of your own and register its closed forms with
    ``register_kl`` and ``register_entropy``.

    See Also
    --------
    kl, entropy, register_kl

    Examples
    --------
    >>> from kl_backends.distributions import Distribution, Normal
    >>> d = Normal(0.0, 1.0)
    >>> isinstance(d, Distribution), d.params()
    (True, {'loc': 0.0, 'scale': 1.0})
    >>> sorted(Normal.domains)
    ['loc', 'scale']
    """

    domains: Mapping[str, Domain] = MappingProxyType({})
    ordered: tuple[tuple[str, str], ...] = ()
    #: What ``kl``'s error says where no pair is registered for this type.
    _kl_note: str = ""

    def params(self) -> dict[str, Any]:
        """The parameters given, by name (those left ``None`` omitted).

        Returns
        -------
        dict of str to array or number
            The parameters as they were given (not converted).
        """
        names = [f.name for f in fields(self)]  # type: ignore[arg-type]
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def _parts(self) -> dict[str, tuple[Distribution, int]]:
        """The distributions this one is made of, by field name, each with the number of
        its trailing batch axes that are not batch axes here (none for a family)."""
        return {}

    def _event_ndims(self) -> int:
        """The number of event axes of a sample (0 for scalar families and Categorical's index)."""
        return 0

    def _batch_shape(self, path: str = "d") -> tuple[int | None, ...]:
        """The broadcast of the parameters' shapes less their event axes (``path`` names
        ``self`` in the ``ValueError`` for shapes that do not broadcast)."""
        items = []
        for name, value in self.params().items():
            shape = value_shape(value)
            domain = type(self).domains.get(name)
            cut = domain.event_ndims if domain is not None else 0
            items.append((f"{path}.{name}", shape[: max(len(shape) - cut, 0)]))
        return broadcast_named(items, f"{path} ({type(self).__name__})'s parameters")


class GivenByProbsOrLogits:
    """Families given by exactly one of ``probs`` and ``logits`` (log-odds, or unnormalised log-probs)."""

    probs: Any
    logits: Any

    def __post_init__(self) -> None:
        if (self.probs is None) == (self.logits is None):
            given = "both" if self.probs is not None else "neither"
            raise ValueError(
                f"{type(self).__name__} takes exactly one of probs and logits; got {given}"
            )

    def _param(self) -> Any:
        """The parameter given: ``probs`` or ``logits``."""
        return self.probs if self.probs is not None else self.logits

    def _probs_from(self, xp: Any, x: Any) -> Any:
        """The probabilities from the prepared ``_param()`` (the sigmoid of logits)."""
        return x if self.probs is not None else sigmoid(xp, x)


@dataclass(frozen=True)
class ProbsOrLogits(GivenByProbsOrLogits, Distribution):
    """Exactly one of ``probs`` and ``logits`` (log-odds, or unnormalised log-probs)."""

    probs: Any = None
    logits: Any = None


def leaves(*dists: Any) -> list[Any]:
    """The array parameters of distributions and of what they are made of."""
    out: list[Any] = []
    for d in dists:
        if not isinstance(d, Distribution):
            continue
        parts = d._parts()
        if parts:
            out += leaves(*(part for part, _ in parts.values()))
        else:
            out += [v for v in d.params().values() if not isinstance(v, (int, float))]
    return out
