"""Time one small default call, ``kl_divergence(p, q)`` on [32, 10] float32, per backend.

    python benchmarks/quick_call.py            # median of 7 rounds, microseconds per call

The call that the quick front end serves: per-call overhead, not arithmetic.
To compare two versions of kl_backends, run it once per source tree in turns
(``PYTHONPATH=path/to/src python benchmarks/quick_call.py``), with nothing else
running.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from kl_backends import kl_divergence

SHAPE = (32, 10)


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(SHAPE[1]), size=SHAPE[0]).astype(np.float32)
    q = rng.dirichlet(np.ones(SHAPE[1]), size=SHAPE[0]).astype(np.float32)
    return p, q


def _arrays(name: str, p: np.ndarray, q: np.ndarray) -> tuple[object, object, object]:
    """The inputs in ``name``'s library, and a function that waits for a result."""
    if name == "numpy":
        return p, q, lambda r: r
    if name == "torch":
        import torch

        return torch.from_numpy(p), torch.from_numpy(q), lambda r: r
    if name == "tensorflow":
        import tensorflow as tf

        return tf.constant(p), tf.constant(q), lambda r: r.numpy()
    import jax.numpy as jnp

    return jnp.asarray(p), jnp.asarray(q), lambda r: r.block_until_ready()


def time_call(name: str, rounds: int = 7, calls: int = 2000) -> float:
    """Median over ``rounds`` of the mean time of ``calls`` calls, in microseconds."""
    a, b, wait = _arrays(name, *_inputs())
    for _ in range(50):  # warm-up: registers the quick path, compiles JAX
        wait(kl_divergence(a, b))
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            out = kl_divergence(a, b)
        wait(out)
        results.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(results)


if __name__ == "__main__":
    for backend in ("numpy", "torch", "tensorflow", "jax"):
        print(f"{backend:11s} {time_call(backend):7.1f} us")
