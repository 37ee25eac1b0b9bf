"""Every backend fast path agrees with the generic array-API code: values and gradients.

``KL_BACKENDS_FASTPATHS=0`` switches the fast paths off; the generic code is
the reference.  Inputs include zeros in p, zeros in q (with p = 0 and p > 0),
NaN, rows wider than a block and batches large enough for the NumPy path's
threads.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import with_generic_code
from kl_backends import _dispatch, kl_divergence
from kl_backends.backends import Backend
from kl_backends.backends import numpy as numpy_backend
from kl_backends.parity.compare import TOLERANCES


def _inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    q = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    flat_p, flat_q = p.reshape(-1, shape[-1]), q.reshape(-1, shape[-1])
    flat_p[0, :3] = 0.0  # zeros in p
    flat_q[0, 1] = 0.0  # ... with q = 0 under p = 0
    if flat_p.shape[0] > 2:
        flat_q[1, 0] = 0.0  # q = 0 under p > 0: +inf
        flat_p[2, 1] = np.nan  # NaN stays in its row
    return p, q


# Small (quick, in-thread or xlogy forms), wide rows, many rows (blocked and
# threaded), rows wider than a block (column blocks), 3-D.
SHAPES = [(5, 7), (3, 40_000), (3000, 100), (3, 300_000), (2, 3, 50)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_agree_with_generic(backend, shape, dtype, monkeypatch) -> None:
    p, q = _inputs(shape)
    a, b = backend.asarray(p, dtype), backend.asarray(q, dtype)
    fast = backend.to_numpy(kl_divergence(a, b))
    generic = backend.to_numpy(with_generic_code(monkeypatch, lambda: kl_divergence(a, b)))
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(generic))
    np.testing.assert_array_equal(np.isinf(fast), np.isinf(generic))
    finite = np.isfinite(generic)
    np.testing.assert_allclose(fast[finite], generic[finite], rtol=rtol, atol=atol)
    assert (
        (np.isinf(fast.reshape(-1)[1]) and np.isnan(fast.reshape(-1)[2]))
        or shape[0] <= 2
        or len(shape) == 3
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"keepdims": True}, {"reduction": "mean", "base": 2}, {"reduction": "sum", "keepdims": True}],
    ids=str,
)
def test_keywords_on_the_fast_path(backend, kwargs, monkeypatch) -> None:
    p, q = _inputs((6, 9), seed=1)
    p[2, 1], q[1, 0] = 0.1, 0.1  # all finite here
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    a, b = backend.asarray(p), backend.asarray(q)
    fast = kl_divergence(a, b, **kwargs)
    generic = with_generic_code(monkeypatch, lambda: kl_divergence(a, b, **kwargs))
    assert tuple(fast.shape) == tuple(generic.shape)
    np.testing.assert_allclose(backend.to_numpy(fast), backend.to_numpy(generic), rtol=1e-12)


def test_fast_paths_are_taken(monkeypatch) -> None:
    """The paths exist and are used where they apply (so the tests above compare two things)."""
    p, q = _inputs((4, 10))
    big_p, big_q = _inputs((200, 100))  # above SMALL elements
    calls = []
    real = numpy_backend._fast_sums  # the NumPy kernel, small arrays and blocks alike
    monkeypatch.setattr(
        numpy_backend, "_fast_sums", lambda a, b, t, np: calls.append(a.shape) or real(a, b, t, np)
    )
    kl_divergence(p, q)  # quick front end, in the calling thread
    kl_divergence(big_p, big_q)  # quick front end, blocked path
    kl_divergence(p, q, axis=0)  # not the last axis: generic
    kl_divergence(p[0], q)  # broadcasting: generic
    kl_divergence(p.astype(np.float16), q.astype(np.float16))  # half: general front end, fast
    assert calls == [(4, 10), (200, 100), (4, 10)]


def test_quick_front_end_is_taken_and_agrees(backend, monkeypatch) -> None:
    """Default keywords, one dtype and shape: the quick front end answers, as the general one."""
    p, q = _inputs((6, 9), seed=3)
    a, b = backend.asarray(p), backend.asarray(q)
    general = backend.to_numpy(kl_divergence(a, b, keepdims=False, reduction="sum"))
    kl_divergence(a, b)  # registers the type, if it was not yet
    quick = _dispatch.QUICK.get(type(a))
    if type(backend.impl).quick is Backend.quick:
        assert quick is None  # no quick function: the general path
        return
    calls = []
    monkeypatch.setitem(
        _dispatch.QUICK, type(a), lambda x, y, exact: calls.append(1) or quick(x, y, exact)
    )
    fast = kl_divergence(a, b)
    one = kl_divergence(a[0], b[0])
    assert calls == [1, 1]
    generic = with_generic_code(monkeypatch, lambda: kl_divergence(a, b))
    generic_one = with_generic_code(monkeypatch, lambda: kl_divergence(a[0], b[0]))
    assert type(fast) is type(generic) and type(one) is type(generic_one)
    assert tuple(one.shape) == tuple(generic_one.shape) == ()
    fast, generic = backend.to_numpy(fast), backend.to_numpy(generic)
    np.testing.assert_allclose(fast, generic, rtol=1e-12)
    np.testing.assert_allclose(fast.sum(), general, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(one), fast[0], rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 5), (40, 1000)], ids=str)
def test_invalid_inputs(backend, shape, monkeypatch) -> None:
    """NaN or negative entries: NaN for that distribution, or the generic value where p == 0.

    Where ``p == 0`` the generic code's term is 0 whatever ``q`` is; some fast
    paths give NaN there for a NaN or negative ``q`` (documented).  Everything
    else is the same on every path.
    """
    p, q = _inputs(shape, seed=4)
    p[0, :3], q[0, :3] = 0.0, 0.1  # rows 0-1: finite references
    p[1, 1], q[1, 1] = 0.2, 0.1
    p[2, :] = np.abs(p[2, :])
    p[2, 0] = -0.05  # negative p: NaN on every path
    p[3, 0], q[3, 0] = 0.01, np.nan  # NaN q under p > 0: NaN on every path
    p[0, 0], q[0, 0] = 0.0, np.nan  # NaN q under p == 0
    p[1, 0], q[1, 0] = 0.0, -0.3  # negative q under p == 0
    a, b = backend.asarray(p), backend.asarray(q)
    with np.errstate(invalid="ignore"):
        fast = backend.to_numpy(kl_divergence(a, b))
        generic = backend.to_numpy(with_generic_code(monkeypatch, lambda: kl_divergence(a, b)))
    assert np.isnan(generic[2:4]).all() and np.isnan(fast[2:4]).all()
    assert np.isfinite(generic[:2]).all()
    for row in (0, 1):
        assert np.isnan(fast[row]) or np.isclose(fast[row], generic[row], rtol=1e-12)
    np.testing.assert_allclose(fast[4:], generic[4:], rtol=1e-12)


def test_numpy_path_memory_is_blocked() -> None:
    import tracemalloc

    p, q = _inputs((4096, 1000))  # the benchmark's medium size, 16 MB in float32
    p, q = p.astype(np.float32), q.astype(np.float32)
    kl_divergence(p[:2], q[:2])  # warm the thread pool
    tracemalloc.start()
    kl_divergence(p, q)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < p.nbytes / 4, (peak, p.nbytes)


def test_gradients_agree_with_generic(ad, dtype, compiled, monkeypatch) -> None:
    from _gradients import grad

    p, q = _inputs((4, 6), seed=2)
    p[2, 1] = 0.05  # no NaN for gradients
    a, b = ad.asarray(p, dtype), ad.asarray(q, dtype)
    fast = grad(ad, kl_divergence, [a, b], compiled)
    generic = with_generic_code(monkeypatch, lambda: grad(ad, kl_divergence, [a, b], compiled))
    for f, g in zip(fast, generic):
        np.testing.assert_array_equal(np.isinf(f), np.isinf(g))
        finite = np.isfinite(g)
        np.testing.assert_allclose(f[finite], g[finite], rtol=8 * np.finfo(dtype).eps, atol=0)
    # d/dq is -p/q exactly where p > 0 (-inf where q = 0), 0 where p = 0.
    held_p, held_q = ad.to_numpy(a), ad.to_numpy(b)
    pos = held_p > 0
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(
            fast[1][pos], -held_p[pos] / held_q[pos], rtol=4 * np.finfo(dtype).eps
        )
    assert (fast[1][~pos] == 0).all() and (fast[0][~pos] == 0).all()


# Rows that the fast form cannot be trusted with, among ordinary rows: each kernel must
# hand them to the generic code (NumPy, Dask, PyTorch CPU) or be exact on them (the
# select-free form of JAX, TensorFlow, compiled and GPU paths).
EDGE_ROWS = {
    1: ([0.5, 0.5], [-0.0, 1.0]),  # q = -0.0 under p > 0: +inf
    2: ([-0.1, 1.1], [-0.2, 1.2]),  # negative p and q: NaN
    3: ([4.0, 0.0], [1e-300, 1.0]),  # p / q overflows: 690.8 + log 4
    4: ([1e-200, 0.0], [1e200, 1.0]),  # p / q underflows: -9.2e-198
    5: ([0.3, 0.7], [0.3, 0.7]),  # identical: exactly 0
}


@pytest.mark.parametrize("width", [10, 3000], ids=["narrow", "wide"])
def test_edge_rows_among_ordinary_rows(backend, width, monkeypatch) -> None:
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(width), size=200)
    q = rng.dirichlet(np.ones(width), size=200)
    for row, (pr, qr) in EDGE_ROWS.items():
        p[row], q[row] = 0.0, 1.0 / width
        p[row, :2], q[row, :2] = pr, qr
        q[row, 2:] = 0.0 if row != 5 else q[row, 2:]
    q[5] = p[5]
    a, b = backend.asarray(p), backend.asarray(q)
    fast = backend.to_numpy(kl_divergence(a, b))
    generic = backend.to_numpy(with_generic_code(monkeypatch, lambda: kl_divergence(a, b)))
    assert np.isinf(fast[1]) and fast[1] > 0 and np.isnan(fast[2]) and fast[5] == 0
    np.testing.assert_allclose(fast[3], 4 * (690.7755278982137 + np.log(4.0)), rtol=1e-13)
    np.testing.assert_allclose(fast[4], -9.210340371976183e-198, rtol=1e-13)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(generic))
    finite = np.isfinite(generic)
    np.testing.assert_allclose(fast[finite], generic[finite], rtol=1e-13, atol=0)
