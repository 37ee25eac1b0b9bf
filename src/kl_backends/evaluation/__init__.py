"""Streaming evaluation: ``KLStats`` and the ``kl-backends compare`` command.

``KLStats`` accumulates per-token KL divergences (or two models' logits) batch by
batch on the batches' device and merges exactly across batches, Dask chunks and
processes; ``KLStats.result()`` gives a ``KLResult`` (count, mean with its standard
error, standard deviation, quantiles, extremes, top-token agreement and the change
of the token's probability, as llama.cpp's ``perplexity --kl-divergence`` reports).
``kl_backends.evaluation.cli`` is ``kl-backends compare BASE OTHER``.
"""

from __future__ import annotations

from kl_backends.evaluation.result import KLResult
from kl_backends.evaluation.stats import DELTA_P_QUANTILES, QUANTILES, KLStats

__all__ = ["DELTA_P_QUANTILES", "QUANTILES", "KLResult", "KLStats"]
