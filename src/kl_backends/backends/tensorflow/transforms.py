"""TensorFlow's derivative transforms, as the checks of derivatives call them.

``grad`` (``tf.GradientTape``, optionally inside ``tf.function``), ``hessian`` (a
tape's jacobian of a tape's gradient), ``jvp`` (``tf.autodiff.ForwardAccumulator``) and
``vmap_value_and_grad`` (``tf.vectorized_map``).  Importing this module imports no
framework.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kl_backends.backends.tensorflow import adapter

__all__ = ["grad", "hessian", "jvp", "vmap_value_and_grad"]


def grad(
    fn: Callable[..., Any], args: Sequence[Any], wrt: Sequence[int], compiled: bool = False
) -> list[Any]:
    """Gradients of ``sum(fn(*args))`` with respect to ``args[i]`` for ``i`` in ``wrt``."""
    tf = adapter._load()

    def g(*xs: Any) -> Any:
        with tf.GradientTape() as tape:
            for i in wrt:
                tape.watch(xs[i])
            y = tf.reduce_sum(fn(*xs))
        return tape.gradient(y, [xs[i] for i in wrt])

    # A gather's gradient is sparse (IndexedSlices): dense, as the other libraries give.
    return [tf.convert_to_tensor(x) for x in (tf.function(g) if compiled else g)(*args)]


def hessian(f: Callable[[Any], Any], x: Any) -> Any:
    tf = adapter._load()
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x)
    return outer.jacobian(g, x)


def jvp(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    tf = adapter._load()
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        y = f(x)
    return acc.jvp(y)


def vmap_value_and_grad(f: Callable[[Any], Any], xs: Any) -> tuple[Any, Any]:
    tf = adapter._load()

    def value_and_grad(x: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return y, tape.gradient(y, x)

    return tf.vectorized_map(value_and_grad, xs)
