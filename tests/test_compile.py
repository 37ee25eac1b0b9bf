"""No host synchronisation: torch.compile(fullgraph=True) and PyTorch's meta device.

``fullgraph=True`` makes any graph break an error, so a ``float()``,
``.item()``, ``bool()`` on a tensor or a NumPy conversion in the math fails
here.  The meta device holds shapes only: any value read fails there too.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from kl_backends import kl_divergence
from kl_backends._reference import reference_kl

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


@pytest.mark.slow
def test_torch_compile_fullgraph_values_and_gradients() -> None:
    torch = need("torch")
    p = torch.tensor(P, dtype=torch.float32, requires_grad=True)
    q = torch.tensor(Q, dtype=torch.float32, requires_grad=True)
    compiled = torch.compile(_all_kinds, fullgraph=True, dynamic=False)
    out = compiled(p, q)
    expected = reference_kl(P, Q)
    np.testing.assert_allclose(out.detach().numpy(), np.stack([expected] * 3), rtol=2e-6)
    out.sum().backward()
    gq_compiled = q.grad.clone()
    q.grad = None
    p.grad = None
    _all_kinds(p, q).sum().backward()
    np.testing.assert_allclose(gq_compiled.numpy(), q.grad.numpy(), rtol=1e-6)
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
