"""``kl-backends parity``: output, exit codes, JSON, backend selection."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import need
from kl_backends import backends as _backends
from kl_backends.backends import select as selected_backends
from kl_backends.parity import run as _parity
from kl_backends.parity.cases import CASES, FUNCTION_CASES
from kl_backends.parity.cli import main

FAST = ["--backends", "numpy,array_api_strict", "--jobs", "1", "-q"]


def test_parity_passes_and_writes_json(tmp_path, capsys) -> None:
    need("array_api_strict")
    path = tmp_path / "parity.json"
    assert main(["parity", *FAST, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "backend" in out and "max abs err" in out
    lines = [line for line in out.splitlines() if line.startswith(("numpy ", "array_api_strict"))]
    assert len(lines) == 5  # numpy x 3 dtypes, array_api_strict x 2
    assert all(line.rstrip().endswith("OK") for line in lines)
    assert "5 passed, 0 failed" in out
    data = json.loads(path.read_text())
    rows = data["rows"]
    assert {(r["backend"], r["dtype"]) for r in rows} == {
        ("numpy", "float32"),
        ("numpy", "float64"),
        ("numpy", "float16"),
        ("array_api_strict", "float32"),
        ("array_api_strict", "float64"),
    }
    n_checks = sum(len(c.kinds) for c in CASES) + len(FUNCTION_CASES)
    assert all(r["ok"] and r["checks"] == n_checks for r in rows)
    numpy64 = next(r for r in rows if r["backend"] == "numpy" and r["dtype"] == "float64")
    assert numpy64["max_abs"] < 1e-10
    assert set(numpy64["builtins"]) == {
        "scipy.special.rel_entr(p, q).sum(-1)",
        "scipy.stats.entropy(p, q)",
    }


def test_planted_disagreement_fails_with_the_backend_named(monkeypatch, capsys) -> None:
    need("array_api_strict")
    real = _parity.kl_divergence

    def off_by_a_bit(p, q, **kwargs):
        out = real(p, q, **kwargs)
        return out * 1.001 if type(out).__module__.startswith("numpy") else out

    monkeypatch.setattr(_parity, "kl_divergence", off_by_a_bit)
    assert main(["parity", *FAST]) == 1
    out = capsys.readouterr().out
    assert "FAIL numpy cpu float64 eager" in out
    assert "array_api_strict" in out and "FAIL array_api_strict" not in out
    assert "2 passed, 3 failed" in out


def test_unknown_backend_is_rejected(capsys) -> None:
    assert main(["parity", "--backends", "numpy,mxnet"]) == 2
    assert "unknown backend name(s) ['mxnet']" in capsys.readouterr().err


def test_env_var_selects_and_rejects(monkeypatch) -> None:
    monkeypatch.setenv("KL_BACKENDS", "torch, jax")
    assert [b.name for b in selected_backends()] == ["torch", "jax"]
    monkeypatch.setenv("KL_BACKENDS", "tensorflow,tensorflw")
    with pytest.raises(ValueError, match="tensorflw"):
        selected_backends()
    monkeypatch.setenv("KL_BACKENDS", "all")
    assert len(selected_backends()) == len(_backends.BACKENDS)


def test_selected_but_missing_backend_is_an_error(monkeypatch, capsys) -> None:
    monkeypatch.setattr(type(_backends.BACKENDS["numpy"]), "installed", lambda self: False)
    assert main(["parity", "--backends", "numpy", "-q"]) == 2
    err = capsys.readouterr().err
    assert "selected in --backends but not installed: numpy: pip install numpy" in err


def test_python_dash_m_runs_in_parallel_workers() -> None:
    need("array_api_strict")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kl_backends",
            "parity",
            "--backends",
            "numpy,array_api_strict",
            "--jobs",
            "2",
            "--no-compiled",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed, 0 failed" in result.stdout
    assert "... numpy cpu float64 eager" in result.stderr  # progress
