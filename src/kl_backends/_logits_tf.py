"""TensorFlow rows of logits: a ``tf.custom_gradient`` around the generic block functions.

Imported only when a TensorFlow tensor arrives.  One block (the whole
``[N, V]`` array); the gradient is the closed form of
``kl_backends._math.logits.backward_block`` from the row log-sum-exps
kept by the forward (eagerly both inputs' gradients are formed; inside
``tf.function`` Grappler prunes the one nobody uses), in float32 for
float16/bfloat16 and returned in the inputs' dtype.  Works eagerly and under
``tf.function``.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from kl_backends import _tensorflow
from kl_backends._math import logits as _logits


def rows(kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any) -> Any:
    """Per-row values ``[N]`` (dtype ``work``) of ``[N, V]`` tensors, custom gradient."""
    xp = _tensorflow.namespace()
    if mask is not None:
        keep = mask[:, None]
        a = tf.where(keep, a, tf.zeros((), a.dtype))
        b = tf.where(keep, b, tf.zeros((), b.dtype))

    def prep(x: Any) -> Any:
        x = tf.cast(x, work)
        return x if temperature is None else x / temperature

    @tf.custom_gradient
    def inner(a: Any, b: Any) -> Any:
        vals, lse_a, lse_b = _logits.forward_block(xp, kind, beta, prep(a), prep(b), with_lse=True)

        def grad(g: Any) -> Any:
            g = tf.cast(g, work)
            if temperature is not None:
                g = g / temperature
            ga, gb = _logits.backward_block(
                xp, kind, beta, prep(a), prep(b), vals, g, (True, True), (lse_a, lse_b)
            )
            return tf.cast(ga, a.dtype), tf.cast(gb, b.dtype)

        return vals, grad

    vals = inner(a, b)
    if mask is not None:
        vals = tf.where(mask, vals, tf.zeros((), vals.dtype))
    return vals
