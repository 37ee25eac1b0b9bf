"""Hand-written Triton kernels for PyTorch tensors on CUDA devices.

``probs`` (the probabilities KL, values and gradients) and ``logits`` (rows
of logits: KL, generalised JSD, cross-entropy, with their gradients), each
with its ``autograd.Function`` beside it.  Triton is an optional extra
(``pip install kl_backends[triton]``): nothing here imports it until a CUDA
tensor arrives (``use``), and without it the generic code runs.

``force()`` runs the kernels on CPU tensors too, for Triton's interpreter
(``TRITON_INTERPRET=1``, set before Triton is imported): that is how they are
tested without a GPU.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

__all__ = ["force", "use"]

_FORCED = False


@functools.cache
def _importable() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def use(x: Any) -> bool:
    """Whether the Triton kernels take ``x``: on a CUDA device (or with ``force()``),
    Triton importable.  Compiled code and ``torch.func`` transforms are the caller's
    to exclude."""
    return (_FORCED or x.device.type == "cuda") and _importable()


@contextlib.contextmanager
def force() -> Iterator[None]:
    """Within it, the kernels run on tensors of any device (tests, under the interpreter)."""
    global _FORCED
    before, _FORCED = _FORCED, True
    try:
        yield
    finally:
        _FORCED = before
