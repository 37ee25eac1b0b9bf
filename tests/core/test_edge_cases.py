"""Issue 10, the framework-specific paths: every input a user can hand over, on every
backend, with the fast paths and the quick front end ON (the defaults).

Each case has an exact float64 reference (the issue's values, or a 60-digit ``decimal``
sum of the very values the backend holds) or a documented behaviour.  Sizes cover the
small (whole-array) paths and the large (blocked, threaded) ones: ``BIG`` elements.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest

from conftest import need
from kl_backends import cross_entropy, entropy, js_divergence, kl_divergence
from kl_backends.backends import BACKENDS

#: More elements than any small-size threshold (NumPy's threaded blocks start at 2**18).
BIG = (1 << 18) + 4


def exact_row(p: list[float], q: list[float]) -> float:
    with localcontext() as ctx:
        ctx.prec = 60
        total = Decimal(0)
        for a, b in zip(p, q):
            if a:
                total += Decimal(a) * (Decimal(a) / Decimal(b)).ln()
        return float(total)


def _rows(p: list[float], q: list[float], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` copies of the distribution pair, padded with (0, 1) pairs to a width of
    ``max(len(p), BIG // rows)`` (padding terms are exactly 0)."""
    width = max(len(p), -(-BIG // rows)) if rows > 1 else len(p)
    pp = np.zeros((rows, width))
    qq = np.ones((rows, width))
    pp[:, : len(p)] = p
    qq[:, : len(q)] = q
    return pp, qq


def _check(backend, p, q, want, compiled=False) -> None:
    for rows in (1, 2):  # small, then large
        pp, qq = _rows(p, q, rows)
        fn = backend.impl.compile(kl_divergence) if compiled else kl_divergence
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = backend.to_numpy(fn(backend.asarray(pp), backend.asarray(qq)))
        out = np.atleast_1d(out)
        for got in out:
            if math.isnan(want):
                assert math.isnan(got), f"rows={rows}: got {got}, want NaN"
            elif math.isinf(want):
                assert got == want, f"rows={rows}: got {got}, want {want}"
            else:
                assert got == pytest.approx(want, rel=1e-13, abs=0), f"rows={rows}"


# --- silent wrong numbers -------------------------------------------------------------------

CASES = {
    # 2. negative p with negative q: NaN, as README promises
    "negative-p-negative-q": ([-0.5], [-1.0], math.nan),
    "negative-p-negative-q-2": ([-1.0], [-0.5], math.nan),
    # 9. a negative p with a negative q in one distribution
    "negative-pair": ([-0.1, 1.1], [-0.2, 1.2], math.nan),
    # 4. the ratio p / q overflows or underflows; the log difference does not
    "ratio-overflow": ([4.0], [2.22e-308], 2839.139983229607),
    "ratio-overflow-normal": ([1e10], [1e-300], exact_row([1e10], [1e-300])),
    "ratio-underflow": ([1e-200], [1e200], -9.210340371976183e-198),
    # 8. q = -0.0 under p > 0 is +inf, as q = 0
    "minus-zero-q": ([0.5, 0.5], [-0.0, 1.0], math.inf),
    # 10. subnormals: exact values, no overflow warning
    "subnormal-q": ([1.0, 0.0], [1e-309, 1.0], exact_row([1.0, 0.0], [1e-309, 1.0])),
    "subnormal-p": ([5e-324, 1.0], [3.0, 1.0], exact_row([5e-324, 1.0], [3.0, 1.0])),
}


#: Cases with a subnormal input (below 2.2250738585072014e-308).
SUBNORMAL = {"ratio-overflow", "subnormal-q", "subnormal-p"}


def _flushes_subnormals(on) -> bool:
    """Whether the library's CPU arithmetic treats subnormals as 0 (XLA and TensorFlow
    run with flush-to-zero): then a subnormal input is 0 there, for every formula."""
    x = on.asarray([1e-309], "float64")
    return bool(on.to_numpy(x * 1.0)[0] == 0.0)


def _flushed(p: list[float]) -> list[float]:
    return [0.0 if 0 < abs(v) < 2.2250738585072014e-308 else v for v in p]


@pytest.mark.parametrize("case", list(CASES))
def test_wrong_numbers_eager(backend, case) -> None:
    p, q, want = CASES[case]
    if case in SUBNORMAL and _flushes_subnormals(backend):
        p, q = _flushed(p), _flushed(q)
        want = exact_row(p, q) if 0.0 not in [b for a, b in zip(p, q) if a] else math.inf
    _check(backend, p, q, want)


@pytest.mark.parametrize("name", [b.name for b in BACKENDS.values() if b.compiled_in_matrix])
@pytest.mark.parametrize("case", ["minus-zero-q", "negative-pair", "ratio-overflow-normal"])
def test_wrong_numbers_compiled(name, case) -> None:
    """The same compiled (jax.jit, tf.function: the compiled modes of the matrix), float64,
    on every device."""
    need(name)
    from kl_backends.testing import available_targets

    p, q, want = CASES[case]
    for target in available_targets(name):
        _check(target, p, q, want, compiled=True)


def test_nearly_equal_distributions_fast_paths(backend) -> None:
    """Item 3 with the fast paths on: SciPy's gh-20710 vectors to rtol 1e-13."""
    p = np.array([[0.9456657713430001], [0.48066098564791515], [0.786048657854401]])
    q = np.array([[0.9456657713430094], [0.48066098564794774], [0.7860486578542367]])
    want = [-9.325873406851269e-15, -3.258504577274724e-14, 1.6431300764454033e-13]
    out = backend.to_numpy(kl_divergence(backend.asarray(p), backend.asarray(q)))
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=0)
    # And two 100-bin distributions 1e-6 apart, large batch: 1e-12 relative.
    rng = np.random.default_rng(3)
    q = rng.dirichlet(np.ones(100), size=3000)
    e = rng.normal(size=q.shape) * 1e-6 * q
    p = q + e - q * e.sum(-1, keepdims=True)
    out = backend.to_numpy(kl_divergence(backend.asarray(p), backend.asarray(q)))
    want = [exact_row(p[i].tolist(), q[i].tolist()) for i in (0, 1, 2999)]
    np.testing.assert_allclose(out[[0, 1, 2999]], want, rtol=1e-12, atol=0)


def test_numpy_masked_arrays_are_refused() -> None:
    """Item 1: never a wrong number (1.2375 or 1.3148 were given): a masked array is
    refused with a clear error, masked entries or not, on either side."""
    ma = np.ma.masked_array
    with pytest.raises(TypeError, match=r"masked array.*filled\(0\)"):
        kl_divergence(ma([0.5, 0.3, 0.2], mask=[0, 0, 1]), ma([0.9, 0.05, 0.05]))
    with pytest.raises(TypeError, match=r"masked array.*filled\(0\)"):
        kl_divergence(ma([0.5, 0.3, 0.2]), ma([0.9, 0.05, 0.05]))
    with pytest.raises(TypeError, match="masked array"):
        kl_divergence(np.array([0.5, 0.5]), ma([0.5, 0.5]))


class _Tagged(np.ndarray):
    """A user's ndarray subclass."""


def test_ndarray_subclasses_are_plain_arrays() -> None:
    p = np.array([[0.5, 0.5]]).view(_Tagged)
    q = np.array([[0.25, 0.75]]).view(_Tagged)
    expected = 0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75)
    out = kl_divergence(p, q)
    assert type(out) is np.ndarray and out.shape == (1,)
    np.testing.assert_allclose(out, [expected], rtol=1e-15)


