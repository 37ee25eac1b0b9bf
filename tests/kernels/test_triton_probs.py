"""The Triton probabilities kernel against the generic code: values, gradients, edge rows.

Run by the nox ``triton`` session (the interpreter on CPU tensors) and, on a GPU
machine, compiled on CUDA tensors (``benchmarks/gpu.py``).
"""

from __future__ import annotations

import math

import pytest
from _triton_setup import DEVICE, QUIET, close, generic, kernels, torch

import kl_backends as klb
from kl_backends.backends.torch.triton import probs

pytestmark = QUIET

V = 24


@pytest.fixture(autouse=True)
def _tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probs, "MAX_BLOCK", 8)  # several tiles per row


def _rows() -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of every kind the conventions distinguish, float32."""
    g = torch.Generator().manual_seed(0)
    p = torch.rand(11, V, generator=g, dtype=torch.float64).softmax(-1)
    q = torch.rand(11, V, generator=g, dtype=torch.float64).softmax(-1)
    p[1, :7] = 0.0  # zeros in p (terms 0)
    p[2, 3], q[2, 3] = 0.0, 0.0  # 0 log(0/0) = 0
    q[3, 5] = 0.0  # p > 0 = q: +inf
    p[4, 6] = math.nan  # NaN stays
    p[5, 8], q[5, 8] = 0.0, math.nan  # NaN q where p == 0: a 0 term
    q[6] = p[6]  # identical: 0
    q[7] = p[7] * (1 + 1e-4 * torch.randn(V, generator=g, dtype=torch.float64))  # nearly equal
    q[8] = p[8] * (1 + 1e-6 * torch.randn(V, generator=g, dtype=torch.float64))
    p[9] = p[9] * 1e-38  # tiny values (subnormal ratios' neighbours)
    q[10, 2] = -0.25  # negative q under p > 0: NaN
    return p.float().to(DEVICE), q.float().to(DEVICE)


def test_values_on_edge_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    p, q = _rows()
    with kernels():
        got = klb.kl_divergence(p, q)
    with generic(monkeypatch):
        want = klb.kl_divergence(p, q)
        want64 = klb.kl_divergence(p.double(), q.double())
    close(got, want)
    # The nearly-equal rows keep their relative accuracy (no cancellation).
    close(got[7:9], want64[7:9], rtol=1e-4, atol=0.0)
    assert got[6] == 0 and got[3] == math.inf and math.isnan(got[4]) and math.isnan(got[10])


def test_the_dispatch_runs_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    run = probs._values
    monkeypatch.setattr(probs, "_values", lambda p, q: calls.append(p.shape) or run(p, q))
    p, q = _rows()
    with kernels():
        klb.kl_divergence(p[:2], q[:2])
        klb.kl_divergence(p[:2], q[:2], reduction="sum")
    assert calls == [(2, V), (2, V)]
    klb.kl_divergence(p[:2].cpu(), q[:2].cpu())  # not forced, on the CPU: not the kernel
    assert len(calls) == 2


def _grads(p: torch.Tensor, q: torch.Tensor) -> list[torch.Tensor]:
    x, y = p.clone().requires_grad_(), q.clone().requires_grad_()
    w = torch.arange(1.0, p.shape[0] + 1, device=p.device)
    (klb.kl_divergence(x, y) * w).sum().backward()
    return [x.grad, y.grad]


def test_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    p, q = _rows()
    p, q = p[[0, 1, 2, 3, 6, 7, 9]], q[[0, 1, 2, 3, 6, 7, 9]]
    with kernels():
        got = _grads(p, q)
    with generic(monkeypatch):
        want = _grads(p, q)
    for g, w in zip(got, want):
        close(g, w)
    assert bool((got[0][1, :7] == 0).all()) and got[1][3, 5] == -math.inf


def test_one_side_and_second_derivatives(monkeypatch: pytest.MonkeyPatch) -> None:
    p, q = _rows()
    p, q = p[:2], q[:2]

    def hvp(p: torch.Tensor, q: torch.Tensor) -> list[torch.Tensor]:
        y = q.clone().requires_grad_()
        (gq,) = torch.autograd.grad(klb.kl_divergence(p, y).sum(), y, create_graph=True)
        (hq,) = torch.autograd.grad((gq * q).sum(), y)
        return [gq, hq]

    with kernels():
        got = hvp(p, q)
    with generic(monkeypatch):
        want = hvp(p, q)
    for g, w in zip(got, want):
        close(g, w)
