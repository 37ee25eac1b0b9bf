"""Checks of keyword arguments and shapes, shared by the public functions.

Everything here works on Python values and shape tuples only: no array
values are read, so nothing here synchronises with a device.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal

Inputs = Literal["probs", "log_probs", "logits"]
Reduction = Literal["none", "sum", "mean"]

INPUTS: tuple[str, ...] = ("probs", "log_probs", "logits")
REDUCTIONS: tuple[str, ...] = ("none", "sum", "mean")


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def log_of_base(base: Any) -> float | None:
    """``log(base)`` for ``base`` in (0, 1) or (1, inf); ``None`` for nats."""
    if base is None:
        return None
    value = float(base) if isinstance(base, numbers.Real) and not isinstance(base, bool) else None
    if value is None or not math.isfinite(value) or value <= 0 or value == 1:
        raise ValueError(
            "base must be None (nats), 2 (bits), or any finite positive number "
            f"other than 1; got {base!r}"
        )
    return math.log(value)


def shape_of(x: Any) -> tuple[int | None, ...]:
    """The shape as a tuple; unknown sizes (lazy or traced arrays) are ``None``."""
    shape = x.shape
    if type(shape) is tuple and all(type(d) is int for d in shape):
        return shape  # NumPy, JAX, CuPy
    dims = getattr(shape, "as_list", None)  # tf.TensorShape
    if dims is not None:
        return tuple(dims())
    return tuple(
        None if d is None or (isinstance(d, float) and math.isnan(d)) else int(d) for d in shape
    )


def broadcast_shape(
    a: tuple[int | None, ...], b: tuple[int | None, ...], names: tuple[str, str] = ("p", "q")
) -> tuple[int | None, ...]:
    """The array-API broadcast of two shapes, or ``ValueError`` naming both."""
    n = max(len(a), len(b))
    a_full = (1,) * (n - len(a)) + tuple(a)
    b_full = (1,) * (n - len(b)) + tuple(b)
    out: list[int | None] = []
    for da, db in zip(a_full, b_full):
        if da == 1:
            out.append(db)
        elif db == 1 or da == db or da is None or db is None:
            out.append(da if da is not None else db)
        else:
            raise ValueError(
                f"{names[0]} and {names[1]} must broadcast to one shape; got "
                f"{names[0]}.shape={tuple(a)} and {names[1]}.shape={tuple(b)}"
            )
    return tuple(out)


def normalize_axis(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (an int or a tuple of ints) as sorted non-negative axes."""
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not axes or not all(
        isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes
    ):
        raise ValueError(f"axis must be an int or a non-empty tuple of ints; got {axis!r}")
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"axis {a} is out of range for inputs with {ndim} dimension(s); "
                f"allowed: {-ndim} to {ndim - 1}"
            )
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axis has repeated entries: {axis!r}")
    return tuple(sorted(normalized))
