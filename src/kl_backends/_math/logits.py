"""Divergences between rows of logits (or log-probabilities) with a wide event axis.

KL, generalised Jensen-Shannon and cross-entropy between two models' outputs,
``[N, V]`` with ``V`` a vocabulary (32K to 262K).  Written once against the
array API; the framework hooks (``kl_backends._logits_<framework>``) only wrap
the block functions below in a custom gradient.

Memory: the rows are processed in blocks of about ``ROW_ELEMENTS`` elements,
so that a bounded number of ``[block, V]`` temporaries exist at any time.
One row of the widest vocabulary is about 1 MB in float32, so splitting the
vocabulary too (an online log-sum-exp) would not lower the bound in a way
that pays; rows are the unit.  float16 and bfloat16 blocks are computed in
float32 and only the per-row results (and gradients) are cast back.

Per row, with ``lp = log_softmax(a / T)``, ``lq = log_softmax(b / T)``
(``p = exp(lp)``, ``q = exp(lq)``):

* ``kl``:  ``sum p (lp - lq)``; gradient wrt ``b``: ``(q - p) / T``, wrt
  ``a``: ``p (lp - lq - KL) / T``;
* ``ce``:  ``-sum p lq``; gradient wrt ``b``: ``(q - p) / T``, wrt ``a``:
  ``-p (lq + H) / T``;
* ``js`` (generalised, ``0 < beta < 1``): with ``m = beta p + (1 - beta) q``,
  ``J = (beta KL(p || m) + (1 - beta) KL(q || m)) / (beta (1 - beta))``;
  gradient wrt ``b``: ``-q (u - sum q u) / (beta T)`` with ``u = log m - lq``,
  wrt ``a``: ``-p (w - sum p w) / ((1 - beta) T)`` with ``w = log m - lp``.
  ``beta=0`` is ``KL(p || q)`` and ``beta=1`` is ``KL(q || p)``, the limits.
  ``beta=None`` is the ordinary JSD, ``J(1/2) / 4``.

Impossible events (``-inf``): terms with ``p == 0`` are 0, ``p > 0`` with
``q == 0`` gives ``+inf`` (as ``_common.log_probs_terms``); a row whose
logits are all ``-inf``, or that holds NaN or ``+inf``, gives NaN.

``temperature`` and ``beta`` are Python numbers or 0-d arrays of the inputs'
library (``scalar_argument``): checked where their value can be read, NaN
where it cannot and is invalid, never branched on.  An array ``beta`` takes
the generic code, its ends by selection (``_over``); an array ``temperature``
is applied before a backend's kernel (``_tempered``: one more ``[N, V]``
temporary), so its gradient is the framework's own, ``-inf`` logits sending
no NaN into it (``temper``).  Second derivatives: the kernels' backwards are
differentiable (or, in PyTorch, recompute the generic code under
``create_graph``), so Hessians equal those of the generic code.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from kl_backends import _dispatch
from kl_backends._math import args as _args
from kl_backends._math import common as _common
from kl_backends.backends._base import fast_paths_enabled

__all__ = [
    "KINDS",
    "ROW_ELEMENTS",
    "backward_block",
    "check_beta",
    "check_temperature",
    "forward_block",
    "is_array",
    "rows_divergence",
    "scalar_argument",
    "temper",
]

#: Elements per row block (1 MB of float32): the bound on each temporary.
ROW_ELEMENTS = 1 << 18
KINDS = ("kl", "ce", "js")


# --- argument checks ----------------------------------------------------------------


def check_temperature(temperature: Any) -> Any:
    """A Python ``temperature`` checked and as a float; ``None``; or an array, checked later.

    Arrays (0-d, of the inputs' library) are checked by ``scalar_argument``
    once the inputs' backend is known.
    """
    if temperature is None:
        return None
    value = _number_or_array(temperature, lambda t: math.isfinite(t) and t > 0)
    if value is not _INVALID:
        return value
    raise ValueError(
        "temperature must be a finite positive number (a Python number or a 0-d array of "
        f"the inputs' library), or None; got {temperature!r}"
    )


def check_beta(beta: Any) -> Any:
    """A Python ``beta`` checked and as a float; ``None``; or an array, checked later."""
    if beta is None:
        return None
    value = _number_or_array(beta, lambda b: 0 <= b <= 1)
    if value is not _INVALID:
        return value
    raise ValueError(
        "beta must be a Python number in [0, 1] (or a 0-d array of the inputs' library "
        f"holding one), or None; got {beta!r}"
    )


_INVALID = object()


def _number_or_array(value: Any, valid: Any) -> Any:
    """A Python real number as a float where ``valid(float)``; an array as it is (checked
    later by ``scalar_argument``); ``_INVALID`` otherwise (bools, strings, containers)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value) if valid(float(value)) else _INVALID
    if isinstance(value, (bool, complex, str, bytes, list, tuple, dict, set)):
        return _INVALID
    return value  # an array: scalar_argument


