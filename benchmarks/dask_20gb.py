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
import platform
import resource
import time


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--cols", type=int, default=1000)
    parser.add_argument("--chunk-rows", type=int, default=25_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="3GiB", help="per worker")
    parser.add_argument("--json", help="write results here")
    parser.add_argument("--markdown", help="write a Markdown summary here")
    args = parser.parse_args()

    import dask
    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster

    import kl_backends
    from kl_backends import kl_divergence

    def batch(seed: int):
        # Weights in [0.5, 1.5): float32 random() can return exact zeros, which
        # would (correctly) make KL infinite.
        x = da.random.default_rng(seed).random(
            (args.rows, args.cols), chunks=(args.chunk_rows, args.cols), dtype=np.float32
        ) + np.float32(0.5)
        return x / x.sum(axis=1, keepdims=True)

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
        p, q = batch(1), batch(2)
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

    in_bytes = 2 * args.rows * args.cols * 4
    chunk_bytes = args.chunk_rows * args.cols * 4
    result = {
        "machine": f"{platform.node()} ({platform.machine()}, {__import__('os').cpu_count()} cores)",
        "kl_backends": kl_backends.__version__,
        "dask": dask.__version__,
        "shape": [args.rows, args.cols],
        "dtype": "float32",
        "bytes_per_input": in_bytes // 2,
        "chunk_bytes": chunk_bytes,
        "workers": args.workers,
        "threads_per_worker": 1,
        "memory_limit_per_worker": args.memory_limit,
        "mean_kl": mean_kl,
        "chunk0_max_rel_err_vs_float64": max_rel,
        "kl_seconds": kl_s,
        "kl_throughput_GB_per_s": in_bytes / kl_s / 1e9,
        "floor_seconds": floor_s,
        "floor_throughput_GB_per_s": in_bytes / floor_s / 1e9,
        "kl_over_floor": kl_s / floor_s,
        "worker_baseline_rss_MB": [b / 1e6 for b in baseline.values()],
        "worker_peak_rss_MB_after_floor": [b / 1e6 for b in floor_rss.values()],
        "worker_peak_rss_MB": [b / 1e6 for b in peak.values()],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(
                f"## Dask: KL over {args.rows:,} x {args.cols:,} float32 "
                f"({in_bytes / 2 / 1e9:.0f} GB per input)\n\n"
                f"Machine: {result['machine']}; LocalCluster, {args.workers} worker processes x 1 "
                f"thread, memory limit {args.memory_limit} each; chunks of {args.chunk_rows:,} rows "
                f"({chunk_bytes / 1e6:.0f} MB).\n\n"
                "| run | seconds | GB/s (p and q) | peak RSS per worker (MB) |\n"
                "|---|---:|---:|---|\n"
                f"| generate + sum (floor) | {floor_s:.1f} | {result['floor_throughput_GB_per_s']:.2f} "
                f"| {', '.join(f'{m:.0f}' for m in result['worker_peak_rss_MB_after_floor'])} |\n"
                f"| generate + kl_divergence + mean | {kl_s:.1f} | "
                f"{result['kl_throughput_GB_per_s']:.2f} | "
                f"{', '.join(f'{m:.0f}' for m in result['worker_peak_rss_MB'])} |\n\n"
                f"Mean KL {mean_kl:.6f}; chunk 0 against float64 NumPy: max relative error "
                f"{max_rel:.1e}.  Worker RSS before any work: "
                f"{', '.join(f'{m:.0f}' for m in result['worker_baseline_rss_MB'])} MB.\n"
            )


if __name__ == "__main__":
    main()
