"""The calls of projected logits: arguments, plans, and the public entry points' bodies.

``run_divergence`` (the body of ``projection.divergence``), ``take`` and
``log_normalizer`` (the methods of ``ProjectedLogits``): resolve the arrays
(one library, one device), check their dtypes, flatten the rows to ``[N, .]``,
make the static ``Plan`` (rows per block, vocabulary tiles) and hand it to
``projection_engine``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib.arrays import finish
from kl_backends._math import logits as _logits
from kl_backends._math import projection_engine as _engine
from kl_backends._math.logits_args import check_temperature
from kl_backends._math.projection_tiles import Plan, Side, activate

__all__ = [
    "CAST_ELEMENTS",
    "ROW_BLOCK",
    "TILE_ELEMENTS",
    "log_normalizer",
    "make_plan",
    "plan_side",
    "run_divergence",
    "take",
]

#: Rows per block.
ROW_BLOCK = 256
#: Elements of one ``[rows, vocabulary tile]`` temporary (32 MB of float32): the
#: whole vocabulary is one tile up to ``TILE_ELEMENTS // ROW_BLOCK`` ids (32768).  256
#: rows: 1.26x the materialised path's time at 0.16 of its memory (128 rows: 1.38x, 0.13;
#: benchmarks/klbench/projection.py).
TILE_ELEMENTS = 1 << 23
#: The most elements of a weight tile cast to float32 (float16/bfloat16 weights).
CAST_ELEMENTS = 1 << 25


def _tiles(vocabs: list[int], width: int) -> tuple[tuple[int, int], ...]:
    """Tiles of at most ``width`` ids whose ends include every vocabulary size."""
    bounds = sorted({0, *vocabs})
    return tuple(
        (c, min(c + width, hi))
        for lo, hi in itertools.pairwise(bounds)
        for c in range(lo, hi, width)
    )


def make_plan(
    kind: str,
    sides: list[Side],
    n: int,
    temperature: float | None,
    work: Any,
    half: bool,
    hidden_size: int,
    beta: Any = None,
    scalar: bool = False,
    masked: bool = False,
) -> Plan:
    """The static plan of a call: row blocks, vocabulary tiles, the JSD's weights."""
    block = max(1, min(n, ROW_BLOCK))
    width = max(1, TILE_ELEMENTS // block)
    if half and hidden_size:
        width = min(width, max(1, CAST_ELEMENTS // hidden_size))
    beta_used, factor = (0.5, 0.25) if beta is None else (float(beta), 1.0)
    tiles = _tiles([s.vocab for s in sides], width)
    return Plan(
        kind, beta_used, factor, temperature, tuple(sides), n, block, tiles, scalar, masked, work
    )


def plan_side(x: Any, start: int, name: str) -> tuple[Side, list[Any], list[str]]:
    """A side's layout, its arrays and their names (for error messages)."""
    if _args.source_kind(x) == "projection":
        arrays = [x.hidden, x.weight] + ([] if x.bias is None else [x.bias])
        side = Side(False, x.vocab_size, start, x.bias is not None, x.logit_scale, x.softcap)
        return side, arrays, [f"{name}.{n}" for n in ("hidden", "weight", "bias")][: len(arrays)]
    shape = _args.shape_of(x) if hasattr(x, "shape") else None
    if _dispatch.backend_of(x) is None or not shape or None in shape or shape[-1] == 0:
        raise TypeError(
            f"{name} must be a ProjectedLogits or dense logits [..., V] (an array with "
            f"known sizes) of the other side's library; got {type(x).__qualname__}"
            + ("" if shape is None else f" of shape {shape}")
        )
    return Side(True, int(shape[-1]), start), [x], [name]  # type: ignore[arg-type]


def finish_output(
    be: Any, vals: Any, batch: tuple[int, ...], mask: Any, reduction: str, keepdims: bool,
    out_dtype: Any, log_base: float | None, work: Any,
) -> Any:  # fmt: skip
    """The public result from the engine's output (per-row values or their sum)."""
    xp = be.xp
    n = math.prod(batch)
    if reduction == "none":
        out = xp.reshape(vals, batch)
    elif reduction == "sum":
        out = vals
    else:
        count = xp.asarray(float(n), dtype=work) if mask is None else xp.sum(xp.astype(mask, work))
        out = vals / count
    if keepdims:
        out = xp.reshape(out, (*batch, 1) if reduction == "none" else (1,) * (len(batch) + 1))
    return finish(xp, out, out_dtype, log_base)


def _dtypes(be: Any, arrays: list[Any], names: list[str]) -> tuple[Any, Any, bool]:
    """(output dtype, working dtype, whether some input is cast up for the matmul)."""
    if be.lazy:
        raise TypeError(
            f"a ProjectedLogits works on eager arrays; {be.name} arrays are lazy: compute "
            "them first (or pass dense logits)"
        )
    xp = be.xp
    for name, x in zip(names, arrays):
        if not xp.isdtype(x.dtype, "real floating"):
            raise TypeError(f"{name} must have a real floating dtype; got {x.dtype}")
    out = xp.result_type(*arrays) if len(arrays) > 1 else arrays[0].dtype
    work = xp.float32 if int(xp.finfo(out).bits) < 32 else out
    return out, work, any(x.dtype != work for x in arrays)


def _rows_of(xp: Any, sides: tuple[Side, ...], arrays: list[Any], n: int) -> list[Any]:
    """Hidden states as ``[N, H]`` and dense logits as ``[N, V]``."""
    out = list(arrays)
    for side in sides:
        x = out[side.start]
        out[side.start] = xp.reshape(x, (n, _args.shape_of(x)[-1]))
    return out


def _empty(xp: Any, x: Any, work: Any) -> Any:
    """Per-row values of no rows: ``[0]`` in ``work`` (differentiable: zeros)."""
    return xp.astype(xp.sum(x, axis=-1), work) * 0


def run_divergence(
    kind: str, sides: tuple[Side, Side], arrays: list[Any], names: list[str],
    batch: tuple[int, ...], temperature: float | None, beta: float | None, where: Any,
    reduction: str, keepdims: bool, log_base: float | None,
) -> Any:  # fmt: skip
    """``kind`` between the two sides (``projection.divergence`` has checked the options)."""
    be, arrays = _dispatch.resolve(*arrays, names=tuple(names))
    xp = be.xp
    out_dtype, work, cast = _dtypes(be, arrays, names)
    n = math.prod(batch)
    arrays = _rows_of(xp, sides, arrays, n)
    mask = None
    if where is not None:
        mask = xp.reshape(_logits._row_mask(be, where, batch, arrays[0]), (n,))
    hidden = max(0 if s.dense else int(arrays[s.start].shape[-1]) for s in sides)
    with be.quiet():
        if n == 0:
            vals = _empty(xp, arrays[0], work)
            vals = vals if reduction == "none" else xp.sum(vals)
        else:
            plan = make_plan(
                kind, list(sides), n, temperature, work, cast, hidden, beta,
                scalar=reduction != "none", masked=mask is not None,
            )  # fmt: skip
            vals = _engine.run(be, plan, arrays + ([] if mask is None else [mask]))
        return finish_output(be, vals, batch, mask, reduction, keepdims, out_dtype, log_base, work)


def _temperature(temperature: Any) -> float | None:
    t = check_temperature(temperature)
    if t is not None and not isinstance(t, float):
        raise TypeError(
            "temperature must be a Python number with a ProjectedLogits; got "
            f"{type(t).__module__}.{type(t).__qualname__}"
        )
    return t  # type: ignore[no-any-return]


def _projection(proj: Any, extra: tuple[Any, ...] = ()) -> tuple[Any, list[Any], Side]:
    arrays = [proj.hidden, proj.weight] + ([] if proj.bias is None else [proj.bias])
    names = ("hidden", "weight", "bias")[: len(arrays)] + ("ids",) * len(extra)
    be, out = _dispatch.resolve(*arrays, *extra, names=names)
    side = Side(False, proj.vocab_size, 0, proj.bias is not None, proj.logit_scale, proj.softcap)
    return be, out, side


def take(proj: Any, ids: Any, temperature: Any = None) -> Any:
    """``ProjectedLogits.take``: gather rows of the weight, one matmul, the activation."""
    t = _temperature(temperature)
    be, arrays, side = _projection(proj, (ids,))
    xp = be.xp
    *params, ids = arrays
    _, work, _ = _dtypes(be, params, ["hidden", "weight", "bias"][: len(params)])
    batch = proj.batch_shape
    ishape = _args.shape_of(ids)
    if not xp.isdtype(ids.dtype, "integral"):
        raise TypeError(f"ids must be an integer array; got dtype {ids.dtype}")
    if len(ishape) != len(batch) + 1 or tuple(ishape[:-1]) != batch:
        raise ValueError(
            f"ids must be [..., K] with ... the batch shape {batch}; got ids.shape={ishape}"
        )
    k = int(ishape[-1])  # type: ignore[arg-type]
    flat = xp.reshape(ids, (math.prod(batch) * k,))
    h = xp.astype(params[0], work, copy=False)
    hsize = int(_args.shape_of(h)[-1])  # type: ignore[arg-type]
    rows = xp.astype(be.take_rows(params[1], flat), work, copy=False)
    y = (xp.reshape(rows, (*batch, k, hsize)) @ xp.expand_dims(h, axis=-1))[..., 0]
    if side.bias:
        y = y + xp.reshape(xp.astype(be.take_rows(params[2], flat), work, copy=False), (*batch, k))
    return activate(xp, side, t, y)[0]


def log_normalizer(proj: Any, temperature: Any = None) -> Any:
    """``ProjectedLogits.log_normalizer``: the one-sided plan ``"lse"``."""
    t = _temperature(temperature)
    be, arrays, side = _projection(proj)
    xp = be.xp
    _, work, cast = _dtypes(be, arrays, ["hidden", "weight", "bias"][: len(arrays)])
    batch = proj.batch_shape
    n = math.prod(batch)
    arrays = _rows_of(xp, (side,), arrays, n)
    with be.quiet():
        if n == 0:
            return xp.reshape(_empty(xp, arrays[0], work), batch)
        hsize = int(_args.shape_of(arrays[0])[-1])  # type: ignore[arg-type]
        plan = make_plan("lse", [side], n, t, work, cast, hsize)
        return xp.reshape(_engine.run(be, plan, arrays), batch)
