"""Row-wise KL on every installed backend: kl_backends against every built-in, the naive
formula and the memory floors, in one process and one run.

    python benchmarks/bench_kl.py                      # writes benchmarks/results/bench.{json,md,png}
    python benchmarks/bench_kl.py --quick              # tiny and medium only, fewer repeats
    python benchmarks/bench_kl.py --logits             # logits: results/logits.{json,md,png}
    nox -s bench

Sizes: tiny [32, 10], medium [4096, 1000], wide [16, 1_000_000] (on a GPU also
[65536, 1000] and [1_000_000, 1000]); float32 and float64; eager and compiled
(jax.jit, tf.function(jit_compile=True), torch.compile).  For each: warm-up (the
first call, with any compilation, is timed apart), synchronisation per backend
(block_until_ready, torch.cuda.synchronize, .numpy()), fresh random inputs without
zeros, repeated timings with median and interquartile range, and every variant
checked against a float64 reference before it is timed.  NumPy variants also get
their peak extra memory per call (tracemalloc).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SIZES = {"tiny": (32, 10), "medium": (4096, 1000), "wide": (16, 1_000_000)}
GPU_SIZES = {"gpu-large": (65536, 1000), "gpu-huge": (1_000_000, 1000)}
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


@dataclass
class Timing:
    backend: str
    device: str
    size: str
    shape: tuple[int, int]
    dtype: str
    mode: str
    variant: str
    kind: str  # "kl_backends", "builtin", "naive", "floor"
    median_s: float = float("nan")
    iqr_s: float = float("nan")
    first_call_s: float = float("nan")
    max_rel_err: float = float("nan")
    peak_extra_bytes: int | None = None
    error: str = ""
    samples: list[float] = field(default_factory=list)


def _inputs(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 1.0, shape)
    q = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)


def _reference(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.sum(p * np.log(p / q), axis=-1)


def _time(fn: Callable[[], Any], sync: Callable[[Any], Any], budget: float) -> tuple[float, list]:
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


# --- per-backend variants --------------------------------------------------------------
# Each returns (mode, variant, kind, make) where make(p, q) -> zero-arg callable.


def numpy_variants() -> list:
    from scipy.special import rel_entr
    from scipy.stats import entropy

    from kl_backends import kl_divergence

    def naive(p, q):  # the seed's code, row-wise
        return np.sum(p * np.log(p / q), axis=-1)

    return [
        (
            "eager",
            "kl_backends.kl_divergence",
            "kl_backends",
            lambda p, q: lambda: kl_divergence(p, q),
        ),
        (
            "eager",
            "scipy.special.rel_entr(p, q).sum(-1)",
            "builtin",
            lambda p, q: lambda: rel_entr(p, q).sum(-1),
        ),
        (
            "eager",
            "scipy.stats.entropy(p, q, axis=-1)",
            "builtin",
            lambda p, q: lambda: entropy(p, q, axis=-1),
        ),
        ("eager", "naive np.sum(p * np.log(p / q), -1)", "naive", lambda p, q: lambda: naive(p, q)),
        (
            "eager",
            "floor: read p and q (p.sum() + q.sum())",
            "floor",
            lambda p, q: lambda: p.sum() + q.sum(),
        ),
        ("eager", "floor: one log pass (np.log(p))", "floor", lambda p, q: lambda: np.log(p)),
    ]


def torch_variants(compile_: bool) -> list:
    import torch
    import torch.nn.functional as F
    from torch.distributions import Categorical
    from torch.distributions import kl_divergence as td_kl

    from kl_backends import kl_divergence

    def naive(p, q):
        return (p * torch.log(p / q)).sum(-1)

    def ours(p, q):
        return kl_divergence(p, q)

    out = [
        ("eager", "kl_backends.kl_divergence", "kl_backends", lambda p, q: lambda: ours(p, q)),
        (
            "eager",
            "F.kl_div(q.log(), p, reduction='none').sum(-1)",
            "builtin",
            lambda p, q: lambda: F.kl_div(q.log(), p, reduction="none").sum(-1),
        ),
        (
            "eager",
            "torch.distributions.kl_divergence(Categorical)",
            "builtin",
            lambda p, q: lambda: td_kl(Categorical(probs=p), Categorical(probs=q)),
        ),
        ("eager", "naive (p * log(p / q)).sum(-1)", "naive", lambda p, q: lambda: naive(p, q)),
        ("eager", "floor: read p and q", "floor", lambda p, q: lambda: p.sum() + q.sum()),
        ("eager", "floor: one log pass", "floor", lambda p, q: lambda: torch.log(p)),
    ]
    if compile_:
        c_ours = torch.compile(ours, dynamic=False)
        c_naive = torch.compile(naive, dynamic=False)
        out += [
            (
                "torch.compile",
                "kl_backends.kl_divergence",
                "kl_backends",
                lambda p, q: lambda: c_ours(p, q),
            ),
            (
                "torch.compile",
                "naive (p * log(p / q)).sum(-1)",
                "naive",
                lambda p, q: lambda: c_naive(p, q),
            ),
        ]
    return out


def tensorflow_variants() -> list:
    import tensorflow as tf
    import tensorflow_probability as tfp

    from kl_backends import kl_divergence

    tfd = tfp.distributions

    def naive(p, q):
        return tf.reduce_sum(p * tf.math.log(p / q), -1)

    def ours(p, q):
        return kl_divergence(p, q)

    f_ours = tf.function(ours, jit_compile=True)
    f_naive = tf.function(naive, jit_compile=True)
    f_read = tf.function(lambda p, q: tf.reduce_sum(p) + tf.reduce_sum(q), jit_compile=True)
    return [
        ("eager", "kl_backends.kl_divergence", "kl_backends", lambda p, q: lambda: ours(p, q)),
        (
            "eager",
            "tfp.distributions.kl_divergence(Categorical)",
            "builtin",
            lambda p, q: (
                lambda: tfd.kl_divergence(tfd.Categorical(probs=p), tfd.Categorical(probs=q))
            ),
        ),
        (
            "eager",
            "tf.keras.losses.kld(p, q)",
            "builtin",
            lambda p, q: lambda: tf.keras.losses.kld(p, q),
        ),
        (
            "eager",
            "naive reduce_sum(p * log(p / q), -1)",
            "naive",
            lambda p, q: lambda: naive(p, q),
        ),
        (
            "tf.function",
            "kl_backends.kl_divergence",
            "kl_backends",
            lambda p, q: lambda: f_ours(p, q),
        ),
        (
            "tf.function",
            "naive reduce_sum(p * log(p / q), -1)",
            "naive",
            lambda p, q: lambda: f_naive(p, q),
        ),
        ("tf.function", "floor: read p and q", "floor", lambda p, q: lambda: f_read(p, q)),
    ]


def jax_variants() -> list:
    import jax
    import jax.numpy as jnp
    import optax

    from kl_backends import kl_divergence

    def naive(p, q):
        return jnp.sum(p * jnp.log(p / q), -1)

    j_ours = jax.jit(lambda p, q: kl_divergence(p, q))
    j_optax = jax.jit(lambda p, q: optax.losses.kl_divergence(jnp.log(q), p))
    j_naive = jax.jit(naive)
    j_read = jax.jit(lambda p, q: jnp.sum(p) + jnp.sum(q))
    j_log = jax.jit(jnp.log)
    return [
        (
            "eager",
            "kl_backends.kl_divergence",
            "kl_backends",
            lambda p, q: lambda: kl_divergence(p, q),
        ),
        ("jax.jit", "kl_backends.kl_divergence", "kl_backends", lambda p, q: lambda: j_ours(p, q)),
        (
            "jax.jit",
            "optax.losses.kl_divergence(log q, p)",
            "builtin",
            lambda p, q: lambda: j_optax(p, q),
        ),
        ("jax.jit", "naive sum(p * log(p / q), -1)", "naive", lambda p, q: lambda: j_naive(p, q)),
        ("jax.jit", "floor: read p and q", "floor", lambda p, q: lambda: j_read(p, q)),
        ("jax.jit", "floor: one log pass", "floor", lambda p, q: lambda: j_log(p)),
    ]


def _backend_setup(name: str):
    """(devices, to_native(np, dtype, device), to_numpy, sync) for a backend."""
    if name == "numpy":
        return ["cpu"], lambda a, dt, dev: a.astype(dt), np.asarray, lambda x: x
    if name == "torch":
        import torch

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

        def sync(x):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return x

        return (
            devices,
            lambda a, dt, dev: torch.tensor(a, dtype=getattr(torch, dt), device=dev),
            lambda x: x.detach().cpu().double().numpy(),
            sync,
        )
    if name == "tensorflow":
        import tensorflow as tf

        devices = ["CPU:0"] + [
            d.name.split("device:")[-1] for d in tf.config.list_logical_devices("GPU")
        ]

        def native(a, dt, dev):
            with tf.device(dev):
                return tf.constant(a.astype(dt))

        return devices, native, lambda x: np.asarray(x, np.float64), lambda x: x.numpy()
    if name == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        devices = ["cpu"] + (["gpu"] if any(d.platform == "gpu" for d in jax.devices()) else [])

        def native(a, dt, dev):
            return jax.device_put(jax.numpy.asarray(a, dtype=dt), jax.devices(dev)[0])

        return devices, native, lambda x: np.asarray(x, np.float64), lambda x: x.block_until_ready()
    raise ValueError(name)


def run(
    backends: list[str],
    sizes: dict,
    dtypes: list[str],
    budget: float,
    compile_torch: bool,
    log: Callable[[str], None],
) -> list[Timing]:
    timings = []
    makers = {
        "numpy": numpy_variants,
        "torch": lambda: torch_variants(compile_torch),
        "tensorflow": tensorflow_variants,
        "jax": jax_variants,
    }
    for name in backends:
        devices, native, to_numpy, sync = _backend_setup(name)
        variants = makers[name]()
        for device in devices:
            size_items = list(sizes.items())
            if device != "cpu" and device != "CPU:0":
                size_items += list(GPU_SIZES.items())
            for size, shape in size_items:
                p64, q64 = _inputs(shape, seed=hash((name, size)) % 1000)
                for dtype in dtypes:
                    ref = _reference(
                        p64.astype(dtype).astype(np.float64), q64.astype(dtype).astype(np.float64)
                    )
                    p, q = native(p64, dtype, device), native(q64, dtype, device)
                    for mode, variant, kind, make in variants:
                        t = Timing(name, device, size, shape, dtype, mode, variant, kind)
                        log(f"{name}:{device} {size} {dtype} {mode:13s} {variant}")
                        try:
                            fn = make(p, q)
                            if kind != "floor":
                                got = to_numpy(fn())
                                rel = np.max(np.abs(got - ref) / np.abs(ref))
                                t.max_rel_err = float(rel)
                                tol = 1e-3 if dtype == "float32" else 1e-9
                                if not rel <= tol:
                                    raise AssertionError(
                                        f"disagrees with float64 reference: {rel:.2e}"
                                    )
                            if name == "numpy" and kind != "floor":
                                gc.collect()
                                tracemalloc.start()
                                fn()
                                t.peak_extra_bytes = tracemalloc.get_traced_memory()[1]
                                tracemalloc.stop()
                            first, samples = _time(fn, sync, budget)
                            t.first_call_s, t.samples = first, samples
                            t.median_s = statistics.median(samples)
                            qs = (
                                statistics.quantiles(samples, n=4)
                                if len(samples) > 1
                                else [0, 0, 0]
                            )
                            t.iqr_s = qs[2] - qs[0]
                        except Exception as exc:  # report it, keep going
                            t.error = f"{type(exc).__name__}: {exc}"[:300]
                        timings.append(t)
                    del p, q
                    gc.collect()
    return timings


# --- reporting -------------------------------------------------------------------------


def _versions(backends: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in [
        "kl_backends",
        "numpy",
        "scipy",
        "torch",
        "tensorflow",
        "tensorflow-probability",
        "jax",
        "jaxlib",
        "optax",
    ]:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _find(ts, **kw) -> Timing | None:
    for t in ts:
        if all(getattr(t, k) == v for k, v in kw.items()) and not t.error:
            return t
    return None


def targets(ts: list[Timing]) -> list[dict]:
    """The issue's targets, each a ratio measured in this run."""
    rows = []

    def ratio(a, b):
        return a.median_s / b.median_s if a and b else float("nan")

    for t in ts:
        if t.kind != "kl_backends" or t.error:
            continue
        key = dict(backend=t.backend, device=t.device, size=t.size, dtype=t.dtype)
        builtins = [
            b
            for b in ts
            if b.kind == "builtin"
            and not b.error
            and all(getattr(b, k) == v for k, v in key.items())
        ]
        if (
            builtins
            and t.mode in ("eager", "jax.jit")
            and not (t.backend == "jax" and t.mode == "eager")
        ):
            best = min(builtins, key=lambda b: b.median_s)
            limit = 1.5 if t.size == "tiny" else 1.0
            r = ratio(t, best)
            rows.append(
                {
                    **key,
                    "mode": t.mode,
                    "target": f"<= {limit} x fastest built-in ({best.variant})",
                    "ratio": r,
                    "met": r <= limit,
                }
            )
        if t.size == "tiny":
            continue
        naive = _find(ts, kind="naive", mode=t.mode, **key)
        if t.backend == "numpy":
            r = ratio(naive, t)
            rows.append(
                {
                    **key,
                    "mode": t.mode,
                    "target": ">= 2x faster than the seed's naive NumPy",
                    "ratio": r,
                    "met": r >= 2,
                }
            )
            one_input = t.shape[0] * t.shape[1] * np.dtype(t.dtype).itemsize
            if t.peak_extra_bytes is not None:
                r = t.peak_extra_bytes / one_input
                rows.append(
                    {
                        **key,
                        "mode": t.mode,
                        "target": "peak extra memory <= 1/4 of one input",
                        "ratio": r,
                        "met": r <= 0.25,
                    }
                )
        if t.backend == "torch" and t.mode == "eager":
            r = ratio(t, naive)
            rows.append(
                {
                    **key,
                    "mode": t.mode,
                    "target": "<= 1.2 x naive eager",
                    "ratio": r,
                    "met": r <= 1.2,
                }
            )
            kl_div = _find(
                ts,
                kind="builtin",
                mode="eager",
                variant="F.kl_div(q.log(), p, reduction='none').sum(-1)",
                **key,
            )
            r = ratio(kl_div, t)
            rows.append(
                {
                    **key,
                    "mode": t.mode,
                    "target": ">= 5x faster than F.kl_div",
                    "ratio": r,
                    "met": r >= 5,
                }
            )
        if (t.backend, t.mode) in (
            ("jax", "jax.jit"),
            ("tensorflow", "tf.function"),
            ("torch", "torch.compile"),
        ):
            r = ratio(t, naive)
            rows.append(
                {
                    **key,
                    "mode": t.mode,
                    "target": "<= 1.1 x naive compiled the same way",
                    "ratio": r,
                    "met": r <= 1.1,
                }
            )
        floor = _find(
            ts, kind="floor", variant="floor: read p and q (p.sum() + q.sum())", **key
        ) or _find(ts, kind="floor", variant="floor: read p and q", **key)
        if floor and t.mode in ("eager", "jax.jit", "tf.function"):
            r = ratio(t, floor)
            rows.append(
                {
                    **key,
                    "mode": t.mode,
                    "target": "aim: <= 1.5 x reading both inputs once",
                    "ratio": r,
                    "met": r <= 1.5,
                }
            )
    return rows


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
    ]
    lines += [
        "| backend | size | dtype | mode | variant | median | IQR | first call | max rel err | peak extra MB |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for t in ts:
        if t.error:
            lines.append(
                f"| {t.backend}:{t.device} | {t.size} | {t.dtype} | {t.mode} | {t.variant} "
                f"| error: {t.error[:80]} | | | | |"
            )
            continue
        mem = f"{t.peak_extra_bytes / 1e6:.2f}" if t.peak_extra_bytes is not None else ""
        err = f"{t.max_rel_err:.1e}" if t.kind != "floor" else ""
        lines.append(
            f"| {t.backend}:{t.device} | {t.size} | {t.dtype} | {t.mode} | {t.variant} | "
            f"{_fmt_s(t.median_s)} | {_fmt_s(t.iqr_s)} | {_fmt_s(t.first_call_s)} | {err} | {mem} |"
        )
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


def _fmt_s(s: float) -> str:
    if s != s:
        return "-"
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def plot(ts: list[Timing], path: str, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 8), sharey=True)
    for ax, dtype in zip(axes, ["float32", "float64"]):
        series: dict[str, list] = {}
        for t in ts:
            if t.dtype != dtype or t.error or t.kind == "floor":
                continue
            label = f"{t.backend} {t.mode}: {t.variant}"[:60]
            n = t.shape[0] * t.shape[1]
            series.setdefault(label, []).append((n, t.median_s / n * 1e9))
        for label, pts in sorted(series.items()):
            pts.sort()
            style = "-o" if "kl_backends" in label else "--."
            ax.loglog(
                [x for x, _ in pts],
                [y for _, y in pts],
                style,
                label=label,
                lw=2 if "kl_backends" in label else 1,
                alpha=1 if "kl_backends" in label else 0.6,
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


# --- logits: KL(teacher || student) between [N, V] logits, with the student gradient ------
#
# Targets (issue 11), float32, [2048, 32000] and [256, 128256]:
# PyTorch eager <= 0.8x of F.kl_div(log_softmax(s), log_softmax(t), log_target=True,
# reduction="batchmean") + backward, peak extra memory <= 2 inputs; JAX jit(grad) <= 1.0x
# of optax kl_divergence_with_log_targets on log_softmax; TF tf.function + GradientTape
# <= 1.0x of the same formula in TF ops.  bf16 measured for PyTorch and JAX.  Ours and the
# peer are timed interleaved (alternating calls) in one process, so that a busy machine
# slows both alike; the ratio is the median of ours over the median of the peer.

LOGITS_SIZES = {"v32k": (2048, 32000), "v128k": (256, 128256)}
LOGITS_SWEEP = [32000, 65536, 128256, 262144]  # V for the plot, N = LOGITS_SWEEP_ROWS
LOGITS_SWEEP_ROWS = 128


class _TorchPeak:
    """Peak bytes of the tensor storages created while active (PyTorch CPU has no
    allocator statistics): a dispatch mode that counts each new storage once, by data
    pointer, until the last tensor on it is gone.  Inputs created before are not counted."""

    def __new__(cls, *inputs):
        import weakref

        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten

        class Mode(TorchDispatchMode):
            def __init__(self):
                super().__init__()
                self.refs, self.size, self.cur, self.peak = {}, {}, 0, 0
                for x in inputs:
                    self.refs[x.untyped_storage().data_ptr()] = 1 << 60

            def _drop(self, key):
                self.refs[key] -= 1
                if self.refs[key] == 0:
                    self.cur -= self.size.pop(key)
                    del self.refs[key]

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor) and t.device.type != "meta":
                        key = t.untyped_storage().data_ptr()
                        if key == 0:
                            continue
                        if key not in self.refs:
                            self.refs[key] = 0
                            self.size[key] = t.untyped_storage().nbytes()
                            self.cur += self.size[key]
                            self.peak = max(self.peak, self.cur)
                        self.refs[key] += 1
                        weakref.finalize(t, self._drop, key)
                return out

        return Mode()


