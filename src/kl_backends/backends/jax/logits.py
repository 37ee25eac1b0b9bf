"""JAX's kernel for rows of logits (``Backend.logits_rows``), with a ``custom_jvp``.

JAX is imported inside the functions (only once its arrays have arrived).  The
generic block functions come from the math (``generic``).
"""

from __future__ import annotations

import functools
from typing import Any

from kl_backends._lib.arrays import prepare_block
from kl_backends.backends import _logits_cpu as _cpu
from kl_backends.backends.jax import ffi

__all__ = ["FFI_SOURCE", "KERNEL_CHUNK", "logits_rows"]

#: Elements per chunk of the compiled kernel's row sums (tests make it small).
KERNEL_CHUNK = _cpu.CHUNK
_TARGET = "kl_backends_logits_rows"

#: The XLA FFI handler around the C kernel of ``backends._logits_cpu`` (built with the C++
#: compiler against ``jax.ffi.include_dir()``): values ``[...]`` float32 and the
#: unscaled gradients wanted (a ``(0,)`` buffer for the other) of ``[..., V]`` rows.
FFI_SOURCE = r"""
#include <cstdint>
#include "xla/ffi/api/ffi.h"
namespace ffi = xla::ffi;
extern "C" int kl_rows(int64_t n, int64_t v, const void *a, int64_t sa, const void *b,
                       int64_t sb, int dtype, const uint8_t *mask, double temperature, int kind,
                       void *ga, int64_t sga, void *gb, int64_t sgb, float *vals, int threads,
                       int64_t chunk);

static ffi::Error KlRowsImpl(ffi::AnyBuffer a, ffi::AnyBuffer b,
                             ffi::Result<ffi::Buffer<ffi::F32>> vals,
                             ffi::Result<ffi::AnyBuffer> ga, ffi::Result<ffi::AnyBuffer> gb,
                             int64_t kind, double temperature, int64_t want_a, int64_t want_b,
                             int64_t threads, int64_t chunk) {
  auto dims = a.dimensions();
  int64_t v = dims.size() == 0 ? 1 : dims.back();
  int64_t n = v > 0 ? (int64_t)a.element_count() / v : 0;
  if (n == 0 || v == 0) return ffi::Error::Success();
  int bf16 = a.element_type() == ffi::DataType::BF16;
  kl_rows(n, v, a.untyped_data(), v, b.untyped_data(), v, bf16, nullptr, temperature, (int)kind,
          want_a ? ga->untyped_data() : nullptr, v, want_b ? gb->untyped_data() : nullptr, v,
          vals->typed_data(), (int)threads, chunk);
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(KlRowsFfi, KlRowsImpl,
    ffi::Ffi::Bind()
        .Arg<ffi::AnyBuffer>()
        .Arg<ffi::AnyBuffer>()
        .Ret<ffi::Buffer<ffi::F32>>()
        .Ret<ffi::AnyBuffer>()
        .Ret<ffi::AnyBuffer>()
        .Attr<int64_t>("kind")
        .Attr<double>("temperature")
        .Attr<int64_t>("want_a")
        .Attr<int64_t>("want_b")
        .Attr<int64_t>("threads")
        .Attr<int64_t>("chunk"));
"""


def _kernel_ready() -> bool:
    """The FFI target is built and registered (once); ``False`` where it cannot be."""
    return ffi.ready(
        _TARGET, lambda include: _cpu.library("jaxffi", FFI_SOURCE, include), "KlRowsFfi"
    )


def _kernel_admits(spec: Any, a: Any, b: Any) -> bool:
    import jax
    import jax.numpy as jnp

    return (
        spec.kind in ("kl", "ce")
        and a.dtype == b.dtype
        and a.dtype in (jnp.float32, jnp.bfloat16)
        and a.shape == b.shape
        and a.ndim >= 1
        and a.size > 0
        and jax.default_backend() == "cpu"
        # One CPU device: XLA cannot partition the custom call, so rows sharded over
        # several devices keep the generic code (which it partitions, gathering nothing).
        and jax.device_count() == 1
        and _kernel_ready()
    )


