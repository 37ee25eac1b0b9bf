"""KL(teacher || student) between [N, V] logits, with the student gradient, against a peer
and against the memory floor.

Targets (issue 11), float32, [2048, 32000] and [256, 128256]:
PyTorch eager <= 0.8x of F.kl_div(log_softmax(s), log_softmax(t), log_target=True,
reduction="batchmean") + backward, peak extra memory <= 2 inputs; JAX jit(grad) <= 1.0x
of optax kl_divergence_with_log_targets on log_softmax; TF tf.function + GradientTape
<= 1.0x of the same formula in TF ops.  bf16 measured for PyTorch and JAX.  Ours and the
peer are timed interleaved (alternating calls) in one process, so that a busy machine
slows both alike; the ratio is the median of ours over the median of the peer.

The memory floor (issue 18), timed in the same interleaved rounds: read both logits
once and write a gradient-sized array once, ``torch.sub(s, t, out=g)`` (PyTorch, into a
preallocated ``g``), ``jit(lambda s, t: s - t)`` (JAX; XLA allocates its output) and
``tf.function`` of ``s - t`` (TF).  Targets: ours <= 4x the floor, aim 2x, float32,
PyTorch eager and JAX jit(grad).  PyTorch's figures also list ``s - t`` into a fresh
tensor (``floor_alloc``): a new gradient costs its page faults, which the floor into a
reused ``g`` does not pay.  The student is one leaf reused across calls (its ``.grad``
reset), so no copy of the inputs is timed.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .common import TorchPeak, log, meta, write_results
from .logits_report import logits_markdown, logits_plot

LOGITS_SIZES = {"v32k": (2048, 32000), "v128k": (256, 128256)}
LOGITS_SWEEP = [32000, 65536, 128256, 262144]  # V for the plot, N = LOGITS_SWEEP_ROWS
LOGITS_SWEEP_ROWS = 128
#: The backends whose bfloat16 is measured, and that are swept over V.
_BF16 = ("torch", "jax")


@dataclass(frozen=True)
class Pair:
    """Ours, the peer and the floors (zero-argument calls), ``peak(fn)`` in inputs (or
    None), ``sync``."""

    ours: Callable[[], Any]
    peer: Callable[[], Any]
    peak: Callable[[Callable[[], Any]], float] | None
    sync: Callable[[Any], Any]
    floor: Callable[[], Any] | None = None
    floor_alloc: Callable[[], Any] | None = None


def interleaved_all(
    fns: dict[str, Callable[[], Any]], sync: Callable[[Any], Any], rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each function, one call of each per round (a busy machine slows
    all alike); one warm-up call each (compilation, first build)."""
    for fn in fns.values():
        sync(fn())
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            sync(fn())
            times[name].append(time.perf_counter() - start)
    return times


@dataclass(frozen=True)
class LogitsCase:
    backend: str
    size: str
    shape: tuple[int, int]
    dtype: str

    @property
    def device(self) -> str:
        return "cuda" if self.size.startswith("gpu") else "cpu"

    @property
    def peer_name(self) -> str:
        return "liger" if self.size.endswith("-liger") else ""


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


def _torch_pair(shape, dtype: str) -> Pair:
    import torch
    import torch.nn.functional as F

    from kl_backends import kl_divergence

    t64, s64 = _logits_inputs(shape)
    dt = getattr(torch, dtype)
    t = torch.tensor(t64).to(dt)
    s0 = torch.tensor(s64).to(dt)

    def ours_loss(s):
        return kl_divergence(t, s, inputs="logits", reduction="mean")

    def peer_loss(s):
        return F.kl_div(
            F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="batchmean"
        )

    s = s0.clone().requires_grad_(True)
    g = torch.empty_like(s0)

    def ours():
        s.grad = None
        ours_loss(s).backward()
        return s.grad

    def peer():
        s.grad = None
        peer_loss(s).backward()
        return s.grad

    def floor():
        return torch.sub(s0, t, out=g)

    def floor_alloc():
        return torch.sub(s0, t)

    def peak(fn):
        s = s0.clone().requires_grad_(True)
        with TorchPeak(t, s, s0) as mode:
            (ours_loss if fn is ours else peer_loss)(s).backward()
        return mode.peak / (t.numel() * t.element_size())

    return Pair(ours, peer, peak, lambda x: x, floor, floor_alloc)


def _jax_pair(shape, dtype: str) -> Pair:
    import jax
    import jax.numpy as jnp
    import optax

    from kl_backends import kl_divergence

    t64, s64 = _logits_inputs(shape)
    t = jnp.asarray(t64, dtype=dtype)
    s = jnp.asarray(s64, dtype=dtype)
    ours_g = jax.jit(jax.grad(lambda s, t: kl_divergence(t, s, inputs="logits", reduction="mean")))
    peer_g = jax.jit(
        jax.grad(
            lambda s, t: optax.losses.kl_divergence_with_log_targets(
                jax.nn.log_softmax(s), jax.nn.log_softmax(t)
            ).mean()
        )
    )

    floor_g = jax.jit(lambda s, t: s - t)

    def ours():
        return ours_g(s, t)

    def peer():
        return peer_g(s, t)

    def floor():
        return floor_g(s, t)

    def peak(fn):
        g = ours_g if fn is ours else peer_g
        analysis = g.lower(s, t).compile().memory_analysis()
        return analysis.temp_size_in_bytes / (t.size * t.dtype.itemsize)

    return Pair(ours, peer, peak, lambda x: x.block_until_ready(), floor)


