"""The ``--plot`` of ``kl-backends compare``: KL histogram and CDF (matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_kl"]


def plot_kl(stats: Any, path: str, title: str) -> None:
    """Write a PNG: the KL histogram (log-spaced bins) and its empirical CDF.

    From the kept values where ``stats`` kept them, else from the sketch's buckets
    (each bucket at its representative value); KL values of at most the sketch's
    ``min_value`` (identical distributions) are counted in the title, not drawn on
    the logarithmic axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values, weights, floor = _distribution(stats)
    keep = values > floor
    zeros = int(weights[~keep].sum())
    values, weights = values[keep], weights[keep]
    fig, (ax_h, ax_c) = plt.subplots(1, 2, figsize=(10, 4))
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        bins = np.geomspace(lo, hi * (1 + 1e-9), 60) if hi > lo else np.array([lo * 0.9, lo * 1.1])
        ax_h.hist(values, bins=bins, weights=weights)
        order = np.argsort(values)
        cdf = np.cumsum(weights[order]) / (weights.sum() + zeros)
        ax_c.step(values[order], cdf + zeros / (weights.sum() + zeros), where="post")
    for ax in (ax_h, ax_c):
        ax.set_xscale("log")
        ax.set_xlabel("KL per token (nats)")
    ax_h.set_ylabel("tokens")
    ax_c.set_ylabel("fraction of tokens with KL <= x")
    ax_c.set_ylim(0, 1)
    fig.suptitle(f"{title}: {int(weights.sum()) + zeros} tokens, {zeros} with KL <= {floor:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _distribution(stats: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """The KL values and their weights (kept values, else the sketch's buckets), and the
    sketch's ``min_value``."""
    host, kept = stats._host()
    floor = stats._kl_sketch.min_value
    if kept["kl"] is not None:
        return kept["kl"], np.ones_like(kept["kl"]), floor
    state = host["kl"]
    if state is None:
        return np.zeros(0), np.zeros(0), floor
    reps = stats._kl_sketch.representatives(float(state["min"]), float(state["max"]))
    counts = state["hist"].astype(np.float64)
    nonzero = counts > 0
    return reps[nonzero], counts[nonzero], floor
