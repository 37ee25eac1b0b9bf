"""PyTorch's kernels for rows of logits (``Backend.logits_rows``) and their custom gradients.

This module imports torch, and defines its ``autograd.Function`` classes when it
is imported (``torch.compile`` cannot trace a class statement, should the first
call come from compiled code): the backend imports it only once a tensor has
arrived.  The generic block functions come from the math (``generic``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from kl_backends._lib.arrays import prepare_block, row_block
from kl_backends.backends import _logits_cpu as _cpu

__all__ = ["LOGITS_BLOCK", "LogitsRows", "TracedLogitsRows", "logits_rows"]

# KL, cross-entropy and generalised JSD between ``[N, V]`` logits
# (``kl_backends._math.logits``):
#
# * eager, CPU, KL and cross-entropy, float32 or bfloat16 rows with unit element stride:
#   the compiled kernel of ``backends._logits_cpu`` (C, built once and cached; ``ctypes``) reads
#   each row once into cache, and writes the values and the unscaled gradients of the
#   inputs that need one; rows it leaves NaN (NaN, ``+inf``, all ``-inf``) are redone
#   by the generic block code.  The backward scales the gradient as below;
# * otherwise eager, CPU, KL and cross-entropy (``LogitsRows``): each block's ``log_softmax``
#   (PyTorch's fused kernel) into reused buffers, the row values, and -- when an
#   input needs a gradient -- that gradient (for the second input
#   ``softmax(b/T) - softmax(a/T)``) written straight into the gradient tensor
#   while the block is in cache.  The backward scales it by the row cotangent and
#   ``1/T`` in place and hands it over (a second backward, with
#   ``retain_graph=True``, recomputes it).  Peak extra memory: the gradient plus
#   a few ``[block, V]`` float32 buffers.  Rows whose value comes out NaN
#   (``-inf`` logits, invalid rows) are redone with the generic conventions;
# * elsewhere (JSD, GPUs, the ``meta`` device): the generic block functions
#   forward, and their closed-form gradients recomputed block by block in the
#   backward (no host synchronisation);
# * under ``torch.compile`` (``TracedLogitsRows``): the same in one block (Dynamo
#   traces it into the graph; Inductor fuses the elementwise work).
#
# Gradients only for the inputs that need one; float16/bfloat16 blocks work in
# float32 and the gradient comes back in the input dtype.
#
# Higher orders: a backward with ``create_graph=True`` (Hessians, Hessian- and
# Fisher-vector products, double backward) returns autograd's gradient of the
# generic block code recomputed from the saved inputs, a graph that can be
# differentiated again (``_graph_backward``); forward mode
# (``torch.autograd.forward_ad``) is the generic code's jvp (``_jvp_rows``).
# Under ``torch.func`` transforms (``vmap``, ``grad``, ``jacrev``/``jacfwd``,
# ``hessian``, ``jvp``) no kernel: the generic code, which functorch batches
# and differentiates to any order.  Under ``torch.compile``, a second
# derivative is refused by torch itself (AOTAutograd has no double backward).


#: Elements per row block on CPU (16 MB of float32 per temporary): with many
#: smaller blocks the per-kernel fork/join of the intra-op threads dominates on
#: a busy 2-core machine (2^18: 7x slower than 2^22 at [256, 128256]).
LOGITS_BLOCK = 1 << 22

#: Elements per chunk of the compiled kernel's row sums (``_logits_cpu.CHUNK``; tests
#: make it small so that rows span several chunks).
KERNEL_CHUNK = _cpu.CHUNK
#: Threads of the compiled kernel (``None``: ``torch.get_num_threads()``).
KERNEL_THREADS: int | None = None


def _blocks(a: Any) -> list[tuple[int, int]]:
    n, v = a.shape
    if torch.compiler.is_compiling() or a.device.type == "meta":
        return [(0, n)]
    step = row_block(n, v, LOGITS_BLOCK) or n
    return [(i, min(i + step, n)) for i in range(0, max(n, 1), step)]


def _block_in(
    be: Any, x: Any, i: int, j: int, mask: Any, temperature: float | None, work: Any
) -> Any:
    """Rows ``i:j`` of ``x`` ready for the block math (``prepare_block``)."""
    m = None if mask is None else mask[i:j]
    return prepare_block(be.xp, x[i:j], work, m, temperature, x.device)


def _generic_rows(options: tuple[Any, ...], a: Any, b: Any, mask: Any) -> Any:
    """The per-row values by the generic block code: plain torch operations, which autograd
    and ``torch.func`` differentiate to any order."""
    be, s, generic = options
    blocked = not torch.compiler.is_compiling() and a.device.type != "meta"
    return generic.rows(be, s.kind, s.beta, a, b, mask, s.temperature, True, s.work, blocked)


def _graph_backward(
    options: tuple[Any, ...], a: Any, b: Any, mask: Any, g: Any, need: tuple[bool, bool]
) -> tuple[Any, Any]:
    """The backward under ``create_graph=True`` (Hessians, Hessian-vector and Fisher-vector
    products, gradient penalties): autograd's gradient of the generic block code, a graph
    in ``a``, ``b`` and ``g`` that can be differentiated again.  (The first-order backward
    has no graph: its gradient is computed in place, or in the forward.)"""
    wrt = [x for x, wanted in zip((a, b), need) if wanted]
    with torch.enable_grad():
        vals = _generic_rows(options, a, b, mask)
        grads = iter(torch.autograd.grad(vals, wrt, g, create_graph=True, allow_unused=True))
    out = [next(grads) if wanted else None for wanted in need]
    return tuple(  # type: ignore[return-value]
        torch.zeros_like(x) if wanted and d is None else d
        for x, wanted, d in zip((a, b), need, out)
    )


def _jvp_rows(options: tuple[Any, ...], a: Any, b: Any, mask: Any, da: Any, db: Any) -> Any:
    """Forward mode (``torch.autograd.forward_ad``): ``sum(d/da * da) + sum(d/db * db)`` per
    row, the per-row gradients being autograd's of the generic block code (each row's value
    depends on its own row only).  Not differentiable again: PyTorch has no nested
    forward mode."""
    x, y = a.detach().requires_grad_(da is not None), b.detach().requires_grad_(db is not None)
    with torch.enable_grad():
        vals = _generic_rows(options, x, y, mask)
        wrt = [v for v in (x, y) if v.requires_grad]
        grads = iter(torch.autograd.grad(vals, wrt, torch.ones_like(vals)) if wrt else ())
    out = torch.zeros_like(vals)
    for d in (da, db):
        if d is not None:
            out = out + (next(grads) * d).sum(-1)
    return out


def _eager_cpu(a: Any) -> bool:
    return a.device.type == "cpu" and not torch.compiler.is_compiling()


class _Buffers:
    """Reused ``[block, V]`` buffers, made on first use (a fresh large CPU temporary costs
    page faults, and every kernel launch a fork/join of the intra-op threads)."""

    def __init__(self, rows: int, width: int, work: Any, device: Any) -> None:
        self.shape = (rows, width)
        self.work = work
        self.device = device
        self._made: dict[int, Any] = {}

    def get(self, k: int, n: int) -> Any:
        buf = self._made.get(k)
        if buf is None:
            buf = self._made[k] = torch.empty(self.shape, dtype=self.work, device=self.device)
        return buf[:n]


def _block_into(
    x: Any, i: int, j: int, mask: Any, temperature: float | None, work: Any, buf: Any
) -> Any:
    """``_block_in`` written into ``buf`` (no fresh temporary), or a view when nothing changes."""
    x = x[i:j]
    if x.dtype == work and mask is None and temperature is None:
        return x
    buf.copy_(x)
    if mask is not None:
        buf.masked_fill_(~mask[i:j, None], 0.0)
    if temperature is not None:
        buf.div_(temperature)
    return buf


def _fast_block(
    options: tuple[Any, ...], ab: Any, bb: Any, ga: Any, gb: Any, bufs: _Buffers
) -> Any:
    """KL or cross-entropy rows of one block; the gradients, scaled by ``_grad_scale``,
    into ``ga``/``gb`` slices."""
    be, spec, generic = options
    kind = spec.kind
    scale = _grad_scale(spec)
    n = ab.shape[0]
    lp = torch._log_softmax(ab, -1, False, out=bufs.get(2, n))
    lq = torch._log_softmax(bb, -1, False, out=bufs.get(3, n))
    p = torch.exp(lp, out=bufs.get(4, n))
    if kind == "kl":
        d = lp.sub_(lq)  # lp - lq, in lp's buffer
        vals = torch.mul(p, d, out=bufs.get(5, n)).sum(-1)
    else:
        vals = torch.mul(p, lq, out=lp).sum(-1).neg_()
    bad = torch.isnan(vals)
    any_bad = bool(bad.any())
    if any_bad:  # -inf logits or invalid rows: the generic conventions
        vals[bad] = generic.forward_block(be, kind, None, ab[bad], bb[bad])
    if ga is not None:
        # KL: p (lp - lq - KL); cross-entropy: -p (lq + H)
        if kind == "kl":
            inner = torch.sub(d, vals[:, None], out=bufs.get(5, n))
            inner = torch.where(p == 0, 0.0, inner) if any_bad else inner
        else:
            inner = torch.add(lq, vals[:, None], out=lp).neg_()
        inner = inner.mul_(p)
        # A row whose value is +inf: NaN, as autodiff of the generic code gives.
        inner = inner.masked_fill_(torch.isposinf(vals)[:, None], math.nan)
        ga.copy_(inner if scale == 1.0 else inner.mul_(scale))
    if gb is not None:
        q = lq.exp_()
        if gb.dtype == q.dtype:
            torch.sub(q, p, out=gb)
            if scale != 1.0:
                gb.mul_(scale)
        else:
            d = q.sub_(p)
            gb.copy_(d if scale == 1.0 else d.mul_(scale))
    if any_bad and (ga is not None or gb is not None):
        one = torch.full_like(vals[bad], scale)
        need = (ga is not None, gb is not None)
        da, db = generic.backward_block(be, kind, None, ab[bad], bb[bad], vals[bad], one, need)
        if ga is not None:
            ga[bad] = da.to(ga.dtype)
        if gb is not None:
            gb[bad] = db.to(gb.dtype)
    return vals


def _kernel_admits(spec: Any, a: Any, b: Any, mask: Any) -> Any:
    """The compiled CPU kernel (``backends._logits_cpu``) if it takes these inputs, else ``None``."""
    if spec.kind not in ("kl", "ce") or a.dtype != b.dtype:
        return None
    if a.dtype not in (torch.float32, torch.bfloat16) or a.ndim != 2 or b.shape != a.shape:
        return None
    if a.numel() == 0 or (a.shape[1] > 1 and (a.stride(1) != 1 or b.stride(1) != 1)):
        return None
    if mask is not None and (mask.dtype != torch.bool or mask.shape != a.shape[:1]):
        return None
    return _cpu.library()


def _grad_scale(spec: Any) -> float:
    """What the gradients computed in the forward (the compiled kernel's and the fast
    block's) are multiplied by there: the expected row cotangent (``RowSpec.cotangent``,
    else 1) and ``1/T``."""
    h = 1.0 if spec.cotangent is None else spec.cotangent
    return h if spec.temperature is None else h / spec.temperature


def _kernel_rows(options: tuple[Any, ...], lib: Any, a: Any, b: Any, mask: Any) -> tuple:
    """Values ``[N]`` (float32) and the gradients of the inputs that need one, scaled by
    ``_grad_scale``, by the compiled kernel; rows it leaves NaN are redone by the
    generic block code."""
    be, spec, generic = options
    scale = _grad_scale(spec)
    n, v = a.shape
    vals = torch.empty((n,), dtype=torch.float32)
    ga = torch.empty((n, v), dtype=a.dtype) if a.requires_grad else None
    gb = torch.empty((n, v), dtype=b.dtype) if b.requires_grad else None
    m = None if mask is None else mask.contiguous().view(torch.uint8)
    _cpu.rows(
        lib, (n, v), (a.data_ptr(), a.stride(0)), (b.data_ptr(), b.stride(0)),
        a.dtype == torch.bfloat16, None if m is None else m.data_ptr(), spec.temperature,
        spec.kind, None if ga is None else (ga.data_ptr(), v),
        None if gb is None else (gb.data_ptr(), v), vals.data_ptr(), KERNEL_THREADS or torch.get_num_threads(),
        KERNEL_CHUNK, scale,
    )  # fmt: skip
    bad = torch.isnan(vals)
    if bool(bad.any()):  # NaN, +inf, all -inf: the generic conventions
        idx = bad.nonzero()[:, 0]
        ab = prepare_block(be.xp, a[idx], spec.work, None, spec.temperature, a.device)
        bb = prepare_block(be.xp, b[idx], spec.work, None, spec.temperature, a.device)
        vals[idx] = generic.forward_block(be, spec.kind, None, ab, bb).to(vals.dtype)
        need = (ga is not None, gb is not None)
        if any(need):
            one = torch.full_like(vals[idx], scale)
            da, db = generic.backward_block(be, spec.kind, None, ab, bb, vals[idx], one, need)
            if ga is not None:
                ga[idx] = da.to(ga.dtype)
            if gb is not None:
                gb[idx] = db.to(gb.dtype)
    return vals, ga, gb


class LogitsRows(torch.autograd.Function):
    """Rows of logits, eager (``Torch.logits_rows``): see the comment at the top."""

    @staticmethod
    def forward(a: Any, b: Any, mask: Any, options: Any) -> Any:
        be, spec, generic = options
        kind, beta, temperature, work = spec.kind, spec.beta, spec.temperature, spec.work
        n = a.shape[0]
        fast = kind in ("kl", "ce") and _eager_cpu(a)
        lib = _kernel_admits(spec, a, b, mask) if fast else None
        if lib is not None:
            vals, ga, gb = _kernel_rows(options, lib, a, b, mask)
            empty = torch.empty((0,), dtype=a.dtype, device=a.device)
            return vals.to(work), (empty if ga is None else ga), (empty if gb is None else gb)
        out = torch.empty((n,), dtype=work, device=a.device)
        ga = torch.empty_like(a) if fast and a.requires_grad else None
        gb = torch.empty_like(b) if fast and b.requires_grad else None
        blocks = _blocks(a)
        if fast:
            bufs = _Buffers(blocks[0][1] - blocks[0][0], a.shape[1], work, a.device)
        for i, j in blocks:
            if fast:
                ab = _block_into(a, i, j, mask, temperature, work, bufs.get(0, j - i))
                bb = _block_into(b, i, j, mask, temperature, work, bufs.get(1, j - i))
                ga_ij = None if ga is None else ga[i:j]
                gb_ij = None if gb is None else gb[i:j]
                vals = _fast_block(options, ab, bb, ga_ij, gb_ij, bufs)
            else:
                ab = _block_in(be, a, i, j, mask, temperature, work)
                bb = _block_in(be, b, i, j, mask, temperature, work)
                vals = generic.forward_block(be, kind, beta, ab, bb)
            if mask is not None:
                vals = torch.where(mask[i:j], vals, 0.0)
            if i == 0 and j == n:
                out = vals
                break
            out[i:j] = vals
        empty = torch.empty((0,), dtype=a.dtype, device=a.device)
        return out, (empty if ga is None else ga), (empty if gb is None else gb)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, b, mask, options = inputs
        vals, ga, gb = output
        ctx.save_for_backward(a, b, mask, vals)
        ctx.save_for_forward(a, b, mask, vals)
        ctx.options = options
        # The gradients computed in the forward (eager CPU), handed over once; they carry
        # ``_grad_scale``.
        ctx.precomputed = [ga if ga.numel() else None, gb if gb.numel() else None]
        ctx.mark_non_differentiable(ga, gb)
        ctx.set_materialize_grads(False)  # no zero [N, V] cotangents for those two

    @staticmethod
    def backward(ctx: Any, g: Any, _ga: Any, _gb: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        be, spec, generic = ctx.options
        kind, beta, temperature, work = spec.kind, spec.beta, spec.temperature, spec.work
        if g is None:
            g = torch.zeros_like(vals)
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        if torch.is_grad_enabled():  # create_graph=True: a gradient that has a graph
            return (*_graph_backward(ctx.options, a, b, mask, g, need), None, None)
        scale = 1.0 if temperature is None else 1.0 / temperature
        g = g.to(work)
        pre = ctx.precomputed
        if not torch.compiler.is_compiling() and all(
            p is not None for p, wanted in zip(pre, need) if wanted
        ):
            ctx.precomputed = [None, None]  # a second backward recomputes
            # The cotangent the forward scaled by (a plain loss.backward()): no pass.
            h, carried = spec.cotangent, _grad_scale(spec)
            if h is not None and torch.equal(g, torch.full_like(g, h)):
                return pre[0] if need[0] else None, pre[1] if need[1] else None, None, None
            if mask is not None:
                g = torch.where(mask, g, 0.0)
            if scale != carried:
                g = g * (scale / carried)
            out = [
                p.mul_(g[:, None].to(p.dtype)) if wanted and p is not None else None
                for p, wanted in zip(pre, need)
            ]
            return out[0], out[1], None, None
        if mask is not None:
            g = torch.where(mask, g, 0.0)
        if scale != 1.0:
            g = g * scale
        blocks = _blocks(a)
        whole = len(blocks) == 1
        ga = None if not need[0] or whole else torch.empty_like(a)
        gb = None if not need[1] or whole else torch.empty_like(b)
        for i, j in blocks:
            ab = _block_in(be, a, i, j, mask, temperature, work)
            bb = _block_in(be, b, i, j, mask, temperature, work)
            da, db = generic.backward_block(be, kind, beta, ab, bb, vals[i:j], g[i:j], need)
            if whole:
                ga = None if da is None else da.to(a.dtype)
                gb = None if db is None else db.to(b.dtype)
                break
            if ga is not None:
                ga[i:j] = da
            if gb is not None:
                gb[i:j] = db
        return ga, gb, None, None

    @staticmethod
    def jvp(ctx: Any, da: Any, db: Any, _mask: Any, _options: Any) -> tuple[Any, None, None]:
        a, b, mask, _ = ctx.saved_tensors
        return _jvp_rows(ctx.options, a, b, mask, da, db), None, None


class TracedLogitsRows(torch.autograd.Function):
    """One block, the generic forward and the closed-form backward (torch.compile)."""

    @staticmethod
    def forward(a: Any, b: Any, mask: Any, options: Any) -> Any:
        be, spec, generic = options
        ab = _block_in(be, a, 0, a.shape[0], mask, spec.temperature, spec.work)
        bb = _block_in(be, b, 0, b.shape[0], mask, spec.temperature, spec.work)
        vals = generic.forward_block(be, spec.kind, spec.beta, ab, bb)
        return vals if mask is None else torch.where(mask, vals, 0.0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, b, mask, options = inputs
        ctx.save_for_backward(a, b, mask, output)
        ctx.options = options

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        be, spec, generic = ctx.options
        kind, beta, temperature, work = spec.kind, spec.beta, spec.temperature, spec.work
        need = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        g = g.to(work)
        if mask is not None:
            g = torch.where(mask, g, 0.0)
        if temperature is not None:
            g = g / temperature
        ab = _block_in(be, a, 0, a.shape[0], mask, temperature, work)
        bb = _block_in(be, b, 0, b.shape[0], mask, temperature, work)
        da, db = generic.backward_block(be, kind, beta, ab, bb, vals, g, need)
        return (
            None if da is None else da.to(a.dtype),
            None if db is None else db.to(b.dtype),
            None,
            None,
        )


def logits_rows(be: Any, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
    """Per-row values of ``spec`` between ``[N, V]`` logits; ``None`` under ``torch.func``."""
    if torch._C._are_functorch_transforms_active():
        # torch.func (vmap, grad, jacrev, jacfwd, hessian, jvp): the generic code, which
        # functorch batches and differentiates to any order (the kernel reads values).
        return None
    options = (be, spec, generic)
    if torch.compiler.is_compiling():
        return TracedLogitsRows.apply(a, b, mask, options)
    return LogitsRows.apply(a, b, mask, options)[0]
