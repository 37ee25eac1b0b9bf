"""TensorFlow's probabilities kernel and its ``tf.custom_gradient``.

For small eager tensors ``xlogy(p, p) - xlogy(p, q)``; otherwise
``multiply_no_nan(log(p / q), p)`` (0 where ``p == 0``, as fast as the naive
formula), the rows it cannot be trusted with (NumPy's rule) recomputed by the
generic code under ``tf.cond``, and a ``tf.custom_gradient`` giving the exact
derivatives.  Imported once a tensor has arrived (it imports TensorFlow).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from kl_backends._lib.policy import EXACT_BELOW, SMALL
from kl_backends.backends.tensorflow.adapter import _finfo

__all__ = ["kl_last_axis"]


def kl_last_axis(p: Any, q: Any, rows: Any) -> Any:
    """The sums of ``p log(p / q)`` over the last axis; ``rows(p, q)``: the generic code."""
    if p.shape[-1] == 0:
        return tf.reduce_sum(p, axis=-1)
    size = p.shape.num_elements()
    if size is not None and size <= SMALL and tf.executing_eagerly():
        return _small(p, q, rows)
    return _kl(p, q, rows)


def _small(p: Any, q: Any, exact: Any) -> Any:
    """Small eager tensors: ``xlogy(p, p) - xlogy(p, q)``, two kernels fewer than ``_kl``
    and no custom gradient (TensorFlow's own ``xlogy`` gradients are exact); ``rel_entr``'s
    conventions built in, no ratio to overflow.  Nearly equal float64 rows (cancellation
    between the two logs) go to ``exact``, PyTorch's rule (``backends/torch/kernels.py``)."""
    a, b = tf.math.xlogy(p, p), tf.math.xlogy(p, q)
    sums = tf.reduce_sum(a - b, axis=-1)
    if p.dtype != tf.float64:
        return sums
    bad = tf.abs(sums) < 2.0**-52 * 1e12 * tf.reduce_sum(tf.abs(a) + tf.abs(b), axis=-1)
    if bool(tf.reduce_any(bad)):
        sums = tf.where(bad, exact(p, q), sums)
    return sums


def _kl(p: Any, q: Any, exact: Any) -> Any:
    @tf.custom_gradient
    def kl(p: Any, q: Any) -> Any:
        # multiply_no_nan(x, y) is 0 where y == 0, even for x = -inf or NaN: the zero
        # fix in the multiply itself, as fast as the naive formula.
        sums = tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p / q), p), axis=-1)
        # A negative q is all the sign check needs (numpy.py's rule): a negative p gives a
        # NaN or infinite term otherwise.  A comparison, as reduce_min would let a NaN
        # (zeroed under p == 0) hide a negative q.
        bad = tf.logical_not(tf.math.is_finite(sums)) | tf.reduce_any(q < 0, axis=-1)
        if "CPU" not in (p.device or ""):
            # A ratio below the normal range loses digits where subnormals are kept
            # (GPUs keep float64 ones): max(p / tiny, 1) < q, an exact scaling (it also
            # takes p == 0 under q > 1, unnormalised, to the generic code).  TensorFlow's
            # CPU kernels flush such a ratio to 0: a -inf term, a non-finite sum.
            scaled = tf.maximum(p * (1 / float(_finfo(p.dtype).tiny)), tf.ones((), p.dtype))
            bad = bad | tf.reduce_any(scaled < q, axis=-1)
        if p.dtype == tf.float64:
            bad = bad | (tf.abs(sums) < EXACT_BELOW * tf.reduce_sum(p, axis=-1))
        # The rows the fast form cannot be trusted with (numpy.py's rule) from the
        # generic code; tf.cond runs one branch, so it costs nothing until one needs it.
        value = tf.cond(tf.reduce_any(bad), lambda: tf.where(bad, exact(p, q), sums), lambda: sums)

        def grad(g: Any) -> Any:
            zero = tf.equal(p, 0)
            nought = tf.zeros((), p.dtype)
            one = tf.ones((), p.dtype)
            p_s, q_s = tf.where(zero, one, p), tf.where(zero, one, q)
            ratio = p_s / q_s
            # log p - log q where the ratio leaves the normal range (flushed to 0 on CPU:
            # log(p / q) would be -inf for p = 1e-300, q = 1e15).
            normal = (ratio >= _finfo(p.dtype).tiny) & (ratio < float("inf"))
            log_ratio = tf.where(normal, tf.math.log(ratio), tf.math.log(p_s) - tf.math.log(q_s))
            g = tf.expand_dims(g, -1)
            return (
                tf.where(zero, nought, log_ratio + 1) * g,
                tf.where(zero, nought, -ratio) * g,
            )

        return value, grad

    return kl(p, q)
