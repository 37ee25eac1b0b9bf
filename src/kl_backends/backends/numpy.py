"""NumPy: recognition, namespace, the blocked and threaded KL kernel, the quick path, built-ins.

The kernel (``kl_rows``) computes the sums of ``p log(p / q)`` over the last
axis in cache-sized blocks, in place, on two threads (NumPy's ufuncs release
the GIL): one division, one log, one ``min``, one multiply per element and
the zero fix only where a block's log ratios reach below the normal range (zeros
in ``p``), with peak extra memory of a few blocks
instead of whole-array temporaries.  Dask's blocks use the same kernel.  It
is tested to agree with the generic array-API code (``tests/core/test_fastpaths.py``).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kl_backends._lib.policy import EXACT_BELOW, SMALL, quick_admits
from kl_backends.backends._base import Backend, Builtin, native_function

__all__ = ["EXACT_BELOW", "NumPy", "kl_rows"]

#: Elements per block (1 MB of float32 per buffer): measured fastest on a
#: 2-core AVX-512 machine, 3.4 ms against 8.9 ms for 16K-element blocks.
BLOCK = 1 << 18
#: Below this many elements the kernel runs in the calling thread.
THREADED_MIN = 1 << 18

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _reset_pool() -> None:
    """In a forked child the parent's pool has no threads: start a fresh one when needed."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool)


def _submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``fn`` on the pool; in the calling thread once the interpreter is shutting down
    (``atexit`` handlers, threads still running at exit), where the pool takes no work."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=min(2, os.cpu_count() or 1), thread_name_prefix="kl_backends"
            )
        pool = _POOL
    try:
        return pool.submit(fn, *args)
    except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
        done: Future[Any] = Future()
        done.set_result(fn(*args))
        return done


def kl_rows(p: Any, q: Any, exact: Callable[[Any, Any], Any]) -> Any:
    """Sums over the last axis of ``p log(p / q)``; ``p``, ``q`` same shape and float dtype.

    ``exact(p_rows, q_rows)`` (the generic code) recomputes the rows that the
    fast form cannot be trusted with (``_untrusted``).
    """
    import numpy as np

    if p.size <= SMALL:  # whole-array, in the calling thread: per-call overhead dominates
        with np.errstate(all="ignore"):
            return np.asarray(_row_sums(p, q, np, exact))
    n = p.shape[-1]
    rows = math.prod(p.shape[:-1])
    p2 = np.ascontiguousarray(p).reshape(rows, n)
    q2 = np.ascontiguousarray(q).reshape(rows, n)
    if n == 0 or rows == 0:
        return np.zeros(p.shape[:-1], dtype=p.dtype)
    width = min(n, BLOCK)
    height = max(1, BLOCK // width)
    tasks = [
        (r, min(r + height, rows), c, min(c + width, n))
        for r in range(0, rows, height)
        for c in range(0, n, width)
    ]
    if rows * n < THREADED_MIN or len(tasks) < 2:
        stats = _blocks(p2, q2, tasks, np)
    else:
        # Column blocks of one row block stay in one half, except at the split,
        # where each half has its own partial statistics.
        half = (len(tasks) + 1) // 2
        futures = [_submit(_blocks, p2, q2, part, np) for part in (tasks[:half], tasks[half:])]
        left, stats = (f.result() for f in futures)
        for mine, theirs in zip(stats[:1] + stats[2:], left[:1] + left[2:]):
            np.add(mine, theirs, out=mine)  # sums, sum p
        np.logical_or(stats[1], left[1], out=stats[1])  # suspect rows
    sums = stats[0]
    with np.errstate(all="ignore"):
        redo = np.flatnonzero(_untrusted(*stats, np=np))
    if redo.size:
        sums[redo] = exact(p2[redo], q2[redo])
    return sums.reshape(p.shape[:-1])


def _blocks(p: Any, q: Any, tasks: list, np: Any) -> list[Any]:
    """Per row: the fast sums, whether the row is suspect and, in float64, ``sum p``
    (for ``_untrusted``)."""
    rows, float64 = p.shape[0], p.dtype.itemsize == 8
    stats = [np.zeros(rows, p.dtype), np.zeros(rows, bool)]
    stats += [np.zeros(rows, p.dtype)] if float64 else []
    buf = np.empty(max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in tasks), dtype=p.dtype)
    with np.errstate(all="ignore"):
        for r0, r1, c0, c1 in tasks:
            pb, qb = p[r0:r1, c0:c1], q[r0:r1, c0:c1]
            sums, suspect = _fast_sums(pb, qb, buf[: pb.size].reshape(pb.shape), np)
            stats[0][r0:r1] += sums
            if suspect is not None:
                stats[1][r0:r1] |= suspect
            # fmin ignores NaN (minimum would let a NaN hide a negative q).
            if np.fmin.reduce(qb, axis=None) < 0:  # rare: then per row
                stats[1][r0:r1] |= np.fmin.reduce(qb, axis=-1) < 0
            if float64:
                stats[2][r0:r1] += np.add.reduce(pb, axis=-1)
    return stats


