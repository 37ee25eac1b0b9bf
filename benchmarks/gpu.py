"""The GPU check, one command: ``python benchmarks/gpu.py [--out DIR]``.

On a machine with a CUDA device, PyTorch, Triton and (optionally) JAX with GPU
support, CuPy and Liger-Kernel 0.8.5, and no TensorFlow in the environment
(Triton and TensorFlow in one process abort):

1. the Triton kernel tests compiled for the GPU (``tests/kernels/test_triton_*.py``
   without ``TRITON_INTERPRET``) and the suite's GPU cases (``-k "cuda or gpu"``);
2. ``kl-backends parity`` on ``torch``, ``jax`` and ``cupy`` (their GPU devices are
   targets by themselves);
3. KL and JSD with gradient at ``[8192, 128256]`` in bfloat16 and float32:
   ``kl_backends`` on logits (the Triton kernel) against Liger-Kernel's
   ``LigerKLDIVLoss`` and ``LigerJSD`` on ``log_softmax`` outputs (what they take),
   time (median of CUDA-event timings) and peak memory
   (``torch.cuda.max_memory_allocated`` above the inputs);
4. the Performance page's benchmark tables (``benchmarks/bench_kl.py``, probabilities
   and logits) on every device present;
5. ``kl-backends compare`` on two batches of logits written to disk, where that
   subcommand exists.

Everything is written under ``--out`` (default ``benchmarks/results/gpu``):
``devices.txt``, the logs of each step, ``liger.json`` and ``liger.md``.  Exit status
1 if a step failed.  Without a CUDA device it says so and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (8192, 128256)
DTYPES = ("bfloat16", "float32")
#: The environment of every step: the worktree's source first, the GPU backends.
ENV = {"KL_BACKENDS": "numpy,torch,jax,cupy", "KL_BACKENDS_REQUIRE": "triton"}


def steps(out: Path, python: str = sys.executable) -> list[tuple[str, list[str], dict]]:
    """The subprocess steps: (log file name, command, extra environment)."""
    kernels = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "tests/kernels").glob("test_triton_*.py")
    )
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    suite = ["tests/core", "tests/logits", "tests/tooling/test_parity_matrix.py"]
    return [
        ("pytest_triton.txt", [*pytest, *kernels], {"TRITON_INTERPRET": "0"}),
        ("pytest_gpu.txt", [*pytest, *suite, "-k", "cuda or gpu"], {}),
        ("parity.txt", [python, "-m", "kl_backends", "parity", "--backends", "torch,jax,cupy",
                        "--markdown", str(out / "parity.md")], {}),
        # The Performance page's two tables, on whatever devices are present.
        ("bench.txt", [python, "benchmarks/bench_kl.py", "--backends", "numpy,torch,jax",
                       "--out", str(out)], {}),
        ("bench_logits.txt", [python, "benchmarks/bench_kl.py", "--logits", "--backends",
                              "torch,jax", "--out", str(out)], {}),
    ]  # fmt: skip


def run_step(name: str, cmd: list[str], extra: dict, out: Path) -> bool:
    env = {**os.environ, **ENV, **extra, "PYTHONPATH": str(ROOT / "src")}
    with open(out / name, "w") as log:
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    print(f"{name}: exit {done.returncode}")
    return done.returncode == 0


def measure(fn: Callable[[], Any], torch: Any, repeats: int = 10) -> dict:
    """Median milliseconds of ``fn`` (CUDA events) and its peak memory above what was
    allocated before (MiB)."""
    fn()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return {"ms": sorted(times)[len(times) // 2], "peak_mib": peak}


def cases(torch: Any, teacher: Any, student: Any) -> dict[str, Callable[[], Any]]:
    """Forward and backward (gradient for the student) of each contender."""
    import kl_backends as klb

    def ours(kind: str) -> Callable[[], Any]:
        def step() -> None:
            s = student.detach().requires_grad_()
            if kind == "kl":
                loss = klb.kl_divergence(teacher, s, inputs="logits", reduction="mean")
            else:
                loss = klb.js_divergence(teacher, s, inputs="logits", reduction="mean", beta=0.5)
            loss.backward()

        return step

    out = {"kl_backends KL": ours("kl"), "kl_backends JSD(beta=0.5)": ours("js")}
    if importlib.util.find_spec("liger_kernel") is not None:
        from liger_kernel.transformers import LigerJSD, LigerKLDIVLoss

        kl_loss, jsd_loss = LigerKLDIVLoss(reduction="batchmean", log_target=True), LigerJSD(0.5)

        def liger(kind: str) -> Callable[[], Any]:
            def step() -> None:
                s = student.detach().requires_grad_()
                log_q = torch.log_softmax(s.float(), -1).to(s.dtype)
                log_p = torch.log_softmax(teacher.float(), -1).to(teacher.dtype)
                loss = kl_loss(log_q, log_p) if kind == "kl" else jsd_loss(log_q, log_p)
                loss.backward()

            return step

        out |= {"Liger LigerKLDIVLoss": liger("kl"), "Liger LigerJSD(beta=0.5)": liger("js")}
    return out


def benchmark(shape: tuple[int, int] = SHAPE, dtypes: tuple[str, ...] = DTYPES) -> list[dict]:
    import torch

    rows = []
    for dtype in dtypes:
        g = torch.Generator(device="cuda").manual_seed(0)
        dt = getattr(torch, dtype)
        teacher = torch.randn(shape, device="cuda", generator=g).mul_(2).to(dt)
        student = torch.randn(shape, device="cuda", generator=g).mul_(2).to(dt)
        for name, fn in cases(torch, teacher, student).items():
            rows.append({"what": name, "shape": list(shape), "dtype": dtype, **measure(fn, torch)})
        del teacher, student
        torch.cuda.empty_cache()
    return rows


def markdown(rows: list[dict], device: str) -> str:
    """The Markdown table of ``benchmark``'s rows."""
    lines = [
        f"Device: {device}. Forward and backward (gradient for the student), median of 10.",
        "",
        "| what | shape | dtype | time | peak memory above the inputs |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        shape = "x".join(str(n) for n in r["shape"])
        lines.append(
            f"| {r['what']} | {shape} | {r['dtype']} | {r['ms']:.2f} ms | {r['peak_mib']:.0f} MiB |"
        )
    return "\n".join(lines) + "\n"


def compare_step(out: Path, python: str = sys.executable) -> bool | None:
    """``kl-backends compare`` on two saved batches of logits; ``None`` if it is absent."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    probe = subprocess.run([python, "-m", "kl_backends", "compare", "--help"], env=env,
                           capture_output=True)  # fmt: skip
    if probe.returncode != 0:
        return None
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        base = rng.standard_normal((4096, 32000)).astype(np.float32)
        np.save(f"{tmp}/base.npy", base)
        np.save(f"{tmp}/other.npy", base + 0.1 * rng.standard_normal(base.shape).astype(np.float32))
        cmd = [python, "-m", "kl_backends", "compare", f"{tmp}/base.npy", f"{tmp}/other.npy",
               "--device", "cuda"]  # fmt: skip
        return run_step("compare.txt", cmd, {}, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/gpu")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check here (the kernels' CPU tests: nox -s triton)")
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name()
    found = {
        m: importlib.util.find_spec(m) is not None
        for m in ("triton", "jax", "cupy", "liger_kernel")
    }
    (out / "devices.txt").write_text(f"{device}\ntorch {torch.__version__}\n{found}\n")
    ok = all([run_step(name, cmd, extra, out) for name, cmd, extra in steps(out)])
    rows = benchmark()
    (out / "liger.json").write_text(json.dumps({"device": device, "rows": rows}, indent=1))
    (out / "liger.md").write_text(markdown(rows, device))
    print(markdown(rows, device))
    ok = compare_step(out) is not False and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
