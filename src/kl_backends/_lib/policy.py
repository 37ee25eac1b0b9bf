"""The rules every kernel shares: when fast paths run, which inputs they trust, what a
quick call admits, how a seed is read."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["EXACT_BELOW", "NEAR", "SMALL", "fast_paths_enabled", "quick_admits", "seed_kind"]

#: Nearly equal: ``|p - q| < NEAR * (p + q)``, i.e. ``p / q`` within about 4% of 1, where
#: the exact code sums the generalised terms and ``p - q`` apart (``_math.common``).
NEAR = 0.02

#: Up to this many elements a fast kernel is one whole-array pass with the
#: fewest calls (NumPy: no blocks; PyTorch and eager TensorFlow: ``xlogy``).
SMALL = 1 << 14

#: float64 sums below this times ``sum p`` are recomputed by the generic code: the
#: fast form's rounding error is at most about ``eps (sum p + sum |terms|)`` (``p / q``
#: is rounded once per term), ``sum |terms| <= |sum| + 2 sum q``, and for
#: distributions ``sum q`` is about ``sum p``: 1e-12 of a sum this large.
EXACT_BELOW = 3 * float(2.0**-52) * 1e12


def fast_paths_enabled() -> bool:
    """``KL_BACKENDS_FASTPATHS=0`` turns the fast kernels and the quick path off."""
    return os.environ.get("KL_BACKENDS_FASTPATHS", "1") != "0"


def quick_admits(
    p: Any, q: Any, floats: tuple[Any, ...], same_place: Callable[[Any, Any], bool] | None = None
) -> bool:
    """Whether a default ``kl_divergence(p, q)`` may take a backend's quick path.

    Both of one dtype among ``floats`` (float32 and float64, in native byte
    order), of one shape with at least one axis, in one place (``same_place``:
    the device or sharding; ``None`` for libraries with one place), and fast
    paths on.  Anything else goes the general way, with its checks and errors.

    >>> import numpy as np
    >>> quick_admits(np.ones(2), np.ones(2), (np.float32, np.float64))
    True
    >>> quick_admits(np.ones(2), np.ones(3), (np.float32, np.float64))
    False
    """
    dtype = p.dtype
    return (
        dtype == q.dtype
        and any(dtype == f for f in floats)
        and p.shape == q.shape
        and len(p.shape) > 0
        and (same_place is None or same_place(p, q))
        and fast_paths_enabled()
    )


def seed_kind(
    seed: Any, accepted: str, is_state: Callable[[Any], bool], integers: tuple[type, ...] = (int,)
) -> str:
    """``"int"`` for an integer seed (of ``integers``), ``"state"`` for the library's own random state
    (``is_state``), else ``TypeError``: "seed must be an int or ``accepted``".

    ``True`` and ``False`` are refused (they are ints to Python, never meant as seeds).

    >>> seed_kind(3, "a generator", lambda s: False)
    'int'
    >>> seed_kind(True, "a generator", lambda s: False)
    Traceback (most recent call last):
    ...
    TypeError: seed must be an int or a generator; got bool
    """
    if not isinstance(seed, bool):
        if isinstance(seed, integers):
            return "int"
        if is_state(seed):
            return "state"
    raise TypeError(f"seed must be an int or {accepted}; got {type(seed).__name__}")
