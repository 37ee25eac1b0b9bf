"""The Triton logits-rows kernel against the generic code: KL, generalised JSD and
cross-entropy; values and gradients on every edge row, temperature, ``where``, half
precision.

Run by the nox ``triton`` session (the interpreter on CPU tensors) and, on a GPU
machine, compiled on CUDA tensors (``benchmarks/gpu.py``).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from _triton_setup import DEVICE, QUIET, backend, close, generic, kernels, torch

import kl_backends as klb
from kl_backends._math.logits import GENERIC
from kl_backends.backends.torch.triton import logits

pytestmark = QUIET

V = 20
#: (public function, keywords, the kind and beta the kernel computes)
CASES = [
    pytest.param(klb.kl_divergence, {}, "kl", None, id="kl"),
    pytest.param(klb.cross_entropy, {}, "ce", None, id="ce"),
    pytest.param(klb.js_divergence, {}, "js", None, id="js"),
    pytest.param(klb.js_divergence, {"beta": 0.3}, "js", 0.3, id="js-beta0.3"),
]


@pytest.fixture(autouse=True)
def _tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logits, "MAX_BLOCK", 8)  # several tiles per row: the online lse


def _rows(finite: bool = False, valid: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of logits, float32: ordinary, large, identical, nearly equal, and (unless
    ``finite``) the edges: -inf entries on either side (``valid``: only those, among
    them a row whose KL is +inf), a row of -inf, NaN, +inf."""
    g = torch.Generator().manual_seed(1)
    a = 3 * torch.randn(10, V, generator=g)
    b = 3 * torch.randn(10, V, generator=g)
    a[1], b[1] = a[1] * 300, b[1] * 300  # logits of +-1000
    b[2] = a[2]  # identical
    b[3] = a[3] + 1e-4 * torch.randn(V, generator=g)  # nearly equal
    a[4, :9] = -math.inf  # impossible events of p
    rows = a, b
    if finite:
        return a[:5].to(DEVICE), b[:5].to(DEVICE)
    b[5, 3] = -math.inf  # p > 0 = q
    a[6, 5], b[6, 5] = -math.inf, -math.inf
    if valid:
        return a[:7].to(DEVICE), b[:7].to(DEVICE)
    a[7] = -math.inf  # a row of -inf: NaN
    a[8, 2] = math.nan
    b[9, 4] = math.inf
    return rows[0].to(DEVICE), rows[1].to(DEVICE)


def _call(fn: Any, kw: dict, a: torch.Tensor, b: torch.Tensor, grad: bool = True) -> list:
    x, y = a.clone().requires_grad_(grad), b.clone().requires_grad_(grad)
    vals = fn(x, y, inputs="logits", **kw)
    if not grad:
        return [vals]
    w = torch.arange(1.0, a.shape[0] + 1, device=a.device)
    (vals.float() * w).sum().backward()
    return [vals, x.grad, y.grad]


