"""README's examples and the docstring examples run, and say what they claim."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np

from conftest import need
from kl_backends._math import categorical as _divergence

README = Path(__file__).parents[1] / "README.md"


def test_docstring_examples() -> None:
    result = doctest.testmod(_divergence)
    assert result.attempted >= 3 and result.failed == 0


def test_readme_examples_per_backend() -> None:
    for module in ("torch", "tensorflow", "jax", "dask"):
        need(module)
    text = README.read_text()
    section = text[text.index("## One example per backend") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # Each line commented with a value is checked against it.
    checked = 0
    namespace: dict = {}
    for line in code.splitlines():
        statement, sep, comment = line.partition("  # ")
        value = re.match(r"(\[[^\]]*\]|-?\d[\d.]*)", comment.strip()) if sep else None
        if value:
            got = eval(statement, namespace)
            expected = np.array(eval(value.group(1)), dtype=float)
            np.testing.assert_allclose(
                np.asarray(got, dtype=float), expected, atol=5e-5, err_msg=line
            )
            checked += 1
        else:
            exec(line, namespace)
    assert checked == 4  # every numeric claim in the block