def is_array(value: Any) -> bool:
    """Whether a checked ``temperature`` or ``beta`` is an array (not ``None`` or a float)."""
    return value is not None and not isinstance(value, float)


#: name -> (what is expected, the test of a valid value)
_SCALARS = {
    "temperature": (
        "finite and positive",
        lambda x: (x > 0) & (x < math.inf),
    ),
    "beta": ("in [0, 1]", lambda x: (x >= 0) & (x <= 1)),
}


def scalar_argument(be: Any, name: str, value: Any, like: Any, work: Any) -> Any:
    """``temperature`` or ``beta`` given as an array: a 0-d array in ``work`` on ``like``'s device.

    It must come from the inputs' library (a tracer under ``jax.jit`` or a
    symbolic tensor under ``tf.function`` included) and have a real dtype.
    Where its value can be read it is checked (``ValueError``; one boolean is
    read from the device); where it cannot (``jax.jit``, ``tf.function``,
    ``torch.compile``, Dask, the ``meta`` device) an invalid value becomes NaN,
    so that every result is NaN rather than a wrong number.
    """
    xp = be.xp
    what, valid = _SCALARS[name]
    expected = f"{name} must be a Python number or a 0-d array of the inputs' library ({be.name})"
    vbe = _dispatch.backend_of(value)
    if vbe is None or vbe.name != be.name:
        got = f"{type(value).__module__}.{type(value).__qualname__}"
        raise TypeError(f"{expected}; got {got}. Pass float({name}) or an array of {be.name}")
    _, (arr,) = _dispatch.resolve(value, names=(name,))
    shape = _args.shape_of(arr)
    if shape != ():
        raise ValueError(f"{expected}: one value; got shape {shape}")
    if not (xp.isdtype(arr.dtype, "real floating") or xp.isdtype(arr.dtype, "integral")):
        raise TypeError(f"{expected}, with a real dtype; got dtype {arr.dtype}")
    device = be.device(like)
    if device is not None and be.device(arr) not in (None, device):
        arr = xp.asarray(arr, device=device)
    arr = xp.astype(arr, work, copy=False)
    ok = valid(arr)
    if be.values_unavailable(arr) is None:
        if not bool(ok):
            raise ValueError(f"{name} must be {what}; got {value!r}")
        return arr
    return xp.where(ok, arr, _common.scalar(be, math.nan, arr))


def temper(be: Any, x: Any, temperature: Any) -> Any:
    """``x / temperature``; with an array ``temperature``, ``-inf`` logits send no NaN
    into its gradient (``-inf`` stays ``-inf``, and contributes 0)."""
    if temperature is None:
        return x
    if not is_array(temperature):
        return x / temperature
    xp = be.xp
    neg = x == -math.inf
    return xp.where(neg, x, xp.where(neg, _common.scalar(be, 0, x), x) / temperature)


# --- the block math (array API only) ----------------------------------------------


