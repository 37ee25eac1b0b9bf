"""Per-token quantities of two batches of logits: pure array functions (no value read).

Definitions as llama.cpp's ``tools/perplexity/perplexity.cpp`` (``log_softmax`` with
``kl_divergence_result``, and ``kl_divergence``), with the KL computed exactly here:

* top-1 agreement: ``argmax(base) == argmax(other)``, the first maximum on ties
  (``if (logits[i] > max_logit)``);
* the probability change ``p_other(t) - p_base(t)`` of the token ``t`` (llama.cpp: the
  next token of the text, ``p_diff = p - p_base``), and its square for the RMS.
"""

from __future__ import annotations

import math
from typing import Any

from kl_backends import _dispatch
from kl_backends._lib.arrays import logsumexp, temper

__all__ = ["mask_of", "take", "token_stats"]


def take(xp: Any, x: Any, tok: Any, ids: Any) -> Any:
    """``x[..., tok]`` per position (``ids``: ``arange(V)`` of ``tok``'s dtype); an id
    outside it reads id 0 (the caller makes it NaN).  ``take_along_axis``, or where the
    namespace has none (kl_backends' TensorFlow adapter) a comparison with ``ids``."""
    if hasattr(xp, "take_along_axis"):
        vocab = x.shape[-1]
        safe = xp.where((tok >= 0) & (tok < vocab), tok, xp.zeros_like(tok))
        return xp.take_along_axis(x, xp.expand_dims(safe, axis=-1), axis=-1)[..., 0]
    hit = xp.expand_dims(tok, axis=-1) == ids
    return xp.sum(xp.where(hit, x, xp.zeros_like(x)), axis=-1)


def token_stats(
    xp: Any, dtype: Any, device: Any, b: Any, o: Any, temperature: Any, targets: Any
) -> tuple[Any, Any]:
    """``(delta_p, same)`` per position ``[...]`` of logits ``b`` and ``o`` ``[..., V]``.

    ``targets`` (ids ``[...]``, or ``None`` for the base model's top token); an id
    outside ``[0, V)`` gives NaN.  ``delta_p`` in ``dtype``; ``same`` boolean.
    """
    vocab = b.shape[-1]
    tb, to = temper(xp, b, temperature, device), temper(xp, o, temperature, device)
    top_b, top_o = xp.argmax(b, axis=-1), xp.argmax(o, axis=-1)
    ids = xp.arange(vocab, device=device)
    top_b = xp.astype(top_b, ids.dtype)
    same = top_b == xp.astype(top_o, ids.dtype)
    if targets is None:
        tok = top_b
        log_pb = xp.max(tb, axis=-1) - logsumexp(xp, tb, keepdims=False)
    else:
        tok = xp.astype(targets, ids.dtype)
        log_pb = take(xp, tb, tok, ids) - logsumexp(xp, tb, keepdims=False)
    log_po = take(xp, to, tok, ids) - logsumexp(xp, to, keepdims=False)
    dp = xp.astype(xp.exp(log_po), dtype) - xp.astype(xp.exp(log_pb), dtype)
    if targets is not None:
        in_range = (tok >= 0) & (tok < vocab)
        dp = xp.where(in_range, dp, xp.zeros_like(dp) + math.nan)
    return dp, same


def mask_of(be: Any, like: Any, where: Any, shape: tuple[int, ...], name: str) -> Any:
    """The bool mask ``[shape]`` of the counted tokens (``like``: an array of that shape).

    Raises ``TypeError`` for a ``where`` that is not boolean or of another library,
    ``ValueError`` for one that does not broadcast or lives on another device.
    """
    xp = be.xp
    if where is None:
        return xp.zeros_like(like) == 0
    _, (_, mask) = _dispatch.resolve(like, where, names=(name, "where"))
    if not xp.isdtype(mask.dtype, "bool"):
        raise TypeError(f"where must be a boolean array; got dtype {mask.dtype}")
    try:
        return xp.broadcast_to(mask, shape)
    except Exception as exc:
        raise ValueError(
            f"where of shape {tuple(mask.shape)} does not broadcast to {name}'s "
            f"batch shape {tuple(shape)}"
        ) from exc
