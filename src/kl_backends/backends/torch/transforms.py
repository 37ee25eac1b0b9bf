"""PyTorch's derivative transforms, as the checks of derivatives call them.

``grad`` (reverse mode, optionally ``torch.compile``-d), ``hessian``, ``jvp`` (forward
mode) and ``vmap_value_and_grad`` (``torch.func``).  Importing this module imports no
framework.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["grad", "hessian", "jvp", "vmap_value_and_grad"]


def grad(
    fn: Callable[..., Any], args: Sequence[Any], wrt: Sequence[int], compiled: bool = False
) -> list[Any]:
    """Gradients of ``sum(fn(*args))`` with respect to ``args[i]`` for ``i`` in ``wrt``.

    Only those arguments require a gradient (a custom backward sees the others as
    constants).
    """
    import torch

    xs = [a.detach().clone().requires_grad_(i in wrt) for i, a in enumerate(args)]
    call = torch.compile(fn, fullgraph=True, dynamic=False) if compiled else fn
    torch.sum(call(*xs)).backward()
    return [xs[i].grad for i in wrt]


def hessian(f: Callable[[Any], Any], x: Any) -> Any:
    import torch

    return torch.autograd.functional.hessian(f, x).detach()


def jvp(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    import torch

    return torch.func.jvp(f, (x,), (v,))[1].detach()


def vmap_value_and_grad(f: Callable[[Any], Any], xs: Any) -> tuple[Any, Any]:
    import torch

    fn = torch.func
    return fn.vmap(f)(xs).detach(), fn.vmap(fn.grad(f))(xs).detach()
