"""TensorFlow's ``Backend.custom_vjp``: a forward and backward handed down by the math as
one ``tf.custom_gradient`` function; and ``take_rows`` (``tf.gather``, which the
array-API adapter does not have).

Imported once a tensor has arrived (it imports TensorFlow).  The forward
cannot tell whether a tape records it (``need`` is ``None``): it keeps the
math's residuals, and the gradient function computes every gradient
(inside ``tf.function`` Grappler prunes those nobody uses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

__all__ = ["custom_vjp", "take_rows"]


def custom_vjp(forward: Callable[..., Any], backward: Callable[..., Any]) -> Callable[..., Any]:
    """``forward``'s output as a function of the arrays, with ``backward`` as its gradient."""

    def call(*arrays: Any) -> Any:
        @tf.custom_gradient
        def inner(*xs: Any) -> Any:
            out, residuals = forward(None, *xs)

            def grad(g: Any) -> list[Any]:
                return list(backward(None, xs, residuals, g))

            return out, grad

        return inner(*arrays)

    return call


def take_rows(x: Any, ids: Any) -> Any:
    """Rows ``ids`` of ``x`` (its gradient, sparse, is densified by the tape's users)."""
    return tf.gather(x, ids, axis=0)
