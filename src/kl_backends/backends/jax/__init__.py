"""JAX: recognition, namespace, tracers, the eager jit cache, and the wiring of its hooks.

Nothing here imports JAX until one of its arrays has arrived.  The role
modules: ``kernels`` (the probabilities kernel with its exact ``custom_jvp``),
``logits`` (rows of logits), ``custom`` (``custom_vjp``), ``random`` (PRNG keys) and ``harness`` (x64 mode,
devices, conversions, ``jax.jit``, built-in KLs).  Eager calls go through
``jax.jit`` (one dispatch, one compile per shape, instead of one per
primitive): ``jit`` keeps those compiled functions.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from kl_backends._lib.policy import fast_paths_enabled, quick_admits
from kl_backends.backends._base import Backend, Builtin, native_function
from kl_backends.backends.jax import custom as _custom
from kl_backends.backends.jax import harness as _harness
from kl_backends.backends.jax import kernels as _kernels
from kl_backends.backends.jax import logits as _logits
from kl_backends.backends.jax import random as _random
from kl_backends.backends.jax import transforms as _transforms

__all__ = ["Jax"]


@functools.lru_cache(maxsize=256)
def _jitted(fn: Callable[..., Any], static: tuple[Any, ...], fast: bool) -> Any:
    """``partial(fn, *static)`` under ``jax.jit``; ``fast`` (whether fast paths are on) is
    part of the key, since the trace bakes that choice in."""
    import jax

    return jax.jit(functools.partial(fn, *static))


def _same_sharding(p: Any, q: Any) -> bool:
    return bool(p.sharding == q.sharding)


class Jax(Backend):
    name = module = distribution = extra = "jax"
    array_types = ("Array",)
    dtypes = ("float32", "float64", "float16", "bfloat16")
    compiler = "jax.jit"
    autodiff = True
    transforms = _transforms
    compiled_in_matrix = True
    cost = 6

    def _namespace(self) -> Any:
        import jax.numpy as xp  # JAX's own namespace is array-API compliant

        return xp

    def device(self, x: Any) -> Any:
        try:
            return x.device
        except Exception:  # tracers carry no device
            return None

    def values_unavailable(self, x: Any) -> str | None:
        import jax

        if isinstance(x, jax.core.Tracer):
            return "it is a JAX tracer (inside jax.jit, grad or vmap)"
        return None

    def solve_triangular(self, a: Any, b: Any) -> Any:
        import jax.scipy.linalg

        return jax.scipy.linalg.solve_triangular(a, b, lower=True)

    def kl_last_axis(self, p: Any, q: Any, exact: Any) -> Any:
        return _kernels.kl(exact, self)(p, q)

    def quick(self, p: Any, q: Any, exact: Any) -> Any:
        import numpy as np

        if not quick_admits(p, q, (np.float32, np.float64), _same_sharding):
            return None
        return _kernels.kl_jitted(exact, self)(p, q)

    def logits_rows(self, spec: Any, a: Any, b: Any, mask: Any, generic: Any) -> Any:
        return _logits.logits_rows(self, spec, a, b, mask, generic)

    def stop_gradient(self, x: Any) -> Any:
        import jax

        return jax.lax.stop_gradient(x)

    def custom_vjp(self, forward: Any, backward: Any) -> Any:
        return _custom.custom_vjp(forward, backward)

    def rng(self, seed: Any, like: Any) -> Any:
        """A JAX PRNG key: ``jax.random.key(seed)`` for an int, else the key given."""
        return _random.rng(seed, like)

    def draw(self, state: Any, kind: str, shape: tuple[int, ...], like: Any, *params: Any) -> Any:
        return _random.draw(state, kind, shape, like, *params)

    def special(self, name: str) -> Callable[[Any], Any] | None:
        names = {
            "lgamma": "gammaln",
            "digamma": "digamma",
            "erf": "erf",
            "i0e": "i0e",
            "i1e": "i1e",
        }
        return native_function("jax.scipy.special", names.get(name))

    def jit(self, fn: Callable[..., Any], *static: Any) -> Callable[..., Any]:
        return _jitted(fn, static, fast_paths_enabled())

    # -- harness -----------------------------------------------------------
    def harness(self) -> contextlib.AbstractContextManager[None]:
        """x64 mode (float64 is part of the matrix) while checking, then as it was."""
        return _harness.x64()

    def devices(self) -> list[str]:
        return _harness.devices()

    def asarray(self, a: Any, dtype: str, device: str = "cpu") -> Any:
        return _harness.asarray(a, dtype, device)

    def compile(self, fn: Any, *, convert: bool = True) -> Any:
        return _harness.compile(fn)

    @property
    def builtins(self) -> tuple[Builtin, ...]:
        return _harness.BUILTINS
