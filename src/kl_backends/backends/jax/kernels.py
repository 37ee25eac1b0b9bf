"""JAX's probabilities kernel with its exact ``custom_jvp``.

On CPU (one device), the C kernel of ``backends/_probs_cpu.py`` through XLA's FFI: one
read of ``p`` and ``q``, exact on every input (its module docstring), under ``jax.jit``,
``vmap`` and eager calls alike.  Elsewhere (GPUs, several devices, no C compiler, mixed
shapes or dtypes), the select-free ``p log(max(p, tiny) / max(q, tiny - p))``, which XLA
fuses into one loop, and the rows it cannot be trusted with (negative ``p`` or ``q``,
``q = -0.0``, ratios beyond the dtype's normal range, nearly equal float64 distributions)
recomputed by the generic code under ``lax.cond`` (one branch runs: nothing is spent
until a row needs it).  A ``jax.custom_jvp`` gives the exact derivatives of both.  JAX
is imported inside the functions (only once its arrays have arrived).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from kl_backends._lib.policy import EXACT_BELOW
from kl_backends.backends import _cbuild, _probs_cpu
from kl_backends.backends.jax import ffi

__all__ = ["FFI_SOURCE", "kl", "kl_jitted"]

_TARGET = "kl_backends_probs_rows"

#: The XLA FFI handler around the C kernel of ``backends._probs_cpu`` (built with the C++
#: compiler against ``jax.ffi.include_dir()``): the sums ``[...]`` of ``[..., n]`` rows of
#: ``p`` and ``q`` (one shape, float32 or float64), in the inputs' dtype (the kernel's
#: double sums rounded once).
FFI_SOURCE = r"""
#include <cstdint>
#include <cstdlib>
#include "xla/ffi/api/ffi.h"
namespace ffi = xla::ffi;
extern "C" int kl_probs_rows_own_threads(int64_t rows, int64_t n, const void *p, int64_t sp,
                                         const void *q, int64_t sq, int f64, double *out,
                                         int threads);

