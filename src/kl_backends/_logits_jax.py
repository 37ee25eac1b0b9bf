"""JAX rows of logits: a ``jax.custom_vjp`` around the generic block functions.

Imported only when a JAX array arrives.  The whole ``[N, V]`` array is one
block (XLA fuses the elementwise work into the row reductions); the forward
keeps the inputs and the per-row values as residuals, and the backward is the
closed form of ``kl_backends._math.logits.backward_block`` (for KL wrt the
second argument: ``softmax(b/T) - softmax(a/T)`` per row, scaled by the row
cotangent and ``1/T``), so no ``[N, V]`` intermediate of the forward is
kept.  float16/bfloat16 are computed in float32 and the gradients returned in
the inputs' dtype.  Eager calls go through one cached ``jax.jit``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from kl_backends._math import logits as _logits


def _prep(x: Any, temperature: Any, work: Any) -> Any:
    x = x.astype(work)
    return x if temperature is None else x / temperature


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _rows(kind: str, beta: Any, temperature: Any, work: Any, a: Any, b: Any) -> Any:
    return _logits.forward_block(
        jnp, kind, beta, _prep(a, temperature, work), _prep(b, temperature, work)
    )


def _rows_fwd(kind: str, beta: Any, temperature: Any, work: Any, a: Any, b: Any) -> Any:
    vals, lse_a, lse_b = _logits.forward_block(
        jnp, kind, beta, _prep(a, temperature, work), _prep(b, temperature, work), with_lse=True
    )
    return vals, (a, b, vals, lse_a, lse_b)


def _rows_bwd(kind: str, beta: Any, temperature: Any, work: Any, res: Any, g: Any) -> Any:
    a, b, vals, lse_a, lse_b = res
    g = g.astype(work)
    if temperature is not None:
        g = g / temperature
    ga, gb = _logits.backward_block(
        jnp,
        kind,
        beta,
        _prep(a, temperature, work),
        _prep(b, temperature, work),
        vals,
        g,
        (True, True),  # XLA drops the unused one
        (lse_a, lse_b),
    )
    return ga.astype(a.dtype), gb.astype(b.dtype)


_rows.defvjp(_rows_fwd, _rows_bwd)


def _masked(kind: str, beta: Any, temperature: Any, work: Any, a: Any, b: Any, mask: Any) -> Any:
    if mask is None:
        return _rows(kind, beta, temperature, work, a, b)
    keep = mask[:, None]
    a = jnp.where(keep, a, jnp.zeros((), a.dtype))
    b = jnp.where(keep, b, jnp.zeros((), b.dtype))
    vals = _rows(kind, beta, temperature, work, a, b)
    return jnp.where(mask, vals, jnp.zeros((), vals.dtype))


@functools.lru_cache(maxsize=128)
def _jitted(kind: str, beta: Any, temperature: Any, work: Any) -> Any:
    return jax.jit(functools.partial(_masked, kind, beta, temperature, work))


def rows(kind: str, beta: Any, a: Any, b: Any, mask: Any, temperature: Any, work: Any) -> Any:
    """Per-row values ``[N]`` (dtype ``work``) of ``[N, V]`` arrays, custom gradient."""
    if isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer):
        return _masked(kind, beta, temperature, work, a, b, mask)
    return _jitted(kind, beta, temperature, jnp.dtype(work))(a, b, mask)
