"""PyTorch's ``Backend.custom_vjp``: a forward and backward handed down by the math as one
``torch.autograd.Function``.

This module imports torch and defines the Function when it is imported
(``torch.compile`` cannot trace a class statement); the backend imports it
once a tensor has arrived.  The forward is told which inputs need a gradient
(``requires_grad`` under grad mode); its residuals travel as extra outputs,
marked non-differentiable, and are saved with the inputs for the backward.
Second derivatives (``create_graph=True``) are refused: the backward is a
closed form, not a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["CustomVJP", "custom_vjp"]


class CustomVJP(torch.autograd.Function):
    """``forward(need, *arrays) -> (output, residuals)``; ``backward(need, arrays,
    residuals, g) -> gradients``; both given in ``fns``."""

    @staticmethod
    def forward(fns: Any, need: tuple[bool, ...], *arrays: Any) -> Any:
        out, residuals = fns[0](need, *arrays)
        return (out, *residuals)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        fns, need, *arrays = inputs
        residuals = output[1:]
        ctx.mark_non_differentiable(*residuals)
        ctx.save_for_backward(*arrays, *residuals)
        ctx.fns, ctx.need, ctx.count = fns, need, len(arrays)
        ctx.set_materialize_grads(False)  # no zero cotangents for the residuals

    @staticmethod
    def backward(ctx: Any, g: Any, *_residuals: Any) -> tuple[Any, ...]:
        if torch.is_grad_enabled() and not torch.compiler.is_compiling():
            raise NotImplementedError(
                "second derivatives (create_graph=True) through a ProjectedLogits are not "
                "supported: its gradient is a closed form"
            )
        saved = ctx.saved_tensors
        if g is None:
            return (None, None) + (None,) * ctx.count
        grads = ctx.fns[1](ctx.need, saved[: ctx.count], saved[ctx.count :], g)
        return (None, None, *grads)


def custom_vjp(forward: Callable[..., Any], backward: Callable[..., Any]) -> Callable[..., Any]:
    """``forward``'s output as a function of the arrays, with ``backward`` as its gradient."""

    def call(*arrays: Any) -> Any:
        on = torch.is_grad_enabled()
        need = tuple(bool(on and x.requires_grad) for x in arrays)
        if not any(need):
            return forward(need, *arrays)[0]
        return CustomVJP.apply((forward, backward), need, *arrays)[0]

    return call
