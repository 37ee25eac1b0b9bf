"""griffe extensions (mkdocs.yml, mkdocstrings ``extensions``): the docstrings as the site shows them.

``RstMath``: numpydoc's math for the site.

The docstrings write math as numpydoc does, for Sphinx and for ``help()``:
``.. math::`` followed by an indented formula, and ``:math:`...``` inline.  The site
renders math with pymdownx.arithmatex and KaTeX, which read ``$$ ... $$`` blocks and
``$...$`` inline: this extension rewrites the one into the other as the docstrings are
loaded, so that the formulas in the reference display as formulas.  The type of a
parameter (``p : array_like, shape ``[..., n]````) is shown as code, so the
backticks inside it are dropped.

``CommentDocstrings``: a module attribute documented the Sphinx way, by ``#:`` comment
lines right above it (``TOLERANCES``), gets them as its docstring.

``AliasDocstrings``: a module attribute that is another name of a function of the same
module (``kl_divergence = kl``) gets a docstring saying so, with a link to the function.

``tools/check_api_coverage.py`` loads the package with the same extensions, so that the
check and the site see the same docstrings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_ROLE = re.compile(r":math:`([^`]+)`")
#: A paragraph that ends in reST's "::" before a literal block (not a directive).
_LITERAL_MARKER = re.compile(r"^(?!\s*\.\. )(.*\S)::$", re.M)
#: A numpydoc parameter line, ``name : type``: its type is shown as code on the site.
_PARAMETER = re.compile(r"^(\s*[*\w][\w, *]* : )(.*)$", re.M)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rst_math_to_markdown(text: str) -> str:
    """``.. math::`` blocks become ``$$`` blocks, ``:math:`x``` becomes ``$x$``, and the
    backticks inside a parameter's type go, and reST's ``::`` before a literal block
    becomes ``:`` (the indented block is code in Markdown too); "See Also" entries become a
    list."""
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
    text = _ROLE.sub(r"$\1$", "\n".join(_see_also_as_list(out)))
    # "the run::" then an indented block: the block is code in Markdown as it is
    text = _LITERAL_MARKER.sub(r"\1:", text)
    # the type is already set as code: backticks inside it would show literally
    return _PARAMETER.sub(lambda m: m.group(1) + m.group(2).replace("`", ""), text)


def _see_also_as_list(lines: list[str]) -> list[str]:
    """numpydoc's "See Also" entries (``name : what it is``) as a Markdown list, which
    the site shows one entry per line (as prose they would run together)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        if (
            lines[i].strip() == "See Also"
            and i + 1 < len(lines)
            and set(lines[i + 1].strip()) == {"-"}
        ):
            indent = _indent(lines[i])
            out.append(lines[i + 1])
            i += 2
            while i < len(lines) and lines[i].strip():
                line = lines[i]
                if _indent(line) > indent and out[-1].lstrip().startswith("- "):
                    out[-1] += " " + line.strip()  # a continuation line of the entry
                else:
                    names, sep, what = line.strip().partition(" : ")
                    names = ", ".join(f"`{n.strip()}`" for n in names.split(","))
                    out.append(" " * indent + f"- {names}" + (f": {what}" if sep else ""))
                i += 1
            continue
        i += 1
    return out


class RstMath(griffe.Extension):
    """Rewrites each loaded object's docstring (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_math_to_markdown(obj.docstring.value)


class CommentDocstrings(griffe.Extension):
    """``#:`` comment lines right above an undocumented attribute become its docstring."""

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.lineno is None or attr.filepath is None:
            return
        lines = Path(attr.filepath).read_text().splitlines()
        comment: list[str] = []
        i = attr.lineno - 2
        while i >= 0 and lines[i].lstrip().startswith("#:"):
            comment.insert(0, lines[i].lstrip()[2:].strip())
            i -= 1
        if comment:
            attr.docstring = griffe.Docstring(" ".join(comment), parent=attr)


class AliasDocstrings(griffe.Extension):
    """``name = function`` in a module: ``name`` is documented as that function."""

    def on_module_members(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        for member in mod.members.values():
            if member.is_alias or not member.is_attribute or member.docstring is not None:
                continue
            target = mod.members.get(str(member.value)) if member.value is not None else None
            if target is None or not (target.is_function or target.is_alias):
                continue
            member.docstring = griffe.Docstring(
                f"Another name of [`{target.name}`][{mod.path}.{target.name}]: the same "
                "function, with the same arguments and results.",
                parent=member,
            )
