"""Triton kernels for rows of logits: KL, generalised JSD and cross-entropy between
``[N, V]`` logits, with their gradients (``TritonLogitsRows``, an ``autograd.Function``).

One program per row, the row swept in tiles of ``BLOCK`` elements (float32,
float16 or bfloat16 loaded and upcast to float32 in registers; rows where
``where`` is False read as zeros, so their value and gradient are exactly 0;
``/ T`` applied to each tile as it is loaded).  The passes over a row:

1. an online log-sum-exp of both rows (running maximum and rescaled sum of
   ``exp``, as flash attention): ``a`` and ``b`` read once;
2. the values: per element the generic block code's terms
   (``logits_blocks.forward_block``: ``-inf`` logits, impossible events,
   ``+inf`` for ``p > 0 = q``, NaN for rows of ``-inf`` or with NaN or ``+inf``)
   summed in float32, one float per row written.  For KL and cross-entropy the
   gradient with respect to ``b``, ``q - p``, needs no row value: when it is
   wanted it is written in this sweep;
3. only for the gradient with respect to ``a`` (KL, cross-entropy) or any
   gradient of the JSD, which need the row's value or sums (``sum p w``, ``sum
   q u``) from sweep 2: ``a`` and ``b`` read a third time, the gradients written.

So a distillation step (gradient for the student ``b`` only) reads each input
twice and writes its gradient once, in the forward (as Liger-Kernel does);
nothing is ``[N, V]`` float32 (the gradient has the inputs' dtype) and nothing
reads a value on the host.  The backward scales the stored gradient by the
row cotangent and ``1 / T`` (a float32 multiply in one more Triton sweep).
A second backward (``retain_graph=True``) runs the kernel again; ``create_graph=True`` and forward mode are those of ``..logits``
(autograd through the generic code), so higher derivatives are the generic
code's.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from kl_backends.backends.torch import logits as _torch_logits

try:
    import triton
    import triton.language as tl
except ImportError:  # importable without Triton; nothing here runs then
    from kl_backends.backends.torch.triton import _stub as triton  # type: ignore[no-redef]

    tl = triton

__all__ = ["MAX_BLOCK", "TritonLogitsRows", "logits_rows"]

#: The widest tile of a row (elements); a narrower row takes its next power of two.
MAX_BLOCK = 4096
_KINDS = {"kl": 0, "ce": 1, "js": 2}
_INF = tl.constexpr(float("inf"))
_NEG_INF = tl.constexpr(-float("inf"))


@triton.jit
def _load(ptr, row, n, cols, keep, T, HAS_T: tl.constexpr, HAS_MASK: tl.constexpr):
    """A tile of a row in float32: ``-inf`` past the end, 0 where the row is masked."""
    x = tl.load(ptr + row * n + cols, mask=cols < n, other=_NEG_INF).to(tl.float32)
    if HAS_MASK:
        x = tl.where(keep | (cols >= n), x, 0.0)
    if HAS_T:
        x = tl.math.div_rn(x, T)
    return x


@triton.jit
def _online(m, s, x):
    """The running maximum and sum of ``exp(x - m)`` with one more tile."""
    m_new = tl.maximum(m, tl.max(x, 0))
    shift = tl.where(m_new == _NEG_INF, 0.0, m_new)
    s = s * tl.exp(m - shift) + tl.sum(tl.exp(x - shift), 0)
    return m_new, s


@triton.jit
def _log1p(y):
    u = 1.0 + y
    return tl.where(u == 1.0, y, tl.log(u) * (y / (u - 1.0)))


@triton.jit
def _logaddexp(x, y):
    big = tl.where(x > y, x, y)
    return big + _log1p(tl.exp(-tl.abs(x - y)))


@triton.jit
def _weighted(lx, v):
    imp = lx == _NEG_INF
    return tl.where(imp, 0.0, tl.exp(lx) * tl.where(imp, 0.0, v))


@triton.jit
def _js_wu(lp, lq, lb, l1b):
    """``logits_blocks._js_logs``: ``w = log m - lp``, ``u = log m - lq``."""
    p_imp = lp == _NEG_INF
    q_imp = lq == _NEG_INF
    d = tl.where(p_imp | q_imp, 0.0, tl.where(p_imp, 0.0, lp) - tl.where(q_imp, 0.0, lq))
    w = _logaddexp(lb, l1b - d)
    u = _logaddexp(l1b, lb + d)
    return tl.where(q_imp, lb, w), tl.where(p_imp, l1b, u)


@triton.jit
def _terms(lp, lq, lb, l1b, beta, factor, KIND: tl.constexpr):
    """Per element: the value's terms, and for the JSD ``p w`` and ``q u``."""
    imp = lp == _NEG_INF
    if KIND == 0:  # common.log_probs_terms
        lp0 = tl.where(imp, 0.0, lp)
        lq0 = tl.where(imp, 0.0, lq)
        t = tl.where(lq0 == _NEG_INF, _INF, tl.exp(lp0) * (lp0 - lq0))
        t = tl.where(imp, 0.0, t)
        ww = t
        wu = t
    elif KIND == 1:
        t = _weighted(lp, tl.where(lq == _NEG_INF, _INF, -lq))
        ww = t
        wu = t
    else:
        w, u = _js_wu(lp, lq, lb, l1b)
        ww = _weighted(lp, w)
        wu = _weighted(lq, u)
        t = -(ww / (1.0 - beta) + wu / beta) * factor
    return t, ww, wu


