"""Doctests of the package: ``--doctest-modules`` over ``src/kl_backends`` (pyproject).

Every module of the package is collected, so that every docstring example runs,
except where a module imports a framework at module level and that framework is
not installed (the ``minimal`` session has NumPy alone): such a module is left out,
and the header of the run names it.  Which modules those are is read from their
imports, not listed here.  (The suite's own fixtures are in ``tests/conftest.py``.)
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from kl_backends.backends import BACKENDS

PACKAGE = Path(__file__).parent / "src" / "kl_backends"


@functools.cache
def _absent_frameworks() -> frozenset[str]:
    return frozenset(b.module.split(".")[0] for b in BACKENDS.values() if not b.installed())


def _needs_absent(path: Path) -> list[str]:
    """The absent frameworks ``path`` imports at module level."""
    needed = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            needed.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            needed.add(node.module.split(".")[0])
    return sorted(needed & _absent_frameworks())


def _left_out() -> list[tuple[Path, list[str]]]:
    found = ((path, _needs_absent(path)) for path in sorted(PACKAGE.rglob("*.py")))
    return [(path, needs) for path, needs in found if needs]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".py" and PACKAGE in collection_path.parents:
        return True if _needs_absent(collection_path) else None
    return None


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"doctests: {path.relative_to(PACKAGE.parent)} not collected ({', '.join(needs)} "
        "not installed)"
        for path, needs in _left_out()
    ]
