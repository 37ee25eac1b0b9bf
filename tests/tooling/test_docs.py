"""The documentation's examples run and say what they claim; the reference is complete.

Every ```python block of README.md and of docs/**/*.md runs on its own, in a fresh
process with warnings as errors (the suite's filters, pyproject's ``filterwarnings``),
forked from a warm interpreter that has imported the frameworks (``_forkserver.py``;
a plain ``python -c`` where there is no ``os.fork``).  A value claimed in a comment is checked: a
top-level expression (or a simple assignment) whose line ends in a comment that
starts with a value, such as

    klb.kl_divergence(p, q)        # 0.0852996013
    kl.compute()                   # [0.0852996, 0.0852996]
    r.estimate, r.standard_error   # 0.41011, 0.00266 (numerical integration: 0.410852)
    type(x).__name__               # 'Tensor'

is compared with that value (numbers to one unit of their last printed digit, plus
the result's dtype rounding; integers, booleans and quoted strings exactly).  A
block that imports a framework needs it: in CI every framework is installed, so a
missing one fails there (``KL_BACKENDS_STRICT``) and skips elsewhere.  A block that is a
test file (its first line ``# tests/test_....py``) runs under pytest with the package's
plugin on every backend.
"""

from __future__ import annotations

import ast
import atexit
import doctest
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

from conftest import need, need_optional
from kl_backends._math import categorical as _divergence

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: README is a front page: at most this many bytes, the rest is on the site.
README_MAX_BYTES = 8 * 1024

#: A block whose first line starts so names what it needs beyond its imports
#: (``# needs: torch, jax`` for a block that converts arrays to them by name); ``gpu``:
#: it runs only where a GPU is present.
NEEDS = "# needs:"
NEEDS_GPU = "# needs: gpu"
#: A block whose first line names a test file (``# tests/test_losses.py``) is one: it runs
#: under pytest, with the plugin's ``--xp-backends=all``.
TEST_FILE = re.compile(r"# (tests/test_\w+\.py)\n")
#: Libraries outside the main environment (the ``jax_distributions`` nox session has them).
OPTIONAL = ("distrax", "numpyro")
#: Modules a block may import that are not always installed.
FRAMEWORKS = (
    "torch",
    "tensorflow",
    "jax",
    "dask",
    "array_api_strict",
    "optax",
    "scipy",
    "matplotlib",
)

