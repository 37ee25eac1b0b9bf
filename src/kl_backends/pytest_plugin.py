"""pytest plugin: ``xp`` fixtures over every installed array library, device and dtype.

Registered through the ``pytest11`` entry point, and off unless asked for:
``pytest --xp-backends=all`` (or a comma-separated list such as
``numpy,torch,jax:gpu``), or the environment variable ``KL_BACKENDS_XP``.
Then every test that takes ``xp`` (or ``xp_target``) runs once per backend x
device, with ids like ``test_loss[torch:cpu]``; a test that also takes
``xp_dtype`` runs once more per floating dtype each backend has
(``test_loss[torch:cpu-float32]``).  ``xp_target`` is the
:class:`kl_backends.testing.Target` of the run (device, ``asarray``,
``to_numpy``)::

    def test_my_loss(xp, xp_target, xp_dtype):
        p = xp_target.asarray([0.5, 0.5], xp_dtype)   # on the right device
        assert xp_target.to_numpy(my_loss(p, p)) == 0

Options (each with an environment variable, used when the option is not given):

``--xp-backends NAMES`` (``KL_BACKENDS_XP``)
    ``all`` or comma-separated backend names, each optionally with a device.
``--xp-missing {error,skip,fail}`` (``KL_BACKENDS_XP_MISSING``, default ``error``)
    What a selected backend that is not installed does.  ``error``: a named one
    is a usage error and ``all`` leaves it out.  ``skip``: each test gets a
    skipped ``<name>-missing`` case with the install command.  ``fail``: a
    failing ``<name>-MISSING`` case (for CI, where every backend must be
    installed).  Backends that only work with a GPU (CuPy) are left out of
    ``all`` when absent, whatever the setting.

The marker ``@pytest.mark.xp_capable("autodiff", ...)`` keeps only the backends
that declare every named capability (attributes of
``kl_backends.backends.Backend`` such as ``autodiff``, ``compiled_in_matrix``,
``lazy``).  :func:`target_params` gives the same cases for a test's own
parametrisation.  Without ``--xp-backends`` a test that asks for ``xp`` is
skipped with the reason.  Loading the plugin imports no framework.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import pytest

ENV_VAR = "KL_BACKENDS_XP"
MISSING_VAR = "KL_BACKENDS_XP_MISSING"
MISSING_MODES = ("error", "skip", "fail")

__all__ = ["ENV_VAR", "MISSING_VAR", "target_params"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kl_backends", "array-library matrix (kl_backends)")
    group.addoption(
        "--xp-backends",
        default=None,
        metavar="NAMES",
        help="run tests that take the `xp` fixture on these backends: 'all' or "
        "comma-separated names, optionally with a device (numpy,torch:cuda:0,jax). "
        f"Default: ${ENV_VAR}; unset means the fixture is off.",
    )
    group.addoption(
        "--xp-missing",
        default=None,
        choices=MISSING_MODES,
        help="a selected backend that is not installed: 'error' (a named one is a usage "
        "error, 'all' leaves it out), 'skip' or 'fail' its cases. "
        f"Default: ${MISSING_VAR}, else 'error'.",
    )


def _spec(config: pytest.Config) -> str | None:
    return config.getoption("--xp-backends") or os.environ.get(ENV_VAR) or None


def _missing_mode(config: pytest.Config) -> str:
    mode = config.getoption("--xp-missing") or os.environ.get(MISSING_VAR) or "error"
    if mode not in MISSING_MODES:
        raise pytest.UsageError(f"{MISSING_VAR}={mode!r}: expected one of {MISSING_MODES}")
    return mode


_CASES = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xp_capable(*names): run only on backends declaring these capabilities "
        "(kl_backends.backends.Backend attributes, e.g. 'autodiff')",
    )
    config.addinivalue_line(
        "markers", "xp_missing(reason): a case of a backend that is not installed (fails)"
    )
    spec = _spec(config)
    if spec is None:
        return
    source = "--xp-backends" if config.getoption("--xp-backends") else ENV_VAR
    try:
        config.stash[_CASES] = _cases(spec, source, _missing_mode(config))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _cases(spec: str, source: str, missing: str) -> list[tuple[Any, Any]]:
    """``(backend, Target or None)`` per selected backend x device; None: not installed."""
    from kl_backends.backends import select
    from kl_backends.testing import available_targets

    entries = [e.strip() for e in spec.split(",") if e.strip()]
    if missing == "error":
        return [(t.impl, t) for t in available_targets(entries, source)]
    explicit = entries not in ([], ["all"])
    cases: list[tuple[Any, Any]] = []
    for backend in select([e.partition(":")[0] for e in entries], source):
        if not backend.installed():
            if explicit or not backend.needs_gpu:
                cases.append((backend, None))
            continue
        mine = [e for e in entries if e.partition(":")[0] == backend.name]
        named = [e for e in mine if ":" in e] or [backend.name]
        cases.extend((backend, t) for t in available_targets(named, source))
    return cases


def _missing_param(config: pytest.Config, backend: Any, values: Sequence[Any]) -> Any:
    reason = f"backend {backend.name} is selected but not installed ({backend.install_hint()})"
    if _missing_mode(config) == "fail":
        return pytest.param(
            *values,
            id=f"{backend.name}-MISSING",
            marks=pytest.mark.xp_missing(f"{reason}; --xp-missing=fail (every backend required)"),
        )
    return pytest.param(
        *values, id=f"{backend.name}-missing", marks=pytest.mark.skip(reason=reason)
    )


def target_params(
    config: pytest.Config,
    capable: str | Sequence[str] | Callable[[Any], bool] | None = None,
    *,
    dtypes: bool = False,
) -> list[Any]:
    """The plugin's cases as ``pytest.param`` objects, for a test's own parametrisation.

    Parameters
    ----------
    config : pytest.Config
        The session's configuration (``metafunc.config``).
    capable : str, sequence of str or callable, optional
        Keep only backends declaring these capabilities (truthy attributes of
        ``kl_backends.backends.Backend``), or for which ``capable(backend)`` is true.
    dtypes : bool, default False
        One case per floating dtype of each backend: values ``(target, dtype)``,
        ids ``torch:cpu-float32``.  Otherwise values are the targets, ids
        ``torch:cpu``.

    Returns
    -------
    list of pytest.param
        Empty when the plugin is off (no ``--xp-backends``).  A backend that is not
        installed gives one skipped or failing case (``--xp-missing``) whose values
        are ``None``.
    """
    keep = _capability(capable)
    params = []
    for backend, target in config.stash.get(_CASES, []):
        if not keep(backend):
            continue
        if target is None:
            params.append(_missing_param(config, backend, (None, None) if dtypes else (None,)))
        elif dtypes:
            params.extend(pytest.param(target, d, id=f"{target}-{d}") for d in target.dtypes)
        else:
            params.append(pytest.param(target, id=target.id))
    return params


def _capability(capable: str | Sequence[str] | Callable[[Any], bool] | None) -> Callable:
    if capable is None:
        return lambda backend: True
    if callable(capable):
        return capable
    names = (capable,) if isinstance(capable, str) else tuple(capable)
    return lambda backend: all(getattr(backend, n) for n in names)


def pytest_report_header(config: pytest.Config) -> str | None:
    spec = _spec(config)
    return f"kl_backends xp fixture: {spec} (missing: {_missing_mode(config)})" if spec else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "xp" not in names and "xp_target" not in names and "xp_dtype" not in names:
        return
    if _CASES not in metafunc.config.stash:
        return
    capable = [n for m in metafunc.definition.iter_markers("xp_capable") for n in m.args]
    if "xp_dtype" in names:
        params = target_params(metafunc.config, capable, dtypes=True)
        metafunc.parametrize(("xp_target", "xp_dtype"), params, scope="function")
    else:
        metafunc.parametrize("xp_target", target_params(metafunc.config, capable))


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("xp_missing")
    if marker is not None:
        pytest.fail(marker.args[0], pytrace=False)


@pytest.fixture
def xp_target(request: pytest.FixtureRequest) -> Any:
    """The ``kl_backends.testing.Target`` (backend and device) of this run."""
    if not hasattr(request, "param"):
        pytest.skip(f"the xp fixture is off: pass --xp-backends=all or set {ENV_VAR}")
    return request.param


@pytest.fixture
def xp_dtype(request: pytest.FixtureRequest) -> str:
    """The floating dtype of this run (``"float32"``, ``"float64"``...)."""
    if not hasattr(request, "param"):
        pytest.skip(f"the xp fixture is off: pass --xp-backends=all or set {ENV_VAR}")
    return request.param


@pytest.fixture
def xp(xp_target: Any) -> Any:
    """The array-API namespace of this run's backend (kl_backends' adapter for TensorFlow)."""
    return xp_target.namespace
