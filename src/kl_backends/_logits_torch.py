"""PyTorch rows of logits: an ``autograd.Function`` over row blocks.

Imported only when a tensor arrives (it imports torch).  Nothing of size
``[N, V]`` is stored but the inputs (by reference) and, in eager CPU mode,
the gradient itself:

* eager, CPU, KL and cross-entropy: each block's ``log_softmax`` (PyTorch's
  fused kernel), the row values, and -- when the second input needs a
  gradient -- ``softmax(b/T) - softmax(a/T)`` written straight into the
  gradient tensor while the block is in cache.  The backward scales it by the
  row cotangent and ``1/T`` in place and hands it over (a second backward,
  with ``retain_graph=True``, recomputes it).  Peak extra memory: the
  gradient plus a few ``[block, V]`` float32 temporaries.  Rows whose value
  comes out NaN (``-inf`` logits, invalid rows) are redone with the generic
  conventions (``kl_backends._math.logits``);
* elsewhere (JSD, GPUs, the ``meta`` device): the generic block functions of
  ``kl_backends._math.logits`` forward, and their closed-form gradients
  recomputed block by block in the backward (no host synchronisation);
* under ``torch.compile``: ``_TracedRows``, the same in one block (Dynamo
  traces it into the graph; Inductor fuses the elementwise work).

Gradients only for the inputs that need one; float16/bfloat16 blocks work in
float32 and the gradient comes back in the input dtype.  ``setup_context``
keeps ``torch.func`` transforms working.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xp
import torch

from kl_backends._math import logits as _logits

#: Elements per row block on CPU (16 MB of float32 per temporary): with many
#: smaller blocks the per-kernel fork/join of the intra-op threads dominates on
#: a busy 2-core machine (2^18: 7x slower than 2^22 at [256, 128256]).
BLOCK = 1 << 22


def _blocks(a: Any) -> list[tuple[int, int]]:
    n, v = a.shape
    if torch.compiler.is_compiling() or a.device.type == "meta":
        return [(0, n)]
    step = _logits.row_block(n, v, BLOCK) or n
    return [(i, min(i + step, n)) for i in range(0, max(n, 1), step)]


def _block_in(x: Any, i: int, j: int, mask: Any, temperature: float | None, work: Any) -> Any:
    x = x[i:j].to(work)
    if mask is not None:
        x = torch.where(mask[i:j, None], x, 0.0)
    if temperature is not None:
        x = x / temperature
    return x


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


def _fast_block(kind: str, ab: Any, bb: Any, ga: Any, gb: Any, bufs: _Buffers) -> Any:
    """KL or cross-entropy rows of one block; unscaled gradients into ``ga``/``gb`` slices."""
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
        vals[bad] = _logits.forward_block(xp, kind, None, ab[bad], bb[bad])
    if ga is not None:
        # KL: p (lp - lq - KL); cross-entropy: -p (lq + H)
        if kind == "kl":
            inner = torch.sub(d, vals[:, None], out=bufs.get(5, n))
            inner = torch.where(p == 0, 0.0, inner) if any_bad else inner
        else:
            inner = torch.add(lq, vals[:, None], out=lp).neg_()
        if ga.dtype == inner.dtype:
            torch.mul(inner, p, out=ga)
        else:
            ga.copy_(inner.mul_(p))
    if gb is not None:
        q = lq.exp_()
        if gb.dtype == q.dtype:
            torch.sub(q, p, out=gb)
        else:
            gb.copy_(q.sub_(p))
    if any_bad and (ga is not None or gb is not None):
        one = torch.ones_like(vals[bad])
        need = (ga is not None, gb is not None)
        da, db = _logits.backward_block(xp, kind, None, ab[bad], bb[bad], vals[bad], one, need)
        if ga is not None:
            ga[bad] = da.to(ga.dtype)
        if gb is not None:
            gb[bad] = db.to(gb.dtype)
    return vals


class _Rows(torch.autograd.Function):
    @staticmethod
    def forward(
        a: Any, b: Any, mask: Any, kind: str, beta: Any, temperature: Any, work: Any
    ) -> Any:
        n = a.shape[0]
        out = torch.empty((n,), dtype=work, device=a.device)
        fast = kind in ("kl", "ce") and _eager_cpu(a)
        ga = torch.empty_like(a) if fast and a.requires_grad else None
        gb = torch.empty_like(b) if fast and b.requires_grad else None
        blocks = _blocks(a)
        if fast:
            bufs = _Buffers(blocks[0][1] - blocks[0][0], a.shape[1], work, a.device)
        for i, j in blocks:
            if fast:
                ab = _block_into(a, i, j, mask, temperature, work, bufs.get(0, j - i))
                bb = _block_into(b, i, j, mask, temperature, work, bufs.get(1, j - i))
                vals = _fast_block(
                    kind,
                    ab,
                    bb,
                    None if ga is None else ga[i:j],
                    None if gb is None else gb[i:j],
                    bufs,
                )
            else:
                ab = _block_in(a, i, j, mask, temperature, work)
                bb = _block_in(b, i, j, mask, temperature, work)
                vals = _logits.forward_block(xp, kind, beta, ab, bb)
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
        a, b, mask, kind, beta, temperature, work = inputs
        vals, ga, gb = output
        ctx.save_for_backward(a, b, mask, vals)
        ctx.options = (kind, beta, temperature, work)
        # The gradients computed in the forward (eager CPU), handed over once.
        ctx.precomputed = [ga if ga.numel() else None, gb if gb.numel() else None]
        ctx.mark_non_differentiable(ga, gb)
        ctx.set_materialize_grads(False)  # no zero [N, V] cotangents for those two

    @staticmethod
    def backward(ctx: Any, g: Any, _ga: Any, _gb: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        kind, beta, temperature, work = ctx.options
        if g is None:
            g = torch.zeros_like(vals)
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        scale = 1.0 if temperature is None else 1.0 / temperature
        g = g.to(work)
        if mask is not None:
            g = torch.where(mask, g, 0.0)
        if scale != 1.0:
            g = g * scale
        pre = ctx.precomputed
        if not torch.compiler.is_compiling() and all(
            p is not None for p, wanted in zip(pre, need) if wanted
        ):
            ctx.precomputed = [None, None]  # a second backward recomputes
            out = [
                p.mul_(g[:, None].to(p.dtype)) if wanted and p is not None else None
                for p, wanted in zip(pre, need)
            ]
            return out[0], out[1], None, None, None, None, None
        blocks = _blocks(a)
        whole = len(blocks) == 1
        ga = None if not need[0] or whole else torch.empty_like(a)
        gb = None if not need[1] or whole else torch.empty_like(b)
        for i, j in blocks:
            ab = _block_in(a, i, j, mask, temperature, work)
            bb = _block_in(b, i, j, mask, temperature, work)
            da, db = _logits.backward_block(xp, kind, beta, ab, bb, vals[i:j], g[i:j], need)
            if whole:
                ga = None if da is None else da.to(a.dtype)
                gb = None if db is None else db.to(b.dtype)
                break
            if ga is not None:
                ga[i:j] = da
            if gb is not None:
                gb[i:j] = db
        return ga, gb, None, None, None, None, None


class _TracedRows(torch.autograd.Function):
    """One block, the generic forward and the closed-form backward (torch.compile)."""

    @staticmethod
    def forward(a: Any, b: Any, mask: Any, options: Any) -> Any:
        kind, beta, temperature, work = options
        ab = _block_in(a, 0, a.shape[0], mask, temperature, work)
        bb = _block_in(b, 0, b.shape[0], mask, temperature, work)
        vals = _logits.forward_block(xp, kind, beta, ab, bb)
        return vals if mask is None else torch.where(mask, vals, 0.0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, b, mask, options = inputs
        ctx.save_for_backward(a, b, mask, output)
        ctx.options = options

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        kind, beta, temperature, work = ctx.options
        need = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        g = g.to(work)
        if mask is not None:
            g = torch.where(mask, g, 0.0)
        if temperature is not None:
            g = g / temperature
        ab = _block_in(a, 0, a.shape[0], mask, temperature, work)
        bb = _block_in(b, 0, b.shape[0], mask, temperature, work)
        da, db = _logits.backward_block(xp, kind, beta, ab, bb, vals, g, need)
        return (
            None if da is None else da.to(a.dtype),
            None if db is None else db.to(b.dtype),
            None,
            None,
        )


def rows(kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any) -> Any:
    """Per-row values ``[N]`` (dtype ``work``) of ``[N, V]`` tensors, custom gradient."""
    if torch.compiler.is_compiling():
        return _TracedRows.apply(a, b, mask, (kind, beta, temperature, work))
    return _Rows.apply(a, b, mask, kind, beta, temperature, work)[0]
