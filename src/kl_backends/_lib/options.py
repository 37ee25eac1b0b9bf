"""Frozen records of a call's options, handed down instead of positional tuples.

They are hashable (JAX's compiled functions are cached by them) and traced as
constants by ``torch.compile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["KLOptions", "RowSpec"]


@dataclass(frozen=True)
class RowSpec:
    """What a kernel computes for rows of logits (``Backend.logits_rows``).

    ``kind``: ``"kl"``, ``"ce"`` or ``"js"``; ``beta``: the generalised JSD's
    weight (a float, or ``None`` for the ordinary JSD; kernels never get an
    array); ``temperature``: a float or ``None`` (an array one is applied
    before the kernel); ``work``: the dtype the blocks are computed in;
    ``cotangent``: the cotangent every row receives when the call's reduced result
    is differentiated with a cotangent of 1 (``"sum"``: 1, ``"mean"`` of ``N``
    rows without a mask: ``1/N``; otherwise ``None``).  A kernel that computes the
    gradients in its forward may scale them by it there, and skip its backward's
    multiplication when the cotangent that arrives equals it.

    >>> RowSpec("kl", None, 2.0, "float32").temperature
    2.0
    """

    kind: str
    beta: Any
    temperature: Any
    work: Any
    cotangent: float | None = None


@dataclass(frozen=True)
class KLOptions:
    """The options of ``kl_divergence`` on probabilities or log-probabilities, and of
    ``kl_from_densities``: what the (possibly compiled) body needs besides the arrays.

    ``inputs``: ``"probs"``, ``"log_probs"`` or ``"logits"``; ``axes``: the
    event axes (sorted, non-negative); ``keepdims``, ``reduction``;
    ``log_base``: ``log(base)``, or ``None`` for nats; ``normalize``: each
    density divided by its integral first (``kl_from_densities``; False for
    ``kl_divergence``).

    >>> KLOptions("probs", (1,), False, "none", None, False).axes
    (1,)
    """

    inputs: str
    axes: tuple[int, ...]
    keepdims: bool
    reduction: str
    log_base: float | None
    normalize: bool
