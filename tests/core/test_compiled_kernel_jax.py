"""On CPU (one device) JAX's probabilities KL is the C kernel of ``backends/_probs_cpu.py``
through XLA's FFI, under ``jax.jit``, ``vmap`` and eager calls: its values agree with the
generic code's (zeros, infinities, NaN, subnormals, extreme ratios and nearly equal
distributions included), with SciPy and mpmath, and its derivatives (``grad``, ``jvp``,
``hessian``, through the ``custom_jvp``) with the generic code's.  The kernel's threads
take XLA's floating-point environment, so subnormals are flushed as XLA flushes them on
every row (``test_fastpaths_extremes.py`` checks that on 600 rows split over threads)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _probs_kernel_cases import assert_same, edge_rows

from conftest import need, with_generic_code

jax = need("jax")

import jax.numpy as jnp  # noqa: E402

import kl_backends as kb  # noqa: E402
from kl_backends.backends.jax import harness, kernels  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None,
    reason="no C++ compiler: the FFI wrapper is not built (the fused code is tested elsewhere)",
)


def _uses_kernel(fn, *args) -> bool:
    """Whether ``jax.jit(fn)`` calls the kernel's FFI target (in its lowered module)."""
    return kernels._TARGET in jax.jit(fn).lower(*args).as_text()


def _kl(a, b):
    return kb.kl_divergence(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("width", [7, 64, 1000], ids=["7", "64", "1000"])
def test_values_agree_with_generic_code_on_every_convention(dtype, width, monkeypatch) -> None:
    p0, q0 = edge_rows(width, None)  # (XLA flushes subnormals)
    with harness.x64():
        p, q = jnp.asarray(p0, dtype), jnp.asarray(q0, dtype)
        assert _uses_kernel(_kl, p, q), "jax.jit did not call the C kernel"
        jitted = jax.jit(_kl)(p, q)
        eager = kb.kl_divergence(p, q)  # through one cached jax.jit of the same code
        want = with_generic_code(monkeypatch, lambda: kb.kl_divergence(p, q))
    rtol = 2e-6 if dtype == "float32" else 1e-13
    assert_same(jitted, want, rtol)
    assert_same(eager, want, rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_against_scipy_and_mpmath(dtype) -> None:
    """Random and extreme-ratio rows against SciPy's ``rel_entr`` summed in float64, nearly
    equal rows (1e-3 .. 1e-6 relative) against mpmath at 40 digits on the same rounded
    inputs (a plain sum loses up to 4e-5 in float32 and 3e-11 in float64 there)."""
    special = pytest.importorskip("scipy.special")
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.ones(500), size=24)
    q = rng.dirichlet(np.ones(500), size=24)
    for i, eps in enumerate((1e-3, 1e-4, 1e-5, 1e-6)):
        r = p[i] * (1 + eps * rng.normal(size=500))
        q[i] = r / r.sum()
    q[20] = p[20] * (1e-30 if dtype == "float32" else 1e-300)
    assert kernels._kernel_ready()  # built and registered (the direct call below needs it)
    with harness.x64():
        a, b = jnp.asarray(p, dtype), jnp.asarray(q, dtype)
        got = np.asarray(jax.jit(kernels._kernel)(a, b), np.float64)
        x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    eps = float(np.finfo(dtype).eps)
    want = special.rel_entr(x, y).sum(-1)
    terms = np.abs(special.rel_entr(x, y)).sum(-1)
    assert np.all(np.abs(got[4:] - want[4:]) <= 8 * eps * (terms[4:] + np.abs(want[4:])))
    with mpmath.workdps(40):
        exact = [
            float(mpmath.fsum(mpmath.mpf(u) * mpmath.log(mpmath.mpf(u) / mpmath.mpf(v))
                              for u, v in zip(x[i], y[i])))
            for i in range(4)
        ]  # fmt: skip
    np.testing.assert_allclose(got[:4], exact, rtol=1e-6 if dtype == "float32" else 1e-13)


def test_shapes_vmap_and_what_it_leaves_to_the_fused_code(monkeypatch) -> None:
    """Leading axes and ``vmap`` (batched in one call); broadcast shapes keep the fused
    code."""
    rng = np.random.default_rng(2)
    p = jnp.asarray(rng.dirichlet(np.ones(30), size=(2, 3)), jnp.float32)
    q = jnp.asarray(rng.dirichlet(np.ones(30), size=(2, 3)), jnp.float32)
    x, y = np.asarray(p, np.float64), np.asarray(q, np.float64)
    want = np.sum(x * np.log(x / y), axis=-1)
    np.testing.assert_allclose(kb.kl_divergence(p, q), want, rtol=2e-6)
    batched = jax.vmap(_kl)
    assert _uses_kernel(batched, p, q)
    np.testing.assert_allclose(batched(p, q), want, rtol=2e-6)
    # one row of q against both rows of p: broadcast, the fused code
    assert not _uses_kernel(_kl, p, q[:1])
    np.testing.assert_allclose(_kl(p, q[:1]), np.sum(x * np.log(x / y[:1]), -1), rtol=2e-6)


def _loss(p, q):
    return kb.kl_divergence(p, q, reduction="sum")


def test_derivatives_agree_with_generic_code(monkeypatch) -> None:
    """``grad`` wrt both inputs, ``jvp`` and a Hessian of ``q`` (float64), zeros of ``p``
    and identical rows included."""
    rng = np.random.default_rng(4)
    p0 = rng.dirichlet(np.ones(12), size=5)
    q0 = rng.dirichlet(np.ones(12), size=5)
    p0[0, :3] = 0
    q0[1] = p0[1]
    t0 = rng.normal(size=(5, 12))

    def derivatives(p, q, t):
        g = jax.grad(_loss, argnums=(0, 1))(p, q)
        j = jax.jvp(_loss, (p, q), (t, -t))
        h = jax.hessian(lambda b: _loss(p[2], b))(q[2])
        return (*g, *j, h)

    with harness.x64():
        p, q, t = (jnp.asarray(a) for a in (p0, q0, t0))
        assert _uses_kernel(derivatives, p, q, t)
        got = jax.jit(derivatives)(p, q, t)
        want = with_generic_code(monkeypatch, lambda: derivatives(p, q, t))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-14)


