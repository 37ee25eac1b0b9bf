"""The block math of the rows of logits, written against the array API only.

``forward_block`` and ``backward_block`` give a ``[B, V]`` block's per-row
values and their closed-form gradients; ``mixed_block`` the generic code of
``inputs=(of p, of q)`` pairs; ``rows`` runs them block by block over
``[N, V]`` inputs.  The formulas are in ``kl_backends._math.logits``.  A
backend's kernel receives these functions from the math (``generic``), and
wraps them in its framework's custom gradient.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends._lib import args as _args
from kl_backends._lib.arrays import (
    is_array,
    log_softmax_parts,
    logsumexp,
    prepare_block,
    row_block,
    temper,
)
from kl_backends._math import common as _common

__all__ = ["backward_block", "forward_block", "mixed_block", "rows"]


def _logaddexp(xp: Any, x: Any, y: Any) -> Any:
    """``log(exp x + exp y)`` from operations every adapter has."""
    big = xp.where(x > y, x, y)
    return big + xp.log1p(xp.exp(-xp.abs(x - y)))


def _js_logs(be: Any, lp: Any, lq: Any, beta: float) -> tuple[Any, Any]:
    """``w = log m - lp`` and ``u = log m - lq`` for ``m = beta p + (1 - beta) q``.

    Computed from ``d = lp - lq`` so that ``u / beta`` and ``w / (1 - beta)``
    stay accurate for ``beta`` near 0 and 1 (no cancellation of two logs).
    Where ``p == 0``: ``u = log(1 - beta)``; where ``q == 0``: ``w = log beta``.
    """
    xp = be.xp
    p_imp = lp == -math.inf
    q_imp = lq == -math.inf
    zero = _common.scalar(be, 0, lp)
    # (-inf - -inf is never formed: Dask computes outside our errstate, and warns.)
    d = xp.where(p_imp | q_imp, zero, xp.where(p_imp, zero, lp) - xp.where(q_imp, zero, lq))
    if is_array(beta):  # log(0) = -inf at the ends (see _over), without forming log(0)
        half, ninf = _common.scalar(be, 0.5, beta), _common.scalar(be, -math.inf, beta)
        lb = xp.where(beta > 0, xp.log(xp.where(beta > 0, beta, half)), ninf)
        l1b = xp.where(beta < 1, xp.log1p(-xp.where(beta < 1, beta, half)), ninf)
    else:
        lb = _common.scalar(be, math.log(beta), lp)
        l1b = _common.scalar(be, math.log1p(-beta), lp)
    w = _logaddexp(xp, lb, l1b - d)
    u = _logaddexp(xp, l1b, lb + d)
    w = xp.where(q_imp, lb, w)
    u = xp.where(p_imp, l1b, u)
    return w, u


def _weighted(be: Any, lx: Any, v: Any) -> Any:
    """``exp(lx) * v``, 0 where ``lx == -inf`` (whatever ``v`` is)."""
    xp = be.xp
    imp = lx == -math.inf
    zero = _common.scalar(be, 0, lx)
    return xp.where(imp, zero, xp.exp(lx) * xp.where(imp, zero, v))


def _cross_terms(be: Any, lp: Any, lq: Any) -> Any:
    """``-exp(lp) * lq``: 0 where ``lp == -inf``; ``+inf`` where ``lq == -inf`` (also
    where ``exp(lp)`` underflows to 0), the product itself where ``exp(lp) > 0`` (the
    limit gradient, ``-exp(lp)`` wrt ``lq``, as in ``common.log_probs_terms``)."""
    xp = be.xp
    imp = lp == -math.inf
    zero = _common.scalar(be, 0, lp)
    lp, lq = xp.where(imp, zero, lp), xp.where(imp, zero, lq)
    p = xp.exp(lp)
    under = (lq == -math.inf) & (p == 0)  # p underflowed: 0 * inf would be NaN
    terms = xp.where(under, _common.scalar(be, math.inf, lp), -(p * xp.where(under, zero, lq)))
    return xp.where(imp, zero, terms)


def _js_scale(beta: Any) -> tuple[Any, float]:
    """(beta used, factor on J): ``beta=None`` is the ordinary JSD = J(1/2) / 4."""
    return (0.5, 0.25) if beta is None else (beta, 1.0)


def _over(be: Any, x: Any, den: Any, end: Any) -> Any:
    """``x / den``, 0 where ``end`` (an array ``beta`` at 0 or 1, where ``den`` is 0).

    At ``beta = 0`` the ``q`` terms ``q u / beta`` tend to ``p - q``, which sums
    to 0 over a row (and so does its gradient), and the ``p`` terms are those of
    ``KL(p || q)``; at ``beta = 1`` the same with the sides exchanged.
    """
    xp = be.xp
    zero = _common.scalar(be, 0, x)
    return xp.where(end, zero, x / xp.where(end, _common.scalar(be, 1, x), den))


def forward_block(
    be: Any,
    kind: str,
    beta: Any,
    a: Any,
    b: Any,
    normalize: bool = True,
    axes: tuple[int, ...] = (-1,),
    with_lse: bool = False,
) -> Any:
    """Per-row values ``[B]`` of a ``[B, V]`` block (working dtype, already tempered).

    ``normalize=False``: ``a`` and ``b`` are log-probabilities already.
    ``axes``: the event axes (other layouts than ``[B, V]``, in one piece).
    ``with_lse``: also return both row log-sum-exps, each as the pair (row maximum,
    ``log(sum exp(x - max))``), both ``[B, 1]``, for ``backward_block``.
    """
    xp = be.xp
    if normalize:
        (lp, lse_a), (lq, lse_b) = log_softmax_parts(xp, a, axes), log_softmax_parts(xp, b, axes)
    else:
        lp, lq, lse_a, lse_b = a, b, None, None
    if kind == "kl":
        terms = _common.log_probs_terms(be, lp, lq)
    elif kind == "ce":
        terms = _cross_terms(be, lp, lq)
    else:
        beta, factor = _js_scale(beta)
        w, u = _js_logs(be, lp, lq, beta)
        if is_array(beta):  # the ends included (no Python branch on its value)
            tw = _over(be, _weighted(be, lp, w), 1 - beta, beta == 1)
            terms = -(tw + _over(be, _weighted(be, lq, u), beta, beta == 0))
        else:
            terms = -(_weighted(be, lp, w) / (1 - beta) + _weighted(be, lq, u) / beta)
        if factor != 1.0:
            terms = terms * factor
    vals = xp.sum(terms, axis=axes)
    return (vals, lse_a, lse_b) if with_lse else vals


def backward_block(
    be: Any,
    kind: str,
    beta: Any,
    a: Any,
    b: Any,
    values: Any,
    g: Any,
    need: tuple[bool, bool],
    lse: tuple[Any, Any] | None = None,
) -> tuple[Any, Any]:
    """Gradients wrt the (tempered) logits ``a`` and ``b`` of ``sum(g * values)``.

    ``values`` are ``forward_block``'s per-row results, ``g`` the per-row
    cotangent (both ``[B]``); ``need`` says which of the two are wanted
    (``None`` is returned for the other); ``lse``: the row log-sum-exps from
    ``forward_block(..., with_lse=True)``, as its pairs (else recomputed).  Divide by ``T``
    for the raw logits.
    """
    xp = be.xp
    if lse is None:
        (lp, _), (lq, _) = log_softmax_parts(xp, a, (-1,)), log_softmax_parts(xp, b, (-1,))
    else:
        (ma, sa), (mb, sb) = lse
        lp, lq = (a - ma) - sa, (b - mb) - sb
    g = xp.expand_dims(g, axis=-1)
    zero = _common.scalar(be, 0, lp)
    p = xp.exp(lp)
    ga = gb = None
    if kind in ("kl", "ce"):
        if need[1]:
            gb = (xp.exp(lq) - p) * g
        if need[0]:
            v = xp.expand_dims(values, axis=-1)
            if kind == "kl":
                inner = xp.where(lp == -math.inf, zero, lp - lq) - v
            else:
                inner = xp.where(lp == -math.inf, zero, -(lq + v))  # no 0 * inf
            ga = xp.where(lp == -math.inf, zero, p * inner) * g
            # A row whose value is +inf (q == 0 under p > 0): NaN, as autodiff of
            # forward_block gives (the +inf reaches the log-sum-exp's max shift).
            ga = xp.where(v == math.inf, _common.scalar(be, math.nan, ga), ga)
        return ga, gb
    beta, factor = _js_scale(beta)
    w, u = _js_logs(be, lp, lq, beta)
    if need[1]:
        wu = _weighted(be, lq, u)
        su = xp.sum(wu, axis=-1, keepdims=True)
        gb = -(wu - xp.exp(lq) * su) * (g * (factor / beta))
    if need[0]:
        ww = _weighted(be, lp, w)
        sw = xp.sum(ww, axis=-1, keepdims=True)
        ga = -(ww - p * sw) * (g * (factor / (1 - beta)))
    return ga, gb


def _side(be: Any, x: Any, kind: str, temperature: Any, axes: tuple[int, ...]) -> tuple:
    """One distribution in its own ``kind``: (probabilities, log-probabilities, zero mask).

    ``"probs"``: ``x`` itself, and its log with ``x == 0`` replaced by 1 (so the
    log and its gradient stay finite there; the zero mask decides the terms).
    ``"logits"``: tempered (if ``temperature``) and log-softmax-normalised over
    ``axes``.  ``"log_probs"``: as given.  The zero mask is ``x == 0`` for
    probabilities and ``log-probability == -inf`` otherwise.
    """
    xp = be.xp
    if kind == "probs":
        zero = x == 0
        return x, be.log(xp.where(zero, _common.scalar(be, 1, x), x)), zero
    if kind == "logits":
        x = temper(xp, x, temperature, be.device(x))
        x = x - logsumexp(xp, x, axes)
    return xp.exp(x), x, x == -math.inf


def mixed_block(
    be: Any,
    kind: str,
    beta: float | None,
    a: Any,
    b: Any,
    kinds: tuple[str, str],
    temperature: Any,
    axes: tuple[int, ...] = (-1,),
) -> Any:
    """Per-row values of ``kind`` with ``a`` and ``b`` each given as ``kinds`` says.

    The generic code of ``inputs=(of p, of q)`` pairs (mixed kinds, and
    probabilities on both sides for the generalised JSD), differentiated by the
    framework's autodiff; ``temperature`` divides the logits sides only.
    Conventions, with ``p`` and ``q`` the probabilities of each side:

    * a term with ``p == 0`` is 0; ``p > 0`` against ``q == 0`` is ``+inf``
      (JS: finite); NaN stays NaN; a negative probability of ``p`` (of ``q``
      under ``p > 0``; JS: either) gives NaN;
    * gradients with respect to probabilities at ``p == 0``: cross-entropy's is
      ``-log q`` (it is linear in ``p``); a KL term ``p log(p / r)``, whose
      derivative there is ``-inf``, contributes 0 (as ``kl_divergence`` on
      probabilities), while the rest stays exact (in JS, the ``q log(q / m)``
      term's dependence on ``p`` through ``m``).
    """
    xp = be.xp
    p, lp, p_zero = _side(be, a, kinds[0], temperature, axes)
    q, lq, q_zero = _side(be, b, kinds[1], temperature, axes)
    zero = _common.scalar(be, 0, lp)
    inf = _common.scalar(be, math.inf, lp)
    lq0 = xp.where(q_zero, zero, lq)
    if kind in ("kl", "ce"):
        # p > 0 (or underflowed to 0 from a finite log) against q == 0; not NaN.
        infinite = q_zero & ~p_zero & ~xp.isnan(lp)
        if kind == "kl":
            terms = xp.where(p_zero, zero, p * (xp.where(p_zero, zero, lp) - lq0))
        else:
            terms = -p * lq0  # linear in p: the gradient -log q holds at p == 0 too
        terms = xp.where(infinite, inf, terms)
        bad = (p < 0) if kinds[0] == "probs" else None
    else:
        beta, factor = _js_scale(beta)
        w, u = _js_logs(be, xp.where(p_zero, -inf, lp), xp.where(q_zero, -inf, lq), beta)
        wp = xp.where(p_zero, zero, p * xp.where(p_zero, zero, w))
        uq = xp.where(q_zero, zero, q * xp.where(q_zero, zero, u))
        # Where one side's probability is 0, ``p w`` (``q u``) is 0 but its
        # derivative wrt the other side is not: ``p w = p log(m / p)`` has
        # derivative ``(1 - beta) / beta`` wrt ``q`` at ``q = 0``.  Terms that
        # are 0 there carry it to probabilities (logits sides get it through exp).
        if kinds[1] == "probs":
            wp = wp + xp.where(q_zero & ~p_zero, q * ((1 - beta) / beta), zero)
        if kinds[0] == "probs":
            uq = uq + xp.where(p_zero & ~q_zero, p * (beta / (1 - beta)), zero)
        terms = -(wp / (1 - beta) + uq / beta)
        if factor != 1.0:
            terms = terms * factor
        bad = None
        for k, x in zip(kinds, (p, q)):
            if k == "probs":
                bad = (x < 0) if bad is None else (bad | (x < 0))
    if bad is not None:
        terms = xp.where(bad, _common.scalar(be, math.nan, lp), terms)
    return xp.sum(terms, axis=axes)


def rows(
    be: Any,
    kind: str,
    beta: Any,
    a: Any,
    b: Any,
    mask: Any,
    temperature: Any,
    normalize: bool,
    work: Any,
    blocked: bool,
    kinds: tuple[str, str] | None = None,
    elements: int = 1 << 18,
) -> Any:
    """Per-row values ``[N]`` (working dtype) of ``[N, V]`` inputs, block by block.

    ``elements``: about this many per block (``blocked``; else one block).
    Rows where ``mask`` is False are computed on zeros (so nothing of their
    inputs reaches the result or the gradient) and their value is 0.
    ``kinds``: the inputs of ``a`` and of ``b`` (``mixed_block``), else both
    are logits (``normalize``) or log-probabilities.
    """
    xp = be.xp
    dev = be.device(a)
    n, width = _args.shape_of(a)
    step = row_block(n, width, elements) if blocked else None
    starts = [0] if step is None or n is None else list(range(0, max(n, 1), step))
    outs = []
    for start in starts:
        stop = None if step is None or n is None else min(start + step, n)
        mb = None if mask is None else mask[start:stop]
        if kinds is not None:  # mixed_block tempers the logits sides itself
            ab, bb = (prepare_block(xp, x[start:stop, ...], work, mb, None, dev) for x in (a, b))
            out = mixed_block(be, kind, beta, ab, bb, kinds, temperature)
        else:
            ab, bb = (
                prepare_block(xp, x[start:stop, ...], work, mb, temperature, dev) for x in (a, b)
            )
            out = forward_block(be, kind, beta, ab, bb, normalize)
        if mb is not None:
            out = xp.where(mb, out, _common.scalar(be, 0, out))
        outs.append(out)
    return outs[0] if len(outs) == 1 else xp.concat(outs, axis=0)
