"""``temperature`` and ``beta`` of the rows of logits: Python numbers checked at once, arrays
of the inputs' library checked where their value can be read (``scalar_argument``)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib import args as _args
from kl_backends._lib.arrays import is_array, scalar

__all__ = ["check_beta", "check_temperature", "is_array", "scalar_argument"]


def check_temperature(temperature: Any) -> Any:
    """A Python ``temperature`` checked and as a float; ``None``; or an array, checked later.

    Arrays (0-d, of the inputs' library) are checked by ``scalar_argument``
    once the inputs' backend is known.

    >>> check_temperature(2)
    2.0
    """
    if temperature is None:
        return None
    value = _number_or_array(temperature, lambda t: math.isfinite(t) and t > 0)
    if value is not _INVALID:
        return value
    raise ValueError(
        "temperature must be a finite positive number (a Python number or a 0-d array of "
        f"the inputs' library), or None; got {temperature!r}"
    )


def check_beta(beta: Any) -> Any:
    """A Python ``beta`` checked and as a float; ``None``; or an array, checked later.

    >>> check_beta(0.5)
    0.5
    """
    if beta is None:
        return None
    value = _number_or_array(beta, lambda b: 0 <= b <= 1)
    if value is not _INVALID:
        return value
    raise ValueError(
        "beta must be a Python number in [0, 1] (or a 0-d array of the inputs' library "
        f"holding one), or None; got {beta!r}"
    )


_INVALID = object()


def _number_or_array(value: Any, valid: Any) -> Any:
    """A Python real number as a float where ``valid(float)``; an array as it is (checked
    later by ``scalar_argument``); ``_INVALID`` otherwise (bools, strings, containers)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value) if valid(float(value)) else _INVALID
    if isinstance(value, (bool, complex, str, bytes, list, tuple, dict, set)):
        return _INVALID
    return value  # an array: scalar_argument


#: name -> (what is expected, the test of a valid value)
_SCALARS = {
    "temperature": (
        "finite and positive",
        lambda x: (x > 0) & (x < math.inf),
    ),
    "beta": ("in [0, 1]", lambda x: (x >= 0) & (x <= 1)),
}


def scalar_argument(be: Any, name: str, value: Any, like: Any, work: Any) -> Any:
    """``temperature`` or ``beta`` given as an array: a 0-d array in ``work`` on ``like``'s device.

    It must come from the inputs' library (a tracer under ``jax.jit`` or a
    symbolic tensor under ``tf.function`` included) and have a real dtype.
    Where its value can be read it is checked (``ValueError``; one boolean is
    read from the device); where it cannot (``jax.jit``, ``tf.function``,
    ``torch.compile``, Dask, the ``meta`` device) an invalid value becomes NaN,
    so that every result is NaN rather than a wrong number.
    """
    xp = be.xp
    what, valid = _SCALARS[name]
    expected = f"{name} must be a Python number or a 0-d array of the inputs' library ({be.name})"
    vbe = _dispatch.backend_of(value)
    if vbe is None or vbe.name != be.name:
        got = f"{type(value).__module__}.{type(value).__qualname__}"
        raise TypeError(f"{expected}; got {got}. Pass float({name}) or an array of {be.name}")
    _, (arr,) = _dispatch.resolve(value, names=(name,))
    shape = _args.shape_of(arr)
    if shape != ():
        raise ValueError(f"{expected}: one value; got shape {shape}")
    if not (xp.isdtype(arr.dtype, "real floating") or xp.isdtype(arr.dtype, "integral")):
        raise TypeError(f"{expected}, with a real dtype; got dtype {arr.dtype}")
    device = be.device(like)
    if device is not None and be.device(arr) not in (None, device):
        arr = xp.asarray(arr, device=device)
    arr = xp.astype(arr, work, copy=False)
    ok = valid(arr)
    if be.values_unavailable(arr) is None:
        if not bool(ok):
            raise ValueError(f"{name} must be {what}; got {value!r}")
        return arr
    return xp.where(ok, arr, scalar(xp, math.nan, arr, be.device(arr)))
