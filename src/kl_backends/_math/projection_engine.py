"""The row-block driver of projected logits: forward, backward, and the custom gradient.

``forward(be, plan, need, *arrays)`` and ``backward(be, plan, need, arrays,
residuals, g)`` are written once against the array API; the backend's
``custom_vjp`` hook wraps them in its framework's custom gradient
(``torch.autograd.Function``, ``jax.custom_vjp``, ``tf.custom_gradient``), and
libraries without autodiff call ``forward`` alone.

Passes over the vocabulary tiles, for each block of rows
(``projection_tiles``):

1. the row log-sum-exp of every side, online over the tiles;
2. the per-row sums of the divergence (``sum p (lp - lq)``, ...), each tile
   recomputed;
3. when gradients are wanted, the closed-form gradient of every tile's
   logits, pushed through the activation into ``hidden`` (``gy @ weight``),
   ``weight`` (``gy.T @ hidden``, summed over the row blocks) and ``bias``,
   each tile recomputed again.

With a single tile (the whole vocabulary fits the block's budget) the tiles
are computed once per block and reused by the three passes.  Pass 3 runs in
the backward, from the inputs and the per-row log-sum-exps and sums saved by
the forward (``[N]`` each); where the framework says in the forward which
inputs need a gradient and the output is one number (``reduction`` ``"sum"``
or ``"mean"``), it runs in the forward instead, right after pass 2 of each
block (no recomputation), and the backward scales those gradients by the
cotangent.
"""

from __future__ import annotations

import functools
from typing import Any

from kl_backends._math import projection_tiles as _tiles
from kl_backends._math.projection_tiles import Grads, Plan, Rows

__all__ = ["backward", "forward", "run"]


def _blocks(plan: Plan) -> list[tuple[int, int]]:
    n, b = plan.rows, plan.block
    return [(r, min(r + b, n)) for r in range(0, n, b)]


def _row_weights(be: Any, plan: Plan, arrays: Any, r0: int, r1: int, g: Any) -> Any:
    """The cotangent of rows ``r0:r1`` as ``[B, 1]``: ``g`` itself, or the scalar ``g``
    broadcast; 0 where the mask is False."""
    xp = be.xp
    if plan.scalar:
        gb = xp.broadcast_to(xp.reshape(g, (1, 1)), (r1 - r0, 1))
    else:
        gb = xp.expand_dims(g[r0:r1], axis=-1)
    if plan.masked:
        keep = xp.expand_dims(arrays[-1][r0:r1], axis=-1)
        gb = xp.where(keep, gb, xp.zeros_like(gb))
    return gb


def _precompute(plan: Plan, need: tuple[bool, ...] | None) -> bool:
    return plan.scalar and need is not None and any(need)


def forward(be: Any, plan: Plan, need: tuple[bool, ...] | None, *arrays: Any) -> tuple[Any, list]:
    """``(output, residuals)``: per-row values ``[N]`` (or their sum, ``plan.scalar``) in the
    working dtype, and what ``backward`` needs besides the inputs.

    ``need``: which inputs need a gradient (a tuple of bools), or ``None`` where the
    framework cannot tell (the backward then computes every gradient).
    """
    xp = be.xp
    pre = _precompute(plan, need)
    grads = Grads(need) if pre else None  # type: ignore[arg-type]
    one = xp.ones((), dtype=plan.work) if pre else None
    vals, lses, sums = [], [], []
    for r0, r1 in _blocks(plan):
        rows = Rows(be, plan, arrays, r0, r1)
        lse = [_tiles.lse_pass(rows, k) for k in range(len(plan.sides))]
        s = _tiles.sums_pass(rows, lse) if plan.kind != "lse" else []
        v = _tiles.values(plan, lse, s)
        if rows.mask is not None:
            v = xp.where(xp.expand_dims(rows.mask, axis=-1), v, xp.zeros_like(v))
        vals.append(v[:, 0])
        if grads is not None:
            _tiles.grads_pass(rows, lse, s, _row_weights(be, plan, arrays, r0, r1, one), grads)
        else:
            lses.append(lse)
            sums.append(s)
    out = vals[0] if len(vals) == 1 else xp.concat(vals, axis=0)
    if plan.scalar:
        out = xp.sum(out)
    if grads is not None:
        # Kept in the working dtype until the backward has scaled them.
        return out, [x for x in _assemble(be, plan, grads, arrays, False) if x is not None]
    per_row = [[blk[k] for blk in lses] for k in range(len(plan.sides))]
    per_row += [[blk[k] for blk in sums] for k in range(_tiles.STATS[plan.kind])]
    return out, [_join(xp, pieces) for pieces in per_row]


