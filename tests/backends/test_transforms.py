"""Each autodiff backend's derivative transforms (``Backend.transforms``), which the checks
of derivatives use, against the derivatives of a cubic worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kl_backends.backends import BACKENDS

X = np.array([0.5, -1.25, 2.0])
V = np.array([1.0, 0.5, -2.0])

# torch.func's forward mode imports a module of torch's that calls torch.jit.script.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def test_transforms_declared_where_autodiff() -> None:
    for backend in BACKENDS.values():
        assert (backend.transforms is not None) == backend.autodiff, backend.name


def test_grad(ad, dtype, compiled) -> None:
    t = ad.impl.transforms
    x, y = ad.asarray(X, dtype), ad.asarray(V, dtype)
    ns = ad.namespace
    gx, gy = t.grad(lambda a, b: ns.sum(a**3 * b), [x, y], (0, 1), compiled)
    rtol = 1e-6 if dtype == "float32" else 1e-15
    np.testing.assert_allclose(ad.to_numpy(gx), 3 * X**2 * V, rtol=rtol)
    np.testing.assert_allclose(ad.to_numpy(gy), X**3, rtol=rtol)
    (only,) = t.grad(lambda a, b: ns.sum(a**3 * b), [x, y], (1,), compiled)
    np.testing.assert_allclose(ad.to_numpy(only), X**3, rtol=rtol)


def test_hessian_jvp_vmap(ad, dtype) -> None:
    t, ns = ad.impl.transforms, ad.namespace
    x, v = ad.asarray(X, dtype), ad.asarray(V, dtype)
    rtol = 1e-6 if dtype == "float32" else 1e-15

    def cube(a):
        return ns.sum(a**3)

    np.testing.assert_allclose(ad.to_numpy(t.hessian(cube, x)), np.diag(6 * X), rtol=rtol)
    np.testing.assert_allclose(ad.to_numpy(t.jvp(cube, x, v)), np.sum(3 * X**2 * V), rtol=rtol)
    rows = ad.asarray(np.stack([X, V]), dtype)
    values, grads = t.vmap_value_and_grad(cube, rows)
    np.testing.assert_allclose(ad.to_numpy(values), [np.sum(X**3), np.sum(V**3)], rtol=rtol)
    np.testing.assert_allclose(ad.to_numpy(grads), 3 * np.stack([X, V]) ** 2, rtol=rtol)
