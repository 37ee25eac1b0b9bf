"""Optional backend fast paths for ``kl_divergence(..., inputs="probs")``.

The generic array-API code in ``_divergence`` is the reference; a fast path
computes the same terms, ``p log(p / q)`` with ``rel_entr``'s conventions,
in fewer passes over memory, and is tested to agree with the generic code on
values and gradients, zeros, infinities and NaN included
(``tests/test_fastpaths.py``).  Each is used only where it applies (real
float32/float64 inputs of one shape, one event axis); everything else goes to
the generic code.

* NumPy: cache-sized blocks, in place, on two threads (NumPy's ufuncs release
  the GIL): one division, one log, one multiply and the zero fix per element,
  with peak extra memory of a few blocks instead of whole-array temporaries.
* PyTorch (``_torch_fast.py``, imported when a tensor arrives): eagerly,
  ``xlogy(p, p) - xlogy(p, q)`` for small tensors and, above that, in-place
  kernels over one reused CPU block with a NaN guard from the row minima;
  under torch.compile ``where(p == 0, 0, p * log(p / q))``, which Inductor
  fuses; with a gradient, an ``autograd.Function`` whose backward is the
  exact ``-p / q`` and ``log(p / q) + 1`` (0 where ``p == 0``).
* JAX: ``p * log(max(p, tiny) / max(q, tiny - p))`` with a row guard for
  negative ``p`` (select-free, see ``_clamped_terms_sum``) and a
  ``jax.custom_jvp`` giving the generic code's exact derivatives.
* TensorFlow: ``multiply_no_nan(log(p / q), p)`` (0 where ``p == 0``, as fast
  as the naive formula) with a ``tf.custom_gradient``; eagerly for small
  tensors ``xlogy(p, p) - xlogy(p, q)``, whose built-in gradients are exact.

Invalid inputs: where ``p == 0`` the generic code's term is 0 whatever ``q``
is; for a NaN (PyTorch, JAX) or negative (PyTorch above the small size) ``q``
there, the fast path gives NaN for that distribution instead.  NaN in ``p``,
NaN in ``q`` under ``p > 0`` and negative ``p`` give NaN on every path.

The one-log form forms ``p / q`` in the working dtype: with float32 inputs a
subnormal ``q`` under a ``p`` near 1 overflows the ratio to ``inf`` (as in
``scipy.special.rel_entr``); the generic code does not.  Disable the fast
paths with ``KL_BACKENDS_FASTPATHS=0``.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kl_backends import _compat

__all__ = ["fast_terms_sum", "numpy_kl"]

#: Elements per NumPy block (1 MB of float32 per buffer): measured fastest on a
#: 2-core AVX-512 machine, 3.4 ms against 8.9 ms for 16K-element blocks.
BLOCK = 1 << 18
#: Below this many elements the NumPy path runs in the calling thread.
THREADED_MIN = 1 << 18
#: Up to this many elements a fast path is one whole-array pass with the fewest
#: calls (NumPy: no blocks; PyTorch and eager TensorFlow: the ``xlogy`` form).
SMALL = 1 << 14

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def enabled() -> bool:
    return os.environ.get("KL_BACKENDS_FASTPATHS", "1") != "0"


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=min(2, os.cpu_count() or 1), thread_name_prefix="kl_backends"
            )
        return _POOL


# --- NumPy -------------------------------------------------------------------


def numpy_kl(p: Any, q: Any) -> Any:
    """sum over the last axis of ``p log(p / q)``; ``p``, ``q`` same shape and float dtype."""
    import numpy as np

    if p.size <= SMALL:  # whole-array, in the calling thread: per-call overhead dominates
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(_row_sums(p, q, None, np))
    n = p.shape[-1]
    rows = math.prod(p.shape[:-1])
    p2 = np.ascontiguousarray(p).reshape(rows, n)
    q2 = np.ascontiguousarray(q).reshape(rows, n)
    out = np.zeros(rows, dtype=p.dtype)
    if n == 0 or rows == 0:
        return out.reshape(p.shape[:-1])
    width = min(n, BLOCK)
    height = max(1, BLOCK // width)
    tasks = [
        (r, min(r + height, rows), c, min(c + width, n))
        for r in range(0, rows, height)
        for c in range(0, n, width)
    ]
    if rows * n < THREADED_MIN or len(tasks) < 2:
        _numpy_blocks(p2, q2, out, tasks, np)
    else:
        half = (len(tasks) + 1) // 2
        # Column blocks of one row block stay in one half, except at the split,
        # where each half writes into its own partial sums.
        left = np.zeros(rows, dtype=p.dtype)
        futures = [
            _pool().submit(_numpy_blocks, p2, q2, left, tasks[:half], np),
            _pool().submit(_numpy_blocks, p2, q2, out, tasks[half:], np),
        ]
        for f in futures:
            f.result()
        np.add(out, left, out=out)
    return out.reshape(p.shape[:-1])


def numpy_result(p: Any, q: Any) -> Any:
    """``numpy_kl`` as returned to users: 1-D inputs give a NumPy scalar, as the generic code."""
    if p.size <= SMALL:  # numpy_kl's small branch, without its 0-d array wrapping
        np = sys.modules["numpy"]
        with np.errstate(divide="ignore", invalid="ignore"):
            return _row_sums(p, q, None, np)
    out = numpy_kl(p, q)
    return out if out.ndim else out[()]


def _numpy_blocks(p: Any, q: Any, out: Any, tasks: list, np: Any) -> None:
    size = max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in tasks)
    buf = np.empty(size, dtype=p.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        for r0, r1, c0, c1 in tasks:
            pb, qb = p[r0:r1, c0:c1], q[r0:r1, c0:c1]
            out[r0:r1] += _row_sums(pb, qb, buf[: pb.size].reshape(pb.shape), np)


def _row_sums(p: Any, q: Any, t: Any, np: Any) -> Any:
    """Sums over the last axis of ``p log(p / q)``, computed in ``t`` (``p``'s shape; a new
    array where ``t`` is None).

    NumPy's divide/invalid warnings must be off (the caller's ``errstate``).
    """
    t = np.divide(p, q, out=t)
    np.log(t, out=t)
    np.multiply(t, p, out=t)
    sums = np.add.reduce(t, axis=-1)
    # Every p == 0 term is NaN here (0 * -inf, 0 / 0): only a NaN row sum needs
    # the zero fix, which then costs two more passes.
    if np.isnan(sums).any():
        np.copyto(t, 0, where=p == 0)  # 0 log(0/q) = 0, q = 0 included
        sums = np.add.reduce(t, axis=-1)
    return sums


# --- PyTorch, JAX, TensorFlow ----------------------------------------------------


def fast_terms_sum(xp: Any, p: Any, q: Any) -> Any | None:
    """Sum over the last axis of the KL terms via a backend fast path, or None."""
    name = _compat.library_name(p)
    if name == "torch":
        from kl_backends import _torch_fast  # imports torch: a tensor has arrived

        return _torch_fast.kl_last_axis(p, q)
    if name == "jax":
        return _jax_kl()(p, q)
    if name == "tensorflow":
        return _tf_kl(p, q)
    return None


def _clamped_terms_sum(xp: Any, p: Any, q: Any, tiny: float) -> Any:
    """Sum over the last axis of ``p log(max(p, tiny) / max(q, tiny - p))``: no select.

    Where ``p >= tiny`` (``tiny``: the dtype's smallest normal number) the
    ratio is ``p / q`` exactly (``tiny - p <= 0 <= q``); where ``p == 0`` it
    is ``tiny / max(q, tiny)``, finite, so the term is ``0 * finite = 0``
    whatever ``q`` is (``q == 0`` included); a subnormal ``p`` changes its
    term by less than ``1e-36``.  NaN propagates through ``maximum``.  A
    negative ``p`` would give a finite term, so such rows are made NaN from
    the row minimum of ``p``.  XLA:CPU fuses this into one loop of
    elementwise operations it vectorises; a ``where`` or a comparison in the
    loop is emitted as a separate pass (measured 1.5x to 5x slower).
    """
    terms = p * xp.log(xp.maximum(p, tiny) / xp.maximum(q, tiny - p))
    total = xp.sum(terms, axis=-1)
    if p.shape[-1] == 0:
        return total
    return xp.where(xp.min(p, axis=-1) < 0, xp.asarray(math.nan, dtype=p.dtype), total)


@functools.cache
def _jax_kl() -> Any:
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def kl(p: Any, q: Any) -> Any:
        return _clamped_terms_sum(jnp, p, q, float(jnp.finfo(p.dtype).tiny))

    @kl.defjvp
    def kl_jvp(primals: Any, tangents: Any) -> Any:
        p, q = primals
        dp, dq = tangents
        zero = p == 0
        p_s, q_s = jnp.where(zero, 1, p), jnp.where(zero, 1, q)
        log_ratio = jnp.log(p_s / q_s)
        value = jnp.sum(jnp.where(zero, 0, p * log_ratio), axis=-1)
        d = jnp.where(zero, 0, dp * (log_ratio + 1) - dq * (p_s / q_s))
        return value, jnp.sum(d, axis=-1)

    return kl


@functools.cache
def jax_kl_jitted() -> Any:
    """``_jax_kl`` under ``jax.jit`` (for eager calls: one dispatch, not one per primitive)."""
    import jax

    return jax.jit(_jax_kl())


def _tf_kl(p: Any, q: Any) -> Any:
    import tensorflow as tf

    size = p.shape.num_elements()
    if size is not None and size <= SMALL and tf.executing_eagerly():
        # Two kernels fewer than the form below and no custom_gradient (about
        # 120 us per eager call); TensorFlow's own xlogy gradients are exact:
        # 0 where p == 0 (xdivy), -p / q for q, log(p / q) + 1 for p.
        return tf.reduce_sum(tf.math.xlogy(p, p) - tf.math.xlogy(p, q), axis=-1)

    @tf.custom_gradient
    def kl(p: Any, q: Any) -> Any:
        # multiply_no_nan(x, y) is 0 where y == 0, even for x = -inf or NaN:
        # the zero fix in the multiply itself, as fast as the naive formula.
        value = tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p / q), p), axis=-1)

        def grad(g: Any) -> Any:
            zero = tf.equal(p, 0)
            nought = tf.zeros((), p.dtype)
            one = tf.ones((), p.dtype)
            ratio = tf.where(zero, one, p) / tf.where(zero, one, q)
            g = tf.expand_dims(g, -1)
            return (
                tf.where(zero, nought, tf.math.log(ratio) + 1) * g,
                tf.where(zero, nought, -ratio) * g,
            )

        return value, grad

    return kl(p, q)
