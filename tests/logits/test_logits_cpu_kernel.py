"""The compiled CPU kernel of the logits rows (PyTorch and JAX) (backends/_logits_cpu.py).

KL and cross-entropy between ``[N, V]`` logits on CPU tensors (float32, bfloat16)
go through a C kernel built on first use.  It must agree with the generic block
code (``KL_BACKENDS_FASTPATHS=0``) on values and on the gradients of both inputs:
plain rows, ``-inf`` logits (``p == 0``, ``q == 0`` under ``p > 0``), rows of
``-inf`` only, NaN and ``+inf`` rows, zeros, identical rows, temperature, ``where``
masks, broadcast (stride 0) rows, bfloat16.  The chunks of the row sums are made
3 elements long and the rows are split over 3 threads, so that every row spans
several chunks (with a partial last one) and every thread gets rows.  Plain rows
are also checked against a float64 NumPy formula.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import record_calls, with_generic_code  # noqa: E402
from kl_backends import cross_entropy, kl_divergence  # noqa: E402
from kl_backends.backends import _logits_cpu as logits_cpu  # noqa: E402
from kl_backends.backends.torch import logits as torch_logits  # noqa: E402

FNS = {"kl": kl_divergence, "ce": cross_entropy}


@pytest.fixture
def kernel(monkeypatch):
    """Small chunks, 3 threads, and a count of the kernel's calls."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the kernel is not built (the other paths are tested)")
    assert logits_cpu.library() is not None, "a C compiler exists but the kernel did not build"
    monkeypatch.setattr(torch_logits, "KERNEL_CHUNK", 3)
    monkeypatch.setattr(torch_logits, "KERNEL_THREADS", 3)
    return record_calls(monkeypatch, logits_cpu, "rows")


