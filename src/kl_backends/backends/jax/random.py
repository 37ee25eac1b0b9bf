"""JAX's random numbers for sampling: PRNG keys and their draws."""

from __future__ import annotations

from typing import Any

from kl_backends._lib.policy import seed_kind

__all__ = ["draw", "rng"]


def rng(seed: Any, like: Any) -> Any:
    """A JAX PRNG key: ``jax.random.key(seed)`` for an int, else the key given."""
    import jax

    def is_key(s: Any) -> bool:
        return isinstance(s, jax.Array)

    if seed_kind(seed, "a JAX PRNG key", is_key) == "state":
        return seed
    return jax.random.key(seed)


def draw(state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
    """``(numbers, new key)``: see ``Backend.draw``."""
    import jax

    state, key = jax.random.split(state)
    dtype = like.dtype
    if kind == "uniform":
        out = jax.random.uniform(key, shape, dtype)
    elif kind == "normal":
        out = jax.random.normal(key, shape, dtype)
    elif kind == "gamma":  # differentiable in alpha (implicit reparameterisation)
        out = jax.random.gamma(key, params[0], shape, dtype)
    elif kind == "poisson":
        out = jax.random.poisson(key, params[0], shape).astype(dtype)
    elif kind == "binomial":
        out = jax.random.binomial(key, params[0], params[1], shape, dtype)
    else:
        raise ValueError(f"unknown kind of random numbers {kind!r}")
    return out, state