@pytest.mark.parametrize(("fn", "kw", "kind", "beta"), CASES)
def test_values_and_gradients_on_edge_rows(
    fn: Any, kw: dict, kind: str, beta: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _rows()
    with kernels():
        got = _call(fn, kw, a, b)
    with generic(monkeypatch):
        want = _call(fn, kw, a, b, grad=False)
    close(got[0], want[0])
    # Gradients: the generic block code's closed forms (which the eager kernels of every
    # backend share), at every row; autograd of the generic code on finite rows below.
    be = backend()
    w = torch.arange(1.0, a.shape[0] + 1, device=a.device)
    vals = GENERIC.forward_block(be, kind, beta, a, b)
    ga, gb = GENERIC.backward_block(be, kind, beta, a, b, vals, w, (True, True))
    close(got[1], ga, atol=1e-5)  # (sums of terms up to 10: rounding of 1e-6)
    close(got[2], gb, atol=1e-5)


@pytest.mark.parametrize(("fn", "kw", "kind", "beta"), CASES)
def test_gradients_against_autograd(
    fn: Any, kw: dict, kind: str, beta: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kw = {**kw, "temperature": 2.5}
    # Finite rows, then -inf logits too: where the value is +inf (p > 0 = q), the
    # gradient wrt the student is q - p and wrt the teacher NaN, as autograd of the
    # generic code gives.
    for a, b in (_rows(finite=True), _rows(valid=True)):
        with kernels():
            got = _call(fn, kw, a, b)
        with generic(monkeypatch):
            want = _call(fn, kw, a, b)
        for g, w in zip(got, want):
            close(g, w, atol=1e-5)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_where_and_beta(beta: float, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _rows()
    a[5], b[5] = math.nan, math.inf  # excluded: nothing of them reaches anything
    where = torch.tensor([True, False, True, True, True, False, True, True, True, True])
    where = where.to(DEVICE)
    keep = [0, 2, 3]  # included rows, finite both ways (beta = 1 is KL(q || p))
    kw = {"beta": beta, "where": where}
    with kernels():
        got = _call(klb.js_divergence, kw, a, b)
    with generic(monkeypatch):
        want = _call(klb.js_divergence, {"beta": beta}, a[keep], b[keep], grad=False)
        want_g = _call(klb.js_divergence, {"beta": beta}, a[keep], b[keep])
    close(got[0][keep], want[0])
    assert bool((got[0][[1, 5]] == 0).all())
    for g, w in zip(got[1:], want_g[1:]):
        assert bool((g[[1, 5]] == 0).all())
        scale = torch.tensor(keep, device=DEVICE, dtype=torch.float32)[:, None] + 1
        close(g[keep], w / torch.arange(1.0, 4.0, device=DEVICE)[:, None] * scale, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision(dtype: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded in half precision, computed in float32; the gradients come back in ``dtype``."""
    a, b = (x.to(dtype) for x in _rows(finite=True))
    with kernels():
        got = _call(klb.kl_divergence, {"temperature": 2.0}, a, b)
    with generic(monkeypatch):
        want = _call(klb.kl_divergence, {"temperature": 2.0}, a, b)
    assert got[0].dtype == dtype and got[1].dtype == dtype and got[2].dtype == dtype
    for g, w in zip(got, want):
        close(g, w, rtol=1e-2, atol=1e-3)
    # Against the float32 computation of the same half-precision inputs: the values
    # rounded once, the gradients twice (stored unscaled, then scaled): within 2 ulps.
    with kernels():
        full = _call(klb.kl_divergence, {"temperature": 2.0}, a.float(), b.float())
    ulp = 2.0 ** (-7 if dtype == torch.bfloat16 else -10)
    for g, w in zip(got, full):
        close(g.float(), w.to(dtype).float(), rtol=2 * ulp, atol=1e-6)


def test_second_backward_and_second_derivatives(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _rows(finite=True)

    def run() -> list[torch.Tensor]:
        x, y = a.clone().requires_grad_(), b.clone().requires_grad_()
        v = klb.kl_divergence(x, y, inputs="logits").sum()
        (g1,) = torch.autograd.grad(v, y, retain_graph=True)
        (g2,) = torch.autograd.grad(v, y, create_graph=True)
        (h,) = torch.autograd.grad((g2 * b).sum(), x)
        return [g1, g2, h]

    with kernels():
        got = run()
    with generic(monkeypatch):
        want = run()
    for g, w in zip(got, want):
        close(g, w)


def test_the_dispatch_runs_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    run = logits._launch
    monkeypatch.setattr(logits, "_launch", lambda *args: calls.append(args[-2:]) or run(*args))
    a, b = _rows(finite=True)
    with kernels():
        klb.kl_divergence(a, b, inputs="logits", reduction="mean")
        klb.kl_divergence(a.double(), b.double(), inputs="logits")  # float64: the generic code
        y = b.clone().requires_grad_()
        klb.kl_divergence(a, y, inputs="logits", reduction="mean").backward()
    # One launch each; the gradient for b computed in the forward and only scaled after.
    assert calls == [(False, False), (False, True)]