def _logits_inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=shape).astype(np.float32) * 2
    s = (t + rng.normal(size=shape).astype(np.float32)).astype(np.float32)
    return t, s


def _liger_kldiv():
    """Liger-Kernel's LigerKLDIVLoss (log-probs in, batchmean), or None if not importable."""
    try:
        from liger_kernel.transformers import LigerKLDIVLoss
    except Exception:
        return None
    return LigerKLDIVLoss(reduction="batchmean", log_target=True)


def _logits_pairs(name: str, shape, dtype: str, device: str = "cpu", peer_name: str = ""):
    """(ours, peer, peak_fn, sync) on fresh inputs of ``shape``; on a CUDA device the peak
    is ``torch.cuda.max_memory_allocated`` above the inputs, and ``peer_name="liger"``
    makes the peer Liger-Kernel's LigerKLDIVLoss (after log_softmax, as it needs)."""
    from kl_backends import kl_divergence

    if device != "cpu":
        return _torch_cuda_pairs(shape, dtype, device, peer_name)
    t64, s64 = _logits_inputs(shape)
    if name == "torch":
        import torch
        import torch.nn.functional as F

        dt = getattr(torch, dtype)
        t = torch.tensor(t64).to(dt)
        s0 = torch.tensor(s64).to(dt)

        def ours():
            s = s0.clone().requires_grad_(True)
            kl_divergence(t, s, inputs="logits", reduction="mean").backward()
            return s.grad

        def peer():
            s = s0.clone().requires_grad_(True)
            F.kl_div(
                F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean"
            ).backward()
            return s.grad

        def peak(fn):
            s = s0.clone().requires_grad_(True)
            with _TorchPeak(t, s, s0) as mode:
                if fn is ours:
                    kl_divergence(t, s, inputs="logits", reduction="mean").backward()
                else:
                    F.kl_div(
                        F.log_softmax(s, -1),
                        F.log_softmax(t, -1),
                        log_target=True,
                        reduction="batchmean",
                    ).backward()
            return mode.peak / (t.numel() * t.element_size())

        return ours, peer, peak, lambda x: x
    if name == "jax":
        import jax
        import jax.numpy as jnp
        import optax

        t = jnp.asarray(t64, dtype=dtype)
        s = jnp.asarray(s64, dtype=dtype)
        ours_g = jax.jit(
            jax.grad(lambda s, t: kl_divergence(t, s, inputs="logits", reduction="mean"))
        )
        peer_g = jax.jit(
            jax.grad(
                lambda s, t: optax.losses.kl_divergence_with_log_targets(
                    jax.nn.log_softmax(s), jax.nn.log_softmax(t)
                ).mean()
            )
        )

        def peak(fn):
            g = ours_g if fn is ours else peer_g
            analysis = g.lower(s, t).compile().memory_analysis()
            return analysis.temp_size_in_bytes / (t.size * t.dtype.itemsize)

        def ours():
            return ours_g(s, t)

        def peer():
            return peer_g(s, t)

        return ours, peer, peak, lambda x: x.block_until_ready()
    if name == "tensorflow":
        import tensorflow as tf

        t = tf.constant(t64.astype(dtype))
        s = tf.constant(s64.astype(dtype))

        def grad_of(loss):
            @tf.function
            def g(s, t):
                with tf.GradientTape() as tape:
                    tape.watch(s)
                    y = loss(s, t)
                return tape.gradient(y, s)

            return g

        def formula(s, t):
            ls, lt = tf.nn.log_softmax(s), tf.nn.log_softmax(t)
            return tf.reduce_mean(tf.reduce_sum(tf.exp(lt) * (lt - ls), axis=-1))

        ours_g = grad_of(lambda s, t: kl_divergence(t, s, inputs="logits", reduction="mean"))
        peer_g = grad_of(formula)

        def ours():
            return ours_g(s, t)

        def peer():
            return peer_g(s, t)

        return ours, peer, None, lambda x: x.numpy()
    raise ValueError(name)


