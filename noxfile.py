"""Sessions: ``tests`` (every backend), ``jax_distributions``, ``minimal`` (NumPy alone),
``parity``, ``lint``.

Every session installs with ``constraints.txt``, which pins ``torch==2.13.0``
so that pip takes the CPU wheel instead of a multi-GB CUDA build.

``jax_distributions`` (distrax and numpyro objects in ``kl_backends.distributions.kl``)
has its own environment, without TensorFlow: distrax needs ``tfp-nightly``, which
installs the same ``tensorflow_probability`` package as the ``tensorflow-probability``
release that ``tests`` pins for TensorFlow (whose JAX substrate fails on the JAX
pinned here).  ``tests`` queues it at its end, so README's single test command runs both.
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
        "-n",
        "2",  # two pytest-xdist workers: the suite is CPU-bound and the machine has 2 cores
        *session.posargs,
        env={"KL_BACKENDS_STRICT": "1", "KL_BACKENDS": os.environ.get("KL_BACKENDS", "all")},
    )
    # Its own environment (see the module docstring); not this session's pytest
    # arguments, which may name files of the whole suite.
    session.notify("jax_distributions", posargs=[])


@nox.session(python=PYTHON)
def jax_distributions(session: nox.Session) -> None:
    """distrax and numpyro objects in ``kl``: tests/distributions/test_interop_jax.py, both required.

    Extra arguments go to pytest (after the test file).
    """
    session.install(
        *CONSTRAINTS,
        "-e",
        ".",
        "pytest",
        "scipy",
        "jax==0.10.*",
        "distrax==0.1.9",
        "chex==0.1.92",
        "numpyro==0.22.0",
        "tfp-nightly==0.26.0.dev20261027",
    )
    session.run(
        "pytest",
        "tests/distributions/test_interop_jax.py",
        *session.posargs,
        env={
            "KL_BACKENDS_STRICT": "1",
            "KL_BACKENDS": "numpy,jax",
            "KL_BACKENDS_REQUIRE": "distrax,numpyro",
        },
    )


@nox.session(python=PYTHON)
def minimal(session: nox.Session) -> None:
    """NumPy alone: the library works and the framework-backed tests skip cleanly."""
    session.install(*CONSTRAINTS, "-e", ".", "pytest", "scipy", "hypothesis", "mpmath")
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
