"""pytest plugin: an ``xp`` fixture over every installed array library and device.

Registered through the ``pytest11`` entry point, and off unless asked for:
``pytest --xp-backends=all`` (or a comma-separated list such as
``numpy,torch,jax:gpu``), or the environment variable ``KL_BACKENDS_XP``.
Then every test that takes ``xp`` runs once per backend x device, with ids
like ``test_loss[torch:cpu]``; ``xp_target`` gives the ``Target`` (device,
``asarray``, ``to_numpy``) of the current run::

    def test_my_loss(xp, xp_target):
        p = xp_target.asarray([0.5, 0.5], "float32")   # on the right device
        assert xp_target.to_numpy(my_loss(p, p)) == 0

Without the option a test that asks for ``xp`` is skipped with the reason.
Loading the plugin imports no framework.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

ENV_VAR = "KL_BACKENDS_XP"


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


def _spec(config: pytest.Config) -> str | None:
    return config.getoption("--xp-backends") or os.environ.get(ENV_VAR) or None


_TARGETS = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    spec = _spec(config)
    if spec is None:
        return
    from kl_backends.testing import available_targets

    try:
        source = "--xp-backends" if config.getoption("--xp-backends") else ENV_VAR
        config.stash[_TARGETS] = available_targets(spec, source)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> str | None:
    spec = _spec(config)
    return f"kl_backends xp fixture: {spec}" if spec else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "xp" not in metafunc.fixturenames and "xp_target" not in metafunc.fixturenames:
        return
    targets = metafunc.config.stash.get(_TARGETS, None)
    if targets is None:
        return
    metafunc.parametrize("xp_target", targets, ids=[t.id for t in targets], scope="function")


@pytest.fixture
def xp_target(request: pytest.FixtureRequest) -> Any:
    """The ``kl_backends.testing.Target`` (backend and device) of this run."""
    if not hasattr(request, "param"):
        pytest.skip(f"the xp fixture is off: pass --xp-backends=all or set {ENV_VAR}")
    return request.param


@pytest.fixture
def xp(xp_target: Any) -> Any:
    """The array-API namespace of this run's backend."""
    return xp_target.namespace