def _fast_sums(p: Any, q: Any, t: Any, np: Any) -> tuple[Any, Any]:
    """``sum p log(p / q)`` over the last axis in four in-place passes and a reduction.

    Returns the sums and the rows (a boolean array, or ``None`` for none) where some
    ``p > 0`` has a ratio ``p / q`` below the smallest normal number: there the
    ratio is subnormal (rounded to fewer digits, ``p = 2.2e-308, q = 1e15``) or 0
    (a ``-inf`` term), and only ``log p - log q`` is exact.  The logs are
    checked with one ``min`` pass; only where it is below ``log(tiny)`` (zeros
    in ``p``, whose log ratios are ``-inf`` or NaN, or a NaN) are the ``p == 0``
    log ratios set to 0 (``0 log(0 / q) = 0``, ``q = 0`` included) and the
    rows with a log ratio still below ``log(tiny)`` picked out.
    """
    t = np.divide(p, q, out=t)
    np.log(t, out=t)
    suspect = None
    low = math.log(np.finfo(p.dtype).tiny)
    if t.size and not np.minimum.reduce(t, axis=None) >= low:  # NaN: taken too
        np.copyto(t, 0, where=p == 0)
        suspect = np.fmin.reduce(t, axis=-1) < low
        if not suspect.any():
            suspect = None
    np.multiply(t, p, out=t)
    return np.add.reduce(t, axis=-1), suspect


def _untrusted(sums: Any, suspect: Any, *sum_p: Any, np: Any) -> Any:
    """Rows whose fast sums may differ from the exact value.

    * a NaN or infinite sum: ``q == 0`` or ``-0.0`` under ``p > 0``, a NaN, a
      negative ratio, or ``p / q`` overflowing;
    * ``suspect`` rows: a negative ``q`` (with a negative ``p`` too, the ratio
      is positive and the term finite), or a ratio ``p / q`` below the
      smallest normal number under ``p > 0`` (``_fast_sums``);
    * in float64 (``sum_p`` given), a sum so small that the rounding of
      ``p / q`` (about ``eps p`` per term) could move it by more than 1e-12 of
      itself: nearly equal distributions, whose terms are first order in
      ``p - q`` and whose sum is second order.  The bound takes ``sum q`` to be
      about ``sum p``, as for distributions.
    """
    bad = ~np.isfinite(sums) | suspect
    if sum_p:
        bad |= np.abs(sums) < EXACT_BELOW * sum_p[0]
    return bad


def _row_sums(p: Any, q: Any, np: Any, exact: Any) -> Any:
    """Small inputs in one go: the fast sums, the untrusted rows recomputed by ``exact``.

    The common case (finite sums, no negative ``q``, no ratio below the normal
    range, float64 sums not small) is decided with a few whole-array calls before
    any per-row work.  NumPy's floating-point warnings must be off (the caller's
    ``errstate``).
    """
    sums, suspect = _fast_sums(p, q, None, np)
    negative = bool(q.size) and np.fmin.reduce(q, axis=None) < 0  # fmin: NaN ignored
    float64 = p.dtype.itemsize == 8
    sum_p = np.add.reduce(p, axis=-1) if float64 else None
    if suspect is None and not negative and np.isfinite(np.add.reduce(sums, axis=None)):
        if sum_p is None or (np.abs(sums) >= EXACT_BELOW * sum_p).all():
            return sums
    if suspect is None:
        suspect = np.zeros(sums.shape, bool)
    if negative:
        suspect = suspect | (np.fmin.reduce(q, axis=-1) < 0)
    bad = _untrusted(sums, suspect, *([] if sum_p is None else [sum_p]), np=np)
    if bad.any():
        if sums.ndim:
            sums[bad] = exact(p[bad], q[bad])
        else:
            sums = exact(p, q)
    return sums


