"""The registries of closed forms: KL pairs, entropies, log-densities and samplers.

``register_kl(TypeP, TypeQ)`` works like ``torch.distributions.kl.register_kl``:
the most specific registered pair (by the two types' method resolution
orders) is used, and user registrations extend or override the built-in ones.
The lookup follows the subclass relations of torch and TFP, where ``Chi2``
and ``Exponential`` are ``Gamma`` distributions (``register_view``): a pair
registered for ``Gamma`` serves them too (``Chi2(df)`` as
``Gamma(df / 2, rate=1/2)``, ``Exponential(rate)`` as ``Gamma(1, rate)``)
unless a more specific pair is registered, so ``KL(Chi2 || Exponential)`` is
the ``Gamma``-``Exponential`` closed form, as in torch.

``family`` registers a family's own methods (``_entropy``, ``_log_prob``,
``_sample``); ``register_entropy`` adds an entropy for any type.  The entry
points ``kl``, ``entropy`` and ``cross_entropy`` are in ``_api``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any, TypeVar

from kl_backends import _dispatch
from kl_backends.distributions._base import Distribution

__all__ = [
    "adopt",
    "family",
    "find",
    "log_prob_of",
    "register_entropy",
    "register_kl",
    "register_reader",
    "register_view",
    "registered_pairs",
    "sample_from",
    "to_container",
]

KLFunction = Callable[[Any, Any], Any]

View = Callable[[Any], Any]

T = TypeVar("T", bound=type)

_KL: dict[tuple[type, type], KLFunction] = {}
_ENTROPY: dict[type, Callable[[Any], Any]] = {}
_LOG_PROB: dict[type, Callable[[Any, Any], Any]] = {}
_SAMPLE: dict[type, Callable[[Any, Any, int], tuple[Any, Any]]] = {}
_MEMO: dict[tuple[type, type], tuple[KLFunction, View | None, View | None] | None] = {}
#: Families that torch or TFP make subclasses of another (torch: ``Chi2(Gamma)``; TFP:
#: ``Exponential(Gamma)``), with the parent family and the container they amount to there.
_VIEWS: dict[type, tuple[type, View]] = {}
#: Readers of other libraries' distribution objects (the package installs ``_interop``'s).
_READERS: list[Callable[[Any], Any]] = []


def register_kl(type_p: type, type_q: type) -> Callable[[KLFunction], KLFunction]:
    """Register a closed-form KL(p || q) for ``p: type_p`` and ``q: type_q`` (a decorator).

    Parameters
    ----------
    type_p, type_q : type
        The classes of p and q: families of ``kl_backends.distributions``,
        subclasses of them, or your own classes.

    Returns
    -------
    callable
        A decorator that registers ``fn(p, q)`` and returns it unchanged.
        ``fn`` receives the two distribution objects and returns one value
        per batch element (their broadcast batch shape), in nats, in the
        parameters' array library.

    Raises
    ------
    TypeError
        ``type_p`` or ``type_q`` is not a class.

    Notes
    -----
    ``kl`` uses the most specific registered pair, as
    ``torch.distributions.kl.register_kl``: the smallest sum of the two
    classes' positions in the method resolution orders of p's and q's types,
    then the smallest for p.  Your registrations extend the built-in pairs
    or override them; registering a pair again replaces it.  For families of
    ``kl_backends.distributions``, ``kl`` checks the batch shapes and gives
    NaN for parameters outside their domains around ``fn``; for your own
    classes it calls ``fn`` as it is.

    See Also
    --------
    kl, registered_pairs, register_entropy

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from kl_backends.distributions import register_kl, kl, Normal
    >>> @dataclass(frozen=True)
    ... class PointMass:
    ...     loc: float
    >>> @register_kl(PointMass, Normal)
    ... def _(p, q):
    ...     return float("inf")
    >>> kl(PointMass(0.0), Normal(0.0, 1.0))
    inf
    """
    for t in (type_p, type_q):
        if not isinstance(t, type):
            raise TypeError(f"register_kl takes two classes; got {t!r}")

    def decorator(fn: KLFunction) -> KLFunction:
        _KL[type_p, type_q] = fn
        _MEMO.clear()
        return fn

    return decorator


def register_entropy(type_: type) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register a closed-form entropy for distributions of ``type_`` (a decorator).

    Parameters
    ----------
    type_ : type
        The class: a family of ``kl_backends.distributions``, a subclass, or
        your own class.

    Returns
    -------
    callable
        A decorator that registers ``fn(d)`` and returns it unchanged.
        ``fn`` receives the distribution and returns one value per batch
        element, in nats, in the parameters' array library.

    Notes
    -----
    ``entropy`` (and ``cross_entropy``) use the entry of the nearest class in
    ``type(d).__mro__``; registering a class again replaces its entry.

    See Also
    --------
    entropy, register_kl

    Examples
    --------
    >>> import math
    >>> from dataclasses import dataclass
    >>> from kl_backends.distributions import Distribution, entropy, register_entropy
    >>> @dataclass(frozen=True)
    ... class Fair(Distribution):  # a fair die with ``sides`` faces
    ...     sides: int
    >>> @register_entropy(Fair)
    ... def _(d):
    ...     return math.log(d.sides)
    >>> round(float(entropy(Fair(6))), 6)
    1.791759
    """

    def decorator(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _ENTROPY[type_] = fn
        return fn

    return decorator


def family(cls: T) -> T:
    """Class decorator: register a family's ``_entropy``, ``_log_prob`` and ``_sample`` methods.

    Only the methods the class itself defines; a subclass without its own uses
    its parent's (the lookups follow the method resolution order).
    """
    for hook, table in (("_entropy", _ENTROPY), ("_log_prob", _LOG_PROB), ("_sample", _SAMPLE)):
        if hook in cls.__dict__:
            table[cls] = cls.__dict__[hook]  # type: ignore[index]
    return cls


def register_view(child: type, parent: type, view: View) -> None:
    """Pairs registered for ``parent`` serve ``child``, through ``view(d)`` (a ``parent``)."""
    _VIEWS[child] = (parent, view)
    _MEMO.clear()


def registered_pairs() -> list[tuple[str, str]]:
    """The pairs of types with a closed-form KL registered, by class name.

    Returns
    -------
    list of tuple of str
        ``(p's class name, q's class name)`` for every registered pair, built-in
        and registered with ``register_kl``, sorted.  A pair registered for a
        base class serves its subclasses too (and ``Gamma``'s pairs serve
        ``Chi2`` and ``Exponential``); those are not listed again.

    See Also
    --------
    kl, register_kl

    Examples
    --------
    >>> from kl_backends.distributions import registered_pairs
    >>> ("Normal", "Laplace") in registered_pairs()
    True
    """
    return sorted((p.__name__, q.__name__) for p, q in _KL)


def _classes(t: type) -> list[tuple[type, View | None]]:
    """``t``'s classes, most specific first, each with the view that reaches it.

    ``t``'s own method resolution order, with the parent family of a view
    (``Chi2`` -> ``Gamma``) and that family's bases placed before the common
    bases ``Distribution`` and ``object``: where torch's ``Chi2`` has ``Gamma``.
    """
    common = (Distribution, object)
    own = [c for c in t.__mro__ if c not in common]
    out: list[tuple[type, View | None]] = [(c, None) for c in own]
    for c in own:
        if c in _VIEWS:
            parent, view = _VIEWS[c]
            out += [(b, view) for b in parent.__mro__ if b not in common and b not in own]
    return out + [(c, None) for c in t.__mro__ if c in common]


def _resolve(type_p: type, type_q: type) -> tuple[KLFunction, View | None, View | None] | None:
    """The most specific registered pair for two types, and the views it needs.

    As torch's ``_dispatch_kl``: the smallest sum of the two positions in
    the classes of ``_classes``, then the smallest position of p's.
    """
    key = (type_p, type_q)
    if key in _MEMO:
        return _MEMO[key]
    cp, cq = _classes(type_p), _classes(type_q)
    index_p = {c: i for i, (c, _) in reversed(list(enumerate(cp)))}
    index_q = {c: i for i, (c, _) in reversed(list(enumerate(cq)))}
    matches = [
        (index_p[p] + index_q[q], index_p[p], fn, cp[index_p[p]][1], cq[index_q[q]][1])
        for (p, q), fn in _KL.items()
        if p in index_p and q in index_q
    ]
    found = None
    if matches:
        _, _, fn, view_p, view_q = min(matches, key=lambda m: (m[0], m[1]))
        found = (fn, view_p, view_q)
    _MEMO[key] = found
    return found


def _lookup(type_p: type, type_q: type) -> KLFunction | None:
    """The registered function for two types (through the views where needed), or ``None``."""
    found = _resolve(type_p, type_q)
    return None if found is None else found[0]


def find(table: dict[type, Any], d: Any, what: str) -> Any:
    """The entry of ``table`` for ``d``'s type or its nearest base, or ``NotImplementedError``."""
    fn = next((table[t] for t in type(d).__mro__ if t in table), None)
    if fn is None:
        have = ", ".join(sorted(t.__name__ for t in table))
        raise NotImplementedError(f"no {what} for {type(d).__name__}; available for: {have}")
    return fn


def log_prob_of(d: Any, x: Any) -> Any:
    """The log-density of ``x`` under the container ``d`` (its parameters adopted by ``x``)."""
    return find(_LOG_PROB, d, "log_prob")(adopt(d, x), x)


def sample_from(d: Any, rs: Any, n: int) -> tuple[Any, Any]:
    """``(samples, score)`` of a container from the random stream ``rs``."""
    return find(_SAMPLE, d, "sampler")(d, rs, n)  # type: ignore[no-any-return]


def adopt(d: Any, x: Any) -> Any:
    """``d`` with its Python-number parameters as arrays of ``x``'s library and dtype
    (``Normal(0.0, 1.0)`` scores torch samples in torch)."""
    be = _dispatch.backend_of(x)
    if be is None or be.name == "numpy":
        return d
    changes: dict[str, Any] = {}
    for f in fields(d):
        value = getattr(d, f.name)
        if isinstance(value, Distribution):
            changes[f.name] = adopt(value, x)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if f.name == "reinterpreted_batch_ndims":
                continue
            changes[f.name] = be.xp.asarray(value, dtype=x.dtype, device=be.device(x))
    return replace(d, **changes) if changes else d


def register_reader(read: Callable[[Any], Any]) -> None:
    """Add ``read(obj)``: a container for another library's distribution object, or ``None``."""
    _READERS.append(read)


def to_container(obj: Any) -> Any:
    """A container for ``obj`` (itself, or what a reader makes of it), or ``None``."""
    if isinstance(obj, Distribution):
        return obj
    for read in _READERS:
        found = read(obj)
        if found is not None:
            return found
    return None
