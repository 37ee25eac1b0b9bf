"""The ``torch.autograd.Function`` of the PyTorch backend (``backends/torch.py``).

It lives in a module of its own for one reason: it must be defined at import
time (``torch.compile`` cannot trace a class definition, should the first call
come from compiled code), and this module imports torch, so
``backends/torch.py`` imports it only once a tensor has arrived.  What it
computes (the forward, the exact backward and ``jvp``) is in
``backends/torch.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from kl_backends.backends import torch as kernels

__all__ = ["EagerKL"]


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
