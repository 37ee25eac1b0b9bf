"""One copy of each small array helper, written against the array API (``xp`` given).

Nothing here reads an array's values: no host synchronisation.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends._lib.args import shape_of

__all__ = [
    "finish",
    "is_array",
    "log_softmax",
    "log_softmax_parts",
    "logsumexp",
    "prepare_block",
    "reduce",
    "row_block",
    "scalar",
    "temper",
    "xlogy",
]


def scalar(xp: Any, value: float, like: Any, device: Any = None) -> Any:
    """A 0-d array holding ``value`` in ``like``'s dtype, on ``device``.

    >>> import numpy as np
    >>> scalar(np, 0.5, np.zeros(3, dtype=np.float32)).dtype
    dtype('float32')
    """
    return xp.asarray(value, dtype=like.dtype, device=device)


def logsumexp(
    xp: Any,
    x: Any,
    axes: tuple[int, ...] = (-1,),
    keepdims: bool = True,
    finite_max: bool = False,
) -> Any:
    """``log(sum(exp(x)))`` over ``axes``, shifted by the maximum.

    A row of ``-inf`` gives NaN (``-inf - -inf``), except with ``finite_max``,
    where the shift is 0 for it and the result ``-inf``.  ``keepdims=False``
    needs ``axes == (-1,)``.

    >>> import numpy as np
    >>> float(logsumexp(np, np.log(np.array([1.0, 3.0])), keepdims=False))
    1.3862943611198906
    """
    m = xp.max(x, axis=axes, keepdims=True)
    if finite_max:
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    if keepdims:
        return m + xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True))
    if axes != (-1,):
        raise ValueError("logsumexp(keepdims=False) is over the last axis only")
    return xp.log(xp.sum(xp.exp(x - m), axis=-1)) + m[..., 0]


def log_softmax(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x - logsumexp(x)`` over ``axes``, shifted by the maximum for stability.

    >>> import numpy as np
    >>> np.exp(log_softmax(np, np.array([0.0, 0.0]), (-1,))).tolist()
    [0.5, 0.5]
    """
    return log_softmax_parts(xp, x, axes)[0]


def log_softmax_parts(xp: Any, x: Any, axes: tuple[int, ...]) -> tuple[Any, Any]:
    """``(x - m) - log(sum exp(x - m))`` over ``axes`` and the pair ``(m, log(sum exp(x -
    m)))`` (``m`` the maximum, both kept as size-1 axes): the log-sum-exp in two parts, so
    that log-probabilities recomputed from it keep their digits whatever the magnitude or
    offset of ``x`` (``x - logsumexp(x)`` loses ``ulp(logsumexp)``: 0.2% in float32 at an
    offset of 1e5)."""
    m = xp.max(x, axis=axes, keepdims=True)
    shifted = x - m
    s = xp.log(xp.sum(xp.exp(shifted), axis=axes, keepdims=True))
    return shifted - s, (m, s)


def xlogy(xp: Any, a: Any, b: Any, device: Any = None) -> Any:
    """``a log b`` with 0 where ``a == 0`` (also at ``b == 0``), and a finite gradient there.

    >>> import numpy as np
    >>> xlogy(np, np.array([0.0, 2.0]), np.array([0.0, 1.0])).tolist()
    [0.0, 0.0]
    """
    zero = a == 0
    safe = xp.where(zero, scalar(xp, 1.0, b, device), b)
    return xp.where(zero, scalar(xp, 0.0, b, device), a * xp.log(safe))


def finish(xp: Any, out: Any, dtype: Any, log_base: float | None = None) -> Any:
    """A result in nats converted to ``log_base`` (if given) and cast to the output dtype.

    >>> import numpy as np
    >>> finish(np, np.float64(np.log(2.0)), np.float32, np.log(2.0)).item()
    1.0
    """
    if log_base is not None:
        out = out / log_base
    return xp.astype(out, dtype) if out.dtype != dtype else out


def reduce(xp: Any, out: Any, reduction: str, keepdims: bool = False) -> Any:
    """Apply ``reduction`` ("none", "sum", "mean") over all remaining axes.

    ``"mean"`` over no elements (an empty batch) is NaN, with no warning.

    >>> import numpy as np
    >>> float(reduce(np, np.array([1.0, 3.0]), "mean"))
    2.0
    """
    if reduction == "none" or out.ndim == 0:
        return out
    if reduction == "sum":
        return xp.sum(out, keepdims=keepdims)
    if 0 in shape_of(out):  # (unknown sizes, None, are not 0)
        # The mean of no distributions is NaN, as torch.mean's, without NumPy's
        # "Mean of empty slice" warning (an error under -W error).
        return xp.sum(out, keepdims=keepdims) * math.nan
    return xp.mean(out, keepdims=keepdims)


def is_array(value: Any) -> bool:
    """Whether a checked ``temperature`` or ``beta`` is an array (not ``None`` or a float).

    >>> is_array(None), is_array(2.0)
    (False, False)
    """
    return value is not None and not isinstance(value, float)


def temper(xp: Any, x: Any, temperature: Any, device: Any = None) -> Any:
    """``x / temperature``; with an array ``temperature``, ``-inf`` logits send no NaN
    into its gradient (``-inf`` stays ``-inf``, and contributes 0).

    >>> import numpy as np
    >>> temper(np, np.array([2.0, -np.inf]), 2.0).tolist()
    [1.0, -inf]
    """
    if temperature is None:
        return x
    if not is_array(temperature):
        return x / temperature
    neg = x == -math.inf
    return xp.where(neg, x, xp.where(neg, scalar(xp, 0, x, device), x) / temperature)


def prepare_block(
    xp: Any,
    x: Any,
    work: Any = None,
    mask: Any = None,
    temperature: Any = None,
    device: Any = None,
) -> Any:
    """A ``[B, V]`` block of logits ready for the block math: cast to ``work`` (if given),
    the rows where ``mask`` (``[B]``) is False set to 0, divided by ``temperature``.

    >>> import numpy as np
    >>> prepare_block(np, np.ones((2, 2)), np.float32, np.array([True, False]), 2.0).tolist()
    [[0.5, 0.5], [0.0, 0.0]]
    """
    if work is not None:
        x = xp.astype(x, work, copy=False)
    if mask is not None:
        x = xp.where(xp.expand_dims(mask, axis=-1), x, scalar(xp, 0, x, device))
    return temper(xp, x, temperature, device)


def row_block(n_rows: int | None, width: int | None, elements: int) -> int | None:
    """Rows per block of about ``elements`` elements; ``None``: one block (unknown sizes).

    >>> row_block(10, 4, 8), row_block(None, 4, 8)
    (2, None)
    """
    if n_rows is None or width is None:
        return None
    return max(1, elements // max(width, 1))
