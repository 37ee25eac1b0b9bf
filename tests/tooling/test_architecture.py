"""The package's shape: import layers, no import cycles, small files and functions.

Every import of every module under ``src/kl_backends`` counts: at module level and
inside functions, absolute and relative.  The layers, lowest first (ARCHITECTURE.md)::

    _lib  <  backends  <  _dispatch  <  _math  <  distributions
          <  parity, testing, pytest_plugin, __main__, the package's __init__

A module may import its own layer and the layers below it, never one above.  Importing
a submodule is counted as an import of that module only (not of the packages around
it, which Python runs first but which the importer does not use).
"""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from pathlib import Path

import kl_backends

ROOT = Path(kl_backends.__file__).parent
PACKAGE = ROOT.name

#: Prefixes of module names, lowest layer first; the rest of the package is the top layer.
LAYERS = (
    ("_lib",),
    ("backends",),
    ("_dispatch",),
    ("_math",),
    ("distributions",),
)
TOP = len(LAYERS)
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules(root: Path = ROOT) -> dict[str, Path]:
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import of the package's modules in ``path``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = ".".join(base[: len(base) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:  # a name inside a module
                target = target.rpartition(".")[0]
            if target in modules and target != name:
                found.append((target, node.lineno))
    return found


def _graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line importing it}."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in _imports(name, path, modules):
            edges.setdefault(target, line)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found, key=lambda c: (-len(c), c))


def _a_cycle(component: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """One import cycle through the component's first module (breadth-first, shortest)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                return [*paths[v], start]
            if w in members and w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return component


def _layer(name: str) -> int:
    parts = name.split(".")[1:]
    for rank, prefixes in enumerate(LAYERS):
        if parts and parts[0] in prefixes:
            return rank
    return TOP


def _layer_name(rank: int) -> str:
    return LAYERS[rank][0] if rank < TOP else "top (parity, testing, plugin, CLI, __init__)"


def _code_lines(source: str, tree: ast.Module) -> set[int]:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip and tok.type != tokenize.ENDMARKER:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            lines.difference_update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


# --- the walker itself ------------------------------------------------------------------


def test_the_walker_counts_deferred_and_relative_imports(tmp_path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n    import pkg.c\n")
    (pkg / "sub" / "__init__.py").write_text("from ..a import f\n")
    (pkg / "sub" / "b.py").write_text("from pkg import a\n")
    (pkg / "c.py").write_text("x = 1\n")
    modules = _modules(pkg)
    graph = _graph(modules)
    assert set(graph["pkg.a"]) == {"pkg.sub.b", "pkg.c"}
    assert set(graph["pkg.sub"]) == {"pkg.a"}
    assert set(graph["pkg.sub.b"]) == {"pkg.a"}
    assert _cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    source = (
        'def f():\n    """Doc\n    string."""\n\n    # a comment\n    return (1,\n            2)\n'
    )
    tree = ast.parse(source)
    assert _code_lines(source, tree) == {1, 6, 7}


# --- the package -------------------------------------------------------------------------


@functools.cache
def _package_graph() -> dict[str, dict[str, int]]:
    return _graph(_modules())


def test_no_import_cycles() -> None:
    graph = _package_graph()
    cycles = _cycles(graph)
    report = [
        f"{len(c)} modules: {', '.join(c)}\n    e.g. {' -> '.join(_a_cycle(c, graph))}"
        for c in cycles
    ]
    assert not cycles, "import cycles (every import counted):\n" + "\n".join(report)


def test_imports_follow_the_layers() -> None:
    upward = []
    for name, edges in sorted(_package_graph().items()):
        for target, line in sorted(edges.items()):
            if _layer(target) > _layer(name):
                path = _modules()[name].relative_to(ROOT.parent)
                upward.append(
                    f"{path}:{line}: {name} ({_layer_name(_layer(name))}) imports "
                    f"{target} ({_layer_name(_layer(target))})"
                )
    assert not upward, f"{len(upward)} imports against the layer order:\n" + "\n".join(upward)


def test_no_source_file_over_500_lines() -> None:
    big = []
    for path in _modules().values():
        n = len(path.read_text().splitlines())
        if n > MAX_FILE_LINES:
            big.append(f"{path.relative_to(ROOT.parent)}: {n} lines")
    assert not big, f"files over {MAX_FILE_LINES} lines:\n" + "\n".join(sorted(big))


def test_no_function_over_80_lines_of_code() -> None:
    long = []
    for path in _modules().values():
        source = path.read_text()
        tree = ast.parse(source)
        code = _code_lines(source, tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = len(code.intersection(range(node.lineno, node.end_lineno + 1)))
                if n > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                    long.append(f"{where}: {node.name}, {n} lines of code")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines of code:\n" + "\n".join(
        sorted(long)
    )
