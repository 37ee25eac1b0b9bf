"""Divergences between rows of logits (or log-probabilities) with a wide event axis.

KL, generalised Jensen-Shannon and cross-entropy between two models' outputs,
``[N, V]`` with ``V`` a vocabulary (32K to 262K).  Written once against the
array API; a backend's ``logits_rows`` hook only wraps the block functions
(``logits_blocks``, handed to it as ``generic``) in a custom gradient.

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
``q == 0`` gives ``+inf`` (as ``common.log_probs_terms``); a row whose
logits are all ``-inf``, or that holds NaN or ``+inf``, gives NaN.

``temperature`` and ``beta`` are Python numbers or 0-d arrays of the inputs'
library (``logits_args.scalar_argument``): checked where their value can be read, NaN
where it cannot and is invalid, never branched on.  An array ``beta`` takes
the generic code, its ends by selection (``logits_blocks._over``); an array ``temperature``
is applied before a backend's kernel (``_tempered``: one more ``[N, V]``
temporary), so its gradient is the framework's own, ``-inf`` logits sending
no NaN into it (``kl_backends._lib.arrays.temper``).  Second derivatives: the kernels' backwards are
differentiable (or, in PyTorch, recompute the generic code under
``create_graph``), so Hessians equal those of the generic code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kl_backends._lib import args as _args
from kl_backends._lib.arrays import finish, is_array, prepare_block
from kl_backends._lib.options import RowSpec
from kl_backends._lib.policy import fast_paths_enabled
from kl_backends._math import common as _common
from kl_backends._math import logits_blocks as _blocks
from kl_backends._math.logits_args import check_beta, check_temperature, scalar_argument

__all__ = ["GENERIC", "KINDS", "ROW_ELEMENTS", "GenericBlocks", "generic_rows", "rows_divergence"]

#: Elements per row block (1 MB of float32): the bound on each temporary.
ROW_ELEMENTS = 1 << 18
KINDS = ("kl", "ce", "js")


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
    """``logits_blocks.rows`` in blocks of about ``ROW_ELEMENTS`` elements."""
    return _blocks.rows(
        be, kind, beta, a, b, mask, temperature, normalize, work, blocked, kinds, ROW_ELEMENTS
    )


@dataclass(frozen=True)
class GenericBlocks:
    """The generic block functions the math hands to a backend's ``logits_rows`` kernel.

    ``forward_block(be, kind, beta, a, b, normalize=True, axes=(-1,), with_lse=False)``,
    ``backward_block(be, kind, beta, a, b, values, g, need, lse=None)`` (see
    ``logits_blocks``) and ``rows(be, kind, beta, a, b, mask, temperature,
    normalize, work, blocked)`` (``generic_rows``: the whole generic path).
    """

    forward_block: Callable[..., Any]
    backward_block: Callable[..., Any]
    rows: Callable[..., Any]


GENERIC = GenericBlocks(_blocks.forward_block, _blocks.backward_block, generic_rows)


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
    mask = _common.where_array(be, where, like, "distribution", "labels != -100")
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


@dataclass(frozen=True)
class _Call:
    """A checked call: what the row driver needs besides the arrays."""

    kind: str
    kinds: tuple[str, str] | None  # a pair for mixed_block; None: one kind, ``inputs``
    inputs: str
    reduction: str
    keepdims: bool
    log_base: float | None
    temperature: Any
    beta: Any


def _check(
    kind: str, inputs: Any, base: Any, reduction: str, keepdims: Any, temperature: Any, beta: Any
) -> _Call:
    kinds: tuple[str, str] | None = None
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
    return _Call(kind, kinds, inputs, reduction, keepdims, log_base, temperature, beta)


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
    c = _check(kind, inputs, base, reduction, keepdims, temperature, beta)
    kinds = c.kinds
    if kind == "js" and not is_array(c.beta) and c.beta in (0.0, 1.0):  # the limits: KL
        kind = "kl"
        if c.beta == 1.0:
            p, q = q, p
            kinds = None if kinds is None else (kinds[1], kinds[0])
    be, xp, (a, b), out_dtype = _common.prepare(p, q, names=("p", "q"), upcast=False)
    work = xp.float32 if _common.is_half(xp, out_dtype) else out_dtype
    temperature, beta = c.temperature, c.beta
    if is_array(temperature):
        temperature = scalar_argument(be, "temperature", temperature, a, work)
    if is_array(beta):
        beta = scalar_argument(be, "beta", beta, a, work)
    c = _Call(kind, kinds, c.inputs, c.reduction, c.keepdims, c.log_base, temperature, beta)
    shape = _args.broadcast_shape(_args.shape_of(a), _args.shape_of(b))
    axes = _args.normalize_axis(axis, len(shape))
    ndim = len(shape)
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    _args.check_event_axes(shape, axes, c.kinds or c.inputs)  # logits over no events: an error
    squeeze = len(axes) == len(shape)
    if squeeze:  # one distribution: a batch axis of 1
        a, b = xp.expand_dims(a, axis=0), xp.expand_dims(b, axis=0)
        shape, axes = (1, *shape), tuple(i + 1 for i in axes)
    a, b = _common.broadcast_to(xp, a, shape), _common.broadcast_to(xp, b, shape)
    batch = tuple(d for i, d in enumerate(shape) if i not in axes)
    mask = None if where is None else _row_mask(be, where, batch, a)
    trailing = axes == tuple(range(len(shape) - len(axes), len(shape)))
    with be.quiet():
        if not trailing and not be.permutes_axes:  # the same math in one piece
            vals = _in_place_axes(be, c, a, b, mask, work, axes)
        else:
            vals = _rows(be, c, a, b, mask, work, axes, shape, batch)
        out = _reduce(xp, vals, mask, batch, c.reduction, squeeze)
    if c.keepdims:
        out = xp.reshape(out, kept if c.reduction == "none" else (1,) * ndim)
    return finish(xp, out, out_dtype, c.log_base)


def _rows(
    be: Any,
    c: _Call,
    a: Any,
    b: Any,
    mask: Any,
    work: Any,
    axes: tuple[int, ...],
    shape: tuple[int | None, ...],
    batch: tuple[int | None, ...],
) -> Any:
    """Per-row values ``[N]``: the backend's kernel, else the generic blocks."""
    xp = be.xp
    a, _ = _to_rows(xp, a, axes, shape)
    b, _ = _to_rows(xp, b, axes, shape)
    if mask is not None and len(batch) != 1 and None not in batch:
        mask = xp.reshape(mask, (math.prod(batch),))  # type: ignore[arg-type]
    if c.inputs == "logits" and fast_paths_enabled() and not is_array(c.beta):
        # (pairs: generic blocks.)  The kernels take a Python temperature; an array
        # one is applied first (its gradient then comes from the framework's
        # autodiff of the division).
        ka, kb, kt = a, b, c.temperature
        if is_array(kt):
            dev = be.device(a)
            ka, kb = (prepare_block(xp, x, work, mask, kt, dev) for x in (a, b))
            kt = None
        spec = RowSpec(c.kind, c.beta, kt, work, _row_cotangent(c, mask, a.shape[0]))
        vals = be.logits_rows(spec, ka, kb, mask, GENERIC)
        if vals is not None:
            return vals
    blocked = be.values_unavailable(a) is None
    return generic_rows(
        be, c.kind, c.beta, a, b, mask, c.temperature, c.inputs == "logits", work, blocked,
        c.kinds,
    )  # fmt: skip


