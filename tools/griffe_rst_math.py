"""A griffe extension (mkdocs.yml, mkdocstrings ``extensions``): numpydoc's math for the site.

The docstrings write math as numpydoc does, for Sphinx and for ``help()``:
``.. math::`` followed by an indented formula, and ``:math:`...``` inline.  The site
renders math with pymdownx.arithmatex and KaTeX, which read ``$$ ... $$`` blocks and
``$...$`` inline: this extension rewrites the one into the other as the docstrings are
loaded, so that the formulas in the reference display as formulas.  The type of a
parameter (``p : array_like, shape ``[..., n]````) is shown as code, so the
backticks inside it are dropped.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_ROLE = re.compile(r":math:`([^`]+)`")
#: A numpydoc parameter line, ``name : type``: its type is shown as code on the site.
_PARAMETER = re.compile(r"^(\s*[*\w][\w, *]* : )(.*)$", re.M)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rst_math_to_markdown(text: str) -> str:
    """``.. math::`` blocks become ``$$`` blocks, ``:math:`x``` becomes ``$x$``, and the
    backticks inside a parameter's type go."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group(1)
        body = [match.group(2)] if match.group(2) else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        formula = [line for line in body if line]
        out += ["", f"{indent}$$", *(indent + line for line in formula), f"{indent}$$", ""]
    text = _ROLE.sub(r"$\1$", "\n".join(out))
    # the type is already set as code: backticks inside it would show literally
    return _PARAMETER.sub(lambda m: m.group(1) + m.group(2).replace("`", ""), text)


class RstMath(griffe.Extension):
    """Rewrites each loaded object's docstring (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_math_to_markdown(obj.docstring.value)
