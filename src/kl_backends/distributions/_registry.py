"""The KL and entropy registries and the public entry points ``kl``, ``entropy``, ``cross_entropy``.

``register_kl(TypeP, TypeQ)`` works like ``torch.distributions.kl.register_kl``:
the most specific registered pair (by the two types' method resolution
orders) is used, and user registrations extend or override the built-in ones.
The lookup follows the subclass relations of torch and TFP, where ``Chi2``
and ``Exponential`` are ``Gamma`` distributions: a pair registered for
``Gamma`` serves them too (``Chi2(df)`` as ``Gamma(df / 2, rate=1/2)``,
``Exponential(rate)`` as ``Gamma(1, rate)``) unless a more specific pair is
registered, so ``KL(Chi2 || Exponential)`` is the ``Gamma``-``Exponential``
closed form, as in torch.

Every result has the broadcast batch shape of p and q, and is NaN for a
batch element where a parameter of p or q lies outside its domain
(``Domain``, declared by each container); ``validate=True`` raises
``ValueError`` there instead (``_domains``).

``kl`` also takes ``torch.distributions`` and ``tfp.distributions`` objects:
when no pair is registered for their own types, they are read into the
containers of ``_containers`` (their parameters stay tensors of their
framework), so the result, its dtype, device and gradient stay there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kl_backends import _dispatch
from kl_backends._math import args as _args
from kl_backends.distributions import _containers as C
from kl_backends.distributions import _domains, _interop

__all__ = [
    "cross_entropy",
    "entropy",
    "kl",
    "register_entropy",
    "register_kl",
    "registered_pairs",
]

KLFunction = Callable[[Any, Any], Any]

View = Callable[[Any], Any]

_KL: dict[tuple[type, type], KLFunction] = {}
_ENTROPY: dict[type, Callable[[Any], Any]] = {}
_MEMO: dict[tuple[type, type], tuple[KLFunction, View | None, View | None] | None] = {}


def _times(x: Any, c: float) -> Any:
    """``x * c`` for an array, a Python number or a (nested) list of numbers."""
    if isinstance(x, (list, tuple)):
        return [_times(v, c) for v in x]
    return x * c


#: Families that torch or TFP make subclasses of another (torch: ``Chi2(Gamma)``; TFP:
#: ``Exponential(Gamma)``), with the container of the parent family they amount to.
_VIEWS: dict[type, tuple[type, View]] = {
    C.Chi2: (C.Gamma, lambda d: C.Gamma(_times(d.df, 0.5), 0.5)),
    C.Exponential: (C.Gamma, lambda d: C.Gamma(1.0, d.rate)),
}


def register_kl(type_p: type, type_q: type) -> Callable[[KLFunction], KLFunction]:
    """Decorator: register ``fn(p, q)`` as KL(p || q) for ``p: type_p`` and ``q: type_q``.

    The function receives the two distribution objects and returns one value
    per batch element, in the parameters' array library.  Subclasses are
    covered: the most specific registered pair wins, as in
    ``torch.distributions.kl.register_kl``.  Registering a pair again
    replaces it.

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
    """Decorator: register ``fn(d)`` as the entropy of distributions of ``type_``."""

    def decorator(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _ENTROPY[type_] = fn
        return fn

    return decorator


def registered_pairs() -> list[tuple[str, str]]:
    """The registered (p type, q type) pairs, by class name, sorted."""
    return sorted((p.__name__, q.__name__) for p, q in _KL)


def _classes(t: type) -> list[tuple[type, View | None]]:
    """``t``'s classes, most specific first, each with the view that reaches it.

    ``t``'s own method resolution order, with the parent family of a view
    (``Chi2`` -> ``Gamma``) and that family's bases placed before the common
    bases ``Distribution`` and ``object``: where torch's ``Chi2`` has ``Gamma``.
    """
    common = (C.Distribution, object)
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


def _leaves(*dists: Any) -> list[Any]:
    """The array parameters of containers (for NumPy's warning context)."""
    out: list[Any] = []
    for d in dists:
        if isinstance(d, C.Independent):
            out += _leaves(d.base_dist)
        elif isinstance(d, C.MixtureSameFamily):
            out += _leaves(d.mixture_distribution, d.component_distribution)
        elif isinstance(d, C.Distribution):
            out += [v for v in d.params().values() if not isinstance(v, (int, float))]
    return out


def _quiet(leaves: list[Any]) -> Any:
    """The backend's context for log(0) and NaN warnings (NumPy's ``errstate``)."""
    for x in leaves:
        be = _dispatch.backend_of(x)
        if be is not None:
            return be.quiet()
    from kl_backends.backends import BACKENDS

    return BACKENDS["numpy"].quiet()  # Python numbers and lists become NumPy arrays


def kl(p: Any, q: Any, /, *, validate: bool = False) -> Any:
    r"""KL(p || q) between two distributions, in nats, one value per batch element.

    .. math:: \operatorname{KL}(p \,\|\, q) = \int p(x) \log\frac{p(x)}{q(x)}\,dx

    Parameters
    ----------
    p, q
        kl_backends containers (``kl_backends.distributions.Normal(loc,
        scale)``, ...) holding arrays of any supported library, or
        ``torch.distributions`` / ``tfp.distributions`` / distrax / numpyro
        objects (read into containers; the computation stays in their
        framework).
    validate : bool, default False
        Check that every parameter lies in its domain (``scale > 0``,
        ``probs`` in [0, 1], ...) and raise ``ValueError`` naming the first
        that does not.  This reads the values (a host synchronisation; not
        possible inside ``jax.jit`` or ``tf.function``, nor on lazy Dask
        arrays).  Without it, such batch elements give NaN.

    Returns
    -------
    array
        The KL with the broadcast batch shape of p and q, in the parameters'
        library and dtype.  ``+inf`` where p puts mass where q has none
        (documented per pair, e.g. a ``Uniform`` p not inside a ``Uniform``
        q); identical distributions give exactly 0; NaN where a parameter of
        p or q lies outside its domain.

    Raises
    ------
    NotImplementedError
        No closed form is registered for the two types (mixtures have none):
        the message names ``monte_carlo_kl``, which estimates any pair of
        families with a sampler and a density, and lists the pairs.
    ValueError
        The batch shapes of p and q (or of one's parameters) do not
        broadcast; the message names both.  With ``validate=True``, a
        parameter outside its domain.

    Examples
    --------
    >>> from kl_backends.distributions import kl, Normal
    >>> print(f"{kl(Normal(0.0, 1.0), Normal(1.0, 2.0)):.10f}")
    0.4431471806
    >>> print(kl(Normal(0.0, -1.0), Normal(0.0, 1.0)))  # a negative scale
    nan
    """
    validate = _args.check_bool("validate", validate)
    found = _resolve(type(p), type(q))
    if found is None:
        cp, cq = _interop.to_container(p), _interop.to_container(q)
        if cp is not None and cq is not None:
            found = _resolve(type(cp), type(cq))
            if found is not None:
                p, q = cp, cq
    if found is None:
        raise NotImplementedError(_missing_message(p, q))
    fn, view_p, view_q = found
    if not (isinstance(p, C.Distribution) and isinstance(q, C.Distribution)):
        with _quiet(_leaves(p, q)):  # a user's pair of their own types
            return fn(p, q)
    shape = _domains.broadcast_batch(p, q)
    if validate:
        _domains.validate(p, "p")
        _domains.validate(q, "q")
    with _quiet(_leaves(p, q)):
        (sp, sq), ok = _domains.sanitize(p, q)
        out = fn(sp if view_p is None else view_p(sp), sq if view_q is None else view_q(sq))
        return _domains.mask_invalid(out, shape, ok)


def _missing_message(p: Any, q: Any) -> str:
    pairs = ", ".join(f"{a}-{b}" for a, b in registered_pairs())
    unread = [
        f"{side} ({_name(x)}) is not a distribution kl_backends reads (a container of "
        "kl_backends.distributions, or a torch.distributions, tfp.distributions, distrax or "
        "numpyro object). "
        for side, x in (("p", p), ("q", q))
        if _interop.to_container(x) is None
    ]
    mixture = any(isinstance(_interop.to_container(x), C.MixtureSameFamily) for x in (p, q))
    return (
        f"no KL(p || q) is registered for p: {_name(p)} and q: {_name(q)}. "
        + "".join(unread)
        + ("Mixtures have no closed-form KL. " if mixture else "")
        + "Estimate it with kl_backends.distributions.monte_carlo_kl(p, q, num_samples=..., "
        "seed=...), which also gives its standard error, or register a closed form with "
        "@kl_backends.distributions.register_kl(TypeP, TypeQ). "
        f"Registered pairs (p-q): {pairs}."
    )


def _name(x: Any) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _container(d: Any) -> Any:
    return d if isinstance(d, C.Distribution) else _interop.to_container(d)


def entropy(d: Any, /, *, validate: bool = False) -> Any:
    r"""Differential (or Shannon) entropy :math:`-\int d(x) \log d(x)\,dx` in nats.

    One value per batch element (the batch shape of ``d``), NaN where a
    parameter lies outside its domain; ``validate=True`` raises
    ``ValueError`` there instead, as in ``kl``.  Raises
    ``NotImplementedError`` for a family without a closed form here
    (``Poisson``, ``Binomial`` ...).

    Examples
    --------
    >>> import math
    >>> from kl_backends.distributions import entropy, Normal
    >>> bool(abs(entropy(Normal(0.0, 1.0)) - 0.5 * math.log(2 * math.pi * math.e)) < 1e-15)
    True
    """
    validate = _args.check_bool("validate", validate)
    c = _container(d)
    fn = None
    if c is not None:
        fn = next((_ENTROPY[t] for t in type(c).__mro__ if t in _ENTROPY), None)
    if fn is None:
        families = ", ".join(sorted(t.__name__ for t in _ENTROPY))
        raise NotImplementedError(
            f"no closed-form entropy for {_name(d)}; available for: {families}"
        )
    shape = _domains.batch_shape(c)
    if validate:
        _domains.validate(c, "d")
    with _quiet(_leaves(c)):
        (sc,), ok = _domains.sanitize(c)
        return _domains.mask_invalid(fn(sc), shape, ok)


def cross_entropy(p: Any, q: Any, /, *, validate: bool = False) -> Any:
    r"""Cross-entropy :math:`H(p, q) = -\int p \log q = \operatorname{KL}(p\,\|\,q) + H(p)`.

    ``+inf`` where the KL is, NaN where a parameter of p or q is outside its
    domain (``validate=True``: ``ValueError``), with the broadcast batch
    shape of p and q.  Needs both a registered KL and a closed-form entropy
    of p.
    """
    out = kl(p, q, validate=validate)
    h = entropy(p)
    with _quiet([out]):  # inf + -inf (a +inf KL, an entropy of -inf) is NaN, quietly
        return out + h