def _row_cotangent(c: _Call, mask: Any, n: int | None) -> float | None:
    """``RowSpec.cotangent``: what each row's value receives when the reduced result is
    differentiated with 1 (before ``finish``'s division by ``log(base)``)."""
    if c.log_base is not None:
        return None
    if c.reduction == "sum":
        return 1.0
    if c.reduction == "mean" and mask is None and isinstance(n, int) and n > 0:
        return 1.0 / n
    return None


def _in_place_axes(
    be: Any, c: _Call, a: Any, b: Any, mask: Any, work: Any, axes: tuple[int, ...]
) -> Any:
    """Per-distribution values (batch shape) without moving the event axes, one piece
    (for namespaces without ``permute_dims``)."""
    xp = be.xp
    a, b = xp.astype(a, work, copy=False), xp.astype(b, work, copy=False)
    if mask is not None:
        keep = mask
        for ax in axes:
            keep = xp.expand_dims(keep, axis=ax)
        zero = _common.scalar(be, 0, a)
        a, b = xp.where(keep, a, zero), xp.where(keep, b, zero)
    if c.kinds is not None:
        vals = _blocks.mixed_block(be, c.kind, c.beta, a, b, c.kinds, c.temperature, axes)
    else:
        dev = be.device(a)
        a, b = (prepare_block(xp, x, None, None, c.temperature, dev) for x in (a, b))
        vals = _blocks.forward_block(be, c.kind, c.beta, a, b, c.inputs == "logits", axes)
    return vals if mask is None else xp.where(mask, vals, _common.scalar(be, 0, vals))


def _reduce(
    xp: Any,
    vals: Any,
    mask: Any,
    batch: tuple[int | None, ...],
    reduction: str,
    squeeze: bool,
) -> Any:
    """The reduction of per-row values; ``"mean"`` over the rows ``mask`` keeps."""
    if reduction == "none":
        if squeeze:
            return xp.reshape(vals, ())
        return xp.reshape(vals, batch) if len(batch) != 1 else vals
    if reduction == "sum":
        return xp.sum(vals)
    if mask is None:
        return xp.mean(vals)
    return xp.sum(vals) / xp.sum(xp.astype(mask, vals.dtype))
