"""PyTorch custom operators of the PyTorch backend.

Defined at import time, like the ``autograd.Function`` classes: the backend
imports this module only once a tensor has arrived.
"""

from __future__ import annotations

import torch

__all__ = ["raise_error"]

_KINDS = {"ValueError": ValueError, "TypeError": TypeError}


@torch.library.custom_op("kl_backends::raise_error", mutates_args=())
def raise_error(x: torch.Tensor, kind: str, message: str) -> torch.Tensor:
    """Raise ``kind(message)`` (``ValueError`` or ``TypeError``) when it runs.

    Compiled code holds it where kl_backends must refuse a call that it can only
    see is wrong while tracing: ``torch.compile(fullgraph=True)`` turns any
    exception raised while tracing into ``torch._dynamo.exc.Unsupported``, while
    an operator's exception reaches the caller as it is.  ``x`` (detached)
    orders it before the computation that uses its 0-d zero result.
    """
    raise _KINDS[kind](message)


@raise_error.register_fake
def _(x: torch.Tensor, kind: str, message: str) -> torch.Tensor:
    return x.new_zeros(())
