"""The probabilities benchmark's report: the issue's targets, the Markdown table, the plot,
and ``main`` (run, then write ``bench.{json,md,png}``)."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from .common import fmt_s, log, meta, write_results
from .probabilities import SIZES, Options, Timing, on_gpu, run


def _find(ts: list[Timing], **kw: Any) -> Timing | None:
    for t in ts:
        if all(getattr(t, k) == v for k, v in kw.items()) and not t.error:
            return t
    return None


def _ratio(a: Timing | None, b: Timing | None) -> float:
    return a.median_s / b.median_s if a and b else float("nan")


def _row(t: Timing, key: dict[str, Any], target: str, ratio: float, met: bool) -> dict:
    return {**key, "mode": t.mode, "target": target, "ratio": ratio, "met": met}


def _vs_builtins(t: Timing, ts: list[Timing], key: dict[str, Any]) -> list[dict]:
    builtins = [
        b
        for b in ts
        if b.kind == "builtin" and not b.error and all(getattr(b, k) == v for k, v in key.items())
    ]
    if (
        not builtins
        or t.mode not in ("eager", "jax.jit")
        or (t.backend, t.mode) == ("jax", "eager")
    ):
        return []
    best = min(builtins, key=lambda b: b.median_s)
    limit = 1.5 if t.size == "tiny" else 1.0
    r = _ratio(t, best)
    return [_row(t, key, f"<= {limit} x fastest built-in ({best.variant})", r, r <= limit)]


def _numpy_targets(t: Timing, naive: Timing | None, key: dict[str, Any]) -> list[dict]:
    r = _ratio(naive, t)
    rows = [_row(t, key, ">= 2x faster than naive NumPy", r, r >= 2)]
    one_input = t.shape[0] * t.shape[1] * np.dtype(t.dtype).itemsize
    if t.peak_extra_bytes is not None:
        r = t.peak_extra_bytes / one_input
        rows.append(_row(t, key, "peak extra memory <= 1/4 of one input", r, r <= 0.25))
    return rows


def _torch_eager_targets(
    t: Timing, naive: Timing | None, ts: list[Timing], key: dict[str, Any]
) -> list[dict]:
    r = _ratio(t, naive)
    rows = [_row(t, key, "<= 1.2 x naive eager", r, r <= 1.2)]
    kl_div = _find(
        ts,
        kind="builtin",
        mode="eager",
        variant="F.kl_div(q.log(), p, reduction='none').sum(-1)",
        **key,
    )
    r = _ratio(kl_div, t)
    rows.append(_row(t, key, ">= 5x faster than F.kl_div", r, r >= 5))
    return rows


_COMPILED = (("jax", "jax.jit"), ("tensorflow", "tf.function"), ("torch", "torch.compile"))


def _targets_of(t: Timing, ts: list[Timing]) -> list[dict]:
    key = dict(backend=t.backend, device=t.device, size=t.size, dtype=t.dtype)
    rows = _vs_builtins(t, ts, key)
    if t.size == "tiny":
        return rows
    naive = _find(ts, kind="naive", mode=t.mode, **key)
    if t.backend == "numpy":
        rows += _numpy_targets(t, naive, key)
    if t.backend == "torch" and t.mode == "eager":
        rows += _torch_eager_targets(t, naive, ts, key)
    if (t.backend, t.mode) in _COMPILED:
        r = _ratio(t, naive)
        rows.append(_row(t, key, "<= 1.1 x naive compiled the same way", r, r <= 1.1))
    floor = _find(
        ts, kind="floor", variant="floor: read p and q (p.sum() + q.sum())", **key
    ) or _find(ts, kind="floor", variant="floor: read p and q", **key)
    if floor and t.mode in ("eager", "jax.jit", "tf.function"):
        r = _ratio(t, floor)
        rows.append(_row(t, key, "aim: <= 1.5 x reading both inputs once", r, r <= 1.5))
    return rows


def targets(ts: list[Timing]) -> list[dict]:
    """The issue's targets, each a ratio measured in this run."""
    return [
        row for t in ts if t.kind == "kl_backends" and not t.error for row in _targets_of(t, ts)
    ]


