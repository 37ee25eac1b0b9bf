"""Reports of a parity run: Markdown table and PNG heatmap of the error matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Cell", "markdown_table", "plot_heatmap"]


@dataclass(frozen=True)
class Cell:
    """One backend x device (x mode) row label, one dtype: its errors and verdict."""

    label: str
    dtype: str
    max_abs: float
    max_rel: float
    ok: bool
    detail: str = ""
    #: The judged error and its tolerance bound (``Comparison.describe()``), "" if unknown.
    judged: str = ""


def markdown_table(cells: Sequence[Cell], title: str) -> str:
    """A Markdown table, one row per cell.

    The error column is the one that was judged: for the check that used the
    largest fraction of its tolerance, the error in the units of the bound that
    dominates there (relative under ``rtol``, absolute under ``atol``) and that
    bound, e.g. ``3.10e-03 rel <= rtol 0.01``.  The largest absolute error is
    beside it, for information only.
    """
    lines = [
        f"### {title}",
        "",
        "| backend | dtype | worst error, as judged (its bound) | max abs err | status |",
        "|---|---|---|---:|---|",
    ]
    for c in cells:
        status = "✅ OK" if c.ok else f"❌ FAIL {c.detail}".rstrip()
        judged = c.judged or f"max rel {c.max_rel:.2e}"
        lines.append(f"| {c.label} | {c.dtype} | {judged} | {c.max_abs:.2e} | {status} |")
    passed = sum(c.ok for c in cells)
    lines += ["", f"{passed} passed, {len(cells) - passed} failed"]
    return "\n".join(lines) + "\n"


def plot_heatmap(cells: Sequence[Cell], path: str, title: str) -> None:
    """log10 of the max relative error, rows = backend x device (x mode), columns = dtype.

    Failed cells are crossed out.  Needs matplotlib (``kl_backends[plot]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'kl_backends[plot]'") from None
    import numpy as np

    labels = list(dict.fromkeys(c.label for c in cells))
    dtypes = list(dict.fromkeys(c.dtype for c in cells))
    grid = np.full((len(labels), len(dtypes)), np.nan)
    failed = []
    for c in cells:
        i, j = labels.index(c.label), dtypes.index(c.dtype)
        grid[i, j] = math.log10(max(c.max_rel, 1e-17)) if math.isfinite(c.max_rel) else 0.0
        if not c.ok:
            failed.append((i, j))
    fig, ax = plt.subplots(figsize=(2.2 + 1.4 * len(dtypes), 1.2 + 0.42 * len(labels)))
    image = ax.imshow(grid, cmap="viridis", vmin=-17, vmax=0, aspect="auto")
    ax.set_xticks(range(len(dtypes)), dtypes)
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(dtypes)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="w", fontsize=8)
    for i, j in failed:
        ax.text(j, i, "FAIL", ha="center", va="center", color="red", fontsize=10, fontweight="bold")
    fig.colorbar(image, ax=ax, label="log10 max relative error")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
