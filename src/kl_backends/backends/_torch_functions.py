"""The ``torch.autograd.Function`` classes of the PyTorch backend (``backends/torch.py``).

They live in a module of their own for one reason: ``torch.compile`` cannot
trace a class definition, so they must be created by an import, and this
module imports torch, so ``backends/torch.py`` imports it only once a tensor
has arrived.  What they compute (forwards, the exact backward and ``jvp``) is
in ``backends/torch.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from kl_backends.backends import torch as kernels

__all__ = ["EagerKL", "FusedKL", "TransformedKL"]


class EagerKL(torch.autograd.Function):
    """``_eager_sum`` forward, exact backward (used when a gradient is wanted)."""

    @staticmethod
    def forward(p: Any, q: Any, exact: Any) -> Any:
        return kernels._eager_sum(p, q, exact)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        kernels._setup_context(ctx, inputs[:2], output)

    @staticmethod
    def backward(ctx: Any, g: Any) -> tuple[Any, Any, None]:
        return (*kernels._backward(ctx, g), None)

    @staticmethod
    def jvp(ctx: Any, dp: Any, dq: Any, _: Any) -> Any:
        return kernels._jvp(ctx, dp, dq)


class FusedKL(torch.autograd.Function):
    """One select-free loop that Inductor fuses (torch.compile: no ``jvp``, which Dynamo
    cannot trace)."""

    @staticmethod
    def forward(p: Any, q: Any) -> Any:
        return kernels._fused_sum(p, q)

    setup_context = staticmethod(kernels._setup_context)
    backward = staticmethod(kernels._backward)


class TransformedKL(FusedKL):
    """``FusedKL`` for ``torch.func`` transforms: batched by functorch, with a ``jvp`` for
    forward mode (``jacfwd``, ``hessian``)."""

    generate_vmap_rule = True
    jvp = staticmethod(kernels._jvp)
