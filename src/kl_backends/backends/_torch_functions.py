"""The ``torch.autograd.Function`` of the PyTorch backend (``backends/torch.py``).

It lives in a module of its own for one reason: it must be defined at import
time (``torch.compile`` cannot trace a class definition, should the first call
come from compiled code), and this module imports torch, so
``backends/torch.py`` imports it only once a tensor has arrived.  What it
computes (the forward, the exact backward and ``jvp``) is in
``backends/torch.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from kl_backends.backends import torch as kernels

__all__ = ["EagerKL", "LogitsRows", "TracedLogitsRows"]


class EagerKL(torch.autograd.Function):
    """``_eager_sum`` forward, exact backward (used when a gradient is wanted)."""

    @staticmethod
    def forward(p: Any, q: Any, exact: Any) -> Any:
        return kernels._eager_sum(p, q, exact)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        kernels._setup_context(ctx, inputs[:2], output)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, Any, None]:
        return (*kernels._backward(ctx, g), None)

    @staticmethod
    def jvp(ctx: Any, dp: Any, dq: Any, _: Any) -> Any:
        return kernels._jvp(ctx, dp, dq)


class LogitsRows(torch.autograd.Function):
    """Rows of logits, eager (``Torch.logits_rows``): see ``backends/torch.py``."""

    @staticmethod
    def forward(a: Any, b: Any, mask: Any, options: Any) -> Any:
        be, kind, beta, temperature, work = options
        n = a.shape[0]
        out = torch.empty((n,), dtype=work, device=a.device)
        fast = kind in ("kl", "ce") and kernels._eager_cpu(a)
        ga = torch.empty_like(a) if fast and a.requires_grad else None
        gb = torch.empty_like(b) if fast and b.requires_grad else None
        blocks = kernels._blocks(a)
        if fast:
            bufs = kernels._Buffers(blocks[0][1] - blocks[0][0], a.shape[1], work, a.device)
        for i, j in blocks:
            if fast:
                ab = kernels._block_into(a, i, j, mask, temperature, work, bufs.get(0, j - i))
                bb = kernels._block_into(b, i, j, mask, temperature, work, bufs.get(1, j - i))
                vals = kernels._fast_block(
                    be,
                    kind,
                    ab,
                    bb,
                    None if ga is None else ga[i:j],
                    None if gb is None else gb[i:j],
                    bufs,
                )
            else:
                ab = kernels._block_in(a, i, j, mask, temperature, work)
                bb = kernels._block_in(b, i, j, mask, temperature, work)
                vals = kernels._logits().forward_block(be, kind, beta, ab, bb)
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
        # The gradients computed in the forward (eager CPU), handed over once.
        ctx.precomputed = [ga if ga.numel() else None, gb if gb.numel() else None]
        ctx.mark_non_differentiable(ga, gb)
        ctx.set_materialize_grads(False)  # no zero [N, V] cotangents for those two

    @staticmethod
    def backward(ctx: Any, g: Any, _ga: Any, _gb: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        be, kind, beta, temperature, work = ctx.options
        if g is None:
            g = torch.zeros_like(vals)
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        if torch.is_grad_enabled():  # create_graph=True: a gradient that has a graph
            return (*kernels._graph_backward(ctx.options, a, b, mask, g, need), None, None)
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
            return out[0], out[1], None, None
        blocks = kernels._blocks(a)
        whole = len(blocks) == 1
        ga = None if not need[0] or whole else torch.empty_like(a)
        gb = None if not need[1] or whole else torch.empty_like(b)
        for i, j in blocks:
            ab = kernels._block_in(a, i, j, mask, temperature, work)
            bb = kernels._block_in(b, i, j, mask, temperature, work)
            da, db = kernels._logits().backward_block(
                be, kind, beta, ab, bb, vals[i:j], g[i:j], need
            )
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
        return kernels._jvp_rows(ctx.options, a, b, mask, da, db), None, None


class TracedLogitsRows(torch.autograd.Function):
    """One block, the generic forward and the closed-form backward (torch.compile)."""

    @staticmethod
    def forward(a: Any, b: Any, mask: Any, options: Any) -> Any:
        be, kind, beta, temperature, work = options
        ab = kernels._block_in(a, 0, a.shape[0], mask, temperature, work)
        bb = kernels._block_in(b, 0, b.shape[0], mask, temperature, work)
        vals = kernels._logits().forward_block(be, kind, beta, ab, bb)
        return vals if mask is None else torch.where(mask, vals, 0.0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, b, mask, options = inputs
        ctx.save_for_backward(a, b, mask, output)
        ctx.options = options

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        be, kind, beta, temperature, work = ctx.options
        need = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        g = g.to(work)
        if mask is not None:
            g = torch.where(mask, g, 0.0)
        if temperature is not None:
            g = g / temperature
        ab = kernels._block_in(a, 0, a.shape[0], mask, temperature, work)
        bb = kernels._block_in(b, 0, b.shape[0], mask, temperature, work)
        da, db = kernels._logits().backward_block(be, kind, beta, ab, bb, vals, g, need)
        return (
            None if da is None else da.to(a.dtype),
            None if db is None else db.to(b.dtype),
            None,
            None,
        )
