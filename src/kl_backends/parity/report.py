"""Results of a parity check and their reports: the record, tables, a PNG heatmap.

``Agreement`` is the one result record (one backend x device (x mode) x dtype
against the reference), and ``render_table`` the one table renderer: an
aligned text table or a Markdown table.  ``format_table`` (the rows of
``kl_backends.testing``) and ``markdown_table`` (the ``--markdown`` report)
choose their columns and hand them to it.

>>> rows = [Agreement("numpy:cpu", "float64", True, 0.0, 0.0, "(0,)", "", "0.00e+00 rel <= rtol 1e-10")]
>>> print(format_table(rows))
backend    dtype    judged error (bound)        max abs   max rel   where  status
---------  -------  --------------------------  --------  --------  -----  ------
numpy:cpu  float64  0.00e+00 rel <= rtol 1e-10  0.00e+00  0.00e+00  (0,)   OK
>>> print(render_table(("a", "b"), [("1", "22")], markdown=True, right=(1,)))
| a | b |
|---|---:|
| 1 | 22 |
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

__all__ = [
    "Agreement",
    "Cell",
    "format_table",
    "markdown_table",
    "plot_heatmap",
    "render_table",
    "summary",
]


@dataclass(frozen=True)
class Agreement:
    """One run against the reference: a backend on a device (in a mode), in one dtype.

    The row that ``kl_backends.testing.check_backends`` returns per target and
    dtype, and that the ``kl-backends parity`` reports print.

    Parameters
    ----------
    target : str
        The row's name: ``"backend:device"`` (``"torch:cuda:0"``); the parity
        matrix adds the mode (``"jax:cpu jit"``).
    dtype : str
        The dtype the inputs were cast to (``"float32"``).
    ok : bool
        Whether the run agreed with the reference (also True for a skipped
        row: nothing disagreed).
    max_abs, max_rel : float
        The largest absolute and relative errors (``inf`` for a failed run
        without a comparable result, NaN for a skipped one).
    where : str, default "-"
        The index of the worst element (``"(0, 2)"``; ``"output 1 (0,)"`` for
        a function with several outputs), ``"-"`` if unknown.
    message : str, default ""
        Why it failed or was skipped (``"TypeError: ..."``, ``"got 0.5,
        reference 0.25 (rtol=..., atol=... for float64)"``).
    judged : str, default "-"
        The error that decided, in its bound's units:
        ``"2.10e-04 rel <= rtol 1e-02"``.
    skipped : bool, default False
        Left out, not failed: the function raised on a backend that was not
        named explicitly and that array-api-compat has no namespace for
        (TensorFlow); ``message`` says how to include it.

    Attributes
    ----------
    status : str
        ``"OK"``, ``"SKIP"`` or ``"FAIL"``.

    See Also
    --------
    kl_backends.testing.check_backends, format_table

    Examples
    --------
    >>> from kl_backends.testing import Agreement
    >>> row = Agreement("numpy:cpu", "float64", True, 0.0, 0.0)
    >>> row.status, row.where
    ('OK', '-')
    """

    target: str
    dtype: str
    ok: bool
    max_abs: float
    max_rel: float
    where: str = "-"
    message: str = ""
    judged: str = "-"
    skipped: bool = False

    @property
    def status(self) -> str:
        """``"OK"``, ``"SKIP"`` or ``"FAIL"``."""
        return "SKIP" if self.skipped else "OK" if self.ok else "FAIL"


def Cell(
    label: str,
    dtype: str,
    max_abs: float,
    max_rel: float,
    ok: bool,
    detail: str = "",
    judged: str = "",
) -> Agreement:
    """An ``Agreement`` for a report's row, in the argument order of the reports' former record."""
    return Agreement(label, dtype, ok, max_abs, max_rel, "-", detail, judged)


def render_table(
    header: Sequence[str],
    body: Sequence[Sequence[str]],
    *,
    markdown: bool = False,
    right: Collection[int] = (),
) -> str:
    """``header`` and ``body`` as an aligned text table, or a Markdown table.

    Text columns are left-aligned to their widest entry, with a dashed rule
    under the header; ``right`` lists the Markdown columns aligned right.
    """
    if markdown:
        rule = "|" + "".join("---:|" if i in right else "---|" for i in range(len(header)))
        lines = ["| " + " | ".join(header) + " |", rule]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [
        max(len(h), *(len(row[i]) for row in body)) if body else len(h)
        for i, h in enumerate(header)
    ]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
        for line in (tuple(header), tuple("-" * w for w in widths), *body)
    )


def format_table(rows: Sequence[Agreement], markdown: bool = False) -> str:
    """The rows as an aligned text table, or a Markdown table.

    Parameters
    ----------
    rows : sequence of Agreement
        The rows, e.g. from ``kl_backends.testing.check_backends``.
    markdown : bool, default False
        A Markdown table instead of aligned text.

    Returns
    -------
    str
        A header, a rule and one line per row: backend, dtype, judged error
        (bound), max abs, max rel, where, and status (``OK``, ``SKIP: why``
        or ``FAIL: why``).

    Notes
    -----
    "judged error (bound)" is the error that decided each row, in the units
    of the tolerance that applies there (``1.0e-02 rel <= rtol 0.01`` beside
    a large absolute error; ``2.0e-08 abs <= atol 2e-06`` for a zero result
    against a tiny reference).

    Examples
    --------
    >>> from kl_backends.testing import Agreement, format_table
    >>> judged = "0.00e+00 rel <= rtol 1e-10"
    >>> rows = [Agreement("numpy:cpu", "float64", True, 0.0, 0.0, "(0,)", "", judged)]
    >>> print(format_table(rows, markdown=True))
    | backend | dtype | judged error (bound) | max abs | max rel | where | status |
    |---|---|---|---|---|---|---|
    | numpy:cpu | float64 | 0.00e+00 rel <= rtol 1e-10 | 0.00e+00 | 0.00e+00 | (0,) | OK |
    """
    header = ("backend", "dtype", "judged error (bound)", "max abs", "max rel", "where", "status")
    body = [
        (
            r.target,
            r.dtype,
            r.judged,
            f"{r.max_abs:.2e}",
            f"{r.max_rel:.2e}",
            r.where,
            r.status if r.status == "OK" else f"{r.status}: {r.message}",
        )
        for r in rows
    ]
    return render_table(header, body, markdown=markdown)


_MARKS = {"OK": "✅ OK", "SKIP": "⏭ SKIP", "FAIL": "❌ FAIL"}


def markdown_table(cells: Sequence[Agreement], title: str) -> str:
    """A Markdown report, one row per cell, under ``title``, with the count of failures.

    The error column is the one that was judged: for the check that used the
    largest fraction of its tolerance, the error in the units of the bound that
    dominates there (relative under ``rtol``, absolute under ``atol``) and that
    bound, e.g. ``3.10e-03 rel <= rtol 0.01``.  The largest absolute error is
    beside it, for information only.
    """
    header = ("backend", "dtype", "worst error, as judged (its bound)", "max abs err", "status")
    body = [
        (
            c.target,
            c.dtype,
            c.judged or f"max rel {c.max_rel:.2e}",
            f"{c.max_abs:.2e}",
            _MARKS[c.status] + (f" {c.message}" if c.message else ""),
        )
        for c in cells
    ]
    table = render_table(header, body, markdown=True, right=(3,))
    return f"### {title}\n\n{table}\n\n{summary(cells)}\n"


def summary(cells: Sequence[Agreement]) -> str:
    """``"4 passed, 0 failed"``, with ``", 2 skipped"`` when rows were left out."""
    skipped = sum(c.skipped for c in cells)
    passed = sum(c.ok for c in cells) - skipped
    text = f"{passed} passed, {len(cells) - passed - skipped} failed"
    return text + (f", {skipped} skipped" if skipped else "")


def plot_heatmap(cells: Sequence[Agreement], path: str, title: str) -> None:
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

    labels = list(dict.fromkeys(c.target for c in cells))
    dtypes = list(dict.fromkeys(c.dtype for c in cells))
    grid = np.full((len(labels), len(dtypes)), np.nan)
    failed = []
    for c in cells:
        i, j = labels.index(c.target), dtypes.index(c.dtype)
        if c.skipped:
            continue
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