def _torch_cuda_pairs(shape, dtype: str, device: str, peer_name: str):
    import torch
    import torch.nn.functional as F

    from kl_backends import kl_divergence

    gen = torch.Generator(device=device).manual_seed(0)
    dt = getattr(torch, dtype)
    t = (torch.randn(shape, device=device, generator=gen) * 2).to(dt)
    s0 = (t.float() + torch.randn(shape, device=device, generator=gen)).to(dt)
    liger = _liger_kldiv() if peer_name == "liger" else None
    if peer_name == "liger" and liger is None:
        raise RuntimeError("liger_kernel is not importable")

    def ours():
        s = s0.clone().requires_grad_(True)
        kl_divergence(t, s, inputs="logits", reduction="mean").backward()
        return s.grad

    def peer():
        s = s0.clone().requires_grad_(True)
        if liger is not None:
            liger(F.log_softmax(s, -1), F.log_softmax(t, -1)).backward()
        else:
            F.kl_div(
                F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean"
            ).backward()
        return s.grad

    def peak(fn):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / (t.numel() * t.element_size())

    def sync(x):
        torch.cuda.synchronize()
        return x

    return ours, peer, peak, sync


def _interleaved(ours, peer, sync, rounds: int) -> tuple[list, list]:
    sync(ours())
    sync(peer())  # warm-up and compilation
    a, b = [], []
    for _ in range(rounds):
        for fn, acc in ((ours, a), (peer, b)):
            start = time.perf_counter()
            sync(fn())
            acc.append(time.perf_counter() - start)
    return a, b