def _join(xp: Any, pieces: list[Any]) -> Any:
    return (pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=0))[:, 0]


def backward(
    be: Any,
    plan: Plan,
    need: tuple[bool, ...] | None,
    arrays: Any,
    residuals: Any,
    g: Any,
) -> tuple[Any, ...]:
    """Gradients of ``sum(g * output)`` for every input (``None`` where none is needed)."""
    xp = be.xp
    if _precompute(plan, need):
        it = iter(residuals)
        g = xp.astype(g, plan.work, copy=False)
        out = []
        for i, wanted in enumerate(need):  # type: ignore[arg-type]
            x = next(it) if wanted else None
            if x is not None:
                x *= g  # in place where the library allows: these are used once
            out.append(None if x is None else xp.astype(x, arrays[i].dtype, copy=False))
        return tuple(out)
    if need is None:
        need = tuple(not _is_bool(xp, x) for x in arrays)
    grads = Grads(need)
    g = xp.astype(g, plan.work, copy=False)
    n_sides = len(plan.sides)
    for r0, r1 in _blocks(plan):
        rows = Rows(be, plan, arrays, r0, r1)
        lse = [xp.expand_dims(residuals[k][r0:r1], axis=-1) for k in range(n_sides)]
        s = [xp.expand_dims(r[r0:r1], axis=-1) for r in residuals[n_sides:]]
        _tiles.grads_pass(rows, lse, s, _row_weights(be, plan, arrays, r0, r1, g), grads)
    return tuple(_assemble(be, plan, grads, arrays))


def _is_bool(xp: Any, x: Any) -> bool:
    return bool(xp.isdtype(x.dtype, "bool"))


def _assemble(be: Any, plan: Plan, grads: Grads, arrays: Any, cast: bool = True) -> list[Any]:
    """The gradient of each input from its pieces, in the input's dtype (``cast``) or the
    working dtype (``None`` where none is needed)."""
    xp = be.xp
    out = [None] * len(arrays)
    for side in plan.sides:
        for i in range(side.start, side.start + side.count):
            if not grads.need[i]:
                continue
            if i in grads.rows:
                pieces = grads.rows[i]
                x = pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=0)
            elif i in grads.tiles:
                acc = grads.tiles[i]
                x = xp.concat([acc[t] for t in sorted(acc)], axis=0)
            else:  # no rows at all
                x = xp.zeros_like(arrays[i])
            out[i] = xp.astype(x, arrays[i].dtype if cast else plan.work, copy=False)
    return out


def _call(be: Any, plan: Plan, *arrays: Any) -> Any:
    fwd = functools.partial(forward, be, plan)
    bwd = functools.partial(backward, be, plan)
    op = be.custom_vjp(fwd, bwd)
    if op is None:  # no autodiff: the forward alone
        return fwd(tuple(False for _ in arrays), *arrays)[0]
    return op(*arrays)


def run(be: Any, plan: Plan, arrays: list[Any]) -> Any:
    """The output of ``plan`` (working dtype) with its custom gradient, compiled for eager
    calls where the backend does that (``Backend.jit``)."""
    return be.jit(_call, be, plan)(*arrays)
