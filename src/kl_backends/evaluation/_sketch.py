"""A mergeable quantile sketch: a signed log-bucket histogram (DDSketch-style).

The buckets of relative width ``gamma = (1 + alpha) / (1 - alpha)`` cover
``min_value <= |x| <= max_value`` on both signs:

* bucket ``+i`` (``i = 1..K``) holds ``e[i-1] < x <= e[i]``, bucket ``-i`` holds
  ``-e[i] <= x < -e[i-1]``, with the edges ``e[i] = min_value * gamma**i``;
* the zero bucket holds ``|x| <= min_value`` (KL == 0, and the tiny negative values
  that rounding gives for identical distributions);
* two overflow buckets hold ``x > e[K]`` and ``x < -e[K]``.

Counts are a vector of ``2 K + 3`` integers in the batch's library and on its device,
so merging two sketches is one addition.  A batch is counted without reading its
values: ``sort`` then ``searchsorted`` of the edges (both in the array API), or,
where the namespace has no ``searchsorted`` (kl_backends' TensorFlow adapter), the
bucket of each value from its logarithm and a two-level one-hot product.

Every value of a bucket is represented by ``2 e[i-1] e[i] / (e[i-1] + e[i])``,
within a relative ``alpha`` of it (Masson, Rim and Lee, "DDSketch: a fast and
fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019); the
zero bucket by 0 (an absolute error of at most ``min_value``); an overflow bucket
by the exact maximum (minimum), tracked beside the sketch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Sketch", "quantiles_from_counts"]


@dataclass(frozen=True)
class Sketch:
    """The bucket layout: relative accuracy ``alpha`` over ``[min_value, max_value]``."""

    alpha: float
    min_value: float
    max_value: float

    def __post_init__(self) -> None:
        if not (isinstance(self.alpha, float) and 0.0 < self.alpha < 0.5):
            raise ValueError(f"relative_accuracy must be a float in (0, 0.5); got {self.alpha!r}")
        ok = 0.0 < self.min_value < self.max_value < math.inf
        if not ok:
            raise ValueError(
                "min_value and max_value must satisfy 0 < min_value < max_value < inf; "
                f"got {self.min_value!r} and {self.max_value!r}"
            )

    @property
    def gamma(self) -> float:
        return (1.0 + self.alpha) / (1.0 - self.alpha)

    @property
    def k(self) -> int:
        """Buckets per sign (without the zero and overflow buckets)."""
        return max(1, math.ceil(math.log(self.max_value / self.min_value) / math.log(self.gamma)))

    @property
    def size(self) -> int:
        return 2 * self.k + 3

    @property
    def zero(self) -> int:
        """Index of the zero bucket in the count vector."""
        return self.k + 1

    def edges(self) -> np.ndarray:
        """``e[0..K]`` in float64 (``e[0] = min_value``)."""
        return self.min_value * np.exp(np.arange(self.k + 1) * math.log(self.gamma))

    def representatives(self, minimum: float, maximum: float) -> np.ndarray:
        """The value standing for each bucket, float64, in count-vector order."""
        e = self.edges()
        mid = 2.0 * e[:-1] * e[1:] / (e[:-1] + e[1:])
        return np.concatenate([[minimum], -mid[::-1], [0.0], mid, [maximum]])

    # -- on the device ------------------------------------------------------------
    def constants(self, xp: Any, dtype: Any, device: Any) -> dict[str, Any]:
        """The edges (and, for the fallback, ``log`` constants) as arrays of the library."""
        e = self.edges()
        return {
            "neg": xp.asarray(-e[::-1].copy(), dtype=dtype, device=device),
            "pos": xp.asarray(e, dtype=dtype, device=device),
        }

    def count(self, xp: Any, x: Any, valid: Any, const: dict[str, Any]) -> Any:
        """Bucket counts ``[2K + 3]`` of the ``valid`` values of 1-d ``x`` (index dtype).

        No value is read: a fixed number of array operations for any data.
        """
        if hasattr(xp, "searchsorted"):
            return self._count_sorted(xp, x, valid, const)
        return self._count_onehot(xp, x, valid, const)

    def _count_sorted(self, xp: Any, x: Any, valid: Any, const: dict[str, Any]) -> Any:
        n = x.shape[0]
        zero = xp.zeros_like(x)
        s = xp.sort(xp.where(valid, x, zero))  # excluded values go to the zero bucket
        lt = xp.searchsorted(s, const["neg"], side="left")  # #x < -e[K..0]
        le = xp.searchsorted(s, const["pos"], side="right")  # #x <= e[0..K]
        excluded = n - xp.sum(xp.astype(valid, lt.dtype))
        head = xp.reshape(lt[0], (1,))
        mid = xp.reshape(le[0] - lt[-1] - excluded, (1,))
        tail = xp.reshape(n - le[-1], (1,))
        return xp.concat([head, lt[1:] - lt[:-1], mid, le[1:] - le[:-1], tail])

    def _count_onehot(self, xp: Any, x: Any, valid: Any, const: dict[str, Any]) -> Any:
        """Bucket from the logarithm, counted as ``onehot(hi).T @ onehot(lo)``."""
        k, size = self.k, self.size
        one = xp.zeros_like(x) + 1
        a = xp.where(valid, xp.abs(x), xp.zeros_like(x))
        a = xp.where(xp.isnan(a), xp.zeros_like(x), a)
        inside = a > self.min_value
        ratio = xp.where(inside, a, one * self.min_value) / self.min_value
        i = xp.minimum(xp.floor(xp.log(ratio) / math.log(self.gamma) - 1e-9) + 1, one * (k + 1))
        i = xp.where(inside, xp.maximum(i, one), xp.zeros_like(x))
        pos = xp.where(x < 0, -i, i) + self.zero
        width = math.isqrt(size - 1) + 1
        height = -(-size // width)
        hi = xp.floor(pos / width)
        lo = pos - hi * width
        weight = xp.astype(valid, x.dtype) * xp.astype(~xp.isnan(x), x.dtype)
        cols_hi = xp.astype(xp.arange(height), x.dtype)
        cols_lo = xp.astype(xp.arange(width), x.dtype)
        oh_hi = xp.astype(xp.expand_dims(hi, axis=1) == cols_hi, x.dtype)
        oh_lo = xp.astype(xp.expand_dims(lo, axis=1) == cols_lo, x.dtype)
        oh_hi = oh_hi * xp.expand_dims(weight, axis=1)
        joint = xp.matrix_transpose(oh_hi) @ oh_lo
        counts = xp.reshape(joint, (height * width,))[:size]
        index = xp.__array_namespace_info__().default_dtypes()["indexing"]
        return xp.astype(xp.floor(counts + 0.5), index)


def quantiles_from_counts(
    counts: np.ndarray, reps: np.ndarray, qs: tuple[float, ...]
) -> dict[float, float]:
    """Quantiles (linear interpolation between order statistics, as ``np.quantile``'s
    default) of the data a sketch counted, each order statistic by its bucket's value."""
    n = int(counts.sum())
    if n == 0:
        return {q: math.nan for q in qs}
    cum = np.cumsum(counts)
    out = {}
    for q in qs:
        rank = q * (n - 1)
        j = math.floor(rank)
        frac = rank - j
        lo = reps[int(np.searchsorted(cum, j, side="right"))]
        hi = reps[int(np.searchsorted(cum, min(j + 1, n - 1), side="right"))]
        out[q] = float(lo) if frac == 0 or lo == hi else float(lo + frac * (hi - lo))
    return out
