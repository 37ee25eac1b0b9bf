"""kl_backends.testing, the pytest plugin, and parity --markdown/--plot/--function."""

from __future__ import annotations

import itertools
import json
import textwrap

import numpy as np
import pytest

from conftest import need
from kl_backends import kl_divergence
from kl_backends._dispatch import backend_of
from kl_backends.parity.cli import main
from kl_backends.testing import (
    Target,
    assert_backends_agree,
    available_targets,
    check_backends,
    format_table,
    to_backend,
    to_numpy,
)

P = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
Q = np.array([[0.25, 0.25, 0.5], [0.5, 0.25, 0.25]])


def test_targets_cover_installed_backends() -> None:
    ids = [t.id for t in available_targets()]
    assert "numpy:cpu" in ids
    for name in ("torch", "tensorflow", "jax", "dask", "array_api_strict"):
        if need(name):
            assert any(i.startswith(name + ":") for i in ids), name
    assert [t.id for t in available_targets("numpy")] == ["numpy:cpu"]
    with pytest.raises(ValueError, match="unknown backend"):
        available_targets("numpy,theano")


def test_conversions_round_trip(backend) -> None:
    target = Target(backend.name, backend.device)
    x = to_backend(P, target, "float32")
    assert backend_of(x).name == backend.name
    np.testing.assert_array_equal(to_numpy(x), P.astype(np.float32))
    # From one library to another, through to_numpy.
    y = to_backend(x, "numpy", "float64")
    assert isinstance(y, np.ndarray) and y.dtype == np.float64


def test_agreeing_function_returns_rows() -> None:
    rows = assert_backends_agree(kl_divergence, P, Q, dtypes=["float32", "float64"])
    assert {r.target for r in rows} == {t.id for t in available_targets()}
    assert all(r.ok for r in rows)
    # An explicit reference, and keyword arguments passed through.
    rows = assert_backends_agree(
        kl_divergence,
        P,
        Q,
        base=2,
        targets="numpy",
        reference=np.array([1.0, 0.2 * np.log2(0.4) + 0.3 * np.log2(1.2) + 0.5 * np.log2(2.0)]),
        dtypes=["float64"],
    )
    assert rows[0].ok


def test_planted_disagreement_is_caught_and_named(backend) -> None:
    """A function that is wrong on exactly one backend: that one, and only it, fails."""
    bad_name = backend.name

    def sometimes_wrong(p, q):
        out = kl_divergence(p, q)
        return out * 1.001 if backend_of(out).name == bad_name else out

    with pytest.raises(AssertionError) as info:
        assert_backends_agree(
            sometimes_wrong,
            P,
            Q,
            reference=lambda p, q: (p * np.log(np.where(p > 0, p, 1) / q)).sum(-1),
            dtypes=["float64"],
        )
    message = str(info.value)
    assert f"disagrees with the reference on {backend.name}:{backend.device} float64" in message
    assert "judged error (bound)" in message and "where" in message  # the table
    failing = [line for line in message.splitlines() if "FAIL" in line]
    assert len(failing) == 1 and failing[0].startswith(f"{backend.name}:")
    assert "(0,)" in failing[0]  # where: the distribution that differs most (KL = ln 2)


def test_tolerances_default_by_dtype_and_can_be_set() -> None:
    def off(p, q):
        return kl_divergence(p, q) * (1 + 1e-6)

    exact = lambda p, q: kl_divergence(p, q)  # noqa: E731
    rows = check_backends(
        off, P, Q, reference=exact, targets="numpy", dtypes=["float32", "float64"]
    )
    assert [r.ok for r in rows] == [True, False]  # 1e-6 is within float32's tolerance only
    rows = check_backends(
        off, P, Q, reference=exact, targets="numpy", dtypes=["float64"], rtol=1e-5
    )
    assert rows[0].ok


def test_exceptions_are_reported_as_failures() -> None:
    def breaks(p, q):
        if backend_of(p).name == "numpy" and p.dtype == np.float32:
            raise RuntimeError("boom")
        return kl_divergence(p, q)

    rows = check_backends(breaks, P, Q, targets="numpy", dtypes=["float32", "float64"])
    assert not rows[0].ok and "RuntimeError: boom" in rows[0].message
    assert rows[1].ok


# --- the pytest plugin -------------------------------------------------------------------


TEST_FILE = textwrap.dedent("""
    def test_sum(xp, xp_target):
        a = xp_target.asarray([1.0, 2.0, 3.5])
        assert float(xp_target.to_numpy(xp.sum(a))) == 6.5
""")


def test_plugin_is_off_unless_asked(pytester) -> None:
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*xp fixture is off*"])


def test_plugin_parametrises_over_backends(pytester) -> None:
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest("--xp-backends=all", "-v")
    targets = available_targets()
    result.assert_outcomes(passed=len(targets))
    result.stdout.fnmatch_lines([f"*test_sum?{t.id}? PASSED*" for t in targets])


def test_plugin_env_var_and_bad_names(pytester, monkeypatch) -> None:
    pytester.makepyfile(TEST_FILE)
    monkeypatch.setenv("KL_BACKENDS_XP", "numpy")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_sum?numpy:cpu? PASSED*"])
    monkeypatch.setenv("KL_BACKENDS_XP", "numpy,nosuch")
    result = pytester.runpytest()
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown backend name(s) ?'nosuch'?*"])


def test_plugin_registered_as_pytest11_entry_point() -> None:
    from importlib.metadata import entry_points

    eps = entry_points(group="pytest11")
    assert any(ep.value == "kl_backends.pytest_plugin" for ep in eps)


