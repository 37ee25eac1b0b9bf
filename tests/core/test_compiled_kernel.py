"""Under ``torch.compile`` on CPU, the probabilities KL is the C kernel of
``backends/_probs_cpu.py`` behind the custom operator ``kl_backends::kl_probs_rows``:
its values agree with the generic code's (zeros, infinities, NaN, subnormals, extreme
ratios and nearly equal distributions included) and with float64 SciPy, and its
gradients (compiled; and second order through the operator) with autograd of the
generic code."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _probs_kernel_cases import assert_same, edge_rows

from conftest import need, record_calls, with_generic_code

torch = need("torch")

import kl_backends as kb  # noqa: E402
from kl_backends.backends import _probs_cpu  # noqa: E402
from kl_backends.backends.torch import kernels  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler: the kernel is not built (the generic code is tested elsewhere)",
)


def test_the_kernel_builds() -> None:
    assert _probs_cpu.library() is not None, "a C compiler exists but the kernel did not build"


TINY = {"float32": 1e-41, "float64": 1e-310}  # subnormal in each dtype


def _rows(dtype, width):
    p, q = edge_rows(width, TINY[dtype])
    t = getattr(torch, dtype)
    return torch.tensor(p, dtype=t), torch.tensor(q, dtype=t)


def _compiled(fn):
    torch._dynamo.reset()
    return torch.compile(fn, fullgraph=True, dynamic=False)


def _assert_same(got, want, rtol):
    assert_same(got.double().numpy(), want.double().numpy(), rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("width", [7, 64, 1000], ids=["7", "64", "1000"])
def test_values_agree_with_generic_code_on_every_convention(dtype, width, monkeypatch) -> None:
    p, q = _rows(dtype, width)
    calls = record_calls(monkeypatch, _probs_cpu, "sums")
    got = _compiled(lambda a, b: kb.kl_divergence(a, b))(p, q)
    assert calls, "the compiled call did not run the C kernel"
    want = with_generic_code(monkeypatch, lambda: kb.kl_divergence(p, q))
    _assert_same(got, want, rtol=2e-6 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_against_scipy_and_mpmath(dtype) -> None:
    """Random and extreme-ratio rows against SciPy's ``rel_entr`` summed in float64, and
    nearly equal rows (1e-3 .. 1e-6 relative) against mpmath at 40 digits, on the same
    (rounded) inputs: there the sum keeps its relative accuracy (a plain sum of
    ``p log(p / q)`` loses up to 4e-5 in float32 and 3e-11 in float64 to cancellation)."""
    special = pytest.importorskip("scipy.special")
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.ones(500), size=24)
    q = rng.dirichlet(np.ones(500), size=24)
    for i, eps in enumerate((1e-3, 1e-4, 1e-5, 1e-6)):
        r = p[i] * (1 + eps * rng.normal(size=500))
        q[i] = r / r.sum()
    q[20] = p[20] * (1e-30 if dtype == "float32" else 1e-300)
    t = getattr(torch, dtype)
    a, b = torch.tensor(p, dtype=t), torch.tensor(q, dtype=t)
    got = kernels.kl_probs_rows(a, b).double().numpy()
    x, y = a.double().numpy(), b.double().numpy()
    eps = float(torch.finfo(t).eps)
    want = special.rel_entr(x, y).sum(-1)
    terms = np.abs(special.rel_entr(x, y)).sum(-1)
    assert np.all(np.abs(got[4:] - want[4:]) <= 8 * eps * (terms[4:] + np.abs(want[4:])))
    with mpmath.workdps(40):
        exact = [
            float(mpmath.fsum(mpmath.mpf(u) * mpmath.log(mpmath.mpf(u) / mpmath.mpf(v))
                              for u, v in zip(x[i], y[i])))
            for i in range(4)
        ]  # fmt: skip
    rtol = 1e-6 if dtype == "float32" else 1e-13  # (a plain sum: 4e-5, 3e-11)
    np.testing.assert_allclose(got[:4], exact, rtol=rtol, atol=0)


def test_shapes_strides_and_empty_rows() -> None:
    rng = np.random.default_rng(2)
    p = torch.tensor(rng.dirichlet(np.ones(30), size=(2, 3)))
    q = torch.tensor(rng.dirichlet(np.ones(30), size=(2, 3)))
    want = torch.special.xlogy(p, p / q).sum(-1)
    torch.testing.assert_close(kernels.kl_probs_rows(p, q), want, rtol=1e-13, atol=0)
    # a transposed (non-contiguous) last axis
    pt, qt = p.reshape(6, 30).T.contiguous().T, q.reshape(6, 30).T.contiguous().T
    torch.testing.assert_close(kernels.kl_probs_rows(pt, qt), want.reshape(6), rtol=1e-13, atol=0)
    empty = torch.empty(4, 0)
    assert kernels.kl_probs_rows(empty, empty).tolist() == [0.0] * 4
    assert kernels.kl_probs_rows(torch.empty(0, 5), torch.empty(0, 5)).shape == (0,)
    for a, b in ((p, q[:1]), (p, q.float()), (p.half(), q.half())):
        with pytest.raises(ValueError, match="one shape and dtype"):
            kernels.kl_probs_rows(a, b)


def _grads(fn, p0, q0, v, second):
    p, q = p0.clone().requires_grad_(), q0.clone().requires_grad_()
    out = fn(p, q)
    gp, gq = torch.autograd.grad(out, (p, q), create_graph=second)
    if not second:
        return out.detach(), gp, gq
    (hv,) = torch.autograd.grad((gq * v).sum(), q)  # a Hessian-vector product wrt q
    return out.detach(), gp.detach(), gq.detach(), hv


def _loss(p, q):
    return kb.kl_divergence(p, q, reduction="sum")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("second", [False, True], ids=["compiled", "op-second-order"])
def test_gradients_agree_with_generic_code(dtype, second, monkeypatch) -> None:
    """Compiled: values and gradients (``torch.compile`` has no double backward); the
    operator itself, eagerly: Hessian-vector products through its registered backward."""
    rng = np.random.default_rng(4)
    t = getattr(torch, dtype)
    p0 = torch.tensor(rng.dirichlet(np.ones(40), size=6), dtype=t)
    q0 = torch.tensor(rng.dirichlet(np.ones(40), size=6), dtype=t)
    p0[0, :3] = 0  # zero p: zero gradients there
    q0[1] = p0[1]  # identical rows
    v = torch.tensor(rng.normal(size=(6, 40)), dtype=t)
    calls = record_calls(monkeypatch, _probs_cpu, "sums")
    if second:
        got = _grads(lambda p, q: kernels.kl_probs_rows(p, q).sum(), p0, q0, v, True)
    else:
        got = _grads(_compiled(_loss), p0, q0, v, False)
    assert calls
    want = with_generic_code(monkeypatch, lambda: _grads(_loss, p0, q0, v, second))
    rtol = 2e-5 if dtype == "float32" else 1e-12
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=rtol, atol=rtol * float(w.abs().max()))


def test_without_the_kernel_the_generic_code_compiles(monkeypatch) -> None:
    p, q = _rows("float32", 64)
    monkeypatch.setattr(_probs_cpu, "library", lambda: None)
    calls = record_calls(monkeypatch, _probs_cpu, "sums")
    got = _compiled(lambda a, b: kb.kl_divergence(a, b))(p, q)
    torch._dynamo.reset()
    assert not calls
    want = with_generic_code(monkeypatch, lambda: kb.kl_divergence(p, q))
    _assert_same(got, want, rtol=1e-6)