def run_logits(backends, rounds: int, sweep: bool, log) -> list[dict]:
    """Rows of {backend, shape, dtype, ours_s, peer_s, ratio, peak_ours, peak_peer}."""
    rows = []
    cases = []
    for name in backends:
        dtypes = ["float32"] + (["bfloat16"] if name in ("torch", "jax") else [])
        for size, shape in LOGITS_SIZES.items():
            for dtype in dtypes:
                cases.append((name, size, shape, dtype))
        if sweep and name in ("torch", "jax"):
            for v in LOGITS_SWEEP:
                cases.append((name, f"sweep-{v}", (LOGITS_SWEEP_ROWS, v), "float32"))
    if "torch" in backends:
        import torch

        if torch.cuda.is_available():  # issue 11's GPU case: vs F.kl_div and vs Liger
            for peer_name in ("", "liger"):
                cases.append(("torch", f"gpu-v128k{'-' + peer_name if peer_name else ''}",
                              (8192, 128256), "bfloat16"))  # fmt: skip
    for name, size, shape, dtype in cases:
        log(f"logits {name} {size} {shape} {dtype}")
        device = "cuda" if size.startswith("gpu") else "cpu"
        peer_name = "liger" if size.endswith("-liger") else ""
        try:
            ours, peer, peak, sync = _logits_pairs(name, shape, dtype, device, peer_name)
            a, b = _interleaved(ours, peer, sync, rounds)
            row = {
                "backend": name,
                "size": size,
                "device": device,
                "peer": "LigerKLDIVLoss (after log_softmax)" if peer_name else "",
                "shape": list(shape),
                "dtype": dtype,
                "ours_s": statistics.median(a),
                "peer_s": statistics.median(b),
            }
            row["ratio"] = row["ours_s"] / row["peer_s"]
            if peak is not None:
                gc.collect()
                row["peak_ours"] = peak(ours)
                gc.collect()
                row["peak_peer"] = peak(peer)
            del ours, peer, peak
        except Exception as exc:  # report it, keep going
            row = {"backend": name, "size": size, "shape": list(shape), "dtype": dtype}
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
        gc.collect()
        rows.append(row)
    return rows


