"""Moments of a stream, in the batch's library and on its device: pure array functions.

A state is a dict of 0-d arrays (and the sketch's count vector):

* ``n`` (index dtype): values counted; ``nan``: NaN values seen (not counted);
* ``s``, ``s_c``: their sum, Neumaier-compensated (``s + s_c`` is the sum);
* ``m2``, ``m2_c``: the sum of squared deviations from the mean, compensated;
* ``max``, ``min``: of the counted values (``-inf`` / ``inf`` when none);
* ``hist``: the sketch's bucket counts.

``batch`` makes the state of one batch (two passes over it: its sum, then the
squared deviations from its own mean); ``merge`` combines two states with Chan,
Golub and LeVeque's parallel update ("Updating formulae and a pairwise algorithm for
computing sample variances", 1979)::

    delta = mean_b - mean_a
    M2 = M2_a + M2_b + delta**2 * n_a * n_b / n

Both are pure functions of arrays (no value is read, no Python branch on a value):
they run eagerly, under ``jax.jit`` and ``tf.function``, on any device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kl_backends.evaluation._sketch import Sketch

__all__ = ["batch", "empty", "merge", "step", "work_dtype"]

FIELDS = ("n", "nan", "s", "s_c", "m2", "m2_c", "max", "min", "hist")


def work_dtype(xp: Any, device: Any) -> Any:
    """float64 where the library has it on ``device`` (JAX only with x64), else float32."""
    info = xp.__array_namespace_info__()
    try:
        available = info.dtypes(device=device, kind="real floating")
    except (AttributeError, TypeError, ValueError):  # a namespace without ``dtypes``
        return getattr(xp, "float64", xp.float32)
    return available.get("float64", xp.float32)


def _one(xp: Any, like: Any) -> Any:
    """Ones like ``like`` (kl_backends' TensorFlow adapter has no ``ones_like``)."""
    return xp.zeros_like(like) + 1


def _add(xp: Any, s: Any, c: Any, v: Any) -> tuple[Any, Any]:
    """Neumaier's compensated ``s + v``: the new sum and compensation."""
    t = s + v
    big = xp.abs(s) >= xp.abs(v)
    lost = xp.where(big, (s - t) + v, (v - t) + s)
    # inf + x: the compensation would be NaN (inf - inf); there is nothing to compensate.
    return t, c + xp.where(xp.isfinite(t), lost, xp.zeros_like(t))


def batch(
    xp: Any, x: Any, valid: Any, sketch: Sketch | None, const: dict[str, Any]
) -> dict[str, Any]:
    """The state of one non-empty batch: 1-d ``x`` (work dtype), ``valid`` a bool mask
    like it."""
    nan = xp.isnan(x)
    counted = valid & ~nan
    index = xp.__array_namespace_info__().default_dtypes()["indexing"]
    zero = xp.zeros_like(x)
    n = xp.sum(xp.astype(counted, index))
    s = xp.sum(xp.where(counted, x, zero))
    nf = xp.astype(n, x.dtype)
    mean = s / xp.maximum(nf, _one(xp, nf))
    d = xp.where(counted, x - mean, zero)
    inf = zero + math.inf
    state = {
        "n": n,
        "nan": xp.sum(xp.astype(valid & nan, index)),
        "s": s,
        "s_c": xp.zeros_like(s),
        "m2": xp.sum(d * d),
        "m2_c": xp.zeros_like(s),
        "max": xp.max(xp.where(counted, x, -inf)),
        "min": -xp.max(xp.where(counted, -x, -inf)),
    }
    if sketch is not None:
        state["hist"] = sketch.count(xp, x, counted, const)
    return state


def merge(xp: Any, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The state of the union of two streams (Chan's update, compensated sums)."""
    na, nb = xp.astype(a["n"], a["s"].dtype), xp.astype(b["n"], a["s"].dtype)
    n = na + nb
    one = _one(xp, n)
    mean_a = (a["s"] + a["s_c"]) / xp.maximum(na, one)
    mean_b = (b["s"] + b["s_c"]) / xp.maximum(nb, one)
    delta = mean_b - mean_a
    cross = xp.where(n > 0, delta * delta * (na * nb / xp.maximum(n, one)), xp.zeros_like(n))
    s, s_c = _add(xp, a["s"], a["s_c"] + b["s_c"], b["s"])
    m2, m2_c = _add(xp, a["m2"], a["m2_c"] + b["m2_c"], b["m2"] + cross)
    state = {
        "n": a["n"] + b["n"],
        "nan": a["nan"] + b["nan"],
        "s": s,
        "s_c": s_c,
        "m2": m2,
        "m2_c": m2_c,
        "max": xp.maximum(a["max"], b["max"]),
        "min": xp.minimum(a["min"], b["min"]),
    }
    if "hist" in a:
        state["hist"] = a["hist"] + b["hist"]
    return state


def empty(xp: Any, sketch: Sketch | None, dtype: Any, device: Any) -> dict[str, Any]:
    """The state of no values (constants: nothing is computed)."""
    index = xp.__array_namespace_info__().default_dtypes(device=device)["indexing"]
    values = {"n": 0, "nan": 0, "s": 0.0, "s_c": 0.0, "m2": 0.0, "m2_c": 0.0}
    values.update({"max": -math.inf, "min": math.inf})
    state = {
        k: xp.asarray(v, dtype=index if isinstance(v, int) else dtype, device=device)
        for k, v in values.items()
    }
    if sketch is not None:
        state["hist"] = xp.asarray(
            np.zeros(sketch.size, dtype=np.int64), dtype=index, device=device
        )
    return state


def step(
    xp: Any, sketch: Sketch | None, old: dict[str, Any], x: Any, valid: Any, const: Any
) -> dict[str, Any]:
    """``merge(old, batch(x))``: one update, compiled whole where the backend compiles
    eager calls (``Backend.jit``: JAX, which otherwise compiles each operation)."""
    return merge(xp, old, batch(xp, x, valid, sketch, const))