@triton.jit
def _rows_kernel(
    a_ptr, b_ptr, keep_ptr, out_ptr, ga_ptr, gb_ptr, n, T, lb, l1b, beta, factor,
    KIND: tl.constexpr, GRAD_A: tl.constexpr, GRAD_B: tl.constexpr,
    HAS_MASK: tl.constexpr, HAS_T: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    keep = tl.load(keep_ptr + row) != 0  # (a dummy pointer and unused without a mask)
    # Sweep 1: both log-sum-exps, online.
    ma = tl.full([], _NEG_INF, tl.float32)
    mb = tl.full([], _NEG_INF, tl.float32)
    sa = tl.zeros([], tl.float32)
    sb = tl.zeros([], tl.float32)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        ma, sa = _online(ma, sa, _load(a_ptr, row, n, cols, keep, T, HAS_T, HAS_MASK))
        mb, sb = _online(mb, sb, _load(b_ptr, row, n, cols, keep, T, HAS_T, HAS_MASK))
    lse_a = ma + tl.log(sa)
    lse_b = mb + tl.log(sb)
    # Sweep 2: the values (and the gradient wrt b of KL and cross-entropy).
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    acc_w = tl.zeros([BLOCK], dtype=tl.float32)
    acc_u = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        inside = cols < n
        lp = _load(a_ptr, row, n, cols, keep, T, HAS_T, HAS_MASK) - lse_a
        lq = _load(b_ptr, row, n, cols, keep, T, HAS_T, HAS_MASK) - lse_b
        t, ww, wu = _terms(lp, lq, lb, l1b, beta, factor, KIND)
        acc += tl.where(inside, t, 0.0)
        if KIND == 2:
            acc_w += tl.where(inside, ww, 0.0)
            acc_u += tl.where(inside, wu, 0.0)
        elif GRAD_B:
            tl.store(gb_ptr + row * n + cols, tl.exp(lq) - tl.exp(lp), mask=inside)
    value = tl.sum(acc, 0)
    if HAS_MASK:
        value = tl.where(keep, value, 0.0)
    tl.store(out_ptr + row, value)
    if GRAD_A or (KIND == 2 and GRAD_B):
        sw = tl.sum(acc_w, 0)
        su = tl.sum(acc_u, 0)
        # Sweep 3: the gradients that need the row's value or sums.
        for start in range(0, n, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            inside = cols < n
            lp = _load(a_ptr, row, n, cols, keep, T, HAS_T, HAS_MASK) - lse_a
            lq = _load(b_ptr, row, n, cols, keep, T, HAS_T, HAS_MASK) - lse_b
            p = tl.exp(lp)
            imp = lp == _NEG_INF
            if KIND == 2:
                w, u = _js_wu(lp, lq, lb, l1b)
                if GRAD_A:
                    ga = -(_weighted(lp, w) - p * sw) * (factor / (1.0 - beta))
                    tl.store(ga_ptr + row * n + cols, ga, mask=inside)
                if GRAD_B:
                    gb = -(_weighted(lq, u) - tl.exp(lq) * su) * (factor / beta)
                    tl.store(gb_ptr + row * n + cols, gb, mask=inside)
            else:
                if KIND == 0:
                    inner = tl.where(imp, 0.0, lp - lq) - value
                else:
                    inner = tl.where(imp, 0.0, -(lq + value))
                ga = tl.where(imp, 0.0, p * inner)
                # A row whose value is +inf: NaN, as autodiff of the generic code gives.
                ga = tl.where(value == float("inf"), float("nan"), ga)
                tl.store(ga_ptr + row * n + cols, ga, mask=inside)


@triton.jit
def _scale_kernel(g_ptr, c_ptr, n, BLOCK: tl.constexpr):
    """``g[row] *= c[row]`` in float32 registers, stored in ``g``'s dtype."""
    row = tl.program_id(0).to(tl.int64)
    c = tl.load(c_ptr + row)
    for start in range(0, n, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        inside = cols < n
        g = tl.load(g_ptr + row * n + cols, mask=inside, other=0.0).to(tl.float32)
        tl.store(g_ptr + row * n + cols, g * c, mask=inside)


def _block(n: int) -> int:
    return max(16, min(MAX_BLOCK, triton.next_power_of_2(max(n, 1))))


def _launch(spec: Any, a: Any, b: Any, mask: Any, grad_a: bool, grad_b: bool) -> tuple:
    """Values ``[N]`` (float32) and the unscaled gradients (``None`` where not wanted)."""
    n_rows, n = a.shape
    a, b = a.contiguous(), b.contiguous()
    out = torch.empty(n_rows, dtype=torch.float32, device=a.device)
    ga = torch.empty_like(a) if grad_a else None
    gb = torch.empty_like(b) if grad_b else None
    beta, factor = (0.5, 0.25) if spec.beta is None else (float(spec.beta), 1.0)
    lb = math.log(beta) if 0 < beta < 1 else 0.0
    l1b = math.log1p(-beta) if 0 < beta < 1 else 0.0
    keep = None if mask is None else mask.to(torch.int8).contiguous()
    temperature = 1.0 if spec.temperature is None else float(spec.temperature)
    if n_rows:
        _rows_kernel[(n_rows,)](
            a, b, out if keep is None else keep, out, a if ga is None else ga,
            b if gb is None else gb, n, temperature, lb, l1b, beta, factor,
            KIND=_KINDS[spec.kind], GRAD_A=grad_a, GRAD_B=grad_b, HAS_MASK=keep is not None,
            HAS_T=spec.temperature is not None, BLOCK=_block(n), num_warps=8,
        )  # fmt: skip
    return out, ga, gb


def _scale(grad: Any, c: Any) -> Any:
    n_rows, n = grad.shape
    if grad.numel():
        _scale_kernel[(n_rows,)](grad, c, n, BLOCK=_block(n), num_warps=8)
    return grad


class TritonLogitsRows(torch.autograd.Function):
    """The Triton kernel forward (gradients computed there when wanted); see the top."""

    @staticmethod
    def forward(a: Any, b: Any, mask: Any, options: Any, need: tuple[bool, bool]) -> Any:
        _, spec, _ = options
        vals, ga, gb = _launch(spec, a, b, mask, *need)
        empty = torch.empty((0,), dtype=a.dtype, device=a.device)
        return vals, (empty if ga is None else ga), (empty if gb is None else gb)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        a, b, mask, options, _ = inputs
        vals, ga, gb = output
        ctx.save_for_backward(a, b, mask, vals)
        ctx.save_for_forward(a, b, mask, vals)
        ctx.options = options
        ctx.precomputed = [ga if ga.numel() else None, gb if gb.numel() else None]
        ctx.mark_non_differentiable(ga, gb)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, g: Any, _ga: Any, _gb: Any) -> tuple[Any, ...]:
        a, b, mask, vals = ctx.saved_tensors
        _, spec, _ = ctx.options
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        if g is None:
            g = torch.zeros_like(vals)
        if torch.is_grad_enabled():  # create_graph=True: a gradient that has a graph
            grads = _torch_logits._graph_backward(ctx.options, a, b, mask, g, need)
            return (*grads, None, None, None)
        g = g.to(torch.float32)
        if mask is not None:
            g = torch.where(mask, g, 0.0)
        if spec.temperature is not None:
            g = g / spec.temperature
        pre = ctx.precomputed
        if not all(x is not None for x, wanted in zip(pre, need) if wanted):
            pre = list(_launch(spec, a, b, mask, need[0], need[1])[1:])  # a second backward
        ctx.precomputed = [None, None]
        g = g.contiguous()
        out = [_scale(x, g) if wanted and x is not None else None for x, wanted in zip(pre, need)]
        return out[0], out[1], None, None, None

    @staticmethod
    def jvp(
        ctx: Any, da: Any, db: Any, _mask: Any, _options: Any, _need: Any
    ) -> tuple[Any, None, None]:
        a, b, mask, _ = ctx.saved_tensors
        return _torch_logits._jvp_rows(ctx.options, a, b, mask, da, db), None, None


def logits_rows(spec: Any, a: Any, b: Any, mask: Any, options: Any) -> Any:
    """Per-row values (float32) of ``spec`` between ``[N, V]`` logits on a Triton device."""
    grad = torch.is_grad_enabled()  # (False inside the Function's forward)
    need = (grad and a.requires_grad, grad and b.requires_grad)
    return TritonLogitsRows.apply(a, b, mask, options, need)[0]
