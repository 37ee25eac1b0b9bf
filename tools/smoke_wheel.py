"""Smoke test of an installed wheel, with NumPy alone (CI runs it in a clean venv).

Checks what a broken wheel would lose: the package imports from site-packages (not from
a source tree), computes, imports no framework, ships ``py.typed``, its console script
``kl-backends`` answers ``--version`` and ``--help``, and its pytest plugin is
registered under the ``pytest11`` entry point.  The expected values are computed here
from their formulas, independently of the package.

Usage: ``python tools/smoke_wheel.py`` (from any directory; the repository's ``src``
must not be on ``sys.path``).  Exit status 1 and a message on the first failure.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import math
import shutil
import subprocess
import sys
from pathlib import Path

FRAMEWORKS = ("torch", "tensorflow", "jax", "dask", "cupy", "array_api_strict", "scipy")


def main() -> None:
    import numpy as np

    import kl_backends as klb

    where = Path(klb.__file__).resolve()
    assert "site-packages" in where.parts, f"kl_backends imported from {where}, not the wheel"
    version = metadata.version("kl_backends")
    assert klb.__version__ == version, (klb.__version__, version)
    assert (where.parent / "py.typed").is_file(), "py.typed is missing from the wheel"

    p, q = [0.36, 0.48, 0.16], [1 / 3] * 3
    expected = math.fsum(a * math.log(a / b) for a, b in zip(p, q))
    got = float(klb.kl_divergence(np.array(p), np.array(q)))
    assert abs(got - expected) < 1e-12, (got, expected)
    got = float(klb.js_divergence([1.0, 0.0], [0.0, 1.0], base=2))
    assert got == 1.0, got

    from kl_backends.distributions import Normal, kl

    expected = math.log(2.0) + (1.0 + 1.0) / (2 * 4.0) - 0.5  # KL(N(0, 1) || N(1, 2))
    got = float(kl(Normal(0.0, 1.0), Normal(1.0, 2.0)))
    assert abs(got - expected) < 1e-12, (got, expected)

    imported = [m for m in FRAMEWORKS if m in sys.modules]
    assert not imported, f"importing and computing with NumPy imported {imported}"

    beside = Path(sys.executable).parent / "kl-backends"  # the venv's bin, on PATH or not
    script = str(beside) if beside.is_file() else shutil.which("kl-backends")
    assert script, "the kl-backends console script is not installed"
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"kl-backends {version}", out.stdout
    out = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "parity" in out.stdout, out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "kl_backends", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and version in out.stdout, (out.stdout, out.stderr)

    plugins = {e.name: e.value for e in metadata.entry_points(group="pytest11")}
    assert plugins.get("kl_backends") == "kl_backends.pytest_plugin", plugins
    assert importlib.util.find_spec("kl_backends.pytest_plugin") is not None

    print(f"wheel smoke test: kl_backends {version} from {where.parent}: OK")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as exc:
        sys.exit(f"wheel smoke test FAILED: {exc}")
