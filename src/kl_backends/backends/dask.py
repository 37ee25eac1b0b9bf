"""Dask: recognition, namespace, laziness, quiet logs in the graph, blockwise linear algebra,
the NumPy kernel per block, and conversions for the harness.

Nothing here imports Dask until one of its arrays has arrived.  Dask arrays
are lazy: nothing here computes; ``values_unavailable`` says so to
``validate=True``.
"""

from __future__ import annotations

import functools
from typing import Any

from kl_backends.backends import numpy as _numpy
from kl_backends.backends._base import Backend

__all__ = ["Dask"]

_NUMPY = _numpy.NumPy()


class Dask(Backend):
    name = distribution = extra = "dask"
    module = "dask.array"
    array_types = ("Array",)
    dtypes = ("float32", "float64", "float16")
    lazy = True
    cost = 4

    def _namespace(self) -> Any:
        import array_api_compat.dask.array as xp

        return xp

    def device(self, x: Any) -> Any:
        return "cpu"

    def values_unavailable(self, x: Any) -> str | None:
        return "it is a lazy Dask array (reading values would compute the graph)"

    def log(self, x: Any) -> Any:
        """``log`` without NumPy's warning for ``log(0) = -inf``.

        Dask runs NumPy's log when the graph is computed, outside any
        ``np.errstate`` of ours, so the quiet log goes into the graph itself.
        """
        return x.map_blocks(_quiet_log, dtype=x.dtype)

    def cholesky(self, x: Any) -> Any:
        """Lower Cholesky factor, batched, blockwise in NumPy (Dask's own is 2-D only)."""
        return _batched(_np_cholesky, x)

    def solve(self, a: Any, b: Any) -> Any:
        """Batched, blockwise in NumPy (Dask's own ``linalg.solve`` is 2-D only)."""
        return _batched(_np_solve, a, b)

    def solve_triangular(self, a: Any, b: Any) -> Any:
        return _batched(_np_solve, a, b)

    def logits_rows(self, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
        """The generic NumPy row blocks per row chunk (``map_blocks``), lazily.

        The event axis is made one chunk (a distribution needs all of its row);
        rows keep their chunks.  No gradient (Dask has none).
        """
        import dask.array as da
        import numpy as np

        a = a.rechunk({1: -1})
        b = b.rechunk({0: a.chunks[0], 1: -1})
        args = [a, b]
        if mask is not None:
            args.append(da.asarray(mask)[:, None].rechunk((a.chunks[0], 1)))
        kind, beta, temperature, work = spec.kind, spec.beta, spec.temperature, spec.work

        def block(x: Any, y: Any, m: Any = None) -> Any:
            with np.errstate(divide="ignore", invalid="ignore"):  # -inf, NaN: defined here
                return generic.rows(_NUMPY, kind, beta, x, y, m, temperature, True, work, True)

        if mask is None:
            return da.map_blocks(block, *args, drop_axis=1, dtype=work)
        return da.map_blocks(lambda x, y, m: block(x, y, m[:, 0]), *args, drop_axis=1, dtype=work)

    def kl_last_axis(self, p: Any, q: Any, exact: Any) -> Any | None:
        """The NumPy kernel per block, where each block holds whole rows."""
        if len(p.chunks[-1]) != 1 or p.chunks != q.chunks:
            return None
        rows = functools.partial(exact, _NUMPY)  # the generic code, on NumPy blocks
        return p.map_blocks(_numpy.kl_rows, q, rows, drop_axis=p.ndim - 1, dtype=p.dtype)

    # -- harness -----------------------------------------------------------
    def special(self, name: str) -> Any:
        """SciPy's function block by block (elementwise, so valid), lazily."""
        blockwise = _NUMPY.special(name)
        if blockwise is None:
            return None
        return lambda x: x.map_blocks(blockwise, dtype=x.dtype)

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        import dask.array as da
        import numpy as np

        a = np.asarray(a, dtype=dtype)
        chunks = tuple(max(1, (n + 1) // 2) for n in a.shape)  # several chunks per axis
        return da.from_array(a, chunks=chunks)

    def to_numpy(self, x: Any) -> Any:
        import numpy as np

        return np.asarray(x.compute(), dtype=np.float64)


def _quiet_log(block: Any) -> Any:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(block)


def _np_cholesky(a: Any) -> Any:
    import numpy as np

    return np.linalg.cholesky(a)


def _np_solve(a: Any, b: Any) -> Any:
    import numpy as np

    return np.linalg.solve(a, b)


def _batched(fn: Any, *arrays: Any) -> Any:
    """Apply a batched NumPy linear-algebra ``fn`` block by block, lazily.

    Every argument has the same batch axes (they keep their chunks, aligned
    by ``blockwise``) and one matrix in its last two axes (rechunked whole).
    The matrices share their row count; their column counts may differ, and
    the result has the last argument's.
    """
    import dask.array as da

    ndim = arrays[0].ndim
    batch, row = tuple(range(ndim - 2)), ndim - 2
    args: list[Any] = []
    for i, x in enumerate(arrays):
        args += [x.rechunk({ndim - 2: -1, ndim - 1: -1}), (*batch, row, ndim + i)]
    out_index = (*batch, row, ndim + len(arrays) - 1)
    return da.blockwise(fn, out_index, *args, dtype=arrays[0].dtype, concatenate=True)