def _edge_rows(v=11, seed=0):
    """[10, v] float64 logits (teacher, student) with an edge case in most rows."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(10, v)) * 3
    b = a + rng.normal(size=(10, v))
    a[1, :4] = -np.inf  # p == 0 at some events
    b[2, 3] = -np.inf  # q == 0 under p > 0: +inf
    a[3] = b[3] = -np.inf  # a row of -inf only on both sides
    b[3, 0] = a[3, 0] = 0.0
    a[4, 5] = np.nan  # NaN: the row is NaN
    b[5, 2] = np.inf  # +inf
    a[6], b[6] = 0.0, 0.0  # zeros: uniform against uniform
    b[7] = a[7]  # identical rows
    a[8] = -np.inf  # all -inf on one side: NaN
    b[9, :] = b[9, :] * 40  # extreme scales (many p, q underflow)
    return a, b


def _values_and_grads(fn, a, b, dtype, **kw):
    ta = torch.tensor(a, dtype=dtype, requires_grad=True)
    tb = torch.tensor(b, dtype=dtype, requires_grad=True)
    vals = fn(ta, tb, inputs="logits", reduction="none", **kw)
    weights = torch.linspace(0.5, 1.5, vals.shape[0], dtype=vals.dtype)
    # NaN rows get no cotangent (it would spread NaN); +inf rows do (q - p wrt the
    # student, NaN wrt the teacher: the generic code's gradients there)
    torch.where(torch.isnan(vals), 0.0, vals * weights).sum().backward()
    return (vals.detach().double().numpy(), ta.grad.double().numpy(), tb.grad.double().numpy())


def _agree(got, want, rtol, atol):
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w))
        np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w))
        ok = np.isfinite(w)
        np.testing.assert_allclose(g[ok], w[ok], rtol=rtol, atol=atol)


@pytest.mark.parametrize("kind", ["kl", "ce"])
@pytest.mark.parametrize(
    "dtype,temperature,masked",
    [("float32", None, False), ("float32", 2.5, True), ("bfloat16", 0.7, False)],
)
def test_agrees_with_generic(kernel, monkeypatch, kind, dtype, temperature, masked) -> None:
    a, b = _edge_rows()
    dt = getattr(torch, dtype)
    where = torch.tensor([i % 4 != 2 for i in range(10)]) if masked else None
    kw = {"temperature": temperature, "where": where}
    fast = _values_and_grads(FNS[kind], a, b, dt, **kw)
    assert kernel, "the compiled kernel was not called"
    generic = with_generic_code(monkeypatch, lambda: _values_and_grads(FNS[kind], a, b, dt, **kw))
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == "float32" else {"rtol": 2e-2, "atol": 2e-3}
    _agree(fast, generic, **tol)
    assert np.isnan(fast[0][4]) and np.isnan(fast[0][8])  # NaN and all -inf rows
    if not masked:
        assert np.isposinf(fast[0][2])  # q == 0 under p > 0


@pytest.mark.parametrize("kind", ["kl", "ce"])
def test_float64_fast_block_agrees_with_generic(monkeypatch, kind) -> None:
    """float64 rows, which the kernel does not take, go through the eager fast block
    (``torch/logits.py``): the same edge rows, +inf values included."""
    a, b = _edge_rows()
    fast = _values_and_grads(FNS[kind], a, b, torch.float64)
    generic = with_generic_code(
        monkeypatch, lambda: _values_and_grads(FNS[kind], a, b, torch.float64)
    )
    _agree(fast, generic, rtol=1e-12, atol=1e-14)
    assert np.isposinf(fast[0][2]) and np.isnan(fast[1][2]).all()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("upstream", [1.0, 2.5])
@pytest.mark.parametrize(
    "dtype,temperature,masked",
    [
        ("float32", None, False),
        ("float32", 2.5, True),
        ("bfloat16", 0.7, False),
        ("float64", 2.5, False),  # not the kernel's: the fast block, which scales the same way
    ],
)
def test_reduced_loss_gradients(
    kernel, monkeypatch, reduction, upstream, dtype, temperature, masked
) -> None:
    """A reduced loss: the kernel scales its gradients by the row cotangent a plain
    ``backward()`` brings (1 for a sum, 1/N for a mean), and rescales when another
    arrives (``loss * 2.5``); rows the generic code redoes are scaled the same way."""
    a, b = _edge_rows()
    a[4, 5], b[5, 2] = 0.0, 0.0  # no NaN or +inf inputs (row 2's value is +inf)
    dt = getattr(torch, dtype)
    where = torch.tensor([i % 4 != 2 for i in range(10)]) if masked else None

    def run():
        ta = torch.tensor(a, dtype=dt, requires_grad=True)
        tb = torch.tensor(b, dtype=dt, requires_grad=True)
        loss = kl_divergence(
            ta, tb, inputs="logits", reduction=reduction, temperature=temperature, where=where
        )
        (loss if upstream == 1.0 else loss * upstream).backward()
        return (loss.detach().double().numpy(), ta.grad.double().numpy(), tb.grad.double().numpy())

    fast = run()
    assert bool(kernel) == (dtype != "float64"), "the compiled kernel was (not) called"
    generic = with_generic_code(monkeypatch, run)
    tol = {
        "float32": {"rtol": 2e-5, "atol": 2e-6},
        "bfloat16": {"rtol": 2e-2, "atol": 2e-3},
        "float64": {"rtol": 1e-12, "atol": 1e-14},
    }[dtype]
    _agree(fast, generic, **tol)
    assert np.isnan(fast[1][8]).all()  # the all -inf row (kept by the mask), redone
    if not masked:  # +inf (q == 0 under p > 0): NaN wrt the teacher, q - p wrt the student
        assert np.isnan(fast[1][2]).all() and np.isfinite(fast[2][2]).all()


def _reference(a, b, temperature):
    """float64 KL(softmax(a/T) || softmax(b/T)) per row, and its gradients."""
    a, b = a / temperature, b / temperature
    lp = (
        a - np.log(np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True)) - a.max(-1)[:, None]
    )
    lq = (
        b - np.log(np.exp(b - b.max(-1, keepdims=True)).sum(-1, keepdims=True)) - b.max(-1)[:, None]
    )
    p, q = np.exp(lp), np.exp(lq)
    kl = (p * (lp - lq)).sum(-1)
    return kl, p * (lp - lq - kl[:, None]) / temperature, (q - p) / temperature


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_matches_float64_formula(kernel, temperature) -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(7, 50)) * 4
    b = a + rng.normal(size=(7, 50))
    ta = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float32, requires_grad=True)
    kl_divergence(ta, tb, inputs="logits", reduction="sum", temperature=temperature).backward()
    vals = kl_divergence(ta, tb, inputs="logits", reduction="none", temperature=temperature)
    assert len(kernel) == 2
    want, ga, gb = _reference(a, b, temperature)
    np.testing.assert_allclose(vals.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ta.grad.numpy(), ga, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(tb.grad.numpy(), gb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("large", ["teacher", "student"])
@pytest.mark.parametrize("kind", ["kl", "ce"])
def test_large_logits_and_offsets_against_float64(kernel, monkeypatch, kind, large) -> None:
    """Logits of 1e4, 1e6 and 1e30, and teacher and student 1e5 apart: the kernel keeps
    float32 accuracy against the float64 formula on the same (rounded) inputs, values and
    both gradients, and so do the generic code's values (the log-probabilities' differences formed in double; a float
    ``(x - y) - (la - lb)`` gave 0 instead of 1.18 at 1e30 and 1.1875 at 1e6)."""
    rows = [[1e30, -1e30, 0.0, 2.0], [1e4, 0.0, 0.0, 1.0], [1e6, 3.0, -2.0, 0.0],
            [1e5 + 1.5, 1e5, 1e5 - 2.0, 1e5 + 0.25]]  # fmt: skip
    a = torch.tensor(rows, dtype=torch.float32).double().numpy()
    b = np.tile([0.0, 0.5, -0.5, 0.125], (4, 1))
    if large == "student":
        a, b = b, a
    ta = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float32, requires_grad=True)
    vals = FNS[kind](ta, tb, inputs="logits", reduction="none")
    vals.sum().backward()
    assert len(kernel) == 1
    lp = torch.log_softmax(torch.tensor(a), -1).numpy()
    lq = torch.log_softmax(torch.tensor(b), -1).numpy()
    p, q = np.exp(lp), np.exp(lq)
    terms = np.where(p > 0, p * (lp - lq), 0.0) if kind == "kl" else -p * lq
    want = terms.sum(-1)
    if kind == "kl":
        ga = np.where(p > 0, p * (lp - lq - want[:, None]), 0.0)
    else:
        ga = -p * (lq + want[:, None])
    np.testing.assert_allclose(vals.detach().numpy(), want, rtol=2e-6, atol=0)
    # the generic code's values too (its log-probabilities shifted by the row maxima)
    generic = with_generic_code(
        monkeypatch, lambda: FNS[kind](ta.detach(), tb.detach(), inputs="logits", reduction="none")
    )
    np.testing.assert_allclose(generic.numpy(), want, rtol=2e-6, atol=0)
    np.testing.assert_allclose(tb.grad.numpy(), q - p, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ta.grad.numpy(), ga, rtol=1e-5, atol=1e-7)


def test_broadcast_teacher_and_one_gradient(kernel, monkeypatch) -> None:
    """A teacher row broadcast over the batch (row stride 0); only the student's gradient."""
    rng = np.random.default_rng(2)
    t = torch.tensor(rng.normal(size=(1, 9)), dtype=torch.float32).expand(6, 9)
    s0 = torch.tensor(rng.normal(size=(6, 9)), dtype=torch.float32)

    def run():
        s = s0.clone().requires_grad_(True)
        vals = kl_divergence(t, s, inputs="logits", reduction="none")
        vals.sum().backward()
        return vals.detach().numpy(), s.grad.numpy()

    fast = run()
    assert kernel == [(6, 9)]
    generic = with_generic_code(monkeypatch, run)
    _agree(fast, generic, rtol=2e-5, atol=2e-6)


