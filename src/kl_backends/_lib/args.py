"""Checks of keyword arguments and shapes, shared by the public functions.

Everything here works on Python values and shape tuples only: no array
values are read, so nothing here synchronises with a device.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal, cast

Inputs = Literal["probs", "log_probs", "logits"]
#: ``inputs=`` of a two-distribution function: one kind for both, or ``(of p, of q)``.
InputsPair = Inputs | tuple[Inputs, Inputs]
Reduction = Literal["none", "sum", "mean"]

INPUTS: tuple[str, ...] = ("probs", "log_probs", "logits")
REDUCTIONS: tuple[str, ...] = ("none", "sum", "mean")


#: What a value from another library means here.
_HINTS = {
    "batchmean": (
        ". PyTorch's 'batchmean' is the sum divided by the size of the first dimension: "
        "reduction='mean' (the sum over the number of distributions) for [batch, n] "
        "inputs with the event axis last; for [batch, T, n], reduction='sum' / batch"
    )
}


def source_kind(x: Any) -> str:
    """What a side of a divergence is: ``"projection"`` or ``"topk"`` for the wrappers that
    describe logits without holding them (their class attribute ``_kl_source``), else
    ``"dense"`` (an array)."""
    kind = getattr(type(x), "_kl_source", None)
    return kind if isinstance(kind, str) else "dense"


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        hint = _HINTS.get(value, "") if isinstance(value, str) else ""
        raise ValueError(f"{name} must be one of {choices}; got {value!r}{hint}")
    return value


def check_inputs_pair(inputs: Any, allowed: Sequence[str] = INPUTS) -> tuple[Inputs, Inputs]:
    """``inputs`` of ``p`` and of ``q``: a single kind applies to both, a pair to each.

    ``ValueError`` (naming the allowed values) for an unknown kind, or a
    pair that is not a tuple or list of exactly two kinds.
    """
    if isinstance(inputs, str):
        check_choice("inputs", inputs, allowed)
        return cast(Inputs, inputs), cast(Inputs, inputs)
    choices = ", ".join(repr(a) for a in allowed)
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
        got = (
            f"{type(inputs).__name__} of length {len(inputs)}"
            if isinstance(inputs, (tuple, list))
            else type(inputs).__name__
        )
        raise ValueError(
            f"inputs must be one of {choices} (for both p and q), or a pair of them "
            f"(inputs of p, inputs of q) such as ('probs', 'logits'); got {inputs!r} ({got})"
        )
    for i, (side, kind) in enumerate(zip("pq", inputs)):
        if not isinstance(kind, str) or kind not in allowed:
            raise ValueError(
                f"inputs[{i}] (the inputs of {side}) must be one of {choices}; got {kind!r}"
            )
    return cast(Inputs, inputs[0]), cast(Inputs, inputs[1])


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (Python's or NumPy's), else ``TypeError``.

    ``keepdims="no"`` is truthy: accepting it would keep the dims.
    """
    if isinstance(value, bool):
        return value
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")


def check_event_axes(
    shape: tuple[int | None, ...], axes: tuple[int, ...], inputs: str | tuple[str, ...]
) -> None:
    """``ValueError`` for logits with an empty event axis (known from the shape alone).

    A softmax over no logits is no distribution: there is no KL to return.
    Probabilities and log-probabilities over an empty axis give the empty
    sum, 0 (``validate=True`` reports that they do not sum to 1).
    """
    if "logits" not in ((inputs,) if isinstance(inputs, str) else inputs):
        return
    empty = [a for a in axes if shape[a] == 0]
    if empty:
        raise ValueError(
            f"inputs='logits' needs at least one logit per distribution; axis {empty[0]} "
            f"of the broadcast shape {tuple(shape)} has size 0 (a softmax over no logits "
            "is not a distribution)"
        )


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
    """The shape as a tuple; unknown sizes (lazy or traced arrays) are ``None``.

    Any sequence of sizes is read the same way: ints, ``None`` or NaN for an
    unknown size (Dask), and objects with ``__int__``.

    >>> import numpy as np
    >>> shape_of(np.zeros((2, 3)))
    (2, 3)
    """
    shape = x.shape
    if type(shape) is tuple and all(type(d) is int for d in shape):
        return shape  # NumPy, JAX, CuPy
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
    if ndim == 0:
        raise ValueError(
            "a distribution needs at least one axis (its events), but the inputs are 0-d "
            "(scalars); pass one distribution as a 1-D array such as [0.2, 0.8]"
        )
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