def _timing_line(t: Timing) -> str:
    if t.error:
        return (
            f"| {t.backend}:{t.device} | {t.size} | {t.dtype} | {t.mode} | {t.variant} "
            f"| error: {t.error[:80]} | | | | |"
        )
    mem = f"{t.peak_extra_bytes / 1e6:.2f}" if t.peak_extra_bytes is not None else ""
    err = f"{t.max_rel_err:.1e}" if t.kind != "floor" else ""
    return (
        f"| {t.backend}:{t.device} | {t.size} | {t.dtype} | {t.mode} | {t.variant} | "
        f"{fmt_s(t.median_s)} | {fmt_s(t.iqr_s)} | {fmt_s(t.first_call_s)} | {err} | {mem} |"
    )


def markdown(ts: list[Timing], tg: list[dict], meta: dict) -> str:
    lines = [
        f"# KL benchmark: {meta['machine']}",
        "",
        f"{meta['date']}; Python {meta['python']}; "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "",
        "Median time per call (interquartile range); first call (compilation) apart; "
        "NumPy peak extra memory from tracemalloc.",
        "",
        "| backend | size | dtype | mode | variant | median | IQR | first call | max rel err | peak extra MB |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [_timing_line(t) for t in ts]
    lines += [
        "",
        "## Targets (ratios measured pair by pair in this run)",
        "",
        "| backend | size | dtype | mode | target | ratio | met |",
        "|---|---|---|---|---|---:|---|",
    ]
    for r in tg:
        lines.append(
            f"| {r['backend']}:{r['device']} | {r['size']} | {r['dtype']} | {r['mode']} | "
            f"{r['target']} | {r['ratio']:.2f} | {'yes' if r['met'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def _series(ts: list[Timing], dtype: str) -> dict[str, list]:
    """Per variant label: (elements, ns per element) points."""
    series: dict[str, list] = {}
    for t in ts:
        if t.dtype != dtype or t.error or t.kind == "floor":
            continue
        label = f"{t.backend} {t.mode}: {t.variant}"[:60]
        n = t.shape[0] * t.shape[1]
        series.setdefault(label, []).append((n, t.median_s / n * 1e9))
    return series


def plot(ts: list[Timing], path: str, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 8), sharey=True)
    for ax, dtype in zip(axes, ["float32", "float64"]):
        for label, pts in sorted(_series(ts, dtype).items()):
            pts.sort()
            ours = "kl_backends" in label
            ax.loglog(
                [x for x, _ in pts],
                [y for _, y in pts],
                "-o" if ours else "--.",
                label=label,
                lw=2 if ours else 1,
                alpha=1 if ours else 0.6,
            )
        ax.set_title(f"{dtype}: time per element (tiny, medium, wide)")
        ax.set_xlabel("elements per input")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ns per element")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7)
    fig.suptitle(f"Row-wise KL, {machine} (solid: kl_backends)", fontsize=10)
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def replot(path: str) -> None:
    """Redraw bench.png from bench.json (no timing)."""
    with open(path) as fh:
        data = json.load(fh)
    ts = [Timing(**{**t, "shape": tuple(t["shape"])}) for t in data["timings"]]
    plot(ts, os.path.join(os.path.dirname(path), "bench.png"), data["meta"]["machine"])


def main(args: Any, names: list[str]) -> None:
    """Time ``names``, then write bench.{json,md,png} to ``args.out`` and print the table."""
    sizes = {k: v for k, v in SIZES.items() if not (args.quick and k == "wide")}
    budget = 0.3 if args.quick else args.budget
    start = time.time()
    options = Options(sizes, ("float32", "float64"), budget, not args.no_torch_compile)
    ts = run(names, options, log)
    machine = (
        f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores, no GPU)"
        if not any(on_gpu(t.device) for t in ts)
        else platform.node()
    )
    info = meta(machine, start)
    tg = targets(ts)
    md = markdown(ts, tg, info)
    write_results(
        args.out, "bench", {"meta": info, "timings": [asdict(t) for t in ts], "targets": tg}, md
    )
    plot(ts, os.path.join(args.out, "bench.png"), machine)
    print(md)
    print(f"written to {args.out} in {info['seconds']:.0f} s")