def test_values_only_and_second_backward(kernel, monkeypatch) -> None:
    """No gradient wanted; and a second backward (retain_graph) recomputes the gradient."""
    rng = np.random.default_rng(3)
    a = torch.tensor(rng.normal(size=(4, 13)), dtype=torch.float32)
    b = torch.tensor(rng.normal(size=(4, 13)), dtype=torch.float32, requires_grad=True)
    with torch.no_grad():
        plain = cross_entropy(a, b, inputs="logits", reduction="none").numpy()
    loss = kl_divergence(a, b, inputs="logits", reduction="mean")
    loss.backward(retain_graph=True)
    first = b.grad.clone()
    b.grad = None
    loss.backward()
    np.testing.assert_allclose(b.grad.numpy(), first.numpy(), rtol=1e-5, atol=1e-7)
    generic = with_generic_code(
        monkeypatch, lambda: cross_entropy(a, b, inputs="logits", reduction="none")
    )
    np.testing.assert_allclose(plain, generic.detach().numpy(), rtol=2e-5, atol=2e-6)
    assert len(kernel) == 2


def test_exp_within_an_ulp_of_float64(kernel) -> None:
    """The kernel's exp against NumPy's float64 exp: every 97th float32 of [-1, 0], 2
    million spread over [-87, 0] and the edges, within 1.05 ulp (of the float32 result);
    below -87 (results under 2^-125, where the kernel stops) and at -inf, 0."""
    lib = logits_cpu.library()
    rng = np.random.default_rng(0)
    # every 97th float32 of [-1, 0] (by bit pattern: -1 is 0xBF800000), subnormals included
    dense = np.arange(0x80000000, 0xBF800001, 97, dtype=np.uint32).view(np.float32)
    spread = -rng.uniform(0, 87, size=2_000_000).astype(np.float32)
    edges = np.array([0.0, -0.0, -1e-30, -0.34657359, -0.6931472, -86.99, -87.0], np.float32)
    x = np.ascontiguousarray(np.concatenate([dense, spread, edges]))
    out = np.empty_like(x)
    lib.kl_exp(x.ctypes.data, out.ctypes.data, x.size)
    want = np.exp(x.astype(np.float64))
    ulp = np.spacing(want.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out - want) / ulp) <= 1.05
    below = np.array([-87.5, -100.0, -1e10, -np.inf], np.float32)
    out = np.empty_like(below)
    lib.kl_exp(below.ctypes.data, out.ctypes.data, below.size)
    assert np.all(out == 0.0)


