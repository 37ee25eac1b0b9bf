"""XLA FFI targets of the C kernels (``backends/_logits_cpu.py``, ``backends/_probs_cpu.py``),
built and registered once per process.  JAX is imported inside the function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ready"]

_registered: set[str] = set()


def ready(target: str, load: Callable[[Any], Any], symbol: str) -> bool:
    """Whether the CPU target ``target`` can be called: ``load(include_dir)`` gives the
    library (built on first use with the wrapper compiled against ``include_dir``, cached;
    ``None`` where it cannot be built or the kernels are turned off), whose handler
    ``symbol`` is registered under ``target`` the first time."""
    import jax

    lib = load(jax.ffi.include_dir())
    if lib is None:
        return False
    if target not in _registered:
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
        _registered.add(target)
    return True
