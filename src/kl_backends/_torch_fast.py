"""PyTorch fast path: ``torch.autograd.Function`` with a lean forward and exact backward.

Imported only when a PyTorch tensor arrives (it imports torch).  The classes
are defined at import time so that torch.compile traces no class creation or
cache (``functools.cache`` makes Dynamo warn).
"""

from __future__ import annotations

import math
from typing import Any

import torch


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


class EagerKL(torch.autograd.Function):
    """Four in-place kernels, a sum and two row minima (eager kernels are memory passes)."""

    @staticmethod
    def forward(ctx: Any, p: Any, q: Any) -> Any:
        # p log(p/q) in place; the NaN of 0 * log(0/q) (q = 0 too) becomes 0, +inf
        # (q = 0 < p) stays.  nan_to_num_ would also hide NaN inputs and negative
        # probabilities, so those rows are made NaN from the row minima of p and q
        # (NaN-propagating, read-only passes).
        t = torch.div(p, q)
        t.log_().mul_(p).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
        low = torch.minimum(torch.amin(p, -1), torch.amin(q, -1))
        ctx.save_for_backward(p, q)
        return torch.where(low >= 0, t.sum(-1), math.nan)

    backward = staticmethod(_backward)


class FusedKL(torch.autograd.Function):
    """Select-free terms that Inductor fuses into one loop (under torch.compile)."""

    @staticmethod
    def forward(ctx: Any, p: Any, q: Any) -> Any:
        ctx.save_for_backward(p, q)
        z = (p == 0).to(p.dtype)
        return (p * torch.log((p + z) / (q + z))).sum(-1)

    backward = staticmethod(_backward)


def kl_last_axis(p: Any, q: Any) -> Any:
    if torch.compiler.is_compiling():
        return FusedKL.apply(p, q)
    return EagerKL.apply(p, q)