def test_turned_off(monkeypatch) -> None:
    """``KL_BACKENDS_CPU_KERNEL=0``: no kernel (the torch block path)."""
    monkeypatch.setenv("KL_BACKENDS_CPU_KERNEL", "0")
    assert logits_cpu.library() is None


# --- JAX: the same kernel through XLA's FFI ------------------------------------------------


@pytest.fixture
def jax_kernel(monkeypatch):
    """JAX with small chunks and a count of the kernel's traced calls."""
    jax = pytest.importorskip("jax")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler: the FFI kernel is not built (the other paths are tested)")
    from kl_backends.backends.jax import logits as jax_logits

    monkeypatch.setattr(jax_logits, "KERNEL_CHUNK", 3)
    return jax, record_calls(monkeypatch, jax_logits, "_kernel")


def _jax_values_and_grads(jax, fn, a, b, dtype, **kw):
    import jax.numpy as jnp

    ta, tb = jnp.asarray(a, dtype), jnp.asarray(b, dtype)

    def loss(x, y):
        vals = fn(x, y, inputs="logits", reduction="none", **kw)
        weights = jnp.linspace(0.5, 1.5, vals.shape[0], dtype=vals.dtype)
        return jnp.sum(jnp.where(jnp.isfinite(vals), vals * weights, 0.0)), vals

    (_, vals), (ga, gb) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(ta, tb)
    return tuple(np.asarray(x, dtype=np.float64) for x in (vals, ga, gb))


