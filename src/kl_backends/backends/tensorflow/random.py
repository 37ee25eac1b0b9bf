"""TensorFlow's random numbers for sampling: stateless seeds and their draws."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from kl_backends._lib.policy import seed_kind

__all__ = ["draw", "rng"]


def rng(seed: Any, like: Any) -> Any:
    """A stateless seed: ``[seed, 0]`` for an int, else the int tensor of shape [2] given."""
    if seed_kind(seed, "a stateless seed of shape [2]", lambda s: True) == "int":
        return tf.constant([seed, 0], tf.int64)
    seed = tf.convert_to_tensor(seed)
    if seed.shape != (2,) or not seed.dtype.is_integer:
        raise TypeError(f"a TensorFlow stateless seed is an int tensor of shape [2]; got {seed!r}")
    return tf.cast(seed, tf.int64)  # [5, 0] as int32 or int64: the same stream


def draw(state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
    """``(numbers, state)``: see ``Backend.draw``."""
    state, key = tf.unstack(tf.random.experimental.stateless_split(state, 2))
    dtype = like.dtype
    r = tf.random
    if kind == "uniform":
        out = r.stateless_uniform(shape, key, dtype=dtype)
    elif kind == "normal":
        out = r.stateless_normal(shape, key, dtype=dtype)
    elif kind == "gamma":  # differentiable in alpha (implicit reparameterisation)
        out = r.stateless_gamma(shape, key, alpha=params[0], dtype=dtype)
    elif kind == "poisson":
        out = r.stateless_poisson(shape, key, lam=params[0], dtype=dtype)
    elif kind == "binomial":
        out = r.stateless_binomial(shape, key, params[0], params[1], output_dtype=dtype)
    else:
        raise ValueError(f"unknown kind of random numbers {kind!r}")
    return out, state
