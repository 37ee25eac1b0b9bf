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
    r"""Shannon entropy H(p) = -sum p log p over ``axis`` (0 log 0 = 0).

    ``inputs``: "probs", "log_probs" or "logits", as in ``kl_divergence``
    (one distribution: a single value, not a pair).

    Examples
    --------
    >>> from kl_backends import entropy
    >>> print(f"{entropy([0.5, 0.5, 0.0], base=2):.1f}")
    1.0
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
    r"""Cross-entropy H(p, q) = -sum p log q = KL(p || q) + H(p).

    A term with p = 0 is 0 (q = 0 included); p > 0 with q = 0 gives +inf; a
    negative p, or a negative q under p > 0, gives NaN.  The gradient wrt
    probabilities ``p`` is ``-log q``, at ``p == 0`` too (0 there where ``q`` is 0, inf or NaN).

    ``inputs``: "probs", "log_probs", "logits", or a pair ``(of p, of q)``
    as in ``kl_divergence`` (a single value applies to both).
    ``inputs=("probs", "logits")`` is the softmax cross-entropy with
    probability targets: ``F.cross_entropy(q, p)`` of PyTorch,
    ``optax.softmax_cross_entropy(q, p)``,
    ``tf.nn.softmax_cross_entropy_with_logits(p, q)``, for soft or one-hot
    labels.  With ``inputs="logits"`` both are logits: the soft targets are
    ``softmax(p)``, computed in row blocks with a custom gradient
    (``d/dq_logits = (softmax(q) - softmax(p)) / T``); ``temperature``
    (the logits sides only) and ``where`` (a row mask) are as in
    ``kl_divergence``.

    Examples
    --------
    >>> from kl_backends import cross_entropy
    >>> print(f"{cross_entropy([1.0, 0.0], [0.5, 0.5]):.6f}")  # log 2
    0.693147
    """
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
    r"""KL for unnormalised non-negative measures: sum p log(p / q) - p + q.

    Elementwise this is ``scipy.special.kl_div``, conventions included: a
    term is ``q`` where ``p == 0``, ``+inf`` where ``p > 0 = q`` and
    ``+inf`` wherever ``p`` or ``q`` is negative (outside the domain; unlike
    ``kl_divergence``, which gives NaN there), NaN where either is NaN.  So
    every term is >= 0, and nearly equal ``p`` and ``q`` keep their relative
    accuracy (no cancellation between ``p log(p / q)`` and ``p - q``).  For
    normalised p and q the sum equals ``kl_divergence``.

    Examples
    --------
    >>> from kl_backends import generalized_kl_divergence
    >>> print(f"{generalized_kl_divergence([2.0, 0.0], [1.0, 3.0]):.6f}")  # 2 log 2 - 2 + 1 + 3
    3.386294
    """
    be, xp, (a, b), dtype, axes = _common.family_setup(
        (p, q), ("p", "q"), axis, "probs", ("probs",), reduction
    )
    with be.quiet():
        terms = _common.generalized_terms(be, a, b)
        return _common.family_end(xp, terms, axes, keepdims, reduction, base, dtype)


#: Deprecated: the former name of ``generalized_kl_divergence``.
generalized_kl = _deprecation.alias(generalized_kl_divergence, "generalized_kl")
