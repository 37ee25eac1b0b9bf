"""The entry points ``kl``, ``entropy`` and ``cross_entropy``.

Every result has the broadcast batch shape of p and q, and is NaN for a
batch element where a parameter of p or q lies outside its domain
(``Domain``, declared by each family); ``validate=True`` raises
``ValueError`` there instead (``_domains``).  The closed forms come from the
registry (``_registry``: the most specific registered pair).

``kl`` also takes ``torch.distributions`` and ``tfp.distributions`` objects:
when no pair is registered for their own types, they are read into the
families' containers (their parameters stay tensors of their framework), so
the result, its dtype, device and gradient stay there too.
"""

from __future__ import annotations

from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends.distributions import _domains
from kl_backends.distributions._base import Distribution, leaves
from kl_backends.distributions._registry import _ENTROPY, _resolve, registered_pairs, to_container

__all__ = ["cross_entropy", "entropy", "kl"]


def _quiet(arrays: list[Any]) -> Any:
    """The backend's context for log(0) and NaN warnings (NumPy's ``errstate``)."""
    for x in arrays:
        be = _dispatch.backend_of(x)
        if be is not None:
            return be.quiet()
    from kl_backends.backends import BACKENDS

    return BACKENDS["numpy"].quiet()  # Python numbers and lists become NumPy arrays


def kl(p: Any, q: Any, /, *, validate: bool = False) -> Any:
    r"""KL(p || q) between two distributions, in nats, one value per batch element.

    Also available as ``kl_divergence`` (the same function: torch's and TFP's name).

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

    Notes
    -----
    .. math:: \operatorname{KL}(p \,\|\, q) = \int p(x) \log\frac{p(x)}{q(x)}\,dx

    (a sum for discrete families), in closed form: the most specific pair
    registered for the two types (``registered_pairs``; ``register_kl`` adds
    one), as ``torch.distributions.kl_divergence`` chooses it.  Pairs of two
    families are included (``Normal``-``Laplace``, ``Beta``-``Uniform``, ...).

    See Also
    --------
    monte_carlo_kl : an estimate for pairs without a closed form.
    entropy, cross_entropy
    kl_backends.kl_divergence : KL between categorical distributions given as arrays.

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
        cp, cq = to_container(p), to_container(q)
        if cp is not None and cq is not None:
            found = _resolve(type(cp), type(cq))
            if found is not None:
                p, q = cp, cq
    if found is None:
        raise NotImplementedError(_missing_message(p, q))
    fn, view_p, view_q = found
    if not (isinstance(p, Distribution) and isinstance(q, Distribution)):
        with _quiet(leaves(p, q)):  # a user's pair of their own types
            return fn(p, q)
    shape = _domains.broadcast_batch(p, q)
    if validate:
        _domains.validate(p, "p")
        _domains.validate(q, "q")
    with _quiet(leaves(p, q)):
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
        if to_container(x) is None
    ]
    notes = [c._kl_note for c in map(to_container, (p, q)) if c is not None and c._kl_note]
    return (
        f"no KL(p || q) is registered for p: {_name(p)} and q: {_name(q)}. "
        + "".join(unread)
        + (notes[0] if notes else "")
        + "Estimate it with kl_backends.distributions.monte_carlo_kl(p, q, num_samples=..., "
        "seed=...), which also gives its standard error, or register a closed form with "
        "@kl_backends.distributions.register_kl(TypeP, TypeQ). "
        f"Registered pairs (p-q): {pairs}."
    )


def _name(x: Any) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def entropy(d: Any, /, *, validate: bool = False) -> Any:
    r"""Differential (or Shannon) entropy of a distribution, in nats.

    Parameters
    ----------
    d
        A kl_backends container (``kl_backends.distributions.Normal(loc,
        scale)``, ...) or a ``torch.distributions`` / ``tfp.distributions`` /
        distrax / numpyro object of a supported family.
    validate : bool, default False
        Check every parameter's domain and raise ``ValueError`` naming the
        first outside it (reads the values: not under ``jax.jit`` or
        ``tf.function``).  Without it, such batch elements give NaN.

    Returns
    -------
    array
        One value per batch element (``d``'s batch shape), in the parameters'
        library and dtype; NaN where a parameter lies outside its domain.

    Raises
    ------
    NotImplementedError
        The family has no closed-form entropy here (``Poisson``,
        ``Binomial``, ``MixtureSameFamily``); the message lists those that do.
    ValueError
        With ``validate=True``, a parameter outside its domain.

    Notes
    -----
    .. math:: H(d) = -\int d(x) \log d(x)\,dx

    (a sum for discrete families: the Shannon entropy).  A differential
    entropy can be negative (a narrow ``Normal``) or ``-inf``.

    See Also
    --------
    kl, cross_entropy

    Examples
    --------
    >>> import math
    >>> from kl_backends.distributions import entropy, Normal
    >>> bool(abs(entropy(Normal(0.0, 1.0)) - 0.5 * math.log(2 * math.pi * math.e)) < 1e-15)
    True
    """
    validate = _args.check_bool("validate", validate)
    c = to_container(d)
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
    with _quiet(leaves(c)):
        (sc,), ok = _domains.sanitize(c)
        return _domains.mask_invalid(fn(sc), shape, ok)


def cross_entropy(p: Any, q: Any, /, *, validate: bool = False) -> Any:
    r"""Cross-entropy of q relative to p, in nats.

    Parameters
    ----------
    p, q
        Distributions, as for ``kl``.
    validate : bool, default False
        As for ``kl``: raise ``ValueError`` for a parameter outside its
        domain instead of giving NaN there.

    Returns
    -------
    array
        The broadcast batch shape of p and q, in the parameters' library and
        dtype; ``+inf`` where the KL is, NaN where a parameter lies outside its
        domain.

    Raises
    ------
    NotImplementedError
        No KL registered for the two types, or no closed-form entropy of p.
    ValueError
        Batch shapes that do not broadcast; with ``validate=True``, a
        parameter outside its domain.

    Notes
    -----
    .. math:: H(p, q) = -\int p(x) \log q(x)\,dx = \operatorname{KL}(p \,\|\, q) + H(p)

    computed as that sum.

    See Also
    --------
    kl, entropy

    Examples
    --------
    >>> import math
    >>> from kl_backends.distributions import cross_entropy, Normal
    >>> h = cross_entropy(Normal(0.0, 1.0), Normal(0.0, 2.0))  # log(2 sqrt(2 pi)) + 1/8
    >>> bool(abs(h - (math.log(2 * math.sqrt(2 * math.pi)) + 0.125)) < 1e-15)
    True
    """
    out = kl(p, q, validate=validate)
    h = entropy(p)
    with _quiet([out]):  # inf + -inf (a +inf KL, an entropy of -inf) is NaN, quietly
        return out + h