def _kernel(spec: Any, want: tuple[bool, bool], a: Any, b: Any) -> tuple[Any, Any, Any]:
    """The C kernel through XLA's FFI: values (float32) and unscaled gradients."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    shapes = (
        jax.ShapeDtypeStruct(a.shape[:-1], jnp.float32),
        jax.ShapeDtypeStruct(a.shape if want[0] else (0,), a.dtype),
        jax.ShapeDtypeStruct(b.shape if want[1] else (0,), b.dtype),
    )
    call = jax.ffi.ffi_call(_TARGET, shapes, vmap_method="broadcast_all")
    return call(  # type: ignore[no-any-return]
        a,
        b,
        kind=np.int64(0 if spec.kind == "kl" else 1),
        temperature=np.float64(0.0 if spec.temperature is None else spec.temperature),
        want_a=np.int64(want[0]),
        want_b=np.int64(want[1]),
        threads=np.int64(_cpu.threads()),
        chunk=np.int64(KERNEL_CHUNK),
    )


#
# KL and cross-entropy of float32/bfloat16 rows on CPU: the C kernel of
# ``backends._logits_cpu`` through XLA's FFI (``_fused_fn``): one call gives the values and
# the unscaled gradients of the inputs whose tangent is not a symbolic zero (under
# ``grad`` wrt the student, the student's only), kept as the residual of the
# linear tangent; rows left NaN are redone by the generic code inside a
# ``lax.cond``.  Its own jvp is the generic code's, so higher orders hold.
# Elsewhere:
#
# A ``jax.custom_jvp`` around the generic block functions that the math hands
# down (``generic``: ``kl_backends._math.logits``).  The whole ``[N, V]`` array is one block (XLA
# fuses the elementwise work into the row reductions).  The rule gives the
# tangent ``sum(ga * da) + sum(gb * db)`` per row from the closed-form
# gradients of ``backward_block`` (for KL wrt the second argument
# ``(softmax(b/T) - softmax(a/T)) / T``), inside ``jax.checkpoint``: reverse
# mode keeps the inputs, the per-row values and the row log-sum-exps, and
# recomputes the gradients in the backward pass (no ``[N, V]`` intermediate of
# the forward is kept; XLA drops the gradient nobody uses).  Every transform
# works: ``grad``, ``jvp``/``jacfwd``, ``vmap``, and higher orders
# (``jax.hessian``), the rule being plain ``jax.numpy`` that JAX differentiates
# again.  float16/bfloat16 are computed in float32 and the gradients returned
# in the inputs' dtype.  Eager calls go through one cached ``jax.jit``.


def _zero(t: Any) -> Any:
    """A materialised tangent (``SymbolicZero`` as zeros)."""
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    return jnp.zeros(t.shape, t.dtype) if isinstance(t, SymbolicZero) else t


def _fused_fn(generic: Any, prep: Any) -> Any:
    """Values and unscaled gradients ``(vals, ga, gb)`` by the kernel, rows it leaves NaN by
    the generic code (a ``lax.cond``: run only when such a row exists), differentiable
    again through the generic code's jvp (second derivatives)."""
    import jax
    import jax.numpy as jnp

    def by_generic(be: Any, spec: Any, want: Any, a: Any, b: Any) -> Any:
        kind, work = spec.kind, spec.work
        ab, bb = prep(a, spec), prep(b, spec)
        vals, la, lb = generic.forward_block(be, kind, None, ab, bb, with_lse=True)
        g = jnp.ones(vals.shape, work)
        ga, gb = generic.backward_block(be, kind, None, ab, bb, vals, g, want, (la, lb))
        return (
            vals.astype(jnp.float32),
            ga.astype(a.dtype) if want[0] else jnp.zeros((0,), a.dtype),
            gb.astype(b.dtype) if want[1] else jnp.zeros((0,), b.dtype),
        )

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
    def fused(be: Any, spec: Any, want: Any, a: Any, b: Any) -> Any:
        out = _kernel(spec, want, a, b)
        bad = jnp.isnan(out[0])

        def fix(out: Any) -> Any:
            redo = by_generic(be, spec, want, a, b)
            return tuple(
                jnp.where(bad if k == 0 else bad[..., None], r, o) if want_k else o
                for k, (r, o, want_k) in enumerate(zip(redo, out, (True, *want)))
            )

        return jax.lax.cond(jnp.any(bad), fix, lambda out: out, out)

    @fused.defjvp
    def fused_jvp(be: Any, spec: Any, want: Any, primals: Any, tangents: Any) -> Any:
        return jax.jvp(functools.partial(by_generic, be, spec, want), primals, tangents)

    return fused


