"""Triton kernels for the probabilities KL: ``sum p log(p / q)`` over the last axis of
float32 CUDA tensors, and its gradients (``TritonKL``, an ``autograd.Function``).

One program per row sweeps the row in tiles of ``BLOCK`` elements:

* forward, one sweep: ``p`` and ``q`` read once, each element's two parts
  (``_common.kl_parts`` of the generic code: the nearly-equal series where
  ``|p - q| < 0.02 (p + q)``, ``p (log p - log q)`` elsewhere, ``rel_entr``'s
  conventions: 0 where ``p == 0`` whatever ``q`` is, ``+inf`` for ``p > 0 = q``,
  NaN stays NaN, a negative ``p``, or a negative ``q`` under ``p > 0``, gives NaN)
  summed separately in float32 and added at the end; one float per row
  written.  No row is handed back to a second pass: the kernel *is* the exact
  algorithm;
* backward, one sweep: ``p``, ``q`` and the row cotangent read, ``d/dp = g (log(p / q)
  + 1)`` and ``d/dq = -g p / q`` (0 where ``p == 0``) written, only for the
  inputs that need one.  (Nothing is computed in the forward for it: the
  gradient is elementwise, so the backward reads what a stored gradient would
  have cost to read, and holds no ``[N, V]`` tensor between the two.)

Logarithms are ``tl.log``, divisions ``div_rn`` (IEEE rounding).  Second
derivatives (``create_graph=True``) and forward mode are the PyTorch code of
``kernels`` (its ``_backward`` and ``_jvp``), which autograd differentiates.
"""

from __future__ import annotations

from typing import Any

import torch

from kl_backends.backends.torch import kernels as _kernels

try:
    import triton
    import triton.language as tl
except ImportError:  # importable without Triton; nothing here runs then
    from kl_backends.backends.torch.triton import _stub as triton  # type: ignore[no-redef]

    tl = triton

__all__ = ["MAX_BLOCK", "TritonKL", "kl_last_axis"]

#: The widest tile of a row (elements); a narrower row takes its next power of two.
MAX_BLOCK = 2048

_NEAR = tl.constexpr(0.02)  # _common.NEAR
_SMALL = tl.constexpr(2.0**-60)  # _common._SCALE[32]
_BIG = tl.constexpr(2.0**90)


@triton.jit
def _parts(p, q):
    """``(a, b)``, ``a + b = p log(p / q)``: ``_common._parts`` elementwise (float32)."""
    zero = p == 0
    p1 = tl.where(zero, 1.0, p)
    q1 = tl.where(zero, 1.0, q)
    d = p1 - q1
    s = p1 + q1
    near = (tl.abs(d) < _NEAR * s) & (s < float("inf"))
    b = tl.where(near, d, 0.0)
    s_n = tl.where(near, s, 1.0)
    c = tl.where(s_n < _SMALL, _BIG, 1.0)
    v = tl.math.div_rn(b * c, s_n * c)
    x = v * v
    series = 1.0 / 3.0 + x * (1.0 / 5.0 + x * (1.0 / 7.0 + x * (1.0 / 9.0)))
    general = b * v * (1.0 + v * (1.0 + v) * series)
    far = p1 * (tl.log(p1) - tl.log(q1))
    return tl.where(near, general, far), b


@triton.jit
def _forward(p_ptr, q_ptr, out_ptr, n, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    acc_a = tl.zeros([BLOCK], dtype=tl.float32)
    acc_b = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        inside = cols < n
        p = tl.load(p_ptr + row * n + cols, mask=inside, other=0.0)
        q = tl.load(q_ptr + row * n + cols, mask=inside, other=0.0)
        a, b = _parts(p, q)
        acc_a += a
        acc_b += b
    tl.store(out_ptr + row, tl.sum(acc_a, 0) + tl.sum(acc_b, 0))


@triton.jit
def _log_ratio(p, q):
    """``kernels._log_ratio``: ``log(p / q)``, ``log p - log q`` outside the normal range."""
    r = tl.math.div_rn(p, q)
    normal = (r >= 1.1754943508222875e-38) & (r < float("inf"))
    return tl.where(normal, tl.log(r), tl.log(p) - tl.log(q))


@triton.jit
def _backward(
    p_ptr, q_ptr, g_ptr, gp_ptr, gq_ptr, n,
    BLOCK: tl.constexpr, GRAD_P: tl.constexpr, GRAD_Q: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    g = tl.load(g_ptr + row)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        inside = cols < n
        p = tl.load(p_ptr + row * n + cols, mask=inside, other=0.0)
        q = tl.load(q_ptr + row * n + cols, mask=inside, other=1.0)
        zero = p == 0
        p_s = tl.where(zero, 1.0, p)
        q_s = tl.where(zero, 1.0, q)
        if GRAD_P:
            gp = tl.where(zero, 0.0, _log_ratio(p_s, q_s) + 1.0) * g
            tl.store(gp_ptr + row * n + cols, gp, mask=inside)
        if GRAD_Q:
            gq = tl.where(zero, 0.0, -tl.math.div_rn(p_s, q_s)) * g
            tl.store(gq_ptr + row * n + cols, gq, mask=inside)


def _block(n: int) -> int:
    return max(16, min(MAX_BLOCK, triton.next_power_of_2(max(n, 1))))


def _rows(x: Any) -> Any:
    n = x.shape[-1]
    return x.reshape(-1, n).contiguous()


def _values(p: Any, q: Any) -> Any:
    n = p.shape[-1]
    p2, q2 = _rows(p), _rows(q)
    out = torch.empty(p2.shape[0], dtype=p.dtype, device=p.device)
    if p2.shape[0] and n:
        _forward[(p2.shape[0],)](p2, q2, out, n, BLOCK=_block(n), num_warps=8)
    elif p2.shape[0]:
        out.zero_()
    return out.reshape(p.shape[:-1])


class TritonKL(torch.autograd.Function):
    """The Triton forward and backward; the PyTorch ones of ``kernels`` for higher orders."""

    @staticmethod
    def forward(p: Any, q: Any) -> Any:
        return _values(p, q)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _kernels._setup_context(ctx, inputs, output)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, Any]:
        if torch.is_grad_enabled():  # create_graph=True: a gradient with a graph
            return _kernels._backward(ctx, g)
        p, q = ctx.saved_tensors
        need_p, need_q = bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1])
        n = p.shape[-1]
        p2, q2 = _rows(p), _rows(q)
        g2 = g.reshape(-1).to(p.dtype).contiguous()
        gp = torch.empty_like(p2) if need_p else None
        gq = torch.empty_like(q2) if need_q else None
        if p2.numel():
            _backward[(p2.shape[0],)](
                p2, q2, g2, p2 if gp is None else gp, q2 if gq is None else gq, n,
                BLOCK=_block(n), GRAD_P=need_p, GRAD_Q=need_q, num_warps=8,
            )  # fmt: skip
        return (
            None if gp is None else gp.reshape(p.shape),
            None if gq is None else gq.reshape(q.shape),
        )

    @staticmethod
    def jvp(ctx: Any, dp: Any, dq: Any) -> Any:
        return _kernels._jvp(ctx, dp, dq)


def kl_last_axis(p: Any, q: Any) -> Any:
    """Sums over the last axis of ``p log(p / q)``: float32 tensors of one shape, on the
    device Triton runs on; through ``TritonKL`` when a gradient is wanted."""
    if torch.is_grad_enabled() and (p.requires_grad or q.requires_grad):
        return TritonKL.apply(p, q)
    return _values(p, q)