class NumPy(Backend):
    name = module = distribution = "numpy"
    array_types = ("ndarray", "generic")
    dtypes = ("float32", "float64", "float16")
    is_reference = True
    cost = 1

    def _namespace(self) -> Any:
        import array_api_compat.numpy as xp

        return xp

    def coerce(self, name: str, x: Any) -> Any:
        """Plain ``ndarray`` in native byte order; masked arrays refused.

        A masked array's mask would be silently dropped by some operations and
        honoured by others (the sums of a masked array skip masked entries, so
        ``p`` would no longer sum to 1): it is refused rather than given a
        wrong value.  Other subclasses (``np.matrix``, ``memmap``, users'
        subclasses) are viewed as ``ndarray``; big-endian data is converted,
        so results are always in native byte order.  Arrays of strings or
        objects are refused (NumPy would parse ``"0.5"`` silently).
        """
        np = sys.modules["numpy"]
        if type(x) is not np.ndarray and not isinstance(x, np.generic):
            if isinstance(x, np.ma.MaskedArray):
                raise TypeError(
                    f"{name} is a NumPy masked array, which kl_backends does not take: its "
                    f"mask would change the sums. Pass {name}.filled(0) to give masked "
                    f"entries probability 0, or np.ma.getdata({name}) to ignore the mask."
                )
            x = np.asarray(x)
        if x.dtype.kind not in "biufc":
            raise TypeError(
                f"{name} must hold numbers; got a NumPy array of dtype {x.dtype}. Strings and "
                "other objects are not converted: convert them to numbers first."
            )
        if not x.dtype.isnative:
            x = x.astype(x.dtype.newbyteorder("="))
        return x

    def device(self, x: Any) -> Any:
        return "cpu"

    def quiet(self) -> Any:
        import numpy as np

        return np.errstate(all="ignore")

    def kl_last_axis(self, p: Any, q: Any, exact: Callable[..., Any]) -> Any:
        rows = functools.partial(exact, self)
        if p.size <= SMALL:  # kl_rows' small branch, without its 0-d array wrapping
            np = sys.modules["numpy"]
            with np.errstate(all="ignore"):
                return _row_sums(p, q, np, rows)
        out = kl_rows(p, q, rows)
        return out if out.ndim else out[()]  # 1-D inputs give a NumPy scalar, as the generic code

    def quick(self, p: Any, q: Any, exact: Any) -> Any:
        np = sys.modules["numpy"]
        if not quick_admits(p, q, (np.float32, np.float64)):  # native byte order only
            return None
        return self.kl_last_axis(p, q, exact)

    def special(self, name: str) -> Callable[[Any], Any] | None:
        """SciPy's, when SciPy is installed."""
        return native_function("scipy.special", SCIPY_SPECIAL.get(name))

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        import numpy as np

        return np.asarray(a, dtype=dtype)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return (
            Builtin("scipy.special.rel_entr(p, q).sum(-1)", "scipy", _scipy_rel_entr),
            Builtin("scipy.stats.entropy(p, q)", "scipy", _scipy_entropy),
        )


#: kl_backends.distributions.special names -> scipy.special (and cupyx.scipy.special) names.
SCIPY_SPECIAL = {"lgamma": "gammaln", "digamma": "psi", "erf": "erf", "i0e": "i0e", "i1e": "i1e"}


def _scipy_rel_entr(p: Any, q: Any) -> Any:
    from scipy.special import rel_entr

    return rel_entr(p, q).sum(axis=-1)


def _scipy_entropy(p: Any, q: Any) -> Any:
    from scipy.stats import entropy

    return entropy(p, q, axis=-1)  # normalises p and q first
