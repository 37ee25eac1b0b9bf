"""PyTorch rows of logits: an ``autograd.Function`` over row blocks.

Imported only when a tensor arrives (it imports torch).  The forward keeps
per-row values only (no ``[N, V]`` intermediate is stored); the backward
recomputes each block's softmaxes and writes the exact gradient
(``softmax(b/T) - softmax(a/T)`` per row for KL and cross-entropy wrt the
second argument, scaled by the row cotangent and ``1/T``) straight into the
gradient tensor, and only for the inputs that need one.  Peak extra memory is
the gradient itself plus a few ``[block, V]`` float32 temporaries.

Eager on CPU, KL's forward uses PyTorch's fused ``log_softmax`` and the plain
``exp(lp) * (lp - lq)``; rows whose sum comes out NaN (``-inf`` logits, or
invalid rows) are recomputed with the generic conventions
(``kl_backends._math.logits.forward_block``).  Under ``torch.compile``, on
the ``meta`` device and on GPUs the generic block functions are used as they
are (no host synchronisation), in one block under compile.

``setup_context`` keeps ``torch.func`` transforms working.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xp
import torch

from kl_backends._math import logits as _logits


def _blocks(a: Any) -> list[tuple[int, int]]:
    n, v = a.shape
    if torch.compiler.is_compiling() or a.device.type == "meta":
        return [(0, n)]
    step = _logits.row_block(n, v) or n
    return [(i, min(i + step, n)) for i in range(0, max(n, 1), step)]


def _block_in(x: Any, i: int, j: int, mask: Any, temperature: float | None, work: Any) -> Any:
    x = x[i:j].to(work)
    if mask is not None:
        x = torch.where(mask[i:j, None], x, 0.0)
    if temperature is not None:
        x = x / temperature
    return x


def _fast_kl(a: Any, b: Any) -> Any:
    """Eager CPU KL rows; NaN rows (``-inf`` logits, invalid rows) redone exactly."""
    lp = torch.log_softmax(a, -1)
    lq = torch.log_softmax(b, -1)
    d = lq.neg_().add_(lp)  # lp - lq, in lq's buffer
    out = lp.exp_().mul_(d).sum(-1)
    bad = torch.isnan(out)
    if bool(bad.any()):
        out[bad] = _logits.forward_block(xp, "kl", None, a[bad], b[bad])
    return out


class _Rows(torch.autograd.Function):
    @staticmethod
    def forward(
        a: Any, b: Any, mask: Any, kind: str, beta: Any, temperature: Any, work: Any
    ) -> Any:
        n = a.shape[0]
        out = torch.empty((n,), dtype=work, device=a.device)
        generic = torch.compiler.is_compiling() or a.device.type != "cpu"
        for i, j in _blocks(a):
            ab = _block_in(a, i, j, mask, temperature, work)
            bb = _block_in(b, i, j, mask, temperature, work)
            if kind == "kl" and not generic:
                vals = _fast_kl(ab, bb)
            else:
                vals = _logits.forward_block(xp, kind, beta, ab, bb)
            if mask is not None:
                vals = torch.where(mask[i:j], vals, 0.0)
            if i == 0 and j == n:
                return vals
            out[i:j] = vals
        return out

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, b, mask, kind, beta, temperature, work = inputs
        ctx.save_for_backward(a, b, mask, output)
        ctx.options = (kind, beta, temperature, work)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        kind, beta, temperature, work = ctx.options
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        blocks = _blocks(a)
        whole = len(blocks) == 1
        ga = None if not need[0] or whole else torch.empty_like(a)
        gb = None if not need[1] or whole else torch.empty_like(b)
        scale = 1.0 if temperature is None else 1.0 / temperature
        for i, j in blocks:
            ab = _block_in(a, i, j, mask, temperature, work)
            bb = _block_in(b, i, j, mask, temperature, work)
            gr = g[i:j].to(work)
            if mask is not None:
                gr = torch.where(mask[i:j], gr, 0.0)
            if scale != 1.0:
                gr = gr * scale
            da, db = _logits.backward_block(xp, kind, beta, ab, bb, vals[i:j], gr, need)
            if whole:
                ga = None if da is None else da.to(a.dtype)
                gb = None if db is None else db.to(b.dtype)
                break
            if ga is not None:
                ga[i:j] = da
            if gb is not None:
                gb[i:j] = db
        return ga, gb, None, None, None, None, None


def rows(kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any) -> Any:
    """Per-row values ``[N]`` (dtype ``work``) of ``[N, V]`` tensors, custom gradient."""
    return _Rows.apply(a, b, mask, kind, beta, temperature, work)
