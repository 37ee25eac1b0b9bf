"""Row-wise KL of probabilities: kl_backends against every built-in, the naive formula
and the floors (reading both inputs once, one log pass), on every installed backend.

Each backend contributes its ``Variant``s (what is timed) and its ``Setup`` (devices,
conversions, synchronisation); ``run`` checks every variant against a float64
reference before timing it.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .common import peak_python_bytes, time_calls

SIZES = {"tiny": (32, 10), "medium": (4096, 1000), "wide": (16, 1_000_000)}
GPU_SIZES = {"gpu-large": (65536, 1000), "gpu-huge": (1_000_000, 1000)}


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


@dataclass(frozen=True)
class Variant:
    """One thing timed: ``make(p, q)`` returns the zero-argument call."""

    mode: str
    name: str
    kind: str  # "kl_backends", "builtin", "naive", "floor"
    make: Callable[[Any, Any], Callable[[], Any]]


@dataclass(frozen=True)
class Setup:
    """A backend's devices, ``native(a, dtype, device)``, ``to_numpy`` and ``sync``.

    ``python_memory``: its arrays are allocated through Python's allocators, so
    tracemalloc measures the peak extra memory of a call.
    """

    devices: list[str]
    native: Callable[[np.ndarray, str, str], Any]
    to_numpy: Callable[[Any], np.ndarray]
    sync: Callable[[Any], Any]
    python_memory: bool = False


def on_gpu(device: str) -> bool:
    return device not in ("cpu", "CPU:0")


def inputs(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 1.0, shape)
    q = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)


def reference(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.sum(p * np.log(p / q), axis=-1)


# --- per-backend variants --------------------------------------------------------------


def numpy_variants() -> list[Variant]:
    from scipy.special import rel_entr
    from scipy.stats import entropy

    from kl_backends import kl_divergence

    def naive(p, q):  # the usual p * log(p / q) code, row-wise
        return np.sum(p * np.log(p / q), axis=-1)

    return [
        Variant(
            "eager",
            "kl_backends.kl_divergence",
            "kl_backends",
            lambda p, q: lambda: kl_divergence(p, q),
        ),
        Variant(
            "eager",
            "scipy.special.rel_entr(p, q).sum(-1)",
            "builtin",
            lambda p, q: lambda: rel_entr(p, q).sum(-1),
        ),
        Variant(
            "eager",
            "scipy.stats.entropy(p, q, axis=-1)",
            "builtin",
            lambda p, q: lambda: entropy(p, q, axis=-1),
        ),
        Variant(
            "eager",
            "naive np.sum(p * np.log(p / q), -1)",
            "naive",
            lambda p, q: lambda: naive(p, q),
        ),
        Variant(
            "eager",
            "floor: read p and q (p.sum() + q.sum())",
            "floor",
            lambda p, q: lambda: p.sum() + q.sum(),
        ),
        Variant(
            "eager", "floor: one log pass (np.log(p))", "floor", lambda p, q: lambda: np.log(p)
        ),
    ]


def torch_variants(compile_: bool) -> list[Variant]:
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
        Variant(
            "eager", "kl_backends.kl_divergence", "kl_backends", lambda p, q: lambda: ours(p, q)
        ),
        Variant(
            "eager",
            "F.kl_div(q.log(), p, reduction='none').sum(-1)",
            "builtin",
            lambda p, q: lambda: F.kl_div(q.log(), p, reduction="none").sum(-1),
        ),
        Variant(
            "eager",
            "torch.distributions.kl_divergence(Categorical)",
            "builtin",
            lambda p, q: lambda: td_kl(Categorical(probs=p), Categorical(probs=q)),
        ),
        Variant(
            "eager", "naive (p * log(p / q)).sum(-1)", "naive", lambda p, q: lambda: naive(p, q)
        ),
        Variant("eager", "floor: read p and q", "floor", lambda p, q: lambda: p.sum() + q.sum()),
        Variant("eager", "floor: one log pass", "floor", lambda p, q: lambda: torch.log(p)),
    ]
    if compile_:
        c_ours = torch.compile(ours, dynamic=False)
        c_naive = torch.compile(naive, dynamic=False)
        out += [
            Variant(
                "torch.compile",
                "kl_backends.kl_divergence",
                "kl_backends",
                lambda p, q: lambda: c_ours(p, q),
            ),
            Variant(
                "torch.compile",
                "naive (p * log(p / q)).sum(-1)",
                "naive",
                lambda p, q: lambda: c_naive(p, q),
            ),
        ]
    return out


def tensorflow_variants() -> list[Variant]:
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
    naive_name = "naive reduce_sum(p * log(p / q), -1)"
    return [
        Variant(
            "eager", "kl_backends.kl_divergence", "kl_backends", lambda p, q: lambda: ours(p, q)
        ),
        Variant(
            "eager",
            "tfp.distributions.kl_divergence(Categorical)",
            "builtin",
            lambda p, q: (
                lambda: tfd.kl_divergence(tfd.Categorical(probs=p), tfd.Categorical(probs=q))
            ),
        ),
        Variant(
            "eager",
            "tf.keras.losses.kld(p, q)",
            "builtin",
            lambda p, q: lambda: tf.keras.losses.kld(p, q),
        ),
        Variant("eager", naive_name, "naive", lambda p, q: lambda: naive(p, q)),
        Variant(
            "tf.function",
            "kl_backends.kl_divergence",
            "kl_backends",
            lambda p, q: lambda: f_ours(p, q),
        ),
        Variant("tf.function", naive_name, "naive", lambda p, q: lambda: f_naive(p, q)),
        Variant("tf.function", "floor: read p and q", "floor", lambda p, q: lambda: f_read(p, q)),
    ]


def jax_variants() -> list[Variant]:
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
        Variant(
            "eager",
            "kl_backends.kl_divergence",
            "kl_backends",
            lambda p, q: lambda: kl_divergence(p, q),
        ),
        Variant(
            "jax.jit", "kl_backends.kl_divergence", "kl_backends", lambda p, q: lambda: j_ours(p, q)
        ),
        Variant(
            "jax.jit",
            "optax.losses.kl_divergence(log q, p)",
            "builtin",
            lambda p, q: lambda: j_optax(p, q),
        ),
        Variant(
            "jax.jit", "naive sum(p * log(p / q), -1)", "naive", lambda p, q: lambda: j_naive(p, q)
        ),
        Variant("jax.jit", "floor: read p and q", "floor", lambda p, q: lambda: j_read(p, q)),
        Variant("jax.jit", "floor: one log pass", "floor", lambda p, q: lambda: j_log(p)),
    ]


# --- per-backend setups ----------------------------------------------------------------


def numpy_setup() -> Setup:
    return Setup(["cpu"], lambda a, dt, dev: a.astype(dt), np.asarray, lambda x: x, True)


def torch_setup() -> Setup:
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    def sync(x):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return x

    return Setup(
        devices,
        lambda a, dt, dev: torch.tensor(a, dtype=getattr(torch, dt), device=dev),
        lambda x: x.detach().cpu().double().numpy(),
        sync,
    )


def tensorflow_setup() -> Setup:
    import tensorflow as tf

    devices = ["CPU:0"] + [
        d.name.split("device:")[-1] for d in tf.config.list_logical_devices("GPU")
    ]

    def native(a, dt, dev):
        with tf.device(dev):
            return tf.constant(a.astype(dt))

    return Setup(devices, native, lambda x: np.asarray(x, np.float64), lambda x: x.numpy())


def jax_setup() -> Setup:
    import jax

    jax.config.update("jax_enable_x64", True)
    devices = ["cpu"] + (["gpu"] if any(d.platform == "gpu" for d in jax.devices()) else [])

    def native(a, dt, dev):
        return jax.device_put(jax.numpy.asarray(a, dtype=dt), jax.devices(dev)[0])

    return Setup(
        devices, native, lambda x: np.asarray(x, np.float64), lambda x: x.block_until_ready()
    )


@dataclass(frozen=True)
class Subject:
    """A backend in this benchmark: its setup, and its variants given whether torch.compile."""

    setup: Callable[[], Setup]
    variants: Callable[[bool], list[Variant]]


BACKENDS: dict[str, Subject] = {
    "numpy": Subject(numpy_setup, lambda compile_torch: numpy_variants()),
    "torch": Subject(torch_setup, torch_variants),
    "tensorflow": Subject(tensorflow_setup, lambda compile_torch: tensorflow_variants()),
    "jax": Subject(jax_setup, lambda compile_torch: jax_variants()),
}


# --- the run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to time: sizes by name, dtypes, seconds per variant, whether torch.compile."""

    sizes: dict[str, tuple[int, int]]
    dtypes: tuple[str, ...]
    budget: float
    compile_torch: bool


