"""The quick front end of ``kl_divergence(p, q)`` with every keyword at its default.

The general front end (namespace lookup, dtype promotion, broadcasting, axis
normalisation, reductions) costs 20 to 40 us per call, several times the
whole computation for a [32, 10] batch.  The most common call -- two arrays
of one library, one float32/float64 dtype, one shape, the last axis -- needs
none of it, so it goes straight to that library's fast path from here.

A library's function is registered (keyed by the exact array type) the first
time the general path sees its concrete arrays, so nothing is imported here
and a type that was never seen simply takes the general path.  Each function
returns ``None`` for anything it does not handle (other dtypes or shapes,
mixed devices, 0-d inputs), and the general path takes over, with its
errors.  ``KL_BACKENDS_FASTPATHS=0`` turns this off with the fast paths.
Agreement with the general path is tested in ``tests/test_fastpaths.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from kl_backends import _compat, _fastpaths

__all__ = ["QUICK", "register"]

#: Exact array type -> quick function ``(p, q) -> result or None``.
QUICK: dict[type, Callable[[Any, Any], Any]] = {}


def _numpy(p: Any, q: Any) -> Any:
    dtype = p.dtype
    if dtype != q.dtype or dtype.char not in "fd" or p.shape != q.shape or not p.ndim:
        return None
    if not _fastpaths.enabled():
        return None
    return _fastpaths.numpy_result(p, q)


def _torch(p: Any, q: Any) -> Any:
    torch = sys.modules["torch"]
    dtype = p.dtype
    if (
        dtype != q.dtype
        or (dtype != torch.float32 and dtype != torch.float64)
        or p.shape != q.shape
        or not p.ndim
        or p.device != q.device
        or not _fastpaths.enabled()
    ):
        return None
    from kl_backends import _torch_fast

    return _torch_fast.kl_last_axis(p, q)


def _tensorflow(p: Any, q: Any) -> Any:
    tf = sys.modules["tensorflow"]
    dtype = p.dtype
    if (
        dtype != q.dtype
        or (dtype != tf.float32 and dtype != tf.float64)
        or p.shape != q.shape
        or not p.shape.rank
        or p.device != q.device
        or not _fastpaths.enabled()
    ):
        return None
    return _fastpaths._tf_kl(p, q)


def _jax(p: Any, q: Any) -> Any:
    dtype = p.dtype
    if (
        dtype != q.dtype
        or dtype.char not in "fd"
        or p.shape != q.shape
        or not p.ndim
        or p.sharding != q.sharding
        or not _fastpaths.enabled()
    ):
        return None
    return _fastpaths.jax_kl_jitted()(p, q)


_BY_LIBRARY = {"numpy": _numpy, "torch": _torch, "tensorflow": _tensorflow, "jax": _jax}


def register(x: Any) -> None:
    """Register ``type(x)``'s quick function, if its library has one and ``x`` has values."""
    kind = type(x)
    if kind in QUICK:
        return
    name = _compat.library_name(x)
    fn = _BY_LIBRARY.get(name)
    if fn is None or _compat.values_unavailable(x) is not None:
        return  # tracers, symbolic and lazy arrays keep the general path
    if name == "numpy" and kind is not sys.modules["numpy"].ndarray:
        return  # subclasses (np.matrix, masked arrays) have their own semantics
    QUICK[kind] = fn
