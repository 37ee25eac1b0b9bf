"""JAX's kernel for rows of logits (``Backend.logits_rows``), with a ``custom_jvp``.

JAX is imported inside the functions (only once its arrays have arrived).  The
generic block functions come from the math (``generic``).
"""

from __future__ import annotations

import functools
from typing import Any

from kl_backends._lib.arrays import prepare_block

__all__ = ["logits_rows"]

#
# A ``jax.custom_jvp`` around the generic block functions that the math hands
# down (``generic``: ``kl_backends._math.logits``).  The whole ``[N, V]`` array is one block (XLA
# fuses the elementwise work into the row reductions).  The rule gives the
# tangent ``sum(ga * da) + sum(gb * db)`` per row from the closed-form
# gradients of ``backward_block`` (for KL wrt the second argument
# ``(softmax(b/T) - softmax(a/T)) / T``), inside ``jax.checkpoint``: reverse
# mode keeps the inputs, the per-row values and the row log-sum-exps, and
# recomputes the gradients in the backward pass (no ``[N, V]`` intermediate of
# the forward is kept; XLA drops the gradient nobody uses).  Every transform
# works: ``grad``, ``jvp``/``jacfwd``, ``vmap``, and higher orders
# (``jax.hessian``), the rule being plain ``jax.numpy`` that JAX differentiates
# again.  float16/bfloat16 are computed in float32 and the gradients returned
# in the inputs' dtype.  Eager calls go through one cached ``jax.jit``.


@functools.cache
def _logits_rows_fn(generic: Any) -> Any:
    import jax
    import jax.numpy as jnp

    def prep(x: Any, spec: Any) -> Any:
        return prepare_block(jnp, x, spec.work, None, spec.temperature)

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
    def rows(be: Any, spec: Any, a: Any, b: Any) -> Any:
        return generic.forward_block(be, spec.kind, spec.beta, prep(a, spec), prep(b, spec))

    @rows.defjvp
    def rows_jvp(be: Any, spec: Any, primals: Any, tangents: Any) -> Any:
        a, b = primals
        kind, beta, work = spec.kind, spec.beta, spec.work
        vals, lse_a, lse_b = generic.forward_block(
            be, kind, beta, prep(a, spec), prep(b, spec), with_lse=True
        )

        def tangent(a: Any, b: Any, vals: Any, lse_a: Any, lse_b: Any, da: Any, db: Any):
            # Its residuals are its inputs (checkpoint): the gradients are recomputed.
            g = jnp.ones(vals.shape, work)
            if spec.temperature is not None:
                g = g / spec.temperature
            ga, gb = generic.backward_block(
                be, kind, beta, prep(a, spec), prep(b, spec), vals, g, (True, True), (lse_a, lse_b)
            )
            return jnp.sum(ga * da.astype(work), axis=-1) + jnp.sum(gb * db.astype(work), axis=-1)

        da, db = tangents
        return vals, jax.checkpoint(tangent)(a, b, vals, lse_a, lse_b, da, db)

    def masked(be: Any, spec: Any, a: Any, b: Any, mask: Any) -> Any:
        if mask is None:
            return rows(be, spec, a, b)
        a, b = prepare_block(jnp, a, mask=mask), prepare_block(jnp, b, mask=mask)
        vals = rows(be, spec, a, b)
        return jnp.where(mask, vals, jnp.zeros((), vals.dtype))

    return masked


@functools.lru_cache(maxsize=128)
def _logits_rows_jitted(be: Any, spec: Any, generic: Any) -> Any:
    import jax

    return jax.jit(functools.partial(_logits_rows_fn(generic), be, spec))


def logits_rows(be: Any, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
    """Per-row values of ``spec`` between ``[N, V]`` logits: traced, or one cached ``jax.jit``."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    if isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer):
        return _logits_rows_fn(generic)(be, spec, a, b, mask)
    spec = dataclasses.replace(spec, work=jnp.dtype(spec.work))  # one cache key per dtype
    return _logits_rows_jitted(be, spec, generic)(a, b, mask)
