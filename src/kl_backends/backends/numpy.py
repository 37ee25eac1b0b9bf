"""NumPy: recognition, namespace, the blocked and threaded KL kernel, the quick path, built-ins.

The kernel (``kl_rows``) computes the sums of ``p log(p / q)`` over the last
axis in cache-sized blocks, in place, on two threads (NumPy's ufuncs release
the GIL): one division, one log, one multiply per element and the zero fix
only where a block's sums are NaN, with peak extra memory of a few blocks
instead of whole-array temporaries.  Dask's blocks use the same kernel.  It
is tested to agree with the generic array-API code (``tests/test_fastpaths.py``).
"""

from __future__ import annotations

import math
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kl_backends.backends._base import SMALL, Backend, Builtin, fast_paths_enabled

__all__ = ["NumPy", "kl_rows"]

#: Elements per block (1 MB of float32 per buffer): measured fastest on a
#: 2-core AVX-512 machine, 3.4 ms against 8.9 ms for 16K-element blocks.
BLOCK = 1 << 18
#: Below this many elements the kernel runs in the calling thread.
THREADED_MIN = 1 << 18

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=min(2, os.cpu_count() or 1), thread_name_prefix="kl_backends"
            )
        return _POOL


def kl_rows(p: Any, q: Any) -> Any:
    """Sums over the last axis of ``p log(p / q)``; ``p``, ``q`` same shape and float dtype."""
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
        _blocks(p2, q2, out, tasks, np)
    else:
        half = (len(tasks) + 1) // 2
        # Column blocks of one row block stay in one half, except at the split,
        # where each half writes into its own partial sums.
        left = np.zeros(rows, dtype=p.dtype)
        futures = [
            _pool().submit(_blocks, p2, q2, left, tasks[:half], np),
            _pool().submit(_blocks, p2, q2, out, tasks[half:], np),
        ]
        for f in futures:
            f.result()
        np.add(out, left, out=out)
    return out.reshape(p.shape[:-1])


def _blocks(p: Any, q: Any, out: Any, tasks: list, np: Any) -> None:
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


class NumPy(Backend):
    name = module = distribution = "numpy"
    array_types = ("ndarray", "generic")
    dtypes = ("float32", "float64", "float16")

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
        so results are always in native byte order.
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
        if not x.dtype.isnative:
            x = x.astype(x.dtype.newbyteorder("="))
        return x

    def device(self, x: Any) -> Any:
        return "cpu"

    def quiet(self) -> Any:
        import numpy as np

        return np.errstate(divide="ignore", invalid="ignore")

    def kl_last_axis(self, p: Any, q: Any) -> Any:
        if p.size <= SMALL:  # kl_rows' small branch, without its 0-d array wrapping
            np = sys.modules["numpy"]
            with np.errstate(divide="ignore", invalid="ignore"):
                return _row_sums(p, q, None, np)
        out = kl_rows(p, q)
        return out if out.ndim else out[()]  # 1-D inputs give a NumPy scalar, as the generic code

    def quick(self, p: Any, q: Any) -> Any:
        dtype = p.dtype
        if (
            dtype != q.dtype
            or dtype.char not in "fd"
            or not dtype.isnative
            or p.shape != q.shape
            or not p.ndim
        ):
            return None
        if not fast_paths_enabled():
            return None
        return self.kl_last_axis(p, q)

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        import numpy as np

        return np.asarray(a, dtype=dtype)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return (
            Builtin("scipy.special.rel_entr(p, q).sum(-1)", "scipy", _scipy_rel_entr),
            Builtin("scipy.stats.entropy(p, q)", "scipy", _scipy_entropy),
        )


def _scipy_rel_entr(p: Any, q: Any) -> Any:
    from scipy.special import rel_entr

    return rel_entr(p, q).sum(axis=-1)


def _scipy_entropy(p: Any, q: Any) -> Any:
    from scipy.stats import entropy

    return entropy(p, q, axis=-1)  # normalises p and q first
