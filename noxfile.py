"""Sessions: ``tests`` (every backend), ``minimal`` (NumPy alone), ``parity``, ``lint``.

Every session installs with ``constraints.txt``, which pins ``torch==2.13.0``
so that pip takes the CPU wheel instead of a multi-GB CUDA build.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests", "minimal"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints.txt")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite on every backend; a backend that fails to install is an error."""
    session.install(*CONSTRAINTS, "-e", ".[all,test]")
    session.run(
        "pytest",
        *session.posargs,
        env={"KL_BACKENDS_STRICT": "1", "KL_BACKENDS": os.environ.get("KL_BACKENDS", "all")},
    )


@nox.session(python=PYTHON)
def minimal(session: nox.Session) -> None:
    """NumPy alone: the library works and the framework-backed tests skip cleanly."""
    session.install(*CONSTRAINTS, "-e", ".", "pytest", "scipy")
    session.run(
        "python",
        "-c",
        "import kl_backends; print(kl_backends.kl_divergence([0.36, 0.48, 0.16], [1/3] * 3))",
    )
    session.run("pytest", *session.posargs, env={"KL_BACKENDS": "numpy", "KL_BACKENDS_STRICT": "0"})


@nox.session(python=PYTHON)
def parity(session: nox.Session) -> None:
    """``kl-backends parity`` on every installed backend (extra arguments are passed on)."""
    session.install(*CONSTRAINTS, "-e", ".[all]")
    session.run("kl-backends", "parity", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy on the package."""
    session.install("ruff", "mypy", "numpy")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")
    session.run("mypy", "--ignore-missing-imports", "src/kl_backends")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The KL benchmark (benchmarks/bench_kl.py); writes benchmarks/results/bench.*."""
    session.install(*CONSTRAINTS, "-e", ".[all]")
    session.run("python", "benchmarks/bench_kl.py", *session.posargs)
