"""The examples in examples/ run and reproduce what they claim (small settings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from conftest import need

EXAMPLES = Path(__file__).parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_worked_examples_on_every_backend(capsys) -> None:
    examples = _load("worked_examples")
    assert examples.run() is True
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("OK ") >= 15


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
def test_fit_gaussian_converges_to_mean_0_variance_4(framework, tmp_path) -> None:
    need(framework)
    if framework == "jax":
        need("optax")
    need("matplotlib")
    fit = _load("fit_gaussian")
    png = tmp_path / "fit.png"
    results = fit.main(["--steps", "300", "--backends", framework, "--plot", str(png)])
    mu, var, history = results[framework]
    assert abs(mu) < 1e-3 and abs(var - 4.0) < 1e-3, (mu, var)
    assert history[0] > 0.5 and abs(history[-1]) < 1e-8
    assert png.read_bytes()[:4] == b"\x89PNG"
