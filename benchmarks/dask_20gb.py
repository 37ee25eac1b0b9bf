"""KL over a lazily generated 20 GB batch on a Dask LocalCluster, memory per worker measured.

    python benchmarks/dask_20gb.py                       # 5,000,000 x 1,000 float32 (20 GB each)
    python benchmarks/dask_20gb.py --rows 200000 --json out.json   # a quick run

p and q are generated inside the workers chunk by chunk (``da.random``), each
normalised per row, and ``kl_divergence(p, q).mean()`` is computed; nothing of
size rows x cols ever exists at once.  Reported: wall time, throughput (bytes
of p and q generated and read per second), the same for the floor (generating
and summing p and q without KL), and each worker's peak resident memory
(``ru_maxrss``), against the bound: one task's chunk working set per thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from dataclasses import dataclass
from typing import Any


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@dataclass(frozen=True)
class Measured:
    """The timings (seconds), the workers' resident memory (bytes) and the chunk-0 check."""

    mean_kl: float
    max_rel: float
    kl_s: float
    floor_s: float
    baseline: dict[str, int]
    floor_rss: dict[str, int]
    peak: dict[str, int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--cols", type=int, default=1000)
    parser.add_argument("--chunk-rows", type=int, default=25_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="3GiB", help="per worker")
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--markdown", help="write a Markdown summary here")
    return parser


def _batch(args: argparse.Namespace, seed: int) -> Any:
    import dask.array as da
    import numpy as np

    # Weights in [0.5, 1.5): float32 random() can return exact zeros, which
    # would (correctly) make KL infinite.
    x = da.random.default_rng(seed).random(
        (args.rows, args.cols), chunks=(args.chunk_rows, args.cols), dtype=np.float32
    ) + np.float32(0.5)
    return x / x.sum(axis=1, keepdims=True)


def _measure(args: argparse.Namespace) -> Measured:
    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster

    from kl_backends import kl_divergence

    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        baseline = client.run(_peak_rss_bytes)
        p, q = _batch(args, 1), _batch(args, 2)
        out = kl_divergence(p, q)
        assert isinstance(out, da.Array) and out.chunks == (p.chunks[0],)  # lazy, chunks kept

        start = time.perf_counter()
        (p.sum() + q.sum()).compute()
        floor_s = time.perf_counter() - start
        floor_rss = client.run(_peak_rss_bytes)

        start = time.perf_counter()
        mean_kl = float(out.mean().compute())
        kl_s = time.perf_counter() - start
        peak = client.run(_peak_rss_bytes)

        # Correctness on one chunk, against NumPy in float64.
        p0 = p.blocks[0].compute().astype(np.float64)
        q0 = q.blocks[0].compute().astype(np.float64)
        chunk_ref = (p0 * np.log(p0 / q0)).sum(-1)
        chunk_got = out.blocks[0].compute()
        max_rel = float(np.max(np.abs(chunk_got - chunk_ref) / chunk_ref))
    return Measured(mean_kl, max_rel, kl_s, floor_s, baseline, floor_rss, peak)


def _result(args: argparse.Namespace, m: Measured) -> dict[str, Any]:
    import dask

    import kl_backends

    in_bytes = 2 * args.rows * args.cols * 4
    return {
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)",
        "kl_backends": kl_backends.__version__,
        "dask": dask.__version__,
        "shape": [args.rows, args.cols],
        "dtype": "float32",
        "bytes_per_input": in_bytes // 2,
        "chunk_bytes": args.chunk_rows * args.cols * 4,
        "workers": args.workers,
        "threads_per_worker": 1,
        "memory_limit_per_worker": args.memory_limit,
        "mean_kl": m.mean_kl,
        "chunk0_max_rel_err_vs_float64": m.max_rel,
        "kl_seconds": m.kl_s,
        "kl_throughput_GB_per_s": in_bytes / m.kl_s / 1e9,
        "floor_seconds": m.floor_s,
        "floor_throughput_GB_per_s": in_bytes / m.floor_s / 1e9,
        "kl_over_floor": m.kl_s / m.floor_s,
        "worker_baseline_rss_MB": [b / 1e6 for b in m.baseline.values()],
        "worker_peak_rss_MB_after_floor": [b / 1e6 for b in m.floor_rss.values()],
        "worker_peak_rss_MB": [b / 1e6 for b in m.peak.values()],
    }


def _mb(values: list[float]) -> str:
    return ", ".join(f"{m:.0f}" for m in values)


def _markdown(args: argparse.Namespace, result: dict[str, Any]) -> str:
    in_bytes = 2 * args.rows * args.cols * 4
    return (
        f"## Dask: KL over {args.rows:,} x {args.cols:,} float32 "
        f"({in_bytes / 2 / 1e9:.0f} GB per input)\n\n"
        f"Machine: {result['machine']}; LocalCluster, {args.workers} worker processes x 1 "
        f"thread, memory limit {args.memory_limit} each; chunks of {args.chunk_rows:,} rows "
        f"({result['chunk_bytes'] / 1e6:.0f} MB).\n\n"
        "| run | seconds | GB/s (p and q) | peak RSS per worker (MB) |\n"
        "|---|---:|---:|---|\n"
        f"| generate + sum (floor) | {result['floor_seconds']:.1f} | "
        f"{result['floor_throughput_GB_per_s']:.2f} "
        f"| {_mb(result['worker_peak_rss_MB_after_floor'])} |\n"
        f"| generate + kl_divergence + mean | {result['kl_seconds']:.1f} | "
        f"{result['kl_throughput_GB_per_s']:.2f} | "
        f"{_mb(result['worker_peak_rss_MB'])} |\n\n"
        f"Mean KL {result['mean_kl']:.6f}; chunk 0 against float64 NumPy: max relative error "
        f"{result['chunk0_max_rel_err_vs_float64']:.1e}.  Worker RSS before any work: "
        f"{_mb(result['worker_baseline_rss_MB'])} MB.\n"
    )


def main() -> None:
    args = _parser().parse_args()
    result = _result(args, _measure(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(_markdown(args, result))


if __name__ == "__main__":
    main()
