"""Dask rows of logits: the generic NumPy row blocks per row chunk (``map_blocks``).

Imported only when a Dask array arrives.  The event axis is made one chunk
(a distribution needs all of its row), rows keep their chunks, and each chunk
runs ``kl_backends._math.logits.generic_rows`` on its NumPy block.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as np_xp
import dask.array as da
import numpy as np

from kl_backends._math import logits as _logits


def rows(kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any) -> Any:
    """Per-row values ``[N]`` (dtype ``work``) of ``[N, V]`` Dask arrays (lazy)."""
    a = a.rechunk({1: -1})
    b = b.rechunk({0: a.chunks[0], 1: -1})
    args = [a, b]
    if mask is not None:
        args.append(da.asarray(mask)[:, None].rechunk((a.chunks[0], 1)))

    def block(x: Any, y: Any, m: Any = None) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):  # -inf and NaN are defined here
            return _logits.generic_rows(np_xp, kind, beta, x, y, m, temperature, True, work, True)

    if mask is None:
        return da.map_blocks(block, *args, drop_axis=1, dtype=work)
    return da.map_blocks(
        lambda x, y, m: block(x, y, m[:, 0]),
        *args,
        drop_axis=1,
        dtype=work,
    )