@pytest.mark.parametrize("kind", ["kl", "ce"])
@pytest.mark.parametrize(
    "dtype,temperature,masked", [("float32", None, True), ("bfloat16", 1.7, False)]
)
def test_jax_agrees_with_generic(jax_kernel, monkeypatch, kind, dtype, temperature, masked):
    jax, calls = jax_kernel
    a, b = _edge_rows(v=13, seed=4)
    where = np.array([i % 3 != 1 for i in range(10)]) if masked else None
    kw = {"temperature": temperature, "where": None if where is None else jax.numpy.asarray(where)}
    fast = _jax_values_and_grads(jax, FNS[kind], a, b, dtype, **kw)
    assert (True, True) in calls, "the FFI kernel was not traced"
    generic = with_generic_code(
        monkeypatch, lambda: _jax_values_and_grads(jax, FNS[kind], a, b, dtype, **kw)
    )
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == "float32" else {"rtol": 2e-2, "atol": 2e-3}
    _agree(fast, generic, **tol)


def test_jax_student_only_jit_and_hessian(jax_kernel, monkeypatch) -> None:
    """jit(grad) wrt the student asks the kernel for its gradient only; the Hessian (the
    kernel's own jvp is the generic code's) matches diag(q) - q q^T."""
    jax, calls = jax_kernel
    import jax.numpy as jnp

    rng = np.random.default_rng(5)
    t = jnp.asarray(rng.normal(size=(4, 8)), jnp.float32)
    s = jnp.asarray(rng.normal(size=(4, 8)), jnp.float32)

    def loss(s):
        return kl_divergence(t, s, inputs="logits", reduction="sum")

    g = jax.jit(jax.grad(loss))(s)
    assert (False, True) in calls
    p, q = (np.exp(x - np.log(np.exp(x).sum(-1, keepdims=True))) for x in (t, s))
    np.testing.assert_allclose(np.asarray(g), q - p, rtol=1e-5, atol=1e-7)
    h = np.asarray(jax.hessian(lambda row: loss(s.at[0].set(row)))(s[0]))
    np.testing.assert_allclose(h, np.diag(q[0]) - np.outer(q[0], q[0]), rtol=1e-4, atol=1e-6)


def test_gradient_overlapping_an_input_is_refused() -> None:
    """The kernel writes exp(b - max b) into the gradient's row before reading b again:
    a gradient buffer over an input would give wrong values, so the call refuses it."""
    lib = logits_cpu.library()
    if lib is None:
        pytest.skip("no C compiler: the kernel is not built")
    a = np.zeros((4, 8), np.float32)
    b = np.zeros((4, 8), np.float32)
    vals = np.empty(4, np.float32)
    for g in (b, a, b[1:]):
        with pytest.raises(ValueError, match="overlaps an input"):
            logits_cpu.rows(lib, (4, 8), (a.ctypes.data, 8), (b.ctypes.data, 8), False, None,
                            None, "kl", None, (g.ctypes.data, 8), vals.ctypes.data, 1)  # fmt: skip
    g = np.empty_like(b)
    logits_cpu.rows(lib, (4, 8), (a.ctypes.data, 8), (b.ctypes.data, 8), False, None, None,
                    "kl", None, (g.ctypes.data, 8), vals.ctypes.data, 1)  # fmt: skip
    np.testing.assert_array_equal(vals, 0.0)


def test_jax_generic_gradient_with_a_large_offset(monkeypatch) -> None:
    """Without the kernel, JAX's rule takes the gradients from the generic backward block:
    a teacher 1e5 above its student gives q - p within float32 accuracy of float64
    (``exp(a - logsumexp(a))`` was 0.5% off there)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    monkeypatch.setenv("KL_BACKENDS_CPU_KERNEL", "0")
    a = np.array([[1e5 + 1.5, 1e5, 1e5 - 2.0, 1e5 + 0.25, 1e5 - 0.75]], np.float32)
    b = np.array([[0.0, 0.5, -0.5, 0.125, 0.25]], np.float32)

    def loss(s):
        return kl_divergence(jnp.asarray(a), s, inputs="logits", reduction="sum")

    g = np.asarray(jax.grad(loss)(jnp.asarray(b)), np.float64)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    p = np.exp(a64 - a64.max()) / np.exp(a64 - a64.max()).sum()
    q = np.exp(b64 - b64.max()) / np.exp(b64 - b64.max()).sum()
    np.testing.assert_allclose(g, q - p, rtol=2e-6, atol=0)
