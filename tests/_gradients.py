"""The suite's gradient helper: every autodiff backend through its declared transforms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def grad(
    on: Any, fn: Callable[..., Any], args: list[Any], compiled: bool = False
) -> list[np.ndarray]:
    """Gradient of sum(fn(*args)) with respect to every argument, as float64 NumPy.

    ``on`` is a ``kl_backends.testing.Target`` of a backend with ``autodiff``; its
    ``Backend.transforms`` differentiates (under its compiler with ``compiled``).
    """
    wrt = tuple(range(len(args)))
    return [on.to_numpy(g) for g in on.impl.transforms.grad(fn, args, wrt, compiled)]
