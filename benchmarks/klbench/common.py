"""What every benchmark shares: timing, peak memory, versions, the results files."""

from __future__ import annotations

import gc
import json
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")

#: The distributions whose versions are recorded with the results.
_DISTRIBUTIONS = (
    "kl_backends",
    "numpy",
    "scipy",
    "torch",
    "tensorflow",
    "tensorflow-probability",
    "jax",
    "jaxlib",
    "optax",
)


def log(message: str) -> None:
    """A progress line."""
    print("  ..", message, flush=True)


def time_calls(
    fn: Callable[[], Any], sync: Callable[[Any], Any], budget: float
) -> tuple[float, list]:
    """First call apart; then repeats of n calls each so that one repeat takes >= 20 ms."""
    start = time.perf_counter()
    sync(fn())
    first = time.perf_counter() - start
    sync(fn())
    n, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(n):
            out = fn()
        sync(out)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.02 or n >= 1 << 16:
            break
        n *= 4
    repeats = max(3, min(15, int(budget / max(elapsed, 1e-9))))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            out = fn()
        sync(out)
        samples.append((time.perf_counter() - start) / n)
    return first, samples


def interleaved(
    ours: Callable[[], Any], peer: Callable[[], Any], sync: Callable[[Any], Any], rounds: int
) -> tuple[list, list]:
    """Seconds per call of ``ours`` and ``peer``, alternating calls (a busy machine slows both)."""
    sync(ours())
    sync(peer())  # warm-up and compilation
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        for fn, acc in ((ours, a), (peer, b)):
            start = time.perf_counter()
            sync(fn())
            acc.append(time.perf_counter() - start)
    return a, b


def peak_python_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated through Python's allocators during one call (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


class TorchPeak:
    """Peak bytes of the tensor storages created while active (PyTorch CPU has no
    allocator statistics): a dispatch mode that counts each new storage once, by data
    pointer, until the last tensor on it is gone.  Inputs created before are not counted."""

    def __new__(cls, *inputs: Any) -> Any:
        import weakref

        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten

        class Mode(TorchDispatchMode):
            def __init__(self) -> None:
                super().__init__()
                self.refs: dict[int, int] = {}
                self.size: dict[int, int] = {}
                self.cur, self.peak = 0, 0
                for x in inputs:
                    self.refs[x.untyped_storage().data_ptr()] = 1 << 60

            def _drop(self, key: int) -> None:
                self.refs[key] -= 1
                if self.refs[key] == 0:
                    self.cur -= self.size.pop(key)
                    del self.refs[key]

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor) and t.device.type != "meta":
                        self._count(t)
                return out

            def _count(self, t: Any) -> None:
                key = t.untyped_storage().data_ptr()
                if key == 0:
                    return
                if key not in self.refs:
                    self.refs[key] = 0
                    self.size[key] = t.untyped_storage().nbytes()
                    self.cur += self.size[key]
                    self.peak = max(self.peak, self.cur)
                self.refs[key] += 1
                weakref.finalize(t, self._drop, key)

        return Mode()


def fmt_s(s: float) -> str:
    """Seconds as µs, ms or s; ``-`` for NaN."""
    if s != s:
        return "-"
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def versions() -> dict[str, str]:
    """The installed versions of the distributions that matter here."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def meta(machine: str, start: float) -> dict[str, Any]:
    """The header of a results file: machine, Python, date, versions, seconds since ``start``."""
    return {
        "machine": machine,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions(),
        "seconds": time.time() - start,
    }


def write_results(out: str, stem: str, data: dict[str, Any], md: str) -> None:
    """``out/stem.json`` and ``out/stem.md``."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{stem}.json"), "w") as fh:
        json.dump(data, fh, indent=1)
    with open(os.path.join(out, f"{stem}.md"), "w") as fh:
        fh.write(md)