def _lse(xp: Any, x: Any, axes: tuple[int, ...] = (-1,)) -> Any:
    """Row log-sum-exp of a ``[B, V]`` block, shape ``[B, 1]`` (max-shifted)."""
    m = xp.max(x, axis=axes, keepdims=True)
    return m + xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True))


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
    if is_array(beta):  # log(0) = -inf at the ends: see _over
        lb, l1b = xp.log(beta), xp.log1p(-beta)
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
    ``with_lse``: also return both row log-sum-exps (``[B, 1]``), for
    ``backward_block``.
    """
    xp = be.xp
    lse_a = _lse(xp, a, axes) if normalize else None
    lse_b = _lse(xp, b, axes) if normalize else None
    lp = a - lse_a if normalize else a
    lq = b - lse_b if normalize else b
    if kind == "kl":
        terms = _common.log_probs_terms(be, lp, lq)
    elif kind == "ce":
        inf = _common.scalar(be, math.inf, lq)
        terms = _weighted(be, lp, xp.where(lq == -math.inf, inf, -lq))
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
    ``forward_block(..., with_lse=True)`` (else recomputed).  Divide by ``T``
    for the raw logits.
    """
    xp = be.xp
    lse_a, lse_b = (_lse(xp, a), _lse(xp, b)) if lse is None else lse
    lp = a - lse_a
    lq = b - lse_b
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
        x = temper(be, x, temperature)
        x = x - _lse(xp, x, axes)
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


# --- rows: blocks, masks, temperature ----------------------------------------------


