"""Logits given otherwise than as one array: the entry point for the wrappers.

``kl_divergence``, ``js_divergence`` and ``cross_entropy`` accept, wherever
logits are accepted (``inputs="logits"``), objects that describe the logits
without holding them:

* a projection ("hidden states times an LM head", ``_math.projection``),
  whose logits are never materialised;
* a cached top-k teacher (token ids and their log-probabilities,
  ``_math.topk``).

Such an object has a class attribute ``_kl_source`` naming its kind
(``"projection"`` or ``"topk"``).  ``divergence`` routes a call with at least
one of them to the module that owns the pair: a top-k side to ``_math.topk``
(which reads a projection student through its ``take`` and
``log_normalizer`` methods), otherwise ``_math.projection``.
"""

from __future__ import annotations

from typing import Any

from kl_backends._lib.args import source_kind

__all__ = ["divergence", "involved", "source_kind"]


def involved(p: Any, q: Any) -> bool:
    """Whether either side is a logits source rather than an array."""
    return source_kind(p) != "dense" or source_kind(q) != "dense"


def divergence(kind: str, p: Any, q: Any, **options: Any) -> Any:
    """``kind`` ("kl", "ce", "js") between two sides, one or both a logits source.

    ``options`` are the public function's keywords (``axis``, ``inputs``,
    ``base``, ``reduction``, ``keepdims``, ``temperature``, ``where``, and
    ``beta`` for ``"js"``).
    """
    kinds = (source_kind(p), source_kind(q))
    if "topk" in kinds:
        from kl_backends._math.topk import divergence as topk_divergence

        return topk_divergence(kind, p, q, **options)
    from kl_backends._math.projection import divergence as projection_divergence

    return projection_divergence(kind, p, q, **options)
