"""The fixtures ``jax``, ``distrax`` and ``numpyro`` (``numpyro.distributions``) of the
distrax and numpyro tests (tests/distributions/test_interop_jax_*.py import them).

distrax and numpyro skip where they are not installed and fail where
``KL_BACKENDS_REQUIRE`` lists them (the nox ``jax_distributions`` session).
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import need, need_optional


@pytest.fixture(scope="module", name="jax")
def jax_module() -> Any:
    return need("jax")


@pytest.fixture(scope="module", name="distrax")
def distrax_module(jax) -> Any:
    return need_optional("distrax")


@pytest.fixture(scope="module", name="numpyro")
def numpyro_module(jax) -> Any:
    return need_optional("numpyro.distributions")
