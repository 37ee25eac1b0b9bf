"""mkdocs hooks (``hooks:`` in mkdocs.yml).

* The build fails on a public name missing from the API reference or without a
  docstring (``tools/check_api_coverage.py``).
* The measured plots (``benchmarks/results/*.png``, ``examples/*.png``) are published
  with the site, at the same paths relative to the site root as in the repository,
  so that the guides show the very files the benchmarks write.
* ``<!-- kl-backends --help -->`` in a page becomes the command's help, as the
  installed command prints it (so the page cannot drift from the parser).
* KaTeX is served with the site from Debian's ``libjs-katex`` where it is installed
  (CI installs it: the browser check runs without a network), from a CDN otherwise.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from check_api_coverage import problems  # noqa: E402

KATEX_DIR = Path("/usr/share/javascript/katex")
KATEX_CDN = "https://cdn.jsdelivr.net/npm/katex@0.16.4/dist"
PLOTS = (
    "benchmarks/results/bench.png",
    "benchmarks/results/logits.png",
    "examples/fit_gaussian.png",
)


def on_config(config):
    local = KATEX_DIR.is_dir()
    base = "assets/katex" if local else KATEX_CDN
    render = "contrib/auto-render.js" if local else "contrib/auto-render.min.js"
    scripts = [f"{base}/katex.min.js", f"{base}/{render}"]
    config.extra_javascript[:0] = scripts
    config.extra_css.insert(0, f"{base}/katex.min.css")
    return config


def on_pre_build(config) -> None:
    found = problems()
    if found:
        raise PluginError("API reference incomplete:\n  " + "\n  ".join(found))


HELP_MARKER = "<!-- kl-backends --help -->"


def _help_text() -> str:
    import os

    from kl_backends.parity import cli

    os.environ["COLUMNS"] = "76"  # argparse wraps to the terminal's width; the page's code width
    parser = cli._parser()
    blocks = [("kl-backends --help", parser.format_help())]
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            blocks.append((f"kl-backends {name} --help", sub.format_help()))
    return "\n".join(f"```text\n$ {cmd}\n{text.rstrip()}\n```\n" for cmd, text in blocks)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if HELP_MARKER in markdown:
        markdown = markdown.replace(HELP_MARKER, _help_text())
    return markdown


def on_files(files: Files, config) -> Files:
    for path in PLOTS:
        if (ROOT / path).is_file():
            files.append(File(path, str(ROOT), config.site_dir, config.use_directory_urls))
    return files


def on_post_build(config) -> None:
    if KATEX_DIR.is_dir():
        target = Path(config.site_dir) / "assets" / "katex"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(KATEX_DIR, target, symlinks=False)