def test_without_the_kernel_the_fused_code_runs(monkeypatch) -> None:
    # a width no other test traces (JAX caches the traces of the custom_jvp's function)
    p0, q0 = edge_rows(67, None, seed=5)
    p, q = jnp.asarray(p0, jnp.float32), jnp.asarray(q0, jnp.float32)
    monkeypatch.setattr(kernels, "_kernel_ready", lambda: False)

    assert not _uses_kernel(_kl, p, q)
    got = jax.jit(_kl)(p, q)
    want = with_generic_code(monkeypatch, lambda: kb.kl_divergence(p, q))
    assert_same(got, want, 2e-6)


_AFTER_JAX = """
import numpy as np, jax.numpy as jnp, torch
import kl_backends as kb
p = jnp.full((512, 1024), 1 / 1024, jnp.float32)
kb.kl_divergence(p, p).block_until_ready()  # the kernel, on the threads XLA calls it from
x = torch.full((600, 1000), 1e-38, dtype=torch.float32)  # subnormal
y = torch.full((600, 1000), 10.0, dtype=torch.float32)
print(int((x * 1.0 == 0).sum()), int((kb.kl_divergence(x, y) == 0).sum()))
"""


def test_a_jax_call_leaves_no_flushing_thread_to_pytorch() -> None:
    """XLA runs the kernel on threads that flush subnormals to zero; threads started from
    there inherit that.  A fresh process: JAX's call first, then PyTorch on subnormals
    (its own multiply and kl_divergence on 600,000 elements, on its thread pool): nothing
    flushed (OpenMP pool threads started during the JAX call used to flush for PyTorch)."""
    import subprocess
    import sys

    need("torch")
    run = subprocess.run([sys.executable, "-c", _AFTER_JAX], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["0", "0"]
