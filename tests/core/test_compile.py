"""No host synchronisation: torch.compile(fullgraph=True) and PyTorch's meta device.

``fullgraph=True`` makes any graph break an error, so a ``float()``,
``.item()``, ``bool()`` on a tensor or a NumPy conversion in the math fails
here.  The meta device holds shapes only: any value read fails there too.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from kl_backends import (
    js_divergence,
    kl_bernoulli,
    kl_divergence,
    kl_multivariate_normal,
    kl_normal,
    kl_poisson,
    kl_standard_normal,
)
from kl_backends.parity.reference import reference_kl, reference_mvn, reference_normal

P = np.array([[0.5, 0.3, 0.0, 0.2, 0.0], [0.1, 0.2, 0.3, 0.2, 0.2]])
Q = np.array([[0.25, 0.25, 0.3, 0.2, 0.0], [0.3, 0.1, 0.2, 0.2, 0.2]])


def _all_kinds(p, q):
    import torch

    return torch.stack(
        [
            kl_divergence(p, q),
            kl_divergence(torch.log(p), torch.log(q), inputs="log_probs"),
            kl_divergence(torch.log(p) + 2.0, torch.log(q) - 1.0, inputs="logits", base=2)
            * np.log(2),
        ]
    )


def _closed_forms(m, s, c):
    import torch

    return torch.stack(
        [
            kl_normal(m, s, 0.5 * m, 2.0 * s).sum(),
            kl_multivariate_normal(
                m, 0.5 * m, cov_p=c, cov_q=c + torch.eye(3, dtype=c.dtype)
            ).sum(),
            kl_standard_normal(m, torch.log(s)).sum(),
            kl_bernoulli(s / 3, s / 4).sum(),
            kl_poisson(s, 2 * s).sum(),
            js_divergence(
                s / s.sum(-1, keepdim=True), (s / s.sum(-1, keepdim=True)).flip(-1)
            ).sum(),
        ]
    )


@pytest.mark.slow
def test_torch_compile_fullgraph_closed_forms() -> None:
    torch = need("torch")
    rng = np.random.default_rng(0)
    m = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    s = torch.tensor(rng.uniform(0.5, 2.0, size=(4, 3)), requires_grad=True)
    a = rng.normal(size=(4, 3, 3))
    c = torch.tensor(a @ a.transpose(0, 2, 1) + np.eye(3))
    compiled = torch.compile(_closed_forms, fullgraph=True, dynamic=False)
    out = compiled(m, s, c)
    torch.testing.assert_close(out, _closed_forms(m, s, c), rtol=1e-10, atol=1e-12)
    mn, sn, cn = m.detach().numpy(), s.detach().numpy(), c.numpy()
    np.testing.assert_allclose(
        out[0].item(), reference_normal(mn, sn, 0.5 * mn, 2 * sn).sum(), rtol=1e-10
    )
    np.testing.assert_allclose(
        out[1].item(), reference_mvn(mn, 0.5 * mn, cn, cn + np.eye(3)).sum(), rtol=1e-10
    )
    out.sum().backward()
    assert torch.isfinite(m.grad).all() and torch.isfinite(s.grad).all()


@pytest.mark.slow
@pytest.mark.parametrize("quick", [False, True], ids=["general-front-end", "quick-front-end"])
def test_torch_compile_fullgraph_values_and_gradients(quick, monkeypatch) -> None:
    """Traced through the general front end, and through the quick one (registered by an
    eager call before; default keywords, one dtype and shape)."""
    torch = need("torch")
    from kl_backends import _dispatch

    torch._dynamo.reset()
    p = torch.tensor(P, dtype=torch.float32, requires_grad=True)
    q = torch.tensor(Q, dtype=torch.float32, requires_grad=True)
    if quick:
        kl_divergence(p.detach(), q.detach())
        assert torch.Tensor in _dispatch.QUICK
    else:
        monkeypatch.delitem(_dispatch.QUICK, torch.Tensor, raising=False)
    compiled = torch.compile(_all_kinds, fullgraph=True, dynamic=False)
    out = compiled(p, q)
    expected = reference_kl(P, Q)
    np.testing.assert_allclose(out.detach().numpy(), np.stack([expected] * 3), rtol=2e-6)
    out.sum().backward()
    gq_compiled = q.grad.clone()
    q.grad = None
    p.grad = None
    _all_kinds(p, q).sum().backward()
    # Two float32 implementations (Inductor's and the eager kernels): entries that cancel to
    # about eps of the largest ones agree to that absolute size.
    scale = float(np.nanmax(np.abs(q.grad.numpy())))  # (a NaN row: NaN in both)
    np.testing.assert_allclose(gq_compiled.numpy(), q.grad.numpy(), rtol=1e-6, atol=4e-7 * scale)
    assert torch.isfinite(gq_compiled[P > 0]).all()


def test_meta_device_shapes_only() -> None:
    torch = need("torch")
    p = torch.empty(7, 3, 11, device="meta")
    q = torch.empty(7, 3, 11, device="meta")
    for kwargs in (
        {},
        {"inputs": "logits"},
        {"inputs": "log_probs", "axis": (1, 2)},
        {"reduction": "mean", "base": 2},
        {"keepdims": True, "axis": 0},
    ):
        out = kl_divergence(p, q, **kwargs)
        assert out.device.type == "meta"
        expected_shape = reference_kl(np.ones((7, 3, 11)), np.ones((7, 3, 11)), **kwargs).shape
        assert tuple(out.shape) == expected_shape, kwargs
    half = kl_divergence(p.to(torch.bfloat16), q.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16 and half.device.type == "meta"
    # The closed forms read no values either (the MVN's positive-definiteness check
    # is skipped where there are no values).
    m, s = torch.empty(5, 3, device="meta"), torch.empty(5, 3, device="meta")
    c = torch.empty(5, 3, 3, device="meta")
    for out, shape in (
        (kl_normal(m, s, m, s), (5, 3)),
        (kl_multivariate_normal(m, m, cov_p=c, cov_q=c), (5,)),
        (kl_standard_normal(m, s), (5,)),
        (js_divergence(m, s), (5,)),
    ):
        assert out.device.type == "meta" and tuple(out.shape) == shape
