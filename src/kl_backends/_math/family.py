"""KL's family: cross-entropy, entropy and the generalised KL of unnormalised measures.

Same conventions and keywords as ``kl_divergence`` (``axis``, ``base``,
``reduction``, ``keepdims``; 0 log 0 = 0; NaN stays in its distribution;
finite gradients at zeros), written once against the array API.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends._lib import args as _args
from kl_backends._lib import deprecation as _deprecation
from kl_backends._math import common as _common
from kl_backends._math import logits as _logits
from kl_backends._math import sources as _sources

__all__ = ["cross_entropy", "entropy", "generalized_kl_divergence"]


def entropy(
    p: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    inputs: str = "probs",
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
) -> Any:
    r"""Shannon entropy H(p) of categorical distributions.

    .. math::

        H(p) = -\sum_i p_i \log p_i

    summed over the event axis (or axes) ``axis``, with one result per
    distribution along the other (batch) axes.  The result is an array of the
    input's library, on its device.

    Parameters
    ----------
    p : array_like, shape ``[..., n]``
        The distributions, as given by ``inputs``: an array of NumPy,
        PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library (Python
        numbers and lists become NumPy arrays).
    axis : int or tuple of int, default -1
        The event axes, summed over.  Negative values count from the end.
    inputs : {"probs", "log_probs", "logits"}, default "probs"
        ``"probs"``: probabilities.  ``"log_probs"``: normalised
        log-probabilities (``-inf`` for an impossible event).  ``"logits"``:
        unnormalised log-probabilities, normalised here with a stable
        log-softmax over ``axis``.  One distribution, so one kind (not a
        pair).
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per distribution (the shape of ``p`` without
        ``axis``); ``"sum"``: their sum; ``"mean"``: their mean.
    keepdims : bool, default False
        Keep the reduced axes with size 1 (a bool: ``TypeError`` otherwise).

    Returns
    -------
    array
        H(p) in nats (or in ``base``), with ``p``'s floating dtype (integers
        promote to the library's default float; float16 and bfloat16 are
        computed in float32 and returned in their own dtype).

    Raises
    ------
    TypeError
        An unsupported input type, a complex or boolean dtype, a ``keepdims``
        that is not a bool.
    ValueError
        A bad ``axis``, ``inputs``, ``base`` or ``reduction``; a 0-d ``p`` (a
        distribution needs an event axis); logits with an empty event axis.

    See Also
    --------
    cross_entropy : H(p, q) = H(p) + KL(p || q).
    kl_divergence : KL(p || q) of categorical distributions.
    kl_backends.distributions.entropy : The entropy of a distribution object.

    Notes
    -----
    ``0 log 0 = 0``: an event of probability 0 (log-probability ``-inf``)
    contributes nothing, and its gradient is finite.  A negative probability
    gives NaN; NaN stays in its own distribution.  The values are not
    renormalised (``scipy.stats.entropy`` divides by the sum first): for
    unnormalised scores pass ``inputs="logits"``.  The uniform distribution
    over ``n`` events has the largest entropy, ``log n``.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> round(float(klb.entropy([0.5, 0.5, 0.0], base=2)), 6)
    1.0
    >>> p = np.array([[0.25, 0.25, 0.25, 0.25], [0.7, 0.2, 0.1, 0.0]])
    >>> np.round(klb.entropy(p), 6)  # log 4 and -(0.7 log 0.7 + 0.2 log 0.2 + 0.1 log 0.1)
    array([1.386294, 0.801819])
    >>> round(float(klb.entropy([2.0, 2.0], inputs="logits")), 6)  # log 2
    0.693147
    """
    be, xp, (a,), dtype, axes = _common.family_setup(
        (p,), ("p",), axis, inputs, _args.INPUTS, reduction
    )
    with be.quiet():
        if inputs == "probs":
            terms = -_common.probs_terms(be, a, _common.scalar(be, 1, a))
        else:
            terms = -_common.log_probs_terms(be, a, _common.scalar(be, 0, a))
        return _common.family_end(xp, terms, axes, keepdims, reduction, base, dtype)


def cross_entropy(
    p: Any,
    q: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    inputs: _args.InputsPair = "probs",
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
    temperature: float | None = None,
    where: Any = None,
) -> Any:
    r"""Cross-entropy H(p, q) of categorical distributions.

    .. math::

        H(p, q) = -\sum_i p_i \log q_i = H(p) + \mathrm{KL}(p \,\|\, q)

    summed over the event axis (or axes) ``axis``, with one result per
    distribution along the other (batch) axes.  The result is an array of the
    inputs' library, on their device.  With ``inputs=("probs", "logits")``
    this is the softmax cross-entropy loss of a classifier against soft or
    one-hot labels.

    Parameters
    ----------
    p, q : array_like, broadcastable shapes ``[..., n]``
        The target ``p`` and the model ``q``, as given by ``inputs``.  Arrays
        of NumPy, PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API
        library, both from the same library and on the same device; Python
        numbers and lists take the other argument's library.
    axis : int or tuple of int, default -1
        The event axes, summed over.  Negative values count from the end of
        the broadcast shape.
    inputs : {"probs", "log_probs", "logits"} or a pair of them, default "probs"
        ``"probs"``: probabilities.  ``"log_probs"``: normalised
        log-probabilities.  ``"logits"``: unnormalised log-probabilities,
        normalised here with a stable log-softmax over ``axis``.  A single
        value applies to both; a pair ``(of p, of q)`` gives each its own
        kind: ``("probs", "logits")`` is PyTorch's ``F.cross_entropy(q, p)``
        with probability targets, ``optax.softmax_cross_entropy(q, p)`` and
        ``tf.nn.softmax_cross_entropy_with_logits(p, q)``.  With
        ``inputs="logits"`` the soft targets are ``softmax(p)``.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per distribution (the broadcast shape without
        ``axis``); ``"sum"``: their sum; ``"mean"``: their mean (over the
        distributions included by ``where``).
    keepdims : bool, default False
        Keep the reduced axes with size 1 (a bool: ``TypeError`` otherwise).
    temperature : float or 0-d array, optional
        The logits sides only: divided by ``temperature`` before the softmax
        (a ``ValueError`` if no side is logits, or unless finite and
        positive).  A 0-d array of the inputs' library is traced under
        ``jax.jit``, ``tf.function`` and ``torch.compile``.
    where : bool array, broadcastable to the batch shape, optional
        With logits or log-probabilities (or a pair): one flag per
        distribution, e.g. ``labels != -100``.  Excluded distributions give
        0 with ``reduction="none"``, are left out of ``"sum"`` and ``"mean"``,
        get zero gradient and pass no NaN or inf on.

    Returns
    -------
    array
        H(p, q) in nats (or in ``base``), with the inputs' floating dtype
        (integers promote to the library's default float).

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes,
        a ``keepdims`` that is not a bool.
    ValueError
        Shapes that do not broadcast, a bad ``axis``, ``inputs``, ``base``,
        ``reduction`` or ``temperature``; ``temperature`` or ``where`` with
        probabilities on both sides.

    See Also
    --------
    kl_divergence : KL(p || q) = H(p, q) - H(p).
    entropy : H(p).
    js_divergence : The symmetric, bounded Jensen-Shannon divergence.

    Notes
    -----
    A term with ``p == 0`` is 0 whatever ``q`` is (``q == 0`` included);
    ``p > 0`` where ``q == 0`` gives ``+inf``; a negative ``p``, or a
    negative ``q`` under ``p > 0``, gives NaN; NaN stays in its own
    distribution.  The gradient with respect to probabilities ``p`` is
    ``-log q``, at ``p == 0`` too (0 there where ``q`` is 0, inf or NaN).
    Logits are computed in row blocks with a custom gradient,
    ``d/d logits_q = (softmax(q) - softmax(p)) / T`` for logits on both
    sides.

    Examples
    --------
    >>> import numpy as np
    >>> import kl_backends as klb
    >>> round(float(klb.cross_entropy([1.0, 0.0], [0.5, 0.5])), 6)  # log 2
    0.693147
    >>> labels = np.array([[0.0, 1.0, 0.0]])  # one-hot targets against logits
    >>> logits = np.array([[1.0, 3.0, 0.5]])
    >>> np.round(klb.cross_entropy(labels, logits, inputs=("probs", "logits")), 6)
    array([0.196734])
    """
    if _sources.involved(p, q):  # a projection or a top-k teacher (``_math.sources``)
        return _sources.divergence(
            "ce", p, q, axis=axis, inputs=inputs, base=base, reduction=reduction,
            keepdims=keepdims, temperature=temperature, where=where,
        )  # fmt: skip
    kinds = _args.check_inputs_pair(inputs)  # of p, of q
    if kinds != ("probs", "probs"):
        return _logits.rows_divergence(
            "ce", p, q, axis=axis, inputs=kinds[0] if kinds[0] == kinds[1] else kinds,
            base=base, reduction=reduction, keepdims=keepdims, temperature=temperature,
            where=where,
        )  # fmt: skip
    inputs = "probs"
    if temperature is not None or where is not None:
        raise ValueError(
            "temperature= and where= apply to inputs='logits' or 'log_probs'; got inputs='probs'"
        )
    be, xp, (a, b), dtype, axes = _common.family_setup(
        (p, q), ("p", "q"), axis, inputs, _args.INPUTS, reduction
    )
    with be.quiet():  # probabilities (log-probabilities and logits went to _logits above)
        zero = a == 0
        one = _common.scalar(be, 1, a)
        terms = xp.where(
            zero,
            _common.scalar(be, 0, a),
            -xp.where(zero, one, a) * be.log(xp.where(zero, one, b)),
        )
        # A negative probability is NaN, as in kl_divergence (not a finite number).
        terms = xp.where(a < 0, _common.scalar(be, math.nan, a), terms)
        # -p log q is linear in p: where p == 0 its gradient is still -log q (0 added
        # to the value; where q is <= 0, +inf or NaN the gradient is 0 there, and the
        # value stays 0: no 0 * inf).
        log_q = be.log(xp.where((b > 0) & (b < math.inf), b, one))
        terms = terms + xp.where(zero, -a * log_q, _common.scalar(be, 0, a))
        return _common.family_end(xp, terms, axes, keepdims, reduction, base, dtype)


def generalized_kl_divergence(
    p: Any,
    q: Any,
    /,
    *,
    axis: int | tuple[int, ...] = -1,
    base: float | None = None,
    reduction: _args.Reduction = "none",
    keepdims: bool = False,
) -> Any:
    r"""Generalised KL divergence of unnormalised non-negative measures.

    .. math::

        D(p \,\|\, q) = \sum_i \left( p_i \log \frac{p_i}{q_i} - p_i + q_i \right)

    summed over the event axis (or axes) ``axis``, with one result per
    measure along the other (batch) axes.  Elementwise this is
    ``scipy.special.kl_div``; for normalised ``p`` and ``q`` the sum equals
    ``kl_divergence(p, q)``.  It is the I-divergence of non-negative matrix
    factorisation and Poisson models.

    Parameters
    ----------
    p, q : array_like, broadcastable shapes ``[..., n]``
        Non-negative measures (they need not sum to 1).  Arrays of NumPy,
        PyTorch, TensorFlow, JAX, Dask, CuPy or any array-API library, both
        from the same library and on the same device; Python numbers and
        lists take the other argument's library.
    axis : int or tuple of int, default -1
        The event axes, summed over.  Negative values count from the end of
        the broadcast shape.
    base : float, optional
        Logarithm base: ``None`` gives nats, ``2`` bits; any finite positive
        number other than 1.
    reduction : {"none", "sum", "mean"}, default "none"
        ``"none"``: one value per measure (the broadcast shape without
        ``axis``); ``"sum"``: their sum; ``"mean"``: their mean.
    keepdims : bool, default False
        Keep the reduced axes with size 1 (a bool: ``TypeError`` otherwise).

    Returns
    -------
    array
        The divergence (>= 0) in nats (or in ``base``), with the inputs'
        floating dtype (integers promote to the library's default float).

    Raises
    ------
    TypeError
        Unsupported input types, arrays from two libraries, complex dtypes,
        a ``keepdims`` that is not a bool.
    ValueError
        Shapes that do not broadcast, a bad ``axis``, ``base`` or
        ``reduction``, 0-d inputs (a measure needs an axis).

    See Also
    --------
    kl_divergence : KL of normalised distributions.
    kl_poisson : The same term for one pair of Poisson rates.

    Notes
    -----
    The conventions are ``scipy.special.kl_div``'s: a term is ``q`` where
    ``p == 0`` (``0 log 0 = 0``); ``+inf`` where ``p > 0`` and ``q == 0``;
    ``+inf`` wherever ``p`` or ``q`` is negative (outside the domain, unlike
    ``kl_divergence``, which gives NaN there); NaN where either is NaN.
    Every term is >= 0 and nearly equal ``p`` and ``q`` keep their relative
    accuracy: there is no cancellation between ``p log(p / q)`` and
    ``p - q``.

    This function was called ``generalized_kl``; that name still works, with
    a ``DeprecationWarning``.

    Examples
    --------
    >>> import kl_backends as klb
    >>> # 2 log 2 - 2 + 1, and 0 - 0 + 3
    >>> round(float(klb.generalized_kl_divergence([2.0, 0.0], [1.0, 3.0])), 6)
    3.386294
    >>> round(float(klb.generalized_kl_divergence([0.5, 0.5], [0.25, 0.75])), 6)  # = kl_divergence
    0.143841
    """
    be, xp, (a, b), dtype, axes = _common.family_setup(
        (p, q), ("p", "q"), axis, "probs", ("probs",), reduction
    )
    with be.quiet():
        terms = _common.generalized_terms(be, a, b)
        return _common.family_end(xp, terms, axes, keepdims, reduction, base, dtype)


#: Deprecated: the former name of ``generalized_kl_divergence``.
generalized_kl = _deprecation.alias(generalized_kl_divergence, "generalized_kl")
