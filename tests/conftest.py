"""The suite's backend x device x dtype matrix, made by the package's own pytest plugin.

``KL_BACKENDS`` selects backends (comma-separated names, default all; an unknown
name is an error) and becomes the plugin's ``--xp-backends`` unless that is given.
With ``KL_BACKENDS_STRICT=1`` (set by the nox ``tests`` session, which CI runs) a
selected backend that is not installed fails its tests (the plugin's
``--xp-missing=fail``) instead of skipping them (``skip``).  ``KL_BACKENDS_REQUIRE``
lists optional libraries outside that environment (distrax, numpyro) whose absence
fails ``need_optional`` instead of skipping (the nox ``jax_distributions`` session).
Which backends a test runs on is decided by the capabilities each ``Backend``
declares (``kl_backends.pytest_plugin.target_params``), never by its name.

Fixtures (the plugin's ``xp_target``, ``xp_dtype`` and ``xp`` are there too):

* ``backend``: the plugin's ``xp_target``, a ``kl_backends.testing.Target``
  (backend name, device, ``asarray``, ``to_numpy``; ``backend.impl`` is the
  ``Backend``), over the selected backends x devices;
* ``combo``: ``(backend, dtype)``, over every dtype each backend has;
* ``jit_combo``: the same for the backends whose compiled mode is in the matrix
  (``Backend.compiled_in_matrix``: ``jax.jit``, ``tf.function``);
* ``ad``: a backend with autodiff (``Backend.autodiff``) on each device, with
  float32 and float64; with a ``compiled`` argument, eager and (where the compiled
  mode is in the matrix) compiled.

For the whole session each installed backend is inside its ``Backend.harness()``
(JAX: x64 mode, so that float64 is float64), restored at the end.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest

from kl_backends.backends import BACKENDS, select
from kl_backends.pytest_plugin import target_params

#: XLA compiles every JAX operation of the suite's small arrays once, and compiling is
#: most of their cost: XLA's classic CPU emitters (instead of the MLIR fusion emitters)
#: and LLVM's cheapest optimisation level compile them in about a third of the default
#: time.  Values agree with the default build's to rounding (the suite passes under
#: both).  A user's own ``XLA_FLAGS`` wins; ``kl-backends parity``, the benchmarks and
#: the documentation's examples run with XLA's defaults.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
    " --xla_llvm_disable_expensive_passes=true",
)

STRICT_VAR = "KL_BACKENDS_STRICT"
STRICT = os.environ.get(STRICT_VAR, "").lower() in ("1", "true", "yes")
#: Optional libraries (comma-separated module names) whose absence is an error, not a
#: skip: the nox ``jax_distributions`` session sets ``distrax,numpyro``.
REQUIRE_VAR = "KL_BACKENDS_REQUIRE"
REQUIRED = {m.strip() for m in os.environ.get(REQUIRE_VAR, "").split(",") if m.strip()}


def need(module: str) -> Any:
    """Import a framework module: an error under strict mode, else a skip if absent."""
    if STRICT:
        import importlib

        mod = importlib.import_module(module)
    else:
        mod = pytest.importorskip(module)
    return mod


def with_generic_code(monkeypatch: pytest.MonkeyPatch, fn: Any) -> Any:
    """``fn()`` with the fast paths off (``KL_BACKENDS_FASTPATHS=0``): the generic code,
    the reference every fast path and kernel is compared with."""
    monkeypatch.setenv("KL_BACKENDS_FASTPATHS", "0")
    try:
        return fn()
    finally:
        monkeypatch.delenv("KL_BACKENDS_FASTPATHS")


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[Any]:
    """Wrap ``owner.name`` (a kernel's entry point) so that each call appends its second
    positional argument (the kernel's shape or request) to the returned list."""
    calls: list[Any] = []
    real = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return calls


def need_optional(module: str) -> Any:
    """Import a library outside the main test environment (distrax, numpyro).

    An import error fails the test where ``KL_BACKENDS_REQUIRE`` lists the module;
    elsewhere (the ``tests`` session among them, strict or not) the test skips: these
    run in the nox ``jax_distributions`` session.
    """
    if module.split(".")[0] in REQUIRED:
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError as exc:
            pytest.fail(f"{module} is listed in {REQUIRE_VAR} but cannot be imported: {exc!r}")
    return pytest.importorskip(
        module, reason=f"{module} is not installed: these tests run in `nox -s jax_distributions`"
    )


_HARNESS = pytest.StashKey[contextlib.ExitStack]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The plugin's options from the suite's variables, before the plugin reads them.

    The suite checks every dtype of each backend: its harness for the whole session.

    torch.compile's inductor compiles in the worker itself: its default pool of compile
    processes costs more CPU than it saves when the pytest-xdist workers already use every
    core.
    """
    if config.getoption("--xp-backends") is None:
        config.option.xp_backends = os.environ.get("KL_BACKENDS") or "all"
    if config.getoption("--xp-missing") is None:
        config.option.xp_missing = "fail" if STRICT else "skip"
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
    stack = contextlib.ExitStack()
    for backend in BACKENDS.values():
        if backend.installed():
            stack.enter_context(backend.harness())
    config.stash[_HARNESS] = stack


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_HARNESS, None)
    if stack is not None:
        stack.close()


@pytest.fixture
def backend(xp_target: Any) -> Any:
    """The ``Target`` of this case (the plugin parametrises ``xp_target``)."""
    return xp_target


@pytest.fixture
def combo(xp_target: Any, xp_dtype: str) -> Any:
    """``(target, dtype)`` over every dtype each backend has."""
    return None if xp_target is None else (xp_target, xp_dtype)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ad" in metafunc.fixturenames:
        # With a ``compiled`` argument: eager everywhere, compiled where the compiled
        # mode is in the matrix (torch.compile takes ~15 s a graph: core/test_compile.py).
        modes = [False, True] if "compiled" in metafunc.fixturenames else [None]
        ad = []
        for param in target_params(metafunc.config, "autodiff"):
            on = param.values[0]
            for dtype in ("float32", "float64"):
                for mode in modes:
                    if mode and on is not None and not on.impl.compiled_in_matrix:
                        continue
                    suffix = "" if mode is None else ("-compiled" if mode else "-eager")
                    ident = f"{param.id if on is None else on}-{dtype}{suffix}"
                    values = (on, dtype) if mode is None else (on, dtype, mode)
                    ad.append(pytest.param(*values, id=ident, marks=param.marks))
        names = ("ad", "dtype") if modes == [None] else ("ad", "dtype", "compiled")
        metafunc.parametrize(names, ad)
    if "jit_combo" in metafunc.fixturenames:
        combos = target_params(metafunc.config, "compiled_in_matrix", dtypes=True)
        metafunc.parametrize(
            "jit_combo",
            [
                pytest.param(None if p.values[0] is None else p.values, id=p.id, marks=p.marks)
                for p in combos
            ],
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"kl_backends: {STRICT_VAR}={'1' if STRICT else '0'}"]
    for backend in select():
        state = backend.version() if backend.installed() else "not installed"
        lines.append(f"  {backend.name}: {state}")
    return lines
