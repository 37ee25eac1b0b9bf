"""Inputs and contexts a user can hand kl_backends: transforms, processes, odd arrays.

Each test failed before its fix (issue 10): torch.func transforms raised,
second derivatives were NaN at p == 0, forked workers deadlocked, masked
arrays gave a wrong number, big-endian data gave a big-endian result.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import need
from kl_backends import kl_divergence

P = np.array([0.2, 0.3, 0.5])
Q = np.array([0.3, 0.3, 0.4])


@pytest.fixture
def torch():
    return need("torch")


@pytest.mark.parametrize("size", [3, 40_000], ids=["small", "blocked"])
def test_torch_second_derivative_at_p_zero(torch, size) -> None:
    """grad of (d KL / dq)[1] w.r.t. q at p = q = [0, 1]: [0, 1] (was [nan, 1])."""
    p = torch.zeros(size, dtype=torch.float64)
    p[1] = 1.0
    q = p.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(kl_divergence(p, q), q, create_graph=True)
    (h,) = torch.autograd.grad(g[1], q)
    expected = np.zeros(size)
    expected[1] = 1.0  # d(-p1/q1)/dq1 = p1 / q1**2
    np.testing.assert_array_equal(h.numpy(), expected)


def test_torch_func_transforms(torch) -> None:
    """grad, jacrev, hessian (forward over reverse) and vmap, against the closed forms."""
    from torch.func import grad, hessian, jacrev, vmap

    p, q = torch.tensor(P), torch.tensor(Q)
    expected_grad = -P / Q  # d KL / dq
    np.testing.assert_allclose(grad(lambda q: kl_divergence(p, q))(q).numpy(), expected_grad)
    np.testing.assert_allclose(jacrev(lambda q: kl_divergence(p, q))(q).numpy(), expected_grad)
    with warnings.catch_warnings():  # torch's own forward-AD set-up uses torch.jit.script
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated")
        hess = hessian(lambda q: kl_divergence(p, q))(q).numpy()
    np.testing.assert_allclose(hess, np.diag(P / Q**2), rtol=1e-12)
    batch_p, batch_q = torch.stack([p, q]), torch.stack([q, p])
    np.testing.assert_allclose(
        vmap(kl_divergence)(batch_p, batch_q).numpy(),
        [np.sum(P * np.log(P / Q)), np.sum(Q * np.log(Q / P))],
        rtol=1e-12,
    )


def test_validate_reads_tensors_that_require_grad_without_warning(torch) -> None:
    p = torch.tensor(P, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = kl_divergence(p, torch.tensor(Q), validate=True)
    np.testing.assert_allclose(out.item(), np.sum(P * np.log(P / Q)), rtol=1e-12)


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
    result = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_numpy_masked_arrays_are_refused() -> None:
    p = np.ma.masked_array([0.5, 0.3, 0.2], mask=[0, 0, 1])
    with pytest.raises(TypeError, match=r"masked array.*filled\(0\)"):
        kl_divergence(p, np.ma.masked_array([0.9, 0.05, 0.05]))
    with pytest.raises(TypeError, match="masked array"):
        kl_divergence(np.array([0.5, 0.5]), np.ma.masked_array([0.5, 0.5]))


class _Tagged(np.ndarray):
    """A user's ndarray subclass."""


def test_ndarray_subclasses_are_plain_arrays() -> None:
    p = np.array([[0.5, 0.5]]).view(_Tagged)
    q = np.array([[0.25, 0.75]]).view(_Tagged)
    expected = 0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75)
    out = kl_divergence(p, q)
    assert type(out) is np.ndarray and out.shape == (1,)
    np.testing.assert_allclose(out, [expected], rtol=1e-15)


@pytest.mark.parametrize("n", [3, 20_000], ids=["small", "blocked"])
def test_result_is_native_byte_order(n) -> None:
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(n), 2), rng.dirichlet(np.ones(n), 2)
    big_p, big_q = p.astype(">f8"), q.astype(">f8")
    out = kl_divergence(big_p, big_q)
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, kl_divergence(p, q))


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


def test_pandas_objects_name_to_numpy() -> None:
    """pandas is no dependency: a stand-in of its type, as dispatch sees it (its module)."""
    series = type("Series", (), {"__module__": "pandas.core.series", "__array__": None})()
    with pytest.raises(TypeError, match=r"pandas\.core\.series\.Series.*p\.to_numpy\(\)"):
        kl_divergence(series, [0.5, 0.5])