static ffi::Error KlProbsImpl(ffi::AnyBuffer p, ffi::AnyBuffer q,
                              ffi::Result<ffi::AnyBuffer> out, int64_t threads) {
  auto dims = p.dimensions();
  int64_t n = dims.size() == 0 ? 1 : dims.back();
  int64_t rows = n > 0 ? (int64_t)p.element_count() / n : 0;
  if (rows == 0) return ffi::Error::Success();
  if (p.element_type() == ffi::DataType::F64) {
    kl_probs_rows_own_threads(rows, n, p.untyped_data(), n, q.untyped_data(), n, 1,
                              (double *)out->untyped_data(), (int)threads);
    return ffi::Error::Success();
  }
  double *sums = (double *)std::malloc((size_t)rows * sizeof(double));
  if (sums == nullptr) return ffi::Error(ffi::ErrorCode::kResourceExhausted, "out of memory");
  kl_probs_rows_own_threads(rows, n, p.untyped_data(), n, q.untyped_data(), n, 0, sums,
                            (int)threads);
  float *o = (float *)out->untyped_data();
  for (int64_t r = 0; r < rows; r++) o[r] = (float)sums[r];
  std::free(sums);
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(KlProbsFfi, KlProbsImpl,
    ffi::Ffi::Bind()
        .Arg<ffi::AnyBuffer>()
        .Arg<ffi::AnyBuffer>()
        .Ret<ffi::AnyBuffer>()
        .Attr<int64_t>("threads"));
"""


def _kernel_ready() -> bool:
    """The FFI target is built and registered (once); ``False`` where it cannot be."""
    # Without OpenMP (it starts threads of its own): a libgomp loaded here first would be
    # the one PyTorch binds to when it is imported later, instead of its own.
    return ffi.ready(
        _TARGET,
        lambda include: _probs_cpu.library("jaxffi", FFI_SOURCE, include, openmp=False),
        "KlProbsFfi",
    )


def _kernel_admits(p: Any, q: Any) -> bool:
    import jax
    import jax.numpy as jnp

    return (
        p.dtype == q.dtype
        and p.dtype in (jnp.float32, jnp.float64)
        and p.shape == q.shape
        and p.size > 0
        and jax.default_backend() == "cpu"
        # One CPU device: XLA cannot partition the custom call, so arrays sharded over
        # several devices keep the fused code (which it partitions).
        and jax.device_count() == 1
        and _kernel_ready()
    )


def _kernel(p: Any, q: Any) -> Any:
    """The sums by the C kernel (``_kernel_admits``)."""
    import jax
    import numpy as np

    shape = jax.ShapeDtypeStruct(p.shape[:-1], p.dtype)
    call = jax.ffi.ffi_call(_TARGET, shape, vmap_method="broadcast_all")
    return call(p, q, threads=np.int64(_cbuild.threads()))


def _fast_sums(jnp: Any, p: Any, q: Any) -> Any:
    """``sum p log(max(p, tiny) / max(q, tiny - p))``: one fusable loop, no select.

    Where ``p >= tiny`` (the smallest normal number) the ratio is ``p / q``
    (``tiny - p <= 0 <= q``); where ``p == 0`` it is finite, so the term is
    ``0 * finite = 0`` whatever ``q`` is.  XLA:CPU fuses this into one
    vectorised loop; a ``where`` or a comparison in the loop is a separate pass
    (measured 1.5x to 10x slower).  The sums are wrong (and flagged by
    ``_untrusted``) for negative values, ``q = -0.0``, a ratio beyond the
    dtype's normal range and nearly equal float64 distributions.
    """
    tiny = float(jnp.finfo(p.dtype).tiny)
    return jnp.sum(p * jnp.log(jnp.maximum(p, tiny) / jnp.maximum(q, tiny - p)), axis=-1)


def _untrusted(jnp: Any, p: Any, q: Any, sums: Any) -> Any:
    """NumPy's rule (``backends/numpy.py``): non-finite sums, a negative value, a ratio
    below the normal range, float64 sums small against ``sum p``.

    One fused ``min`` per row covers three things: both signs (``max(p, tiny)``
    turns a negative ``p`` into ``tiny``: ``p = -0.5, q = 0`` would give 353.85,
    not NaN; with ``p < 0`` and ``q < 0`` the term is finite), and the kernel's
    ratio below ``tiny`` (``max(p / tiny, 1) < q``, scaled by a power of two:
    exact): subnormal, with fewer digits, where ``log p - log q`` in the generic
    code is exact.  (Where subnormals are flushed to zero, XLA on CPU, such a
    ratio is 0 and its ``-inf`` term makes the sum non-finite anyway.  The check
    also takes ``p == 0`` under ``q > 1``, which only unnormalised inputs have, to
    the generic code.)  Written with other operations than the kernel's, so that
    XLA does not share (and store) its intermediate arrays.
    """
    scaled = jnp.maximum(p * (1 / float(jnp.finfo(p.dtype).tiny)), 1.0) - q
    bad = ~jnp.isfinite(sums) | (jnp.min(jnp.minimum(jnp.minimum(p, q), scaled), axis=-1) < 0)
    if p.dtype == jnp.float64:
        bad = bad | (jnp.abs(sums) < EXACT_BELOW * jnp.sum(p, axis=-1))
    return bad


@functools.cache
def kl(exact: Callable[..., Any], backend: Any) -> Any:
    """The C kernel's sums where it takes the inputs; else the fast sums, and where any
    row cannot be trusted with them, the generic code's (``exact(backend, p, q)``) for
    those rows: ``lax.cond`` runs one branch, so the generic code costs nothing until a
    row needs it.  A ``jax.custom_jvp`` gives the exact derivatives directly."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def rows(p: Any, q: Any) -> Any:
        if p.shape[-1] == 0:
            return jnp.sum(p, axis=-1)
        if _kernel_admits(p, q):
            return _kernel(p, q)
        sums = _fast_sums(jnp, p, q)
        bad = _untrusted(jnp, p, q, sums)
        return jax.lax.cond(
            jnp.any(bad),
            lambda: jnp.where(bad, exact(backend, p, q), sums),
            lambda: sums,
        )

    @rows.defjvp
    def rows_jvp(primals: Any, tangents: Any) -> Any:
        p, q = primals
        dp, dq = tangents
        zero = p == 0
        p_s, q_s = jnp.where(zero, 1, p), jnp.where(zero, 1, q)
        ratio = p_s / q_s
        # log p - log q where the ratio leaves the normal range (subnormal, or 0 when
        # flushed: log(p / q) would be -inf for p = 1e-300, q = 1e15).
        normal = (ratio >= jnp.finfo(ratio.dtype).tiny) & (ratio < jnp.inf)
        log_ratio = jnp.where(normal, jnp.log(ratio), jnp.log(p_s) - jnp.log(q_s))
        d = jnp.where(zero, 0, dp * (log_ratio + 1) - dq * ratio)
        return rows(p, q), jnp.sum(d, axis=-1)

    return rows


@functools.cache
def kl_jitted(exact: Callable[..., Any], backend: Any) -> Any:
    """``kl`` under ``jax.jit`` (for eager calls: one dispatch, not one per primitive)."""
    import jax

    return jax.jit(kl(exact, backend))
