"""The KL and entropy registries and the public entry points ``kl``, ``entropy``, ``cross_entropy``.

``register_kl(TypeP, TypeQ)`` works like ``torch.distributions.kl.register_kl``:
the most specific registered pair (by the two types' method resolution
orders) is used, and user registrations extend or override the built-in ones.

``kl`` also takes ``torch.distributions`` and ``tfp.distributions`` objects:
when no pair is registered for their own types, they are read into the
containers of ``_containers`` (their parameters stay tensors of their
framework), so the result, its dtype, device and gradient stay there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kl_backends import _dispatch
from kl_backends.distributions import _containers as C
from kl_backends.distributions import _interop

__all__ = [
    "cross_entropy",
    "entropy",
    "kl",
    "register_entropy",
    "register_kl",
    "registered_pairs",
]

KLFunction = Callable[[Any, Any], Any]

_KL: dict[tuple[type, type], KLFunction] = {}
_ENTROPY: dict[type, Callable[[Any], Any]] = {}
_MEMO: dict[tuple[type, type], KLFunction | None] = {}


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


def _lookup(type_p: type, type_q: type) -> KLFunction | None:
    key = (type_p, type_q)
    if key in _MEMO:
        return _MEMO[key]
    matches = [
        (type_p.__mro__.index(p), type_q.__mro__.index(q), fn)
        for (p, q), fn in _KL.items()
        if issubclass(type_p, p) and issubclass(type_q, q)
    ]
    found = min(matches, key=lambda m: (m[0] + m[1], m[0]))[2] if matches else None
    _MEMO[key] = found
    return found


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


def kl(p: Any, q: Any, /) -> Any:
    r"""KL(p || q) between two distributions, in nats, one value per batch element.

    .. math:: \operatorname{KL}(p \,\|\, q) = \int p(x) \log\frac{p(x)}{q(x)}\,dx

    Parameters
    ----------
    p, q
        kl_backends containers (``kl_backends.distributions.Normal(loc,
        scale)``, ...) holding arrays of any supported library, or
        ``torch.distributions`` / ``tfp.distributions`` objects (read into
        containers; the computation stays in their framework).

    Returns
    -------
    array
        The batch-broadcast KL, in the parameters' library and dtype.  ``+inf``
        where p puts mass where q has none (documented per pair, e.g. a
        ``Uniform`` p not inside a ``Uniform`` q); identical distributions give
        exactly 0.

    Raises
    ------
    NotImplementedError
        No pair is registered for the two types; the message lists the pairs.

    Examples
    --------
    >>> from kl_backends.distributions import kl, Normal
    >>> print(f"{kl(Normal(0.0, 1.0), Normal(1.0, 2.0)):.10f}")
    0.4431471806
    """
    fn = _lookup(type(p), type(q))
    if fn is None:
        cp, cq = _interop.to_container(p), _interop.to_container(q)
        if cp is not None and cq is not None:
            fn = _lookup(type(cp), type(cq))
            if fn is not None:
                p, q = cp, cq
    if fn is None:
        raise NotImplementedError(_missing_message(p, q))
    with _quiet(_leaves(p, q)):
        return fn(p, q)


def _missing_message(p: Any, q: Any) -> str:
    pairs = ", ".join(f"{a}-{b}" for a, b in registered_pairs())
    return (
        f"no KL(p || q) is registered for p: {_name(p)} and q: {_name(q)}. "
        f"Registered pairs (p-q): {pairs}. Register your own with "
        "@kl_backends.distributions.register_kl(TypeP, TypeQ)."
    )


def _name(x: Any) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def entropy(d: Any, /) -> Any:
    r"""Differential (or Shannon) entropy :math:`-\int d(x) \log d(x)\,dx` in nats.

    Raises ``NotImplementedError`` for a family without a closed form here
    (``Poisson``, ``Binomial``, ``ContinuousBernoulli`` ...).

    Examples
    --------
    >>> import math
    >>> from kl_backends.distributions import entropy, Normal
    >>> bool(abs(entropy(Normal(0.0, 1.0)) - 0.5 * math.log(2 * math.pi * math.e)) < 1e-15)
    True
    """
    c = d if isinstance(d, C.Distribution) else _interop.to_container(d)
    fn = None
    if c is not None:
        fn = next((_ENTROPY[t] for t in type(c).__mro__ if t in _ENTROPY), None)
    if fn is None:
        families = ", ".join(sorted(t.__name__ for t in _ENTROPY))
        raise NotImplementedError(
            f"no closed-form entropy for {_name(d)}; available for: {families}"
        )
    with _quiet(_leaves(c)):
        return fn(c)


def cross_entropy(p: Any, q: Any, /) -> Any:
    r"""Cross-entropy :math:`H(p, q) = -\int p \log q = \operatorname{KL}(p\,\|\,q) + H(p)`.

    ``+inf`` where the KL is. Needs both a registered KL and a closed-form entropy of p.
    """
    out = kl(p, q)
    return out + entropy(p)