LOGITS_PEERS = {
    "torch": "F.kl_div(log_softmax) + backward (eager)",
    "jax": "optax kl_divergence_with_log_targets, jit(grad)",
    "tensorflow": "the TF formula, tf.function + GradientTape",
}
LOGITS_TARGETS = {"torch": 0.8, "jax": 1.0, "tensorflow": 1.0}


def logits_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "## Logits: KL(teacher || student) + gradient wrt the student",
        "",
        f"{meta['machine']}, {meta['date']}; ours and the peer timed interleaved in one process "
        "(median of each); peak extra memory in units of one input (PyTorch: every tensor "
        "created during forward and backward, the gradient included; JAX: XLA's temporary "
        "buffers of the compiled jit(grad)).",
        "",
        "| backend | shape | dtype | peer | ours | peer time | ratio | target | peak ours | "
        "peak peer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['backend']} | {r['shape']} | {r['dtype']} | | error: {r['error']} | | | | | |"
            )
            continue
        target = 1.2 if r["size"].endswith("-liger") else LOGITS_TARGETS[r["backend"]]
        met = "met" if r["ratio"] <= target else "MISSED"
        is_target = (r["dtype"] == "float32" and not r["size"].startswith(("sweep", "gpu"))) or r[
            "size"
        ].endswith("-liger")
        peak_o = f"{r['peak_ours']:.2f}" if "peak_ours" in r else ""
        peak_p = f"{r['peak_peer']:.2f}" if "peak_peer" in r else ""
        lines.append(
            f"| {r['backend']}:{r.get('device', 'cpu')} | {tuple(r['shape'])} | {r['dtype']} "
            f"| {r.get('peer') or LOGITS_PEERS[r['backend']]} "
            f"| {_fmt_s(r['ours_s'])} | {_fmt_s(r['peer_s'])} | {r['ratio']:.2f} | "
            f"{f'<= {target} ({met})' if is_target else ''} | {peak_o} | {peak_p} |"
        )
    return "\n".join(lines) + "\n"


