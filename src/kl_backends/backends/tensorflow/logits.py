"""TensorFlow's kernels for rows of logits (``Backend.logits_rows``), with ``tf.custom_gradient``.

Imported once a tensor has arrived (it imports TensorFlow).  The generic block
functions come from the math (``generic``).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from kl_backends._lib.arrays import prepare_block

__all__ = ["logits_rows"]


def _fused_kl_ce(kind: str, prep: Any, a: Any, b: Any, temperature: Any, work: Any) -> Any:
    """KL and cross-entropy rows from TensorFlow's fused ``log_softmax``/``softmax`` kernels.

    (TF runs each op as a pass over memory: the generic form's safe substitutions
    cost a pass each.)  ``where(p == 0, 0, x) * p`` is 0 where ``p == 0``, whatever
    ``x`` is (``-inf`` logits on both sides), and ``p * inf = inf`` where only the
    second side is ``-inf``; unlike ``multiply_no_nan`` its derivative (which a
    nested ``GradientTape`` takes for second derivatives) holds no ``0 * inf``.  One difference from the generic code: where
    ``exp(lp)`` underflows to 0 but ``lq == -inf`` the term is 0, not ``+inf``.
    Backward: ``(softmax(b) - softmax(a)) g / T`` for the second input; for the
    first ``p (lp - lq - KL)`` (KL) or ``-p (lq + H)`` (cross-entropy).
    """
    zero = tf.zeros((), work)

    @tf.custom_gradient
    def inner(a: Any, b: Any) -> Any:
        lp = tf.nn.log_softmax(prep(a))
        lq = tf.nn.log_softmax(prep(b))
        p = tf.exp(lp)
        # 0 where p == 0 (a select, not multiply_no_nan): its derivative, which a nested
        # tape takes (second derivatives), sends no 0 * inf into the logits either.
        if kind == "kl":
            vals = tf.reduce_sum(tf.where(p == 0, zero, lp - lq) * p, axis=-1)
        else:
            vals = -tf.reduce_sum(tf.where(p == 0, zero, lq) * p, axis=-1)

        def grad(g: Any) -> Any:
            g = tf.cast(g, work)
            if temperature is not None:
                g = g / temperature
            g = g[:, None]
            pa = tf.nn.softmax(prep(a))
            gb = (tf.nn.softmax(prep(b)) - pa) * g
            lqb = tf.nn.log_softmax(prep(b))
            if kind == "kl":
                inner_a = tf.nn.log_softmax(prep(a)) - lqb - vals[:, None]
            else:
                inner_a = -(lqb + vals[:, None])
            ga = tf.where(pa == 0, zero, inner_a) * pa * g
            return tf.cast(ga, a.dtype), tf.cast(gb, b.dtype)

        return vals, grad

    return inner(a, b)


# A ``tf.custom_gradient`` around the generic block functions that the math
# hands down (``generic``: ``kl_backends._math.logits``): one block (the whole ``[N, V]`` array); the
# gradient is the closed form of ``backward_block`` from the row log-sum-exps
# kept by the forward (eagerly both inputs' gradients are formed; inside
# ``tf.function`` Grappler prunes the one nobody uses), in float32 for
# float16/bfloat16 and returned in the inputs' dtype.


def logits_rows(be: Any, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
    kind, beta, temperature, work = spec.kind, spec.beta, spec.temperature, spec.work
    xp = be.xp
    if mask is not None:
        a, b = prepare_block(xp, a, mask=mask), prepare_block(xp, b, mask=mask)

    def prep(x: Any) -> Any:
        return prepare_block(xp, x, work, None, temperature)

    if kind in ("kl", "ce"):
        vals = _fused_kl_ce(kind, prep, a, b, temperature, work)
        if mask is not None:
            vals = tf.where(mask, vals, tf.zeros((), vals.dtype))
        return vals

    @tf.custom_gradient
    def inner(a: Any, b: Any) -> Any:
        vals, lse_a, lse_b = generic.forward_block(be, kind, beta, prep(a), prep(b), with_lse=True)

        def grad(g: Any) -> Any:
            g = tf.cast(g, work)
            if temperature is not None:
                g = g / temperature
            ga, gb = generic.backward_block(
                be, kind, beta, prep(a), prep(b), vals, g, (True, True), (lse_a, lse_b)
            )
            return tf.cast(ga, a.dtype), tf.cast(gb, b.dtype)

        return vals, grad

    vals = inner(a, b)
    if mask is not None:
        vals = tf.where(mask, vals, tf.zeros((), vals.dtype))
    return vals
