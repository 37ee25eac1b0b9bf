"""JAX's ``Backend.custom_vjp``: a forward and backward handed down by the math as one
``jax.custom_vjp`` function.

JAX is imported inside the function (only once its arrays have arrived).  The
forward rule cannot tell which inputs will be differentiated (``need`` is
``None``): it keeps the inputs and the math's residuals, and the backward
computes every gradient (under ``jax.jit`` XLA drops those nobody uses).
Without differentiation the primal function runs the forward alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["custom_vjp"]


def custom_vjp(forward: Callable[..., Any], backward: Callable[..., Any]) -> Callable[..., Any]:
    """``forward``'s output as a function of the arrays, with ``backward`` as its gradient."""
    import jax

    @jax.custom_vjp
    def call(*arrays: Any) -> Any:
        return forward(tuple(False for _ in arrays), *arrays)[0]

    def fwd(*arrays: Any) -> Any:
        out, residuals = forward(None, *arrays)
        return out, (arrays, tuple(residuals))

    def bwd(saved: Any, g: Any) -> tuple[Any, ...]:
        arrays, residuals = saved
        return tuple(backward(None, arrays, residuals, g))

    call.defvjp(fwd, bwd)
    return call  # type: ignore[no-any-return]