@functools.cache
def _logits_rows_fn(generic: Any) -> Any:
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    def prep(x: Any, spec: Any) -> Any:
        return prepare_block(jnp, x, spec.work, None, spec.temperature)

    fused = _fused_fn(generic, prep)

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
    def rows(be: Any, spec: Any, a: Any, b: Any) -> Any:
        if _kernel_admits(spec, a, b):
            return fused(be, spec, (False, False), a, b)[0].astype(spec.work)
        return generic.forward_block(be, spec.kind, spec.beta, prep(a, spec), prep(b, spec))

    def rows_jvp(be: Any, spec: Any, primals: Any, tangents: Any) -> Any:
        a, b = primals
        kind, beta, work = spec.kind, spec.beta, spec.work
        if _kernel_admits(spec, a, b):
            want = tuple(not isinstance(t, SymbolicZero) for t in tangents)
            vals, ga, gb = fused(be, spec, want, a, b)
            out = jnp.zeros(vals.shape, work)
            for wanted, gx, dx in zip(want, (ga, gb), tangents):
                if wanted:
                    out = out + jnp.sum(gx.astype(work) * dx.astype(work), axis=-1)
            if spec.temperature is not None:
                out = out / spec.temperature
            return vals.astype(work), out
        da, db = (_zero(t) for t in tangents)
        vals, lse_a, lse_b = generic.forward_block(
            be, kind, beta, prep(a, spec), prep(b, spec), with_lse=True
        )

        def tangent(a: Any, b: Any, vals: Any, lse_a: Any, lse_b: Any, da: Any, db: Any):
            # Its residuals are its inputs (checkpoint): the gradients are recomputed.
            g = jnp.ones(vals.shape, work)
            if spec.temperature is not None:
                g = g / spec.temperature
            ga, gb = generic.backward_block(
                be, kind, beta, prep(a, spec), prep(b, spec), vals, g, (True, True), (lse_a, lse_b)
            )
            return jnp.sum(ga * da.astype(work), axis=-1) + jnp.sum(gb * db.astype(work), axis=-1)

        return vals, jax.checkpoint(tangent)(a, b, vals, lse_a, lse_b, da, db)

    rows.defjvp(rows_jvp, symbolic_zeros=True)

    def masked(be: Any, spec: Any, a: Any, b: Any, mask: Any) -> Any:
        if mask is None:
            return rows(be, spec, a, b)
        a, b = prepare_block(jnp, a, mask=mask), prepare_block(jnp, b, mask=mask)
        vals = rows(be, spec, a, b)
        return jnp.where(mask, vals, jnp.zeros((), vals.dtype))

    return masked


@functools.lru_cache(maxsize=128)
def _logits_rows_jitted(be: Any, spec: Any, generic: Any) -> Any:
    import jax

    return jax.jit(functools.partial(_logits_rows_fn(generic), be, spec))


def logits_rows(be: Any, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
    """Per-row values of ``spec`` between ``[N, V]`` logits: traced, or one cached ``jax.jit``."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    if isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer):
        return _logits_rows_fn(generic)(be, spec, a, b, mask)
    spec = dataclasses.replace(spec, work=jnp.dtype(spec.work))  # one cache key per dtype
    return _logits_rows_jitted(be, spec, generic)(a, b, mask)
