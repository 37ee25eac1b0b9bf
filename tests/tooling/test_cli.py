"""``kl-backends parity``: output, exit codes, JSON, backend selection."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
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


# --- issue 10: argument errors before any work, names of the options typed --------------


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--dtypes", "float33,float32"], r"unknown dtype\(s\) \['float33'\]"),
        (["--dtypes", "float8"], r"unknown dtype\(s\) \['float8'\]"),
        (["--jobs", "0"], "must be a positive integer"),
        (["--jobs", "-2"], "must be a positive integer"),
    ],
)
def test_bad_arguments_exit_2_before_any_work(argv, match, capsys, monkeypatch) -> None:
    monkeypatch.setattr(_parity, "run_parity", lambda *a, **k: pytest.fail("ran"))
    with pytest.raises(SystemExit) as exc:
        main(["parity", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err


@pytest.mark.parametrize("option", ["--json", "--markdown", "--plot"])
def test_unwritable_output_fails_before_the_run(option, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(_parity, "run_parity", lambda *a, **k: pytest.fail("ran"))
    missing = tmp_path / "no" / "such" / "out.file"
    numpy_only = ["--backends", "numpy", "--jobs", "1", "-q"]  # runs in the NumPy-only session
    assert main(["parity", *numpy_only, option, str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and option in err and "no such directory" in err
    assert main(["parity", *numpy_only, option, str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_output_that_cannot_be_created_fails_before_the_run(capsys, monkeypatch) -> None:
    """Permission bits pass /proc for root (os.access says yes, as it does here for
    every path): writability is tested by creating the file."""
    monkeypatch.setattr(_parity, "run_parity", lambda *a, **k: pytest.fail("ran"))
    monkeypatch.setattr("os.access", lambda *a, **k: True)
    numpy_only = ["--backends", "numpy", "--jobs", "1", "-q"]
    assert main(["parity", *numpy_only, "--json", "/proc/parity.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--json /proc/parity.json: cannot be written" in err


def test_existing_output_is_kept_by_the_check(tmp_path, monkeypatch) -> None:
    """The pre-run check opens for appending: an existing file is not emptied, and a new
    one is not left behind."""
    from kl_backends.parity.cli import _unwritable

    kept, new = tmp_path / "kept.json", tmp_path / "new.json"
    kept.write_text("old results")
    assert _unwritable(str(kept)) == "" and kept.read_text() == "old results"
    assert _unwritable(str(new)) == "" and not new.exists()


def test_unknown_backend_names_the_option_typed(monkeypatch, capsys) -> None:
    assert main(["parity", "--backends", "numpy,mxnet"]) == 2
    assert "['mxnet'] in --backends" in capsys.readouterr().err
    monkeypatch.setenv("KL_BACKENDS", "tensorflw")
    assert main(["parity"]) == 2
    assert "['tensorflw'] in KL_BACKENDS" in capsys.readouterr().err


def test_missing_backend_hint_names_its_extra(monkeypatch, capsys) -> None:
    monkeypatch.setattr(type(_backends.BACKENDS["torch"]), "installed", lambda self: False)
    assert main(["parity", "--backends", "torch", "-q"]) == 2
    err = capsys.readouterr().err
    assert "kl_backends[torch]" in err and "[all]" not in err


def test_version(capsys) -> None:
    from kl_backends import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"kl-backends {__version__}"


def test_reported_error_is_the_judged_one() -> None:
    """Issue 10: a bfloat16 abs err of 3.86 beside OK, a rel err of 0 for 0 vs 2e-8."""
    from kl_backends.parity.compare import compare
    from kl_backends.parity.report import Cell, markdown_table

    big = compare(np.array([390.0]), np.array([386.14]), "bfloat16")  # judged by rtol
    assert big.ok and big.bound == "rtol" and big.tol == 1e-2
    assert big.judged == pytest.approx(3.86 / 386.14)
    assert big.describe() == "1.00e-02 rel <= rtol 0.01"
    tiny = compare(np.array([0.0]), np.array([2e-8]), "float32")  # judged by atol
    assert tiny.ok and tiny.bound == "atol" and tiny.judged == 2e-8
    assert tiny.describe() == "2.00e-08 abs <= atol 2e-06"
    bad = compare(np.array([1.0]), np.array([1.1]), "float64")
    assert not bad.ok and bad.describe().endswith("> rtol 1e-10") and bad.used > 1
    table = markdown_table(
        [Cell("numpy:cpu", "bfloat16", 3.86, 0.01, True, "", big.describe())], "t"
    )
    assert "| 1.00e-02 rel <= rtol 0.01 | 3.86e+00 | ✅ OK |" in table


def test_parity_table_names_the_judged_error(capsys) -> None:
    need("array_api_strict")
    assert main(["parity", *FAST, "--no-compiled"]) == 0
    out = capsys.readouterr().out
    assert "worst error, as judged" in out
    rows = [line for line in out.splitlines() if line.startswith("numpy ")]
    assert all(re.search(r"e-\d\d (rel|abs) <= (rtol|atol) ", line) for line in rows), rows


def test_function_whose_result_leaves_the_library_fails(tmp_path, monkeypatch, capsys) -> None:
    need("torch")
    (tmp_path / "leaky.py").write_text(
        "import numpy as np\n"
        "def to_numpy_loss(a, b):\n"
        "    return np.asarray(a, dtype=np.float64).sum(-1) - np.asarray(b).sum(-1)\n"
    )
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "args.npz", a=rng.random((3, 4)), b=rng.random((3, 4)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code = main(
        [
            "parity",
            "--backends",
            "numpy,torch",
            "--function",
            "leaky:to_numpy_loss",
            "--args",
            "args.npz",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    row = next(line for line in captured.out.splitlines() if line.startswith("torch:cpu  float64"))
    assert "FAIL: result came back as numpy arrays for torch inputs" in row
    assert "... leaky:to_numpy_loss on 2 target(s)" in captured.err  # progress
    assert "... torch torch.float32" in captured.err
