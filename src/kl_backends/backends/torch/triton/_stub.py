"""What the kernel modules see of Triton when it is not installed: enough to define
(not run) their kernels, so that the modules import and their documentation is read."""

from __future__ import annotations

from typing import Any

__all__ = ["constexpr", "jit"]


def constexpr(value: Any) -> Any:
    return value


def jit(fn: Any) -> Any:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("the Triton kernels need triton: pip install 'kl_backends[triton]'")

    return missing