def logits_plot(rows: list[dict], path: str, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in rows if r["size"].startswith("sweep") and "error" not in r]
    if not sweep:
        return
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    for name in sorted({r["backend"] for r in sweep}):
        rs = sorted((r for r in sweep if r["backend"] == name), key=lambda r: r["shape"][1])
        v = [r["shape"][1] for r in rs]
        ax_t.plot(v, [r["ours_s"] * 1e3 for r in rs], "o-", label=f"{name}: kl_backends")
        ax_t.plot(v, [r["peer_s"] * 1e3 for r in rs], "s--", label=f"{name}: peer")
        if all("peak_ours" in r for r in rs):
            ax_m.plot(v, [r["peak_ours"] for r in rs], "o-", label=f"{name}: kl_backends")
            ax_m.plot(v, [r["peak_peer"] for r in rs], "s--", label=f"{name}: peer")
    ax_t.set(
        xlabel="vocabulary size V",
        ylabel="ms per KL + gradient",
        title=f"[{LOGITS_SWEEP_ROWS}, V] float32",
        xscale="log",
        yscale="log",
    )
    ax_m.set(xlabel="vocabulary size V", ylabel="peak extra memory (inputs)", xscale="log")
    for ax in (ax_t, ax_m):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"KL between logits, with the student gradient -- {machine}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def logits_main(args) -> None:
    names = (
        args.backends.split(",")
        if args.backends
        else [n for n in ("torch", "jax", "tensorflow") if importlib.util.find_spec(n)]
    )
    start = time.time()
    rows = run_logits(
        names, 3 if args.quick else 7, not args.quick, lambda m: print("  ..", m, flush=True)
    )
    meta = {
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)"
        + ("" if not any(r.get("device") == "cuda" for r in rows) else ", CUDA"),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "versions": _versions(names),
        "seconds": time.time() - start,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "logits.json"), "w") as fh:
        json.dump({"meta": meta, "rows": rows}, fh, indent=1)
    md = logits_markdown(rows, meta)
    with open(os.path.join(args.out, "logits.md"), "w") as fh:
        fh.write(md)
    logits_plot(rows, os.path.join(args.out, "logits.png"), meta["machine"])
    print(md)
    print(f"written to {args.out} in {meta['seconds']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default=None, help="default: every installed one")
    parser.add_argument("--quick", action="store_true", help="tiny and medium, short budget")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timing per variant")
    parser.add_argument("--no-torch-compile", action="store_true")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument(
        "--logits", action="store_true", help="the logits section only (logits.{json,md,png})"
    )
    args = parser.parse_args()
    if args.logits:
        logits_main(args)
        return
    names = (
        args.backends.split(",")
        if args.backends
        else [n for n in ("numpy", "torch", "tensorflow", "jax") if importlib.util.find_spec(n)]
    )
    sizes = {k: v for k, v in SIZES.items() if not (args.quick and k == "wide")}
    budget = 0.3 if args.quick else args.budget
    start = time.time()
    ts = run(
        names,
        sizes,
        ["float32", "float64"],
        budget,
        not args.no_torch_compile,
        lambda m: print("  ..", m, flush=True),
    )
    machine = (
        f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores, no GPU)"
        if not any(t.device not in ("cpu", "CPU:0") for t in ts)
        else platform.node()
    )
    meta = {
        "machine": machine,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "versions": _versions(names),
        "seconds": time.time() - start,
    }
    tg = targets(ts)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench.json"), "w") as fh:
        json.dump({"meta": meta, "timings": [asdict(t) for t in ts], "targets": tg}, fh, indent=1)
    md = markdown(ts, tg, meta)
    with open(os.path.join(args.out, "bench.md"), "w") as fh:
        fh.write(md)
    plot(ts, os.path.join(args.out, "bench.png"), machine)
    print(md)
    print(f"written to {args.out} in {meta['seconds']:.0f} s")


if __name__ == "__main__":
    main()
