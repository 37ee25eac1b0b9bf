"""The pytest plugin's options: missing backends, dtypes, capabilities, ``target_params``.

Each test runs pytest in-process (``pytester``) on a small test file, so a backend made to
look uninstalled (``Backend.installed`` patched) is seen by the plugin as a user would see it.
"""

from __future__ import annotations

import textwrap

import pytest

from conftest import need
from kl_backends.backends import BACKENDS, installed_backends
from kl_backends.testing import available_targets

TEST_FILE = textwrap.dedent("""
    def test_sum(xp, xp_target):
        a = xp_target.asarray([1.0, 2.0, 3.5])
        assert float(xp_target.to_numpy(xp.sum(a))) == 6.5
""")


def _need_every_backend() -> None:
    """A case with ``all`` and ``--xp-missing=fail`` needs every other backend installed."""
    for backend in BACKENDS.values():
        if not backend.needs_gpu:
            need(backend.module.split(".")[0])


@pytest.fixture(autouse=True, scope="module")
def _frameworks_loaded() -> None:
    """Import every installed library first: pytester's in-process runs forget the modules
    first imported inside them, and a second import would make new, different classes."""
    for target in available_targets():
        assert target.namespace is not None


@pytest.fixture
def strict_absent(monkeypatch):
    """array_api_strict made to look uninstalled (it has no GPU-only status)."""
    backend = BACKENDS["array_api_strict"]
    assert not backend.needs_gpu
    installed_backends.cache_clear()  # the cached list must see the patch, and forget it
    monkeypatch.setattr(backend, "installed", lambda: False)
    yield backend
    installed_backends.cache_clear()


def test_missing_backend_skip(pytester, strict_absent) -> None:
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest(
        "--xp-backends=numpy,array_api_strict", "--xp-missing=skip", "-v", "-rs"
    )
    result.stdout.fnmatch_lines(
        ["*test_sum?array_api_strict-missing? SKIPPED*", "*pip install array*"]
    )
    assert result.parseoutcomes()["skipped"] == 1


@pytest.mark.parametrize("spec", ["numpy,array_api_strict", "all"])
def test_missing_backend_fail(pytester, strict_absent, spec, monkeypatch) -> None:
    if spec == "all":
        _need_every_backend()
    pytester.makepyfile(TEST_FILE)
    monkeypatch.setenv("KL_BACKENDS_XP_MISSING", "fail")  # the variable, as CI sets it
    result = pytester.runpytest(f"--xp-backends={spec}", "-v")
    result.stdout.fnmatch_lines(["*test_sum?array_api_strict-MISSING? ERROR*"])
    result.stdout.fnmatch_lines(["*selected but not installed*--xp-missing=fail*"])
    assert result.ret != 0


def test_missing_backend_error_by_default(pytester, strict_absent) -> None:
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("--xp-backends=numpy,array_api_strict")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*not installed: array_api_strict: pip install*"])
    # with "all" an absent backend is simply left out
    result = pytester.runpytest("--xp-backends=all", "-v")
    result.assert_outcomes(passed=len(available_targets()))  # it sees the patch too


def test_gpu_only_backend_absent_is_left_out_of_all(pytester, monkeypatch) -> None:
    gpu_only = [b for b in BACKENDS.values() if b.needs_gpu]
    assert gpu_only, "a backend declares needs_gpu (CuPy)"
    _need_every_backend()
    for b in gpu_only:
        monkeypatch.setattr(b, "installed", lambda: False)
    installed_backends.cache_clear()
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("--xp-backends=all", "--xp-missing=fail", "-v")
    result.assert_outcomes(passed=len([t for t in available_targets() if not t.impl.needs_gpu]))
    installed_backends.cache_clear()


def test_xp_dtype_runs_every_dtype(pytester) -> None:
    need("torch")
    pytester.makepyfile(
        """
        def test_dtype(xp_target, xp_dtype):
            a = xp_target.asarray([1.0, 2.0], xp_dtype)
            assert xp_target.impl.dtype_name(a) == xp_dtype
        """
    )
    result = pytester.runpytest("--xp-backends=numpy,torch", "-v")
    expected = [(t, d) for t in available_targets("numpy,torch") for d in t.dtypes]
    assert {d for _, d in expected} >= {"float32", "float64"}
    result.assert_outcomes(passed=len(expected))
    result.stdout.fnmatch_lines([f"*test_dtype?{t}-{d}? PASSED*" for t, d in expected])


def test_xp_capable_marker(pytester) -> None:
    need("torch")
    need("dask")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xp_capable("autodiff")
        def test_grad(xp_target):
            assert xp_target.impl.autodiff
        """
    )
    result = pytester.runpytest("--xp-backends=numpy,torch,dask", "-v")
    everything = available_targets("numpy,torch,dask")
    capable = [t for t in everything if t.impl.autodiff]
    assert capable and len(capable) < len(everything)
    result.assert_outcomes(passed=len(capable))


def test_target_params_for_own_parametrisation(pytester) -> None:
    need("dask")
    pytester.makeconftest(
        """
        from kl_backends.pytest_plugin import target_params

        def pytest_generate_tests(metafunc):
            if "lazy_target" in metafunc.fixturenames:
                metafunc.parametrize("lazy_target", target_params(metafunc.config, "lazy"))
        """
    )
    pytester.makepyfile("def test_lazy(lazy_target):\n    assert lazy_target.impl.lazy\n")
    result = pytester.runpytest("--xp-backends=numpy,dask", "-v")
    lazy = [t for t in available_targets("numpy,dask") if t.impl.lazy]
    assert lazy, "a lazy backend (Dask) is installed"
    result.assert_outcomes(passed=len(lazy))


def test_bad_missing_mode(pytester, monkeypatch) -> None:
    pytester.makepyfile(TEST_FILE)
    monkeypatch.setenv("KL_BACKENDS_XP_MISSING", "ignore")
    result = pytester.runpytest("--xp-backends=numpy")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*KL_BACKENDS_XP_MISSING='ignore'*expected one of*"])
