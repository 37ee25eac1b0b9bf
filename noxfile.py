"""Sessions: ``tests`` (every backend), ``jax_distributions``, ``triton``, ``minimal`` (NumPy alone),
``parity``, ``lint``, ``docs``, ``bench``.

Every session installs with ``constraints.txt``, which pins ``torch==2.13.0``
so that pip takes the CPU wheel instead of a multi-GB CUDA build.

One environment for README's two Quick start commands: ``parity`` (and ``bench``) run
in the ``tests`` session's virtual environment, ``.nox/tests`` (every backend, about
3.7 GB), building it first if it is not there yet, instead of an identical one of their own.

``jax_distributions`` (distrax and numpyro objects in ``kl_backends.distributions.kl``)
has its own environment, without TensorFlow: distrax needs ``tfp-nightly``, which
installs the same ``tensorflow_probability`` package as the ``tensorflow-probability``
release that ``tests`` pins for TensorFlow (whose JAX substrate fails on the JAX
pinned here).  ``tests`` queues it at its end, so README's single test command runs both.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "minimal"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints.txt")
#: What the ``tests`` session installs; ``parity`` and ``bench`` use the same environment.
EVERY_BACKEND = (*CONSTRAINTS, "-e", ".[all,test]")
#: The ``tests`` session's virtual environment (nox's default ``--envdir``).
SHARED_ENV = Path(".nox") / "tests"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite on every backend; a backend that fails to install is an error."""
    session.install(*EVERY_BACKEND)
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
    session.notify("triton", posargs=[])


@nox.session(python=PYTHON)
def jax_distributions(session: nox.Session) -> None:
    """distrax and numpyro objects in ``kl``: tests/distributions/test_interop_jax_*.py and the
    documentation's examples that use them, both libraries required.

    Extra arguments go to pytest (after the test file).
    """
    session.install(
        *CONSTRAINTS,
        "-e",
        ".",
        "pytest",
        "pytest-xdist",
        "scipy",
        "jax==0.10.*",
        "distrax==0.1.9",
        "chex==0.1.92",
        "numpyro==0.22.0",
        "tfp-nightly==0.26.0.dev20261027",
    )
    session.run(
        "pytest",
        "-n",
        "2",
        *sorted(glob.glob("tests/distributions/test_interop_jax_*.py")),
        *session.posargs,
        env={
            "KL_BACKENDS_STRICT": "1",
            "KL_BACKENDS": "numpy,jax",
            "KL_BACKENDS_REQUIRE": "distrax,numpyro",
        },
    )
    # The documentation's distrax and numpyro examples (their ids end in "-distrax").
    session.run(
        "pytest",
        "tests/tooling/test_docs.py",
        "-k",
        "distrax",
        env={"KL_BACKENDS_STRICT": "1", "KL_BACKENDS_REQUIRE": "distrax,numpyro"},
    )


@nox.session(python=PYTHON)
def triton(session: nox.Session) -> None:
    """The Triton kernels (tests/kernels/test_triton_*.py) under Triton's interpreter on
    CPU tensors, in an environment without TensorFlow (Triton and TensorFlow in one
    process abort).  Extra arguments go to pytest."""
    session.install(*CONSTRAINTS, "-e", ".", "torch", "triton==3.9.0", "pytest", "scipy")
    session.run(
        "pytest",
        *sorted(glob.glob("tests/kernels/test_triton_*.py")),
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={
            "TRITON_INTERPRET": "1",
            "KL_BACKENDS_STRICT": "1",
            "KL_BACKENDS": "numpy,torch",
            "KL_BACKENDS_REQUIRE": "triton",
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


def _shared_env(session: nox.Session) -> Path:
    """The ``tests`` session's environment, built here if absent, with every backend.

    Its ``bin`` directory; ``pip install`` is a quick no-op when nothing changed.
    """
    bin_dir = SHARED_ENV / ("Scripts" if os.name == "nt" else "bin")
    if not (bin_dir / "python").exists():
        python = shutil.which(f"python{PYTHON}")
        if python is None:
            session.error(f"python{PYTHON} is not on PATH (needed to build {SHARED_ENV})")
        session.run(python, "-m", "venv", str(SHARED_ENV), external=True)
    session.run(
        str(bin_dir / "python"), "-m", "pip", "install", "-q", *EVERY_BACKEND, external=True
    )
    return bin_dir


@nox.session(venv_backend="none")
def parity(session: nox.Session) -> None:
    """``kl-backends parity`` on every installed backend (extra arguments are passed on).

    Runs in the ``tests`` session's environment (``.nox/tests``).
    """
    bin_dir = _shared_env(session)
    session.run(str(bin_dir / "kl-backends"), "parity", *session.posargs, external=True)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy on the package."""
    session.install("ruff", "mypy", "numpy")
    session.run("ruff", "check", "src", "tests", "tools", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "tools", "noxfile.py")
    session.run("mypy", "--ignore-missing-imports", "src/kl_backends")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site: API coverage, ``mkdocs build --strict``, screenshots.

    Every public name must be in the API reference with a docstring
    (``tools/check_api_coverage.py``); a broken link or a warning fails the build.
    Then headless Chromium (``chromium``, Debian's package) renders the home page, an
    API page and a search, checks that math and tables display, and saves PNGs to
    ``site-screenshots/``.
    """
    session.install(*CONSTRAINTS, "-e", ".[docs]")
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("python", "tools/check_api_coverage.py")
    session.run("mkdocs", "build", "--strict", env=env)
    session.run("python", "tools/screenshot_docs.py", "site", "site-screenshots")


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """The KL benchmark (benchmarks/bench_kl.py), in the ``tests`` session's environment;
    writes benchmarks/results/bench.*."""
    bin_dir = _shared_env(session)
    session.run(str(bin_dir / "python"), "benchmarks/bench_kl.py", *session.posargs, external=True)