_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<code>.*?)^(?P=indent)```", re.M | re.S
)
_NUMBER = r"-?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|inf\b|nan\b)"
_NUMBERS = re.compile(rf"{_NUMBER}(?:\s*,\s*{_NUMBER})*")
#: A bracketed claim holds numbers, booleans, inf, nan and quoted strings only ("[batch,
#: seq]" is no claim).
_LITERAL = re.compile(r"(?:[-+.,\s\d\[\]()e]|inf|nan|True|False|'[^']*')+")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    """``(id, code)`` of every python block, ids like ``docs/guides/gpu.md:2``."""
    found = []
    for page in _pages():
        for i, match in enumerate(_BLOCK.finditer(page.read_text())):
            code = textwrap.dedent(
                "\n".join(line[len(match["indent"]) :] for line in match["code"].splitlines())
            )
            found.append((f"{page.relative_to(ROOT).as_posix()}:{i}", code))
    return found


def _claim(comment: str) -> str | None:
    """The value a comment claims (its leading literal), or ``None``."""
    text = comment.lstrip("#").strip()
    if text.startswith("array("):
        text = text[len("array(") :]
    if text[:1] in "[(":
        depth = 0
        for i, ch in enumerate(text):
            depth += ch in "[("
            depth -= ch in "])"
            if depth == 0:
                literal = text[: i + 1]
                return literal if _LITERAL.fullmatch(literal) else None
        return None
    if text[:1] in "'\"":
        end = text.find(text[0], 1)
        return text[: end + 1] if end > 0 else None
    if text.startswith(("True", "False")):
        return text.split()[0].rstrip(",")
    match = _NUMBERS.match(text)
    return match.group(0) if match else None


def _comments(code: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {t.start[0]: t.string for t in tokens if t.type == tokenize.COMMENT}


def instrument(code: str) -> tuple[str, int]:
    """The block with a check after each claimed value; and how many claims."""
    tree = ast.parse(code)
    comments = _comments(code)
    lines = code.splitlines()
    body: list[ast.stmt] = []
    claims = 0
    for node in tree.body:
        claim = _claim(comments.get(node.end_lineno, "#"))
        line = lines[node.end_lineno - 1].strip()
        if claim is None:
            body.append(node)
            continue
        if isinstance(node, ast.Expr):
            value: ast.expr = node.value
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            body.append(node)
            value = ast.Name(node.targets[0].id, ast.Load())
        else:
            raise AssertionError(f"a claimed value on a statement that has none: {line}")
        check = ast.Call(
            ast.Name("__check__", ast.Load()),
            [value, ast.Constant(claim), ast.Constant(line)],
            [],
        )
        body.append(ast.Expr(check))
        claims += 1
    tree.body = body
    return ast.unparse(ast.fix_missing_locations(tree)), claims


#: Run before each instrumented block: compares a value with its claim.
CHECK = """
def __check__(got, claim, line):
    import math, re
    import numpy as np

    def kind(x):
        dtype = getattr(x, "dtype", None)
        return str(getattr(dtype, "name", dtype)).rpartition(".")[2]

    def plain(x):
        if isinstance(x, (tuple, list)):
            return [plain(e) for e in x]
        library = type(x).__module__.partition(".")[0]
        if library == "torch":
            return x.detach().cpu().double().numpy()
        if library == "dask":
            return x.compute()
        if library == "tensorflow":
            return x.numpy()
        return x

    expected = eval(claim, {"__builtins__": {}}, {"inf": math.inf, "nan": math.nan})
    if isinstance(expected, str):
        assert str(got) == expected, f"{line}: got {str(got)!r}, the text says {claim}"
        return
    if isinstance(expected, (list, tuple)) and any(isinstance(e, str) for e in expected):
        got = [str(g) for g in got]
        assert got == list(expected), f"{line}: got {got!r}, the text says {claim}"
        return
    kinds = {kind(e) for e in (got if isinstance(got, (tuple, list)) else [got])}
    got_f = np.asarray(plain(got), dtype=float)
    exp_arr = np.asarray(expected, dtype=float)
    numbers = re.findall(r"-?(?:\\d+(?:\\.\\d*)?(?:e[-+]?\\d+)?|inf|nan)", claim)
    atol = np.array([
        10.0 ** -len(n.split("e")[0].partition(".")[2]) if "." in n else 0.0
        for n in numbers
    ] or [0.0])
    if atol.size == exp_arr.size:
        atol = atol.reshape(exp_arr.shape)
    eps = max({"float16": 1e-3, "bfloat16": 8e-3, "float32": 1.2e-7}.get(k, 2.2e-16) for k in kinds)
    assert got_f.shape == exp_arr.shape, f"{line}: shape {got_f.shape}, the text says {claim}"
    with np.errstate(invalid="ignore"):
        err = np.abs(got_f - exp_arr)
        ok = (err <= atol + 4 * eps * np.abs(exp_arr)) | (got_f == exp_arr)
    ok |= np.isnan(got_f) & np.isnan(exp_arr)
    assert ok.all(), f"{line}: got {got_f.tolist()}, the text says {claim}"
"""


def warning_filters(entries: list[str]) -> str:
    """The suite's warning filters (pyproject's ``filterwarnings``: errors, but for the
    frameworks' own import-time warnings), as code to run first in a block's interpreter."""
    lines = ["import warnings"]
    for entry in entries:
        action, message, category, module = [*entry.split(":", 3), "", "", ""][:4]
        lines.append(
            f"warnings.filterwarnings({action!r}, message={message!r}, "
            f"category={category or 'Warning'}, module={module!r})"
        )
    return "\n".join(lines) + "\n"


BLOCKS = _blocks()


def _needed(code: str) -> set[str]:
    """The modules a block imports, and those its first line names (``# needs: torch``)."""
    modules = set()
    first = code.partition("\n")[0]
    if first.startswith(NEEDS):
        modules.update(m.strip() for m in first[len(NEEDS) :].split(","))
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules


def _has_gpu() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def test_docstring_examples() -> None:
    result = doctest.testmod(_divergence)
    assert result.attempted >= 3 and result.failed == 0


def test_there_are_blocks_everywhere() -> None:
    pages = {block_id.rpartition(":")[0] for block_id, _ in BLOCKS}
    assert "README.md" in pages and len(pages) >= 8, sorted(pages)
    assert len(BLOCKS) >= 25


def _id(block_id: str, code: str) -> str:
    """The test id: the block's page and index, ``-distrax`` for the blocks of the
    ``jax_distributions`` session (``nox -s jax_distributions`` selects them by it)."""
    return block_id + ("-distrax" if _needed(code) & set(OPTIONAL) else "")


@pytest.mark.parametrize(("block_id", "code"), BLOCKS, ids=[_id(*b) for b in BLOCKS])
def test_block(block_id, code, tmp_path, pytestconfig) -> None:
    needed = _needed(code)
    for module in sorted(needed & set(OPTIONAL)):
        need_optional(module)
    for module in sorted(needed & set(FRAMEWORKS)):
        need(module)
    if code.startswith(NEEDS_GPU) and not _has_gpu():
        pytest.skip(f"{block_id} is marked '{NEEDS_GPU}' and there is no GPU here")
    if TEST_FILE.match(code):
        _run_as_test_file(block_id, code, tmp_path)
        return
    program, _ = instrument(code)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PYTHONWARNINGS", None)  # the suite's own filters apply (warning_filters)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.pop("JAX_ENABLE_X64", None)
    env.pop("XLA_FLAGS", None)  # the examples run as users run them
    filters = warning_filters(pytestconfig.getini("filterwarnings"))
    rc, _, err = _python(filters + CHECK + program, tmp_path, env)
    assert rc == 0, f"{block_id}:\n{code}\n{err[-3000:]}"


def _run_as_test_file(block_id: str, code: str, tmp_path: Path) -> None:
    """A block that is a test file (first line ``# tests/test_....py``) runs under pytest
    with the package's plugin on every installed backend; every test in it must pass."""
    path = tmp_path / Path(TEST_FILE.match(code).group(1)).name
    path.write_text(code)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    pytest_args = ["-q", "-p", "no:cacheprovider", "--xp-backends=all", str(path)]
    program = f"import sys, pytest\nsys.exit(int(pytest.main({pytest_args!r})))\n"
    rc, out, err = _python(program, tmp_path, env)
    summary = out.strip().splitlines()[-1:] or [""]
    assert rc == 0, f"{block_id}:\n{out[-3000:]}{err[-2000:]}"
    assert "passed" in summary[0] and "skipped" not in summary[0], f"{block_id}: {summary[0]}"


#: What the blocks import, imported once by the warm interpreter before it forks.
PRELOAD = ("numpy", "scipy.stats", "scipy.special", "torch", "tensorflow", "jax",
           "jax.numpy", "dask.array", "array_api_strict", "matplotlib", "pytest",
           "kl_backends", "kl_backends.testing")  # fmt: skip
_SERVER: list[subprocess.Popen] = []


def _server() -> subprocess.Popen | None:
    """The warm interpreter of ``_forkserver.py`` (one per test process), or None
    without ``os.fork``."""
    if not hasattr(os, "fork"):
        return None
    if not _SERVER or _SERVER[0].poll() is not None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        env.pop("JAX_ENABLE_X64", None)
        env.pop("XLA_FLAGS", None)  # the examples run as users run them
        server = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_forkserver.py")), *PRELOAD],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=env,
        )  # fmt: skip
        assert json.loads(server.stdout.readline()) == {"ready": True}
        _SERVER[:] = [server]
        atexit.register(_stop, server)
    return _SERVER[0]


def _stop(server: subprocess.Popen) -> None:
    server.stdin.close()  # the server's loop ends with its input
    server.wait(timeout=60)
    server.stdout.close()


def _python(program: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """``python -c program`` in ``cwd`` with ``env``: its exit code, stdout and stderr.

    A fresh process each time, forked from the warm interpreter where there is one."""
    server = _server()
    if server is None:
        result = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
            cwd=cwd, env=env,
        )  # fmt: skip
        return result.returncode, result.stdout, result.stderr
    out, err = cwd / "block.stdout", cwd / "block.stderr"
    request = {"code": program, "cwd": str(cwd), "env": env, "timeout": 300,
               "stdout": str(out), "stderr": str(err)}  # fmt: skip
    server.stdin.write(json.dumps(request) + "\n")
    server.stdin.flush()
    rc = json.loads(server.stdout.readline())["rc"]
    return rc, out.read_text(), err.read_text()


def test_claims_are_read() -> None:
    assert _claim("# 0.0852996013") == "0.0852996013"
    assert _claim("# 499.9997  <- summed without dx") == "499.9997"
    assert _claim("# [0.88995184, 1.08808468]") == "[0.88995184, 1.08808468]"
    assert _claim("# 0.41011, 0.00266 (quadrature: 0.410852)") == "0.41011, 0.00266"
    assert _claim("# array([0.      , 0.302961])") == "[0.      , 0.302961]"
    assert _claim("# 'Tensor' on its device") == "'Tensor'"
    assert _claim("# a torch tensor") is None
    assert _claim("# [batch, seq]: one flag per token") is None
    assert _claim("# ['numpy:cpu', 'jax:cpu']") == "['numpy:cpu', 'jax:cpu']"
    program, claims = instrument("x = 1.5  # 1.5\nx + 1  # 2.5\nprint(x)\n")
    assert claims == 2 and program.count("__check__") == 2
    namespace: dict = {}
    exec(CHECK + program, namespace)
    with pytest.raises(AssertionError, match=r"the text says 2\.7"):
        exec(CHECK + "__check__(2.5, '2.7', 'x')", namespace)


def test_readme_is_a_front_page() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; the rest goes on the site"


def test_api_reference_covers_every_public_name() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from check_api_coverage import problems
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert problems() == []


def test_readme_links_point_at_files() -> None:
    """README is not part of the site's build (which checks its own links): its relative
    links are checked here."""
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert len(local) >= 8, local
    missing = [link for link in local if not (ROOT / link).is_file()]
    assert not missing, f"README links to files that do not exist: {missing}"
