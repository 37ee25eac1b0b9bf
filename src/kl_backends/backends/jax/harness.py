"""JAX for the parity harness: x64 mode, devices, conversions, ``jax.jit``, built-in KLs.

Importing this module imports no framework.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

from kl_backends.backends._base import Builtin

__all__ = ["BUILTINS", "asarray", "compile", "devices", "x64"]


def _jax() -> Any:
    return importlib.import_module("jax")


@contextlib.contextmanager
def x64() -> Iterator[None]:
    """x64 mode (float64 is part of the matrix) while checking, then as it was."""
    jax = _jax()
    before = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def devices() -> list[str]:
    jax = _jax()
    found = ["cpu"]
    try:
        found += [f"gpu:{d.id}" for d in jax.devices("gpu")]
    except RuntimeError:  # no GPU backend
        pass
    return found


def asarray(a: Any, dtype: str, device: str = "cpu") -> Any:
    import numpy as np

    jax = _jax()
    platform, _, index = device.partition(":")
    dev = jax.devices(platform)[int(index or 0)]
    return jax.device_put(jax.numpy.asarray(np.asarray(a, np.float64), dtype=dtype), dev)


def compile(fn: Any) -> Any:
    return _jax().jit(fn)


def _optax_kl(p: Any, q: Any) -> Any:
    import jax.numpy as jnp
    import optax

    # (log_predictions, targets) = (log q, p).
    return optax.losses.kl_divergence(jnp.log(q), p)


def _optax_log_targets(p: Any, q: Any) -> Any:
    import jax.numpy as jnp
    import optax

    return optax.losses.kl_divergence_with_log_targets(jnp.log(q), jnp.log(p))


def _rel_entr(p: Any, q: Any) -> Any:
    import jax.scipy.special as jss

    return jss.rel_entr(p, q).sum(axis=-1)


BUILTINS = (
    Builtin("optax.losses.kl_divergence(log q, p)", "optax", _optax_kl),
    Builtin("optax.losses.kl_divergence_with_log_targets", "optax", _optax_log_targets),
    Builtin("jax.scipy.special.rel_entr(p, q).sum(-1)", "jax", _rel_entr),
)
