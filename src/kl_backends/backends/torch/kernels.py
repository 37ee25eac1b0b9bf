"""PyTorch's probabilities kernel: the sums of ``p log(p / q)`` over the last axis, and its
exact gradients (``EagerKL``, an ``autograd.Function``).

This module imports torch, and defines the ``autograd.Function`` when it is
imported (``torch.compile`` cannot trace a class statement): the backend
imports it only once a tensor has arrived.

Forward of ``kl_last_axis``:

* eagerly on CPU, up to ``SMALL`` elements: ``xlogy(p, p) - xlogy(p, q)``,
  three kernels (``_small``);
* eagerly on CPU, larger: ``p / q``, ``log``, ``* p`` and a row sum in one reused
  buffer of at most ``BLOCK`` elements, the zero fix only for blocks whose
  sums hold a NaN, and the rows this fast form cannot be trusted with
  (non-finite sums, negative ``q``, nearly equal float64 distributions)
  recomputed by the generic code (``_cpu_blocks``);
* under ``torch.compile`` on CPU, float32 or float64: the custom operator
  ``kl_backends::kl_probs_rows`` (``compiled_sums``), which Inductor calls as it is: the
  C kernel of ``backends._probs_cpu``, one pass and exact on every input, whose
  gradients are ``_backward``'s formula, traced into the compiled backward;
* elsewhere (GPU, meta, under ``torch.func`` transforms, or without a C compiler), where
  no value may be read: no kernel; the generic code, which Inductor fuses into one
  loop and functorch batches, is exact there.

With a gradient wanted, ``EagerKL``, whose backward is the exact
``log(p / q) + 1`` and ``-p / q`` (0 where ``p == 0``), itself written with
safe substitutions so that it can be differentiated again (Hessian-vector
products).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from kl_backends._lib.policy import EXACT_BELOW, SMALL
from kl_backends.backends import _probs_cpu

__all__ = ["BLOCK", "EagerKL", "compiled_sums", "kl_last_axis", "kl_probs_rows"]

#: Elements per block of the blocked eager forward on CPU (1 MB of float32):
#: 256K measured fastest on a 2-core AVX-512 machine (32K: 2.3x slower).
BLOCK = 1 << 18


def kl_last_axis(p: Any, q: Any, rows: Any) -> Any:
    """The eager CPU kernel; ``EagerKL`` when a gradient is wanted.  ``rows(p, q)``: the
    generic code, for the rows the kernel cannot be trusted with."""
    if torch.is_grad_enabled() and (p.requires_grad or q.requires_grad):
        return EagerKL.apply(p, q, rows)
    return _eager_sum(p, q, rows)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.save_for_backward(*inputs)
    ctx.save_for_forward(*inputs)


def _safe(p: Any, q: Any) -> tuple[Any, Any, Any]:
    """``p == 0`` and ``p``, ``q`` with 1 there: no ``0 * inf`` in any derivative."""
    zero = p == 0
    return zero, torch.where(zero, 1.0, p), torch.where(zero, 1.0, q)


def _log_ratio(p: Any, q: Any) -> Any:
    """``log(p / q)``; ``log p - log q`` where the ratio leaves the normal range.

    A subnormal ``p / q`` (``p = 1e-300, q = 1e15``) keeps fewer digits, and one
    that underflows to 0 would give ``-inf``: there the difference of the logs is
    exact.
    """
    r = p / q
    normal = (r >= torch.finfo(r.dtype).tiny) & (r < float("inf"))
    return torch.where(normal, torch.log(r), torch.log(p) - torch.log(q))


def _jvp(ctx: Any, dp: Any, dq: Any) -> Any:
    """Forward mode (``torch.func.jvp``, ``hessian``): the exact directional derivative."""
    p, q = ctx.saved_tensors
    zero, p_s, q_s = _safe(p, q)
    d = 0.0
    if dp is not None:
        d = d + dp * (_log_ratio(p_s, q_s) + 1)
    if dq is not None:
        d = d - dq * (p_s / q_s)
    return torch.where(zero, 0.0, d).sum(-1)


def _backward(ctx: Any, g: Any) -> tuple[Any, Any]:
    """Exact: d/dp = log(p/q) + 1, d/dq = -p/q (-inf where q = 0 < p); 0 where p = 0.

    ``p`` and ``q`` are replaced by 1 where ``p == 0`` before the division, so
    that differentiating this backward again (a Hessian-vector product) sends
    no ``0 * inf`` into the discarded branch.
    """
    p, q = ctx.saved_tensors
    zero, p_s, q_s = _safe(p, q)
    g = g.unsqueeze(-1)
    gp = gq = None
    if ctx.needs_input_grad[0]:
        gp = torch.where(zero, 0.0, _log_ratio(p_s, q_s) + 1) * g
    if ctx.needs_input_grad[1]:
        gq = torch.where(zero, 0.0, -p_s / q_s) * g
    return gp, gq


def _eager_sum(p: Any, q: Any, exact: Any) -> Any:
    """Sum over the last axis of ``p log(p / q)``; ``p``, ``q`` same shape and float dtype.

    ``exact(p_rows, q_rows)`` is the generic code, for the rows the CPU kernel
    cannot be trusted with.
    """
    if p.numel() <= SMALL:
        return _small(p, q, exact)
    n = p.shape[-1]
    if n == 0 or p.numel() == 0:
        return p.sum(-1)
    rows = p.numel() // n
    return _cpu_blocks(p.reshape(rows, n), q.reshape(rows, n), exact).reshape(p.shape[:-1])


def _small(p: Any, q: Any, exact: Any) -> Any:
    """Up to ``SMALL`` elements on CPU, where per-call overhead rules: ``xlogy(p, p) -
    xlogy(p, q)``, three kernels, with ``rel_entr``'s conventions built in (0 where
    ``p == 0``, ``+inf`` where ``q`` is 0 or ``-0.0`` under ``p > 0``, NaN for negative
    values) and no ratio to over- or underflow.  Its weaknesses go to ``exact``:
    ``xlogy(0, nan)`` is NaN (a row sum that is NaN: the generic code's term is 0 where
    ``p == 0``), subnormal results (each product rounded to the subnormal grid) and, in
    float64, cancellation between the two logs for nearly equal distributions (a sum
    not above ``1e12 eps`` times the terms' magnitudes)."""
    a, b = torch.xlogy(p, p), torch.xlogy(p, q)
    sums = (a - b).sum(-1)
    if not sums.numel():
        return sums
    size = sums.abs()
    tiny = torch.finfo(p.dtype).tiny
    bad = None
    if not float(size.amin()) >= tiny:  # (amin is NaN if a sum is)
        # A NaN, or a subnormal sum (rounded twice); 0 and inf are exact.
        bad = ~(size >= tiny) & (size != 0)
    if p.dtype == torch.float64:
        near = size < 2.0**-52 * 1e12 * (a.abs() + b.abs()).sum(-1)
        bad = near if bad is None else bad | near
    if bad is not None and bool(bad.any()):
        sums[bad] = exact(p[bad], q[bad])
    return sums


def _cpu_blocks(p: Any, q: Any, exact: Any) -> Any:
    """``[rows, n]`` on CPU: blocks of at most ``BLOCK`` elements in one reused buffer.

    Per block ``p / q``, ``log``, a ``min``, ``* p`` in place and a row sum: five
    passes, the block staying in cache.  Where the log ratios reach below
    ``log(tiny)`` (zeros in ``p``, whose log ratios are ``-inf`` or NaN, a NaN, or a
    ratio below the normal range) the ``p == 0`` log ratios are set to 0 (``0 log(0/q)
    = 0``, ``q = 0`` included) and the rows with one still below are marked.  Then
    the rows this form cannot be trusted with (NumPy's rule:
    ``kl_backends.backends.numpy``'s ``_untrusted``, with ``EXACT_BELOW``: non-finite sums, a negative
    ``q``, a ratio ``p / q`` below the normal range under ``p > 0``, float64 sums
    small against ``sum p``) are recomputed by ``exact``.  CPU values are read here:
    no device synchronisation.
    """
    rows, n = p.shape
    float64 = p.dtype == torch.float64
    low = math.log(torch.finfo(p.dtype).tiny)
    out = torch.zeros(rows, dtype=p.dtype)
    suspect = torch.zeros(rows, dtype=torch.bool)
    sum_p = torch.zeros(rows, dtype=p.dtype) if float64 else None
    width = min(n, BLOCK)
    height = max(1, BLOCK // width)
    buf = torch.empty(min(height, rows) * width, dtype=p.dtype)
    for r0 in range(0, rows, height):
        r1 = min(r0 + height, rows)
        for c0 in range(0, n, width):
            pb, qb = p[r0:r1, c0 : c0 + width], q[r0:r1, c0 : c0 + width]
            t = buf[: pb.numel()].view(pb.shape)
            torch.div(pb, qb, out=t)
            t.log_()
            if not bool(t.amin() >= low):  # NaN propagates: taken then too
                t.masked_fill_(pb == 0, 0.0)
                suspect[r0:r1] |= (t < low).any(1)
            out[r0:r1] += t.mul_(pb).sum(1)
            if not bool(qb.amin() >= 0):  # rare (a NaN too, which could hide a negative q)
                suspect[r0:r1] |= (qb < 0).any(1)
            if sum_p is not None:
                sum_p[r0:r1] += pb.sum(1)
    bad = suspect | ~out.isfinite()
    if sum_p is not None:
        bad |= out.abs() < EXACT_BELOW * sum_p
    if bool(bad.any()):
        out[bad] = exact(p[bad], q[bad])
    return out


class EagerKL(torch.autograd.Function):
    """``_eager_sum`` forward, exact backward (used when a gradient is wanted)."""

    @staticmethod
    def forward(p: Any, q: Any, exact: Any) -> Any:
        return _eager_sum(p, q, exact)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _setup_context(ctx, inputs[:2], output)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, Any, None]:
        return (*_backward(ctx, g), None)

    @staticmethod
    def jvp(ctx: Any, dp: Any, dq: Any, _: Any) -> Any:
        return _jvp(ctx, dp, dq)


@torch.compiler.assume_constant_result
def _kernel_built() -> bool:
    """Whether the C kernel is there (built on the first call; a constant to the compiler)."""
    return _probs_cpu.library() is not None


def compiled_sums(p: Any, q: Any) -> Any:
    """Under ``torch.compile``: the sums over the last axis from ``kl_probs_rows`` (CPU,
    float32 or float64, ``p`` and ``q`` of one shape and dtype), or ``None`` (no C compiler:
    the generic code)."""
    if p.dtype not in (torch.float32, torch.float64) or not _kernel_built():
        return None
    return kl_probs_rows(p, q)


@torch.library.custom_op("kl_backends::kl_probs_rows", mutates_args=(), device_types="cpu")
def kl_probs_rows(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``sum(p log(p / q), -1)`` of two CPU tensors of one float32/float64 dtype and shape,
    by the C kernel of ``backends._probs_cpu`` (exact on every input; its conventions are
    the generic code's).  Other inputs raise ``ValueError``."""
    if p.shape != q.shape or p.dtype != q.dtype or p.dtype not in (torch.float32, torch.float64):
        raise ValueError(
            "kl_probs_rows takes two tensors of one shape and dtype, float32 or float64; got "
            f"{tuple(p.shape)} {p.dtype} and {tuple(q.shape)} {q.dtype}"
        )
    n = p.shape[-1]
    if n == 0 or p.numel() == 0:
        return p.new_zeros(p.shape[:-1])
    a, b = p.reshape(-1, n), q.reshape(-1, n)
    if a.stride(-1) != 1:
        a = a.contiguous()
    if b.stride(-1) != 1:
        b = b.contiguous()
    out = torch.empty(a.shape[0], dtype=torch.float64)
    _probs_cpu.sums(
        _probs_cpu.library(),
        (a.shape[0], n),
        (a.data_ptr(), a.stride(0)),
        (b.data_ptr(), b.stride(0)),
        p.dtype == torch.float64,
        out.data_ptr(),
        torch.get_num_threads(),
    )
    return out.to(p.dtype).reshape(p.shape[:-1])


@kl_probs_rows.register_fake
def _(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return p.new_empty(p.shape[:-1])


def _op_setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.save_for_backward(*inputs)


kl_probs_rows.register_autograd(_backward, setup_context=_op_setup)