def _tensorflow_pair(shape, dtype: str) -> Pair:
    import tensorflow as tf

    from kl_backends import kl_divergence

    t64, s64 = _logits_inputs(shape)
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

    floor_g = tf.function(lambda s, t: s - t)

    def ours():
        return ours_g(s, t)

    def peer():
        return peer_g(s, t)

    def floor():
        return floor_g(s, t)

    return Pair(ours, peer, None, lambda x: x.numpy(), floor)


def _torch_cuda_pair(shape, dtype: str, device: str, peer_name: str) -> Pair:
    """On a CUDA device the peak is ``torch.cuda.max_memory_allocated`` above the inputs, and
    ``peer_name="liger"`` makes the peer Liger-Kernel's LigerKLDIVLoss (after log_softmax)."""
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

    g = torch.empty_like(s0)

    def floor():
        return torch.sub(s0, t, out=g)

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

    return Pair(ours, peer, peak, sync, floor)


_PAIRS: dict[str, Callable[[Any, str], Pair]] = {
    "torch": _torch_pair,
    "jax": _jax_pair,
    "tensorflow": _tensorflow_pair,
}


def _logits_pair(case: LogitsCase) -> Pair:
    """Ours and the peer on fresh inputs of the case's shape."""
    if case.device != "cpu":
        return _torch_cuda_pair(case.shape, case.dtype, case.device, case.peer_name)
    if case.backend not in _PAIRS:
        raise ValueError(case.backend)
    return _PAIRS[case.backend](case.shape, case.dtype)


def _cases(backends: list[str], sweep: bool) -> list[LogitsCase]:
    cases = []
    for name in backends:
        dtypes = ["float32"] + (["bfloat16"] if name in _BF16 else [])
        for size, shape in LOGITS_SIZES.items():
            for dtype in dtypes:
                cases.append(LogitsCase(name, size, shape, dtype))
        if sweep and name in _BF16:
            for v in LOGITS_SWEEP:
                cases.append(LogitsCase(name, f"sweep-{v}", (LOGITS_SWEEP_ROWS, v), "float32"))
    if "torch" in backends:
        import torch

        if torch.cuda.is_available():  # issue 11's GPU case: vs F.kl_div and vs Liger
            for peer_name in ("", "liger"):
                size = f"gpu-v128k{'-' + peer_name if peer_name else ''}"
                cases.append(LogitsCase("torch", size, (8192, 128256), "bfloat16"))
    return cases


def _measure(case: LogitsCase, rounds: int) -> dict:
    pair = _logits_pair(case)
    fns = {"ours": pair.ours, "peer": pair.peer}
    if pair.floor is not None:
        fns["floor"] = pair.floor
    if pair.floor_alloc is not None:
        fns["floor_alloc"] = pair.floor_alloc
    times = interleaved_all(fns, pair.sync, rounds)
    row = {
        "backend": case.backend,
        "size": case.size,
        "device": case.device,
        "peer": "LigerKLDIVLoss (after log_softmax)" if case.peer_name else "",
        "shape": list(case.shape),
        "dtype": case.dtype,
        "ours_s": statistics.median(times["ours"]),
        "peer_s": statistics.median(times["peer"]),
    }
    for name in ("floor", "floor_alloc"):
        if name in times:
            row[f"{name}_s"] = statistics.median(times[name])
            row[f"ours_over_{name}"] = row["ours_s"] / row[f"{name}_s"]
    row["ratio"] = row["ours_s"] / row["peer_s"]
    if pair.peak is not None:
        gc.collect()
        row["peak_ours"] = pair.peak(pair.ours)
        gc.collect()
        row["peak_peer"] = pair.peak(pair.peer)
    return row


def run_logits(backends, rounds: int, sweep: bool, log) -> list[dict]:
    """Rows of {backend, shape, dtype, ours_s, peer_s, ratio, peak_ours, peak_peer}."""
    rows = []
    for case in _cases(backends, sweep):
        log(f"logits {case.backend} {case.size} {case.shape} {case.dtype}")
        try:
            row = _measure(case, rounds)
        except Exception as exc:  # report it, keep going
            row = {
                "backend": case.backend,
                "size": case.size,
                "shape": list(case.shape),
                "dtype": case.dtype,
            }
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
        gc.collect()
        rows.append(row)
    return rows


def logits_main(args) -> None:
    names = (
        args.backends.split(",")
        if args.backends
        else [n for n in ("torch", "jax", "tensorflow") if importlib.util.find_spec(n)]
    )
    start = time.time()
    rows = run_logits(names, 3 if args.quick else 7, not args.quick, log)
    machine = f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)" + (
        "" if not any(r.get("device") == "cuda" for r in rows) else ", CUDA"
    )
    info = meta(machine, start)
    md = logits_markdown(rows, info)
    write_results(args.out, "logits", {"meta": info, "rows": rows}, md)
    logits_plot(rows, os.path.join(args.out, "logits.png"), info["machine"])
    print(md)
    print(f"written to {args.out} in {info['seconds']:.0f} s")
