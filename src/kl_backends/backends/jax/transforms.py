"""JAX's derivative transforms, as the checks of derivatives call them.

``grad`` (optionally under ``jax.jit``), ``hessian``, ``jvp`` and
``vmap_value_and_grad``.  Importing this module imports no framework.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["grad", "hessian", "jvp", "vmap_value_and_grad"]


def grad(
    fn: Callable[..., Any], args: Sequence[Any], wrt: Sequence[int], compiled: bool = False
) -> list[Any]:
    """Gradients of ``sum(fn(*args))`` with respect to ``args[i]`` for ``i`` in ``wrt``."""
    import jax

    g = jax.grad(lambda *xs: jax.numpy.sum(fn(*xs)), argnums=tuple(wrt))
    return list((jax.jit(g) if compiled else g)(*args))


def hessian(f: Callable[[Any], Any], x: Any) -> Any:
    import jax

    return jax.hessian(f)(x)


def jvp(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    import jax

    return jax.jvp(f, (x,), (v,))[1]


def vmap_value_and_grad(f: Callable[[Any], Any], xs: Any) -> tuple[Any, Any]:
    import jax

    return jax.vmap(f)(xs), jax.vmap(jax.grad(f))(xs)