def run(backends: list[str], options: Options, log: Callable[[str], None]) -> list[Timing]:
    timings: list[Timing] = []
    for name in backends:
        setup = BACKENDS[name].setup()
        variants = BACKENDS[name].variants(options.compile_torch)
        for device in setup.devices:
            size_items = list(options.sizes.items())
            if on_gpu(device):
                size_items += list(GPU_SIZES.items())
            for size, shape in size_items:
                p64, q64 = inputs(shape, seed=hash((name, size)) % 1000)
                for dtype in options.dtypes:
                    ref = reference(
                        p64.astype(dtype).astype(np.float64), q64.astype(dtype).astype(np.float64)
                    )
                    p, q = setup.native(p64, dtype, device), setup.native(q64, dtype, device)
                    for v in variants:
                        t = Timing(name, device, size, shape, dtype, v.mode, v.name, v.kind)
                        log(f"{name}:{device} {size} {dtype} {v.mode:13s} {v.name}")
                        _measure(t, v.make(p, q), ref, setup, options.budget)
                        timings.append(t)
                    del p, q
                    gc.collect()
    return timings


def _measure(
    t: Timing, fn: Callable[[], Any], ref: np.ndarray, setup: Setup, budget: float
) -> None:
    """Check ``fn`` against the reference, then time it into ``t`` (or record its error)."""
    try:
        if t.kind != "floor":
            got = setup.to_numpy(fn())
            rel = np.max(np.abs(got - ref) / np.abs(ref))
            t.max_rel_err = float(rel)
            tol = 1e-3 if t.dtype == "float32" else 1e-9
            if not rel <= tol:
                raise AssertionError(f"disagrees with float64 reference: {rel:.2e}")
        if setup.python_memory and t.kind != "floor":
            t.peak_extra_bytes = peak_python_bytes(fn)
        first, samples = time_calls(fn, setup.sync, budget)
        t.first_call_s, t.samples = first, samples
        t.median_s = statistics.median(samples)
        qs = statistics.quantiles(samples, n=4) if len(samples) > 1 else [0, 0, 0]
        t.iqr_s = qs[2] - qs[0]
    except Exception as exc:  # report it, keep going
        t.error = f"{type(exc).__name__}: {exc}"[:300]
