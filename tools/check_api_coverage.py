"""Every public name is in the API reference, and every one has a docstring.

Compares ``__all__`` of ``kl_backends``, ``kl_backends.distributions`` and
``kl_backends.testing`` with the ``::: identifier`` lines of ``docs/api/*.md`` and
fails (exit status 1, a line per problem) on:

* a public name that no ``:::`` line documents (``::: kl_backends.distributions``
  documents the module itself, not its members);
* a ``:::`` identifier that does not exist (a renamed or removed name);
* a public name whose docstring is empty.

Docstrings are read with griffe and the site's extensions (``tools/griffe_numpydoc.py``:
what mkdocstrings renders, including the ``#:`` comments of data attributes such as
``TOLERANCES``) where griffe is installed,
and from the objects themselves otherwise (functions, classes and modules; a data
attribute then only needs to be in the reference).

Usage: ``python tools/check_api_coverage.py`` (the ``docs`` nox session runs it).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_DIR = ROOT / "docs" / "api"
MODULES = ("kl_backends", "kl_backends.distributions", "kl_backends.testing")
#: Names whose value cannot carry a docstring; the reference documents them in prose.
PROSE_ONLY = {"kl_backends.__version__"}
IDENTIFIER = re.compile(r"^:::\s+([\w.]+)\s*$", re.M)


def documented_identifiers(api_dir: Path = API_DIR) -> dict[str, str]:
    """Every ``::: identifier`` of the reference pages, mapped to its page."""
    found: dict[str, str] = {}
    for page in sorted(api_dir.glob("*.md")):
        for ident in IDENTIFIER.findall(page.read_text()):
            found[ident] = page.name
    return found


def public_names() -> list[str]:
    """The fully qualified public names: each module's ``__all__``."""
    names = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        names.extend(f"{module_name}.{name}" for name in module.__all__)
    return names


def _resolve(qualified: str) -> object:
    module_name, _, attr = qualified.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return importlib.import_module(qualified)


def _exists(qualified: str) -> bool:
    try:
        _resolve(qualified)
    except (ImportError, AttributeError):
        return False
    return True


def _runtime_docstring(obj: object) -> str | None:
    """The object's own docstring; ``None`` where the object cannot carry one."""
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__") or ""
    if inspect.ismodule(obj) or callable(obj):
        return inspect.getdoc(obj) or ""
    return None  # a data attribute: its docstring is in the source (griffe)


def _griffe_docstrings(names: list[str]) -> dict[str, str] | None:
    try:
        import griffe
    except ImportError:
        return None
    tools = ROOT / "tools" / "griffe_numpydoc.py"
    extensions = griffe.load_extensions(
        *(f"{tools}:{name}" for name in ("RstMath", "CommentDocstrings", "AliasDocstrings"))
    )
    package = griffe.load(
        "kl_backends",
        search_paths=[str(ROOT / "src")],
        extensions=extensions,
        resolve_aliases=True,
    )
    docs = {}
    for qualified in names:
        path = qualified.split(".", 1)[1]
        try:
            obj = package[path]
            docs[qualified] = obj.docstring.value if obj.docstring else ""
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            docs[qualified] = ""
    return docs


def problems() -> list[str]:
    """Every undocumented public name, unknown identifier and empty docstring."""
    names = public_names()
    documented = documented_identifiers()
    found = []
    for qualified in names:
        if qualified not in documented and qualified not in PROSE_ONLY:
            found.append(f"{qualified}: public (in __all__) but no '::: {qualified}' in docs/api/")
    for ident, page in documented.items():
        if not _exists(ident):
            found.append(f"docs/api/{page}: '::: {ident}' names nothing")
    from_griffe = _griffe_docstrings(names)
    for qualified in names:
        if qualified in PROSE_ONLY:
            continue
        if from_griffe is not None:
            doc = from_griffe[qualified]
        else:
            doc = _runtime_docstring(_resolve(qualified))
            if doc is None:
                continue
        if not doc.strip():
            found.append(f"{qualified}: empty docstring")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"API coverage: {len(found)} problem(s)", file=sys.stderr)
        return 1
    print(f"API coverage: {len(public_names())} public names, all in docs/api/ with docstrings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
