"""PyTorch fast path: ``torch.autograd.Function`` with a lean forward and exact backward.

Imported only when a PyTorch tensor arrives (it imports torch).  The classes
are defined at import time so that torch.compile traces no class creation or
cache (``functools.cache`` makes Dynamo warn).

Eager forward, chosen by size (each eager kernel is a pass over memory, and
a fresh large temporary costs page faults on CPU):

* up to ``SMALL`` elements: ``xlogy(p, p) - xlogy(p, q)``, three kernels
  (``xlogy`` is 0 where ``p == 0``, ``+inf`` where ``q == 0 < p``);
* larger, on CPU: ``p / q + tiny``, ``log``, ``* p`` and a row sum in one
  reused buffer of ``BLOCK`` elements, the zero fix only for blocks whose
  sums hold a NaN (``_cpu_blocks``);
* larger, elsewhere (GPU, meta): the same kernels on the whole array, the
  NaN of ``0 * log(0 / q)`` set to 0 and a row guard from the row minima of
  ``p`` and ``q`` restoring NaN for rows with NaN or negative entries
  (``_guarded``).

Under torch.compile: ``where(p == 0, 0, p * log(p / q))``, which Inductor
fuses into one loop.  The backward is always the exact one.

Invalid inputs: a NaN ``q`` under ``p == 0`` gives NaN on the small and
guarded paths, and a negative ``q`` under ``p == 0`` on the guarded path,
where the generic code gives 0 for that term (``p == 0`` terms are 0
whatever ``q`` is).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from kl_backends._fastpaths import SMALL  # up to it: the three-kernel xlogy form

#: Elements per block of the blocked eager forward on CPU (1 MB of float32):
#: 256K measured fastest on a 2-core AVX-512 machine (32K: 2.3x slower).
BLOCK = 1 << 18


def _backward(ctx: Any, g: Any) -> tuple[Any, Any]:
    """Exact: d/dp = log(p/q) + 1, d/dq = -p/q (-inf where q = 0 < p); 0 where p = 0."""
    p, q = ctx.saved_tensors
    zero = p == 0
    g = g.unsqueeze(-1)
    gp = gq = None
    if ctx.needs_input_grad[0]:
        gp = torch.where(zero, 0.0, torch.log(p / q) + 1) * g
    if ctx.needs_input_grad[1]:
        gq = torch.where(zero, 0.0, -p / q) * g
    return gp, gq


def eager_sum(p: Any, q: Any) -> Any:
    """Sum over the last axis of ``p log(p / q)``; ``p``, ``q`` same shape and float dtype."""
    if p.numel() <= SMALL:
        return torch.xlogy(p, p).sub_(torch.xlogy(p, q)).sum(-1)
    n = p.shape[-1]
    rows = p.numel() // n
    p2, q2 = p.reshape(rows, n), q.reshape(rows, n)
    if p.device.type == "cpu":
        return _cpu_blocks(p2, q2).reshape(p.shape[:-1])
    return _guarded(p2, q2).reshape(p.shape[:-1])


def _cpu_blocks(p: Any, q: Any) -> Any:
    """``[rows, n]`` on CPU: blocks of ``BLOCK`` elements in one reused buffer.

    Per block ``p / q + tiny``, ``log``, ``* p`` in place and a row sum: four
    passes, the block staying in cache.  Adding ``tiny`` (the smallest normal
    number) keeps ``log`` off 0 where ``p == 0 < q`` (PyTorch's CPU ``log`` is
    10x slower on arrays holding 0, inf or NaN) and changes no ratio above
    ``1e-31`` (float32); a negative ratio stays negative (NaN).  The only
    NaN terms left are ``p == 0 == q``, NaN inputs and negative values, so a
    block whose row sums hold a NaN gets its ``p == 0`` terms set to 0 and is
    summed again (CPU values are read here: no device synchronisation).
    """
    rows, n = p.shape
    tiny = torch.full((), torch.finfo(p.dtype).tiny, dtype=p.dtype)
    out = torch.zeros(rows, dtype=p.dtype)
    width = min(n, BLOCK)
    height = max(1, BLOCK // width)
    buf = torch.empty(height * width, dtype=p.dtype)
    for r0 in range(0, rows, height):
        r1 = min(r0 + height, rows)
        for c0 in range(0, n, width):
            pb, qb = p[r0:r1, c0 : c0 + width], q[r0:r1, c0 : c0 + width]
            t = buf[: pb.numel()].view(pb.shape)
            torch.addcdiv(tiny, pb, qb, out=t)  # tiny + p / q in one pass
            t.log_().mul_(pb)
            sums = t.sum(1)
            if sums.isnan().any():
                t.masked_fill_(pb == 0, 0.0)  # 0 log(0/q) = 0, q = 0 included
                sums = t.sum(1)
            out[r0:r1] += sums
    return out


def _guarded(p: Any, q: Any) -> Any:
    """``[rows, n]`` elsewhere (GPU, meta): no value is read, so the zero fix is blind.

    ``p / q``, ``log``, ``* p`` in place, ``nan_to_num_`` for the NaN of
    ``0 * log(0 / q)``, and the rows with a NaN or negative entry (which that
    would hide) made NaN again from the row minima of ``p`` and ``q``.
    """
    t = torch.div(p, q)
    t.log_().mul_(p).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
    low = torch.minimum(torch.amin(p, 1), torch.amin(q, 1))
    return torch.where(low >= 0, t.sum(1), math.nan)


class EagerKL(torch.autograd.Function):
    """``eager_sum`` forward, exact backward (used when a gradient is wanted)."""

    @staticmethod
    def forward(ctx: Any, p: Any, q: Any) -> Any:
        ctx.save_for_backward(p, q)
        return eager_sum(p, q)

    backward = staticmethod(_backward)


class FusedKL(torch.autograd.Function):
    """One ``where`` that Inductor fuses into one loop (under torch.compile)."""

    @staticmethod
    def forward(ctx: Any, p: Any, q: Any) -> Any:
        ctx.save_for_backward(p, q)
        return torch.where(p == 0, 0.0, p * torch.log(p / q)).sum(-1)

    backward = staticmethod(_backward)


def kl_last_axis(p: Any, q: Any) -> Any:
    if torch.compiler.is_compiling():
        return FusedKL.apply(p, q)
    if torch.is_grad_enabled() and (p.requires_grad or q.requires_grad):
        return EagerKL.apply(p, q)
    return eager_sum(p, q)