def test_plugin_catches_a_planted_disagreement(pytester) -> None:
    need("torch")
    pytester.makepyfile(
        textwrap.dedent("""
        import numpy as np
        from kl_backends import kl_divergence
        from kl_backends.testing import to_numpy

        def my_kl(p, q):
            out = kl_divergence(p, q)
            return out + 1e-3 if type(out).__module__.startswith("torch") else out

        def test_kl(xp, xp_target):
            p = xp_target.asarray([0.5, 0.5]); q = xp_target.asarray([0.25, 0.75])
            np.testing.assert_allclose(to_numpy(my_kl(p, q)), 0.1438410362258904, rtol=1e-12)
    """)
    )
    result = pytester.runpytest("--xp-backends=numpy,torch")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_kl?torch:cpu?*"])


# --- CLI: --markdown, --plot, --function -----------------------------------------------


def test_cli_markdown_and_plot(tmp_path) -> None:
    need("matplotlib")
    md, png = tmp_path / "parity.md", tmp_path / "parity.png"
    assert (
        main(
            [
                "parity",
                "--backends",
                "numpy",
                "--jobs",
                "1",
                "-q",
                "--markdown",
                str(md),
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    text = md.read_text()
    assert "| numpy:cpu eager | float64 |" in text and "3 passed, 0 failed" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_cli_checks_a_user_function(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "user_metrics.py").write_text(
        textwrap.dedent("""
        from array_api_compat import array_namespace

        def mse(a, b):
            xp = array_namespace(a, b)
            return xp.mean((a - b) ** 2, axis=-1)

        def broken(a, b):  # wrong in float32 only
            out = mse(a, b)
            return out * 1.01 if str(a.dtype) == "float32" else out
    """)
    )
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "args.npz", a=rng.random((4, 5)), b=rng.random((4, 5)))
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "parity",
                "--backends",
                "numpy",
                "--function",
                "user_metrics:mse",
                "--args",
                "args.npz",
                "--json",
                "out.json",
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["what"] == "user_metrics:mse parity"
    assert [r["ok"] for r in data["rows"]] == [True, True]
    assert (
        main(
            [
                "parity",
                "--backends",
                "numpy",
                "--function",
                "user_metrics:broken",
                "--args",
                "args.npz",
            ]
        )
        == 1
    )
    assert "FAIL" in capsys.readouterr().out
    assert main(["parity", "--function", "user_metrics:mse"]) == 2  # --args missing
    assert main(["parity", "--function", "nope:f", "--args", "args.npz"]) == 2


def test_example_user_project_passes() -> None:
    """examples/user_project runs as its README says, in its own pytest rootdir."""
    import subprocess
    import sys
    from pathlib import Path

    for module in ("torch", "jax", "dask", "array_api_strict", "tensorflow"):
        need(module)
    project = Path(__file__).parents[2] / "examples" / "user_project"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--xp-backends=numpy,array_api_strict,torch,jax,dask",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "7 passed" in result.stdout


def test_check_backends_restores_jax_x64() -> None:
    """x64 mode is on while JAX is checked (float64 rows are float64) and as before after."""
    jax = need("jax")
    before = bool(jax.config.read("jax_enable_x64"))
    try:
        jax.config.update("jax_enable_x64", False)
        rows = assert_backends_agree(kl_divergence, P, Q, targets="jax", dtypes=["float64"])
        assert rows and all(r.ok for r in rows)
        assert not jax.config.read("jax_enable_x64")
    finally:
        jax.config.update("jax_enable_x64", before)


def test_table_shows_the_judged_error_and_its_bound() -> None:
    rows = check_backends(kl_divergence, P, Q, targets="numpy", dtypes=["float32"])
    assert rows[0].ok
    assert " rel <= rtol " in rows[0].judged or " abs <= atol " in rows[0].judged
    table = format_table(rows)
    assert "judged error (bound)" in table.splitlines()[0] and rows[0].judged in table


def test_a_result_that_leaves_its_library_fails() -> None:
    """A function returning NumPy for array-API-strict inputs has left the library."""
    need("array_api_strict")

    def via_numpy(p, q):
        return kl_divergence(np.asarray(p), np.asarray(q))

    rows = check_backends(via_numpy, P, Q, targets="numpy,array_api_strict", dtypes=["float64"])
    by = {r.target: r for r in rows}
    assert by["numpy:cpu"].ok
    assert not by["array_api_strict:cpu"].ok
    assert "came back as numpy arrays for array_api_strict" in by["array_api_strict:cpu"].message


def test_every_public_name_has_a_numpydoc_docstring() -> None:
    """Every name of kl_backends.testing (and the CLI's main): sections and an example."""
    import inspect

    import kl_backends.testing as T
    from kl_backends.parity import cli

    def sections(obj: object) -> set[str]:
        lines = inspect.cleandoc(obj.__doc__ or "").splitlines()
        return {
            a.strip() for a, b in itertools.pairwise(lines) if b.strip() and set(b.strip()) == {"-"}
        }

    missing = []
    for name, obj in [(n, getattr(T, n)) for n in T.__all__ if n != "TOLERANCES"] + [
        ("main", cli.main)
    ]:
        needed = {"Parameters", "Examples"}
        if not isinstance(obj, type):
            needed.add("Returns")
        if not needed <= sections(obj):
            missing.append(f"{name}: {sorted(needed - sections(obj))}")
    assert not missing, missing
