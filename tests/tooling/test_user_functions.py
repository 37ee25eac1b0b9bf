"""A user's plain array-API function on every installed backend, TensorFlow included.

Through ``assert_backends_agree`` and ``kl-backends parity --function`` (in-process): a
function that takes its namespace from ``kl_backends.testing.array_namespace`` or from an
``xp`` keyword runs on TensorFlow through kl_backends' adapter; one that calls
``array_api_compat.array_namespace`` (which has no TensorFlow namespace) never fails by
default: its TensorFlow rows are skipped with a message saying how to include them, and
fail only where TensorFlow is named.
"""

from __future__ import annotations

import json
import textwrap

import array_api_compat
import numpy as np
import pytest
from scipy.special import rel_entr

from conftest import need
from kl_backends.parity.cli import main
from kl_backends.parity.report import Agreement, format_table, markdown_table, summary
from kl_backends.testing import (
    array_namespace,
    assert_backends_agree,
    available_targets,
    check_backends,
)

RNG = np.random.default_rng(17)
P = RNG.dirichlet(np.ones(6), size=4)
Q = RNG.dirichlet(np.ones(6), size=4)
EXPECTED = rel_entr(P, Q).sum(-1)  # SciPy's, independent of the function checked


def kl_via_ours(p, q):
    xp = array_namespace(p, q)
    return xp.sum(p * xp.log(p / q), axis=-1)


def kl_via_xp(p, q, xp=None):
    return xp.sum(p * xp.log(p / q), axis=-1)


def kl_via_compat(p, q):
    xp = array_api_compat.array_namespace(p, q)
    return xp.sum(p * xp.log(p / q), axis=-1)


USER_MODULE = """
from array_api_compat import array_namespace as compat_namespace

from kl_backends.testing import array_namespace


def my_kl(p, q):
    xp = array_namespace(p, q)
    return xp.sum(p * xp.log(p / q), axis=-1)


def compat_kl(p, q):
    xp = compat_namespace(p, q)
    return xp.sum(p * xp.log(p / q), axis=-1)
"""


@pytest.fixture
def every_backend(monkeypatch):
    """The default selection is every installed backend, TensorFlow among them."""
    need("tensorflow")
    monkeypatch.setenv("KL_BACKENDS", "all")
    return {t.id for t in available_targets()}


@pytest.mark.parametrize("fn", [kl_via_ours, kl_via_xp], ids=["array_namespace", "xp"])
@pytest.mark.parametrize("reference", ["closed", "default"])
def test_a_plain_function_agrees_everywhere(fn, reference, every_backend) -> None:
    ref = EXPECTED if reference == "closed" else None
    rows = assert_backends_agree(fn, P, Q, reference=ref)
    assert {r.target for r in rows} == every_backend
    assert any(r.target.startswith("tensorflow:") for r in rows)
    assert all(r.ok and not r.skipped for r in rows), format_table(rows)
    # Named explicitly, TensorFlow is checked strictly, and still agrees.
    rows = assert_backends_agree(fn, P, Q, reference=ref, targets="tensorflow")
    assert rows and all(r.ok and not r.skipped for r in rows)


def test_an_array_api_compat_function_leaves_tensorflow_out_by_default(every_backend) -> None:
    rows = assert_backends_agree(kl_via_compat, P, Q, reference=EXPECTED)
    assert {r.target for r in rows} == every_backend
    skipped = [r for r in rows if r.skipped]
    assert skipped and {r.target.split(":")[0] for r in skipped} == {"tensorflow"}
    for r in skipped:
        assert r.ok and r.status == "SKIP"
        assert "kl_backends.testing.array_namespace" in r.message
        assert "--backends tensorflow" in r.message
    assert all(r.ok and not r.skipped for r in rows if r not in skipped)
    # Named, TensorFlow is included: the function cannot take its tensors, so it fails.
    with pytest.raises(AssertionError, match=r"kl_via_compat disagrees .* on tensorflow:") as info:
        assert_backends_agree(kl_via_compat, P, Q, targets=["numpy", "tensorflow"])
    assert "array_namespace" in str(info.value)
    rows = check_backends(kl_via_compat, P, Q, targets="tensorflow", dtypes=["float64"])
    assert not rows[0].ok and not rows[0].skipped and rows[0].status == "FAIL"


def test_array_namespace() -> None:
    assert array_namespace(P, Q) is array_api_compat.array_namespace(P, Q)
    assert array_namespace(P, 2.0) is array_api_compat.array_namespace(P)
    tf = need("tensorflow")
    xp = array_namespace(tf.constant(P))
    np.testing.assert_allclose(xp.sum(xp.log(tf.constant(P)), axis=-1), np.log(P).sum(-1))
    with pytest.raises(TypeError, match="one array library"):
        array_namespace(P, tf.constant(Q))
    with pytest.raises(TypeError, match="at least one array"):
        array_namespace()
    with pytest.raises(TypeError, match="must be an array"):
        array_namespace(object())


def test_a_user_function_through_the_cli(tmp_path, monkeypatch, capsys, every_backend) -> None:
    (tmp_path / "user_kl.py").write_text(textwrap.dedent(USER_MODULE))
    np.savez(tmp_path / "args.npz", p=P, q=Q)
    monkeypatch.chdir(tmp_path)
    base = ["parity", "--args", "args.npz", "-q"]
    assert main([*base, "--function", "user_kl:my_kl", "--json", "ours.json"]) == 0
    rows = json.loads((tmp_path / "ours.json").read_text())["rows"]
    assert {r["target"] for r in rows} == every_backend
    assert all(r["ok"] and not r["skipped"] for r in rows)
    capsys.readouterr()

    assert main([*base, "--function", "user_kl:compat_kl", "--json", "compat.json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads((tmp_path / "compat.json").read_text())["rows"]
    skipped = [r for r in rows if r["skipped"]]
    assert skipped and all(r["target"].startswith("tensorflow:") for r in skipped)
    assert f"{len(rows) - len(skipped)} passed, 0 failed, {len(skipped)} skipped" in out
    assert "SKIP: left out" in out and "--backends tensorflow" in out

    named = [*base, "--function", "user_kl:compat_kl", "--backends", "numpy,tensorflow"]
    assert main(named) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main([*base, "--function", "user_kl:my_kl", "--backends", "tensorflow"]) == 0


def test_reports_show_skipped_rows() -> None:
    rows = [
        Agreement("numpy:cpu", "float64", True, 0.0, 0.0, "(0,)", "", "0"),
        Agreement(
            "tensorflow:CPU:0", "float64", True, np.nan, np.nan, "-", "left out: x", "-", True
        ),
        Agreement("torch:cpu", "float64", False, 1.0, 1.0, "(0,)", "got 1", "1"),
    ]
    assert [r.status for r in rows] == ["OK", "SKIP", "FAIL"]
    assert summary(rows) == "1 passed, 1 failed, 1 skipped"
    assert summary(rows[:1]) == "1 passed, 0 failed"
    table = format_table(rows)
    assert "SKIP: left out: x" in table and "FAIL: got 1" in table
    md = markdown_table(rows, "t")
    assert "⏭ SKIP left out: x" in md and "1 passed, 1 failed, 1 skipped" in md