def test_array_like_objects_never_give_a_wrong_number() -> None:
    class ArrayLike:
        def __init__(self, a):
            self.a = np.asarray(a)

        def __array__(self, dtype=None, copy=None):
            return self.a

    p, q = [0.5, 0.3, 0.2], [0.9, 0.05, 0.05]
    try:
        out = kl_divergence(ArrayLike(p), ArrayLike(q))
    except TypeError as exc:
        assert "ArrayLike" in str(exc)
        return
    assert float(out) == pytest.approx(exact_row(p, q), rel=1e-14)


@pytest.mark.parametrize("size", [3, BIG], ids=["small", "blocked"])
def test_torch_second_derivative_at_p_zero(size) -> None:
    """Item 11: Hessian-vector products through the fast path.  The gradient of
    (d KL / dq)[1] w.r.t. q at p = q = [0, 1, 0...] is [0, 1, 0...] (was [nan, 1]); the
    Hessian wrt q is diag(p / q**2) (0 where p == 0)."""
    torch = need("torch")
    p = torch.zeros(size, dtype=torch.float64)
    p[1] = 1.0
    q = p.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(kl_divergence(p, q), q, create_graph=True)
    (h,) = torch.autograd.grad(g[1], q)
    expected = np.zeros(size)
    expected[1] = 1.0  # d(-p1/q1)/dq1 = p1 / q1**2
    np.testing.assert_array_equal(h.numpy(), expected)
    p = torch.zeros(size, dtype=torch.float64)
    p[:2] = torch.tensor([0.25, 0.75])
    q = torch.full((size,), 0.5, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(kl_divergence(p, q), q, create_graph=True)
    (h,) = torch.autograd.grad(g[:3].sum(), q)
    assert h[:3].tolist() == [1.0, 3.0, 0.0] and not h.isnan().any()


# --- crashes and hangs ---------------------------------------------------------------------


def _script(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_FORK_SCRIPT = """
import multiprocessing, numpy as np
from kl_backends import kl_divergence

def work(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.dirichlet(np.ones(8192), 64), rng.dirichlet(np.ones(8192), 64)
    return float(kl_divergence(a, b).sum())

big = np.random.default_rng(0).dirichlet(np.ones(1000), 300)  # >= 262144: threaded
kl_divergence(big, big[::-1])
expected = [work(s) for s in (1, 2)]
with multiprocessing.get_context("fork").Pool(2) as pool:
    assert pool.map_async(work, [1, 2]).get(timeout=120) == expected
print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX-only")
def test_forked_workers_after_a_threaded_call() -> None:
    """The parent's thread pool is not inherited half-dead (was: a hang).  In a fresh
    interpreter with NumPy alone, as a user's script: forking after other frameworks
    have started their own threads is unsafe whatever kl_backends does."""
    result = _script(_FORK_SCRIPT, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_calls_at_interpreter_exit() -> None:
    result = _script(
        """
        import atexit, threading
        import numpy as np
        from kl_backends import kl_divergence

        big = np.random.default_rng(0).dirichlet(np.ones(1024), 512)
        atexit.register(lambda: print(float(kl_divergence(big, big).sum())))

        def late():
            for _ in range(20):
                kl_divergence(big, big[::-1])

        threading.Thread(target=late).start()  # still running when the main thread ends
        """
    )
    assert result.returncode == 0, result.stderr
    assert "RuntimeError" not in result.stderr and "0.0" in result.stdout


# torch.func transforms: test_gradients.py::test_torch_func_transforms.


def test_empty_logits_axis_is_one_behaviour(backend) -> None:
    a = backend.asarray(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="at least one logit per distribution"):
        kl_divergence(a, a, inputs="logits")


@pytest.mark.parametrize(
    "shape",
    [(2, 3), (2, 20_000), (BIG,), (4, BIG // 4)],
    ids=["small", "blocked", "one-big-row", "threaded"],
)
def test_result_is_native_byte_order(shape) -> None:
    rng = np.random.default_rng(0)
    p, q = (
        rng.dirichlet(np.ones(shape[-1]), shape[:-1]),
        rng.dirichlet(np.ones(shape[-1]), shape[:-1]),
    )
    out = kl_divergence(p.astype(">f8"), q.astype(">f8"))
    assert np.asarray(out).dtype.isnative and np.asarray(out).dtype == np.float64
    np.testing.assert_array_equal(out, kl_divergence(p, q))


# --- inputs to refuse, clearly ------------------------------------------------------------


def test_pandas_objects_name_to_numpy() -> None:
    """pandas is no dependency: stand-ins of its type, as dispatch sees it (its module),
    refused with the hint even where they convert (``__array__``)."""
    series = type("Series", (), {"__module__": "pandas.core.series", "__array__": None})()
    with pytest.raises(TypeError, match=r"pandas\.core\.series\.Series.*p\.to_numpy\(\)"):
        kl_divergence(series, [0.5, 0.5])
    Series = type("Series", (), {"__module__": "pandas.core.series"})
    Series.__array__ = lambda self, dtype=None, copy=None: np.array([0.5, 0.5])
    with pytest.raises(TypeError, match=r"pandas\.core\.series\.Series.*\.to_numpy\(\)"):
        kl_divergence(Series(), Series())


@pytest.mark.parametrize(
    "bad",
    [["0.5", "0.5"], [b"x", b"y"], [object(), object()], np.array(["0.5", "0.5"])],
    ids=["str", "bytes", "objects", "str-array"],
)
def test_lists_of_non_numbers_are_refused(bad) -> None:
    with pytest.raises(TypeError, match="numbers"):
        kl_divergence(bad, [0.5, 0.5])
    with pytest.raises(TypeError, match="numbers"):
        kl_divergence(np.array([0.5, 0.5]), bad)
    with pytest.raises(TypeError, match="numbers"):
        kl_divergence(np.array([0.5, 0.5], dtype=object), np.array([0.5, 0.5]))


def test_validate_reads_tensors_that_require_grad_without_warning() -> None:
    torch = need("torch")
    P, Q = [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]
    p = torch.tensor(P, dtype=torch.float64, requires_grad=True)
    for q_requires_grad in (False, True):
        q = torch.tensor(Q, dtype=torch.float64, requires_grad=q_requires_grad)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = kl_divergence(p, q, validate=True)
        assert out.item() == pytest.approx(exact_row(P, Q), rel=1e-12)


def test_validate_under_torch_compile_fullgraph_is_the_documented_value_error() -> None:
    """Dynamo turns an exception raised while tracing with ``fullgraph=True`` into its
    ``Unsupported``; the ValueError comes from the compiled code when it runs."""
    torch = need("torch")
    p, q = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.25, 0.75]])
    f = torch.compile(lambda p, q: kl_divergence(p, q, validate=True), fullgraph=True)
    with pytest.raises(ValueError, match=r"validate=True needs the values of p.*torch\.compile"):
        f(p, q)


@pytest.mark.parametrize("dtype", ["bool", "complex64", "str"])
def test_invalid_dtypes_get_one_type_error_on_every_backend(backend, dtype) -> None:
    """Booleans (a mask, not probabilities), complex numbers and strings: kl_backends'
    TypeError naming the argument and the dtype, never the library's own error (a
    TensorFlow string tensor gave ``UnimplementedError: Cast string to float``) nor
    a parsed number (Dask took strings)."""
    values = {"bool": [True, False], "complex64": [0.5 + 0j, 0.5], "str": ["0.5", "0.5"]}
    made = _native(backend, np.array(values[dtype], dtype=dtype))
    if made is None:
        pytest.skip(f"{backend.name} has no {dtype} arrays")
    ok = backend.asarray(np.array([0.5, 0.5]))
    for fn in (kl_divergence, js_divergence, cross_entropy):
        with pytest.raises(TypeError, match=r"^p (has|must hold)"):
            fn(made, ok)
    with pytest.raises(TypeError, match=r"^p (has|must hold)"):
        entropy(made)


def _native(backend, a: np.ndarray):
    """``a`` as ``backend``'s own array through its array-API namespace, keeping its dtype,
    or None where the library has no such arrays (strings in torch, JAX, array-api-strict)."""
    try:
        return backend.namespace.asarray(a)
    except (TypeError, ValueError):
        return None


def test_batchmean_is_explained_by_what_pytorch_computes() -> None:
    """The message states PyTorch's batchmean (sum / size of the first dimension), checked
    against ``F.kl_div``: ``reduction="mean"`` for ``[B, n]``, ``"sum" / B`` for
    ``[B, T, n]``."""
    torch = need("torch")
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(2, 3, 5, generator=gen, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(2, 3, 5, generator=gen, dtype=torch.float64), -1)
    with pytest.raises(ValueError, match="size of the first dimension") as info:
        kl_divergence(p, q, reduction="batchmean")
    assert "reduction='mean'" in str(info.value) and "reduction='sum' / batch" in str(info.value)
    torch_2d = F.kl_div(q[0].log(), p[0], reduction="batchmean")
    torch_3d = F.kl_div(q.log(), p, reduction="batchmean")
    assert torch.allclose(kl_divergence(p[0], q[0], reduction="mean"), torch_2d, rtol=1e-12)
    assert torch.allclose(kl_divergence(p, q, reduction="sum") / 2, torch_3d, rtol=1e-12)
    assert not torch.allclose(kl_divergence(p, q, reduction="mean"), torch_3d)


def test_xp_backends_with_an_absent_device_is_a_usage_error(pytester) -> None:
    """``--xp-backends=torch:cuda:0`` without CUDA: a usage error naming the device and
    the devices there are, not an empty parameter set."""
    need("torch")
    from kl_backends.backends import BACKENDS

    absent = "cuda:99"
    assert absent not in BACKENDS["torch"].devices()
    pytester.makepyfile("def test_a(xp):\n    pass\n")
    result = pytester.runpytest(f"--xp-backends=numpy,torch:{absent}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{absent}*torch*--xp-backends*not found*it has: cpu*"])