def row_block(n_rows: int | None, width: int | None, elements: int = 0) -> int | None:
    """Rows per block: about ``elements`` (default ``ROW_ELEMENTS``); ``None``: one block."""
    if n_rows is None or width is None:
        return None
    return max(1, (elements or ROW_ELEMENTS) // max(width, 1))


def generic_rows(
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
) -> Any:
    """Per-row values ``[N]`` (working dtype) of ``[N, V]`` inputs, block by block.

    Rows where ``mask`` is False are computed on zeros (so nothing of their
    inputs reaches the result or the gradient) and their value is 0.
    ``kinds``: the inputs of ``a`` and of ``b`` (``mixed_block``), else both
    are logits (``normalize``) or log-probabilities.
    """
    xp = be.xp
    n, width = _args.shape_of(a)
    step = row_block(n, width) if blocked else None
    starts = [0] if step is None or n is None else list(range(0, max(n, 1), step))
    outs = []
    for start in starts:
        stop = None if step is None or n is None else min(start + step, n)
        ab = xp.astype(a[start:stop, ...], work, copy=False)
        bb = xp.astype(b[start:stop, ...], work, copy=False)
        mb = None if mask is None else mask[start:stop]
        if mb is not None:
            keep = xp.expand_dims(mb, axis=-1)
            zero = _common.scalar(be, 0, ab)
            ab, bb = xp.where(keep, ab, zero), xp.where(keep, bb, zero)
        if kinds is not None:
            out = mixed_block(be, kind, beta, ab, bb, kinds, temperature)
        else:
            ab, bb = temper(be, ab, temperature), temper(be, bb, temperature)
            out = forward_block(be, kind, beta, ab, bb, normalize)
        if mb is not None:
            out = xp.where(mb, out, _common.scalar(be, 0, out))
        outs.append(out)
    return outs[0] if len(outs) == 1 else xp.concat(outs, axis=0)


def _to_rows(
    xp: Any, x: Any, axes: tuple[int, ...], shape: tuple[int | None, ...]
) -> tuple[Any, tuple[int | None, ...]]:
    """``x`` as ``[N, V]`` with the event axes last; and the batch shape."""
    ndim = len(shape)
    batch_axes = tuple(i for i in range(ndim) if i not in axes)
    batch = tuple(shape[i] for i in batch_axes)
    if axes != tuple(range(ndim - len(axes), ndim)):
        x = xp.permute_dims(x, batch_axes + axes)
    if None in shape:
        if len(axes) != 1 or len(batch) != 1:
            raise ValueError(
                "inputs with unknown sizes need one batch axis and one event axis "
                f"for the logits path; got shape {shape} with axis={axes}"
            )
        return x, batch
    width = math.prod([shape[i] for i in axes])  # type: ignore[misc]
    rows = math.prod(batch)  # type: ignore[arg-type]
    if len(axes) != 1 or len(batch) != 1:
        x = xp.reshape(x, (rows, width))
    return x, batch


def _row_mask(be: Any, where: Any, batch: tuple[int | None, ...], like: Any) -> Any:
    xp = be.xp
    wbe, (mask,) = _dispatch.resolve(where, names=("where",))
    if wbe.name != be.name and not isinstance(where, (bool, list, tuple)):
        raise TypeError(
            f"where must come from the inputs' library ({be.name}); "
            f"got {type(where).__module__}.{type(where).__qualname__}"
        )
    mask = xp.asarray(mask, device=be.device(like))
    if not xp.isdtype(mask.dtype, "bool"):
        raise TypeError(
            f"where must be a boolean array (one flag per distribution); got dtype "
            f"{mask.dtype}. Use for example labels != -100"
        )
    mshape = _args.shape_of(mask)
    try:
        full = _args.broadcast_shape(mshape, batch, ("where", "the batch shape"))
    except ValueError:
        full = None
    if full is None or full != batch:
        raise ValueError(
            f"where must broadcast to the batch shape {batch} (the inputs' shape without "
            f"the event axes); got where.shape={mshape}"
        )
    if mshape != batch:
        mask = xp.broadcast_to(mask, batch)
    return mask


def rows_divergence(
    kind: str,
    p: Any,
    q: Any,
    *,
    axis: Any,
    inputs: str | tuple[str, str],
    base: Any,
    reduction: str,
    keepdims: bool,
    temperature: Any = None,
    where: Any = None,
    beta: Any = None,
) -> Any:
    """``kind`` ("kl", "ce", "js") between logits or log-probabilities, per distribution.

    The entry point of ``kl_divergence``, ``cross_entropy`` and
    ``js_divergence`` for ``inputs="logits"`` and ``"log_probs"``, and for
    pairs ``inputs=(of p, of q)`` of two different kinds (or probabilities on
    both sides, for ``js_divergence``): those go to the generic row blocks
    (``mixed_block``, differentiated by autodiff), never to a backend kernel.
    """
    kinds: tuple[str, str] | None = None  # a pair for mixed_block; None: one kind
    if not isinstance(inputs, str):
        kinds = _args.check_inputs_pair(inputs)
        if kinds[0] == kinds[1] and kinds[0] != "probs":
            inputs, kinds = kinds[0], None  # one kind: the same path as a single value
        else:
            inputs = "pair"
    if kinds is None:
        _args.check_choice("inputs", inputs, ("log_probs", "logits"))
    _args.check_choice("reduction", reduction, _args.REDUCTIONS)
    keepdims = _args.check_bool("keepdims", keepdims)
    log_base = _args.log_of_base(base)
    temperature = check_temperature(temperature)
    beta = check_beta(beta)
    if temperature is not None and "logits" not in (kinds or (inputs,)):
        got = inputs if kinds is None else (kinds[0] if kinds[0] == kinds[1] else kinds)
        raise ValueError(
            f"temperature applies to logits; got inputs={got!r}. "
            "Pass inputs='logits' (divide log-probabilities by T and renormalise)"
        )
    if kind == "js" and not is_array(beta) and beta in (0.0, 1.0):  # the limits: KL
        kind = "kl"
        if beta == 1.0:
            p, q = q, p
            kinds = None if kinds is None else (kinds[1], kinds[0])
    be, xp, (a, b), out_dtype = _common.prepare(p, q, names=("p", "q"), upcast=False)
    work = xp.float32 if _common.is_half(xp, out_dtype) else out_dtype
    if is_array(temperature):
        temperature = scalar_argument(be, "temperature", temperature, a, work)
    if is_array(beta):
        beta = scalar_argument(be, "beta", beta, a, work)
    shape = _args.broadcast_shape(_args.shape_of(a), _args.shape_of(b))
    axes = _args.normalize_axis(axis, len(shape))
    ndim = len(shape)
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    _args.check_event_axes(shape, axes, kinds or inputs)  # logits over no events: an error
    if len(axes) == len(shape):  # one distribution: a batch axis of 1
        a, b = xp.expand_dims(a, axis=0), xp.expand_dims(b, axis=0)
        shape, axes = (1, *shape), tuple(i + 1 for i in axes)
        squeeze = True
    else:
        squeeze = False
    a, b = _common.broadcast_to(xp, a, shape), _common.broadcast_to(xp, b, shape)
    batch = tuple(d for i, d in enumerate(shape) if i not in axes)
    mask = None if where is None else _row_mask(be, where, batch, a)
    trailing = axes == tuple(range(ndim - len(axes), ndim))
    if not trailing and not hasattr(xp, "permute_dims"):
        # (TensorFlow's adapter): the same math in one piece along the event axes.
        with be.quiet():
            vals = _in_place_axes(
                be, kind, beta, a, b, mask, temperature, kinds or inputs, work, axes
            )
            out = _reduce(xp, vals, mask, batch, reduction, squeeze)
        return _finish(xp, out, log_base, keepdims, reduction, kept, ndim, out_dtype)
    a, _ = _to_rows(xp, a, axes, shape)
    b, _ = _to_rows(xp, b, axes, shape)
    if mask is not None and len(batch) != 1 and None not in batch:
        mask = xp.reshape(mask, (math.prod(batch),))  # type: ignore[arg-type]

    with be.quiet():
        vals = None
        if inputs == "logits" and fast_paths_enabled() and not is_array(beta):
            # (pairs: generic blocks.)  The kernels take a Python temperature; an array
            # one is applied first (its gradient then comes from the framework's
            # autodiff of the division).
            ka, kb, kt = a, b, temperature
            if is_array(temperature):
                ka, kb = (_tempered(be, x, mask, temperature, work) for x in (a, b))
                kt = None
            vals = be.logits_rows(kind, beta, ka, kb, mask, kt, work)
        if vals is None:
            blocked = be.values_unavailable(a) is None
            vals = generic_rows(
                be, kind, beta, a, b, mask, temperature, inputs == "logits", work, blocked,
                kinds,
            )  # fmt: skip
        out = _reduce(xp, vals, mask, batch, reduction, squeeze)
    return _finish(xp, out, log_base, keepdims, reduction, kept, ndim, out_dtype)


def _tempered(be: Any, x: Any, mask: Any, temperature: Any, work: Any) -> Any:
    """``[N, V]`` ``x`` in ``work``, masked rows zeroed, divided by an array temperature."""
    xp = be.xp
    x = xp.astype(x, work, copy=False)
    if mask is not None:
        x = xp.where(xp.expand_dims(mask, axis=-1), x, _common.scalar(be, 0, x))
    return temper(be, x, temperature)


def _finish(
    xp: Any,
    out: Any,
    log_base: float | None,
    keepdims: bool,
    reduction: str,
    kept: tuple[int | None, ...],
    ndim: int,
    out_dtype: Any,
) -> Any:
    if log_base is not None:
        out = out / log_base
    if keepdims:
        out = xp.reshape(out, kept if reduction == "none" else (1,) * ndim)
    return _common.finish(xp, out, out_dtype)


def _in_place_axes(
    be: Any,
    kind: str,
    beta: Any,
    a: Any,
    b: Any,
    mask: Any,
    temperature: Any,
    inputs: str | tuple[str, str],
    work: Any,
    axes: tuple[int, ...],
) -> Any:
    """Per-distribution values (batch shape) without moving the event axes, one piece.

    ``inputs``: one kind for both, or a pair for ``mixed_block``.
    """
    xp = be.xp
    a, b = xp.astype(a, work, copy=False), xp.astype(b, work, copy=False)
    if mask is not None:
        keep = mask
        for ax in axes:
            keep = xp.expand_dims(keep, axis=ax)
        zero = _common.scalar(be, 0, a)
        a, b = xp.where(keep, a, zero), xp.where(keep, b, zero)
    if not isinstance(inputs, str):
        vals = mixed_block(be, kind, beta, a, b, inputs, temperature, axes)
    else:
        a, b = temper(be, a, temperature), temper(be, b, temperature)
        vals = forward_block(be, kind, beta, a, b, inputs == "logits", axes)
    return vals if mask is None else xp.where(mask, vals, _common.scalar(be, 0, vals))


def _reduce(
    xp: Any,
    vals: Any,
    mask: Any,
    batch: tuple[int | None, ...],
    reduction: str,
    squeeze: bool,
) -> Any:
    if reduction == "none":
        if squeeze:
            return xp.reshape(vals, ())
        return xp.reshape(vals, batch) if len(batch) != 1 else vals
    if reduction == "sum":
        return xp.sum(vals)
    if mask is None:
        return xp.mean(vals)
    return xp.sum(vals) / xp.sum(xp.astype(mask, vals.dtype))
